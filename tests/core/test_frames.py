"""Stream framing (``llmcore.frames``): SSE per the WHATWG event-stream rules, and NDJSON.

Every case is fed as the socket might deliver it: whole, and split at every position or into
small pieces, because a decoder that only works on whole lines is wrong in production.
"""

from __future__ import annotations

import codecs
import itertools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmcore import frames as frames_module
from llmcore.frames import decode_frames, ndjson_frames, sse_frames
from llmcore.http import Frame

Decoder = Callable[[Iterable[bytes]], Iterator[Frame]]
BOM = "\ufeff".encode()


def pieces(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def splits(body: bytes) -> Iterator[list[bytes]]:
    """The body whole, cut in two at every position, and in 1-byte pieces."""
    yield [body]
    for i in range(1, len(body)):
        yield [body[:i], body[i:]]
    yield pieces(body, 1)


def sse(body: bytes) -> list[Frame]:
    """Frames of ``body``, checked to be the same for every way of splitting it."""
    results = [list(sse_frames(chunks)) for chunks in splits(body)]
    for result in results[1:]:
        assert result == results[0]
    return results[0]


def ndjson(body: bytes) -> list[Frame]:
    results = [list(ndjson_frames(chunks)) for chunks in splits(body)]
    for result in results[1:]:
        assert result == results[0]
    return results[0]


def datas(frames: list[Frame]) -> list[str]:
    return [f.data for f in frames]


# --- SSE: line endings -----------------------------------------------------------------------


def test_sse_lf_crlf_and_cr_line_endings_mixed_in_one_stream() -> None:
    body = (
        b"data: lf\n\n"
        b"data: crlf\r\n\r\n"
        b"data: cr\r\r"
        b"data: a\r\ndata: b\ndata: c\r\n\n"  # one event, three endings
        b"data: lf-then-crlf\n\r\n"
        b"data: cr-then-lf-blank\r\r\n"
        b"data: crlf-then-cr\r\n\r"
    )
    assert datas(sse(body)) == [
        "lf",
        "crlf",
        "cr",
        "a\nb\nc",
        "lf-then-crlf",
        "cr-then-lf-blank",
        "crlf-then-cr",
    ]


def test_sse_cr_at_the_end_of_a_chunk_and_lf_at_the_start_of_the_next_are_one_line_end() -> None:
    # If the CR and the LF counted as two line ends, the LF would be a blank line and "a" and
    # "b" would be two events.
    chunks = [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]
    assert list(sse_frames(chunks)) == [Frame("a\nb")]
    # A lone CR at a chunk end is still a whole line end when no LF follows.
    assert list(sse_frames([b"data: a\r", b"\r", b"data: b\r", b"\r"])) == [Frame("a"), Frame("b")]
    # The LF may arrive after chunks that decode to nothing (a split UTF-8 character).
    chunks = [b"data: \xe2\x82\xac\r", b"", b"\n", b"data: \xe2", b"\x82", b"\xac\r", b"\n\r\n"]
    assert list(sse_frames(chunks)) == [Frame("€\n€")]


# --- SSE: byte-order mark ----------------------------------------------------------------------


def test_sse_leading_bom_is_skipped_also_when_split_across_chunks() -> None:
    assert sse(BOM + b"data: x\n\n") == [Frame("x")]
    assert list(sse_frames([b"\xef", b"\xbb", b"\xbfdata: x\n\n"])) == [Frame("x")]
    assert list(sse_frames([b"", b"\xef\xbb", b"\xbf", b"event: e\ndata: x\n\n"])) == [
        Frame("x", event="e")
    ]


def test_sse_bom_is_skipped_only_at_the_very_start() -> None:
    # A second BOM makes the first line's field name "\ufeffdata": an unknown field.
    assert sse(BOM + BOM + b"data: x\n\ndata: y\n\n") == [Frame("y")]
    # A BOM later in the stream is just as much part of a field name.
    assert sse(b"data: a\n\n" + BOM + b"data: b\n\ndata: c\n\n") == [Frame("a"), Frame("c")]
    # ... and a BOM inside a value is kept.
    assert sse(b"data: \xef\xbb\xbfz\n\n") == [Frame("\ufeffz")]


# --- SSE: fields -------------------------------------------------------------------------------


def test_sse_fields_comments_and_the_single_leading_space() -> None:
    body = (
        b": a comment\n"
        b":\n"
        b"data:no-space\n"
        b"data: one-space\n"
        b"data:  two-spaces\n"
        b"data: a: colon inside\n"
        b"\n"
    )
    assert sse(body) == [Frame("no-space\none-space\n two-spaces\na: colon inside")]


def test_sse_line_without_colon_is_a_field_with_an_empty_value() -> None:
    assert sse(b"data\n\n") == [Frame("")]
    assert sse(b"data\ndata\n\n") == [Frame("\n")]
    assert sse(b"data: x\nevent\n\n") == [Frame("x")]  # empty event type: the default
    assert sse(b"data: a\ndata\ndata: b\n\n") == [Frame("a\n\nb")]


def test_sse_events_without_data_are_not_dispatched_and_unknown_fields_are_ignored() -> None:
    body = (
        b"event: ping\n\n"  # no data: nothing
        b": keep-alive\n\n"
        b"retry: 1000\n\n"
        b"retry: soon\nfoo: bar\nDATA: upper\nData: mixed\n data: leading-space\n\n"
        b"data: kept\nfoo: bar\nretry: 5\n\n"
    )
    assert sse(body) == [Frame("kept")]


def test_sse_event_type_is_none_without_an_event_field_and_resets_after_each_event() -> None:
    body = (
        b"data: 1\n\n"
        b"event: delta\ndata: 2\n\n"
        b"data: 3\n\n"  # the type does not carry over
        b"event: message\ndata: 4\n\n"
        b"event: a\nevent: b\ndata: 5\n\n"  # the last one wins
        b"event: lost\n\n"  # not dispatched, and its type does not leak
        b"data: 6\n\n"
    )
    assert [(f.data, f.event) for f in sse(body)] == [
        ("1", None),
        ("2", "delta"),
        ("3", None),
        ("4", "message"),
        ("5", "b"),
        ("6", None),
    ]


def test_sse_last_event_id_persists_ignores_nul_and_can_be_cleared() -> None:
    body = (
        b"data: 1\n\n"
        b"id: 7\ndata: 2\n\n"
        b"data: 3\n\n"  # the id persists
        b"id: 8\n\n"  # an event without data is not dispatched, but its id counts
        b"data: 4\n\n"
        b"id: bad\x00id\ndata: 5\n\n"  # an id with NUL is ignored
        b"id: 9\nid: x\x00\ndata: 6\n\n"  # ... also after a good one in the same event
        b"id\ndata: 7\n\n"  # an empty id clears it
        b"data: 8\nid: 10\n\n"  # the id of the event being dispatched, wherever it comes
    )
    assert [(f.data, f.id) for f in sse(body)] == [
        ("1", None),
        ("2", "7"),
        ("3", "7"),
        ("4", "8"),
        ("5", "8"),
        ("6", "9"),
        ("7", None),
        ("8", "10"),
    ]


def test_sse_llama_cpp_error_field_is_an_error_frame() -> None:
    error = b'{"code":500,"message":"context overflow","type":"server_error"}'
    body = b"data: {}\n\nerror: " + error + b"\n\n"
    assert sse(body) == [Frame("{}"), Frame(error.decode(), event="error")]
    # event: error with data: stays an ordinary error frame.
    assert sse(b"event: error\ndata: " + error + b"\n\n") == [Frame(error.decode(), event="error")]
    # The leniency at end of stream applies to it as well (complete line, no blank line).
    assert sse(b"error: " + error + b"\n") == [Frame(error.decode(), event="error")]


# --- SSE: UTF-8 --------------------------------------------------------------------------------


def test_sse_invalid_utf8_is_replaced_and_split_characters_are_reassembled() -> None:
    body = b"data: a\xffb\n\ndata: \xc3(\n\ndata: \xe2\x82\n\ndata: after\n\n"
    assert datas(sse(body)) == ["a\ufffdb", "\ufffd(", "\ufffd", "after"]
    # A truncated character at the very end of the stream is replaced too.
    assert sse(b"data: ok\n\ndata: \xf0\x9f\n") == [Frame("ok"), Frame("\ufffd")]
    # Valid characters cut anywhere (sse() splits at every byte) come out whole.
    text = "héllo ✓ 你好 🎉"
    body = f"event: é\nid: 🎉\ndata: {text}\n\n".encode() + b"data: \xff" + text.encode() + b"\n\n"
    assert sse(body) == [Frame(text, event="é", id="🎉"), Frame("\ufffd" + text, id="🎉")]


# --- SSE: end of stream ------------------------------------------------------------------------


def test_sse_end_of_stream_after_complete_lines_dispatches_the_pending_event() -> None:
    assert sse(b"data: a\n\ndata: b\ndata: c\n") == [Frame("a"), Frame("b\nc")]
    assert sse(b"data: a\r\n") == [Frame("a")]
    assert sse(b"data: a\r") == [Frame("a")]  # a final CR is a line end
    assert sse(b"id: 3\nevent: e\ndata: a\n") == [Frame("a", event="e", id="3")]


def test_sse_end_of_stream_in_the_middle_of_a_line_discards_that_event() -> None:
    assert sse(b"data: a\n\ndata: cut") == [Frame("a")]
    assert sse(b"data: a\n\ndata: b\ndata: cut") == [Frame("a")]  # truncated: not half of it
    assert sse(b"data: a\n\nevent: e\ndata: b\nid: 4") == [Frame("a")]
    assert sse(b"data: a\n\n: cut comment") == [Frame("a")]
    assert sse(b"data: a\n\ndata") == [Frame("a")]
    assert sse(b"") == []
    assert sse(BOM) == []


# --- SSE: properties ---------------------------------------------------------------------------

_LINE_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
    max_size=12,
)
_EVENT = st.fixed_dictionaries(
    {
        "data": st.lists(_LINE_TEXT, min_size=0, max_size=4),
        "event": st.none() | _LINE_TEXT,
        "id": st.none() | _LINE_TEXT,
        "comments": st.lists(_LINE_TEXT, max_size=2),
        "retry": st.booleans(),
        "unknown": st.booleans(),
    }
)


@st.composite
def sse_streams(draw: Any) -> tuple[bytes, list[Frame]]:
    """A valid SSE byte stream with random line endings, and the frames it must give."""
    events = draw(st.lists(_EVENT, max_size=6))
    lines: list[str] = []
    expected: list[Frame] = []
    last_id = ""
    for event in events:
        body: list[str] = [":" + c for c in event["comments"]]
        if event["event"] is not None:
            body.append("event: " + event["event"])
        if event["id"] is not None:
            body.append("id: " + event["id"])
            if "\0" not in event["id"]:
                last_id = event["id"]
        if event["retry"]:
            body.append("retry: 3000")
        if event["unknown"]:
            body.append("x-unknown: " + (event["data"][0] if event["data"] else ""))
        rng = draw(st.randoms())
        rng.shuffle(body)  # fields may come in any order within an event ...
        at = 0
        for value in event["data"]:  # ... but data lines keep theirs
            spaced = value.startswith(" ") or draw(st.booleans())
            at = rng.randint(at, len(body))
            body.insert(at, ("data: " if spaced else "data:") + value)
            at += 1
        lines += [*body, ""]
        if event["data"]:
            expected.append(
                Frame("\n".join(event["data"]), event=event["event"] or None, id=last_id or None)
            )
    out = [BOM.decode()] if draw(st.booleans()) else []
    previous = ""
    for line in lines:
        choices = ["\n", "\r\n", "\r"]
        if previous == "\r" and not line:
            choices = ["\r\n", "\r"]  # CR + a blank line ended by LF would be one CRLF
        previous = draw(st.sampled_from(choices))
        out += [line, previous]
    return "".join(out).encode(), expected


@st.composite
def split_points(draw: Any, body: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=12)))
    bounds = [0, *cuts, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_any_split_of_a_valid_sse_stream_gives_the_same_frames(data: Any) -> None:
    body, expected = data.draw(sse_streams())
    assert list(sse_frames([body])) == expected
    chunks = data.draw(split_points(body))
    assert list(sse_frames(chunks)) == expected
    assert list(sse_frames(pieces(body, 1))) == expected


_WIRE_BYTES = st.lists(
    st.sampled_from(
        [
            b"\r",
            b"\n",
            b"\r\n",
            b":",
            b" ",
            b"data",
            b"event",
            b"id",
            b"error",
            b"retry",
            b"x",
            b"\x00",
            b"\xff",
            b"\xe2\x82",
            b"\xac",
            b"\xef\xbb\xbf",
            "é🎉".encode(),
        ]
    ),
    max_size=40,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_property_any_split_of_any_bytes_gives_the_same_frames(data: Any) -> None:
    body = data.draw(_WIRE_BYTES | st.binary(max_size=60))
    whole = list(sse_frames([body]))
    assert list(sse_frames(data.draw(split_points(body)))) == whole
    assert list(ndjson_frames(data.draw(split_points(body)))) == list(ndjson_frames([body]))


# --- linear cost -------------------------------------------------------------------------------


def _cpu_seconds(decoder: Decoder, chunks: list[bytes], expected: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        frames = list(decoder(chunks))
        best = min(best, time.process_time() - start)
        assert len(frames) == expected
    return best


def _single_event(size: int) -> bytes:
    return b"data: " + b"x" * size + b"\n\n"


def _many_line_event(size: int) -> bytes:
    return b"".join(b"data: " + b"y" * 33 + b"\n" for _ in range(size // 40)) + b"\n"


def _ndjson_line(size: int) -> bytes:
    return b'{"a": "' + b"z" * size + b'"}\r\n'


@pytest.mark.parametrize(
    ("decoder", "make"),
    [
        pytest.param(sse_frames, _single_event, id="sse-one-data-line"),
        pytest.param(sse_frames, _many_line_event, id="sse-many-data-lines"),
        pytest.param(ndjson_frames, _ndjson_line, id="ndjson-one-line"),
    ],
)
def test_cost_is_linear_for_one_huge_event_in_7_byte_pieces(
    decoder: Decoder, make: Callable[[int], bytes]
) -> None:
    # Four times the bytes must cost about four times the work, not sixteen: a generous bound
    # on the ratio of the two CPU times, so machine speed does not matter.
    small = _cpu_seconds(decoder, pieces(make(128_000), 7), 1)
    large = _cpu_seconds(decoder, pieces(make(512_000), 7), 1)
    assert large < 9 * max(small, 0.002), (small, large)


def test_a_4_mb_event_in_16_byte_pieces_is_decoded_quickly() -> None:
    # The decoder before this rewrite needed about 16 s of CPU for this; a linear one needs a
    # small fraction of a second. The bound is that old time with a tenfold margin.
    body = _single_event(4_000_000)
    start = time.process_time()
    frames = list(sse_frames(pieces(body, 16)))
    elapsed = time.process_time() - start
    assert frames == [Frame("x" * 4_000_000)]
    assert elapsed < 1.6, elapsed


def test_every_byte_is_decoded_once_and_every_character_scanned_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded = 0
    scanned = 0
    real_decoder = codecs.getincrementaldecoder("utf-8")

    class CountingDecoder(real_decoder):  # type: ignore[misc, valid-type]
        def decode(self, data: bytes, final: bool = False) -> str:
            nonlocal decoded
            decoded += len(data)
            return str(super().decode(data, final))

    class CountingPattern:
        def split(self, text: str) -> list[str]:
            nonlocal scanned
            scanned += len(text)
            return re.split(r"\r\n|\r|\n", text)

    monkeypatch.setattr(frames_module.codecs, "getincrementaldecoder", lambda _: CountingDecoder)
    monkeypatch.setattr(frames_module, "_SSE_EOL", CountingPattern())
    body = _many_line_event(400_000) + _single_event(400_000)
    frames = list(sse_frames(pieces(body, 7)))
    assert len(frames) == 2
    assert decoded == len(body)
    assert scanned <= len(body)


# --- NDJSON ------------------------------------------------------------------------------------


def test_ndjson_blank_lines_crlf_bom_and_a_last_line_without_newline() -> None:
    body = BOM + b'{"a": 1}\r\n\r\n\n  \t \n{"b": 2}\n \r\n\t{"c": 3} \r\n{"d": 4}'
    assert datas(ndjson(body)) == ['{"a": 1}', '{"b": 2}', '{"c": 3}', '{"d": 4}']
    assert datas(ndjson(b'{"a": 1}\n   ')) == ['{"a": 1}']
    assert ndjson(b"") == []
    # A bare CR is JSON whitespace, not a line end: the document stays whole.
    assert datas(ndjson(BOM + b'{"a":\r 1}\n')) == ['{"a":\r 1}']


def test_ndjson_invalid_utf8_is_replaced_and_split_characters_are_reassembled() -> None:
    body = '{"t": "héllo ✓ 🎉"}\n'.encode() + b'{"t": "\xff"}\n{"t": "ok"}\n'
    assert datas(ndjson(body)) == ['{"t": "héllo ✓ 🎉"}', '{"t": "\ufffd"}', '{"t": "ok"}']
    assert [f.json() for f in ndjson(body)][-1] == {"t": "ok"}


def test_decode_frames_dispatches_on_the_format() -> None:
    body = b'data: {"a": 1}\n\n'
    assert list(decode_frames([body], "sse")) == [Frame('{"a": 1}')]
    assert list(decode_frames([b'{"a": 1}\n'], "ndjson")) == [Frame('{"a": 1}')]
