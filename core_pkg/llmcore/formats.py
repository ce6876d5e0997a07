"""Chunks and responses as JSON, SSE events and NDJSON lines, for proxies built on llmcore.

Two shapes:

- ``"llmcore"``: llmcore's own JSON (:mod:`llmcore.serde`), which loads back with
  ``serde.loads(text, ChatCompletionChunk)``; works for any llmcore value;
- ``"openai"``: the OpenAI Chat Completions wire shape (``chat.completion.chunk`` /
  ``chat.completion``), so that OpenAI clients can read a proxy built on llmcore. Reasoning goes
  in ``reasoning_content`` (the most widely read field; ``reasoning_field=`` changes it); opaque
  signatures have no place there and are left out; stop reasons map back to OpenAI's
  ``finish_reason`` values, with ``error`` (OpenRouter's value) for failed and aborted turns.

The framings: JSON ``{...}``, SSE ``data: {...}\\n\\n`` (end a stream with :func:`sse_done`),
NDJSON ``{...}\\n``. JSON is compact and on one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from llmcore import serde
from llmcore.chat import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    Delta,
    StopReason,
    ToolCallDelta,
    Usage,
)
from llmcore.errors import ConfigurationError
from llmcore.messages import Message

__all__ = [
    "Shape",
    "iter_ndjson",
    "iter_sse",
    "openai_chunk_dict",
    "openai_response_dict",
    "sse_done",
    "to_data",
    "to_json",
    "to_ndjson",
    "to_sse",
]

Shape = Literal["llmcore", "openai"]

_FINISH: dict[StopReason, str] = {
    StopReason.STOP: "stop",
    StopReason.LENGTH: "length",
    StopReason.TOOL_USE: "tool_calls",
    StopReason.CONTENT_FILTER: "content_filter",
    StopReason.ERROR: "error",
    StopReason.ABORTED: "error",
}
_OPENAI_FINISH = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


def _finish_reason(raw: str | None, unified: StopReason | None) -> str | None:
    if unified is not None:
        return _FINISH[unified]
    if raw is None:
        return None
    return raw if raw in _OPENAI_FINISH else "stop"


def _usage(usage: Usage) -> dict[str, Any]:
    prompt_details: dict[str, int] = {"cached_tokens": usage.cached_tokens}
    if usage.cache_write_tokens:
        prompt_details["cache_write_tokens"] = usage.cache_write_tokens
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _tool_call_delta(tc: ToolCallDelta) -> dict[str, Any]:
    out: dict[str, Any] = {"index": tc.index}
    if tc.id is not None:
        out["id"] = tc.id
    if tc.id is not None or tc.name is not None:
        out["type"] = "function"
    function: dict[str, Any] = {}
    if tc.name is not None:
        function["name"] = tc.name
    if tc.arguments is not None or tc.name is not None:
        function["arguments"] = tc.arguments or ""
    out["function"] = function
    out.update(tc.extra or {})
    return out


def _delta(delta: Delta, reasoning_field: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if delta.role is not None:
        out["role"] = delta.role.value
    if delta.content is not None:
        out["content"] = delta.content
    if delta.reasoning:
        out[reasoning_field] = delta.reasoning
    if delta.tool_calls:
        out["tool_calls"] = [_tool_call_delta(tc) for tc in delta.tool_calls]
    return out


def openai_chunk_dict(
    chunk: ChatCompletionChunk,
    *,
    created: int | None = None,
    reasoning_field: str = "reasoning_content",
) -> dict[str, Any]:
    """``chunk`` as an OpenAI ``chat.completion.chunk`` object.

    ``created`` (Unix seconds) is 0 unless given: a chunk records no time, and this module reads
    no clock. A missing ``id`` or ``model`` becomes ``""``.
    """
    out: dict[str, Any] = {
        "id": chunk.id or "",
        "object": "chat.completion.chunk",
        "created": created or 0,
        "model": chunk.model or "",
        "choices": [
            {
                "index": c.index,
                "delta": _delta(c.delta, reasoning_field),
                "logprobs": None,
                "finish_reason": _finish_reason(c.finish_reason, c.stop_reason),
            }
            for c in chunk.choices
        ],
    }
    if chunk.usage is not None:
        out["usage"] = _usage(chunk.usage)
    return out


def _message(message: Message, reasoning_field: str) -> dict[str, Any]:
    text = message.text()
    out: dict[str, Any] = {
        "role": message.role.value,
        "content": text if text or not message.tool_calls else None,
    }
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments_json()},
                **c.extra,
            }
            for c in message.tool_calls
        ]
    reasoning = message.reasoning_any()
    if reasoning:
        out[reasoning_field] = reasoning
    return out


def openai_response_dict(
    response: ChatCompletionResponse,
    *,
    created: int | None = None,
    reasoning_field: str = "reasoning_content",
) -> dict[str, Any]:
    """``response`` as an OpenAI ``chat.completion`` object (``created``: the response's own
    time, else the argument, else 0)."""
    out: dict[str, Any] = {
        "id": response.id or "",
        "object": "chat.completion",
        "created": response.created if response.created is not None else (created or 0),
        "model": response.model or "",
        "choices": [
            {
                "index": c.index,
                "message": _message(c.message, reasoning_field),
                "logprobs": None,
                "finish_reason": _finish_reason(c.finish_reason, c.stop_reason),
            }
            for c in response.choices
        ],
    }
    if response.usage is not None:
        out["usage"] = _usage(response.usage)
    return out


def to_data(value: Any, *, shape: Shape = "llmcore", **options: Any) -> Any:
    """``value`` as JSON-compatible data in ``shape``; ``options`` go to the OpenAI mappers
    (``created=``, ``reasoning_field=``)."""
    if shape == "llmcore":
        if options:
            raise ConfigurationError(f"shape='llmcore' takes no options, got {sorted(options)}")
        return serde.to_dict(value)
    if shape == "openai":
        if isinstance(value, ChatCompletionChunk):
            return openai_chunk_dict(value, **options)
        if isinstance(value, ChatCompletionResponse):
            return openai_response_dict(value, **options)
        raise ConfigurationError(
            "shape='openai' takes a ChatCompletionChunk or a ChatCompletionResponse, "
            f"not {type(value).__name__}"
        )
    raise ConfigurationError(f"unknown output shape {shape!r}: use 'llmcore' or 'openai'")


def to_json(value: Any, *, shape: Shape = "llmcore", **options: Any) -> str:
    """``value`` as compact one-line JSON."""
    return json.dumps(
        to_data(value, shape=shape, **options), ensure_ascii=False, separators=(",", ":")
    )


def to_sse(
    value: Any, *, shape: Shape = "llmcore", event: str | None = None, **options: Any
) -> str:
    """``value`` as one Server-Sent Event: ``data: {...}\\n\\n`` (with ``event: <name>`` first
    when ``event`` is given)."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {to_json(value, shape=shape, **options)}\n\n"


def sse_done() -> str:
    """The event that ends an OpenAI-style stream: ``data: [DONE]\\n\\n``."""
    return "data: [DONE]\n\n"


def to_ndjson(value: Any, *, shape: Shape = "llmcore", **options: Any) -> str:
    """``value`` as one NDJSON line: ``{...}\\n``."""
    return to_json(value, shape=shape, **options) + "\n"


def iter_sse(
    chunks: Iterable[Any], *, shape: Shape = "openai", done: bool = True, **options: Any
) -> Iterator[str]:
    """Each chunk as an SSE event, then ``data: [DONE]`` (unless ``done=False``)."""
    for chunk in chunks:
        yield to_sse(chunk, shape=shape, **options)
    if done:
        yield sse_done()


def iter_ndjson(
    chunks: Iterable[Any], *, shape: Shape = "llmcore", **options: Any
) -> Iterator[str]:
    """Each chunk as an NDJSON line."""
    for chunk in chunks:
        yield to_ndjson(chunk, shape=shape, **options)
