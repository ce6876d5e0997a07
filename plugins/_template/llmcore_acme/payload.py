"""Unified request -> Acme HTTP request (pure functions: no I/O, no clock, no environment).

The Acme chat API takes ``{"model", "messages": [{"role", "text"}], "stream", "max_tokens"}``
at ``POST {base_url}/chat``; it streams newline-delimited JSON.
"""

from __future__ import annotations

from typing import Any

from llmcore import (
    ChatCompletionRequest,
    HttpRequest,
    InvalidInputError,
    Message,
    Provider,
    Role,
    UnsupportedOperationError,
)

__all__ = ["build_chat_request", "chat_payload"]

_ROLES = {Role.SYSTEM: "system", Role.USER: "user", Role.ASSISTANT: "assistant"}


def _message(index: int, message: Message) -> dict[str, Any]:
    role = _ROLES.get(message.role)
    if role is None or message.tool_calls:
        raise InvalidInputError.at(
            f"messages[{index}]", f"the Acme API cannot send a {message.role.value} message"
        )
    return {"role": role, "text": message.text()}


def chat_payload(request: ChatCompletionRequest, stream: bool) -> dict[str, Any]:
    """The JSON body for ``request``."""
    if request.tools:
        raise UnsupportedOperationError("the Acme API has no tool calling")
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_message(i, m) for i, m in enumerate(request.messages)],
        "stream": stream,
    }
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    body.update(request.extra)
    return body


def build_chat_request(
    provider: Provider, request: ChatCompletionRequest, stream: bool
) -> HttpRequest:
    """The HTTP request: absolute URL under ``base_url``, no credentials (the core adds them)."""
    accept = "application/x-ndjson" if stream else "application/json"
    return HttpRequest(
        "POST",
        provider.url("chat"),
        {"content-type": "application/json", "accept": accept},
        json=chat_payload(request, stream),
        stream_format="ndjson",
    )
