"""Stream framing: body bytes -> :class:`~llmcore.http.Frame` objects, decoded in the core.

Both decoders are fed the body chunks exactly as they arrived from the socket, split anywhere.
They decode incrementally: every byte is decoded once and scanned for line ends once, and a line
is joined once when its end arrives, so the cost is linear in the size of the stream, also for a
single multi-megabyte event or line that arrives in tiny pieces.

Server-sent events (the WHATWG HTML event-stream interpretation rules)
    * The body is decoded as UTF-8; invalid bytes become U+FFFD (the stream goes on), and a
      character split between chunks is reassembled. One byte-order mark at the very start of
      the stream is skipped (only there).
    * Lines end with CRLF, LF or CR, mixed freely; a CR at the end of one chunk and an LF at the
      start of the next are one line end.
    * A blank line dispatches the pending event. A line starting with ``:`` is a comment. Any
      other line is a field: the name is the text before the first ``:``, the value the text
      after it with one leading space removed; a line without ``:`` is a field with an empty
      value.
    * ``data`` appends its value to the event's data (several ``data`` lines are joined with
      ``\\n``); ``event`` sets the event type; ``id`` sets the last event id unless the value
      contains NUL, and the id persists across events until the server sets another one (an
      empty ``id`` clears it); ``retry`` is accepted and ignored (llmcore does not reconnect);
      other fields are ignored, with one exception below.
    * An event whose data is empty (no ``data`` line) is not dispatched, but its ``id`` still
      counts.
    * ``Frame.data`` is the joined data, ``Frame.event`` the event type or ``None`` when the event
      had none (the spec's default type ``message``), ``Frame.id`` the last event id or ``None``.
    * Non-standard ``error`` field: llama.cpp's server reports errors as an ``error: {...}`` line
      followed by a blank line. An ``error`` line counts as a ``data`` line and makes the event's
      type ``error``, so it reaches the plugin as ``Frame(data=<value>, event="error")``.
    * End of stream: the spec discards an event that was not ended by a blank line. llmcore is
      lenient in one case: when every line of the pending event was complete (ended by a line
      end), the event is dispatched. When the stream stops in the middle of a line, that line and
      its event are discarded.

NDJSON
    One frame per line. Lines end with LF (a CR before it is whitespace, so CRLF works); a last
    line without a line end is a frame too. Lines made only of JSON whitespace (space, tab, CR,
    LF) are skipped, and the rest is stripped of it. Invalid UTF-8 becomes U+FFFD, a character
    split between chunks is reassembled, and one leading byte-order mark is skipped.

Why not sseclient-py: earlier versions of this module parsed SSE with sseclient-py. It cannot meet
the rules above, whatever it is fed. Its reader grows a ``bytes`` buffer with ``+=`` for every
piece of an event, so one 4 MB event in 16-byte pieces took about 16 s. Its event parser
appends each ``data`` line to a string stored in the event object with ``+=``, which copies the
whole buffer every time; that stays quadratic even when it is handed one complete, normalised
event: a 4 MB event of 100,000 ``data`` lines took about 5 s. It decodes strictly, so one invalid
byte ends the stream. It keeps a byte-order mark, which turns the first field into an unknown
one. It drops events without data before the caller sees them, so an ``id`` sent on its own is
lost. It does not keep the last event id from one event to the next, and it does not ignore an
``id`` with NUL. It reports ``message`` both for a missing ``event`` field and for an explicit
one, and it ignores llama.cpp's ``error`` field. With line splitting, decoding, field parsing, id
tracking and the ``error`` field all done here, nothing would be left for it to do.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable, Iterator

from llmcore.http import Frame, StreamFormat

__all__ = ["decode_frames", "ndjson_frames", "sse_frames"]

_BOM = "\ufeff"
_SSE_EOL = re.compile(r"\r\n|\r|\n")
_JSON_WS = " \t\r\n"
_COMPACT_AT = 1024
"""Pieces of an unfinished line are joined in groups of this many (bounds the list's size)."""


def _split_lf(text: str) -> list[str]:
    return text.split("\n")


class _LineSplitter:
    """Body bytes -> complete lines, incrementally and in linear time.

    ``sse`` lines end with CRLF, LF or CR; otherwise only LF ends a line. Each feed returns the
    lines completed by that chunk; :meth:`finish` returns the last ones and the unterminated rest.
    """

    def __init__(self, *, sse: bool) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._split: Callable[[str], list[str]] = _SSE_EOL.split if sse else _split_lf
        self._sse = sse
        self._at_start = True  # no character decoded yet: a BOM may still come
        self._after_cr = False  # the last text ended with CR: a leading LF belongs to it
        self._blocks: list[str] = []  # joined groups of pieces of the unfinished line
        self._pieces: list[str] = []  # recent pieces of the unfinished line

    def feed(self, data: bytes) -> list[str]:
        """The lines that ``data`` completes."""
        return self._text(self._decoder.decode(data))

    def finish(self) -> tuple[list[str], str | None]:
        """The last complete lines, and the text after the last line end (``None`` if none)."""
        lines = self._text(self._decoder.decode(b"", True))
        rest = self._take_partial()  # pieces are never empty: "" means no unfinished line
        return lines, (rest or None)

    def _text(self, text: str) -> list[str]:
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            if text[0] == _BOM:
                text = text[1:]
                if not text:
                    return []
        if self._after_cr:
            self._after_cr = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if self._sse:
            self._after_cr = text[-1] == "\r"
            if "\n" not in text and "\r" not in text:
                self._add_piece(text)
                return []
        elif "\n" not in text:
            self._add_piece(text)
            return []
        # Most streams use LF alone: a plain split is much cheaper than the regex's.
        parts = text.split("\n") if "\r" not in text else self._split(text)
        if self._blocks or self._pieces:  # the first line began in an earlier chunk
            self._pieces.append(parts[0])
            parts[0] = self._take_partial()
        rest = parts.pop()
        if rest:
            self._add_piece(rest)
        return parts

    def _add_piece(self, piece: str) -> None:
        self._pieces.append(piece)
        if len(self._pieces) >= _COMPACT_AT:
            self._blocks.append("".join(self._pieces))
            self._pieces.clear()

    def _take_partial(self) -> str:
        self._blocks.extend(self._pieces)
        line = "".join(self._blocks)
        self._blocks.clear()
        self._pieces.clear()
        return line


class _EventParser:
    """SSE lines -> frames (the WHATWG field rules, plus llama.cpp's ``error`` field)."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._last_id = ""
        self._error = False

    def line(self, line: str) -> Frame | None:
        """Process one line; the frame it dispatches, if any."""
        if not line:
            return self.dispatch()
        if line[0] == ":":
            return None
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "error":  # llama.cpp's server: ``error: {"code": ..., "message": ...}``
            self._data.append(value)
            self._error = True
        # ``retry`` and unknown fields are ignored.
        return None

    def dispatch(self) -> Frame | None:
        """End the pending event; its frame unless it has no data."""
        data, event, error = self._data, self._event, self._error
        self._data, self._event, self._error = [], "", False
        if not data:
            return None
        return Frame(
            data=data[0] if len(data) == 1 else "\n".join(data),
            event="error" if error else (event or None),
            id=self._last_id or None,
        )

    def discard(self) -> None:
        """Drop the pending event (a stream cut in the middle of a line)."""
        self._data, self._event, self._error = [], "", False


def sse_frames(chunks: Iterable[bytes]) -> Iterator[Frame]:
    """Server-sent events from raw body chunks (see the module docstring for the rules)."""
    splitter = _LineSplitter(sse=True)
    parser = _EventParser()
    field = parser.line
    for chunk in chunks:
        if not chunk:
            continue
        for line in splitter.feed(chunk):
            if line[:5] == "data:":  # the common lines, handled here as parser.line would
                parser._data.append(line[6:] if line[5:6] == " " else line[5:])
                continue
            frame = parser.dispatch() if not line else field(line)
            if frame is not None:
                yield frame
    lines, rest = splitter.finish()
    for line in lines:
        frame = parser.line(line)
        if frame is not None:
            yield frame
    if rest is not None:
        parser.discard()  # cut in the middle of a line: the spec drops the event
        return
    frame = parser.dispatch()  # lenient: complete lines without the final blank line
    if frame is not None:
        yield frame


def _ndjson_frame(line: str) -> Frame | None:
    line = line.strip(_JSON_WS)
    return Frame(data=line) if line else None


def ndjson_frames(chunks: Iterable[bytes]) -> Iterator[Frame]:
    """One frame per non-blank line; a last line without a line end counts too."""
    splitter = _LineSplitter(sse=False)
    for chunk in chunks:
        if not chunk:
            continue
        for line in splitter.feed(chunk):
            frame = _ndjson_frame(line)
            if frame is not None:
                yield frame
    lines, rest = splitter.finish()
    if rest is not None:
        lines.append(rest)
    for line in lines:
        frame = _ndjson_frame(line)
        if frame is not None:
            yield frame


def decode_frames(chunks: Iterable[bytes], stream_format: StreamFormat) -> Iterator[Frame]:
    """Frames of ``stream_format`` from body chunks."""
    if stream_format == "ndjson":
        return ndjson_frames(chunks)
    return sse_frames(chunks)
