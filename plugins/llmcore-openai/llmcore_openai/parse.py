"""OpenAI Chat Completions responses and streams -> unified objects (pure functions).

Fields the wire carries and llmcore does not model are kept in ``provider_data`` (non-null
values only), at the level they come from: the response's (``system_fingerprint``,
``service_tier``, a gateway's ``provider`` or ``x_groq``...), the choice's (``logprobs`` as the
list of token entries, ``refusal_logprobs``, ``native_finish_reason``...), the message's
(``annotations``, ``refusal``, ``reasoning_details``...) and the usage's (the detail objects,
``cost``, timings). Streams give the same keys: list values (``logprobs``, ``annotations``)
arrive as items to append, and ``refusal`` as its whole text so far. The padding fields some
servers add to stream frames against length side channels (``obfuscation``, ``p``) are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from llmcore import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChunkChoice,
    Delta,
    Frame,
    HttpResponse,
    Message,
    ModelInfo,
    Provider,
    Role,
    StopReason,
    ToolCallDelta,
    Usage,
    map_stop_reason,
)
from llmcore.accumulate import finish_tool_call
from llmcore.chat import text_chunk
from llmcore.errors import error_for_status
from llmcore.thinktags import ThinkTagSplitter, split_think_tags
from llmcore_openai.compat import openai_compat

__all__ = ["STOP_REASONS", "iter_chunks", "parse_chat", "parse_models", "parse_usage"]

STOP_REASONS: dict[str, StopReason] = {
    "stop": StopReason.STOP,
    "end_turn": StopReason.STOP,
    "length": StopReason.LENGTH,
    "model_length": StopReason.LENGTH,
    "model_context_window_exceeded": StopReason.LENGTH,
    "tool_calls": StopReason.TOOL_USE,
    "function_call": StopReason.TOOL_USE,
    "content_filter": StopReason.CONTENT_FILTER,
    "sensitive": StopReason.CONTENT_FILTER,
    "error": StopReason.ERROR,
    "network_error": StopReason.ERROR,
    "insufficient_system_resource": StopReason.ERROR,
}

_REASONING_FIELDS = ("reasoning_content", "reasoning", "reasoning_text", "thinking", "thought")
_TOOL_CALL_KEYS = {"id", "type", "function", "index"}

# what llmcore models, per level (everything else non-null goes to provider_data)
_RESPONSE_KEYS = frozenset({"id", "object", "created", "model", "choices", "usage", "error"})
_CHUNK_KEYS = _RESPONSE_KEYS | {"obfuscation", "p"}  # padding against length side channels
_CHOICE_KEYS = frozenset({"index", "message", "delta", "finish_reason", "logprobs", "usage"})
_MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", *_REASONING_FIELDS})
_USAGE_KEYS = frozenset(
    {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_cache_hit_tokens"}
)
# modelled counts inside the usage's detail objects (the rest of those objects is kept)
_USAGE_DETAIL_KEYS = {
    "prompt_tokens_details": frozenset({"cached_tokens", "cache_write_tokens"}),
    "completion_tokens_details": frozenset({"reasoning_tokens"}),
}


# a choice and a delta that carry nothing but text (or the role): see iter_chunks
_PLAIN_CHOICE_KEYS = frozenset({"index", "delta", "finish_reason", "logprobs"})
_PLAIN_DELTA_KEYS = frozenset({"role", "content"})


def _plain(raw: dict[str, Any], delta: dict[str, Any]) -> bool:
    """True when a streamed choice carries only text (a string or null) and perhaps the
    assistant role: no finish reason, logprobs, tool calls, reasoning or unmodelled fields."""
    text = delta.get("content")
    role = delta.get("role")
    return (
        (text is None or type(text) is str)
        and (role is None or role == "assistant")
        and raw.keys() <= _PLAIN_CHOICE_KEYS
        and delta.keys() <= _PLAIN_DELTA_KEYS
        and raw.get("finish_reason") is None
        and raw.get("logprobs") is None
    )


def _unmodelled(obj: dict[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The non-null fields of ``obj`` that llmcore does not model."""
    return {k: v for k, v in obj.items() if k not in known and v is not None}


def _usage_data(raw: dict[str, Any]) -> dict[str, Any]:
    """The usage's unmodelled fields; detail objects without the counts llmcore models."""
    data = _unmodelled(raw, _USAGE_KEYS)
    for key, modelled in _USAGE_DETAIL_KEYS.items():
        details = data.get(key)
        if isinstance(details, dict):
            rest = _unmodelled(details, modelled)
            if rest:
                data[key] = rest
            else:
                del data[key]
    return data


def _choice_data(raw: dict[str, Any]) -> dict[str, Any]:
    """A choice's provider data: ``logprobs`` as the list of token entries (so streamed entries
    append), ``refusal_logprobs`` likewise, plus its unmodelled fields."""
    data = _unmodelled(raw, _CHOICE_KEYS)
    logprobs = raw.get("logprobs")
    if isinstance(logprobs, dict):
        if isinstance(logprobs.get("content"), list):
            data["logprobs"] = logprobs["content"]
        if isinstance(logprobs.get("refusal"), list):
            data["refusal_logprobs"] = logprobs["refusal"]
    return data


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def parse_usage(raw: Any) -> Usage | None:
    """Usage under llmcore's rule (prompt includes cached; completion includes reasoning)."""
    if not isinstance(raw, dict):
        return None
    prompt = _int(raw.get("prompt_tokens"))
    completion = _int(raw.get("completion_tokens"))
    pdetails = raw.get("prompt_tokens_details") or {}
    cdetails = raw.get("completion_tokens_details") or {}
    cached = _int(pdetails.get("cached_tokens")) or _int(raw.get("prompt_cache_hit_tokens"))
    total = raw.get("total_tokens")
    return Usage.of(
        prompt,
        completion,
        total_tokens=_int(total) if total is not None else None,
        cached_tokens=cached,
        cache_write_tokens=_int(pdetails.get("cache_write_tokens")),
        reasoning_tokens=_int(cdetails.get("reasoning_tokens")),
        provider_data=_usage_data(raw),
    )


def _content_and_reasoning(raw: Any) -> tuple[str | None, str | None]:
    """Content may be a string or a list of typed parts (Mistral's ``thinking`` chunks)."""
    if raw is None or isinstance(raw, str):
        return raw, None
    text: list[str] = []
    reasoning: list[str] = []
    for part in raw:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            text.append(part.get("text") or "")
        elif kind == "thinking":
            inner = part.get("thinking")
            if isinstance(inner, list):
                reasoning.extend(p.get("text", "") for p in inner if isinstance(p, dict))
            elif isinstance(inner, str):
                reasoning.append(inner)
    return "".join(text), ("".join(reasoning) or None)


def _reasoning_field(obj: dict[str, Any]) -> str | None:
    """The first non-empty reasoning field (gateways may send two with the same text)."""
    for name in _REASONING_FIELDS:
        value = obj.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _stop_reason(raw: str | None, has_tools: bool, provider: Provider) -> StopReason | None:
    reason = map_stop_reason(raw, STOP_REASONS, provider=provider.name)
    if reason is StopReason.STOP and has_tools:
        return StopReason.TOOL_USE
    return reason


def raise_body_error(provider: Provider, obj: dict[str, Any], status: int | None) -> None:
    """Raise the typed error for an ``{"error": ...}`` object found in a 200 body or frame."""
    err = obj.get("error")
    if not err:
        return
    if isinstance(err, str):
        err = {"message": err}
    code = err.get("code")
    err_status = err.get("status_code") or (code if isinstance(code, int) else None)
    etype = err.get("type")
    raise error_for_status(
        err_status if isinstance(err_status, int) else status,
        str(err.get("message") or "provider reported an error"),
        code=None if code is None else str(code),
        error_type=None if etype is None else str(etype),
        provider=provider.name,
        body=err,
    )


def _message(provider: Provider, raw: dict[str, Any]) -> Message:
    content, part_reasoning = _content_and_reasoning(raw.get("content"))
    reasoning = _reasoning_field(raw) or part_reasoning
    if openai_compat(provider).think_tags and content:
        content, tagged = split_think_tags(content)
        reasoning = reasoning or tagged
    calls = tuple(
        finish_tool_call(
            c.get("id"),
            (c.get("function") or {}).get("name"),
            (c.get("function") or {}).get("arguments") or "",
            {k: v for k, v in c.items() if k not in _TOOL_CALL_KEYS},
        )
        for c in raw.get("tool_calls") or ()
    )
    return Message(
        Role(raw.get("role") or "assistant"),
        content or "",
        tool_calls=calls,
        reasoning=reasoning,
        provider_data=_unmodelled(raw, _MESSAGE_KEYS),
    )


def parse_chat(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    """A non-streamed chat completion."""
    body = response.json()
    if not isinstance(body, dict):
        raise TypeError(f"expected a JSON object, got {type(body).__name__}")
    raise_body_error(provider, body, response.status)
    choices = []
    for i, raw in enumerate(body["choices"]):
        message = _message(provider, raw["message"])
        finish = raw.get("finish_reason")
        choices.append(
            Choice(
                raw.get("index", i),
                message,
                finish,
                _stop_reason(finish, bool(message.tool_calls), provider),
                provider_data=_choice_data(raw),
            )
        )
    return ChatCompletionResponse(
        id=body.get("id"),
        model=body.get("model"),
        choices=tuple(choices),
        usage=parse_usage(body.get("usage")),
        provider=provider.name,
        created=body.get("created"),
        provider_data=_unmodelled(body, _RESPONSE_KEYS),
    )


class _ToolIndex:
    """Gives every streamed tool call a stable index, also when a gateway omits ``index``."""

    def __init__(self) -> None:
        self.by_id: dict[str, int] = {}
        self.last = -1

    def index_of(self, raw: dict[str, Any]) -> int:
        call_id = raw.get("id")
        if isinstance(raw.get("index"), int):
            index: int = raw["index"]
        elif call_id and call_id in self.by_id:
            index = self.by_id[call_id]
        elif call_id:
            index = self.last + 1
        else:
            index = max(self.last, 0)
        if call_id and call_id not in self.by_id:
            self.by_id[call_id] = index
        self.last = max(self.last, index)
        return index


def _tool_deltas(raw_calls: Any, tools: _ToolIndex) -> tuple[ToolCallDelta, ...]:
    out = []
    for raw in raw_calls or ():
        function = raw.get("function") or {}
        extra = {k: v for k, v in raw.items() if k not in _TOOL_CALL_KEYS} or None
        out.append(
            ToolCallDelta(
                tools.index_of(raw),
                raw.get("id"),
                function.get("name"),
                function.get("arguments"),
                extra,
            )
        )
    return tuple(out)


def iter_chunks(provider: Provider, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
    """Chunks from SSE frames; returns True once ``[DONE]`` arrived."""
    think_tags = openai_compat(provider).think_tags
    tools: dict[int, _ToolIndex] = {}
    splitters: dict[int, ThinkTagSplitter] = {}
    has_tools: set[int] = set()
    refusals: dict[int, str] = {}  # each choice's refusal so far (sent whole: later wins)
    for frame in frames:
        data = frame.data.strip()
        if not data:
            continue
        if data == "[DONE]":
            tail = _flush(splitters)
            if tail is not None:
                yield tail
            return True  # type: ignore[return-value]
        obj = json.loads(data)
        if not isinstance(obj, dict):
            raise TypeError(f"stream frame is {type(obj).__name__}, not an object")
        if "choices" not in obj or obj.get("error"):
            raise_body_error(provider, obj, 200)
        raw_choices: Any = obj.get("choices") or ()
        if len(raw_choices) == 1 and not obj.get("usage") and not think_tags:
            raw = raw_choices[0]
            delta = raw.get("delta") or {}
            if _plain(raw, delta):
                # The common event of a long answer: one piece of text. The general path
                # below gives the same chunk, at several times the cost.
                yield text_chunk(
                    delta.get("content") or None,
                    index=raw.get("index", 0),
                    role=Role.ASSISTANT if delta.get("role") else None,
                    id=obj.get("id"),
                    model=obj.get("model"),
                    provider_data=(
                        None if obj.keys() <= _CHUNK_KEYS else _unmodelled(obj, _CHUNK_KEYS)
                    ),
                )
                continue
        choices = []
        for raw in raw_choices:
            index = raw.get("index", 0)
            delta = raw.get("delta") or {}
            if not think_tags and _plain(raw, delta):
                # text only, or the role: the general path below gives the same choice
                role = Role.ASSISTANT if delta.get("role") else None
                choices.append(
                    ChunkChoice(index, Delta(role=role, content=delta.get("content") or None))
                )
                continue
            content, part_reasoning = _content_and_reasoning(delta.get("content"))
            reasoning = _reasoning_field(delta) or part_reasoning
            if think_tags and content:
                splitter = splitters.setdefault(index, ThinkTagSplitter())
                content, tagged = splitter.feed(content)
                reasoning = (reasoning or "") + tagged or None
            calls = _tool_deltas(delta.get("tool_calls"), tools.setdefault(index, _ToolIndex()))
            if calls:
                has_tools.add(index)
            finish = raw.get("finish_reason")
            role = delta.get("role")
            message_data = _unmodelled(delta, _MESSAGE_KEYS)
            if isinstance(message_data.get("refusal"), str):
                refusals[index] = refusals.get(index, "") + message_data["refusal"]
                message_data["refusal"] = refusals[index]
            choices.append(
                ChunkChoice(
                    index,
                    Delta(
                        role=Role(role) if role else None,
                        content=content or None,
                        reasoning=reasoning or None,
                        tool_calls=calls,
                        provider_data=message_data,
                    ),
                    finish,
                    _stop_reason(finish, index in has_tools, provider),
                    provider_data=_choice_data(raw),
                )
            )
        raw_usage = obj.get("usage")
        if not raw_usage and "x_groq" in obj:
            raw_usage = (obj.get("x_groq") or {}).get("usage")
        usage = parse_usage(raw_usage)
        if usage is None and obj.get("choices"):
            usage = parse_usage((obj["choices"][0] or {}).get("usage"))
        yield ChatCompletionChunk(
            obj.get("id"),
            obj.get("model"),
            tuple(choices),
            usage,
            provider_data=None if obj.keys() <= _CHUNK_KEYS else _unmodelled(obj, _CHUNK_KEYS),
        )
    tail = _flush(splitters)
    if tail is not None:
        yield tail
    return None


def _flush(splitters: dict[int, ThinkTagSplitter]) -> ChatCompletionChunk | None:
    choices = []
    for index, splitter in splitters.items():
        content, reasoning = splitter.flush()
        if content or reasoning:
            choices.append(
                ChunkChoice(index, Delta(content=content or None, reasoning=reasoning or None))
            )
    return ChatCompletionChunk(choices=tuple(choices)) if choices else None


def parse_models(response: HttpResponse) -> list[ModelInfo]:
    """``GET /models`` -> model infos (``data[].id``)."""
    body = response.json()
    items = body["data"] if isinstance(body, dict) else body
    out = []
    for item in items:
        extra = {k: v for k, v in item.items() if k not in {"id", "created", "owned_by", "object"}}
        out.append(ModelInfo(str(item["id"]), item.get("created"), item.get("owned_by"), extra))
    return out
