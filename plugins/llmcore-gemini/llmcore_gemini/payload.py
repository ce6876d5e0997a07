"""Unified request -> Gemini ``generateContent`` payload (pure functions).

The mapping, field by field:

- system and developer messages -> ``systemInstruction.parts`` (in order, wherever they are);
- user messages -> ``contents[{role: "user"}]``: text parts, ``inlineData`` (base64 with its
  MIME type) for images, audio and documents given as data, ``fileData`` (``fileUri``) for
  those given by URL;
- assistant messages -> ``contents[{role: "model"}]``: thinking blocks as ``thought`` parts
  (with their ``thoughtSignature``), the reasoning text as one ``thought`` part when no block
  carries text, the text, then one ``functionCall`` part per tool call with the signature kept
  in ``ToolCall.extra["thoughtSignature"]``. A thinking block without text holds the signature
  of a text part: it goes back on the first text part (or on an empty text part). On
  ``gemini-3*`` models, a turn whose calls carry no signature (another provider's turn, after
  a handoff) gets Google's stand-in ``skip_thought_signature_validator`` on its first call,
  since those models refuse unsigned calls;
- tool results -> ``functionResponse`` parts of one ``user`` content per run of results, with
  the function *name* taken from ``Message.name`` or from the assistant call with that id;
  ``response`` is ``{"output": text}`` (``{"error": text}`` for ``is_error``); images of a
  result follow as ``inlineData`` parts of the same content;
- ids made up by llmcore for calls Gemini sent without one are not sent back;
- ``temperature``, ``top_p`` (``topP``), ``max_tokens`` (``maxOutputTokens``), ``stop``
  (``stopSequences``), ``seed``, ``response_format`` (``responseMimeType`` with
  ``responseJsonSchema``), ``reasoning_budget`` / ``reasoning_effort`` (``thinkingConfig``) ->
  ``generationConfig``; ``extra`` keys ``presence_penalty``, ``frequency_penalty``, ``top_k``
  and ``n`` go there too, an ``extra["generationConfig"]`` mapping is merged into it, and the
  other ``extra`` keys are merged into the body last (``safetySettings``, ``cachedContent``...);
- tools -> ``tools[{functionDeclarations}]`` with ``parametersJsonSchema``; ``tool_choice`` ->
  ``toolConfig.functionCallingConfig`` (``AUTO``, ``NONE``, ``ANY``, ``ANY`` with
  ``allowedFunctionNames`` for one named tool).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import mimetypes
from typing import Any
from urllib.parse import urlsplit

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
from llmcore.content import AudioPart, Content, DocumentPart, ImagePart, Part, TextPart, sniff_mime
from llmcore_gemini.providers import api_url, is_synthetic_id, model_path

__all__ = [
    "BUDGET_FOR_EFFORT",
    "build_chat_request",
    "contents_to_wire",
    "generate_payload",
    "generation_config",
    "tool_to_wire",
]

SIGNATURE = "thoughtSignature"

FOREIGN_SIGNATURE = "skip_thought_signature_validator"
"""The ``thoughtSignature`` Google documents for function calls Gemini did not produce (another
provider's turns, hand-built history). Gemini 3 models refuse a turn whose function calls carry
no signature, so on ``gemini-3*`` models the first call of such a turn gets this one."""

BUDGET_FOR_EFFORT: dict[ReasoningEffort, int] = {
    ReasoningEffort.NONE: 0,
    ReasoningEffort.MINIMAL: 512,
    ReasoningEffort.LOW: 1024,
    ReasoningEffort.MEDIUM: 8192,
    ReasoningEffort.HIGH: 24576,
    ReasoningEffort.XHIGH: 32768,
}
"""``thinkingBudget`` for a ``reasoning_effort`` on models before Gemini 3."""

LEVEL_FOR_EFFORT: dict[ReasoningEffort, str] = {
    ReasoningEffort.NONE: "MINIMAL",
    ReasoningEffort.MINIMAL: "MINIMAL",
    ReasoningEffort.LOW: "LOW",
    ReasoningEffort.MEDIUM: "MEDIUM",
    ReasoningEffort.HIGH: "HIGH",
    ReasoningEffort.XHIGH: "HIGH",
}
"""``thinkingLevel`` for a ``reasoning_effort`` on Gemini 3 models (``gemini-3*``), which
cannot switch thinking off: ``none`` asks for the least."""

_AUDIO_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "webm": "audio/webm",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
}
_EXTRA_CONFIG = {
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "top_k": "topK",
    "n": "candidateCount",
}


def _bad(field: str, reason: str, provider: Provider) -> InvalidInputError:
    return InvalidInputError.at(field, reason, provider=provider.name)


# --- content parts ----------------------------------------------------------------------------
def _data_url(url: str, provider: Provider) -> tuple[str, str]:
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise _bad("url", "only base64 data: URLs can be sent to gemini", provider)
    return header[5:].split(";")[0], payload


def _guess_mime(url: str) -> str | None:
    return mimetypes.guess_type(urlsplit(url).path)[0]


def _inline(mime: str | None, data: str, kind: str, provider: Provider) -> dict[str, Any]:
    if not mime:
        try:
            mime = sniff_mime(base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4)))
        except (binascii.Error, ValueError):
            mime = None
    if not mime:
        raise _bad("mime_type", f"gemini needs the MIME type of inline {kind} data", provider)
    return {"inlineData": {"mimeType": mime, "data": data}}


def _by_url(url: str, mime: str | None, kind: str, provider: Provider) -> dict[str, Any]:
    if url.startswith("data:"):
        data_mime, data = _data_url(url, provider)
        return _inline(mime or data_mime, data, kind, provider)
    file_data: dict[str, Any] = {"fileUri": url}
    mime = mime or _guess_mime(url)
    if mime:
        file_data["mimeType"] = mime
    return {"fileData": file_data}


def part_to_wire(part: Part, provider: Provider) -> dict[str, Any]:
    """One content part as a Gemini part (text, ``inlineData`` or ``fileData``)."""
    if isinstance(part, TextPart):
        return {"text": part.text}
    if isinstance(part, ImagePart):
        if part.data is not None:
            return _inline(part.mime_type, part.data, "image", provider)
        assert part.url is not None
        return _by_url(part.url, part.mime_type, "image", provider)
    if isinstance(part, AudioPart):
        mime = part.mime_type or _AUDIO_MIME.get(part.format or "")
        if part.data is not None:
            return _inline(mime, part.data, "audio", provider)
        assert part.url is not None
        return _by_url(part.url, mime, "audio", provider)
    if isinstance(part, DocumentPart):
        if part.data is not None:
            return _inline(part.mime_type or "application/pdf", part.data, "document", provider)
        assert part.url is not None
        return _by_url(part.url, part.mime_type, "document", provider)
    raise _bad("", f"gemini cannot send a {type(part).__name__} part", provider)


def content_to_wire(content: Content, provider: Provider) -> list[dict[str, Any]]:
    """Every part of ``content``; a part the API cannot carry raises at ``content[i]``."""
    wire = []
    for i, part in enumerate(content.parts):
        try:
            wire.append(part_to_wire(part, provider))
        except InvalidInputError as exc:
            raise exc.within(f"content[{i}]") from None
    return wire


# --- assistant turns --------------------------------------------------------------------------
def signs_calls(model: str) -> bool:
    """True for the models that require a ``thoughtSignature`` on function calls (Gemini 3)."""
    return fnmatch.fnmatchcase(model.rpartition("/")[2], "gemini-3*")


def assistant_parts(
    message: Message, provider: Provider, *, sign_calls: bool = False
) -> list[dict[str, Any]]:
    """A model turn: thought parts, text (and media), then function calls, signatures kept.

    With ``sign_calls`` (:func:`signs_calls` of the model), a turn whose function calls carry
    no signature at all gets :data:`FOREIGN_SIGNATURE` on its first call."""
    parts: list[dict[str, Any]] = []
    text_signatures: list[str] = []
    for block in message.thinking:
        if block.text:
            thought: dict[str, Any] = {"text": block.text, "thought": True}
            if block.signature:
                thought[SIGNATURE] = block.signature
            parts.append(thought)
        elif block.signature:
            text_signatures.append(block.signature)
    if message.reasoning and not any(b.text for b in message.thinking):
        parts.insert(0, {"text": message.reasoning, "thought": True})
    body = [p for p in content_to_wire(message.content, provider) if p.get("text") != ""]
    for part in body:
        if text_signatures and "text" in part:
            part[SIGNATURE] = text_signatures.pop(0)
            break
    parts.extend(body)
    parts.extend({"text": "", SIGNATURE: signature} for signature in text_signatures)
    for call in message.tool_calls:
        function: dict[str, Any] = {"name": call.name, "args": call.arguments}
        if not is_synthetic_id(call.id):
            function["id"] = call.id
        wire: dict[str, Any] = {"functionCall": function}
        signature = call.extra.get(SIGNATURE)
        if isinstance(signature, str) and signature:
            wire[SIGNATURE] = signature
        parts.append(wire)
    calls = [p for p in parts if "functionCall" in p]
    if sign_calls and calls and not any(SIGNATURE in p for p in calls):
        calls[0][SIGNATURE] = FOREIGN_SIGNATURE
    return parts


# --- tool results -----------------------------------------------------------------------------
def tool_result_parts(
    message: Message, names: dict[str, str], provider: Provider
) -> list[dict[str, Any]]:
    """A ``functionResponse`` part (and the result's media as inline parts)."""
    call_id = message.tool_call_id
    if call_id is None:
        raise _bad("tool_call_id", "a tool message needs a tool_call_id", provider)
    name = message.name or names.get(call_id)
    if not name:
        raise _bad(
            "tool_call_id",
            f"no earlier assistant tool call has id {call_id!r}, and gemini's functionResponse "
            "needs the function name: set Message.name",
            provider,
        )
    text = message.text()
    response: dict[str, Any] = {
        "name": name,
        "response": {"error" if message.is_error else "output": text},
    }
    if not is_synthetic_id(call_id):
        response["id"] = call_id
    parts: list[dict[str, Any]] = [{"functionResponse": response}]
    media = Content(tuple(p for p in message.content.parts if not isinstance(p, TextPart)))
    parts.extend(content_to_wire(media, provider))
    return parts


def contents_to_wire(
    request: ChatCompletionRequest, provider: Provider
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(systemInstruction parts, contents)`` of a request.

    Input the API cannot express raises :class:`~llmcore.InvalidInputError` naming the field
    (``messages[2].content[1]``), before anything is sent.
    """
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    sign_calls = signs_calls(request.model)
    in_results = False  # the last content holds tool results: the next ones join it
    for index, message in enumerate(request.messages):
        try:
            if message.role in (Role.SYSTEM, Role.DEVELOPER):
                if message.content.has_media():
                    raise _bad("content", "gemini takes text only in system instructions", provider)
                system.append({"text": message.text()})
                continue
            if message.role is Role.TOOL:
                parts = tool_result_parts(message, names, provider)
                if in_results:
                    contents[-1]["parts"].extend(parts)
                else:
                    contents.append({"role": "user", "parts": parts})
                in_results = True
                continue
            in_results = False
            if message.role is Role.ASSISTANT:
                for call in message.tool_calls:
                    names[call.id] = call.name
                parts = assistant_parts(message, provider, sign_calls=sign_calls)
                if parts:
                    contents.append({"role": "model", "parts": parts})
                continue
            contents.append({"role": "user", "parts": content_to_wire(message.content, provider)})
        except InvalidInputError as exc:
            raise exc.within(f"messages[{index}]") from None
    return system, contents


# --- tools and options ------------------------------------------------------------------------
def tool_to_wire(tool: Tool) -> dict[str, Any]:
    """A function declaration; the parameters go as JSON Schema (``parametersJsonSchema``)."""
    declaration: dict[str, Any] = {"name": tool.name, "parametersJsonSchema": tool.parameters}
    if tool.description:
        declaration["description"] = tool.description
    return declaration


def tool_config(choice: ToolChoice) -> dict[str, Any]:
    """``toolConfig`` for a tool choice."""
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}
    config: dict[str, Any] = {"mode": modes[choice.mode]}
    if choice.mode == "tool":
        config["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": config}


def _response_format(fmt: dict[str, Any], provider: Provider) -> dict[str, Any]:
    kind = fmt.get("type")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise _bad(
                "response_format", "json_schema needs a 'json_schema.schema' object", provider
            )
        return {"responseMimeType": "application/json", "responseJsonSchema": schema}
    raise _bad(
        "response_format",
        f"gemini takes type 'text', 'json_object' or 'json_schema', not {kind!r}",
        provider,
    )


def thinking_config(request: ChatCompletionRequest, provider: Provider) -> dict[str, Any] | None:
    """``thinkingConfig``: ``reasoning_budget`` as ``thinkingBudget`` (thoughts included when it
    is not 0), else ``reasoning_effort`` as ``thinkingLevel`` (Gemini 3) or a budget."""
    if request.reasoning_budget is not None:
        budget = request.reasoning_budget
        config: dict[str, Any] = {"thinkingBudget": budget}
        if budget > 0:
            config["includeThoughts"] = True
        return config
    effort = request.reasoning_effort
    if effort is None:
        return None
    if fnmatch.fnmatchcase(request.model.rpartition("/")[2], "gemini-3*"):
        return {"thinkingLevel": LEVEL_FOR_EFFORT[effort], "includeThoughts": True}
    budget = BUDGET_FOR_EFFORT[effort]
    return {"thinkingBudget": budget, **({"includeThoughts": True} if budget else {})}


def generation_config(request: ChatCompletionRequest, provider: Provider) -> dict[str, Any]:
    """``generationConfig`` from the request's options (empty when none is set)."""
    config: dict[str, Any] = {}
    optional = {
        "temperature": request.temperature,
        "topP": request.top_p,
        "maxOutputTokens": request.max_tokens,
        "seed": request.seed,
    }
    config.update({k: v for k, v in optional.items() if v is not None})
    if request.stop is not None:
        config["stopSequences"] = list(request.stop)
    if request.response_format is not None:
        config.update(_response_format(request.response_format, provider))
    thinking = thinking_config(request, provider)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    for key, wire in _EXTRA_CONFIG.items():
        if key in request.extra:
            config[wire] = request.extra[key]
    more = request.extra.get("generationConfig")
    if more is not None:
        if not isinstance(more, dict):
            raise _bad("extra['generationConfig']", "must be a JSON object", provider)
        config.update(more)
    return config


def generate_payload(provider: Provider, request: ChatCompletionRequest) -> dict[str, Any]:
    """The JSON body of ``POST models/{model}:generateContent`` (and of the stream)."""
    if request.user is not None:
        raise _bad("user", "gemini has no end-user id field", provider)
    system, contents = contents_to_wire(request, provider)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [tool_to_wire(t) for t in request.tools]}]
    if request.tool_choice is not None:
        body["toolConfig"] = tool_config(request.tool_choice)
    config = generation_config(request, provider)
    if config:
        body["generationConfig"] = config
    body.update(
        {
            k: v
            for k, v in request.extra.items()
            if k not in _EXTRA_CONFIG and k != "generationConfig"
        }
    )
    return body


def build_chat_request(
    provider: Provider, request: ChatCompletionRequest, stream: bool
) -> HttpRequest:
    """The HTTP request for a chat call: ``:generateContent``, or ``:streamGenerateContent``
    with ``alt=sse`` (server-sent events, one ``GenerateContentResponse`` per event)."""
    action = "streamGenerateContent" if stream else "generateContent"
    return HttpRequest(
        "POST",
        api_url(provider, f"{model_path(request.model)}:{action}"),
        {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        },
        json=generate_payload(provider, request),
        params={"alt": "sse"} if stream else {},
        stream_format="sse",
    )
