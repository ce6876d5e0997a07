"""Anthropic Messages responses, streams, errors and model lists -> unified objects (pure).

- ``text`` blocks make the text (joined with ""); ``thinking`` and ``redacted_thinking`` blocks
  become :class:`~llmcore.ThinkingBlock` objects (tagged with the provider and this API, so they
  go back unchanged to the same provider) and the reasoning text (blocks joined with "\\n\\n");
  ``tool_use`` blocks become tool calls. Server-side tool blocks (``server_tool_use``,
  ``web_search_tool_result``...) are not tool calls for the caller to run.
- Provider data (non-null values only), at the level it belongs to: the message's
  ``provider_data["content"]`` is the answer's whole list of content blocks, as the API sent
  them, whenever one of them is something llmcore does not model (a server-side tool block, a
  block of an unknown type, a text block with ``citations``); :mod:`llmcore_anthropic.payload`
  sends that list back unchanged when the conversation returns to this API (a ``pause_turn``
  answer can resume). The choice's keeps ``stop_sequence`` and ``stop_details``; the response's
  every other unmodelled top-level field (``container``...); the usage's every field besides the
  four counts (``cache_creation``, ``server_tool_use``, ``service_tier``...).
- Usage follows llmcore's rule: ``prompt_tokens`` = ``input_tokens`` +
  ``cache_read_input_tokens`` + ``cache_creation_input_tokens`` (the API's ``input_tokens``
  excludes both); ``cached_tokens`` is the cache read, ``cache_write_tokens`` the cache creation.
- Streams: ``message_start`` (id, model, input usage), ``content_block_start`` / ``_delta`` /
  ``_stop`` per block (``text_delta``, ``input_json_delta``, ``thinking_delta``,
  ``signature_delta``, ``citations_delta``), ``message_delta`` (stop reason, cumulative
  usage: the latest value of each count wins), ``message_stop`` (the terminal event), ``ping``
  (ignored) and ``error`` (a typed error). Each ``content_block_stop`` ends its block for the
  core (``Delta.block_end`` for text and thinking, ``ToolCallDelta.end`` for a tool call, whose
  arguments are ``{}`` when it streamed no input). The plugin assembles every block as the
  whole answer would hold it, so a stream ends with the same provider data as that answer: the
  ``content`` list arrives from the first unmodelled block's end on (the blocks so far, then
  each block at its end), appended by the core's merge rule.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Iterator
from typing import Any

from llmcore import (
    AuthenticationError,
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChunkChoice,
    ContextLengthExceededError,
    Delta,
    Frame,
    HttpResponse,
    InvalidRequestError,
    LlmError,
    Message,
    ModelInfo,
    ModelNotFoundError,
    ModelPage,
    OverloadedError,
    PermissionDeniedError,
    Provider,
    RateLimitError,
    RequestTimeoutError,
    Role,
    ServerError,
    StopReason,
    ThinkingBlock,
    ToolCall,
    ToolCallDelta,
    Usage,
    error_for_status,
    finish_tool_call,
    map_stop_reason,
)
from llmcore.chat import text_chunk
from llmcore.errors import looks_like_context_overflow
from llmcore_anthropic.payload import models_request
from llmcore_anthropic.providers import API

__all__ = [
    "ERROR_TYPES",
    "STOP_REASONS",
    "error_from_body",
    "iter_chunks",
    "parse_error",
    "parse_message",
    "parse_models",
    "parse_models_page",
    "parse_usage",
    "unmodelled_block",
]

STOP_REASONS: dict[str, StopReason] = {
    "end_turn": StopReason.STOP,
    "stop_sequence": StopReason.STOP,
    "pause_turn": StopReason.STOP,
    "max_tokens": StopReason.LENGTH,
    "model_context_window_exceeded": StopReason.LENGTH,
    "tool_use": StopReason.TOOL_USE,
    "refusal": StopReason.CONTENT_FILTER,
}

ERROR_TYPES: dict[str, type[LlmError]] = {
    "invalid_request_error": InvalidRequestError,
    "request_too_large": InvalidRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "billing_error": PermissionDeniedError,
    "not_found_error": ModelNotFoundError,
    "rate_limit_error": RateLimitError,
    "api_error": ServerError,
    "timeout_error": RequestTimeoutError,
    "overloaded_error": OverloadedError,
}
"""The class of each ``error.type`` of the Messages API."""


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


# --- usage ---------------------------------------------------------------------------------
_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)

# what llmcore models, per level (everything else non-null goes to provider_data)
_CHOICE_DATA_KEYS = ("stop_sequence", "stop_details")
_RESPONSE_KEYS = frozenset(
    {"id", "type", "role", "model", "content", "stop_reason", "usage", *_CHOICE_DATA_KEYS}
)
_MODELLED_BLOCKS = frozenset({"text", "thinking", "redacted_thinking", "tool_use"})


def _unmodelled(obj: dict[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """The non-null fields of ``obj`` that llmcore does not model."""
    skip = set(known)
    return {k: v for k, v in obj.items() if k not in skip and v is not None}


def _choice_data(obj: dict[str, Any]) -> dict[str, Any]:
    """``stop_sequence`` and ``stop_details`` when set."""
    return {k: obj[k] for k in _CHOICE_DATA_KEYS if obj.get(k) is not None}


def _usage(counts: dict[str, int], data: dict[str, Any] | None = None) -> Usage:
    read = counts.get("cache_read_input_tokens", 0)
    write = counts.get("cache_creation_input_tokens", 0)
    prompt = counts.get("input_tokens", 0) + read + write
    return Usage.of(
        prompt,
        counts.get("output_tokens", 0),
        cached_tokens=read,
        cache_write_tokens=write,
        provider_data=data,
    )


def _counts(raw: Any) -> dict[str, int]:
    """The counts present (not null) in a usage object."""
    if not isinstance(raw, dict):
        return {}
    return {k: _int(raw[k]) for k in _USAGE_KEYS if raw.get(k) is not None}


def _usage_data(raw: Any) -> dict[str, Any]:
    """The usage fields besides the four counts (non-null)."""
    return _unmodelled(raw, _USAGE_KEYS) if isinstance(raw, dict) else {}


def parse_usage(raw: Any) -> Usage | None:
    """A Messages API ``usage`` object under llmcore's usage rule (None when absent); its
    other fields (``cache_creation``, ``server_tool_use``, ``service_tier``...) are the usage's
    ``provider_data``."""
    return _usage(_counts(raw), _usage_data(raw)) if isinstance(raw, dict) else None


def unmodelled_block(block: dict[str, Any]) -> bool:
    """True for a content block llmcore does not model one-to-one: a server-side tool block, a
    block of an unknown type, or a text block with citations."""
    kind = block.get("type")
    return kind not in _MODELLED_BLOCKS or (kind == "text" and bool(block.get("citations")))


def _message_data(content: list[Any]) -> dict[str, Any]:
    """``{"content": blocks}`` when a block is unmodelled, else nothing."""
    if any(isinstance(b, dict) and unmodelled_block(b) for b in content):
        return {"content": list(content)}
    return {}


# --- non-streamed -----------------------------------------------------------------------------
def _stop(raw: str | None, provider: Provider) -> StopReason | None:
    return map_stop_reason(raw, STOP_REASONS, provider=provider.name)


def _tool_call(block: dict[str, Any]) -> ToolCall:
    raw = block.get("input")
    if isinstance(raw, dict):
        return ToolCall(str(block["id"]), str(block["name"]), raw)
    text = raw if isinstance(raw, str) else json.dumps(raw)
    return finish_tool_call(block.get("id"), block.get("name"), text)


def parse_message(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    """A non-streamed ``message`` answer."""
    body = response.json()
    if not isinstance(body, dict):
        raise TypeError(f"expected a JSON object, got {type(body).__name__}")
    if body.get("type") == "error":
        raise error_from_body(provider, body, response.status)
    text: list[str] = []
    thinking: list[ThinkingBlock] = []
    calls: list[ToolCall] = []
    content = body["content"]
    for block in content:
        kind = block.get("type")
        if kind == "text":
            text.append(block.get("text") or "")
        elif kind == "thinking":
            thinking.append(
                ThinkingBlock(
                    block.get("thinking") or "",
                    block.get("signature") or None,
                    None,
                    provider.name,
                    API,
                )
            )
        elif kind == "redacted_thinking":
            thinking.append(ThinkingBlock("", None, block.get("data") or "", provider.name, API))
        elif kind == "tool_use":
            calls.append(_tool_call(block))
    reasoning = "\n\n".join(b.text for b in thinking if b.text) or None
    message = Message(
        Role(body.get("role") or "assistant"),
        "".join(text),
        tool_calls=tuple(calls),
        reasoning=reasoning,
        thinking=tuple(thinking),
        provider_data=_message_data(content),
    )
    finish = body.get("stop_reason")
    choice = Choice(0, message, finish, _stop(finish, provider), provider_data=_choice_data(body))
    return ChatCompletionResponse(
        id=body.get("id"),
        model=body.get("model"),
        choices=(choice,),
        usage=parse_usage(body.get("usage")),
        provider=provider.name,
        provider_data=_unmodelled(body, _RESPONSE_KEYS),
    )


# --- streams ----------------------------------------------------------------------------------
_TEXT_KINDS = ("text", "thinking", "redacted_thinking")


class _Block:
    """One content block being streamed, assembled as the whole answer would hold it."""

    def __init__(self, start: dict[str, Any]) -> None:
        self.start = start
        self.kind = str(start.get("type"))
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.signature: list[str] = []
        self.json: list[str] = []
        self.citations: list[Any] = []

    def finished(self) -> dict[str, Any]:
        out = dict(self.start)
        if self.text:
            out["text"] = (out.get("text") or "") + "".join(self.text)
        if self.thinking:
            out["thinking"] = (out.get("thinking") or "") + "".join(self.thinking)
        if self.signature:
            out["signature"] = (out.get("signature") or "") + "".join(self.signature)
        if self.citations:
            out["citations"] = list(out.get("citations") or []) + self.citations
        arguments = "".join(self.json)
        if arguments.strip():
            try:
                out["input"] = json.loads(arguments)
            except ValueError:
                pass  # the tool call keeps the raw text; the block keeps its start input
        return out


class _Stream:
    """The state of one stream: the counts so far and the content blocks."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.id: str | None = None
        self.model: str | None = None
        self.counts: dict[str, int] = {}
        self.usage_data: dict[str, Any] = {}
        self.blocks: dict[int, _Block] = {}
        self.done: list[dict[str, Any]] = []  # finished blocks, in the order they ended
        self.flushed = 0  # how many of them were sent as provider data
        self.keep_content = False

    def chunk(
        self,
        delta: Delta | None = None,
        *,
        finish: str | None = None,
        usage: bool = False,
        choice_data: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> ChatCompletionChunk:
        choices: tuple[ChunkChoice, ...] = ()
        if delta is not None or finish is not None or choice_data:
            choices = (
                ChunkChoice(
                    0,
                    delta or Delta(),
                    finish,
                    _stop(finish, self.provider),
                    provider_data=choice_data,
                ),
            )
        return ChatCompletionChunk(
            self.id,
            self.model,
            choices,
            _usage(self.counts, dict(self.usage_data)) if usage else None,
            provider_data=data,
        )

    def _add_usage(self, raw: Any) -> None:
        self.counts.update(_counts(raw))
        self.usage_data.update(_usage_data(raw))

    def on_start(self, obj: dict[str, Any]) -> ChatCompletionChunk:
        message = obj.get("message") or {}
        self.id = message.get("id")
        self.model = message.get("model")
        self._add_usage(message.get("usage"))
        return self.chunk(
            Delta(role=Role.ASSISTANT),
            usage=bool(self.counts),
            choice_data=_choice_data(message),
            data=_unmodelled(message, _RESPONSE_KEYS),
        )

    def on_block_start(self, obj: dict[str, Any]) -> ChatCompletionChunk | None:
        index = int(obj["index"])
        raw = obj.get("content_block")
        block = _Block(dict(raw) if isinstance(raw, dict) else {})
        self.blocks[index] = block
        kind, start = block.kind, block.start
        if kind == "text":
            text = start.get("text")
            return self.chunk(Delta(content=text)) if text else None
        if kind == "thinking":
            text, signature = start.get("thinking") or None, start.get("signature") or None
            if text or signature:
                return self.chunk(Delta(reasoning=text, reasoning_signature=signature))
            return None
        if kind == "redacted_thinking":
            return self.chunk(Delta(reasoning_redacted=start.get("data") or ""))
        if kind == "tool_use":
            call = ToolCallDelta(index, start.get("id"), start.get("name"))
            return self.chunk(Delta(tool_calls=(call,)))
        return None  # server-side tool blocks and unknown kinds: not the caller's to run

    def on_block_delta(self, obj: dict[str, Any]) -> ChatCompletionChunk | None:
        index = int(obj["index"])
        delta = obj.get("delta") or {}
        kind = delta.get("type")
        block = self.blocks.get(index)
        if block is None:
            return None
        if kind == "text_delta":
            text = delta.get("text")
            if not text:
                return None
            block.text.append(text)
            if block.kind != "text":
                return None
            # the event most of a long answer is made of: the cheap constructor, same chunk
            return text_chunk(text, id=self.id, model=self.model)
        if kind == "input_json_delta":
            piece = delta.get("partial_json")
            if not piece:
                return None
            block.json.append(piece)
            if block.kind != "tool_use":
                return None  # a server-side tool's input: kept in the block only
            return self.chunk(Delta(tool_calls=(ToolCallDelta(index, arguments=piece),)))
        if kind == "thinking_delta":
            text = delta.get("thinking")
            if not text:
                return None
            block.thinking.append(text)
            return self.chunk(Delta(reasoning=text)) if block.kind == "thinking" else None
        if kind == "signature_delta":
            signature = delta.get("signature")
            if not signature:
                return None
            block.signature.append(signature)
            if block.kind != "thinking":
                return None
            return self.chunk(Delta(reasoning_signature=signature))
        if kind == "citations_delta" and delta.get("citation") is not None:
            block.citations.append(delta["citation"])
        return None  # citations (kept in the block), unknown deltas

    def on_block_stop(self, obj: dict[str, Any]) -> ChatCompletionChunk | None:
        index = int(obj["index"])
        block = self.blocks.get(index)
        if block is None:
            return None
        whole = block.finished()
        self.done.append(whole)
        self.keep_content = self.keep_content or unmodelled_block(whole)
        data: dict[str, Any] = {}
        if self.keep_content:
            data = {"content": self.done[self.flushed :]}
            self.flushed = len(self.done)
        if block.kind == "tool_use":
            # the call is complete; without input_json_delta its input is the start's (usually
            # {}, which the core makes of a call with no argument text)
            start = block.start.get("input")
            given = not block.json and isinstance(start, dict) and bool(start)
            text = json.dumps(start) if given else None
            end = ToolCallDelta(index, arguments=text, end=True)
            return self.chunk(Delta(tool_calls=(end,), provider_data=data))
        if block.kind in _TEXT_KINDS:
            return self.chunk(Delta(block_end=True, provider_data=data))
        return self.chunk(Delta(provider_data=data)) if data else None

    def on_message_delta(self, obj: dict[str, Any]) -> ChatCompletionChunk:
        self._add_usage(obj.get("usage"))
        delta = obj.get("delta") or {}
        finish = delta.get("stop_reason")
        data = _unmodelled(delta, _RESPONSE_KEYS)
        data.update(_unmodelled(obj, ("type", "delta", "usage")))
        return self.chunk(
            finish=finish, usage=bool(self.counts), choice_data=_choice_data(delta), data=data
        )


def iter_chunks(provider: Provider, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
    """Chunks from the SSE events; returns True once ``message_stop`` arrived."""
    state = _Stream(provider)
    for frame in frames:
        data = frame.data.strip()
        if not data:
            continue
        obj = json.loads(data)
        if not isinstance(obj, dict):
            raise TypeError(f"stream event is {type(obj).__name__}, not an object")
        kind = obj.get("type") or frame.event
        chunk: ChatCompletionChunk | None = None
        if kind == "message_start":
            chunk = state.on_start(obj)
        elif kind == "content_block_start":
            chunk = state.on_block_start(obj)
        elif kind == "content_block_delta":
            chunk = state.on_block_delta(obj)
        elif kind == "content_block_stop":
            chunk = state.on_block_stop(obj)
        elif kind == "message_delta":
            chunk = state.on_message_delta(obj)
        elif kind == "message_stop":
            return True  # type: ignore[return-value]
        elif kind == "error":
            raise error_from_body(provider, obj, None)
        if chunk is not None:  # ping and unknown events yield nothing
            yield chunk
    return None


# --- errors -----------------------------------------------------------------------------------
def error_from_body(provider: Provider, body: dict[str, Any], status: int | None) -> LlmError:
    """The typed error for an ``{"type": "error", "error": {"type", "message"}}`` body."""
    err = body.get("error")
    if not isinstance(err, dict):
        err = {}
    etype = err.get("type")
    etype = None if etype is None else str(etype)
    message = str(err.get("message") or etype or "the provider reported an error")
    request_id = body.get("request_id")
    fields: dict[str, Any] = {
        "provider": provider.name,
        "status": status,
        "code": etype,
        "request_id": None if request_id is None else str(request_id),
        "body": body,
    }
    cls = ERROR_TYPES.get(etype or "")
    if cls is None:
        del fields["status"]
        return error_for_status(status, message, error_type=etype, **fields)
    if issubclass(cls, InvalidRequestError) and looks_like_context_overflow(message):
        cls = ContextLengthExceededError
    return cls(message, **fields)


def parse_error(provider: Provider, response: HttpResponse) -> LlmError | None:
    """The typed error for a non-2xx answer (or an ``error`` stream event); None for a body
    that is not the API's error shape (the core's default then reads it)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    status = response.status if response.status >= 400 else None
    return error_from_body(provider, body, status)


# --- models -----------------------------------------------------------------------------------
def _timestamp(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return int(when.timestamp())


def parse_models(response: HttpResponse) -> list[ModelInfo]:
    """One ``GET /v1/models`` page -> model infos; ``extra`` keeps ``display_name``,
    ``created_at``..."""
    body = response.json()
    out = []
    for item in body["data"]:
        extra = {k: v for k, v in item.items() if k not in {"id", "type"}}
        out.append(ModelInfo(str(item["id"]), _timestamp(item.get("created_at")), None, extra))
    return out


def parse_models_page(provider: Provider, response: HttpResponse) -> ModelPage:
    """One page of the model list, with the request for the next one: while ``has_more`` is
    true, ``after_id`` is the page's ``last_id`` (the core stops after
    :data:`llmcore.client.MAX_MODEL_PAGES` pages). A page that says ``has_more`` without a
    ``last_id`` is the last one."""
    models = parse_models(response)
    body = response.json()
    cursor = body.get("last_id")
    if body.get("has_more") is not True or not isinstance(cursor, str) or not cursor:
        return ModelPage(models)
    return ModelPage(models, models_request(provider, after_id=cursor))
