"""Every recorded ``ollama-native`` exchange in the corpus, replayed through the real client.

**Chat cases** (``/api/chat``) go through the conformance kit's
:class:`~llmcore.conformance.Replay`: the real send path (payload building, ``on_payload``
hooks, transport, NDJSON framing, the plugin's parsing, accumulation and error mapping)
against an in-memory endpoint serving the recorded bytes; streams in seeded random fragments
and one byte at a time, each read as chunks and as events; whole answers once. Each result
must equal the case's ``expected`` block, which the official Ollama SDK computed from the same
bytes: text, reasoning, tool calls, finish and stop reason, model and usage.

**Generate cases** (``/api/generate``) are not chat: ``Replay`` sends a
:class:`~llmcore.ChatCompletionRequest` through ``chat_completion``, which cannot reach
``/api/generate``. They are replayed here through the plugin's extension instead
(``client.as_ollama().generate(...)`` / ``generate_stream(...)``), in the same modes the kit
uses (the kit's ``random_fragments`` with the case's seed, ``one_byte``, chunk view and event
view, ``whole``), served by an in-memory endpoint of this module, and compared with
``expected`` by the kit's own :func:`~llmcore.conformance.assert_response_matches` and
:func:`~llmcore.conformance.assert_events_match`.

What stays plugin-specific, for both kinds: the recorded request is rebuilt from llmcore types
(or from the generate fields) and the payload llmcore sends must carry the same model, prompt,
messages, tools and options; the recorded answer's unmodelled fields (``created_at``,
``context``, the timings) must be in the response's and the usage's ``provider_data``; the
usage total; and, over a real socket (the loopback server), the streams one byte per TCP send
and ``chat_stream_ollama`` yielding the recorded lines. ``test_every_case_is_replayed`` fails
when a case of the wire appears that neither replay covers.

The kit's contract checks (cancel, truncation, typed and scrubbed errors, ``on_payload``,
``build_payload``) run on the ``ollama`` provider with an Ollama NDJSON protocol sample.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from corpus import CORPUS, cases_by_wire
from loopback import LoopbackServer, Reply

import llmcore
import llmcore_ollama
from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    HttpRequest,
    Message,
    Role,
    Tool,
    ToolCall,
)
from llmcore import conformance as kit
from llmcore.cancel import CancelHandle
from llmcore.transport import MemoryResponse, register_memory_scheme
from llmcore_ollama import OLLAMA
from llmcore_ollama.generate import GENERATE_KEYS
from llmcore_ollama.parse import CHAT_KEYS, STOP_REASONS, parse_created

WIRE = "ollama-native"
KIT_CASES = kit.load_cases(CORPUS, wire=WIRE)


def _path(case: kit.RecordedCase) -> str:
    return urlsplit(str(case.request["url"])).path


CHAT = [c for c in KIT_CASES if _path(c) == "/api/chat"]
GENERATE = [c for c in KIT_CASES if _path(c) == "/api/generate"]

# Keys llmcore sends that the recording client (ollama-python) left out: ids of tool calls and
# results, the tool name of a result.
_OURS = {"id", "tool_call_id", "tool_name"}
# Fields the recording client always sent with their defaults; llmcore leaves a default out:
# absent and empty are the same to the server.
_DEFAULTED = ("format", "options", "keep_alive", "system", "template", "context", "raw",
              "images", "suffix", "think")


# --- recorded chat request -> llmcore request ---------------------------------------------------
def _message(raw: dict[str, Any], index: int) -> Message:
    role = raw["role"]
    if role == "system":
        return Message.system(raw["content"])
    if role == "user":
        assert not raw.get("images"), "no recorded case sends images"
        return Message.user(raw["content"])
    if role == "assistant":
        calls = [
            ToolCall(c.get("id") or f"call_{index}_{i}", c["function"]["name"],
                     c["function"]["arguments"])
            for i, c in enumerate(raw.get("tool_calls") or ())
        ]
        return Message(Role.ASSISTANT, raw.get("content") or "", tool_calls=calls,
                       reasoning=raw.get("thinking") or None)
    if role == "tool":
        return Message.tool(raw.get("tool_call_id") or f"call_{index - 1}_0", raw["content"],
                            name=raw.get("tool_name"))
    raise AssertionError(f"role {role!r}")


def rebuild_request(case: kit.RecordedCase) -> ChatCompletionRequest:
    recorded = case.request["json"]
    messages = [_message(m, i) for i, m in enumerate(recorded["messages"])]
    tools = [Tool(t["function"]["name"], t["function"].get("description"),
                  t["function"]["parameters"]) for t in recorded.get("tools") or ()]
    return ChatCompletionRequest(recorded["model"], messages, tools=tools or None)


def _without_ours(sent: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """``sent`` without the keys llmcore adds where the recording had none."""
    out = {k: v for k, v in sent.items() if not (k in _OURS and k not in recorded)}
    if "tool_calls" in out:
        out["tool_calls"] = [
            _without_ours(c, r) for c, r in zip(out["tool_calls"], recorded["tool_calls"],
                                                strict=True)
        ]
    return out


def _assert_defaults(where: str, sent: dict[str, Any], recorded: dict[str, Any]) -> None:
    for key in _DEFAULTED:
        assert sent.get(key) == (recorded.get(key) or None), f"{where}: {key}"


def assert_same_chat_payload(case: kit.RecordedCase, sent: HttpRequest) -> None:
    """Model, stream flag, messages and tools equal the recorded request's (the recording
    client's defaults, ``format: ""``, ``options: {}``, ``tools: []``..., may be left out)."""
    recorded = case.request["json"]
    body = sent.json
    assert isinstance(body, dict)
    assert body["model"] == recorded["model"]
    assert body["stream"] == recorded["stream"]
    messages = [_without_ours(s, r) for s, r in
                zip(body["messages"], recorded["messages"], strict=True)]
    assert messages == recorded["messages"]
    assert body.get("tools") == (recorded.get("tools") or None)
    _assert_defaults(case.id, body, recorded)
    tool_names = [m.get("tool_name") for m in body["messages"] if m["role"] == "tool"]
    calls = [c["function"]["name"] for m in recorded["messages"] for c in
             m.get("tool_calls") or ()]
    assert tool_names == calls[: len(tool_names)], "tool results name the call they answer"
    assert set(body) <= set(recorded) | {"tools"}, f"unrecorded fields {set(body) - set(recorded)}"


# --- provider data --------------------------------------------------------------------------------
def _final_object(case: kit.RecordedCase) -> dict[str, Any]:
    """The recorded answer, or a stream's ``done`` line."""
    lines = [json.loads(line) for line in str(case.response["body"]).splitlines() if line.strip()]
    final: dict[str, Any] = lines[-1]
    assert final["done"] is True
    return final


def _is_usage_key(key: str) -> bool:
    return key.endswith(("_duration", "_count"))


def check_answer(modelled: frozenset[str]) -> Callable[[kit.RecordedCase,
                                                         ChatCompletionResponse], None]:
    """What the kit does not compare: the usage total, strict reasoning, and the answer's
    unmodelled fields kept in ``provider_data`` (response level: ``created_at``, ``context``...;
    usage level: the timings), streamed and whole alike."""

    def check(case: kit.RecordedCase, response: ChatCompletionResponse) -> None:
        final = _final_object(case)
        expected = case.expected
        assert response.message.reasoning == expected["reasoning"]
        assert response.usage is not None
        assert response.usage.total_tokens == sum(expected["usage_normalised"].values())
        data = {k: v for k, v in final.items() if k not in modelled and not _is_usage_key(k)}
        timings = {k: v for k, v in final.items() if k not in modelled and _is_usage_key(k)}
        assert "created_at" in data and timings, "the recording has fields llmcore keeps"
        assert response.provider_data == data
        assert response.usage.provider_data == timings
        assert set(timings) >= {"total_duration", "load_duration", "prompt_eval_duration",
                                "eval_duration"}
        if not case.is_stream:
            assert response.created == parse_created(final["created_at"])

    return check


# --- chat: the kit's Replay -----------------------------------------------------------------------
REPLAY = kit.Replay(
    OLLAMA,
    request_for=rebuild_request,
    check_request=assert_same_chat_payload,
    stop_reasons=STOP_REASONS,
    check_response=check_answer(CHAT_KEYS),
)
CHAT_CHECKS = REPLAY.checks(CHAT)


@pytest.mark.parametrize("check", CHAT_CHECKS, ids=str)
def test_chat_case_through_the_kit(check: kit.Check) -> None:
    check()


# --- generate: replayed through the extension, compared by the kit's comparisons ---------------
_SCHEME = "ollama-generate-replay"
_hosts = itertools.count(1)
_lock = threading.Lock()
_served: dict[str, tuple[kit.RecordedCase, list[bytes], list[HttpRequest]]] = {}


def _serve(request: HttpRequest, cancel: CancelHandle | None) -> MemoryResponse:
    with _lock:
        case, pieces, seen = _served[urlsplit(request.url).netloc]
    seen.append(request)
    return MemoryResponse(int(case.response["status"]), case.headers, list(pieces))


register_memory_scheme(_SCHEME, _serve)


def _pieces(case: kit.RecordedCase, mode: str) -> list[bytes]:
    """The body cut as ``Replay.replay`` cuts it for ``mode``."""
    body = case.body()
    if mode.startswith("bytes"):
        return kit.one_byte(body)
    if mode.startswith("fragments"):
        return kit.random_fragments(body, case.seed + (1 if mode.endswith("events") else 0))
    return kit.random_fragments(body, case.seed, largest=4096)


def generate_fields(case: kit.RecordedCase) -> dict[str, Any]:
    """The ``generate`` arguments for the recorded request (its defaults left out)."""
    recorded = dict(case.request["json"])
    fields: dict[str, Any] = {"model": recorded.pop("model"), "prompt": recorded.pop("prompt")}
    recorded.pop("stream")
    for key, value in recorded.items():
        assert key in _DEFAULTED, f"{case.id}: unmodelled generate field {key!r}"
        if value:
            fields[key] = value
    return fields


def assert_same_generate_payload(case: kit.RecordedCase, sent: HttpRequest) -> None:
    recorded = case.request["json"]
    body = sent.json
    assert isinstance(body, dict)
    assert sent.method == str(case.request["method"]).upper()
    assert urlsplit(sent.url).path == _path(case)
    for key in ("model", "prompt", "stream"):
        assert body[key] == recorded[key], key
    _assert_defaults(case.id, body, recorded)
    assert set(body) <= set(recorded), f"unrecorded fields {set(body) - set(recorded)}"


def replay_generate(case: kit.RecordedCase, mode: str) -> None:
    """``case`` through ``as_ollama().generate`` (whole) or ``generate_stream`` (chunk or event
    view), compared with ``expected`` as ``Replay`` compares a chat case."""
    where = f"{case.id}[{mode}]"
    host = f"run-{next(_hosts)}"
    seen: list[HttpRequest] = []
    with _lock:
        _served[host] = (case, _pieces(case, mode), seen)
    check = check_answer(GENERATE_KEYS)
    expected = case.expected
    try:
        with llmcore.Client(OLLAMA, base_url=f"{_SCHEME}://{host}", api_key=kit.CANARY_KEY,
                            options=llmcore.ConnectionOptions(max_retries=0)) as client:
            ollama = llmcore_ollama.as_ollama(client)
            fields = generate_fields(case)
            if mode == "whole":
                response = ollama.generate(**fields)
                kit.assert_response_matches(response, expected, stop_reasons=STOP_REASONS,
                                            where=where)
            elif mode.endswith("events"):
                stream = ollama.generate_stream(**fields)
                events = list(stream.events())
                kit.assert_events_match(events, stream, expected,  # type: ignore[arg-type]
                                        stop_reasons=STOP_REASONS, where=where)
                response = stream.response
            else:
                stream = ollama.generate_stream(**fields)
                texts = [chunk.text() or "" for chunk in stream]
                assert stream.error is None, where
                response = stream.response
                kit.assert_response_matches(response, expected, stop_reasons=STOP_REASONS,
                                            where=where)
                assert "".join(texts) == expected["text"], where
            check(case, response)
            assert response.message.origin is not None
            assert response.message.origin.api == "ollama-chat"
    finally:
        with _lock:
            _served.pop(host, None)
    assert len(seen) == 1, f"{where}: {len(seen)} requests sent"
    assert_same_generate_payload(case, seen[0])


GENERATE_CHECKS = [
    kit.Check(f"{case.id}[{mode}]", lambda case=case, mode=mode: replay_generate(case, mode))
    for case in GENERATE
    for mode in case.modes
]


@pytest.mark.parametrize("check", GENERATE_CHECKS, ids=str)
def test_generate_case_through_the_extension(check: kit.Check) -> None:
    check()


# --- nothing left out -----------------------------------------------------------------------------
def test_every_case_is_replayed() -> None:
    """Every ollama-native case of the corpus is replayed, by the kit (chat) or through the
    extension (generate), in every mode that applies; a case at another path fails here."""
    assert [c.id for c in KIT_CASES] == cases_by_wire(WIRE)  # the files are the indexed ones
    other = [c.id for c in KIT_CASES if c not in CHAT and c not in GENERATE]
    assert other == [], f"cases neither replay covers: {other}"
    assert [c.id for c in GENERATE] == ["ollama/generate_basic.json",
                                        "ollama/stream_generate_ndjson.json"]
    assert len(CHAT) == 4
    for cases, checks in ((CHAT, CHAT_CHECKS), (GENERATE, GENERATE_CHECKS)):
        want = {f"{c.id}[{m}]" for c in cases for m in c.modes}
        assert {str(c) for c in checks} == want
    streams = [c for c in KIT_CASES if c.is_stream]
    assert {c.id for c in streams} == {"ollama/stream_chat_ndjson.json",
                                       "ollama/stream_generate_ndjson.json"}
    assert all(set(c.modes) == set(kit.MODES) for c in streams)


def test_replays_ignore_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """``OLLAMA_HOST`` (the provider's base-URL variable) does not move a kit replay off its
    in-memory endpoint (127.0.0.1:9 would refuse the connection)."""
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    for check in CHAT_CHECKS[:1]:
        check()
    kit.check_on_payload(OLLAMA, SAMPLE)


# --- the kit's contract checks --------------------------------------------------------------------
_CREATED = "2025-05-04T17:37:44.123456789Z"


def _line(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj) + "\n").encode()


# The sample answers carry no token counts: check_sample_round_trip expects an answer without
# usage (Ollama omits the counts on some done lines, e.g. a model load).
def stream_body(pieces: Any, *, finished: bool = True) -> bytes:
    lines = [{"model": "conformance-model", "created_at": _CREATED,
              "message": {"role": "assistant", "content": p}, "done": False} for p in pieces]
    out = b"".join(_line(o) for o in lines)
    if finished:
        out += _line({"model": "conformance-model", "created_at": _CREATED,
                      "message": {"role": "assistant", "content": ""}, "done": True,
                      "done_reason": "stop"})
    return out


def response_body(text: str) -> bytes:
    return json.dumps({"model": "conformance-model", "created_at": _CREATED,
                       "message": {"role": "assistant", "content": text}, "done": True,
                       "done_reason": "stop"}).encode()


SAMPLE = kit.ProtocolSample(
    stream_body=stream_body,
    response_body=response_body,
    error_body=lambda status, message: json.dumps({"error": message}).encode(),
    stream_content_type="application/x-ndjson",
    content_type="application/json; charset=utf-8",
)


@pytest.mark.parametrize("check", kit.contract_checks(OLLAMA, SAMPLE), ids=str)
def test_contract(check: kit.Check) -> None:
    check()


# --- over a real socket ---------------------------------------------------------------------------
STREAMS = [c for c in KIT_CASES if c.is_stream]


def _serve_stream(server: LoopbackServer, case: kit.RecordedCase, **knobs: Any) -> None:
    server.reset()
    server.add("POST", _path(case), Reply(int(case.response["status"]),
                                          tuple(case.headers.items()), case.body(),
                                          framing="chunked", **knobs))


def _loopback_client(server: LoopbackServer) -> llmcore.Client:
    return llmcore.Client(llmcore_ollama.ollama_provider(server.base_url),
                          options=llmcore.ConnectionOptions(max_retries=0))


@pytest.mark.parametrize("case", STREAMS, ids=lambda c: c.id)
def test_stream_one_byte_per_tcp_send(case: kit.RecordedCase, loopback: LoopbackServer) -> None:
    """The streams sent one byte per TCP send (and per HTTP chunk) by a real server."""
    _serve_stream(loopback, case, fragment=1)
    with _loopback_client(loopback) as client:
        if case in GENERATE:
            stream: Any = client.as_ollama().generate_stream(**generate_fields(case))
        else:
            stream = client.chat_completion_stream(rebuild_request(case))
        texts = [chunk.text() or "" for chunk in stream]
    kit.assert_response_matches(stream.response, case.expected, stop_reasons=STOP_REASONS,
                                where=case.id)
    assert "".join(texts) == case.expected["text"]
    check_answer(GENERATE_KEYS if case in GENERATE else CHAT_KEYS)(case, stream.response)
    assert len(loopback.requests) == 1


@pytest.mark.parametrize("case", [c for c in STREAMS if c in CHAT], ids=lambda c: c.id)
def test_native_chunks_are_the_recorded_lines(case: kit.RecordedCase,
                                              loopback: LoopbackServer) -> None:
    """``as_ollama().chat_stream_ollama`` yields every recorded line as its JSON object."""
    _serve_stream(loopback, case, random_fragments=True, seed=case.seed + 2)
    with _loopback_client(loopback) as client:
        chunks = list(client.as_ollama().chat_stream_ollama(rebuild_request(case)))
    body = str(case.response["body"])
    assert chunks == [json.loads(line) for line in body.splitlines() if line.strip()]
    assert "".join(c["message"]["content"] for c in chunks) == case.expected["text"]
