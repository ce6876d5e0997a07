"""Unified request -> ``POST {base}/converse`` with ``{"model", "turns", "tools", "stream"}``.

Turns are ``{"speaker": "rules"|"human"|"bot"|"result", "say": text}``; a bot turn may carry
``"calls": [{"ref", "tool", "input"}]`` and a result turn names its call in ``"ref"``.
"""

from __future__ import annotations

from typing import Any

from llmcore import ChatCompletionRequest, HttpRequest, Message, Provider, Role

__all__ = ["build_converse_request"]

_SPEAKERS = {Role.SYSTEM: "rules", Role.USER: "human", Role.ASSISTANT: "bot", Role.TOOL: "result"}


def _turn(message: Message) -> dict[str, Any]:
    turn: dict[str, Any] = {"speaker": _SPEAKERS[message.role], "say": message.text()}
    if message.tool_calls:
        turn["calls"] = [
            {"ref": c.id, "tool": c.name, "input": c.arguments} for c in message.tool_calls
        ]
    if message.tool_call_id is not None:
        turn["ref"] = message.tool_call_id
    return turn


def build_converse_request(
    provider: Provider, request: ChatCompletionRequest, stream: bool
) -> HttpRequest:
    body: dict[str, Any] = {
        "model": request.model,
        "turns": [_turn(m) for m in request.messages],
        "stream": stream,
    }
    if request.tools:
        body["tools"] = [
            {"tool": t.name, "about": t.description or "", "input_schema": t.parameters}
            for t in request.tools
        ]
    if request.max_tokens is not None:
        body["limit"] = request.max_tokens
    return HttpRequest(
        "POST",
        provider.url("converse"),
        {"content-type": "application/json"},
        json=body,
        stream_format="ndjson",
    )
