"""Unified request -> Anthropic Messages payload (pure functions).

The rules, field by field:

- system and developer messages go to the top-level ``system`` (a string, or text blocks when
  there are several or one is a cache breakpoint), wherever they stand in the conversation;
- user content is a string when it is text only, else blocks: ``text``, ``image`` (base64 with a
  JPEG/PNG/GIF/WebP media type, or a URL) and ``document`` (base64 PDF, plain text, or a URL);
  audio cannot be sent;
- tool results become ``tool_result`` blocks (text, images and documents inside, ``is_error``
  when set) in a user message; consecutive results share one user message;
- assistant turns send their thinking blocks first, unchanged (``thinking`` with its signature,
  ``redacted_thinking`` with its data), then the text, then ``tool_use`` blocks; a thinking block
  with neither signature nor data cannot be replayed and is left out;
- an assistant turn whose ``provider_data["content"]`` holds the answer's content blocks (kept
  by :mod:`llmcore_anthropic.parse` when the answer had server-side tool blocks or citations)
  sends those blocks unchanged, in their order, so a ``pause_turn`` answer resumes and cited
  text keeps its citations; only while the message still says what the blocks say (the same
  text, tool calls and replayable thinking blocks): a message edited since, or converted by a
  handoff, is sent from its fields as above;
- ``max_tokens`` is required: without one, the provider's default (4096) is sent, plus the
  thinking budget when there is one;
- ``reasoning_budget=N`` is ``thinking: {"type": "enabled", "budget_tokens": N}`` (0: disabled);
  without a budget, ``reasoning_effort`` picks one from :data:`EFFORT_BUDGETS` (``none``:
  disabled);
- ``stop`` is ``stop_sequences``, ``user`` is ``metadata.user_id``, a ``json_schema``
  ``response_format`` is ``output_config.format``; ``seed`` and other response formats cannot
  be sent;
- prompt caching: ``extra={"cache_control": {"type": "ephemeral"}}`` is sent as it is (the API's
  automatic caching); ``extra={"cache_breakpoints": ["system", "tools", -1]}`` puts
  ``cache_control`` on the last system block, the last tool and the last block of the given
  messages (indices into the messages as sent, negative from the end), with
  ``extra["cache_ttl"]`` (``"5m"``/``"1h"``) when given. Those two keys are not sent; every other
  ``extra`` key is merged into the body last.
"""

from __future__ import annotations

import base64
import binascii
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
    ToolChoice,
)
from llmcore.content import AudioPart, Content, DocumentPart, ImagePart, Part, TextPart
from llmcore_anthropic.providers import ANTHROPIC_VERSION, API, DEFAULT_MAX_TOKENS

__all__ = [
    "CACHE_KEYS",
    "EFFORT_BUDGETS",
    "IMAGE_TYPES",
    "build_messages_request",
    "messages_payload",
    "messages_url",
    "models_request",
    "recorded_content",
]

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
"""The image media types the Messages API accepts as base64 data."""

EFFORT_BUDGETS: dict[ReasoningEffort, int] = {
    ReasoningEffort.MINIMAL: 1024,
    ReasoningEffort.LOW: 2048,
    ReasoningEffort.MEDIUM: 8192,
    ReasoningEffort.HIGH: 16384,
    ReasoningEffort.XHIGH: 32768,
}
"""Thinking budget (tokens) for each ``reasoning_effort`` when no ``reasoning_budget`` is set."""

MODELS_PAGE_LIMIT = 1000
"""``limit`` of each ``GET /v1/models`` page (the API's maximum)."""

CACHE_KEYS = ("cache_breakpoints", "cache_ttl")
"""``extra`` keys this plugin reads and does not send."""


def messages_url(provider: Provider, path: str = "messages") -> str:
    """``<base>/v1/<path>``, or ``<base>/<path>`` when the base URL already ends in ``/v1``."""
    base = provider.base_url.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    return f"{base}/{path}"


# --- content ----------------------------------------------------------------------------------
def _fail(reason: str, provider: Provider) -> InvalidInputError:
    return InvalidInputError.at("", reason, provider=provider.name)


def _image(part: ImagePart, provider: Provider) -> dict[str, Any]:
    if part.url is not None:
        return {"type": "image", "source": {"type": "url", "url": part.url}}
    mime = part.mime_type
    if mime not in IMAGE_TYPES:
        kinds = ", ".join(sorted(IMAGE_TYPES))
        raise _fail(f"{API} takes base64 images as {kinds}, not {mime or 'no MIME type'}", provider)
    return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": part.data}}


def _document(part: DocumentPart, provider: Provider) -> dict[str, Any]:
    block: dict[str, Any]
    mime = part.mime_type or "application/pdf"
    if part.url is not None:
        block = {"type": "document", "source": {"type": "url", "url": part.url}}
    elif mime == "application/pdf":
        source = {"type": "base64", "media_type": mime, "data": part.data}
        block = {"type": "document", "source": source}
    elif mime.startswith("text/"):
        try:
            text = base64.b64decode(part.data or "", validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise _fail(f"a text document must be base64 UTF-8 text ({exc})", provider) from None
        source = {"type": "text", "media_type": "text/plain", "data": text}
        block = {"type": "document", "source": source}
    else:
        raise _fail(f"{API} takes PDF and plain-text documents, not {mime}", provider)
    if part.name:
        block["title"] = part.name
    return block


def _block(part: Part, provider: Provider) -> dict[str, Any] | None:
    """One content block (None for an empty text part, which the API refuses)."""
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ImagePart):
        return _image(part, provider)
    if isinstance(part, DocumentPart):
        return _document(part, provider)
    if isinstance(part, AudioPart):
        raise _fail(f"{API} cannot take audio", provider)
    raise _fail(f"{API} cannot send a {type(part).__name__} part", provider)


def content_blocks(content: Content, provider: Provider) -> list[dict[str, Any]]:
    """The blocks of ``content``; a part the API cannot carry raises
    :class:`~llmcore.InvalidInputError` at ``content[i]``."""
    out = []
    for i, part in enumerate(content.parts):
        try:
            block = _block(part, provider)
        except InvalidInputError as exc:
            raise exc.within(f"content[{i}]") from None
        if block is not None:
            out.append(block)
    return out


# --- messages ---------------------------------------------------------------------------------
def _thinking_blocks(message: Message) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in message.thinking:
        if block.signature:
            out.append({"type": "thinking", "thinking": block.text, "signature": block.signature})
        elif block.redacted:
            out.append({"type": "redacted_thinking", "data": block.redacted})
    return out


def recorded_content(message: Message) -> list[dict[str, Any]] | None:
    """Copies of the content blocks in ``message.provider_data["content"]`` when the message
    still agrees with them (text, tool calls, replayable thinking blocks); else None."""
    raw = message.provider_data.get("content")
    if not isinstance(raw, list) or not raw or not all(isinstance(b, dict) for b in raw):
        return None
    blocks = [dict(b) for b in raw]
    text = "".join(str(b.get("text") or "") for b in blocks if b.get("type") == "text")
    if not message.content.is_text() or text != message.text():
        return None
    calls = [
        (b.get("id"), b.get("name"), b.get("input")) for b in blocks if b.get("type") == "tool_use"
    ]
    if calls != [(c.id, c.name, c.arguments) for c in message.tool_calls]:
        return None
    thinking = [b for b in blocks if b.get("type") in ("thinking", "redacted_thinking")]
    if thinking != _thinking_blocks(message):
        return None
    return blocks


def _assistant(message: Message, provider: Provider) -> list[dict[str, Any]]:
    recorded = recorded_content(message)
    if recorded is not None:
        return recorded
    blocks = _thinking_blocks(message)
    blocks += content_blocks(message.content, provider)
    for call in message.tool_calls:
        blocks.append(
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        )
    return blocks


def _tool_result(message: Message, provider: Provider) -> dict[str, Any]:
    if message.tool_call_id is None:
        raise InvalidInputError.at(
            "tool_call_id", "a tool message needs a tool_call_id", provider=provider.name
        )
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if message.content.is_text():
        block["content"] = message.text()
    else:
        block["content"] = content_blocks(message.content, provider)
    if message.is_error:
        block["is_error"] = True
    return block


def _system_text(message: Message, provider: Provider) -> str:
    if not message.content.is_text():
        raise InvalidInputError.at(
            "content", f"{API} takes a text-only system prompt", provider=provider.name
        )
    return message.text()


class _Wire:
    """The messages being built, with the blocks each request message produced."""

    def __init__(self) -> None:
        self.system: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.blocks_of: dict[int, list[dict[str, Any]]] = {}

    def add(self, index: int, role: str, blocks: list[dict[str, Any]], *, merge: bool) -> None:
        self.blocks_of[index] = blocks
        last = self.messages[-1] if self.messages else None
        if merge and last is not None and last["role"] == role and last.get("_merge"):
            last["content"].extend(blocks)
        else:
            self.messages.append({"role": role, "content": blocks, "_merge": merge})


def _build_messages(request: ChatCompletionRequest, provider: Provider) -> _Wire:
    wire = _Wire()
    for index, message in enumerate(request.messages):
        try:
            if message.role in (Role.SYSTEM, Role.DEVELOPER):
                block = {"type": "text", "text": _system_text(message, provider)}
                wire.system.append(block)
                wire.blocks_of[index] = [block]
            elif message.role is Role.TOOL:
                wire.add(index, "user", [_tool_result(message, provider)], merge=True)
            elif message.role is Role.ASSISTANT:
                wire.add(index, "assistant", _assistant(message, provider), merge=False)
            else:
                wire.add(index, "user", content_blocks(message.content, provider), merge=False)
        except InvalidInputError as exc:
            raise exc.within(f"messages[{index}]") from None
    return wire


def _cache_control(request: ChatCompletionRequest) -> dict[str, Any]:
    ttl = request.extra.get("cache_ttl")
    if ttl is not None and ttl not in ("5m", "1h"):
        raise InvalidInputError.at("extra['cache_ttl']", f"expected '5m' or '1h', got {ttl!r}")
    return {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}


def _apply_breakpoints(
    request: ChatCompletionRequest, wire: _Wire, tools: list[dict[str, Any]] | None
) -> None:
    points = request.extra.get("cache_breakpoints")
    if points is None:
        return
    if not isinstance(points, list | tuple):
        raise InvalidInputError.at(
            "extra['cache_breakpoints']", "expected a list of 'system', 'tools' or message indices"
        )
    control = _cache_control(request)
    count = len(request.messages)
    for i, point in enumerate(points):
        field = f"extra['cache_breakpoints'][{i}]"
        target: dict[str, Any] | None = None
        if point == "system":
            target = wire.system[-1] if wire.system else None
        elif point == "tools":
            target = tools[-1] if tools else None
        elif isinstance(point, int) and not isinstance(point, bool) and -count <= point < count:
            blocks = wire.blocks_of.get(point % count) or []
            target = blocks[-1] if blocks else None
        else:
            raise InvalidInputError.at(
                field, f"expected 'system', 'tools' or a message index, got {point!r}"
            )
        if target is None:
            raise InvalidInputError.at(field, f"{point!r} has no block to cache")
        target["cache_control"] = dict(control)


def _finish_messages(wire: _Wire) -> list[dict[str, Any]]:
    """Drop the merge marks; one plain text block without cache mark becomes a string."""
    out = []
    for message in wire.messages:
        content = message["content"]
        if len(content) == 1 and set(content[0]) == {"type", "text"}:
            content = content[0]["text"]
        elif not content:
            content = ""
        out.append({"role": message["role"], "content": content})
    return out


def _system(wire: _Wire) -> str | list[dict[str, Any]] | None:
    if not wire.system:
        return None
    if len(wire.system) == 1 and "cache_control" not in wire.system[0]:
        text: str = wire.system[0]["text"]
        return text
    return [b for b in wire.system if b["text"] or "cache_control" in b]


# --- tools and options ------------------------------------------------------------------------
def tool_to_wire(tool: Tool) -> dict[str, Any]:
    """A client tool definition (``strict`` is not sent)."""
    out: dict[str, Any] = {"name": tool.name}
    if tool.description:
        out["description"] = tool.description
    out["input_schema"] = tool.parameters
    return out


def tool_choice_to_wire(choice: ToolChoice) -> dict[str, Any]:
    """``auto``, ``any`` (for ``required``), ``none`` or one named tool."""
    if choice.mode == "tool":
        return {"type": "tool", "name": choice.name}
    return {"type": "any" if choice.mode == "required" else choice.mode}


def _default_max_tokens(provider: Provider) -> int:
    value = provider.compat.extra.get("default_max_tokens", DEFAULT_MAX_TOKENS)
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_TOKENS


def _thinking(request: ChatCompletionRequest) -> tuple[dict[str, Any] | None, int]:
    """The ``thinking`` field and its budget (0 when thinking is off or unset)."""
    budget = request.reasoning_budget
    if budget is None and request.reasoning_effort is not None:
        if request.reasoning_effort is ReasoningEffort.NONE:
            return {"type": "disabled"}, 0
        budget = EFFORT_BUDGETS[request.reasoning_effort]
    if budget is None:
        return None, 0
    if budget == 0:
        return {"type": "disabled"}, 0
    return {"type": "enabled", "budget_tokens": budget}, budget


def _response_format(request: ChatCompletionRequest) -> dict[str, Any] | None:
    fmt = request.response_format
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if isinstance(schema, dict):
            return {"format": {"type": "json_schema", "schema": schema}}
    raise InvalidInputError.at(
        "response_format", f"{API} takes only a json_schema response format with a schema"
    )


def messages_payload(
    provider: Provider, request: ChatCompletionRequest, stream: bool
) -> dict[str, Any]:
    """The JSON body of ``POST /v1/messages`` (rules in the module docstring).

    :raises llmcore.InvalidInputError: for input the API cannot express, naming the field.
    """
    if request.seed is not None:
        raise InvalidInputError.at("seed", f"{API} has no seed", provider=provider.name)
    wire = _build_messages(request, provider)
    tools = [tool_to_wire(t) for t in request.tools] if request.tools else None
    _apply_breakpoints(request, wire, tools)
    thinking, budget = _thinking(request)
    max_tokens = request.max_tokens
    if max_tokens is None:
        max_tokens = _default_max_tokens(provider) + budget
    elif budget and budget >= max_tokens:
        raise InvalidInputError.at(
            "reasoning_budget",
            f"the thinking budget ({budget}) must be below max_tokens ({max_tokens})",
            provider=provider.name,
        )
    body: dict[str, Any] = {"model": request.model, "max_tokens": max_tokens}
    system = _system(wire)
    if system is not None:
        body["system"] = system
    body["messages"] = _finish_messages(wire)
    optional = {"temperature": request.temperature, "top_p": request.top_p}
    body.update({k: v for k, v in optional.items() if v is not None})
    if request.stop is not None:
        body["stop_sequences"] = list(request.stop)
    if tools is not None:
        body["tools"] = tools
    if request.tool_choice is not None:
        body["tool_choice"] = tool_choice_to_wire(request.tool_choice)
    if thinking is not None:
        body["thinking"] = thinking
    output = _response_format(request)
    if output is not None:
        body["output_config"] = output
    if request.user is not None:
        body["metadata"] = {"user_id": request.user}
    if stream:
        body["stream"] = True
    body.update({k: v for k, v in request.extra.items() if k not in CACHE_KEYS})
    return body


def build_messages_request(
    provider: Provider, request: ChatCompletionRequest, stream: bool
) -> HttpRequest:
    """The HTTP request for a chat call: ``POST /v1/messages`` with ``anthropic-version``."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
    }
    if not any(k.lower() == "anthropic-version" for k in provider.headers):
        headers["anthropic-version"] = ANTHROPIC_VERSION
    return HttpRequest(
        "POST",
        messages_url(provider),
        headers,
        json=messages_payload(provider, request, stream),
        stream_format="sse",
    )


def models_request(provider: Provider, *, after_id: str | None = None) -> HttpRequest:
    """``GET /v1/models`` for one page of :data:`MODELS_PAGE_LIMIT` models, after the model
    ``after_id`` (None: the first page)."""
    headers = {"Accept": "application/json"}
    if not any(k.lower() == "anthropic-version" for k in provider.headers):
        headers["anthropic-version"] = ANTHROPIC_VERSION
    params = {"limit": str(MODELS_PAGE_LIMIT)}
    if after_id is not None:
        params["after_id"] = after_id
    return HttpRequest("GET", messages_url(provider, "models"), headers, params=params)
