"""Every recorded Zhipu/Z.ai exchange in the corpus, replayed through the conformance kit.

The cases are the corpus's ``provider: zhipu`` cases (their ``wire`` is ``openai-chat``: GLM
speaks an OpenAI Chat dialect, and the openai corpus test replays them with the openai plugin
too). Here :mod:`llmcore.conformance` sends each one through the installed ``zhipu`` provider and
its ``zhipu-chat`` API (this plugin's payload hooks, auth, transport, parsing), and again through
``zai``, the provider of the host they were recorded on: streams in seeded random fragments and
one byte at a time, each read as chunks and as events; whole answers once. The result must
equal the case's ``expected`` block (computed by the official SDK from the same bytes): text,
reasoning, tool calls, finish reason (raw and unified), model and usage.

What stays here is specific to GLM: the request is rebuilt from llmcore types and the payload
sent must carry the recorded messages, model and ``thinking`` object (``reasoning_effort`` is
never sent); the key goes as the bearer token; ``zai`` sends ``Accept-Language``; the total
token count and GLM's ``request_id`` (kept in ``provider_data``) come back; and every case is
replayed once more over a real socket (the loopback server), one byte per TCP send.

The contract checks of the kit (cancel, truncated streams, typed and scrubbed errors, payload
hooks) run for both providers with a protocol sample that writes GLM bodies, its error bodies
carrying GLM business codes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import pytest
from corpus import CORPUS, cases_by_wire, corpus_dir, index, load_case
from loopback import LoopbackServer, Reply

import llmcore
import llmcore_zhipu
from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Content,
    HttpRequest,
    ImagePart,
    Message,
    Provider,
    ReasoningEffort,
    StopReason,
    TextPart,
)
from llmcore import conformance as kit

WIRE = "openai-chat"
PROVIDER = "zhipu"
CASES = [f for f in cases_by_wire(WIRE) if load_case(f)["provider"] == PROVIDER]
KIT_CASES = [c for c in kit.load_cases(CORPUS, wire=WIRE) if c.data["provider"] == PROVIDER]

_STOP = {
    "stop": StopReason.STOP,
    "length": StopReason.LENGTH,
    "tool_calls": StopReason.TOOL_USE,
    "sensitive": StopReason.CONTENT_FILTER,
    "network_error": StopReason.ERROR,
    "model_context_window_exceeded": StopReason.LENGTH,
}
_PATH = "/api/paas/v4"
_HOSTS = {"open.bigmodel.cn": "zhipu", "api.z.ai": "zai"}


def _installed(name: str) -> Provider:
    """The provider as the installed plugin registers it (not a copy made here)."""
    provider = llmcore.get_plugins().provider(name)
    assert provider.api == llmcore_zhipu.API, provider
    return provider


# --- recorded request -> llmcore request ------------------------------------------------------
def _content(raw: Any) -> Content | str:
    if isinstance(raw, str):
        return raw
    parts: list[TextPart | ImagePart] = []
    for part in raw:
        if part["type"] == "text":
            parts.append(TextPart(part["text"]))
        else:
            assert part["type"] == "image_url", part
            parts.append(ImagePart(url=part["image_url"]["url"]))
    return Content.from_parts(parts)


def rebuild(case: dict[str, Any]) -> ChatCompletionRequest:
    """The recorded request in llmcore terms: messages, and ``thinking`` as reasoning settings.

    ``thinking.type == "enabled"`` is asked for with a reasoning effort (the plugin maps it);
    the other recorded ``thinking`` keys (``clear_thinking``) pass through ``extra``.
    """
    recorded = case["request"]["json"]
    messages = []
    for m in recorded["messages"]:
        assert m["role"] == "user" and set(m) == {"role", "content"}, m
        messages.append(Message.user(_content(m["content"])))
    thinking = dict(recorded.get("thinking") or {})
    kind = thinking.pop("type", None)
    effort = {None: None, "enabled": ReasoningEffort.HIGH, "disabled": ReasoningEffort.NONE}[kind]
    return ChatCompletionRequest(
        recorded["model"],
        messages,
        reasoning_effort=effort,
        extra={"thinking": thinking} if thinking else {},
    )


def assert_payload(case: dict[str, Any], sent: dict[str, Any]) -> None:
    """What llmcore sent equals the recorded request (``reasoning_effort`` is never sent)."""
    recorded = case["request"]["json"]
    assert sent["model"] == recorded["model"]
    assert sent["messages"] == recorded["messages"]
    assert sent.get("thinking") == recorded.get("thinking")
    assert sent.get("stream", False) == recorded["stream"]
    assert sent.get("stream_options") == recorded.get("stream_options")
    assert "reasoning_effort" not in sent


# --- the kit's hooks for this protocol --------------------------------------------------------
def request_for(case: kit.RecordedCase) -> ChatCompletionRequest:
    return rebuild(dict(case.data))


def _check_request_for(name: str) -> kit.CheckRequest:
    def check_request(case: kit.RecordedCase, sent: HttpRequest) -> None:
        """The key as the bearer token, Z.ai's language header, the recorded payload."""
        assert sent.header("Authorization") == f"Bearer {kit.CANARY_KEY}"
        assert sent.header("Accept-Language") == ("en-US,en" if name == "zai" else None)
        assert sent.json is not None
        assert_payload(dict(case.data), sent.json)

    return check_request


def _check_response_for(name: str) -> Any:
    def check_response(case: kit.RecordedCase, response: ChatCompletionResponse) -> None:
        """The provider's name, the total token count, and GLM's ``request_id`` (kept as
        provider data) of a whole answer."""
        assert response.provider == name
        assert response.usage is not None
        assert response.usage.total_tokens == case.expected["usage"]["total_tokens"]
        if not case.is_stream:
            body = json.loads(case.response["body"])
            assert response.provider_data.get("request_id") == body["request_id"]

    return check_response


def _replay(name: str) -> kit.Replay:
    return kit.Replay(
        _installed(name),
        request_for=request_for,
        check_request=_check_request_for(name),
        stop_reasons=_STOP,
        check_response=_check_response_for(name),
    )


def _named(prefix: str, checks: Sequence[kit.Check]) -> list[kit.Check]:
    return [kit.Check(f"{prefix}:{c.name}", c.run) for c in checks]


def _recorded_on(case: kit.RecordedCase) -> str:
    return _HOSTS[urlsplit(case.request["url"]).netloc]


def _host_checks(name: str) -> list[kit.Check]:
    """The cases recorded on ``name``'s host, replayed through ``name``."""
    cases = [c for c in KIT_CASES if _recorded_on(c) == name]
    return _named(name, _replay(name).checks(cases))


CHECKS = _named("zhipu", _replay("zhipu").checks(KIT_CASES)) + [
    check for name in sorted({_recorded_on(c) for c in KIT_CASES} - {"zhipu"})
    for check in _host_checks(name)
]


# --- the contract checks ----------------------------------------------------------------------
_MODEL = "glm-4.7"
_ERROR_CODES = {401: "1002", 429: "1302", 500: "1234"}  # auth, concurrency, network error


def _frame(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def stream_body(pieces: Sequence[str], *, finished: bool = True) -> bytes:
    """A GLM stream: one ``delta.content`` per piece, then the finish chunk and ``[DONE]``
    (left out when not ``finished``). No usage: the kit's round-trip check wants none."""
    head = {"id": "2026conf", "created": 1782862782, "object": "chat.completion.chunk",
            "model": _MODEL}
    frames = [
        _frame({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": p}}]})
        for p in pieces
    ]
    if finished:
        end = {"index": 0, "finish_reason": "stop", "delta": {"role": "assistant", "content": ""}}
        frames.append(_frame({**head, "choices": [end]}))
        frames.append("data: [DONE]\n\n")
    return "".join(frames).encode()


def response_body(text: str) -> bytes:
    """A whole GLM answer with ``request_id``."""
    return json.dumps({
        "choices": [{"finish_reason": "stop", "index": 0,
                     "message": {"content": text, "role": "assistant"}}],
        "created": 1782862773, "id": "2026conf", "model": _MODEL, "object": "chat.completion",
        "request_id": "2026conf",
        "usage": {"completion_tokens": 3, "prompt_tokens": 5, "total_tokens": 8},
    }).encode()


def error_body(status: int, message: str) -> bytes:
    """GLM's error body: a business code the plugin maps, and the message."""
    return json.dumps({"error": {"code": _ERROR_CODES[status], "message": message}}).encode()


SAMPLE = kit.ProtocolSample(
    stream_body=stream_body, response_body=response_body, error_body=error_body, model=_MODEL
)
# The same bodies with the core's default error shape (no business code): the core's reading.
PLAIN_ERRORS = kit.ProtocolSample(
    stream_body=stream_body, response_body=response_body, model=_MODEL
)


def _contract(name: str) -> list[kit.Check]:
    provider = _installed(name)

    def plain_errors() -> None:
        kit.check_errors_typed_and_scrubbed(provider, PLAIN_ERRORS)

    return [
        *_named(name, kit.contract_checks(provider, SAMPLE)),
        kit.Check(f"{name}:check_errors_typed_and_scrubbed[no code]", plain_errors),
    ]


CONTRACT = _contract("zhipu") + _contract("zai")


# --- tests ------------------------------------------------------------------------------------
def test_the_corpus_holds_the_six_zhipu_cases() -> None:
    """Issue 8 counts six Zhipu recordings: the kit reads the same ones as the index, every file
    in the corpus's ``zhipu/`` folder is one of them, and none is of another wire."""
    assert len(CASES) == 6, CASES
    assert [c.id for c in KIT_CASES] == CASES
    folder = sorted(f"zhipu/{p.name}" for p in (corpus_dir() / "zhipu").glob("*.json"))
    assert folder == CASES
    assert sorted(e["file"] for e in index() if e["provider"] == PROVIDER) == CASES


def test_every_case_goes_through_the_kit_in_every_mode() -> None:
    """Each case is replayed through ``zhipu`` and through the provider of its recorded host, in
    every mode that applies: a stream in both fragmentings and both views, an answer whole."""
    names = {c.name for c in CHECKS}
    assert len(names) == len(CHECKS)
    for case in KIT_CASES:
        raw = load_case(case.id)
        assert raw["response"]["status"] == 200
        streamed = "stream_sse" in raw["tags"]
        assert case.is_stream is streamed
        modes = ({"fragments-chunks", "fragments-events", "bytes-chunks", "bytes-events"}
                 if streamed else {"whole"})
        for name in {"zhipu", _recorded_on(case)}:
            got = {n for n in names if n.startswith(f"{name}:{case.id}[")}
            assert got == {f"{name}:{case.id}[{m}]" for m in modes}, (name, case.id)
    assert any(_recorded_on(c) == "zai" for c in KIT_CASES)  # so both providers replay


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_case_reproduces_expected(check: kit.Check) -> None:
    """One case in one mode through the kit and the installed provider; equals ``expected``."""
    check()


@pytest.mark.parametrize("check", CONTRACT, ids=str)
def test_contract(check: kit.Check) -> None:
    """The kit's contract checks for ``zhipu`` and ``zai``."""
    check()


# --- over a real socket -----------------------------------------------------------------------
def _serve(server: LoopbackServer, case: dict[str, Any], **knobs: Any) -> None:
    server.reset()
    path = urlsplit(case["request"]["url"]).path
    assert path == _PATH + "/chat/completions"
    recorded = case["response"]
    body = recorded["body"].encode("utf-8")
    headers = dict(recorded["headers"])
    if "stream_sse" in case["tags"]:
        reply = Reply.sse([body], status=recorded["status"], headers=headers, **knobs)
    else:
        ctype = headers.pop("content-type")
        reply = Reply.raw(recorded["status"], body, headers=headers, content_type=ctype)
        reply = dataclasses.replace(reply, **knobs)
    server.add("POST", path, reply)


@pytest.mark.parametrize("file", CASES, ids=CASES)
def test_case_one_byte_at_a_time_over_a_socket(file: str, loopback: LoopbackServer) -> None:
    """The same bytes sent one byte per TCP send (and per HTTP chunk for streams) to
    ``Client("zhipu")``, chunk view; the payload on the wire is the recorded one."""
    case = load_case(file)
    kit_case = kit.RecordedCase.from_dict(file, case)
    _serve(loopback, case, fragment=1)
    client = llmcore.Client(
        "zhipu",
        api_key="test-key",
        base_url=loopback.base_url + _PATH,
        options=llmcore.ConnectionOptions(max_retries=0),
    )
    with client:
        if kit_case.is_stream:
            stream = client.chat_completion_stream(rebuild(case))
            texts = [chunk.text() or "" for chunk in stream]
            assert "".join(texts) == (case["expected"]["text"] or "")
            response = stream.response
        else:
            response = client.chat_completion(rebuild(case))
    kit.assert_response_matches(response, case["expected"], stop_reasons=_STOP, where=file)
    _check_response_for("zhipu")(kit_case, response)
    assert len(loopback.requests) == 1
    sent = loopback.requests[0]
    assert sent.headers["authorization"] == "Bearer test-key"
    assert_payload(case, sent.json())
