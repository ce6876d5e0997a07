"""Ollama's ``POST /api/generate`` (a prompt completion, no chat history): the request type,
its payload and the parsing of whole answers and NDJSON streams (pure; the sending is
:meth:`llmcore_ollama.OllamaClient.generate`).

An answer is read into llmcore's unified types, like a chat answer: the ``response`` text is
the message text, ``thinking`` its reasoning, ``done_reason`` the finish reason, the counts the
usage. ``context`` (the token ids to pass back for a follow-up), ``created_at`` and the timings
are kept as provider data (see :mod:`llmcore_ollama.parse`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from llmcore import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChunkChoice,
    Delta,
    Frame,
    HttpRequest,
    HttpResponse,
    InvalidInputError,
    Message,
    Provider,
    Role,
)
from llmcore.chat import with_origin
from llmcore.content import ImagePart
from llmcore_ollama.parse import _finish, _stop, parse_created, raise_line_error, usage_and_data
from llmcore_ollama.payload import _image_data, format_value

__all__ = [
    "GENERATE_KEYS",
    "GenerateRequest",
    "build_generate_request",
    "generate_payload",
    "iter_generate_chunks",
    "parse_generate",
]

GENERATE_KEYS = frozenset(
    {"model", "response", "thinking", "done", "done_reason", "prompt_eval_count", "eval_count"}
)
"""The top-level keys of an ``/api/generate`` object that llmcore models."""

_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def _images(value: Iterable[str | ImagePart] | None) -> tuple[str | ImagePart, ...]:
    return tuple(value or ())


def _context(value: Iterable[int] | None) -> tuple[int, ...] | None:
    return None if value is None else tuple(value)


def _stop_words(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def _check(request: GenerateRequest) -> None:
    if not isinstance(request.model, str) or not request.model:
        raise InvalidInputError.at("model", "must be a non-empty string")
    if not isinstance(request.prompt, str):
        raise InvalidInputError.at(
            "prompt", f"expected a string, got {type(request.prompt).__name__}"
        )
    for name in ("system", "suffix", "template"):
        value = getattr(request, name)
        if value is not None and not isinstance(value, str):
            raise InvalidInputError.at(name, f"expected a string, got {type(value).__name__}")
    for i, image in enumerate(request.images):
        if not isinstance(image, str | ImagePart):
            raise InvalidInputError.at(
                f"images[{i}]", f"expected base64 text or an ImagePart, got {type(image).__name__}"
            )
    for i, token in enumerate(request.context or ()):
        if not isinstance(token, int) or isinstance(token, bool):
            raise InvalidInputError.at(f"context[{i}]", "expected an integer token id")
    if request.max_tokens is not None and (
        not isinstance(request.max_tokens, int) or request.max_tokens < 1
    ):
        raise InvalidInputError.at("max_tokens", "must be an integer >= 1")
    for name in ("options", "extra"):
        if not isinstance(getattr(request, name), dict):
            raise InvalidInputError.at(name, "must be a dict")


@attrs.frozen
class GenerateRequest:
    """One ``/api/generate`` call: a ``model`` and a ``prompt``, and Ollama's other fields.

    - ``system``, ``template``: replace the model's system prompt and prompt template;
    - ``suffix``: the text after the completion (fill-in-the-middle models);
    - ``images``: base64 strings or :class:`~llmcore.ImagePart` values with data (no URLs);
    - ``context``: the ``context`` of an earlier answer (``response.provider_data["context"]``),
      to continue from it;
    - ``raw``: send the prompt without the template;
    - ``format``: ``"json"``, a JSON schema, or a ``response_format`` as chat takes it;
    - ``think``: ``True``/``False`` or a level (``"low"``, ``"medium"``, ``"high"``);
    - ``temperature``, ``top_p``, ``seed``, ``max_tokens`` (``num_predict``), ``stop``: put under
      ``options``; ``options``: Ollama's options, merged over those;
    - ``keep_alive``: how long the model stays loaded (``"5m"``, seconds, ``0``);
    - ``extra``: more top-level fields, merged last.

    Fields are checked when the request is built (:class:`~llmcore.InvalidInputError` naming
    the field).
    """

    model: str
    prompt: str = ""
    system: str | None = None
    suffix: str | None = None
    images: tuple[str | ImagePart, ...] = attrs.field(default=(), converter=_images)
    context: tuple[int, ...] | None = attrs.field(default=None, converter=_context)
    template: str | None = None
    raw: bool = False
    format: str | dict[str, Any] | None = None
    think: bool | str | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] | None = attrs.field(default=None, converter=_stop_words)
    options: dict[str, Any] = attrs.field(factory=dict)
    keep_alive: str | int | float | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        _check(self)


def generate_payload(provider: Provider, request: GenerateRequest, stream: bool) -> dict[str, Any]:
    """The JSON body of ``POST /api/generate``; fields left at their default are not sent
    (``stream`` always is: Ollama streams by default)."""
    body: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "stream": stream}
    for name in ("system", "suffix", "template"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.images:
        images = []
        for i, image in enumerate(request.images):
            try:
                images.append(image if isinstance(image, str) else _image_data(image, provider))
            except InvalidInputError as exc:
                raise exc.within(f"images[{i}]") from None
        body["images"] = images
    if request.context is not None:
        body["context"] = list(request.context)
    if request.raw:
        body["raw"] = True
    fmt = request.format
    if isinstance(fmt, dict):
        fmt = format_value(fmt, provider)
    if fmt:
        body["format"] = fmt
    if request.think is not None:
        body["think"] = request.think
    options = {
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
        "num_predict": request.max_tokens,
        "stop": list(request.stop) if request.stop is not None else None,
    }
    merged = {k: v for k, v in options.items() if v is not None}
    merged.update(request.options)
    if merged:
        body["options"] = merged
    if request.keep_alive is not None:
        body["keep_alive"] = request.keep_alive
    body.update(request.extra)
    return body


def build_generate_request(
    provider: Provider, request: GenerateRequest, stream: bool
) -> HttpRequest:
    """The HTTP request for a generate call (NDJSON when streamed)."""
    return HttpRequest(
        "POST",
        provider.url("api/generate"),
        {**_JSON, "Accept": "application/x-ndjson" if stream else "application/json"},
        json=generate_payload(provider, request, stream),
        stream_format="ndjson",
    )


def parse_generate(
    provider: Provider, response: HttpResponse, *, requested_model: str | None = None
) -> ChatCompletionResponse:
    """A non-streamed ``/api/generate`` answer as a unified response (its message carries the
    provider's origin, as chat answers do)."""
    body = response.json()
    if not isinstance(body, dict):
        raise TypeError(f"expected a JSON object, got {type(body).__name__}")
    raise_line_error(provider, body, response.status)
    text = body["response"]
    if not isinstance(text, str):
        raise TypeError(f"response is {type(text).__name__}, not a string")
    message = Message(Role.ASSISTANT, text, reasoning=body.get("thinking") or None)
    finish = _finish(body)
    usage, data = usage_and_data(body, GENERATE_KEYS)
    answer = ChatCompletionResponse(
        id=None,
        model=body.get("model"),
        choices=(Choice(0, message, finish, _stop(finish, False, provider)),),
        usage=usage,
        provider=provider.name,
        created=parse_created(body.get("created_at")),
        provider_data=data,
    )
    return with_origin(answer, provider.name, provider.api, requested_model)


def iter_generate_chunks(
    provider: Provider, frames: Iterator[Frame]
) -> Iterator[ChatCompletionChunk]:
    """Unified chunks from ``/api/generate`` NDJSON lines; returns True at the ``done: true``
    line (None when the lines end before it). ``response`` pieces are text deltas, ``thinking``
    pieces reasoning deltas; each line's unmodelled fields are the chunk's provider data, and
    the ``done`` line's counts its usage. An ``{"error": ...}`` line raises its typed error;
    a line that is not a JSON object raises ``ValueError``/``TypeError``."""
    first = True
    for frame in frames:
        obj = frame.json()
        if not isinstance(obj, dict):
            raise TypeError(f"stream line is {type(obj).__name__}, not an object")
        raise_line_error(provider, obj)
        text = obj.get("response")
        if text is not None and not isinstance(text, str):
            raise TypeError(f"response is {type(text).__name__}, not a string")
        done = bool(obj.get("done"))
        finish = _finish(obj) if done else None
        delta = Delta(
            role=Role.ASSISTANT if first else None,
            content=text or None,
            reasoning=obj.get("thinking") or None,
        )
        first = False
        usage, data = usage_and_data(obj, GENERATE_KEYS)
        choice = ChunkChoice(0, delta, finish, _stop(finish, False, provider))
        yield ChatCompletionChunk(None, obj.get("model"), (choice,), usage, provider_data=data)
        if done:
            return True  # type: ignore[return-value]
    return None
