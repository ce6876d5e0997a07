"""A scriptable, misbehaving HTTP/1.1 server on 127.0.0.1 for integration tests.

Integration tests of an HTTP client need a *real* socket peer: mocks of ``requests`` cannot
show how the client copes with a stream that arrives one byte at a time, a connection that
is reset mid-body, or a server that never answers.  :class:`LoopbackServer` is written on
raw sockets (stdlib only) so that every byte, every TCP send and every close is under the
test's control.

Typical use::

    with LoopbackServer() as server:
        server.add("POST", "/v1/chat",
                   Reply.status(429, headers={"Retry-After": "0"}),
                   Reply.sse(["hello", "[DONE]"], fragment=1, line_ending="\\r\\n"))
        ...  # point the client at server.base_url
        assert server.requests[0].json()["model"] == "x"

Rules worth knowing:

* Only ``127.0.0.1`` is ever bound, always on an ephemeral port (port 0).
* Routes match on method and exact path; the query string is ignored for matching (it is
  recorded).  Each request pops the next scripted reply of its route; once only one reply is
  left it is repeated for every further request.  A request for a route that was never
  scripted gets ``404`` with a ``loopback: no scripted reply for ...`` text body.
* Connections are HTTP/1.1 keep-alive unless the request says ``Connection: close`` or the
  reply's framing requires a close (connection-delimited bodies, cuts, hangs).
* Every server-side thread is a daemon thread, and :meth:`LoopbackServer.stop` closes all
  sockets and joins the threads with a timeout, so nothing can keep pytest from exiting.
"""

from __future__ import annotations

import contextlib
import json as _json
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qs

__all__ = ["LoopbackServer", "RecordedRequest", "Reply"]

HOST = "127.0.0.1"
"""The only interface this module ever binds."""

HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | None
"""Headers may be given as a mapping or as (name, value) pairs (to allow duplicates)."""

Framing = Literal["length", "chunked", "close"]

_POLL = 0.05
"""Seconds between checks of the stop flag while a thread waits on a socket."""

_MAX_HEADER_BYTES = 64 * 1024


def _header_list(headers: HeadersArg) -> list[tuple[str, str]]:
    """Normalise a headers argument into a list of (name, value) pairs."""
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def _has_header(headers: Sequence[tuple[str, str]], name: str) -> bool:
    """Case-insensitive membership test on a header list."""
    lname = name.lower()
    return any(k.lower() == lname for k, _ in headers)


def _reason(code: int) -> str:
    """Standard reason phrase for ``code``, or a stand-in for non-standard codes."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Scripted Status"


@dataclass(frozen=True)
class Reply:
    """One scripted response, i.e. what the server does with one request.

    Build replies with the class-method constructors (:meth:`json`, :meth:`raw`,
    :meth:`sse`, :meth:`hang`, :meth:`status`) rather than the raw constructor.  The
    behavioural knobs apply to the *body* bytes only; the status line and headers always go
    out in a single send.

    Attributes:
        status_code: HTTP status code.
        headers: Extra response headers.  Framing headers (``Content-Length``,
            ``Transfer-Encoding``, ``Connection``) are added automatically unless present here,
            so a test can deliberately lie about them.
        body: Body bytes (before chunk framing).
        framing: ``"length"`` (Content-Length), ``"chunked"`` (Transfer-Encoding: chunked, one
            chunk per piece) or ``"close"`` (body delimited by closing the connection).
        fragment: Maximum piece size; each piece is its own TCP send (and own chunk).
            ``None`` sends the body in one piece.
        random_fragments: Use random piece sizes in ``1..(fragment or 16)``.
        seed: Seed for ``random_fragments`` (reproducible splits).
        delay: Seconds slept between pieces.
        cut_after: After this many body bytes, reset the connection (SO_LINGER 0) without
            finishing the body (no terminating zero chunk).
        hang_after: After the body, neither terminate it nor close; wait until the client
            disconnects or the server stops.
        send_headers: ``False`` means send nothing at all and hang (for header read timeouts).
        drop: close the connection at once without sending anything (a keep-alive connection
            the server already gave up on).
        pause: Seconds to wait before sending anything (for slow responses / read timeouts).
    """

    status_code: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    framing: Framing = "length"
    fragment: int | None = None
    random_fragments: bool = False
    seed: int | None = None
    delay: float = 0.0
    cut_after: int | None = None
    hang_after: bool = False
    send_headers: bool = True
    pause: float = 0.0
    drop: bool = False

    # ----------------------------------------------------------------- constructors

    @classmethod
    def json(
        cls,
        obj: Any,
        status: int = 200,
        headers: HeadersArg = None,
    ) -> Reply:
        """A JSON body with ``Content-Length`` (``application/json``)."""
        hdrs = _header_list(headers)
        if not _has_header(hdrs, "Content-Type"):
            hdrs.append(("Content-Type", "application/json"))
        body = _json.dumps(obj).encode("utf-8")
        return cls(status_code=status, headers=tuple(hdrs), body=body)

    @classmethod
    def raw(
        cls,
        status: int,
        body: bytes | str,
        headers: HeadersArg = None,
        content_type: str | None = "text/html; charset=utf-8",
        *,
        fragment: int | None = None,
        delay: float = 0.0,
        cut_after: int | None = None,
    ) -> Reply:
        """Arbitrary body bytes with ``Content-Length`` (HTML error pages, truncated JSON ...).

        ``Content-Length`` is the length of ``body`` unless ``headers`` sets one.  With
        ``cut_after`` the connection is reset after that many bytes, so the client sees a body
        shorter than announced.  ``content_type=None`` omits the header.
        """
        hdrs = _header_list(headers)
        if content_type is not None and not _has_header(hdrs, "Content-Type"):
            hdrs.append(("Content-Type", content_type))
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        return cls(
            status_code=status,
            headers=tuple(hdrs),
            body=data,
            fragment=fragment,
            delay=delay,
            cut_after=cut_after,
        )

    @classmethod
    def status(
        cls,
        code: int,
        body: bytes | str | None = None,
        headers: HeadersArg = None,
        content_type: str = "text/plain; charset=utf-8",
    ) -> Reply:
        """Shortcut for a status-only answer; the body defaults to the reason phrase."""
        if body is None:
            body = f"{code} {_reason(code)}"
        return cls.raw(code, body, headers=headers, content_type=content_type)

    @classmethod
    def sse(
        cls,
        events: Sequence[str | bytes],
        *,
        fragment: int | None = None,
        delay: float = 0.0,
        line_ending: str = "\n",
        cut_after: int | None = None,
        hang_after: bool = False,
        chunked: bool = True,
        random_fragments: bool = False,
        seed: int | None = None,
        status: int = 200,
        headers: HeadersArg = None,
    ) -> Reply:
        """A ``text/event-stream`` body built from event payloads.

        A ``str`` event becomes ``data: <line>`` for each of its lines followed by a blank
        line, all terminated by ``line_ending``.  A ``bytes`` event is inserted verbatim (for
        comments, ``event:``/``id:`` fields, malformed input ...).  ``chunked=False`` sends
        the body connection-delimited (no length, closed at the end).  See :class:`Reply`
        for the other knobs.
        """
        return cls(
            status_code=status,
            headers=tuple(cls._sse_headers(headers)),
            body=cls.sse_body(events, line_ending=line_ending),
            framing="chunked" if chunked else "close",
            fragment=fragment,
            random_fragments=random_fragments,
            seed=seed,
            delay=delay,
            cut_after=cut_after,
            hang_after=hang_after,
        )

    @classmethod
    def hang(
        cls,
        status: int = 200,
        headers: HeadersArg = None,
        *,
        send_headers: bool = True,
    ) -> Reply:
        """Send the headers of a chunked event stream, then nothing, until the client leaves.

        With ``send_headers=False`` not even the status line is sent (the client is stuck
        waiting for the response head).
        """
        return cls(
            status_code=status,
            headers=tuple(cls._sse_headers(headers)),
            framing="chunked",
            hang_after=True,
            send_headers=send_headers,
        )

    @classmethod
    def dropped(cls) -> Reply:
        """Close the connection without a response (what a request on a stale keep-alive
        connection meets)."""
        return cls(drop=True)

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def sse_body(events: Sequence[str | bytes], *, line_ending: str = "\n") -> bytes:
        """The exact bytes :meth:`sse` sends for ``events`` (handy for assertions)."""
        out = bytearray()
        for event in events:
            if isinstance(event, bytes):
                out += event
                continue
            for line in event.split("\n"):
                out += f"data: {line}{line_ending}".encode()
            out += line_ending.encode()
        return bytes(out)

    @staticmethod
    def _sse_headers(headers: HeadersArg) -> list[tuple[str, str]]:
        hdrs = _header_list(headers)
        if not _has_header(hdrs, "Content-Type"):
            hdrs.append(("Content-Type", "text/event-stream; charset=utf-8"))
        if not _has_header(hdrs, "Cache-Control"):
            hdrs.append(("Cache-Control", "no-cache"))
        return hdrs

    def after(self, seconds: float) -> Reply:
        """A copy that waits ``seconds`` before sending anything (slow server)."""
        return replace(self, pause=seconds)

    def pieces(self) -> list[bytes]:
        """The body split into the pieces that will be sent (after applying ``cut_after``)."""
        body = self.body if self.cut_after is None else self.body[: self.cut_after]
        if not body:
            return []
        if self.random_fragments:
            rng = random.Random(self.seed)
            top = self.fragment or 16
            out: list[bytes] = []
            pos = 0
            while pos < len(body):
                size = rng.randint(1, top)
                out.append(body[pos : pos + size])
                pos += size
            return out
        if self.fragment is None:
            return [body]
        if self.fragment < 1:
            raise ValueError("fragment must be >= 1")
        return [body[i : i + self.fragment] for i in range(0, len(body), self.fragment)]


@dataclass
class RecordedRequest:
    """One request as the server received it.

    ``headers`` has lower-cased names; repeated headers are joined with ``", "``.
    ``connection_id`` numbers TCP connections from 1, so keep-alive reuse is observable.
    ``disconnected`` is set if the client went away while this request's reply was still
    being streamed, paused or hung.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    http_version: str
    connection_id: int
    disconnected: threading.Event = field(default_factory=threading.Event, repr=False)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.body)

    @property
    def params(self) -> dict[str, list[str]]:
        """The query string parsed with :func:`urllib.parse.parse_qs`."""
        return parse_qs(self.query, keep_blank_values=True)


class _ClientGone(Exception):
    """The client closed or reset the connection while we were replying."""


class _Stopping(Exception):
    """The server is shutting down."""


class _BadRequest(Exception):
    """The request could not be parsed."""


class LoopbackServer:
    """A threaded HTTP/1.1 server on ``127.0.0.1:<ephemeral>`` that plays scripted replies.

    Use as a context manager or call :meth:`start` / :meth:`stop`.  All public methods are
    thread-safe.  Unexpected exceptions inside server threads are collected in
    :attr:`errors` instead of being lost.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._routes: dict[tuple[str, str], list[Reply]] = {}
        self._requests: list[RecordedRequest] = []
        self._disconnects = 0
        self._connections: dict[int, socket.socket] = {}
        self._threads: list[threading.Thread] = []
        self._next_conn_id = 0
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._port: int | None = None
        self.errors: list[BaseException] = []
        # Optional: choose the reply from the request itself (return None for the routes).
        self.responder: Callable[[RecordedRequest], Reply | None] | None = None

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> LoopbackServer:
        """Bind ``127.0.0.1:0``, start the accept thread and return ``self``."""
        if self._listener is not None:
            raise RuntimeError("LoopbackServer already started")
        self._stop.clear()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))
        listener.listen(64)
        listener.settimeout(_POLL)
        self._listener = listener
        self._port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"loopback-accept-{self._port}", daemon=True
        )
        self._accept_thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Close the listener and every open connection, then join the threads.

        Idempotent.  Threads still alive after ``timeout`` are daemons and cannot block
        interpreter exit.
        """
        self._stop.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            conns = list(self._connections.values())
            threads = list(self._threads)
            self._lock.notify_all()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        deadline = time.monotonic() + timeout
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
            self._accept_thread = None
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (only valid after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("LoopbackServer not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{HOST}:{self.port}"

    def url(self, path: str = "/") -> str:
        """``base_url`` joined with ``path``."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # ----------------------------------------------------------------- scripting

    def add(self, method: str, path: str, *replies: Reply) -> None:
        """Queue ``replies`` for ``method path`` (appending to any already queued).

        Requests pop replies in order; the last reply left is repeated forever.
        """
        if not replies:
            raise ValueError("add() needs at least one Reply")
        if "?" in path:
            raise ValueError("route paths must not contain a query string")
        with self._lock:
            self._routes.setdefault((method.upper(), path), []).extend(replies)

    def reset(self) -> None:
        """Forget all routes, recorded requests and disconnect counts."""
        with self._lock:
            self._routes.clear()
            self._requests.clear()
            self._disconnects = 0

    def _next_reply(self, method: str, path: str) -> Reply:
        with self._lock:
            queue = self._routes.get((method, path))
            if not queue:
                return Reply.status(404, f"loopback: no scripted reply for {method} {path}\n")
            return queue.pop(0) if len(queue) > 1 else queue[0]

    # ----------------------------------------------------------------- observation

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot (copy) of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def disconnect_count(self) -> int:
        """How many times a client went away while a reply was streaming/paused/hanging."""
        with self._lock:
            return self._disconnects

    def wait_for_disconnect(self, timeout: float = 2.0, count: int = 1) -> bool:
        """Block until at least ``count`` client disconnects mid-reply were seen.

        Returns ``False`` on timeout.  A client closing an idle keep-alive connection, or one
        whose reply was complete, does not count.
        """
        with self._lock:
            return self._lock.wait_for(lambda: self._disconnects >= count, timeout)

    def wait_for_requests(self, count: int, timeout: float = 2.0) -> bool:
        """Block until at least ``count`` requests were recorded; ``False`` on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._requests) >= count, timeout)

    # ----------------------------------------------------------------- server threads

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stop.is_set():
            try:
                conn, _addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break  # listener closed by stop()
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stop.is_set():
                    conn.close()
                    break
                self._next_conn_id += 1
                conn_id = self._next_conn_id
                self._connections[conn_id] = conn
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(
                    target=self._serve_connection,
                    args=(conn, conn_id),
                    name=f"loopback-{self._port}-conn-{conn_id}",
                    daemon=True,
                )
                self._threads.append(thread)
            thread.start()

    def _serve_connection(self, conn: socket.socket, conn_id: int) -> None:
        reader = _Reader(conn, self._stop)
        try:
            while not self._stop.is_set():
                try:
                    request = reader.read_request(conn_id)
                except _BadRequest as exc:
                    self._send_simple(conn, 400, f"loopback: bad request: {exc}\n")
                    break
                if request is None:
                    break  # clean EOF between requests
                with self._lock:
                    self._requests.append(request)
                    self._lock.notify_all()
                reply = self.responder(request) if self.responder is not None else None
                if reply is None:
                    reply = self._next_reply(request.method, request.path)
                wants_close = (
                    request.headers.get("connection", "").lower() == "close"
                    or request.http_version == "HTTP/1.0"
                )
                try:
                    keep_open = self._send_reply(conn, reply, wants_close)
                except _ClientGone:
                    request.disconnected.set()
                    with self._lock:
                        self._disconnects += 1
                        self._lock.notify_all()
                    break
                if not keep_open:
                    break
        except (_Stopping, _ClientGone):
            pass
        except OSError:
            pass  # connection torn down (by the client or by stop())
        except Exception as exc:  # pragma: no cover - surfaced via .errors
            with self._lock:
                self.errors.append(exc)
        finally:
            with self._lock:
                self._connections.pop(conn_id, None)
            with contextlib.suppress(OSError):
                conn.close()

    def _send_simple(self, conn: socket.socket, code: int, text: str) -> None:
        body = text.encode()
        head = (
            f"HTTP/1.1 {code} {_reason(code)}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(OSError):
            conn.sendall(head.encode("latin-1") + body)

    def _send_reply(self, conn: socket.socket, reply: Reply, wants_close: bool) -> bool:
        """Play ``reply`` on ``conn``; return whether the connection may be reused.

        Raises :class:`_ClientGone` if the client disconnects before the reply is finished.
        """
        if reply.pause > 0:
            self._idle(conn, reply.pause)
        if reply.drop:
            return False
        if not reply.send_headers:
            self._idle(conn, None)
        closes = wants_close or reply.framing == "close"
        headers = list(reply.headers)
        if reply.framing == "length" and not _has_header(headers, "Content-Length"):
            headers.append(("Content-Length", str(len(reply.body))))
        if reply.framing == "chunked" and not _has_header(headers, "Transfer-Encoding"):
            headers.append(("Transfer-Encoding", "chunked"))
        if closes and not _has_header(headers, "Connection"):
            headers.append(("Connection", "close"))
        head = f"HTTP/1.1 {reply.status_code} {_reason(reply.status_code)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
        self._send(conn, head.encode("latin-1"))

        for index, piece in enumerate(reply.pieces()):
            if index and reply.delay > 0 and self._stop.wait(reply.delay):
                raise _Stopping
            self._check_alive(conn)
            if reply.framing == "chunked":
                piece = b"%x\r\n%b\r\n" % (len(piece), piece)
            self._send(conn, piece)

        if reply.cut_after is not None:
            # Abortive close: SO_LINGER(1, 0) makes close() send RST instead of FIN.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return False
        if reply.hang_after:
            self._idle(conn, None)
        if reply.framing == "chunked":
            self._send(conn, b"0\r\n\r\n")
        if reply.framing == "close":
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_WR)
            return False
        return not closes

    def _send(self, conn: socket.socket, data: bytes) -> None:
        try:
            conn.sendall(data)
        except OSError as exc:
            if self._stop.is_set():
                raise _Stopping from exc
            raise _ClientGone from exc

    def _check_alive(self, conn: socket.socket) -> None:
        """Raise :class:`_ClientGone` if the client has already closed its end."""
        if _peer_closed(conn, 0.0):
            raise _ClientGone

    def _idle(self, conn: socket.socket, seconds: float | None) -> None:
        """Wait ``seconds`` (``None``: forever) while watching for the client leaving.

        Raises :class:`_ClientGone` when it does, :class:`_Stopping` on server stop.
        """
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if self._stop.is_set():
                raise _Stopping
            remaining = _POLL if deadline is None else min(_POLL, deadline - time.monotonic())
            if remaining <= 0:
                return
            if _peer_closed(conn, remaining):
                raise _ClientGone


def _peer_closed(conn: socket.socket, timeout: float) -> bool:
    """Wait up to ``timeout`` for ``conn`` to become readable; True if it hit EOF/reset.

    Data waiting to be read (e.g. a pipelined request) is left in place (MSG_PEEK).
    """
    try:
        readable, _, _ = select.select([conn], [], [], timeout)
    except (OSError, ValueError):
        return True
    if not readable:
        return False
    try:
        data = conn.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError:
        return True
    if data:
        time.sleep(timeout)  # pipelined bytes: avoid a busy loop
        return False
    return True


class _Reader:
    """Buffered request parser for one connection (select-based, so stop() is honoured)."""

    def __init__(self, conn: socket.socket, stop: threading.Event) -> None:
        self._conn = conn
        self._stop = stop
        self._buf = bytearray()

    def _fill(self) -> bool:
        """Read more bytes into the buffer; ``False`` on EOF."""
        while True:
            if self._stop.is_set():
                raise _Stopping
            readable, _, _ = select.select([self._conn], [], [], _POLL)
            if readable:
                break
        try:
            data = self._conn.recv(65536)
        except ConnectionError:
            return False
        if not data:
            return False
        self._buf += data
        return True

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                raise _ClientGone
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _read_line(self) -> bytes:
        while True:
            idx = self._buf.find(b"\r\n")
            if idx >= 0:
                line = bytes(self._buf[:idx])
                del self._buf[: idx + 2]
                return line
            if len(self._buf) > _MAX_HEADER_BYTES:
                raise _BadRequest("line too long")
            if not self._fill():
                raise _ClientGone

    def read_request(self, conn_id: int) -> RecordedRequest | None:
        """Parse the next request; ``None`` on clean EOF before any byte of it."""
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buf) > _MAX_HEADER_BYTES:
                raise _BadRequest("header block too large")
            if not self._fill():
                if self._buf.strip():
                    raise _ClientGone
                return None
        head = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 4]
        lines = head.lstrip("\r\n").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise _BadRequest(f"request line {lines[0]!r}")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(f"header line {line!r}")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value

        if headers.get("expect", "").lower() == "100-continue":
            self._conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b"".join(self._read_chunked())
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError as exc:
                raise _BadRequest("bad Content-Length") from exc
            body = self._read_exact(length)

        path, _, query = target.partition("?")
        return RecordedRequest(
            method=method.upper(),
            path=path,
            query=query,
            headers=headers,
            body=body,
            http_version=version,
            connection_id=conn_id,
        )

    def _read_chunked(self) -> Iterator[bytes]:
        while True:
            size_line = self._read_line().split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError as exc:
                raise _BadRequest("bad chunk size") from exc
            if size == 0:
                while self._read_line():  # trailers up to the blank line
                    pass
                return
            yield self._read_exact(size)
            self._read_exact(2)  # CRLF after the chunk data
