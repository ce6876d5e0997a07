"""madeup-lines answers, streams, problems and catalogues -> unified objects.

- whole answer: ``{"id", "model", "items": [{"type": "text"|"think"|"tool", ...}], "end":
  {"reason", "usage": {"in", "out", "cached"}}}``;
- stream: one JSON object per line, ``{"type": "text", "text"}``, ``{"type": "think", "text"}``,
  ``{"type": "tool", "slot", "id"?, "name"?, "args"}`` (argument JSON in pieces), and the
  terminal ``{"type": "end", "reason", "usage"}``;
- problems: ``{"problem": {"title", "kind", "status"?}}``, as an error body or a stream line.
"""

from __future__ import annotations

import json
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
    ToolCallDelta,
    Usage,
    error_for_status,
    finish_tool_call,
    map_stop_reason,
)

__all__ = ["STOP_REASONS", "iter_lines", "parse_answer", "parse_catalogue", "parse_problem"]

STOP_REASONS: dict[str, StopReason] = {
    "complete": StopReason.STOP,
    "tool": StopReason.TOOL_USE,
    "cutoff": StopReason.LENGTH,
    "refused": StopReason.CONTENT_FILTER,
}


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return Usage.of(int(raw.get("in", 0)), int(raw.get("out", 0)),
                    cached_tokens=int(raw.get("cached", 0)))


def _problem(provider: Provider, problem: Any, status: int | None) -> LlmError:
    if not isinstance(problem, dict):
        problem = {"title": str(problem)}
    own = problem.get("status")
    kind = problem.get("kind")
    return error_for_status(
        own if isinstance(own, int) else status,
        str(problem.get("title") or "madeup problem"),
        code=None if kind is None else str(kind),
        provider=provider.name,
        body=problem,
    )


def _end(provider: Provider, end: dict[str, Any]) -> tuple[str | None, StopReason | None]:
    reason = end.get("reason")
    return reason, map_stop_reason(reason, STOP_REASONS, provider=provider.name)


def parse_answer(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    body = response.json()
    if "problem" in body:
        raise _problem(provider, body["problem"], None)
    text: list[str] = []
    thinking: list[str] = []
    calls = []
    for item in body["items"]:
        kind = item["type"]
        if kind == "text":
            text.append(item["text"])
        elif kind == "think":
            thinking.append(item["text"])
        elif kind == "tool":
            calls.append(finish_tool_call(item["id"], item["name"], json.dumps(item["input"])))
        else:
            raise ValueError(f"unknown item type {kind!r}")
    reason, stop = _end(provider, body["end"])
    message = Message(Role.ASSISTANT, "".join(text), tool_calls=calls,
                      reasoning="".join(thinking) or None)
    return ChatCompletionResponse(
        id=body.get("id"),
        model=body.get("model"),
        choices=(Choice(0, message, reason, stop),),
        usage=_usage(body["end"].get("usage")),
        provider=provider.name,
    )


def iter_lines(
    provider: Provider, frames: Iterator[Frame]
) -> Generator[ChatCompletionChunk, None, bool]:
    rid = model = None
    for frame in frames:
        line = frame.json()
        if "problem" in line:
            raise _problem(provider, line["problem"], None)
        kind = line["type"]
        if kind == "begin":
            rid, model = line.get("id"), line.get("model")
            delta = Delta(role=Role.ASSISTANT)
        elif kind == "text":
            delta = Delta(content=line["text"])
        elif kind == "think":
            delta = Delta(reasoning=line["text"])
        elif kind == "tool":
            call = ToolCallDelta(line["slot"], line.get("id"), line.get("name"), line.get("args"))
            delta = Delta(tool_calls=(call,))
        elif kind == "end":
            reason, stop = _end(provider, line)
            choice = ChunkChoice(0, Delta(), reason, stop)
            yield ChatCompletionChunk(rid, model, (choice,), _usage(line.get("usage")))
            return True
        else:
            raise ValueError(f"unknown line type {kind!r}")
        yield ChatCompletionChunk(rid, model, (ChunkChoice(0, delta),))
    return False


def parse_problem(provider: Provider, response: HttpResponse) -> LlmError | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or "problem" not in body:
        return None
    return _problem(provider, body["problem"], response.status)


def parse_catalogue(response: HttpResponse) -> list[ModelInfo]:
    return [ModelInfo(str(entry["name"])) for entry in response.json()["catalogue"]]
