"""The core's promises under misbehaving servers, on real sockets (127.0.0.1 only).

Cancels and deadlines end exactly one call; dropped streams and outliving cancel handles keep no
socket open; ``total_timeout`` bounds everything; answers that are not event streams reach the
user; redirects and proxies follow the documented rules; a batch never loses a slot.
"""

from __future__ import annotations

import gc
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from loopback import LoopbackServer, Reply
from test_faults import OPTIONS, REQ, chunk, completion, usage_chunk

from llmcore import (
    ApiConnectionError,
    CancelHandle,
    ChatCompletionRequest,
    Client,
    ConnectionOptions,
    LlmError,
    MalformedResponseError,
    Message,
    RedirectError,
    RequestTimeoutError,
    ServerError,
    StopReason,
    StreamInterruptedError,
    StreamTimeoutError,
)
from llmcore_openai import openai_compatible

PATH = "/v1/chat/completions"


@pytest.fixture
def make_client(loopback_server: LoopbackServer) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(options: ConnectionOptions = OPTIONS, base_url: str | None = None) -> Client:
        provider = openai_compatible(base_url or loopback_server.base_url + "/v1")
        client = Client(provider, api_key="test-key-0123", options=options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def gc_off() -> Iterator[None]:
    """Only reference counting may free objects: a reference cycle would leak the socket."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def long_stream(n: int = 50) -> list[str | bytes]:
    return [
        chunk("", role="assistant"),
        *[chunk(f"w{i} ") for i in range(n)],
        chunk(finish="stop"),
        "[DONE]",
    ]


# --- 1. a cancel ends one call; dropped streams release their socket ---------------------------


@pytest.mark.usefixtures("gc_off")
def test_dropped_stream_never_iterated_closes_its_connection(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse(long_stream(), delay=0.05, fragment=200))
    client = make_client()
    stream = client.chat_completion_stream(REQ)
    assert loopback_server.wait_for_requests(1)
    del stream
    assert loopback_server.wait_for_disconnect(timeout=2.0)


@pytest.mark.usefixtures("gc_off")
def test_dropped_stream_partly_iterated_closes_its_connection(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse(long_stream(), delay=0.05, fragment=200))
    client = make_client()
    stream = client.chat_completion_stream(REQ)
    next(stream)
    next(stream)
    del stream
    assert loopback_server.wait_for_disconnect(timeout=2.0)


@pytest.mark.usefixtures("gc_off")
def test_cancel_handle_that_outlives_its_stream_pins_no_socket(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse(long_stream(), delay=0.05, fragment=200))
    client = make_client()
    handle = CancelHandle()
    stream = client.chat_completion_stream(REQ, cancel=handle)
    next(stream)
    del stream
    assert loopback_server.wait_for_disconnect(timeout=2.0)
    handle.cancel()  # late and harmless
    assert not handle._closers  # nothing left that refers to the finished call


def test_events_of_a_temporary_stream_still_run_to_the_end(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse(long_stream(5)))
    client = make_client()
    kinds = [e.type for e in client.chat_completion_stream(REQ).events()]
    assert kinds[0] == "start" and kinds[-1] == "done"


def test_late_cancel_does_not_break_the_next_request_on_the_pooled_connection(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add(
        "POST", PATH, Reply.sse(long_stream(3)), Reply.sse(long_stream(40), delay=0.01, fragment=64)
    )
    client = make_client(OPTIONS.evolve(pool_size=1, max_retries=0))
    first = client.chat_completion_stream(REQ)
    assert first.text() == "w0 w1 w2 "
    second = client.chat_completion_stream(REQ)  # reuses the pooled connection
    next(second)
    first.cancel()  # the first call is over: its handle must not reach the shared socket
    assert second.text().endswith("w39 ")
    assert second.response.choices[0].stop_reason is StopReason.STOP
    assert len(loopback_server.requests) == 2


def test_cancel_while_waiting_for_headers_sends_the_post_once(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse(long_stream(3)).after(2.5))
    client = make_client(OPTIONS.evolve(max_retries=3))
    handle = CancelHandle()
    threading.Timer(0.2, handle.cancel).start()
    started = time.monotonic()
    stream = client.chat_completion_stream(REQ, cancel=handle)
    assert time.monotonic() - started < 2.0  # not the server's 2.5 s
    assert stream.text() == ""
    assert stream.response.choices == () or stream.response.stop_reason is StopReason.ABORTED
    time.sleep(2.7)
    assert len(loopback_server.requests) == 1


def test_close_from_another_thread_while_iterating_ends_the_stream(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.sse(long_stream(200), delay=0.01, fragment=100))
    client = make_client()
    stream = client.chat_completion_stream(REQ)
    threading.Timer(0.1, stream.close).start()
    stream.until_done()
    assert stream.response.stop_reason is StopReason.ABORTED


# --- 2. deadlines are deadlines ------------------------------------------------------------------


def test_total_timeout_bounds_a_body_that_trickles_one_byte_at_a_time(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    body = json.dumps(completion("x" * 200)).encode()
    loopback_server.add(
        "POST", PATH, Reply.raw(200, body, content_type="application/json", fragment=1, delay=0.02)
    )
    client = make_client(OPTIONS.evolve(total_timeout=0.5, read_timeout=2.0))
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError) as caught:
        client.chat_completion(REQ)
    assert time.monotonic() - started < 3.0  # the body alone takes 6 s
    assert "total_timeout" in str(caught.value)
    assert len(loopback_server.requests) == 1  # a missed deadline is not retried


def test_total_timeout_bounds_the_wait_for_headers(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.json(completion()).after(5.0))
    client = make_client(OPTIONS.evolve(total_timeout=0.4, read_timeout=8.0))
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError):
        client.chat_completion(REQ)
    assert time.monotonic() - started < 3.0


def test_total_timeout_bounds_a_stream_of_keep_alive_comments(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    pings: list[str | bytes] = [chunk("", role="assistant"), chunk("hi")]
    pings += [b": keep-alive\n\n"] * 400  # about 8 s of keep-alives, each well within read_timeout
    loopback_server.add("POST", PATH, Reply.sse(pings, delay=0.02, fragment=14))
    client = make_client(OPTIONS.evolve(total_timeout=1.5, read_timeout=2.0))
    started = time.monotonic()
    stream = client.chat_completion_stream(REQ)
    with pytest.raises(StreamTimeoutError) as caught:
        stream.until_done()
    assert time.monotonic() - started < 4.0
    assert isinstance(caught.value, RequestTimeoutError)
    assert caught.value.partial is not None and caught.value.partial.text() == "hi"


def test_read_timeout_mid_body_is_a_timeout_not_a_connection_error(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    body = json.dumps(completion("late")).encode()
    loopback_server.add(
        "POST",
        PATH,
        Reply.raw(200, body, content_type="application/json", fragment=len(body) // 2, delay=1.5),
    )
    client = make_client(OPTIONS.evolve(read_timeout=0.3, max_retries=0))
    with pytest.raises(LlmError) as caught:
        client.chat_completion(REQ)
    assert isinstance(caught.value, RequestTimeoutError), repr(caught.value)
    assert not isinstance(caught.value, ApiConnectionError)


def test_a_refused_connection_is_a_connection_error_not_a_timeout(
    make_client: Callable[..., Client],
) -> None:
    """urllib3's "could not connect" error derives from its connect-timeout error; a port with
    nobody listening must still read as a connection failure, at once."""
    with socket.socket() as probe:  # a port that was free a moment ago: nobody listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(OPTIONS.evolve(max_retries=0), base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(LlmError) as caught:
        client.chat_completion(REQ)
    assert isinstance(caught.value, ApiConnectionError), repr(caught.value)
    assert not isinstance(caught.value, RequestTimeoutError)
    assert "connection failed" in str(caught.value)


def test_read_timeout_mid_stream_is_a_stream_timeout_with_the_partial_answer(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    events: list[str | bytes] = [chunk("", role="assistant"), chunk("part")]
    loopback_server.add("POST", PATH, Reply.sse(events, hang_after=True))
    client = make_client(OPTIONS.evolve(read_timeout=0.3))
    stream = client.chat_completion_stream(REQ)
    with pytest.raises(StreamTimeoutError) as caught:
        stream.until_done()
    assert isinstance(caught.value, RequestTimeoutError)
    assert isinstance(caught.value, StreamInterruptedError)
    assert caught.value.partial is not None and caught.value.partial.text() == "part"


def test_stream_that_goes_silent_after_its_finish_reason_ends_cleanly_at_once(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    events: list[str | bytes] = [
        chunk("", role="assistant"),
        chunk("done"),
        chunk(finish="length"),
        usage_chunk(),
    ]
    loopback_server.add("POST", PATH, Reply.sse(events, hang_after=True))
    client = make_client(OPTIONS.evolve(read_timeout=8.0, finish_grace=0.2))
    started = time.monotonic()
    stream = client.chat_completion_stream(REQ)
    response = stream.until_done()
    assert time.monotonic() - started < 4.0  # not the 8 s read timeout
    assert stream.error is None
    assert response.text() == "done"
    assert response.choices[0].stop_reason is StopReason.LENGTH
    assert response.usage is not None and response.usage.completion_tokens == 7


# --- 4. what the server said reaches the user ---------------------------------------------------


def test_stream_request_answered_with_a_whole_json_answer(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.json(completion("whole answer")))
    client = make_client()
    stream = client.chat_completion_stream(REQ)
    assert "".join(c.text() or "" for c in stream) == "whole answer"
    assert stream.response.text() == "whole answer"
    assert stream.response.usage is not None and stream.response.usage.total_tokens == 3
    assert stream.error is None


def test_stream_request_answered_with_a_json_error_and_status_200(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    body = {
        "error": {
            "message": "model is warming up",
            "type": "invalid_request_error",
            "code": "warming",
        }
    }
    loopback_server.add("POST", PATH, Reply.json(body))
    client = make_client()
    with pytest.raises(LlmError) as caught:
        client.chat_completion_stream(REQ)
    assert "model is warming up" in str(caught.value)
    assert not isinstance(caught.value, (MalformedResponseError, StreamInterruptedError))


def test_stream_request_answered_with_an_html_page(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.raw(200, "<html><body>Sign in to Wi-Fi</body></html>"))
    client = make_client(OPTIONS.evolve(max_retries=3))
    with pytest.raises(MalformedResponseError) as caught:
        client.chat_completion_stream(REQ)
    assert not caught.value.is_retryable()
    assert "HTML" in str(caught.value)
    assert len(loopback_server.requests) == 1


def test_event_error_frame_surfaces_the_servers_message(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    events: list[str | bytes] = [
        chunk("", role="assistant"),
        chunk("so far"),
        b'event: error\ndata: {"message": "backend exploded", "type": "server_error"}\n\n',
    ]
    loopback_server.add("POST", PATH, Reply.sse(events))
    client = make_client()
    stream = client.chat_completion_stream(REQ)
    with pytest.raises(LlmError) as caught:
        stream.until_done()
    assert "backend exploded" in str(caught.value)
    assert isinstance(caught.value, ServerError)
    assert caught.value.partial is not None and caught.value.partial.text() == "so far"


def test_retryable_error_inside_a_200_body_is_retried_like_its_status(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add(
        "POST",
        PATH,
        Reply.json({"error": {"code": 502, "message": "upstream connect error"}}),
        Reply.json(completion("second time lucky")),
    )
    client = make_client()
    assert client.chat_completion(REQ).text() == "second time lucky"
    assert len(loopback_server.requests) == 2


def test_retryable_error_in_a_json_answer_to_a_stream_request_is_retried(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add(
        "POST",
        PATH,
        Reply.json({"error": {"code": 503, "message": "overloaded"}}),
        Reply.sse(long_stream(2)),
    )
    client = make_client()
    assert client.chat_completion_stream(REQ).text() == "w0 w1 "
    assert len(loopback_server.requests) == 2


# --- 6. redirects and proxies -----------------------------------------------------------------


def test_redirect_to_another_origin_is_not_followed(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    with LoopbackServer() as other:
        other.add("POST", PATH, Reply.json(completion("stolen")))
        target = other.url(PATH)
        loopback_server.add("POST", PATH, Reply.status(307, headers={"Location": target}))
        client = make_client()
        with pytest.raises(RedirectError) as caught:
            client.chat_completion(REQ)
        assert caught.value.location == target
        assert target in str(caught.value)
        assert not caught.value.is_retryable()
        assert other.requests == []


def test_same_origin_307_is_followed_with_method_body_and_key(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.status(307, headers={"Location": "/v2/chat"}))
    loopback_server.add("POST", "/v2/chat", Reply.json(completion("moved")))
    client = make_client()
    assert client.chat_completion(REQ).text() == "moved"
    moved = loopback_server.requests[1]
    assert moved.path == "/v2/chat"
    assert moved.json()["messages"][0]["content"] == "hi"
    assert moved.headers["authorization"] == loopback_server.requests[0].headers["authorization"]


def test_a_netrc_entry_for_the_host_does_not_replace_the_api_key(
    loopback_server: LoopbackServer,
    make_client: Callable[..., Client],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """requests, left to itself, replaces the Authorization header with Basic credentials
    from ~/.netrc when the file has an entry for the host."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    loopback_server.add("POST", PATH, Reply.json(completion("keyed")))
    assert make_client().chat_completion(REQ).text() == "keyed"
    assert loopback_server.requests[0].headers["authorization"] == "Bearer test-key-0123"


def test_a_cookie_the_server_sets_is_sent_back_to_that_host_only(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    """Load balancers pin a client to a node with a cookie: the client keeps it, as a
    ``requests.Session`` does, and sends it back, and never to another host."""
    loopback_server.add(
        "POST",
        PATH,
        Reply.json(completion("first"), headers={"Set-Cookie": "node=n3; Path=/"}),
        Reply.json(completion("second")),
    )
    client = make_client()
    assert client.chat_completion(REQ).text() == "first"
    assert client.chat_completion(REQ).text() == "second"
    first, second = loopback_server.requests
    assert "cookie" not in first.headers
    assert second.headers["cookie"] == "node=n3"
    with LoopbackServer() as other:
        other.add("POST", PATH, Reply.json(completion("other")))
        elsewhere = make_client(base_url=other.base_url.replace("127.0.0.1", "localhost") + "/v1")
        elsewhere._transport.session.cookies.update(client._transport.session.cookies)
        assert elsewhere.chat_completion(REQ).text() == "other"
        assert "cookie" not in other.requests[0].headers


def test_302_for_a_post_is_not_turned_into_a_get(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.status(302, headers={"Location": "/login"}))
    client = make_client()
    with pytest.raises(RedirectError):
        client.chat_completion(REQ)
    assert [r.path for r in loopback_server.requests] == [PATH]


def test_explicit_proxy_wins_over_proxy_environment_variables(
    loopback_server: LoopbackServer,
    make_client: Callable[..., Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upstream = "http://upstream.invalid/v1"
    with LoopbackServer() as env_proxy:
        monkeypatch.setenv("HTTP_PROXY", env_proxy.base_url)
        monkeypatch.setenv("http_proxy", env_proxy.base_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        loopback_server.add(
            "POST", "http://upstream.invalid/v1/chat/completions", Reply.json(completion("via"))
        )
        client = make_client(OPTIONS.evolve(proxy=loopback_server.base_url), base_url=upstream)
        assert client.chat_completion(REQ).text() == "via"
        assert env_proxy.requests == []


def test_proxy_environment_variable_is_used_without_an_explicit_proxy(
    loopback_server: LoopbackServer,
    make_client: Callable[..., Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", loopback_server.base_url)
    monkeypatch.setenv("http_proxy", loopback_server.base_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    loopback_server.add(
        "POST", "http://upstream.invalid/v1/chat/completions", Reply.json(completion("env"))
    )
    client = make_client(base_url="http://upstream.invalid/v1")
    assert client.chat_completion(REQ).text() == "env"


def test_proxy_environment_changes_between_calls_of_one_client_are_honoured(
    loopback_server: LoopbackServer,
    make_client: Callable[..., Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The proxy settings are cached per origin and environment: setting, changing and
    removing a proxy variable (or adding the host to no_proxy) takes effect at the next call."""
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with LoopbackServer() as first, LoopbackServer() as second:
        for server in (first, second):
            server.add(
                "POST", "http://upstream.invalid/v1/chat/completions", Reply.json(completion("p"))
            )
        client = make_client(base_url="http://upstream.invalid/v1")
        monkeypatch.setenv("http_proxy", first.base_url)
        assert client.chat_completion(REQ).text() == "p"
        monkeypatch.setenv("http_proxy", second.base_url)
        assert client.chat_completion(REQ).text() == "p"
        monkeypatch.delenv("http_proxy")
        monkeypatch.setenv("Http_Proxy", first.base_url)  # any case counts, as in urllib
        assert client.chat_completion(REQ).text() == "p"
        monkeypatch.setenv("no_proxy", "upstream.invalid")
        with pytest.raises(ApiConnectionError):  # no proxy now: the .invalid host is looked up
            client.chat_completion(REQ)
        assert (len(first.requests), len(second.requests)) == (2, 1)


# --- 7. a batch never loses results ---------------------------------------------------------


def test_batch_keeps_every_slot_whatever_one_item_raises(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.json(completion("fine")))
    client = make_client()

    def hook(http_request: Any, provider: Any) -> None:
        if http_request.json["messages"][0]["content"] == "boom":
            raise ZeroDivisionError("a bug in a payload hook")

    client._on_payload = (hook,)
    requests: list[Any] = [
        REQ,
        ChatCompletionRequest("loop-model", [Message.user("boom")]),
        "not a request",
        REQ,
    ]
    results = client.chat_completion_batch(requests, concurrency=4)
    assert len(results) == 4
    assert [getattr(r, "text", lambda: None)() for r in (results[0], results[3])] == ["fine"] * 2
    assert isinstance(results[1], LlmError) and "ZeroDivisionError" in str(results[1])
    assert "requests[1]" in str(results[1])
    assert isinstance(results[2], LlmError) and "requests[2]" in str(results[2])
    assert len(loopback_server.requests) == 2


def test_llamacpp_error_field_surfaces_the_servers_message(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    events: list[str | bytes] = [
        chunk("", role="assistant"),
        b'error: {"code":500,"message":"the context is full","type":"server_error"}\n\n',
    ]
    loopback_server.add("POST", PATH, Reply.sse(events))
    client = make_client()
    stream = client.chat_completion_stream(REQ)
    with pytest.raises(ServerError) as caught:
        stream.until_done()
    assert "the context is full" in str(caught.value)
    assert caught.value.status == 500


# --- stale keep-alive connections ----------------------------------------------------------------


def test_a_pooled_connection_the_server_closed_is_replaced_without_a_retry(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add(
        "POST", PATH, Reply.json(completion("one")), Reply.dropped(), Reply.json(completion("two"))
    )
    client = make_client(OPTIONS.evolve(max_retries=0))
    assert client.chat_completion(REQ).text() == "one"
    assert client.chat_completion(REQ).text() == "two"  # the kept-alive connection was dead
    first, dropped, again = loopback_server.requests
    assert first.connection_id == dropped.connection_id != again.connection_id


def test_a_new_connection_closed_without_an_answer_is_a_real_failure(
    loopback_server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    loopback_server.add("POST", PATH, Reply.dropped(), Reply.json(completion("late")))
    client = make_client(OPTIONS.evolve(max_retries=0))
    with pytest.raises(ApiConnectionError):
        client.chat_completion(REQ)
    assert len(loopback_server.requests) == 1
