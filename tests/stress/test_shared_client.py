"""One client shared by 32 threads, with cancels from timer threads (``tox -e stress``).

Every request carries a nonce; the server (127.0.0.1, a real threaded HTTP/1.1 server with
keep-alive) answers with text made of that nonce and counts what it received. Plain calls,
streams read to the end and streams cancelled at a random moment are mixed. Afterwards: no
unexpected error, no request received twice, no answer that holds another request's bytes.
"""

from __future__ import annotations

import collections
import json
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from llmcore import ChatCompletionRequest, Client, ConnectionOptions, Message, StopReason
from llmcore_openai import openai_compatible

pytestmark = pytest.mark.stress

THREADS = 32
CALLS = 20
ROUNDS = 10
PIECES = 8


def expected_text(nonce: str) -> str:
    return "".join(f"{nonce}:{i} " for i in range(PIECES))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        nonce = body["messages"][0]["content"]
        with self.server.lock:
            self.server.received[nonce] += 1
        pieces = [f"{nonce}:{i} " for i in range(PIECES)]
        if not body.get("stream"):
            data = json.dumps(
                {
                    "id": nonce,
                    "object": "chat.completion",
                    "model": "m",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(pieces)},
                            "finish_reason": "stop",
                        }
                    ],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for i, piece in enumerate([*pieces, None]):
                delta = {"content": piece} if piece is not None else {}
                finish = None if piece is not None else "stop"
                event = {
                    "id": nonce,
                    "object": "chat.completion.chunk",
                    "model": "m",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                frame = f"data: {json.dumps(event)}\n\n".encode()
                if piece is None:
                    frame += b"data: [DONE]\n\n"
                self.wfile.write(b"%x\r\n%b\r\n" % (len(frame), frame))
                self.wfile.flush()
                if i % 3 == 0:
                    time.sleep(0.002)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:  # the client cancelled: it closed the connection
            self.close_connection = True


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _worker(
    client: Client, round_no: int, thread_no: int, rng: random.Random, out: dict[str, Any]
) -> None:
    for i in range(CALLS):
        nonce = f"r{round_no}t{thread_no}c{i}"
        request = ChatCompletionRequest("m", [Message.user(nonce)])
        kind = ("plain", "stream", "cancelled")[(thread_no + i) % 3]
        try:
            if kind == "plain":
                text = client.chat_completion(request).text()
                out[nonce] = (kind, text, StopReason.STOP)
                continue
            stream, handle = client.chat_completion_stream_with_cancel(request)
            timer = None
            if kind == "cancelled":
                timer = threading.Timer(rng.uniform(0.0, 0.02), handle.cancel)
                timer.start()
            text = "".join(chunk.text() or "" for chunk in stream)
            if timer is not None:
                timer.join()
            out[nonce] = (kind, text, stream.response.stop_reason)
        except Exception as exc:  # every error here is unexpected
            out[nonce] = (kind, exc, None)


def test_one_client_32_threads_with_cancels(server: _Server) -> None:
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    options = ConnectionOptions(read_timeout=20.0, connect_timeout=5.0, pool_size=8)
    unexpected: list[str] = []
    crossed: list[str] = []
    cancelled = 0
    with Client(openai_compatible(base), api_key="stress-key-0000", options=options) as client:
        for round_no in range(ROUNDS):
            results: dict[str, Any] = {}
            rng = random.Random(round_no)
            threads = [
                threading.Thread(
                    target=_worker,
                    args=(client, round_no, t, random.Random(rng.random()), results),
                )
                for t in range(THREADS)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert len(results) == THREADS * CALLS
            for nonce, (kind, text, reason) in results.items():
                if isinstance(text, BaseException):
                    unexpected.append(f"{nonce} ({kind}): {text!r}")
                    continue
                want = expected_text(nonce)
                if kind == "cancelled":
                    cancelled += reason is StopReason.ABORTED
                    if not want.startswith(text) or reason not in (
                        StopReason.ABORTED,
                        StopReason.STOP,
                    ):
                        crossed.append(f"{nonce}: {text!r} {reason}")
                elif text != want or reason is not StopReason.STOP:
                    crossed.append(f"{nonce} ({kind}): {text!r} {reason}")
                received = server.received[nonce]
                if kind != "cancelled" and received != 1:
                    crossed.append(f"{nonce} ({kind}) received {received} times")
    twice = {n: c for n, c in server.received.items() if c > 1}
    assert unexpected == []
    assert twice == {}
    assert crossed == []
    assert cancelled > 0  # the cancels really hit streams in flight
