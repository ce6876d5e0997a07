"""Anthropic Messages responses, streams, errors and model lists -> unified objects (pure).

- ``text`` blocks make the text (joined with ""); ``thinking`` and ``redacted_thinking`` blocks
  become :class:`~llmcore.ThinkingBlock` objects (tagged with the provider and this API, so they
  go back unchanged to the same provider) and the reasoning text (blocks joined with "\\n\\n");
  ``tool_use`` blocks become tool calls. Server-side tool blocks (``server_tool_use``,
  ``web_search_tool_result``...) are not tool calls for the caller to run and are left out.
- Usage follows llmcore's rule: ``prompt_tokens`` = ``input_tokens`` +
  ``cache_read_input_tokens`` + ``cache_creation_input_tokens`` (the API's ``input_tokens``
  excludes both); ``cached_tokens`` is the cache read, ``cache_write_tokens`` the cache creation.
- Streams: ``message_start`` (id, model, input usage), ``content_block_start`` / ``_delta`` /
  ``_stop`` per block (``text_delta``, ``input_json_delta``, ``thinking_delta``,
  ``signature_delta``; ``citations_delta`` ignored), ``message_delta`` (stop reason, cumulative
  usage: the latest value of each count wins), ``message_stop`` (the terminal event), ``ping``
  (ignored) and ``error`` (a typed error).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
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
from llmcore.errors import looks_like_context_overflow
from llmcore_anthropic.providers import API

__all__ = [
    "ERROR_TYPES",
    "STOP_REASONS",
    "error_from_body",
    "iter_chunks",
    "parse_error",
    "parse_message",
    "parse_models",
    "parse_usage",
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


# --- usage ------------------------------------------------------------------------------------
_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _usage(counts: dict[str, int]) -> Usage:
    read = counts.get("cache_read_input_tokens", 0)
    write = counts.get("cache_creation_input_tokens", 0)
    prompt = counts.get("input_tokens", 0) + read + write
    return Usage.of(
        prompt, counts.get("output_tokens", 0), cached_tokens=read, cache_write_tokens=write
    )


def _counts(raw: Any) -> dict[str, int]:
    """The counts present (not null) in a usage object."""
    if not isinstance(raw, dict):
        return {}
    return {k: _int(raw[k]) for k in _USAGE_KEYS if raw.get(k) is not None}


def parse_usage(raw: Any) -> Usage | None:
    """A Messages API ``usage`` object under llmcore's usage rule (None when absent)."""
    return _usage(_counts(raw)) if isinstance(raw, dict) else None


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
    for block in body["content"]:
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
    )
    finish = body.get("stop_reason")
    choice = Choice(0, message, finish, _stop(finish, provider))
    return ChatCompletionResponse(
        id=body.get("id"),
        model=body.get("model"),
        choices=(choice,),
        usage=parse_usage(body.get("usage")),
        provider=provider.name,
    )


# --- streams ----------------------------------------------------------------------------------
class _Stream:
    """The state of one stream: the counts so far and what each content block is."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.id: str | None = None
        self.model: str | None = None
        self.counts: dict[str, int] = {}
        self.kinds: dict[int, str] = {}
        self.start_input: dict[int, Any] = {}
        self.got_json: set[int] = set()

    def chunk(
        self, delta: Delta | None = None, *, finish: str | None = None, usage: bool = False
    ) -> ChatCompletionChunk:
        choices: tuple[ChunkChoice, ...] = ()
        if delta is not None or finish is not None:
            choices = (ChunkChoice(0, delta or Delta(), finish, _stop(finish, self.provider)),)
        return ChatCompletionChunk(
            self.id, self.model, choices, _usage(self.counts) if usage else None
        )

    def on_start(self, obj: dict[str, Any]) -> ChatCompletionChunk:
        message = obj.get("message") or {}
        self.id = message.get("id")
        self.model = message.get("model")
        self.counts.update(_counts(message.get("usage")))
        return self.chunk(Delta(role=Role.ASSISTANT), usage=bool(self.counts))

    def on_block_start(self, obj: dict[str, Any]) -> ChatCompletionChunk | None:
        index = int(obj["index"])
        block = obj.get("content_block") or {}
        kind = str(block.get("type"))
        self.kinds[index] = kind
        if kind == "text":
            text = block.get("text")
            return self.chunk(Delta(content=text)) if text else None
        if kind == "thinking":
            text, signature = block.get("thinking") or None, block.get("signature") or None
            if text or signature:
                return self.chunk(Delta(reasoning=text, reasoning_signature=signature))
            return None
        if kind == "redacted_thinking":
            return self.chunk(Delta(reasoning_redacted=block.get("data") or ""))
        if kind == "tool_use":
            self.start_input[index] = block.get("input")
            call = ToolCallDelta(index, block.get("id"), block.get("name"))
            return self.chunk(Delta(tool_calls=(call,)))
        return None  # server-side tool blocks and unknown kinds: not the caller's to run

    def on_block_delta(self, obj: dict[str, Any]) -> ChatCompletionChunk | None:
        index = int(obj["index"])
        delta = obj.get("delta") or {}
        kind = delta.get("type")
        block = self.kinds.get(index)
        if kind == "text_delta" and block == "text":
            text = delta.get("text")
            return self.chunk(Delta(content=text)) if text else None
        if kind == "input_json_delta" and block == "tool_use":
            piece = delta.get("partial_json")
            if not piece:
                return None
            self.got_json.add(index)
            return self.chunk(Delta(tool_calls=(ToolCallDelta(index, arguments=piece),)))
        if kind == "thinking_delta" and block == "thinking":
            text = delta.get("thinking")
            return self.chunk(Delta(reasoning=text)) if text else None
        if kind == "signature_delta" and block == "thinking":
            signature = delta.get("signature")
            return self.chunk(Delta(reasoning_signature=signature)) if signature else None
        return None  # citations_delta, server tool input, unknown deltas

    def on_block_stop(self, obj: dict[str, Any]) -> ChatCompletionChunk | None:
        index = int(obj["index"])
        kind = self.kinds.get(index)
        if kind in ("thinking", "redacted_thinking"):
            return self.chunk(Delta(thinking_block_end=True))
        if kind == "tool_use" and index not in self.got_json:
            # no input_json_delta: the input given at the start (usually {}) is the whole input
            start = self.start_input.get(index)
            text = json.dumps(start if start is not None else {})
            return self.chunk(Delta(tool_calls=(ToolCallDelta(index, arguments=text),)))
        return None

    def on_message_delta(self, obj: dict[str, Any]) -> ChatCompletionChunk:
        self.counts.update(_counts(obj.get("usage")))
        finish = (obj.get("delta") or {}).get("stop_reason")
        return self.chunk(finish=finish, usage=bool(self.counts))


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
    """``GET /v1/models`` -> model infos; ``extra`` keeps ``display_name``, ``created_at``..."""
    body = response.json()
    out = []
    for item in body["data"]:
        extra = {k: v for k, v in item.items() if k not in {"id", "type"}}
        out.append(ModelInfo(str(item["id"]), _timestamp(item.get("created_at")), None, extra))
    return out
