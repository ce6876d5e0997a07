"""Stream framing: body bytes -> :class:`~llmcore.http.Frame` objects, decoded in the core.

SSE goes through sseclient-py (comments and keep-alives dropped, CRLF/LF/CR line ends, ``data:``
with or without the space, multi-line data joined with ``\\n``); NDJSON is one JSON document per
line. Both are fed with chunks exactly as they arrived from the socket, so events split across
packets, CRLF pairs split in two and UTF-8 characters split between chunks are reassembled.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import sseclient

from llmcore.http import Frame, StreamFormat

__all__ = ["decode_frames", "ndjson_frames", "sse_frames"]


def sse_frames(chunks: Iterable[bytes]) -> Iterator[Frame]:
    """Server-sent events from raw body chunks."""
    for event in sseclient.SSEClient(iter(chunks)).events():
        yield Frame(data=event.data, event=event.event, id=event.id)


def ndjson_frames(chunks: Iterable[bytes]) -> Iterator[Frame]:
    """One frame per non-empty line (``\\n`` or ``\\r\\n`` separated)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            line = line.strip()
            if line:
                yield Frame(data=line.decode("utf-8"))
    if pending.strip():
        yield Frame(data=pending.strip().decode("utf-8"))


def decode_frames(chunks: Iterable[bytes], stream_format: StreamFormat) -> Iterator[Frame]:
    """Frames of ``stream_format`` from body chunks."""
    if stream_format == "ndjson":
        return ndjson_frames(chunks)
    return sse_frames(chunks)
