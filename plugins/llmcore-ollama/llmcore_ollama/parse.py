"""Ollama ``/api/chat`` answers, NDJSON streams, model lists and errors -> llmcore (pure).

Provider data: what an answer carries that llmcore does not model is kept, whole answers and
streams alike. Timings and counts other than the two token counts (``total_duration``,
``load_duration``, ``prompt_eval_duration``, ``eval_duration``: every ``*_duration`` and
``*_count`` key) go to ``usage.provider_data``; the rest of the top level (``created_at`` as
sent, with its nanoseconds; ``/api/generate``'s ``context``...) to the response's
``provider_data``; unmodelled keys of the assistant ``message`` to the message's
``provider_data``. In a stream every line's data is merged in order (later values win), so the
response ends with the last line's ``created_at`` and the ``done`` line's timings.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from llmcore import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChunkChoice,
    ContextLengthExceededError,
    Delta,
    Frame,
    HttpResponse,
    LlmError,
    Message,
    ModelInfo,
    ModelNotFoundError,
    Provider,
    Role,
    ServerError,
    StopReason,
    ToolCallDelta,
    Usage,
    error_for_status,
    finish_tool_call,
    map_stop_reason,
)

__all__ = [
    "CHAT_KEYS",
    "STOP_REASONS",
    "error_from_message",
    "iter_chunks",
    "message_data",
    "parse_chat",
    "parse_created",
    "parse_error",
    "parse_models",
    "parse_usage",
    "raise_line_error",
    "split_provider_data",
    "tool_call_id",
    "usage_and_data",
]

STOP_REASONS: dict[str, StopReason] = {
    "stop": StopReason.STOP,
    "length": StopReason.LENGTH,
    "load": StopReason.STOP,  # an empty request that only loaded the model
    "unload": StopReason.STOP,  # an empty request with keep_alive 0
}

_NOT_FOUND = re.compile(
    r"model\s+['\"]?[^'\"]*['\"]?\s+not found|file does not exist|pull model manifest",
    re.IGNORECASE,
)
# Ollama's own wordings (the runner's and /api/embed's); chat input is truncated silently.
_TOO_LONG = re.compile(r"exceeds (?:the )?(?:maximum )?context length", re.IGNORECASE)
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?", re.IGNORECASE
)
_MODEL_KEYS = {"name", "model"}
_COUNT_KEYS = frozenset({"prompt_eval_count", "eval_count"})

CHAT_KEYS = frozenset({"model", "message", "done", "done_reason"}) | _COUNT_KEYS
"""The top-level keys of an ``/api/chat`` object that llmcore models (the rest is provider data)."""
_MESSAGE_KEYS = frozenset({"role", "content", "thinking", "tool_calls"})


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def parse_created(value: Any) -> int | None:
    """``created_at`` (RFC 3339 with nanoseconds, e.g. ``2024-05-24T20:01:31.01558Z``) as
    POSIX seconds, or None when absent or unreadable."""
    match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    zone = match.group(7) or "Z"
    offset = 0
    if zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    try:
        return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    except (OverflowError, ValueError):
        return None


def _is_usage_key(key: str) -> bool:
    return key.endswith(("_duration", "_count"))


def split_provider_data(
    obj: dict[str, Any], modelled: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keys of ``obj`` not in ``modelled``, split into (response level, usage level): the
    usage level holds the timings and counts (``*_duration``, ``*_count``)."""
    response: dict[str, Any] = {}
    usage: dict[str, Any] = {}
    for key, value in obj.items():
        if key not in modelled:
            (usage if _is_usage_key(key) else response)[key] = value
    return response, usage


def parse_usage(obj: dict[str, Any], provider_data: dict[str, Any] | None = None) -> Usage | None:
    """``prompt_eval_count`` / ``eval_count`` of a final object, or None when it has neither.

    ``eval_count`` counts every generated token, thinking included. Ollama leaves prompt tokens
    it reused from its cache out of ``prompt_eval_count``, and says nothing of them.
    ``provider_data`` (the timings) is kept on the usage.
    """
    if "prompt_eval_count" not in obj and "eval_count" not in obj:
        return None
    return Usage.of(
        _int(obj.get("prompt_eval_count")), _int(obj.get("eval_count")), provider_data=provider_data
    )


def usage_and_data(
    obj: dict[str, Any], modelled: frozenset[str]
) -> tuple[Usage | None, dict[str, Any]]:
    """The usage of ``obj`` (its timings as the usage's provider data) and the response-level
    provider data; without token counts the timings stay at the response level."""
    data, timings = split_provider_data(obj, modelled)
    usage = parse_usage(obj, timings)
    if usage is None:
        data.update(timings)
    return usage, data


def message_data(raw: dict[str, Any]) -> dict[str, Any]:
    """The keys of an assistant ``message`` object that llmcore does not model."""
    return {k: v for k, v in raw.items() if k not in _MESSAGE_KEYS}


def error_from_message(
    provider: Provider, message: str, status: int | None, body: Any = None
) -> LlmError:
    """The typed error for an Ollama error message (``{"error": "<message>"}``).

    "model ... not found" and failed pulls of unknown models are
    :class:`~llmcore.ModelNotFoundError` whatever the status, "exceeds the context length" a
    :class:`~llmcore.ContextLengthExceededError`; otherwise the status decides; an
    error line inside a 200 stream (no status) is a :class:`~llmcore.ServerError` unless its
    text says what it is (a context overflow...).
    """
    if _NOT_FOUND.search(message):
        return ModelNotFoundError(message, status=status, provider=provider.name, body=body)
    if _TOO_LONG.search(message) and (status is None or status < 500):
        return ContextLengthExceededError(message, status=status, provider=provider.name, body=body)
    err = error_for_status(status, message, provider=provider.name, body=body)
    if status is None and type(err) is LlmError:
        return ServerError(message, provider=provider.name, body=body)
    return err


def raise_line_error(provider: Provider, obj: Any, status: int | None = None) -> None:
    """Raise the typed error of an ``{"error": ...}`` object (a body or an NDJSON line)."""
    if not isinstance(obj, dict) or "error" not in obj:
        return
    err = obj["error"]
    if isinstance(err, dict):
        message = str(err.get("message") or err)
    else:
        message = str(err) if err else "Ollama reported an error"
    raise error_from_message(provider, message, status, body=obj)


def parse_error(provider: Provider, response: HttpResponse) -> LlmError | None:
    """A non-2xx answer with Ollama's ``{"error": "<message>"}`` body; None for other bodies
    (the core's default reads those)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return None
    return error_from_message(provider, body["error"], response.status, body=body)


def tool_call_id(raw: dict[str, Any], index: int, seed: str) -> str:
    """The call's ``id``, or a deterministic one when Ollama sent none: ``call_<index>_<hash>``,
    the hash taken over ``seed`` (the object's ``created_at``), the name and the arguments."""
    given = raw.get("id")
    if isinstance(given, str) and given:
        return given
    function = raw.get("function") or {}
    text = json.dumps([seed, index, function.get("name"), function.get("arguments")], default=str)
    return f"call_{index}_{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _arguments(function: dict[str, Any]) -> str:
    args = function.get("arguments")
    if args is None:
        return ""
    return args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)


def _extra(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in {"id", "function", "type"}}


def _stop(raw: str | None, has_tools: bool, provider: Provider) -> StopReason | None:
    reason = map_stop_reason(raw, STOP_REASONS, provider=provider.name)
    if reason is StopReason.STOP and has_tools:
        return StopReason.TOOL_USE  # Ollama ends tool calls with "stop"
    return reason


def _finish(obj: dict[str, Any]) -> str | None:
    """``done_reason``; ``stop`` for a finished object of a server too old to send one."""
    reason = obj.get("done_reason")
    if isinstance(reason, str) and reason:
        return reason
    return "stop" if obj.get("done") else None


def parse_chat(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    """A non-streamed ``/api/chat`` answer."""
    body = response.json()
    if not isinstance(body, dict):
        raise TypeError(f"expected a JSON object, got {type(body).__name__}")
    raise_line_error(provider, body, response.status)
    raw = body["message"]
    seed = str(body.get("created_at") or "")
    calls = tuple(
        finish_tool_call(
            tool_call_id(c, i, seed),
            (c.get("function") or {}).get("name"),
            _arguments(c.get("function") or {}),
            _extra(c),
        )
        for i, c in enumerate(raw.get("tool_calls") or ())
    )
    message = Message(
        Role.ASSISTANT,
        raw.get("content") or "",
        tool_calls=calls,
        reasoning=raw.get("thinking") or None,
        provider_data=message_data(raw),
    )
    finish = _finish(body)
    usage, data = usage_and_data(body, CHAT_KEYS)
    return ChatCompletionResponse(
        id=None,
        model=body.get("model"),
        choices=(Choice(0, message, finish, _stop(finish, bool(calls), provider)),),
        usage=usage,
        provider=provider.name,
        created=parse_created(body.get("created_at")),
        provider_data=data,
    )


def iter_chunks(provider: Provider, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
    """Chunks from NDJSON lines; returns True at the ``done: true`` line.

    Content and thinking are deltas; tool calls arrive whole, each in one line, and are passed
    on as one complete fragment each, marked ended (indexes counted over the stream). Each
    line's unmodelled fields are the chunk's provider data (see the module docstring). An
    ``{"error": ...}`` line raises its typed error.
    """
    calls = 0
    first = True
    for frame in frames:
        obj = json.loads(frame.data)
        if not isinstance(obj, dict):
            raise TypeError(f"stream line is {type(obj).__name__}, not an object")
        raise_line_error(provider, obj)
        raw = obj.get("message") or {}
        seed = str(obj.get("created_at") or "")
        deltas = []
        for call in raw.get("tool_calls") or ():
            function = call.get("function") or {}
            deltas.append(
                ToolCallDelta(
                    calls,
                    tool_call_id(call, calls, seed),
                    function.get("name"),
                    _arguments(function),
                    _extra(call) or None,
                    end=True,
                )
            )
            calls += 1
        done = bool(obj.get("done"))
        finish = _finish(obj) if done else None
        delta = Delta(
            role=Role.ASSISTANT if first else None,
            content=raw.get("content") or None,
            reasoning=raw.get("thinking") or None,
            tool_calls=tuple(deltas),
            provider_data=message_data(raw),
        )
        first = False
        choice = ChunkChoice(0, delta, finish, _stop(finish, calls > 0, provider))
        usage, data = usage_and_data(obj, CHAT_KEYS)
        yield ChatCompletionChunk(None, obj.get("model"), (choice,), usage, provider_data=data)
        if done:
            return True  # type: ignore[return-value]
    return None


def parse_models(response: HttpResponse) -> list[ModelInfo]:
    """``GET /api/tags`` -> model infos (``id`` is the model's name, e.g. ``llama3.2:latest``;
    ``size``, ``digest``, ``modified_at`` and ``details`` are kept in ``extra``)."""
    body = response.json()
    out = []
    for item in body.get("models") or ():
        name = item.get("name") or item.get("model")
        extra = {k: v for k, v in item.items() if k not in _MODEL_KEYS}
        if item.get("model") and item.get("model") != name:
            extra["model"] = item["model"]
        out.append(ModelInfo(str(name), extra=extra))
    return out
