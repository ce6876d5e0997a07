"""GLM answers, streams and errors -> unified objects: the openai-chat parsers plus GLM's codes.

Answers and stream chunks have the OpenAI shape with ``reasoning_content``, which
llmcore-openai's parser reads; its finish-reason table already holds GLM's extra values
(``sensitive`` -> content_filter, ``network_error`` -> error,
``model_context_window_exceeded`` -> length). What this module adds is GLM's business error
codes: a body ``{"error": {"code": "1301", "message": "..."}}``, on an HTTP error or inside a
200 answer or stream, becomes the llmcore error class the code means.

GLM's own answer fields are kept in ``provider_data`` by the openai-chat parser, which keeps
every field it does not model: on the response, ``request_id``, ``web_search`` (the search
results of the built-in web search tool, a list of ``{title, link, content, media, icon,
refer, publish_date}``), ``content_filter`` (``[{role, level}]``) and ``video_result``; on the
message, ``audio``. In a stream, the list fields are whole values that a chunk may repeat;
:func:`iter_glm_chunks` passes on only the items not sent before, so the accumulated
``provider_data`` (whose rule appends lists) holds each result once, as a whole answer does.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any, cast

import attrs

from llmcore import (
    AuthenticationError,
    ChatCompletionChunk,
    ChatCompletionResponse,
    ConflictError,
    ContentFilterError,
    ContextLengthExceededError,
    Frame,
    HttpResponse,
    InvalidRequestError,
    LlmError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    Provider,
    RateLimitError,
    ServerError,
)
from llmcore_openai.parse import iter_chunks, parse_chat

__all__ = [
    "ERROR_CODES",
    "NOT_RETRYABLE_CODES",
    "WHOLE_LIST_FIELDS",
    "error_for_code",
    "iter_glm_chunks",
    "parse_glm",
]

ERROR_CODES: dict[str, type[LlmError]] = {
    # authentication: failed, no token, invalid token, expired token, verification failed
    **dict.fromkeys(("1000", "1001", "1002", "1003", "1004"), AuthenticationError),
    # account inactive, missing, locked, locked for irregular activity
    **dict.fromkeys(("1110", "1111", "1112", "1121"), PermissionDeniedError),
    "1113": RateLimitError,  # account in arrears: a quota error, not retryable
    "1120": ServerError,  # account could not be reached, try again later
    # API call: bad parameters, method not supported, missing/invalid/conflicting field
    **dict.fromkeys(("1200", "1210", "1212", "1213", "1214", "1215"), InvalidRequestError),
    "1211": ModelNotFoundError,
    "1220": PermissionDeniedError,  # no permission for this API
    **dict.fromkeys(("1221", "1222"), InvalidRequestError),  # API offline / does not exist
    **dict.fromkeys(("1230", "1234"), ServerError),  # call process error, network error
    "1231": ConflictError,  # a request with this id is already running
    "1261": ContextLengthExceededError,  # prompt too long
    **dict.fromkeys(("1300", "1301"), ContentFilterError),  # blocked by policy / unsafe content
    # concurrency, frequency, daily quota, traffic limit, usage caps, fair-use throttling
    **dict.fromkeys(("1302", "1303", "1304", "1305", "1308", "1310", "1313"), RateLimitError),
    **dict.fromkeys(("1309", "1311"), PermissionDeniedError),  # plan expired / model not in plan
    "1312": OverloadedError,  # the model is busy, try later or another model
}
"""GLM business codes (``error.code``) and the llmcore error each one raises."""

NOT_RETRYABLE_CODES = frozenset({"1113", "1304", "1308", "1310", "1313"})
"""Quota codes: waiting seconds does not help (arrears, daily or plan caps), so never retried."""


def _fields(payload: Any) -> tuple[str | None, str | None]:
    """(code, message) of a ``{"error": {...}}`` body, or (None, None)."""
    err = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(err, str):
        return None, err
    if not isinstance(err, dict):
        return None, None
    code = err.get("code")
    message = err.get("message")
    return (
        None if code is None else str(code),
        None if message is None else str(message),
    )


def error_for_code(provider: Provider, payload: Any, status: int | None) -> LlmError | None:
    """The typed error for a GLM error body, or None when its code is not a known GLM code.

    :param provider: the provider that answered.
    :param payload: the decoded JSON body (or stream frame).
    :param status: the HTTP status (200 for errors inside an answer or a stream).
    """
    code, message = _fields(payload)
    cls = ERROR_CODES.get(code or "")
    if cls is None:
        return None
    err = cls(
        message or f"{provider.name} reported error {code}",
        provider=provider.name,
        status=status,
        code=code,
        body=payload.get("error"),
    )
    if code in NOT_RETRYABLE_CODES:
        err.should_retry = False
    return err


def parse_error(provider: Provider, response: HttpResponse) -> LlmError | None:
    """The typed error for a non-2xx answer with a GLM code; None leaves it to the core."""
    try:
        payload = response.json()
    except ValueError:
        return None
    return error_for_code(provider, payload, response.status)


def _retyped(provider: Provider, exc: LlmError, status: int | None) -> LlmError:
    """``exc`` (raised by the openai-chat parser for an error object) as GLM's code means it."""
    body = {"error": exc.body} if isinstance(exc.body, dict) else None
    err = error_for_code(provider, body, status) if body else None
    if err is None:
        return exc
    err.request_id = exc.request_id
    return err


def parse_glm(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    """A non-streamed answer; an error object inside a 200 body raises by its GLM code."""
    try:
        return parse_chat(provider, response)
    except LlmError as exc:
        raise _retyped(provider, exc, response.status) from None


WHOLE_LIST_FIELDS = ("web_search", "content_filter", "video_result")
"""Response-level list fields a GLM stream may send whole in several chunks."""


class _NewItems:
    """Turns each chunk's whole list values into the items not passed on before."""

    def __init__(self) -> None:
        self.sent: dict[str, list[Any]] = {}

    def __call__(self, chunk: ChatCompletionChunk) -> ChatCompletionChunk:
        data = chunk.provider_data
        if not any(isinstance(data.get(k), list) for k in WHOLE_LIST_FIELDS):
            return chunk
        out = dict(data)
        for key in WHOLE_LIST_FIELDS:
            value = data.get(key)
            if not isinstance(value, list):
                continue
            sent = self.sent.get(key, [])
            if value[: len(sent)] == sent:  # the whole list again, maybe with more items
                new = value[len(sent) :]
                self.sent[key] = list(value)
            else:  # items of their own
                new = value
                self.sent[key] = sent + value
            if new:
                out[key] = new
            else:
                del out[key]
        return attrs.evolve(chunk, provider_data=out)


def iter_glm_chunks(
    provider: Provider, frames: Iterator[Frame]
) -> Generator[ChatCompletionChunk, None, bool | None]:
    """Stream chunks; returns True once ``[DONE]`` arrived. Error frames raise by GLM code.

    The list fields of :data:`WHOLE_LIST_FIELDS` carry, in each chunk, only the items that no
    earlier chunk sent (a chunk that repeats the list so far carries none of it).
    """
    # llmcore-openai's iterator is a generator that returns True at ``[DONE]``.
    chunks = cast(
        "Generator[ChatCompletionChunk, None, bool | None]", iter_chunks(provider, frames)
    )
    new_items = _NewItems()
    try:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration as stop:
                done: bool | None = stop.value
                return done
            yield new_items(chunk)
    except LlmError as exc:
        raise _retyped(provider, exc, exc.status) from None
    finally:
        chunks.close()  # a stream closed early closes the frame reader too
