"""Unified request -> OpenAI Chat Completions payload (pure functions)."""

from __future__ import annotations

import fnmatch
from typing import Any

from llmcore import (
    ChatCompletionRequest,
    HttpRequest,
    InvalidInputError,
    Message,
    Provider,
    Role,
    Tool,
    ToolChoice,
)
from llmcore.content import AudioPart, Content, DocumentPart, ImagePart, TextPart
from llmcore_openai.compat import openai_compat

__all__ = ["build_chat_request", "chat_payload", "message_to_wire"]

IMAGE_PLACEHOLDER = "[image omitted: this model does not accept images]"
AUDIO_PLACEHOLDER = "[audio omitted: this model does not accept audio]"


def system_role(provider: Provider, model: str) -> str:
    """``system`` or ``developer``; ``auto`` picks ``developer`` for the provider's reasoning
    models (OpenAI o-series and gpt-5 reject ``system`` on some endpoints)."""
    role = openai_compat(provider).system_role
    if role == "auto":
        reasoning = any(fnmatch.fnmatchcase(model, p) for p in provider.capabilities.reasoning)
        return "developer" if reasoning else "system"
    return role


def _part(part: Any, provider: Provider, model: str) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        if not provider.capabilities.accepts_images(model):
            return {"type": "text", "text": IMAGE_PLACEHOLDER}
        image: dict[str, Any] = {"url": part.data_url()}
        if part.detail:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(part, AudioPart):
        if not provider.capabilities.accepts_audio(model):
            return {"type": "text", "text": AUDIO_PLACEHOLDER}
        if part.data is None:
            raise InvalidInputError.at(
                "",
                "openai-chat takes audio only as base64 data, not by URL",
                provider=provider.name,
            )
        return {
            "type": "input_audio",
            "input_audio": {"data": part.data, "format": part.format or "wav"},
        }
    if isinstance(part, DocumentPart):
        if part.data is None:
            raise InvalidInputError.at(
                "", "openai-chat takes documents only as base64 data", provider=provider.name
            )
        mime = part.mime_type or "application/pdf"
        return {
            "type": "file",
            "file": {
                "filename": part.name or "document",
                "file_data": f"data:{mime};base64,{part.data}",
            },
        }
    raise InvalidInputError.at(
        "", f"openai-chat cannot send a {type(part).__name__} part", provider=provider.name
    )


def content_to_wire(content: Content, provider: Provider, model: str) -> str | list[dict[str, Any]]:
    """A plain string for text-only content, else a list of typed parts.

    A part the API cannot carry raises :class:`~llmcore.InvalidInputError` at ``content[i]``.
    """
    if content.is_text():
        return content.as_text()
    wire = []
    for i, part in enumerate(content.parts):
        try:
            wire.append(_part(part, provider, model))
        except InvalidInputError as exc:
            raise exc.within(f"content[{i}]") from None
    return wire


def message_to_wire(message: Message, provider: Provider, model: str) -> dict[str, Any]:
    """One message in the Chat Completions shape."""
    if message.role in (Role.SYSTEM, Role.DEVELOPER):
        return {"role": system_role(provider, model), "content": message.text()}
    if message.role is Role.TOOL:
        if message.tool_call_id is None:
            raise InvalidInputError.at(
                "tool_call_id", "a tool message needs a tool_call_id", provider=provider.name
            )
        text = message.text()
        if message.content.images():
            text = (text + "\n" if text else "") + "(images attached in the next message)"
        if message.is_error:
            text = f"Error: {text}" if not text.startswith("Error") else text
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": text}
    wire: dict[str, Any] = {"role": message.role.value}
    if message.role is Role.ASSISTANT:
        text = message.text()
        wire["content"] = text if text or not message.tool_calls else None
        if message.tool_calls:
            wire["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments_json()},
                    **c.extra,
                }
                for c in message.tool_calls
            ]
        compat = openai_compat(provider)
        field = compat.reasoning_field
        reasoning = message.reasoning_any()
        if field and reasoning:
            wire[field] = reasoning
        # handoffs keep provider_data only for messages that came from this API
        for key in compat.replay_provider_data:
            if key in message.provider_data:
                wire[key] = message.provider_data[key]
    else:
        wire["content"] = content_to_wire(message.content, provider, model)
    if message.name:
        wire["name"] = message.name
    return wire


def messages_to_wire(request: ChatCompletionRequest, provider: Provider) -> list[dict[str, Any]]:
    """All messages; images in tool results follow as one user message.

    Input the API cannot express raises :class:`~llmcore.InvalidInputError` naming the field
    (``messages[2].content[1]``), before anything is sent.

    Chat Completions tool messages take text only, so the images of a run of tool results are
    sent right after it in a user message that says where they came from.
    """
    model = request.model
    wire: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for index, message in enumerate(request.messages):
        if message.role is not Role.TOOL and pending:
            wire.append({"role": "user", "content": pending})
            pending = []
        try:
            wire.append(message_to_wire(message, provider, model))
        except InvalidInputError as exc:
            raise exc.within(f"messages[{index}]") from None
        if message.role is Role.TOOL and message.content.images():
            pending.append(
                {
                    "type": "text",
                    "text": f"Images from the result of tool call {message.tool_call_id}:",
                }
            )
            pending.extend(_part(p, provider, model) for p in message.content.images())
    if pending:
        wire.append({"role": "user", "content": pending})
    return wire


def tool_to_wire(tool: Tool) -> dict[str, Any]:
    """A function tool definition."""
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def tool_choice_to_wire(choice: ToolChoice) -> str | dict[str, Any]:
    """``auto``/``none``/``required`` or the named-function object."""
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def chat_payload(
    provider: Provider, request: ChatCompletionRequest, stream: bool
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions``."""
    model = request.model
    compat = openai_compat(provider)
    body: dict[str, Any] = {"model": model, "messages": messages_to_wire(request, provider)}
    optional = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "user": request.user,
        "response_format": request.response_format,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if request.max_tokens is not None:
        body[compat.max_tokens_field] = request.max_tokens
    if request.stop is not None:
        body["stop"] = list(request.stop)
    if request.tools:
        body["tools"] = [tool_to_wire(t) for t in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = tool_choice_to_wire(request.tool_choice)
    if request.reasoning_effort is not None and compat.reasoning_effort:
        body["reasoning_effort"] = request.reasoning_effort.value
    if stream:
        body["stream"] = True
        if compat.stream_usage:
            body["stream_options"] = {"include_usage": True}
    body.update(request.extra)
    return body


def build_chat_request(
    provider: Provider, request: ChatCompletionRequest, stream: bool
) -> HttpRequest:
    """The HTTP request for a chat call."""
    return HttpRequest(
        "POST",
        provider.url("chat/completions"),
        {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        },
        json=chat_payload(provider, request, stream),
        stream_format="sse",
    )
