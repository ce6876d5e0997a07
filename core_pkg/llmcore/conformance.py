"""The conformance kit: test a provider plugin the way llmcore's own plugins are tested.

Two kinds of checks, both plain functions that raise :class:`AssertionError` with a message
naming the case and what differed (see ``docs/testing-plugins.md``):

- **Replays of recorded exchanges.** :func:`load_cases` reads case files (the JSON format of
  ``tests/corpus/README.md``: the recorded request, the response status, headers and body or
  whole stream text, and the ``expected`` unified result). :class:`Replay` sends each case
  through the real send path (``Client(provider, plugins=...)``: payload building, ``on_payload``
  hooks, authentication, transport, stream framing, the plugin's parsing, accumulation and
  error mapping) against an in-memory endpoint that serves the recorded answer. Streams are
  served in seeded random fragments and one byte at a time, and read both as chunks and as
  events.
- **Contract checks** that need no recording (:func:`contract_checks`): a cancel keeps the
  partial answer, a truncated stream is a :class:`~llmcore.StreamInterruptedError`, error
  responses become typed errors scrubbed of the API key, ``on_payload`` hooks see the request the
  plugin built, and ``build_payload`` returns an absolute URL without credentials. They are
  driven by a :class:`ProtocolSample`: two or three small functions that write bodies in the
  plugin's wire format.

Every check is also available as a :class:`Check` (a name and a callable), so a test module can
parametrize over them::

    @pytest.mark.parametrize("check", replay.checks(cases), ids=str)
    def test_recorded(check):
        check()
"""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import random
import threading
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import attrs

from llmcore import events as ev
from llmcore._repr import attrs_repr
from llmcore.cancel import CancelHandle
from llmcore.chat import ChatCompletionRequest, ChatCompletionResponse, StopReason
from llmcore.client import Client
from llmcore.errors import (
    _BY_STATUS,  # the core's own status table, one place for both
    AuthenticationError,
    LlmError,
    MalformedResponseError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from llmcore.http import SECRET_HEADERS, HttpRequest
from llmcore.messages import Message, ToolCall
from llmcore.options import ConnectionOptions
from llmcore.plugins import APIS_GROUP, PROVIDERS_GROUP, Plugins, declared_apis, get_plugins
from llmcore.providers import Provider
from llmcore.stream import ChatStream
from llmcore.transport import MemoryResponse, register_memory_scheme

__all__ = [
    "CANARY_KEY",
    "MODES",
    "STATUS_CLASSES",
    "Check",
    "ProtocolSample",
    "RecordedCase",
    "Replay",
    "assert_error_matches",
    "assert_events_match",
    "assert_response_matches",
    "check_build_payload",
    "check_cancel_keeps_partial",
    "check_declarations",
    "check_errors_typed_and_scrubbed",
    "check_on_payload",
    "check_sample_round_trip",
    "check_truncated_stream",
    "contract_checks",
    "load_cases",
    "one_byte",
    "random_fragments",
    "run_contract_checks",
]

CANARY_KEY = "llmcore-conformance-canary-key-5f1d9c0a7e3b"
"""The API key every kit client uses; it must never appear in an error, a repr or a traceback."""

SCHEME = "llmcore-conformance"
"""The in-memory URL scheme the kit's endpoints live under (one host per replay)."""

MODES = ("fragments-chunks", "fragments-events", "bytes-chunks", "bytes-events")
"""How a streamed case is replayed: served in seeded random fragments or one byte at a time,
read through the chunk view (iterating the stream) or the event view (``stream.events()``)."""

WHOLE_MODES = ("whole",)
ERROR_MODES = ("whole", "stream-call")

STATUS_CLASSES: dict[int, type[LlmError]] = dict(_BY_STATUS)
"""The error class an HTTP status maps to when a case names no ``class`` (other 5xx:
:class:`~llmcore.ServerError`). The class must match exactly, not as a subclass."""

_USAGE_FIELDS = {
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "cached_input_tokens": "cached_tokens",
    "reasoning_tokens": "reasoning_tokens",
    "cache_creation_input_tokens": "cache_write_tokens",
}
_STREAM_TYPES = ("text/event-stream", "application/x-ndjson", "application/jsonl")
_CASE_KEYS = ("request", "response", "expected")


# --- recorded cases ---------------------------------------------------------------------------
@attrs_repr
@attrs.frozen(repr=False)
class RecordedCase:
    """One recorded exchange: ``id`` (its file path relative to the folder) and its ``data``."""

    id: str
    data: Mapping[str, Any] = attrs.field(repr=False)

    @classmethod
    def from_file(cls, path: str | Path, *, root: str | Path | None = None) -> RecordedCase:
        """Load ``path``; ``id`` is the path relative to ``root`` (default: the file name)."""
        file = Path(path)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise AssertionError(f"{file}: not a JSON case file: {exc}") from exc
        name = file.relative_to(root).as_posix() if root is not None else file.name
        return cls.from_dict(name, data)

    @classmethod
    def from_dict(cls, id: str, data: Mapping[str, Any]) -> RecordedCase:
        """A case from its parsed JSON; raises AssertionError when a required part is missing."""
        if not isinstance(data, Mapping):
            raise AssertionError(f"{id}: a case file holds a JSON object")
        missing = [k for k in _CASE_KEYS if not isinstance(data.get(k), Mapping)]
        if missing:
            raise AssertionError(f"{id}: the case has no {', '.join(missing)} object")
        response = data["response"]
        if not isinstance(response.get("status"), int) or not isinstance(response.get("body"), str):
            raise AssertionError(f"{id}: response needs an integer status and a string body")
        if not isinstance(data["request"].get("url"), str):
            raise AssertionError(f"{id}: request needs a url")
        return cls(id, data)

    def with_expected(self, **changes: Any) -> RecordedCase:
        """A copy whose ``expected`` has some keys replaced."""
        return RecordedCase(self.id, {**self.data, "expected": {**self.expected, **changes}})

    @property
    def wire(self) -> str | None:
        """The case's ``wire`` (protocol name), if recorded."""
        wire = self.data.get("wire")
        return wire if isinstance(wire, str) else None

    @property
    def request(self) -> Mapping[str, Any]:
        """The recorded request: ``method``, ``url``, ``headers``, ``json``."""
        value: Mapping[str, Any] = self.data["request"]
        return value

    @property
    def response(self) -> Mapping[str, Any]:
        """The recorded response: ``status``, ``headers``, ``body`` (text)."""
        value: Mapping[str, Any] = self.data["response"]
        return value

    @property
    def expected(self) -> Mapping[str, Any]:
        """The expected unified result."""
        value: Mapping[str, Any] = self.data["expected"]
        return value

    @property
    def headers(self) -> dict[str, str]:
        """The recorded response headers, names lower-cased."""
        raw = self.response.get("headers") or {}
        return {str(k).lower(): str(v) for k, v in raw.items()}

    @property
    def content_type(self) -> str:
        """The response media type, lower-cased, without parameters."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def is_models(self) -> bool:
        """A list-models case (``expected.models``)."""
        return "models" in self.expected

    @property
    def is_http_error(self) -> bool:
        """An HTTP error answer (status >= 400)."""
        return int(self.response["status"]) >= 400

    @property
    def is_stream(self) -> bool:
        """A streamed answer: ``"stream": true`` in the case, or a stream content type."""
        flag = self.data.get("stream")
        if isinstance(flag, bool):
            return flag
        return self.content_type in _STREAM_TYPES

    @property
    def in_stream_error(self) -> bool:
        """An error delivered inside a 200 stream (``expected.error.in_stream``)."""
        error = self.expected.get("error")
        return isinstance(error, Mapping) and bool(error.get("in_stream"))

    @property
    def modes(self) -> tuple[str, ...]:
        """The replay modes that apply: :data:`MODES` for streams, ``whole`` (and
        ``stream-call`` for HTTP errors) otherwise."""
        if self.is_stream and not self.is_http_error:
            return MODES
        if self.is_http_error:
            return ERROR_MODES
        return WHOLE_MODES

    @property
    def seed(self) -> int:
        """The fragment seed: a checksum of ``id`` (the same every run)."""
        return zlib.crc32(self.id.encode("utf-8"))

    def body(self) -> bytes:
        """The response body as UTF-8 bytes."""
        return str(self.response["body"]).encode("utf-8")


def load_cases(
    source: str | Path | Iterable[str | Path], *, wire: str | None = None
) -> list[RecordedCase]:
    """The cases of a folder (every ``*.json`` below it except ``INDEX.json``, ids relative to
    it, sorted) or of a list of files. ``wire`` keeps only cases with that ``wire``. Raises
    AssertionError for a file that is not a case and for an empty result."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        root = Path(source)
        files = sorted(p for p in root.rglob("*.json") if p.name != "INDEX.json")
        cases = [RecordedCase.from_file(p, root=root) for p in files]
    elif isinstance(source, (str, Path)):
        cases = [RecordedCase.from_file(source)]
    else:
        cases = [RecordedCase.from_file(p) for p in source]
    if wire is not None:
        cases = [c for c in cases if c.wire == wire]
    if not cases:
        raise AssertionError(
            f"no case files in {source!s}" + (f" for wire {wire!r}" if wire else "")
        )
    return sorted(cases, key=lambda c: c.id)


# --- the in-memory endpoint -------------------------------------------------------------------
def random_fragments(body: bytes, seed: int, *, largest: int = 64) -> list[bytes]:
    """``body`` cut into pieces of 1 to ``largest`` bytes, the cuts drawn from ``seed``."""
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(body):
        size = rng.randint(1, largest)
        out.append(body[pos : pos + size])
        pos += size
    return out


def one_byte(body: bytes) -> list[bytes]:
    """``body`` one byte per piece."""
    return [body[i : i + 1] for i in range(len(body))]


@attrs_repr
@attrs.frozen(repr=False)
class _Reply:
    status: int
    headers: dict[str, str]
    pieces: list[bytes]
    reset_after: int | None = None  # raise ConnectionResetError after this many pieces


class _Endpoint:
    """One replay's in-memory server: ``llmcore-conformance://run-N``."""

    def __init__(self) -> None:
        self.host = f"run-{next(_hosts)}"
        self.requests: list[HttpRequest] = []
        self.replies: list[_Reply] = []
        self.served = 0  # body pieces handed out (for cancel checks)

    def base_url(self, path: str) -> str:
        return f"{SCHEME}://{self.host}{path}"

    def __enter__(self) -> _Endpoint:
        with _lock:
            _endpoints[self.host] = self
        return self

    def __exit__(self, *exc_info: object) -> None:
        with _lock:
            _endpoints.pop(self.host, None)

    def answer(self, request: HttpRequest, cancel: CancelHandle | None) -> MemoryResponse:
        self.requests.append(request)
        if not self.replies:
            body = b'{"error": {"message": "conformance kit: no reply scripted for this request"}}'
            return MemoryResponse(500, {"content-type": "application/json"}, [body])
        reply = self.replies.pop(0)
        return MemoryResponse(reply.status, reply.headers, self._pieces(reply))

    def _pieces(self, reply: _Reply) -> Iterator[bytes]:
        for n, piece in enumerate(reply.pieces):
            if reply.reset_after is not None and n >= reply.reset_after:
                raise ConnectionResetError("conformance kit: connection reset as scripted")
            self.served += 1
            yield piece


_hosts = itertools.count(1)
_lock = threading.Lock()
_endpoints: dict[str, _Endpoint] = {}


def _serve(request: HttpRequest, cancel: CancelHandle | None) -> MemoryResponse:
    with _lock:
        endpoint = _endpoints.get(urlsplit(request.url).netloc)
    if endpoint is None:
        body = b'{"error": {"message": "conformance kit: no replay runs at this address"}}'
        return MemoryResponse(404, {"content-type": "application/json"}, [body])
    return endpoint.answer(request, cancel)


register_memory_scheme(SCHEME, _serve)


def _client(provider: Provider, endpoint: _Endpoint, plugins: Plugins, **kwargs: Any) -> Client:
    """A client for ``provider`` moved onto ``endpoint`` (its base URL path kept)."""
    path = urlsplit(provider.base_url).path.rstrip("/")
    return Client(
        provider,
        base_url=endpoint.base_url(path),  # explicit: the provider's base_url_env must not win
        api_key=CANARY_KEY,
        options=ConnectionOptions(max_retries=0),
        plugins=plugins,
        **kwargs,
    )


def _fail(where: str, what: str) -> AssertionError:
    return AssertionError(f"{where}: {what}" if where else what)


def _eq(where: str, what: str, got: Any, want: Any) -> None:
    if got != want:
        raise _fail(where, f"{what}: got {got!r}, expected {want!r}")


# --- comparing results with ``expected`` --------------------------------------------------------
def _calls(calls: Iterable[ToolCall]) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]


def _need(where: str, expected: Mapping[str, Any], *keys: str) -> None:
    missing = [k for k in keys if k not in expected]
    if missing:
        raise _fail(where, f"expected lacks {', '.join(missing)} (required for an answer)")


def _want_stop(
    where: str, expected: Mapping[str, Any], stop_reasons: Mapping[str, StopReason] | None
) -> StopReason:
    if expected.get("stop_reason") is not None:
        return StopReason(expected["stop_reason"])
    raw = expected["finish_reason"]
    if stop_reasons is not None and raw in stop_reasons:
        return stop_reasons[raw]
    if raw is None and expected["tool_calls"]:
        return StopReason.TOOL_USE
    raise _fail(
        where,
        f"no unified stop reason for finish_reason {raw!r}: give expected.stop_reason or a "
        "stop_reasons table",
    )


def assert_response_matches(
    response: ChatCompletionResponse,
    expected: Mapping[str, Any],
    *,
    stop_reasons: Mapping[str, StopReason] | None = None,
    where: str = "",
) -> None:
    """``response`` carries the ``expected`` text, reasoning, tool calls, finish and stop
    reason, model (when given) and usage (``usage_normalised``; absent or null: no usage)."""
    _need(where, expected, "text", "reasoning", "tool_calls", "finish_reason")
    message = response.message
    _eq(where, "text", message.text() or None, expected["text"])
    _eq(where, "reasoning", message.reasoning_any(), expected["reasoning"])
    _eq(where, "tool calls", _calls(message.tool_calls), list(expected["tool_calls"]))
    _eq(where, "finish_reason", response.finish_reason, expected["finish_reason"])
    want = _want_stop(where, expected, stop_reasons)
    if response.stop_reason is not want:
        raise _fail(where, f"stop reason: got {response.stop_reason!r}, expected {want!r}")
    if "model" in expected:
        _eq(where, "model", response.model, expected["model"])
    normalised = expected.get("usage_normalised")
    if normalised is None:
        _eq(where, "usage", response.usage, None)
    else:
        if response.usage is None:
            raise _fail(where, f"usage: got None, expected {normalised!r}")
        unknown = set(normalised) - set(_USAGE_FIELDS)
        if unknown:
            raise _fail(where, f"usage_normalised has unknown keys {sorted(unknown)}")
        got = {k: getattr(response.usage, _USAGE_FIELDS[k]) for k in normalised}
        _eq(where, "usage", got, dict(normalised))


def _error_class(where: str, expected: Mapping[str, Any]) -> type[LlmError] | None:
    name = expected.get("class")
    if name is not None:
        import llmcore

        cls = getattr(llmcore, str(name), None)
        if not (isinstance(cls, type) and issubclass(cls, LlmError)):
            raise _fail(where, f"expected.error.class {name!r} is not an llmcore error class")
        return cls
    status = expected.get("status")
    if expected.get("in_stream") or not isinstance(status, int):
        return None
    return STATUS_CLASSES.get(status, ServerError if status >= 500 else LlmError)


def assert_error_matches(err: LlmError, expected: Mapping[str, Any], *, where: str = "") -> None:
    """``err`` has the expected class (``class`` by name, else :data:`STATUS_CLASSES` for
    HTTP errors), ``message``, ``code`` (when given) and, for HTTP errors, ``status``."""
    cls = _error_class(where, expected)
    if cls is not None and type(err) is not cls:
        raise _fail(where, f"error class: got {err!r}, expected {cls.__name__}")
    if "message" not in expected:
        raise _fail(where, "expected.error lacks message")
    _eq(where, "error message", err.message, expected["message"])
    if expected.get("code") is not None:
        _eq(where, "error code", err.code, str(expected["code"]))
    if not expected.get("in_stream") and "status" in expected:
        _eq(where, "error status", err.status, expected["status"])


def _assert_stream_error(
    err: LlmError, stream: ChatStream, expected: Mapping[str, Any], where: str
) -> None:
    if isinstance(err, (StreamInterruptedError, MalformedResponseError)):
        raise _fail(where, f"an error frame became {err!r}, not the provider's error")
    assert_error_matches(err, expected, where=where)
    if not isinstance(err.partial, ChatCompletionResponse):
        raise _fail(where, f"the in-stream error carries no partial answer: {err.partial!r}")
    if err.partial.stop_reason is not StopReason.ERROR:
        raise _fail(where, f"partial stop reason {err.partial.stop_reason!r}, expected error")
    if stream.error is not err:
        raise _fail(where, "stream.error is not the raised error")


def _blocks(events: Sequence[ev.StreamEvent], where: str) -> dict[int, list[ev.StreamEvent]]:
    """Events by content index, checking each block is start, deltas, end of one kind."""
    kinds = {
        ev.TextStartEvent: "text",
        ev.TextDeltaEvent: "text",
        ev.TextEndEvent: "text",
        ev.ThinkingStartEvent: "thinking",
        ev.ThinkingDeltaEvent: "thinking",
        ev.ThinkingEndEvent: "thinking",
        ev.ToolCallStartEvent: "tool_call",
        ev.ToolCallDeltaEvent: "tool_call",
        ev.ToolCallEndEvent: "tool_call",
    }
    starts = (ev.TextStartEvent, ev.ThinkingStartEvent, ev.ToolCallStartEvent)
    ends = (ev.TextEndEvent, ev.ThinkingEndEvent, ev.ToolCallEndEvent)
    blocks: dict[int, list[ev.StreamEvent]] = {}
    closed: set[int] = set()
    for e in events[1:-1]:
        kind = kinds.get(type(e))
        if kind is None:
            raise _fail(where, f"unexpected event inside the stream: {e!r}")
        index: int = e.content_index  # type: ignore[union-attr]
        seen = blocks.setdefault(index, [])
        if index in closed:
            raise _fail(where, f"event after the end of block {index}: {e!r}")
        if not seen and not isinstance(e, starts):
            raise _fail(where, f"block {index} does not begin with a start event: {e!r}")
        if seen and isinstance(e, starts):
            raise _fail(where, f"block {index} starts twice")
        if seen and kinds[type(seen[0])] != kind:
            raise _fail(where, f"block {index} mixes {kinds[type(seen[0])]} and {kind} events")
        seen.append(e)
        if isinstance(e, ends):
            closed.add(index)
    unclosed = sorted(set(blocks) - closed)
    if unclosed:
        raise _fail(where, f"blocks {unclosed} never end")
    return blocks


def assert_events_match(
    events: Sequence[ev.StreamEvent],
    stream: ChatStream,
    expected: Mapping[str, Any],
    *,
    stop_reasons: Mapping[str, StopReason] | None = None,
    where: str = "",
) -> None:
    """The event view of ``stream`` is well formed and reassembles ``expected``.

    A start event first; every block a start, deltas and an end of one kind; text and thinking
    deltas join to each block's end content and to the expected text and reasoning; tool-call
    ends are the expected calls and each call's last partial arguments are its final ones; the
    last event is a done event carrying ``stream.response`` (an error event carrying
    ``stream.error`` for ``expected.error``).
    """
    if not events or not isinstance(events[0], ev.StartEvent):
        raise _fail(where, f"the event view does not begin with a start event: {events[:1]!r}")
    last = events[-1]
    blocks = _blocks(events, where)
    response = stream.response
    error = expected.get("error")
    if isinstance(error, Mapping):
        if not isinstance(last, ev.ErrorEvent):
            raise _fail(where, f"an error stream ends with {last!r}, not an error event")
        if last.reason is not StopReason.ERROR or last.error is not stream.error:
            raise _fail(where, f"error event {last!r} does not carry the stream's error")
        if last.error is None:
            raise _fail(where, "the error event carries no error")
        assert_error_matches(last.error, error, where=where)
        return
    if not isinstance(last, ev.DoneEvent):
        raise _fail(where, f"the event view ends with {last!r}, not a done event")
    if last.response != response or last.message != response.message:
        raise _fail(where, "the done event's response is not the stream's accumulated answer")
    if last.reason is not response.stop_reason:
        raise _fail(where, f"done reason {last.reason!r} != {response.stop_reason!r}")
    assert_response_matches(last.response, expected, stop_reasons=stop_reasons, where=where)

    texts: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    for index, block in sorted(blocks.items(), key=lambda kv: events.index(kv[1][0])):
        end = block[-1]
        deltas = block[1:-1]
        if isinstance(end, ev.TextEndEvent):
            joined = "".join(d.delta for d in deltas if isinstance(d, ev.TextDeltaEvent))
            _eq(where, f"text block {index} end content", end.content, joined)
            texts.append(joined)
        elif isinstance(end, ev.ThinkingEndEvent):
            joined = "".join(d.delta for d in deltas if isinstance(d, ev.ThinkingDeltaEvent))
            _eq(where, f"thinking block {index} end content", end.content, joined)
            thinking.append(joined)
        elif isinstance(end, ev.ToolCallEndEvent):
            calls.append(end.tool_call)
            partials = [d.partial for d in deltas if isinstance(d, ev.ToolCallDeltaEvent)]
            for p in partials:
                if p is not None and not isinstance(p, dict):
                    raise _fail(where, f"tool call {index}: partial arguments {p!r}")
            if partials:
                _eq(
                    where,
                    f"tool call {index} last partial",
                    partials[-1] or {},
                    end.tool_call.arguments,
                )
    _eq(where, "text from text deltas", "".join(texts) or None, expected["text"])
    _eq(where, "reasoning from thinking deltas", "".join(thinking) or None, expected["reasoning"])
    _eq(where, "tool calls from tool-call ends", _calls(calls), list(expected["tool_calls"]))


# --- replaying recorded cases -----------------------------------------------------------------
RequestFor = Callable[[RecordedCase], ChatCompletionRequest]
CheckRequest = Callable[[RecordedCase, HttpRequest], None]


def _default_request(case: RecordedCase) -> ChatCompletionRequest:
    recorded = case.request.get("json")
    model = recorded.get("model") if isinstance(recorded, Mapping) else None
    model = model or case.expected.get("model") or "conformance-model"
    return ChatCompletionRequest(str(model), [Message.user("hi")])


@attrs_repr
@attrs.frozen(repr=False)
class Check:
    """One named check; calling it runs it (AssertionError on failure)."""

    name: str
    run: Callable[[], None] = attrs.field(repr=False)

    def __call__(self) -> None:
        self.run()

    def __str__(self) -> str:
        return self.name


@attrs_repr
@attrs.frozen(repr=False)
class Replay:
    """Replays recorded cases through ``Client(provider, plugins=...)``.

    - ``provider``: the :class:`~llmcore.Provider`, or a function of the case returning one (for
      a corpus recorded against several hosts). Its base URL's path is kept; scheme and host
      are replaced by an in-memory endpoint that serves the recorded response.
    - ``plugins``: the registry holding the plugin (default: the installed plugins).
    - ``request_for``: builds the :class:`~llmcore.ChatCompletionRequest` sent for a case
      (default: the recorded ``request.json.model`` and one user message ``"hi"``).
    - ``check_request``: called with the case and the request the endpoint received (after
      ``on_payload`` hooks and authentication), to compare it with the recorded one.
    - ``stop_reasons``: raw finish reason -> unified stop reason, for cases without
      ``expected.stop_reason``.
    - ``check_response`` / ``check_error``: extra protocol-specific checks of a result.
    """

    provider: Provider | Callable[[RecordedCase], Provider]
    plugins: Plugins | None = None
    request_for: RequestFor = _default_request
    check_request: CheckRequest | None = None
    stop_reasons: Mapping[str, StopReason] | None = None
    check_response: Callable[[RecordedCase, ChatCompletionResponse], None] | None = None
    check_error: Callable[[RecordedCase, LlmError], None] | None = None

    def checks(self, cases: Iterable[RecordedCase]) -> list[Check]:
        """One :class:`Check` per case and applicable mode, named ``<case id>[<mode>]``."""
        out = []
        for case in cases:
            for mode in case.modes:
                out.append(Check(f"{case.id}[{mode}]", _bind(self.replay, case, mode)))
        return out

    def replay_all(self, cases: Iterable[RecordedCase]) -> int:
        """Run every check of :meth:`checks`; returns how many ran."""
        checks = self.checks(cases)
        for check in checks:
            check()
        return len(checks)

    def _provider(self, case: RecordedCase) -> Provider:
        return self.provider if isinstance(self.provider, Provider) else self.provider(case)

    def replay(self, case: RecordedCase, mode: str) -> None:
        """Replay ``case`` in ``mode`` (one of ``case.modes``) and compare with ``expected``."""
        if mode not in case.modes:
            raise ValueError(f"{case.id}: mode {mode!r} does not apply (use one of {case.modes})")
        where = f"{case.id}[{mode}]"
        body = case.body()
        if mode.startswith("bytes"):
            pieces = one_byte(body)
        elif mode.startswith("fragments"):
            pieces = random_fragments(body, case.seed + (1 if mode.endswith("events") else 0))
        else:
            pieces = random_fragments(body, case.seed, largest=4096)
        plugins = self.plugins or get_plugins()
        request = self.request_for(case)
        with _Endpoint() as endpoint:
            endpoint.replies.append(_Reply(int(case.response["status"]), case.headers, pieces))
            with _client(self._provider(case), endpoint, plugins) as client:
                self._run(case, mode, where, client, request)
            self._check_sent(case, where, endpoint)

    def _run(
        self,
        case: RecordedCase,
        mode: str,
        where: str,
        client: Client,
        request: ChatCompletionRequest,
    ) -> None:
        expected = case.expected
        if case.is_models:
            got = [m.id for m in client.list_models()]
            _eq(where, "model ids", got, list(expected["models"]))
        elif case.is_http_error:
            self._run_http_error(case, mode, where, client, request)
        elif not case.is_stream:
            response = client.chat_completion(request)
            assert_response_matches(response, expected, stop_reasons=self.stop_reasons, where=where)
            if self.check_response is not None:
                self.check_response(case, response)
        elif mode.endswith("events"):
            stream = client.chat_completion_stream(request)
            events = list(stream.events())
            assert_events_match(
                events, stream, expected, stop_reasons=self.stop_reasons, where=where
            )
            self._extra(case, stream)
        else:
            self._run_chunks(case, where, client, request)

    def _run_http_error(
        self,
        case: RecordedCase,
        mode: str,
        where: str,
        client: Client,
        request: ChatCompletionRequest,
    ) -> None:
        expected = case.expected.get("error")
        if not isinstance(expected, Mapping):
            raise _fail(where, "an HTTP error case needs expected.error")
        try:
            if mode == "stream-call":
                client.chat_completion_stream(request)
            else:
                client.chat_completion(request)
        except LlmError as err:
            assert_error_matches(err, expected, where=where)
            if self.check_error is not None:
                self.check_error(case, err)
            rid = case.headers.get("x-request-id") or case.headers.get("request-id")
            if rid is not None:
                _eq(where, "request_id", err.request_id, rid)
            return
        raise _fail(where, "no error was raised")

    def _run_chunks(
        self, case: RecordedCase, where: str, client: Client, request: ChatCompletionRequest
    ) -> None:
        expected = case.expected
        stream = client.chat_completion_stream(request)
        texts: list[str] = []
        if case.in_stream_error:
            try:
                for chunk in stream:
                    texts.append(chunk.text() or "")
            except LlmError as err:
                _assert_stream_error(err, stream, expected["error"], where)
                if self.check_error is not None:
                    self.check_error(case, err)
                return
            raise _fail(where, "the stream ended without raising the recorded error")
        for chunk in stream:
            texts.append(chunk.text() or "")
        if stream.error is not None:
            raise _fail(where, f"stream.error is {stream.error!r}")
        assert_response_matches(
            stream.response, expected, stop_reasons=self.stop_reasons, where=where
        )
        _eq(where, "text of the chunks", "".join(texts), expected["text"] or "")
        self._extra(case, stream)

    def _extra(self, case: RecordedCase, stream: ChatStream) -> None:
        if self.check_error is not None and stream.error is not None:
            self.check_error(case, stream.error)
        if self.check_response is not None and stream.error is None:
            self.check_response(case, stream.response)

    def _check_sent(self, case: RecordedCase, where: str, endpoint: _Endpoint) -> None:
        if len(endpoint.requests) != 1:
            raise _fail(where, f"{len(endpoint.requests)} requests were sent, expected 1")
        sent = endpoint.requests[0]
        recorded = case.request
        if "method" in recorded:
            _eq(where, "request method", sent.method.upper(), str(recorded["method"]).upper())
        recorded_path = urlsplit(str(recorded["url"]).split("#", 1)[0]).path
        _eq(where, "request path", urlsplit(sent.url).path, recorded_path)
        if self.check_request is not None:
            self.check_request(case, sent)


def _bind(fn: Callable[..., None], *args: Any) -> Callable[[], None]:
    def run() -> None:
        fn(*args)

    return run


# --- contract checks --------------------------------------------------------------------------
class StreamBody(Protocol):
    """Writes a complete stream body: one text delta per piece, then (``finished``) the frames
    that end the answer: the finish reason and the terminal frame."""

    def __call__(self, pieces: Sequence[str], *, finished: bool = True) -> bytes: ...


def default_error_body(status: int, message: str) -> bytes:
    """``{"error": {"message": ..., "type": ...}}``, the shape the core's default
    ``parse_error`` reads."""
    return json.dumps({"error": {"message": message, "type": f"http_{status}"}}).encode()


@attrs_repr
@attrs.frozen(repr=False)
class ProtocolSample:
    """What the contract checks need to know about a wire format.

    - ``stream_body(pieces, finished=True)``: a whole stream body whose answer is the text
      ``"".join(pieces)``, one delta per piece, ending normally with finish reason "stop"
      (``finished=False``: the same body without the frames that finish it);
    - ``response_body(text)``: a whole non-streamed answer with that text, finished normally;
    - ``error_body(status, message)``: an error body carrying ``message`` (default: the
      ``{"error": {"message": ...}}`` shape the core reads);
    - ``model``: the model id to request; ``stream_content_type`` / ``content_type``: the media
      types served with stream and whole bodies.
    """

    stream_body: StreamBody
    response_body: Callable[[str], bytes]
    error_body: Callable[[int, str], bytes] = default_error_body
    model: str = "conformance-model"
    stream_content_type: str = "text/event-stream"
    content_type: str = "application/json"

    def request(self) -> ChatCompletionRequest:
        """The request the checks send."""
        return ChatCompletionRequest(self.model, [Message.user("Say hello.")])


_PIECES = tuple(f"word{i} " for i in range(40))


def _registry(plugins: Plugins | None) -> Plugins:
    return plugins or get_plugins()


def _stream_reply(
    sample: ProtocolSample,
    pieces: Sequence[str],
    *,
    finished: bool = True,
    size: int = 8,
    reset_after: int | None = None,
) -> _Reply:
    body = sample.stream_body(list(pieces), finished=finished)
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return _Reply(200, {"content-type": sample.stream_content_type}, chunks, reset_after)


def _whole_reply(sample: ProtocolSample, text: str) -> _Reply:
    return _Reply(200, {"content-type": sample.content_type}, [sample.response_body(text)])


def check_build_payload(
    provider: Provider, sample: ProtocolSample, *, plugins: Plugins | None = None
) -> None:
    """``build_payload`` returns an :class:`~llmcore.HttpRequest` with an absolute URL on the
    provider's host, a known stream format and no credential (authentication is the core's
    job), for streamed and whole requests."""
    registry = _registry(plugins)
    base = urlsplit(provider.base_url)
    for stream in (False, True):
        where = f"build_payload(stream={stream})"
        built = registry.build_payload(provider, sample.request(), stream)
        if not isinstance(built, HttpRequest):
            raise _fail(where, f"returned {built!r}, not an HttpRequest")
        url = urlsplit(built.url)
        if not url.scheme or not url.netloc:
            raise _fail(where, f"URL {built.url!r} is not absolute")
        if (url.scheme, url.netloc) != (base.scheme, base.netloc):
            raise _fail(where, f"URL {built.url!r} is not on the provider's host {base.netloc!r}")
        secret = sorted(k for k in built.headers if k.lower() in SECRET_HEADERS)
        if secret:
            raise _fail(
                where,
                f"credential headers {secret} set by the plugin (the core adds "
                "credentials after on_payload hooks)",
            )
        if built.stream_format not in ("sse", "ndjson"):
            raise _fail(where, f"unknown stream_format {built.stream_format!r}")
        if not built.method or built.method.upper() != built.method:
            raise _fail(where, f"method {built.method!r} is not an upper-case HTTP method")


def check_on_payload(
    provider: Provider, sample: ProtocolSample, *, plugins: Plugins | None = None
) -> None:
    """``on_payload`` hooks (the client's, then the call's) see the request the plugin built,
    without credentials; their replacement is what goes out, authenticated by the core."""
    registry = _registry(plugins)
    for stream in (False, True):
        _on_payload_once(provider, sample, registry, stream)


def _on_payload_once(
    provider: Provider, sample: ProtocolSample, registry: Plugins, stream: bool
) -> None:
    where = f"on_payload(stream={stream})"
    seen: list[HttpRequest] = []

    def client_hook(req: HttpRequest, _provider: Provider) -> HttpRequest:
        seen.append(req)
        return req.with_headers({"x-llmcore-conformance": "client"})

    def call_hook(req: HttpRequest, _provider: Provider) -> None:
        seen.append(req)

    with _Endpoint() as endpoint:
        endpoint.replies.append(
            _stream_reply(sample, ["ok"]) if stream else _whole_reply(sample, "ok")
        )
        with _client(provider, endpoint, registry, on_payload=client_hook) as client:
            built = registry.build_payload(client.provider, sample.request(), stream)
            if stream:
                client.chat_completion_stream(sample.request(), on_payload=call_hook).text()
            else:
                client.chat_completion(sample.request(), on_payload=call_hook)
    if len(seen) != 2:
        raise _fail(where, f"the hooks ran {len(seen)} times, expected 2")
    _eq(where, "request seen by the client hook", seen[0], built)
    if seen[1].header("x-llmcore-conformance") != "client":
        raise _fail(where, "the call's hook did not see the client hook's replacement")
    for req in seen:
        _assert_no_credential(where + " hook", req)
    if len(endpoint.requests) != 1:
        raise _fail(where, f"{len(endpoint.requests)} requests sent, expected 1")
    sent = endpoint.requests[0]
    _eq(where, "sent JSON body", sent.json, built.json)
    if sent.header("x-llmcore-conformance") != "client":
        raise _fail(where, "the hook's replacement request was not the one sent")
    _assert_authenticated(where, client.provider, sent)


def _assert_no_credential(where: str, req: HttpRequest) -> None:
    secret = sorted(k for k in req.headers if k.lower() in SECRET_HEADERS)
    if secret:
        raise _fail(where, f"request carries credential headers {secret}")
    if (
        CANARY_KEY in req.url
        or CANARY_KEY in repr(req.params)
        or CANARY_KEY in json.dumps(req.json, default=str)
    ):
        raise _fail(where, "the API key is in the request before authentication")


def _assert_authenticated(where: str, provider: Provider, sent: HttpRequest) -> None:
    carried = CANARY_KEY in " ".join(sent.headers.values()) or CANARY_KEY in " ".join(
        sent.params.values()
    )
    if provider.auth in ("bearer", "x-api-key", "api-key", "query-key") and not carried:
        raise _fail(where, f"the sent request carries no key (auth scheme {provider.auth!r})")


def check_sample_round_trip(
    provider: Provider, sample: ProtocolSample, *, plugins: Plugins | None = None
) -> None:
    """The sample bodies read back as the text they were written with: whole, streamed in
    8-byte and 1-byte pieces (chunk view), and streamed as events. Proves the sample (and the
    plugin's reading of it) right before the other checks rely on it."""
    registry = _registry(plugins)
    text = "".join(_PIECES[:6])
    expected: dict[str, Any] = {
        "text": text,
        "reasoning": None,
        "tool_calls": [],
        "stop_reason": "stop",
    }
    with _Endpoint() as endpoint:
        endpoint.replies.append(_whole_reply(sample, text))
        with _client(provider, endpoint, registry) as client:
            response = client.chat_completion(sample.request())
    for name, value in (("text", response.text()), ("stop reason", response.stop_reason)):
        want = text if name == "text" else StopReason.STOP
        _eq("whole answer from response_body", name, value, want)
    for size in (8, 1):
        for view in ("chunks", "events"):
            where = f"stream_body served in {size}-byte pieces ({view})"
            with _Endpoint() as endpoint:
                endpoint.replies.append(_stream_reply(sample, _PIECES[:6], size=size))
                with _client(provider, endpoint, registry) as client:
                    stream = client.chat_completion_stream(sample.request())
                    if view == "chunks":
                        joined = "".join(c.text() or "" for c in stream)
                        _eq(where, "text of the chunks", joined, text)
                    else:
                        events = list(stream.events())
                        expected_full = {**expected, "finish_reason": stream.response.finish_reason}
                        usage = stream.response.usage  # a sample may report usage, or not
                        if usage is not None:
                            expected_full["usage_normalised"] = {
                                k: getattr(usage, field) for k, field in _USAGE_FIELDS.items()
                            }
                        assert_events_match(events, stream, expected_full, where=where)
            _eq(where, "text", stream.response.text(), text)
            _eq(where, "stop reason", stream.response.stop_reason, StopReason.STOP)
            if stream.error is not None:
                raise _fail(where, f"stream.error is {stream.error!r}")


def check_cancel_keeps_partial(
    provider: Provider, sample: ProtocolSample, *, plugins: Plugins | None = None
) -> None:
    """A cancel after the first text chunk ends the stream without raising, with stop reason
    ``aborted`` and the text received so far (in both views); the rest is never read. A cancel
    before the first read ends it the same way, with no text."""
    registry = _registry(plugins)
    full = "".join(_PIECES)
    for view in ("chunks", "events"):
        where = f"cancel mid-stream ({view})"
        with _Endpoint() as endpoint:
            endpoint.replies.append(_stream_reply(sample, _PIECES))
            total = len(endpoint.replies[0].pieces)
            with _client(provider, endpoint, registry) as client:
                stream = client.chat_completion_stream(sample.request())
                if view == "chunks":
                    for chunk in stream:
                        if chunk.text():
                            stream.cancel()
                else:
                    events = []
                    for event in stream.events():
                        events.append(event)
                        if isinstance(event, ev.TextDeltaEvent):
                            stream.cancel()
                    last = events[-1]
                    if not (isinstance(last, ev.ErrorEvent) and last.reason is StopReason.ABORTED):
                        raise _fail(
                            where, f"the event view ends with {last!r}, not an aborted error event"
                        )
                    if last.response != stream.response:
                        raise _fail(where, "the aborted event does not carry the partial answer")
            partial = stream.response
            _eq(where, "stop reason", partial.stop_reason, StopReason.ABORTED)
            if not partial.text() or not full.startswith(partial.text()) or partial.text() == full:
                raise _fail(
                    where,
                    f"partial text {partial.text()!r} is not a proper prefix of the streamed text",
                )
            if stream.error is not None:
                raise _fail(where, f"a cancel set stream.error to {stream.error!r}")
            if endpoint.served >= total:
                raise _fail(where, "the whole body was read although the stream was cancelled")
    where = "cancel before the first read"
    with _Endpoint() as endpoint:
        endpoint.replies.append(_stream_reply(sample, _PIECES))
        with _client(provider, endpoint, registry) as client:
            stream = client.chat_completion_stream(sample.request())
            stream.cancel()
            chunks = list(stream)
    _eq(where, "chunks after the cancel", [c.text() for c in chunks if c.text()], [])
    _eq(where, "stop reason", stream.response.stop_reason, StopReason.ABORTED)


def check_truncated_stream(
    provider: Provider, sample: ProtocolSample, *, plugins: Plugins | None = None
) -> None:
    """A stream whose body ends before its finishing frames, and one whose connection is reset
    half-way, raise :class:`~llmcore.StreamInterruptedError` with ``partial`` holding the text
    received (stop reason ``error``); the event view ends with an error event instead."""
    registry = _registry(plugins)
    full = "".join(_PIECES)
    body = sample.stream_body(list(_PIECES))
    half = (len(body) // 8) // 2
    variants: dict[str, dict[str, Any]] = {
        "unfinished body": {"finished": False},
        "connection reset": {"reset_after": half},
    }
    for name, knobs in variants.items():
        for view in ("chunks", "events"):
            where = f"truncated stream, {name} ({view})"
            with _Endpoint() as endpoint:
                endpoint.replies.append(_stream_reply(sample, _PIECES, **knobs))
                with _client(provider, endpoint, registry) as client:
                    stream = client.chat_completion_stream(sample.request())
                    err: LlmError | None = None
                    if view == "chunks":
                        try:
                            for _chunk in stream:
                                pass
                        except LlmError as exc:
                            err = exc
                    else:
                        last = list(stream.events())[-1]
                        if not isinstance(last, ev.ErrorEvent):
                            raise _fail(where, f"the event view ends with {last!r}")
                        err = last.error
            if not isinstance(err, StreamInterruptedError):
                raise _fail(where, f"got {err!r}, expected a StreamInterruptedError")
            if stream.error is not err:
                raise _fail(where, "stream.error is not the raised error")
            partial = err.partial
            if not isinstance(partial, ChatCompletionResponse):
                raise _fail(where, f"the error carries no partial answer: {partial!r}")
            _eq(where, "partial stop reason", partial.stop_reason, StopReason.ERROR)
            text = partial.text()
            if name == "unfinished body":
                _eq(where, "partial text", text, full)
            elif not text or not full.startswith(text) or text == full:
                raise _fail(where, f"partial text {text!r} is not a proper prefix")


_ERROR_CASES: tuple[tuple[int, type[LlmError], dict[str, str]], ...] = (
    (401, AuthenticationError, {}),
    (429, RateLimitError, {"retry-after": "7"}),
    (500, ServerError, {}),
)


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [err]
    while todo:
        exc = todo.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        yield exc
        todo += [e for e in (exc.__cause__, exc.__context__) if e is not None]


def _assert_scrubbed(where: str, err: LlmError) -> None:
    texts = {
        "str": str(err),
        "repr": repr(err),
        "args": repr(err.args),
        "message": err.message,
        "body": repr(err.body),
        "traceback": "".join(traceback.format_exception(err)),
    }
    for link in _chain(err):
        texts[f"chained {type(link).__name__}"] = f"{link!s} {link!r} {link.args!r}"
    leaks = sorted(name for name, text in texts.items() if CANARY_KEY in text)
    if leaks:
        raise _fail(where, f"the API key shows in the error's {', '.join(leaks)}")


def check_errors_typed_and_scrubbed(
    provider: Provider, sample: ProtocolSample, *, plugins: Plugins | None = None
) -> None:
    """401, 429 (``Retry-After: 7``) and 500 answers, whose bodies echo the API key, raise
    :class:`~llmcore.AuthenticationError`, :class:`~llmcore.RateLimitError` (``retry_after``
    7) and :class:`~llmcore.ServerError` with status, request id and the provider's message,
    from ``chat_completion`` and ``chat_completion_stream`` alike; the key shows nowhere: not in
    ``str``, ``repr``, ``args``, ``body``, chained causes or ``traceback.format_exception``."""
    registry = _registry(plugins)
    for status, cls, headers in _ERROR_CASES:
        for call in ("chat_completion", "chat_completion_stream"):
            where = f"HTTP {status} from {call}"
            message = f"conformance {status}: the key {CANARY_KEY} was refused"
            reply_headers = {
                "content-type": "application/json",
                "x-request-id": f"req-conformance-{status}",
                **headers,
            }
            with _Endpoint() as endpoint:
                endpoint.replies.append(
                    _Reply(status, reply_headers, [sample.error_body(status, message)])
                )
                with _client(provider, endpoint, registry) as client:
                    try:
                        getattr(client, call)(sample.request())
                    except LlmError as exc:
                        err = exc
                    else:
                        raise _fail(where, "no error was raised")
            if type(err) is not cls:
                raise _fail(where, f"got {err!r}, expected {cls.__name__}")
            _eq(where, "status", err.status, status)
            _eq(where, "request_id", err.request_id, f"req-conformance-{status}")
            if status == 429:
                _eq(where, "retry_after", err.retry_after, 7.0)
            if f"conformance {status}: the key" not in str(err):
                raise _fail(where, f"the provider's message is lost: {err!s}")
            _eq(where, "provider", err.provider, provider.name)
            _eq(where, "requests sent", len(endpoint.requests), 1)
            _assert_scrubbed(where, err)


_CONTRACT = (
    check_build_payload,
    check_sample_round_trip,
    check_on_payload,
    check_cancel_keeps_partial,
    check_truncated_stream,
    check_errors_typed_and_scrubbed,
)


def contract_checks(
    provider: Provider, sample: ProtocolSample, *, plugins: Plugins | None = None
) -> list[Check]:
    """Every contract check for ``provider`` as a :class:`Check` named after its function."""

    def bound(fn: Callable[..., None]) -> Callable[[], None]:
        def run() -> None:
            fn(provider, sample, plugins=plugins)

        return run

    return [Check(fn.__name__, bound(fn)) for fn in _CONTRACT]


def run_contract_checks(
    provider: Provider, sample: ProtocolSample, *, plugins: Plugins | None = None
) -> None:
    """Run every contract check; the first failure raises its AssertionError."""
    for check in contract_checks(provider, sample, plugins=plugins):
        check()


# --- metadata declarations ----------------------------------------------------------------------
def check_declarations(distribution: str) -> None:
    """The providers and APIs ``distribution`` declares in its metadata are the ones its plugin
    really serves.

    llmcore imports a plugin only when a provider or API its distribution declares is used
    (entry-point groups ``llmcore.providers`` and ``llmcore.apis``, next to the ``llmcore``
    entry point; see ``docs/writing-plugins.md``), so a declaration that misses a name makes
    that name unreachable until something loads every plugin. The check imports the plugin of
    each ``llmcore`` entry point of the installed ``distribution`` into a registry of its own
    and compares: the declared provider names with the names it passes to ``register()``, the
    declared API names with its ``LLMCORE_APIS``, and each declaration's value with the plugin
    module of the ``llmcore`` entry point.

    :param distribution: the installed distribution's name (``"llmcore-acme"``).
    :raises AssertionError: the distribution is not installed, has no ``llmcore`` entry point,
        declares nothing, or declares other names than its plugin serves; the message says
        which names are missing or extra.
    """
    where = f"distribution {distribution!r}"
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise _fail(where, "is not installed") from None
    eps = dist.entry_points
    plugin_eps = list(eps.select(group="llmcore"))
    if not plugin_eps:
        raise _fail(where, "has no entry point in the group 'llmcore'")
    declared_providers = list(eps.select(group=PROVIDERS_GROUP))
    declared_api_eps = list(eps.select(group=APIS_GROUP))
    if not declared_providers and not declared_api_eps:
        raise _fail(
            where,
            f"declares no providers or APIs (entry-point groups {PROVIDERS_GROUP!r} and "
            f"{APIS_GROUP!r}), so llmcore must import it whatever provider is used",
        )
    modules = {ep.value for ep in plugin_eps}
    for ep in (*declared_providers, *declared_api_eps):
        if ep.value not in modules:
            raise _fail(
                where,
                f"declares {ep.name!r} in {ep.group!r} as {ep.value!r}, which is not the plugin "
                f"of its 'llmcore' entry point ({', '.join(sorted(modules))})",
            )
    registry = Plugins(load_entrypoints=False)
    apis: set[str] = set()
    for ep in plugin_eps:
        plugin = ep.load()
        registry.register(plugin, name=ep.name)
        apis |= declared_apis(plugin) or set()
    providers = set(registry.providers())
    _same(where, PROVIDERS_GROUP, "registers", {ep.name for ep in declared_providers}, providers)
    _same(where, APIS_GROUP, "lists in LLMCORE_APIS", {ep.name for ep in declared_api_eps}, apis)


def _same(where: str, group: str, verb: str, declared: set[str], real: set[str]) -> None:
    if declared == real:
        return
    parts = []
    if real - declared:
        parts.append(f"its plugin {verb} {sorted(real - declared)} but {group!r} lacks them")
    if declared - real:
        parts.append(f"{group!r} declares {sorted(declared - real)} but its plugin does not")
    raise _fail(where, "; ".join(parts))
