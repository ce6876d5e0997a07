"""Acme responses, streams and errors -> unified objects (pure functions).

- whole answer: ``{"id", "model", "answer", "stop", "usage": {"input", "output"}}``;
- stream (NDJSON): ``{"delta": "..."}`` lines, then ``{"stop": ..., "usage": {...}}``, the
  terminal line;
- errors: ``{"failure": {"message", "kind"}}`` with the HTTP status (or as a stream line).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from llmcore import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChunkChoice,
    Delta,
    Frame,
    HttpResponse,
    LlmError,
    Message,
    ModelInfo,
    Provider,
    Role,
    StopReason,
    Usage,
    error_for_status,
    map_stop_reason,
)

__all__ = ["STOP_REASONS", "iter_chunks", "parse_chat", "parse_error", "parse_models"]

STOP_REASONS: dict[str, StopReason] = {
    "done": StopReason.STOP,
    "max_tokens": StopReason.LENGTH,
    "blocked": StopReason.CONTENT_FILTER,
}


def parse_usage(raw: Any) -> Usage | None:
    """``{"input", "output"}`` token counts, or None."""
    if not isinstance(raw, dict):
        return None
    return Usage.of(int(raw.get("input") or 0), int(raw.get("output") or 0))


def _failure(provider: Provider, failure: Any, status: int | None) -> LlmError:
    if not isinstance(failure, dict):
        failure = {"message": str(failure)}
    kind = failure.get("kind")
    return error_for_status(
        status,
        str(failure.get("message") or "Acme reported an error"),
        code=None if kind is None else str(kind),
        provider=provider.name,
        body=failure,
    )


def parse_chat(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    """A whole answer. A ``KeyError``/``TypeError``/``ValueError`` here becomes a
    ``MalformedResponseError`` in the core."""
    body = response.json()
    if "failure" in body:
        raise _failure(provider, body["failure"], None)
    stop = body.get("stop")
    message = Message(Role.ASSISTANT, str(body["answer"]))
    reason = map_stop_reason(stop, STOP_REASONS, provider=provider.name)
    return ChatCompletionResponse(
        id=body.get("id"),
        model=body.get("model"),
        choices=(Choice(0, message, stop, reason),),
        usage=parse_usage(body.get("usage")),
        provider=provider.name,
    )


def iter_chunks(
    provider: Provider, frames: Iterator[Frame]
) -> Generator[ChatCompletionChunk, None, bool]:
    """Chunks from NDJSON lines; returns True once the terminal ``stop`` line arrived."""
    for frame in frames:
        line = frame.json()
        if "failure" in line:
            raise _failure(provider, line["failure"], None)
        if "delta" in line:
            yield ChatCompletionChunk(choices=(ChunkChoice(0, Delta(content=line["delta"])),))
        if "stop" in line:
            stop = line["stop"]
            reason = map_stop_reason(stop, STOP_REASONS, provider=provider.name)
            yield ChatCompletionChunk(
                line.get("id"),
                line.get("model"),
                (ChunkChoice(0, Delta(), stop, reason),),
                parse_usage(line.get("usage")),
            )
            return True
    return False


def parse_error(provider: Provider, response: HttpResponse) -> LlmError | None:
    """The typed error of a ``{"failure": ...}`` body; None for other bodies (the core's
    default then reads them). The core fills status, request id and retry-after."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or "failure" not in body:
        return None
    return _failure(provider, body["failure"], response.status)


def parse_models(response: HttpResponse) -> list[ModelInfo]:
    """``GET /models`` -> ``{"models": [{"id"}]}``."""
    return [ModelInfo(str(item["id"])) for item in response.json()["models"]]
