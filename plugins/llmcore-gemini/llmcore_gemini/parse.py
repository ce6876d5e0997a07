"""Gemini responses, streams, errors and model lists -> unified objects (pure functions).

A ``GenerateContentResponse`` becomes chunks the same way whether it is one event of a stream
(``alt=sse``), one element of the JSON array that ``streamGenerateContent`` returns without
``alt=sse``, or a whole ``generateContent`` answer: :func:`response_chunks` turns one object into
chunks, the stream yields them, and :func:`parse_generate` accumulates them with the core's
stream accumulator, so a streamed and a non-streamed answer give the same message.

- parts with ``thought: true`` are reasoning; other text parts are the answer;
- ``functionCall`` parts arrive whole: each is one tool call, its id synthesised
  (:func:`llmcore_gemini.providers.synthetic_call_id`) when Gemini sent none, and its
  ``thoughtSignature`` kept in ``ToolCall.extra``;
- a ``thoughtSignature`` on a text part is kept as a thinking block without text (signature
  only), started after the thought text so that each signature stays whole;
- ``finishReason`` ``STOP`` becomes ``tool_use`` when the candidate made function calls (Gemini
  has no finish reason of its own for them); the safety reasons become ``content_filter``;
- a prompt blocked before any candidate (``promptFeedback.blockReason``) raises
  :class:`llmcore.ContentFilterError`, its ``body`` holding the prompt feedback;
- ``usageMetadata`` follows llmcore's usage rule: ``completion_tokens`` is
  ``candidatesTokenCount + thoughtsTokenCount`` (``reasoning_tokens`` the latter),
  ``prompt_tokens`` is ``promptTokenCount + toolUsePromptTokenCount``, ``cached_tokens`` is
  ``cachedContentTokenCount``.

Provider data (what Gemini sends and the unified objects have no field for) is kept as Gemini
spells it, at the level it belongs to:

- the response's ``provider_data``: every top-level field but ``candidates`` and
  ``usageMetadata``: ``responseId``, ``modelVersion``, ``promptFeedback`` (with the prompt's
  ``safetyRatings``), ``createTime``, ``modelStatus``...;
- each choice's ``provider_data``: every candidate field but ``content``, ``finishReason`` and
  ``index``: ``safetyRatings``, ``citationMetadata``, ``groundingMetadata``,
  ``urlContextMetadata``, ``finishMessage``, ``avgLogprobs``, ``logprobsResult``...;
- the usage's ``provider_data``: every ``usageMetadata`` field but the counts the usage holds
  (``promptTokensDetails``, ``candidatesTokensDetails``, ``cacheTokensDetails``,
  ``toolUsePromptTokenCount``, ``trafficType``...).

Gemini repeats these fields in every object of a stream. Under the core's accumulation rule
(lists appended, other values replaced), the chunks carry a field only when it changed, and of a
list only the items not sent before, so a streamed answer ends with the same data as the same
objects read whole: the latest value of each field, and each distinct list item once, in order
of arrival (a safety category rated again with another probability appears again, later).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from llmcore import (
    AuthenticationError,
    ChatCompletionChunk,
    ChatCompletionResponse,
    ChunkChoice,
    ConflictError,
    ContentFilterError,
    ContextLengthExceededError,
    Delta,
    Frame,
    HttpResponse,
    InvalidRequestError,
    LlmError,
    ModelInfo,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    Provider,
    RateLimitError,
    RequestTimeoutError,
    Role,
    ServerError,
    StopReason,
    ToolCallDelta,
    Usage,
    error_for_status,
    map_stop_reason,
    retry_after_seconds,
)
from llmcore.accumulate import StreamAccumulator
from llmcore.errors import looks_like_context_overflow
from llmcore_gemini.providers import synthetic_call_id

__all__ = [
    "ERROR_CLASSES",
    "FINISH_REASONS",
    "error_from_body",
    "iter_chunks",
    "next_page_token",
    "parse_error",
    "parse_generate",
    "parse_models",
    "parse_usage",
    "response_chunks",
]

SIGNATURE = "thoughtSignature"

FINISH_REASONS: dict[str, StopReason] = {
    "FINISH_REASON_UNSPECIFIED": StopReason.STOP,
    "STOP": StopReason.STOP,
    "MAX_TOKENS": StopReason.LENGTH,
    "SAFETY": StopReason.CONTENT_FILTER,
    "RECITATION": StopReason.CONTENT_FILTER,
    "LANGUAGE": StopReason.CONTENT_FILTER,
    "BLOCKLIST": StopReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": StopReason.CONTENT_FILTER,
    "SPII": StopReason.CONTENT_FILTER,
    "IMAGE_SAFETY": StopReason.CONTENT_FILTER,
    "IMAGE_PROHIBITED_CONTENT": StopReason.CONTENT_FILTER,
    "IMAGE_RECITATION": StopReason.CONTENT_FILTER,
    "OTHER": StopReason.ERROR,
    "MALFORMED_FUNCTION_CALL": StopReason.ERROR,
    "UNEXPECTED_TOOL_CALL": StopReason.ERROR,
    "TOO_MANY_TOOL_CALLS": StopReason.ERROR,
    "MISSING_THOUGHT_SIGNATURE": StopReason.ERROR,
    "NO_IMAGE": StopReason.ERROR,
    "IMAGE_OTHER": StopReason.ERROR,
}
"""Gemini ``finishReason`` -> llmcore stop reason (``STOP`` with function calls: ``tool_use``)."""

ERROR_CLASSES: dict[str, type[LlmError]] = {
    "INVALID_ARGUMENT": InvalidRequestError,
    "OUT_OF_RANGE": InvalidRequestError,
    "FAILED_PRECONDITION": PermissionDeniedError,
    "UNAUTHENTICATED": AuthenticationError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "NOT_FOUND": ModelNotFoundError,
    "ALREADY_EXISTS": ConflictError,
    "ABORTED": ConflictError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "UNAVAILABLE": OverloadedError,
    "INTERNAL": ServerError,
    "UNKNOWN": ServerError,
    "DATA_LOSS": ServerError,
    "DEADLINE_EXCEEDED": RequestTimeoutError,
}
"""Google RPC ``error.status`` -> llmcore error class."""

_AUTH_REASONS = {"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_MISSING"}


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


# --- usage ------------------------------------------------------------------------------------
_USAGE_COUNTS = frozenset(
    {
        "promptTokenCount",
        "candidatesTokenCount",
        "thoughtsTokenCount",
        "cachedContentTokenCount",
        "totalTokenCount",
    }
)
_CANDIDATE_FIELDS = frozenset({"content", "finishReason", "index"})
_RESPONSE_FIELDS = frozenset({"candidates", "usageMetadata"})


def parse_usage(raw: Any) -> Usage | None:
    """``usageMetadata`` under llmcore's usage rule (see the module docstring); its other
    fields (token details by modality, ``toolUsePromptTokenCount``...) in ``provider_data``."""
    if not isinstance(raw, dict):
        return None
    prompt = _int(raw.get("promptTokenCount")) + _int(raw.get("toolUsePromptTokenCount"))
    thoughts = _int(raw.get("thoughtsTokenCount"))
    completion = _int(raw.get("candidatesTokenCount")) + thoughts
    total = raw.get("totalTokenCount")
    return Usage.of(
        prompt,
        completion,
        total_tokens=_int(total) if total is not None else None,
        cached_tokens=_int(raw.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
        provider_data={k: v for k, v in raw.items() if k not in _USAGE_COUNTS},
    )


# --- errors -----------------------------------------------------------------------------------
def _details(err: Mapping[str, Any], suffix: str) -> list[dict[str, Any]]:
    details = err.get("details")
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, dict) and str(d.get("@type", "")).endswith(suffix)]


def _retry_delay(err: Mapping[str, Any]) -> float | None:
    for info in _details(err, "google.rpc.RetryInfo"):
        delay = info.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                continue
    return None


def error_from_body(provider: Provider, err: Mapping[str, Any], status: int | None) -> LlmError:
    """The typed error of a Google ``{"error": {"code", "message", "status", "details"}}``.

    The class comes from ``status`` (:data:`ERROR_CLASSES`), an ``ErrorInfo`` reason such as
    ``API_KEY_INVALID`` (authentication, though Gemini answers it with 400) or a "token count
    exceeds the maximum" message (context length); ``code`` is that reason or the status name,
    ``retry_after`` the ``RetryInfo.retryDelay``.
    """
    message = str(err.get("message") or "gemini reported an error")
    rpc_status = err.get("status") if isinstance(err.get("status"), str) else None
    http = err.get("code") if isinstance(err.get("code"), int) else None
    status = status if status is not None and status >= 400 else http
    reasons = [
        str(i.get("reason")) for i in _details(err, "google.rpc.ErrorInfo") if i.get("reason")
    ]
    code = reasons[0] if reasons else rpc_status
    cls: type[LlmError] | None
    if looks_like_context_overflow(message) and (status is None or status < 500):
        cls = ContextLengthExceededError
    elif any(r in _AUTH_REASONS for r in reasons):
        cls = AuthenticationError
    else:
        cls = ERROR_CLASSES.get(rpc_status or "")
    kwargs: dict[str, Any] = {
        "provider": provider.name,
        "retry_after": _retry_delay(err),
        "body": dict(err),
    }
    if cls is None:
        return error_for_status(status, message, code=code, error_type=rpc_status, **kwargs)
    return cls(message, status=status, code=code, **kwargs)


def _error_object(payload: Any) -> Mapping[str, Any] | None:
    if isinstance(payload, list) and payload:  # the JSON-array stream wraps errors too
        payload = payload[0]
    if not isinstance(payload, dict):
        return None
    err = payload.get("error")
    return err if isinstance(err, dict) else None


def parse_error(provider: Provider, response: HttpResponse) -> LlmError | None:
    """A non-2xx answer with a Google error body; ``None`` (the core's default) otherwise."""
    try:
        payload = response.json()
    except ValueError:
        return None
    err = _error_object(payload)
    if err is None:
        return None
    result = error_from_body(provider, err, response.status)
    header = retry_after_seconds(response)
    if header is not None:
        result.retry_after = header
    return result


def _raise_blocked(provider: Provider, obj: Mapping[str, Any]) -> None:
    feedback = obj.get("promptFeedback")
    if not isinstance(feedback, dict) or not feedback.get("blockReason"):
        return
    if obj.get("candidates"):
        return
    reason = str(feedback["blockReason"])
    detail = feedback.get("blockReasonMessage")
    raise ContentFilterError(
        f"gemini blocked the prompt ({reason})" + (f": {detail}" if detail else ""),
        provider=provider.name,
        code=reason,
        body=dict(feedback),
    )


# --- one GenerateContentResponse -> chunks ----------------------------------------------------
def _fresh(sent: dict[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """What of ``data`` is news against ``sent`` (what the chunks carried so far), recorded in
    ``sent``: a changed value whole, of a list the items not sent before (see the module
    docstring)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in sent:
            out[key] = value
            sent[key] = list(value) if isinstance(value, list) else value
        elif isinstance(value, list) and isinstance(sent[key], list):
            new = [item for item in value if item not in sent[key]]
            if new:
                out[key] = new
                sent[key].extend(new)
        elif value != sent[key]:
            out[key] = value
            sent[key] = list(value) if isinstance(value, list) else value
    return out


@attrs.define
class _Candidate:
    started: bool = False
    # the block the accumulator has open: "thinking", "signature" (a text part's signature),
    # "text" or "tool"
    open: str | None = None
    signed: bool = False  # the open thinking block already holds a signature
    calls: int = 0
    finished: bool = False
    sent: dict[str, Any] = attrs.Factory(dict)  # the candidate's provider data so far


@attrs.define
class StreamState:
    """What :func:`response_chunks` remembers from one object to the next (one per answer)."""

    candidates: dict[int, _Candidate] = attrs.Factory(dict)
    sent: dict[str, Any] = attrs.Factory(dict)  # the response's provider data so far

    def candidate(self, index: int) -> _Candidate:
        return self.candidates.setdefault(index, _Candidate())

    @property
    def finished(self) -> bool:
        """True once every candidate seen has its finish reason (and there is one)."""
        return bool(self.candidates) and all(c.finished for c in self.candidates.values())


def _part_deltas(
    part: Mapping[str, Any], state: _Candidate, response_id: str | None, index: int
) -> list[Delta]:
    signature = part.get(SIGNATURE) if isinstance(part.get(SIGNATURE), str) else None
    out: list[Delta] = []
    call = part.get("functionCall")
    if isinstance(call, dict):
        name = str(call.get("name") or "")
        args = call.get("args") if isinstance(call.get("args"), dict) else {}
        call_id = call.get("id") or synthetic_call_id(response_id, index, state.calls, name, args)
        delta = ToolCallDelta(
            state.calls,
            str(call_id),
            name,
            json.dumps(args, ensure_ascii=False),
            {SIGNATURE: signature} if signature else None,
        )
        state.calls += 1
        state.open = "tool"
        return [Delta(tool_calls=(delta,))]
    text = part.get("text")
    if not isinstance(text, str):
        return out  # inlineData, executableCode...: not part of the unified answer
    if part.get("thought"):
        if not text and not signature:
            return out
        if state.open == "signature" or (signature and state.open == "thinking" and state.signed):
            out.append(Delta(thinking_block_end=True))  # keep each signature with its part
            state.open = None
        if state.open != "thinking":
            state.signed = False
        out.append(Delta(reasoning=text or None, reasoning_signature=signature))
        state.open = "thinking"
        state.signed = state.signed or bool(signature)
        return out
    if signature:
        if state.open in ("thinking", "signature"):
            out.append(Delta(thinking_block_end=True))
        out.append(Delta(reasoning_signature=signature))  # a block of its own: the text's
        state.open = "signature"
    if text:
        out.append(Delta(content=text))
        state.open = "text"
    return out


def response_chunks(provider: Provider, obj: Any, state: StreamState) -> list[ChatCompletionChunk]:
    """The chunks of one ``GenerateContentResponse`` object (a stream event, an element of the
    JSON-array stream, or a whole answer); raises the typed error of an ``error`` object or a
    blocked prompt."""
    if not isinstance(obj, dict):
        raise TypeError(f"expected a JSON object, got {type(obj).__name__}")
    err = _error_object(obj)
    if err is not None:
        raise error_from_body(provider, err, None)
    _raise_blocked(provider, obj)
    response_id = obj.get("responseId")
    model = obj.get("modelVersion")
    choices: list[ChunkChoice] = []
    for position, candidate in enumerate(obj.get("candidates") or ()):
        index = candidate.get("index", position)
        cstate = state.candidate(index)
        deltas: list[Delta] = []
        for part in (candidate.get("content") or {}).get("parts") or ():
            if isinstance(part, dict):
                deltas.extend(_part_deltas(part, cstate, response_id, index))
        if not cstate.started:
            cstate.started = True
            first = deltas[0] if deltas else Delta()
            deltas[:1] = [attrs.evolve(first, role=Role.ASSISTANT)]
        finish = candidate.get("finishReason")
        stop = map_stop_reason(finish, FINISH_REASONS, provider=provider.name)
        if stop is StopReason.STOP and cstate.calls:
            stop = StopReason.TOOL_USE
        if finish is not None:
            cstate.finished = True
        deltas = deltas or [Delta()]
        data = _fresh(
            cstate.sent, {k: v for k, v in candidate.items() if k not in _CANDIDATE_FIELDS}
        )
        choices.extend(ChunkChoice(index, d) for d in deltas[:-1])
        choices.append(ChunkChoice(index, deltas[-1], finish, stop, provider_data=data))
    usage = parse_usage(obj.get("usageMetadata"))
    data = _fresh(state.sent, {k: v for k, v in obj.items() if k not in _RESPONSE_FIELDS})
    if not choices:
        return [ChatCompletionChunk(response_id, model, (), usage, provider_data=data)]
    last = len(choices) - 1
    return [
        ChatCompletionChunk(
            response_id,
            model,
            (choice,),
            usage if i == last else None,
            provider_data=data if i == last else None,
        )
        for i, choice in enumerate(choices)
    ]


def iter_chunks(provider: Provider, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
    """Chunks from the SSE events of ``streamGenerateContent?alt=sse``.

    Gemini sends no end marker: the stream ends when the server closes it. The iterator returns
    True once the frames ran out with every candidate finished (a ``finishReason`` seen), which
    is the terminal frame; otherwise the core reports a truncated stream.
    """
    state = StreamState()
    for frame in frames:
        data = frame.data.strip()
        if not data:
            continue
        yield from response_chunks(provider, json.loads(data), state)
    return state.finished  # type: ignore[return-value]


def parse_generate(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    """A whole answer: a ``generateContent`` object, or the JSON array of objects that
    ``streamGenerateContent`` returns without ``alt=sse`` (accumulated like a stream)."""
    body = response.json()
    objects: Iterable[Any] = body if isinstance(body, list) else [body]
    state = StreamState()
    acc = StreamAccumulator(provider.name, provider.api)
    for obj in objects:
        for chunk in response_chunks(provider, obj, state):
            acc.feed(chunk)
    if not state.candidates and isinstance(body, list) and not body:
        raise ValueError("an empty JSON array is not an answer")
    return acc.response()


# --- models -----------------------------------------------------------------------------------
def parse_models(response: HttpResponse) -> list[ModelInfo]:
    """``GET models`` -> model infos; ids without the ``models/`` prefix, every other field
    (``name``, ``displayName``, ``inputTokenLimit``, ``supportedGenerationMethods``...) in
    ``extra``."""
    body = response.json()
    out = []
    for item in body.get("models") or ():
        name = str(item["name"])
        model_id = name.removeprefix("models/")
        out.append(ModelInfo(model_id, None, "google", dict(item)))
    return out


def next_page_token(response: HttpResponse) -> str | None:
    """The ``nextPageToken`` of a model-list page (None on the last page)."""
    body = response.json()
    token = body.get("nextPageToken") if isinstance(body, dict) else None
    return token or None
