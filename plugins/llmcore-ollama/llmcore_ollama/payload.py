"""Unified request -> Ollama ``/api/chat`` payload, and the model-management requests (pure)."""

from __future__ import annotations

import re
from typing import Any

from llmcore import (
    ChatCompletionRequest,
    HttpRequest,
    InvalidInputError,
    Message,
    Provider,
    ReasoningEffort,
    Role,
    Tool,
)
from llmcore.content import Content, ImagePart, TextPart

__all__ = [
    "build_chat_request",
    "chat_payload",
    "delete_request",
    "list_request",
    "message_to_wire",
    "pull_request",
    "show_request",
    "think_value",
]

_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
_DATA_URL = re.compile(r"data:[^;,]*(?:;[^;,]*)*;base64,(.*)", re.DOTALL)

# ReasoningEffort -> Ollama's ``think`` value. Ollama takes true/false, or a level for the
# models that have levels (low, medium, high); there is no "minimal" or "xhigh".
_THINK: dict[ReasoningEffort, bool | str] = {
    ReasoningEffort.NONE: False,
    ReasoningEffort.MINIMAL: "low",
    ReasoningEffort.LOW: "low",
    ReasoningEffort.MEDIUM: "medium",
    ReasoningEffort.HIGH: "high",
    ReasoningEffort.XHIGH: "high",
}


def _image_data(part: ImagePart, provider: Provider) -> str:
    """The base64 string Ollama wants (no ``data:`` prefix); URLs cannot be sent."""
    if part.data is not None:
        return part.data
    match = _DATA_URL.fullmatch(part.url or "")
    if match is None:
        raise InvalidInputError.at(
            "",
            "ollama-chat takes images only as base64 data (ImagePart(data=...) or a data: URL), "
            "not by URL",
            provider=provider.name,
        )
    return match.group(1)


def _text_and_images(content: Content, provider: Provider) -> tuple[str, list[str]]:
    """The text of ``content`` and its images as base64 strings."""
    text: list[str] = []
    images: list[str] = []
    for i, part in enumerate(content.parts):
        try:
            if isinstance(part, TextPart):
                text.append(part.text)
            elif isinstance(part, ImagePart):
                images.append(_image_data(part, provider))
            else:
                raise InvalidInputError.at(
                    "",
                    f"ollama-chat cannot send a {type(part).__name__} part (text and images only)",
                    provider=provider.name,
                )
        except InvalidInputError as exc:
            raise exc.within(f"content[{i}]") from None
    return "".join(text), images


def message_to_wire(
    message: Message, provider: Provider, tool_names: dict[str, str] | None = None
) -> dict[str, Any]:
    """One message in the ``/api/chat`` shape.

    ``tool_names`` maps tool-call ids to tool names, so that a tool result without ``name``
    still gets its ``tool_name`` (Ollama's templates match results to calls by name).
    """
    if message.role in (Role.SYSTEM, Role.DEVELOPER):
        return {"role": "system", "content": message.text()}
    text, images = _text_and_images(message.content, provider)
    wire: dict[str, Any] = {"role": message.role.value, "content": text}
    if message.role is Role.TOOL:
        if message.is_error and not text.startswith("Error"):
            wire["content"] = f"Error: {text}"
        name = message.name or (tool_names or {}).get(message.tool_call_id or "")
        if name:
            wire["tool_name"] = name
        if message.tool_call_id:
            wire["tool_call_id"] = message.tool_call_id
    elif message.role is Role.ASSISTANT:
        reasoning = message.reasoning_any()
        if reasoning:
            wire["thinking"] = reasoning
        if message.tool_calls:
            wire["tool_calls"] = [
                {"id": c.id, "function": {"name": c.name, "arguments": c.arguments}}
                for c in message.tool_calls
            ]
    if images:
        wire["images"] = images
    return wire


def messages_to_wire(request: ChatCompletionRequest, provider: Provider) -> list[dict[str, Any]]:
    """All messages; input the API cannot express raises :class:`~llmcore.InvalidInputError`
    naming the field (``messages[2].content[1]``) before anything is sent."""
    tool_names: dict[str, str] = {}
    wire = []
    for index, message in enumerate(request.messages):
        for call in message.tool_calls:
            tool_names[call.id] = call.name
        try:
            wire.append(message_to_wire(message, provider, tool_names))
        except InvalidInputError as exc:
            raise exc.within(f"messages[{index}]") from None
    return wire


def tool_to_wire(tool: Tool) -> dict[str, Any]:
    """A function tool definition (the OpenAI shape, which Ollama takes)."""
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def think_value(request: ChatCompletionRequest) -> bool | str | None:
    """Ollama's ``think`` for the request's reasoning settings, or None to leave the default.

    ``reasoning_effort`` wins: ``none`` turns thinking off, ``minimal``/``low`` -> ``"low"``,
    ``medium`` -> ``"medium"``, ``high``/``xhigh`` -> ``"high"``. Otherwise
    ``reasoning_budget`` only switches thinking off (0) or on (>0): Ollama has no token budget.
    """
    if request.reasoning_effort is not None:
        return _THINK[request.reasoning_effort]
    if request.reasoning_budget is not None:
        return request.reasoning_budget > 0
    return None


def format_value(response_format: dict[str, Any] | None, provider: Provider) -> Any:
    """Ollama's ``format``: ``"json"`` for JSON mode, or the JSON schema itself.

    Accepts the OpenAI shapes (``{"type": "json_object"}``, ``{"type": "json_schema",
    "json_schema": {"schema": {...}}}``, ``{"type": "text"}``) and a bare JSON schema.
    """
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise InvalidInputError.at(
                "response_format.json_schema.schema",
                "a json_schema response format needs its schema object",
                provider=provider.name,
            )
        return schema
    return response_format  # a JSON schema given directly


def chat_payload(
    provider: Provider, request: ChatCompletionRequest, stream: bool
) -> dict[str, Any]:
    """The JSON body of ``POST /api/chat``.

    ``stream`` is always sent (Ollama streams by default). Sampling settings go under
    ``options`` (``max_tokens`` as ``num_predict``); ``extra`` is merged last, its
    ``options`` into ``options`` (``extra={"options": {"num_ctx": 8192}, "keep_alive": "1h"}``).
    """
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages_to_wire(request, provider),
        "stream": stream,
    }
    choice = request.tool_choice
    if request.tools and not (choice is not None and choice.mode == "none"):
        if choice is not None and choice.mode in ("required", "tool"):
            raise InvalidInputError.at(
                "tool_choice",
                "ollama-chat cannot force a tool call (only 'auto' and 'none')",
                provider=provider.name,
            )
        body["tools"] = [tool_to_wire(t) for t in request.tools]
    think = think_value(request)
    if think is not None:
        body["think"] = think
    fmt = format_value(request.response_format, provider)
    if fmt is not None:
        body["format"] = fmt
    options = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "num_predict": request.max_tokens,
        "stop": list(request.stop) if request.stop is not None else None,
    }
    merged = {k: v for k, v in options.items() if v is not None}
    extra = dict(request.extra)
    extra_options = extra.pop("options", None)
    if extra_options is not None:
        if not isinstance(extra_options, dict):
            raise InvalidInputError.at(
                "extra['options']", "must be a dict of Ollama options", provider=provider.name
            )
        merged.update(extra_options)
    if merged:
        body["options"] = merged
    body.update(extra)
    return body


def build_chat_request(
    provider: Provider, request: ChatCompletionRequest, stream: bool
) -> HttpRequest:
    """The HTTP request for a chat call (NDJSON when streamed)."""
    return HttpRequest(
        "POST",
        provider.url("api/chat"),
        {**_JSON, "Accept": "application/x-ndjson" if stream else "application/json"},
        json=chat_payload(provider, request, stream),
        stream_format="ndjson",
    )


def list_request(provider: Provider) -> HttpRequest:
    """``GET /api/tags``: the models on the server."""
    return HttpRequest("GET", provider.url("api/tags"), {"Accept": "application/json"})


def show_request(provider: Provider, model: str, *, verbose: bool = False) -> HttpRequest:
    """``POST /api/show``: one model's details."""
    body: dict[str, Any] = {"model": model}
    if verbose:
        body["verbose"] = True
    return HttpRequest("POST", provider.url("api/show"), dict(_JSON), json=body)


def pull_request(provider: Provider, model: str, *, insecure: bool = False) -> HttpRequest:
    """``POST /api/pull`` with its NDJSON progress stream."""
    body: dict[str, Any] = {"model": model, "stream": True}
    if insecure:
        body["insecure"] = True
    return HttpRequest(
        "POST",
        provider.url("api/pull"),
        {**_JSON, "Accept": "application/x-ndjson"},
        json=body,
        stream_format="ndjson",
    )


def delete_request(provider: Provider, model: str) -> HttpRequest:
    """``DELETE /api/delete``: remove a model (a JSON body on a DELETE, as Ollama wants)."""
    return HttpRequest("DELETE", provider.url("api/delete"), dict(_JSON), json={"model": model})
