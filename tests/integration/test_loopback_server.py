"""Self-tests of the loopback HTTP server used by the integration tests."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests
from loopback import LoopbackServer, Reply

TIMEOUT = (1.0, 2.0)  # (connect, read) for every client call: nothing may hang CI


def test_json_reply_and_recording(loopback_server: LoopbackServer) -> None:
    loopback_server.add("POST", "/v1/chat", Reply.json({"ok": True}, headers={"X-Req": "7"}))
    resp = requests.post(
        loopback_server.url("/v1/chat?stream=false&x=1"),
        json={"model": "m", "text": "héllo"},
        headers={"Authorization": "Bearer k", "X-Custom": "v"},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200
    assert resp.json() == {"ok": True}
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["X-Req"] == "7"

    (req,) = loopback_server.requests
    assert req.method == "POST"
    assert req.path == "/v1/chat"
    assert req.query == "stream=false&x=1"
    assert req.params == {"stream": ["false"], "x": ["1"]}
    assert req.headers["authorization"] == "Bearer k"
    assert req.headers["x-custom"] == "v"
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {"model": "m", "text": "héllo"}
    assert req.body == json.dumps({"model": "m", "text": "héllo"}).encode()


def test_keep_alive_reuses_one_connection(loopback_server: LoopbackServer) -> None:
    loopback_server.add("GET", "/a", Reply.json({"n": 1}))
    with requests.Session() as session:
        first = session.get(loopback_server.url("/a"), timeout=TIMEOUT)
        second = session.get(loopback_server.url("/a"), timeout=TIMEOUT)
    assert first.json() == second.json() == {"n": 1}
    ids = [r.connection_id for r in loopback_server.requests]
    assert len(ids) == 2 and ids[0] == ids[1]


def test_sse_fragment_1_crlf_and_multibyte(loopback_server: LoopbackServer) -> None:
    events = ['{"delta": "héllo ✓ 你好"}', "second\nline", "[DONE]"]
    reply = Reply.sse(events, fragment=1, line_ending="\r\n")
    expected = Reply.sse_body(events, line_ending="\r\n")
    assert "héllo ✓ 你好".encode() in expected
    assert b"\r\n\r\n" in expected
    loopback_server.add("POST", "/stream", reply)

    with requests.post(
        loopback_server.url("/stream"), json={}, stream=True, timeout=TIMEOUT
    ) as resp:
        assert resp.headers["Transfer-Encoding"] == "chunked"
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        parts = list(resp.iter_content(chunk_size=None))
    assert b"".join(parts) == expected
    assert len(parts) > 1  # it really arrived in pieces


def test_sse_random_fragments_close_delimited(loopback_server: LoopbackServer) -> None:
    events: list[str | bytes] = ["a" * 40, "ü" * 20, b": comment\n\n"]
    expected = Reply.sse_body(events)
    reply = Reply.sse(events, random_fragments=True, seed=3, chunked=False, delay=0.001)
    assert len(reply.pieces()) > 5
    assert reply.pieces() == Reply.sse(events, random_fragments=True, seed=3).pieces()
    loopback_server.add("GET", "/s", reply)
    resp = requests.get(loopback_server.url("/s"), timeout=TIMEOUT)
    assert "Transfer-Encoding" not in resp.headers
    assert resp.headers["Connection"] == "close"
    assert resp.content == expected


@pytest.mark.parametrize("stream", [True, False])
def test_cut_after_breaks_the_body(loopback_server: LoopbackServer, stream: bool) -> None:
    loopback_server.add("GET", "/cut", Reply.sse(["x" * 50, "y" * 50], fragment=8, cut_after=30))
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        resp = requests.get(loopback_server.url("/cut"), stream=stream, timeout=TIMEOUT)
        for _ in resp.iter_content(chunk_size=None):
            pass


def test_truncated_content_length_body(loopback_server: LoopbackServer) -> None:
    loopback_server.add("GET", "/short", Reply.raw(200, b'{"a": [1, 2, 3]}', cut_after=5))
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        requests.get(loopback_server.url("/short"), timeout=TIMEOUT)


def test_html_error_page_and_truncated_json(loopback_server: LoopbackServer) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    loopback_server.add("GET", "/html", Reply.raw(502, html))
    loopback_server.add(
        "GET", "/trunc", Reply.raw(200, b'{"a": [1, 2', content_type="application/json")
    )
    resp = requests.get(loopback_server.url("/html"), timeout=TIMEOUT)
    assert resp.status_code == 502
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.text == html
    resp = requests.get(loopback_server.url("/trunc"), timeout=TIMEOUT)
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()


def test_429_then_success_and_last_reply_repeats(loopback_server: LoopbackServer) -> None:
    loopback_server.add(
        "POST",
        "/v1/chat",
        Reply.status(429, headers={"Retry-After": "0"}),
        Reply.json({"ok": 1}),
    )
    with requests.Session() as session:
        codes = []
        for _ in range(3):
            resp = session.post(loopback_server.url("/v1/chat"), json={}, timeout=TIMEOUT)
            codes.append(resp.status_code)
            if resp.status_code == 429:
                assert resp.headers["Retry-After"] == "0"
                assert resp.text == "429 Too Many Requests"
    assert codes == [429, 200, 200]
    assert len(loopback_server.requests) == 3


def test_unscripted_route_is_404(loopback_server: LoopbackServer) -> None:
    resp = requests.get(loopback_server.url("/nope"), timeout=TIMEOUT)
    assert resp.status_code == 404
    assert "no scripted reply for GET /nope" in resp.text


def test_hang_then_client_close_is_detected(loopback_server: LoopbackServer) -> None:
    loopback_server.add("POST", "/hang", Reply.hang())
    resp = requests.post(loopback_server.url("/hang"), json={}, stream=True, timeout=TIMEOUT)
    assert resp.status_code == 200
    assert not loopback_server.wait_for_disconnect(0.1)
    resp.close()
    assert loopback_server.wait_for_disconnect(2.0)
    assert loopback_server.requests[0].disconnected.is_set()
    assert loopback_server.disconnect_count == 1


def test_hang_after_stream_and_read_timeout(loopback_server: LoopbackServer) -> None:
    loopback_server.add("GET", "/ha", Reply.sse(["one"], hang_after=True))
    start = time.monotonic()
    with requests.get(loopback_server.url("/ha"), stream=True, timeout=(1.0, 0.2)) as resp:
        it = resp.iter_content(chunk_size=None)
        assert next(it) == b"data: one\n\n"
        with pytest.raises(requests.ConnectionError):
            next(it)  # read timeout: the body is never terminated
    assert time.monotonic() - start < 1.5
    assert loopback_server.wait_for_disconnect(2.0)


def test_pause_gives_read_timeout(loopback_server: LoopbackServer) -> None:
    loopback_server.add("GET", "/slow", Reply.json({}).after(5.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(loopback_server.url("/slow"), timeout=(1.0, 0.2))
    assert loopback_server.wait_for_disconnect(2.0)


def test_stop_closes_hanging_connections_quickly() -> None:
    server = LoopbackServer().start()
    server.add("GET", "/h", Reply.hang(send_headers=False))
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=2.0)
    sock.sendall(b"GET /h HTTP/1.1\r\nHost: x\r\n\r\n")
    assert server.wait_for_requests(1, timeout=2.0)
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 1.0
    assert sock.recv(100) == b""  # server closed without sending anything
    sock.close()
    leftover = [t for t in threading.enumerate() if t.name.startswith(f"loopback-{server.port}")]
    assert leftover == []
    assert server.errors == []


def test_binds_only_loopback_with_ephemeral_port() -> None:
    with LoopbackServer() as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        assert server.port != 0
