"""Fault injection over real sockets: llmcore + llmcore-openai against the loopback server.

Every client here has short connect/read timeouts, so no test can hang: a read that gets no
byte for ``READ_TIMEOUT`` seconds fails, and the server fixture closes all its sockets at the
end of each test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loopback import LoopbackServer, Reply

from llmcore import (
    AuthenticationError,
    CancelHandle,
    ChatCompletionRequest,
    Client,
    ConnectionOptions,
    LlmError,
    MalformedResponseError,
    Message,
    ModelNotFoundError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    StopReason,
    StreamInterruptedError,
)
from llmcore import events as ev
from llmcore_openai import openai_compatible

PATH = "/v1/chat/completions"
READ_TIMEOUT = 2.0
OPTIONS = ConnectionOptions(
    connect_timeout=1.0,
    read_timeout=READ_TIMEOUT,
    max_retries=2,
    backoff_initial=0.001,
    backoff_max=0.01,
)
REQ = ChatCompletionRequest("loop-model", [Message.user("hi")])
TEXT = "héllo ✓ 你好 🎉"
# Pieces that put the multi-byte characters at every position of an event.
PIECES = ["h", "é", "llo ", "✓", " 你", "好 ", "🎉"]


# --- wire helpers ----------------------------------------------------------------------------


def chunk(text: str | None = None, finish: str | None = None, role: str | None = None) -> str:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = role
    if text is not None:
        delta["content"] = text
    obj = {
        "id": "chatcmpl-loop",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "loop-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return json.dumps(obj, ensure_ascii=False)  # raw UTF-8 on the wire


def usage_chunk(prompt: int = 5, completion: int = 7) -> str:
    obj = {
        "id": "chatcmpl-loop",
        "object": "chat.completion.chunk",
        "model": "loop-model",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    return json.dumps(obj)


def full_stream(pieces: list[str] = PIECES) -> list[str | bytes]:
    return [
        chunk("", role="assistant"),
        *[chunk(p) for p in pieces],
        b": keep-alive\r\n\r\n",
        chunk(finish="stop"),
        usage_chunk(),
        "[DONE]",
    ]


def completion(text: str = "ok") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "loop-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text},
             "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
    }


def error_json(status: int, message: str, code: str | None, etype: str, **headers: str) -> Reply:
    body = {"error": {"message": message, "type": etype, "code": code, "param": None}}
    return Reply.json(body, status=status, headers=headers)


HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@pytest.fixture
def make_client(loopback_server: LoopbackServer) -> Iterator[Callable[..., Client]]:
    """Clients for the loopback server (closed after the test)."""
    made: list[Client] = []

    def make(options: ConnectionOptions = OPTIONS, **kwargs: Any) -> Client:
        provider = openai_compatible(loopback_server.base_url + "/v1", **kwargs)
        client = Client(provider, options=options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def timers() -> Iterator[Callable[[float, Callable[[], None]], threading.Timer]]:
    """Start daemon timers; all are cancelled and joined after the test."""
    started: list[threading.Timer] = []

    def start(delay: float, fn: Callable[[], None]) -> threading.Timer:
        timer = threading.Timer(delay, fn)
        timer.daemon = True
        timer.start()
        started.append(timer)
        return timer

    yield start
    for timer in started:
        timer.cancel()
        timer.join(2.0)


# --- a) fragmentation, CRLF, multi-byte UTF-8 ------------------------------------------------


@pytest.mark.parametrize(
    "reply_kw",
    [
        pytest.param({"fragment": 1}, id="1-byte"),
        pytest.param({"fragment": 1, "chunked": False}, id="1-byte-close-delimited"),
        pytest.param({"random_fragments": True, "fragment": 7, "seed": 1}, id="random-7-s1"),
        pytest.param({"random_fragments": True, "fragment": 5, "seed": 2}, id="random-5-s2"),
        pytest.param({"random_fragments": True, "fragment": 13, "seed": 3,
                      "delay": 0.0005}, id="random-13-s3-delay"),
    ],
)
def test_fragmented_crlf_stream_with_multibyte_text(
    loopback_server: LoopbackServer, make_client: Callable[..., Client], reply_kw: dict[str, Any]
) -> None:
    reply = Reply.sse(full_stream(), line_ending="\r\n", **reply_kw)
    assert len(reply.pieces()) > 50  # it really is fragmented
    loopback_server.add("POST", PATH, reply)
    stream = make_client().chat_completion_stream(REQ)
    texts = [c.text() or "" for c in stream]
    assert "".join(texts) == TEXT
    response = stream.response
    assert response.text() == TEXT
    assert response.stop_reason is StopReason.STOP
    assert response.finish_reason == "stop"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (5, 7)
    assert response.usage.total_tokens == 12
    assert stream.error is None
    sent = loopback_server.requests[0].json()
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_fragmented_stream_events_view(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse(full_stream(), line_ending="\r\n", fragment=1))
    stream = make_client().chat_completion_stream(REQ)
    events = list(stream.events())
    deltas = [e.delta for e in events if isinstance(e, ev.TextDeltaEvent)]
    assert "".join(deltas) == TEXT
    assert isinstance(events[-1], ev.DoneEvent)
    assert events[-1].response.text() == TEXT


def test_fragmented_non_stream_json(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    body = json.dumps(completion(TEXT), ensure_ascii=False).encode()
    loopback_server.add("POST", PATH, Reply.raw(200, body, content_type="application/json",
                                                fragment=1))
    assert make_client().chat_completion(REQ).text() == TEXT


# --- b) cancel from another thread -----------------------------------------------------------


def test_cancel_from_another_thread_while_server_hangs(
    loopback_server: LoopbackServer, make_client: Callable[..., Client], timers: Any
) -> None:
    events = [chunk("", role="assistant"), chunk("one "), chunk("two "), chunk("thrée")]
    loopback_server.add("POST", PATH, Reply.sse(events, hang_after=True))
    client = make_client(OPTIONS.evolve(read_timeout=5.0))  # only the cancel can end it
    stream, handle = client.chat_completion_stream_with_cancel(REQ)
    assert isinstance(handle, CancelHandle) and handle is stream.cancel_handle
    received: list[str] = []
    start = time.monotonic()
    timers(0.3, handle.cancel)
    for c in stream:  # must end without raising
        received.append(c.text() or "")
    elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 1.3
    assert "".join(received) == "one two thrée"
    assert handle.cancelled
    assert stream.response.stop_reason is StopReason.ABORTED
    assert stream.response.text() == "one two thrée"
    assert stream.error is None
    assert loopback_server.wait_for_disconnect(2)
    assert len(loopback_server.requests) == 1


def test_cancel_while_slow_server_is_sending(
    loopback_server: LoopbackServer, make_client: Callable[..., Client], timers: Any
) -> None:
    pieces = [f"w{i:02d} " for i in range(40)]
    events = [chunk(p) for p in pieces] + [chunk(finish="stop"), "[DONE]"]
    size = len(Reply.sse_body([events[0]]))
    assert all(len(Reply.sse_body([e])) == size for e in events[:40])
    loopback_server.add("POST", PATH, Reply.sse(events, fragment=size, delay=0.05))
    stream, handle = make_client().chat_completion_stream_with_cancel(REQ)
    received: list[str] = []
    start = time.monotonic()
    timers(0.3, handle.cancel)
    for c in stream:
        received.append(c.text() or "")
    assert time.monotonic() - start < 1.0
    text = "".join(received)
    assert 2 <= len(received) < 40
    assert "".join(pieces).startswith(text)
    assert stream.response.text() == text
    assert stream.response.stop_reason is StopReason.ABORTED
    assert loopback_server.wait_for_disconnect(2)


def test_cancel_during_events_view_ends_with_error_event(
    loopback_server: LoopbackServer, make_client: Callable[..., Client], timers: Any
) -> None:
    loopback_server.add("POST", PATH, Reply.sse([chunk("a"), chunk("b")], hang_after=True))
    stream, handle = make_client().chat_completion_stream_with_cancel(REQ)
    timers(0.2, handle.cancel)
    events = list(stream.events())
    last = events[-1]
    assert isinstance(last, ev.ErrorEvent)
    assert last.reason is StopReason.ABORTED
    assert last.response.text() == "ab"
    assert loopback_server.wait_for_disconnect(2)


def test_cancel_during_retry_wait(
    loopback_server: LoopbackServer, make_client: Callable[..., Client], timers: Any
) -> None:
    loopback_server.add("POST", PATH, Reply.status(429, headers={"Retry-After": "5"}),
                        Reply.sse(full_stream()))
    handle = CancelHandle()
    timers(0.2, handle.cancel)
    start = time.monotonic()
    stream = make_client().chat_completion_stream(REQ, cancel=handle)
    assert time.monotonic() - start < 1.0
    assert list(stream) == []
    assert stream.response.stop_reason is StopReason.ABORTED
    assert len(loopback_server.requests) == 1


def test_cancel_before_start_sends_nothing(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse(full_stream()))
    handle = CancelHandle()
    handle.cancel()
    stream = make_client().chat_completion_stream(REQ, cancel=handle)
    assert list(stream) == []
    assert stream.response.stop_reason is StopReason.ABORTED
    assert loopback_server.requests == []


# --- c) connection cut mid-stream: no retry --------------------------------------------------


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "close-delimited"])
def test_cut_mid_stream_raises_interrupted_with_partial(
    loopback_server: LoopbackServer, make_client: Callable[..., Client], chunked: bool
) -> None:
    events = [chunk("Hello, "), chunk("wörld"), chunk(" and more text that never arrives"),
              chunk(finish="stop"), "[DONE]"]
    before = len(Reply.sse_body(events[:2]))
    # For chunked framing the cut counts body bytes before chunk framing is added.
    reply = Reply.sse(events, cut_after=before + 10, chunked=chunked)
    loopback_server.add("POST", PATH, reply, Reply.sse(full_stream()))
    client = make_client(OPTIONS.evolve(max_retries=5))
    stream = client.chat_completion_stream(REQ)
    received: list[str] = []
    start = time.monotonic()
    with pytest.raises(StreamInterruptedError) as info:
        for c in stream:
            received.append(c.text() or "")
    assert time.monotonic() - start < 1.0
    err = info.value
    assert "".join(received) == "Hello, wörld"
    assert err.partial is not None
    assert err.partial.text() == "Hello, wörld"
    assert err.partial.stop_reason is StopReason.ERROR
    assert err.provider == "openai-compatible"
    assert stream.error is err
    assert stream.response.text() == "Hello, wörld"
    assert stream.response.stop_reason is StopReason.ERROR
    time.sleep(0.05)  # a retry, if there were one, would have arrived by now
    assert len(loopback_server.requests) == 1


def test_cut_mid_stream_events_view_does_not_raise(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    events = [chunk("ab"), chunk("cd"), chunk("ef"), "[DONE]"]
    cut = len(Reply.sse_body(events[:2])) + 3
    loopback_server.add("POST", PATH, Reply.sse(events, cut_after=cut))
    stream = make_client().chat_completion_stream(REQ)
    got = list(stream.events())
    last = got[-1]
    assert isinstance(last, ev.ErrorEvent)
    assert last.reason is StopReason.ERROR
    assert isinstance(last.error, StreamInterruptedError)
    assert last.response.text() == "abcd"
    assert len(loopback_server.requests) == 1


def test_cut_in_non_stream_body_is_retried(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    body = json.dumps(completion("whole")).encode()
    loopback_server.add("POST", PATH,
                        Reply.raw(200, body, content_type="application/json", cut_after=20),
                        Reply.json(completion("whole")))
    assert make_client().chat_completion(REQ).text() == "whole"
    assert len(loopback_server.requests) == 2


# --- d) retry then success -------------------------------------------------------------------


@pytest.mark.parametrize(
    "hint", [{"Retry-After": "0"}, {"retry-after-ms": "5"}], ids=["retry-after", "retry-after-ms"]
)
@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "json"])
def test_429_then_success(
    loopback_server: LoopbackServer,
    make_client: Callable[..., Client],
    hint: dict[str, str],
    streamed: bool,
) -> None:
    ok = Reply.sse(full_stream(), line_ending="\r\n", fragment=3) if streamed else Reply.json(
        completion(TEXT))
    loopback_server.add("POST", PATH, Reply.status(429, headers=hint), ok)
    client = make_client()
    if streamed:
        assert client.chat_completion_stream(REQ).text() == TEXT
    else:
        assert client.chat_completion(REQ).text() == TEXT
    reqs = loopback_server.requests
    assert len(reqs) == 2
    assert reqs[0].body == reqs[1].body


def test_503_twice_then_stream(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.status(503), Reply.raw(502, HTML_502),
                        Reply.sse(full_stream()))
    assert make_client().chat_completion_stream(REQ).text() == TEXT
    assert len(loopback_server.requests) == 3


def test_429_with_long_retry_after_raises_at_once(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.status(429, headers={"Retry-After": "3600"}),
                        Reply.json(completion()))
    start = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        make_client().chat_completion_stream(REQ)
    assert time.monotonic() - start < 0.5
    assert info.value.retry_after == 3600
    assert len(loopback_server.requests) == 1


# --- e) error statuses through the socket ----------------------------------------------------


def _open(client: Client, streamed: bool) -> str:
    if streamed:
        return client.chat_completion_stream(REQ).text()
    return client.chat_completion(REQ).text()


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "json"])
def test_401(loopback_server, make_client, streamed: bool) -> None:
    loopback_server.add("POST", PATH, error_json(401, "Incorrect API key provided: sk-abc***",
                                                 "invalid_api_key", "invalid_request_error",
                                                 **{"x-request-id": "req_401"}))
    with pytest.raises(AuthenticationError) as info:
        _open(make_client(), streamed)
    err = info.value
    assert (err.status, err.code, err.request_id) == (401, "invalid_api_key", "req_401")
    assert err.provider == "openai-compatible" and not err.is_retryable()
    assert len(loopback_server.requests) == 1


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "json"])
def test_404_model_not_found(loopback_server, make_client, streamed: bool) -> None:
    loopback_server.add("POST", PATH, error_json(
        404, "The model `loop-model` does not exist or you do not have access to it.",
        "model_not_found", "invalid_request_error", **{"x-request-id": "req_404"}))
    with pytest.raises(ModelNotFoundError) as info:
        _open(make_client(), streamed)
    err = info.value
    assert (err.status, err.code, err.request_id) == (404, "model_not_found", "req_404")
    assert not err.is_retryable()
    assert len(loopback_server.requests) == 1


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "json"])
def test_html_502_page(loopback_server, make_client, streamed: bool) -> None:
    loopback_server.add("POST", PATH, Reply.raw(502, HTML_502, headers={"x-request-id": "r5"}))
    with pytest.raises(ServerError) as info:
        _open(make_client(OPTIONS.evolve(max_retries=1)), streamed)
    err = info.value
    assert err.status == 502 and err.request_id == "r5" and err.is_retryable()
    assert "502 Bad Gateway" in str(err)
    assert "<" not in str(err) and ">" not in str(err)
    assert len(loopback_server.requests) == 2  # retried once, then given up


def test_truncated_json_200(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    body = json.dumps(completion("cut short")).encode()[:-25]
    loopback_server.add("POST", PATH, Reply.raw(200, body, content_type="application/json"))
    with pytest.raises(MalformedResponseError) as info:
        make_client().chat_completion(REQ)
    assert info.value.provider == "openai-compatible"
    assert "openai-compatible" in str(info.value)
    assert len(loopback_server.requests) == 1


def test_truncated_json_frame_in_stream(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    good = chunk("fine so far")
    events = [good, good[:-12], chunk("never"), "[DONE]"]
    loopback_server.add("POST", PATH, Reply.sse(events, fragment=4))
    stream = make_client().chat_completion_stream(REQ)
    with pytest.raises(MalformedResponseError) as info:
        stream.until_done()
    err = info.value
    assert err.provider == "openai-compatible" and "openai-compatible" in str(err)
    assert err.partial is not None and err.partial.text() == "fine so far"
    assert stream.response.stop_reason is StopReason.ERROR
    assert len(loopback_server.requests) == 1


def test_error_frame_in_stream_is_typed(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    frame = json.dumps({"error": {"message": "The server is overloaded", "type": "server_error",
                                  "code": None}})
    loopback_server.add("POST", PATH, Reply.sse([chunk("par"), chunk("tial"), frame]))
    with pytest.raises(LlmError) as info:
        make_client().chat_completion_stream(REQ).until_done()
    assert "overloaded" in str(info.value)
    assert info.value.partial is not None and info.value.partial.text() == "partial"
    assert len(loopback_server.requests) == 1


# --- f) endings without [DONE] ---------------------------------------------------------------


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "close-delimited"])
def test_clean_end_without_done_or_finish_is_truncated(
    loopback_server: LoopbackServer, make_client: Callable[..., Client], chunked: bool
) -> None:
    events = [chunk("", role="assistant"), chunk("half an "), chunk("answér")]
    loopback_server.add("POST", PATH, Reply.sse(events, chunked=chunked))
    stream = make_client().chat_completion_stream(REQ)
    with pytest.raises(StreamInterruptedError) as info:
        stream.until_done()
    err = info.value
    assert "truncated" in str(err)
    assert err.partial is not None and err.partial.text() == "half an answér"
    assert err.partial.stop_reason is StopReason.ERROR
    assert len(loopback_server.requests) == 1


@pytest.mark.parametrize(("finish", "reason"), [("stop", StopReason.STOP),
                                                ("length", StopReason.LENGTH)])
def test_finish_reason_without_done_is_fine(
    loopback_server: LoopbackServer,
    make_client: Callable[..., Client],
    finish: str,
    reason: StopReason,
) -> None:
    events = [chunk("all "), chunk("there"), chunk(finish=finish), usage_chunk(3, 2)]
    loopback_server.add("POST", PATH, Reply.sse(events, line_ending="\r\n"))
    stream = make_client().chat_completion_stream(REQ)
    response = stream.until_done()
    assert response.text() == "all there"
    assert response.stop_reason is reason
    assert response.usage is not None and response.usage.total_tokens == 5
    assert stream.error is None


# --- g) read timeouts ------------------------------------------------------------------------


def test_read_timeout_mid_stream(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse([chunk("first "), chunk("words")],
                                                hang_after=True))
    stream = make_client(OPTIONS.evolve(read_timeout=0.3)).chat_completion_stream(REQ)
    start = time.monotonic()
    with pytest.raises(StreamInterruptedError) as info:
        stream.until_done()
    assert 0.25 <= time.monotonic() - start < 1.0
    assert info.value.partial is not None
    assert info.value.partial.text() == "first words"
    assert len(loopback_server.requests) == 1
    assert loopback_server.wait_for_disconnect(2)


def test_read_timeout_after_headers(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.hang())
    start = time.monotonic()
    with pytest.raises((StreamInterruptedError, RequestTimeoutError)):
        make_client(OPTIONS.evolve(read_timeout=0.3)).chat_completion_stream(REQ).until_done()
    assert time.monotonic() - start < 1.0
    assert len(loopback_server.requests) == 1


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "json"])
def test_read_timeout_before_headers(
    loopback_server: LoopbackServer, make_client: Callable[..., Client], streamed: bool
) -> None:
    loopback_server.add("POST", PATH, Reply.hang(send_headers=False))
    client = make_client(OPTIONS.evolve(read_timeout=0.3, max_retries=0))
    start = time.monotonic()
    with pytest.raises(RequestTimeoutError) as info:
        _open(client, streamed)
    assert 0.25 <= time.monotonic() - start < 1.0
    assert info.value.is_retryable()
    assert len(loopback_server.requests) == 1


def test_read_timeout_before_headers_is_retried(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.hang(send_headers=False), Reply.json(completion()))
    client = make_client(OPTIONS.evolve(read_timeout=0.3, max_retries=1))
    assert client.chat_completion(REQ).text() == "ok"
    assert len(loopback_server.requests) == 2


# --- h) the stream as a context manager ------------------------------------------------------


def test_leaving_with_early_closes_the_connection(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    events = [chunk("Once "), chunk("upon "), chunk("a time")]
    loopback_server.add("POST", PATH, Reply.sse(events, hang_after=True))
    start = time.monotonic()
    with make_client().chat_completion_stream(REQ) as stream:
        got = ""
        for c in stream:
            got += c.text() or ""
            if got == "Once upon ":
                break
    assert time.monotonic() - start < 1.0
    assert loopback_server.wait_for_disconnect(2)
    assert stream.response.text() == "Once upon "
    assert stream.response.stop_reason is StopReason.ABORTED
    assert stream.error is None


def test_leaving_with_before_iterating_closes_the_connection(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse([chunk("x")], hang_after=True))
    with make_client().chat_completion_stream(REQ) as stream:
        pass
    assert loopback_server.wait_for_disconnect(2)
    assert stream.response.stop_reason is StopReason.ABORTED
    assert stream.response.text() == ""


def test_exception_inside_with_closes_the_connection(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse([chunk("a"), chunk("b")], hang_after=True))
    with pytest.raises(KeyError), make_client().chat_completion_stream(REQ) as stream:
        next(stream)
        raise KeyError("boom")
    assert loopback_server.wait_for_disconnect(2)
    assert stream.response.stop_reason is StopReason.ABORTED


def test_with_after_complete_stream_keeps_final_response(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse(full_stream()))
    with make_client().chat_completion_stream(REQ) as stream:
        text = "".join(c.text() or "" for c in stream)
    assert text == TEXT
    assert stream.response.stop_reason is StopReason.STOP
    assert stream.response.text() == TEXT


# --- pool and headers over the socket --------------------------------------------------------


def test_sequential_calls_reuse_one_connection(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.json(completion("one")))
    client = make_client()
    client.chat_completion(REQ)
    client.chat_completion(REQ)
    client.chat_completion(REQ)
    ids = [r.connection_id for r in loopback_server.requests]
    assert len(ids) == 3 and len(set(ids)) == 1


def test_retry_reuses_the_connection(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.status(429, headers={"Retry-After": "0"}),
                        Reply.json(completion()))
    make_client().chat_completion(REQ)
    ids = [r.connection_id for r in loopback_server.requests]
    assert len(ids) == 2 and ids[0] == ids[1]


def test_separate_clients_use_separate_connections(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.json(completion()))
    make_client().chat_completion(REQ)
    make_client().chat_completion(REQ)
    ids = [r.connection_id for r in loopback_server.requests]
    assert ids[0] != ids[1]


def test_headers_over_the_socket(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.json(completion()))
    provider = openai_compatible(loopback_server.base_url + "/v1", headers={"X-Provider": "p"})
    options = OPTIONS.evolve(default_headers={"X-Default": "d"})
    with Client(provider, api_key="loopback-key-123456", options=options) as client:
        client.chat_completion(REQ)
        client.chat_completion_stream(REQ).close()
    for rec in loopback_server.requests:
        assert rec.headers["authorization"] == "Bearer loopback-key-123456"
        assert rec.headers["x-provider"] == "p"
        assert rec.headers["x-default"] == "d"
        assert rec.headers["content-type"] == "application/json"
        assert rec.path == PATH
    assert [r.headers["accept"] for r in loopback_server.requests] == [
        "application/json", "text/event-stream"]


# --- known deviations (strict xfail: they start failing once the core is fixed) -------------


def test_cancel_while_waiting_for_headers_returns_at_once(
    loopback_server: LoopbackServer, make_client: Callable[..., Client], timers: Any
) -> None:
    loopback_server.add("POST", PATH, Reply.hang(send_headers=False))
    client = make_client(OPTIONS.evolve(read_timeout=0.8, max_retries=0))
    handle = CancelHandle()
    timers(0.1, handle.cancel)
    start = time.monotonic()
    stream = client.chat_completion_stream(REQ, cancel=handle)
    assert list(stream) == []
    assert stream.response.stop_reason is StopReason.ABORTED
    assert time.monotonic() - start < 0.6


def test_sequential_streams_reuse_one_connection(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse(full_stream()))
    client = make_client()
    assert client.chat_completion_stream(REQ).text() == TEXT
    assert client.chat_completion_stream(REQ).text() == TEXT
    ids = [r.connection_id for r in loopback_server.requests]
    assert ids[0] == ids[1]
