#!/usr/bin/env python3
"""The benchmark's loopback server: fast enough that no client under test waits for it.

Runs in its own process (``python bench/bench_server.py`` prints ``PORT <n>`` and serves on
127.0.0.1 until killed; ``bench_server.py 20000 8`` first builds the
streams of 20,000 and 8 chunks), so it never shares a GIL with a client. It is a small HTTP/1.1
server on asyncio (uvloop when installed), keep-alive, ``TCP_NODELAY``:

- every answer's bytes (status line, headers and body) are built once and cached; a stream of
  20,000 events is one precomputed chunked body of about 3 MB, handed to the kernel in a few
  large writes instead of one write per event (a threaded ``http.server`` writing one event
  per call tops out below what a fast client reads; the raw-socket floor row of the table
  shows the headroom);
- ``bench-slow`` requests are answered after 50 ms by a timer, so 16 connections wait at once
  without 16 threads;
- ``GET /__stats`` returns the counts (requests per path, streams, connections accepted), which
  the orchestrator reads before and after each worker to check what the client claimed to send.

The model name selects the answer; see ``benchdata``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchdata as bd

HTTP_CHUNK = 64 * 1024  # bytes of SSE per HTTP/1.1 chunk in a streamed body


class Stats:
    requests = 0
    streams = 0
    connections = 0
    bad = 0
    by_path: dict[str, int] = {}  # noqa: RUF012 (one process, one instance)


def _response(
    body: bytes,
    status: str = "200 OK",
    content_type: str = "application/json",
    chunked: bool = False,
) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}"]
    if chunked:
        head += ["Cache-Control: no-cache", "Transfer-Encoding: chunked"]
        framed = bytearray()
        for start in range(0, len(body), HTTP_CHUNK):
            part = body[start : start + HTTP_CHUNK]
            framed += b"%x\r\n%s\r\n" % (len(part), part)
        framed += b"0\r\n\r\n"
        body = bytes(framed)
    else:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def completion_body(text: str, model: str) -> bytes:
    return _dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": bd.CREATED,
            "model": model,
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 64, "total_tokens": 76},
        }
    )


@functools.lru_cache(maxsize=8)
def completion_response(model: str) -> bytes:
    return _response(completion_body(bd.REPLY_TEXT, model))


@functools.lru_cache(maxsize=8)
def openai_stream_response(chunks: int) -> bytes:
    """Role chunk, one chunk per piece, finish chunk, usage chunk, ``[DONE]``."""
    model = bd.stream_model(chunks)

    def chunk(choices: list[Any], **extra: Any) -> bytes:
        obj = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": bd.CREATED,
            "model": model,
            "system_fingerprint": "fp_bench",
            "choices": choices,
            **extra,
        }
        return b"data: " + _dumps(obj) + b"\n\n"

    def choice(delta: dict[str, Any], finish: str | None = None) -> list[Any]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    parts = [chunk(choice({"role": "assistant", "content": ""}))]
    parts += [chunk(choice({"content": piece})) for piece in bd.stream_pieces(chunks)]
    parts.append(chunk(choice({}, "stop")))
    usage = {"prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}
    parts.append(chunk([], usage=usage))
    parts.append(b"data: [DONE]\n\n")
    return _response(b"".join(parts), content_type="text/event-stream", chunked=True)


@functools.lru_cache(maxsize=8)
def anthropic_stream_response(chunks: int) -> bytes:
    """A Messages API stream: message_start, one text block of ``chunks`` deltas, stop."""
    model = bd.stream_model(chunks)

    def event(name: str, data: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n"

    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    parts = [
        event("message_start", {"type": "message_start", "message": message}),
        event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        event("ping", {"type": "ping"}),
    ]
    parts += [
        event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in bd.stream_pieces(chunks)
    ]
    parts += [
        event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": chunks},
            },
        ),
        event("message_stop", {"type": "message_stop"}),
    ]
    return _response(b"".join(parts), content_type="text/event-stream", chunked=True)


NOT_FOUND = _response(b'{"error": {"message": "not found"}}', status="404 Not Found")
BAD_REQUEST = _response(
    b'{"error": {"message": "bad request", "type": "invalid_request_error"}}',
    status="400 Bad Request",
)


def _prompt_of(payload: dict[str, Any]) -> str:
    """The last message's text (a string, or the text parts of a content list)."""
    messages = payload.get("messages") or [{}]
    content = messages[-1].get("content", "")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


class HttpProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transport is no asyncio.Transport subclass, but it has the same methods
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Stats.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.transport is not None and not self.transport.is_closing():
            request = self._take_request()
            if request is None:
                return
            self._answer(*request)

    def _take_request(self) -> tuple[str, str, dict[str, str], bytes] | None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            pos = start
            while True:
                eol = self.buf.find(b"\r\n", pos)
                if eol < 0:
                    return None
                size = int(bytes(self.buf[pos:eol]).split(b";")[0], 16)
                if size == 0:
                    trailer_end = self.buf.find(b"\r\n\r\n", eol)
                    if trailer_end < 0:
                        return None
                    consumed = trailer_end + 4
                    break
                if len(self.buf) < eol + 2 + size + 2:
                    return None
                body += self.buf[eol + 2 : eol + 2 + size]
                pos = eol + 2 + size + 2
        else:
            length = int(headers.get("content-length") or 0)
            if len(self.buf) < start + length:
                return None
            body = self.buf[start : start + length]
            consumed = start + length
        del self.buf[:consumed]
        if headers.get("connection", "").lower() == "close":
            self.close_after = True
        return method, path.split("?")[0], headers, bytes(body)

    def _send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        if self.close_after:
            self.transport.close()

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        if method == "GET" and path == "/__stats":
            stats = {
                "requests": Stats.requests,
                "streams": Stats.streams,
                "connections": Stats.connections,
                "bad": Stats.bad,
                "by_path": Stats.by_path,
            }
            self._send(_response(_dumps(stats)))
            return
        Stats.requests += 1
        Stats.by_path[path] = Stats.by_path.get(path, 0) + 1
        path = path.rstrip("/")
        if method != "POST" or path not in ("/v1/chat/completions", "/v1/messages"):
            Stats.bad += 1
            self._send(NOT_FOUND)
            return
        try:
            payload = json.loads(body)
            model = str(payload["model"])
        except (ValueError, KeyError, TypeError):
            Stats.bad += 1
            self._send(BAD_REQUEST)
            return
        chunks = bd.chunks_of(model)
        if payload.get("stream") is True and chunks is not None:
            Stats.streams += 1
            if path == "/v1/messages":
                self._send(anthropic_stream_response(chunks))
            else:
                self._send(openai_stream_response(chunks))
        elif path == "/v1/chat/completions" and model == bd.SLOW_MODEL:
            answer = _response(completion_body(bd.slow_reply(_prompt_of(payload)), model))
            asyncio.get_running_loop().call_later(bd.SLOW_LATENCY_S, self._send, answer)
        elif path == "/v1/chat/completions" and model == bd.MODEL:
            self._send(completion_response(model))
        else:
            Stats.bad += 1
            self._send(BAD_REQUEST)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(prebuild: list[int], port: int = 0) -> None:
    # Build the big bodies before announcing the port: no timed request pays for that.
    for chunks in prebuild:
        openai_stream_response(chunks)
        anthropic_stream_response(chunks)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpProtocol, "127.0.0.1", port, backlog=256)
    sock = server.sockets[0]
    loop_name = type(loop).__module__.split(".")[0]  # "asyncio" or "uvloop"
    print(f"PORT {sock.getsockname()[1]} {loop_name}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """``bench_server.py [N ...]``: serve, after building the streams of N chunks."""
    prebuild = [int(a) for a in (sys.argv[1:] if argv is None else argv)]
    bd.install_loopback_guard()
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(prebuild))


if __name__ == "__main__":
    main()
