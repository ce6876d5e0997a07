"""Stream framing over real sockets: what the loopback server sends is what the user reads.

The server splits its bodies into TCP sends (and HTTP chunks) of one or a few bytes, so every
line end, byte-order mark and multi-byte character gets cut somewhere in transit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from loopback import LoopbackServer, Reply

from llmcore import ChatCompletionRequest, Client, ConnectionOptions, Message, StopReason
from llmcore.frames import ndjson_frames, sse_frames
from llmcore.http import Frame
from llmcore_openai import openai_compatible

PATH = "/v1/chat/completions"
OPTIONS = ConnectionOptions(connect_timeout=1.0, read_timeout=2.0, max_retries=0)
REQ = ChatCompletionRequest("loop-model", [Message.user("hi")])
PIECES = ["h", "é", "llo ", "✓", " 你", "好 ", "🎉"]
TEXT = "".join(PIECES)
BOM = "\ufeff".encode()
ENDINGS = [b"\n", b"\r\n", b"\r"]

FRAGMENTS = [
    pytest.param({"fragment": 1}, id="1-byte"),
    pytest.param({"fragment": 1, "chunked": False}, id="1-byte-close-delimited"),
    pytest.param({"random_fragments": True, "fragment": 5, "seed": 11}, id="random-5"),
    pytest.param({"random_fragments": True, "fragment": 9, "seed": 12}, id="random-9"),
]


def chunk(text: str | None = None, finish: str | None = None, role: str | None = None) -> str:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = role
    if text is not None:
        delta["content"] = text
    obj = {
        "id": "chatcmpl-loop",
        "object": "chat.completion.chunk",
        "model": "loop-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return json.dumps(obj, ensure_ascii=False)


def event(lines: list[str], n: int) -> bytes:
    """An event whose lines (and closing blank line) cycle through LF, CRLF and CR endings."""
    out = b""
    for i, line in enumerate([*lines, ""]):
        end = ENDINGS[(n + i) % 3]
        if not line and end == b"\n" and out.endswith(b"\r"):
            end = b"\r\n"  # CR, then a blank line ended by LF, would read as one CRLF
        out += line.encode() + end
    return out


def mixed_stream(pieces: list[str]) -> bytes:
    """A BOM, comments, ids and unknown fields, with every line ending in use."""
    datas = [chunk("", role="assistant"), *[chunk(p) for p in pieces], chunk(finish="stop")]
    out = BOM
    for n, data in enumerate(datas):
        lines = [f"data: {data}"]
        if n % 2:
            lines = [": keep-alive", f"id: {n}", *lines, "retry: 100", "x-unknown: 1"]
        out += event(lines, n)
        if n % 3 == 0:
            out += event([": ping"], n)  # a comment-only event dispatches nothing
    return out + event(["data: [DONE]"], 1)


@pytest.fixture
def make_client(loopback_server: LoopbackServer) -> Iterator[Callable[[], Client]]:
    made: list[Client] = []

    def make() -> Client:
        client = Client(openai_compatible(loopback_server.base_url + "/v1"), options=OPTIONS)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def served_frames(
    loopback_server: LoopbackServer, reply: Reply, decoder: Callable[..., Iterator[Frame]]
) -> list[Frame]:
    """Frames decoded from the body chunks exactly as they come off the socket."""
    loopback_server.add("GET", "/stream", reply)
    with requests.get(loopback_server.url("/stream"), stream=True, timeout=2.0) as response:
        return list(decoder(response.iter_content(chunk_size=None)))


@pytest.mark.parametrize("reply_kw", FRAGMENTS)
def test_mixed_line_endings_bom_and_comments_give_exactly_the_text_sent(
    loopback_server: LoopbackServer, make_client: Callable[[], Client], reply_kw: dict[str, Any]
) -> None:
    reply = Reply.sse([mixed_stream(PIECES)], **reply_kw)
    body = reply.body
    assert body.startswith(BOM)
    assert all(ends in body for ends in (b"\r\r", b"\n\r\n", b"\r\n\r", b"\r\r\n"))
    assert len(reply.pieces()) > 100
    loopback_server.add("POST", PATH, reply)
    stream = make_client().chat_completion_stream(REQ)
    assert "".join(c.text() or "" for c in stream) == TEXT
    assert stream.response.text() == TEXT
    assert stream.response.stop_reason is StopReason.STOP
    assert stream.error is None


def test_invalid_utf8_in_a_stream_is_replaced_and_the_stream_goes_on(
    loopback_server: LoopbackServer, make_client: Callable[[], Client]
) -> None:
    bad = chunk("a\udcffb").encode("utf-8", "surrogateescape")  # a raw 0xFF byte in the JSON
    assert b"a\xffb" in bad
    events = [
        chunk("", role="assistant"),
        b"data: " + bad + b"\n\n",
        chunk("é✓"),
        chunk(finish="stop"),
    ]
    loopback_server.add("POST", PATH, Reply.sse([*events, "[DONE]"], fragment=1))
    stream = make_client().chat_completion_stream(REQ)
    assert "".join(c.text() or "" for c in stream) == "a\ufffdbé✓"
    assert stream.response.stop_reason is StopReason.STOP
    assert stream.error is None


def test_one_large_event_in_small_pieces_arrives_whole(
    loopback_server: LoopbackServer, make_client: Callable[[], Client]
) -> None:
    big = "🎉x" * 50_000  # 250 kB of content in one event, cut into up to 16-byte pieces
    events = [chunk(big), chunk(finish="stop"), "[DONE]"]
    reply = Reply.sse([BOM, *events], line_ending="\r\n", random_fragments=True, seed=5)
    loopback_server.add("POST", PATH, reply)
    stream = make_client().chat_completion_stream(REQ)
    assert "".join(c.text() or "" for c in stream) == big
    assert stream.response.text() == big


@pytest.mark.parametrize("reply_kw", FRAGMENTS)
def test_sse_fields_over_the_socket(
    loopback_server: LoopbackServer, reply_kw: dict[str, Any]
) -> None:
    error = '{"code":500,"message":"context overflow","type":"server_error"}'
    body = (
        BOM
        + b"id: 1\r\ndata: one\r\n\r\n"
        + b": comment\revent: delta\rdata: two\rdata:  lines\r\r"
        + b"data: \xff\n\n"
        + b"id: 2\nevent: error\ndata: typed\n\n"
        + b"error: "
        + error.encode()
        + b"\r\n\r\n"
        + b"data: tail\n"  # the stream ends after a complete line, without the blank line
    )
    frames = served_frames(loopback_server, Reply.sse([body], **reply_kw), sse_frames)
    assert frames == [
        Frame("one", id="1"),
        Frame("two\n lines", event="delta", id="1"),
        Frame("\ufffd", id="1"),
        Frame("typed", event="error", id="2"),
        Frame(error, event="error", id="2"),
        Frame("tail", id="2"),
    ]


@pytest.mark.parametrize("reply_kw", FRAGMENTS)
def test_ndjson_over_the_socket(loopback_server: LoopbackServer, reply_kw: dict[str, Any]) -> None:
    body = BOM + b'{"a": "\xc3\xa9"}\r\n\r\n  \n{"b": "\xff"}\n\n{"c": 3}'
    reply = Reply.sse([body], **reply_kw)
    frames = served_frames(loopback_server, reply, ndjson_frames)
    assert [f.json() for f in frames] == [{"a": "é"}, {"b": "\ufffd"}, {"c": 3}]
