"""The only module that talks to ``requests``: a pooled session and an open-response wrapper.

``requests``' exceptions are mapped to llmcore errors here and nowhere else. In-memory endpoints
(the faux provider) plug in through :func:`register_memory_scheme`, so they run through the same
send path (framing, parsing, cancellation) as real HTTP.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from llmcore.cancel import CancelHandle, CancelledError
from llmcore.errors import (
    ApiConnectionError,
    InvalidInputError,
    LlmError,
    RequestTimeoutError,
    redact,
)
from llmcore.http import HttpRequest, mask_headers
from llmcore.options import ConnectionOptions

__all__ = ["MemoryResponse", "OpenResponse", "Transport", "register_memory_scheme"]

log = logging.getLogger("llmcore")


@attrs.frozen
class MemoryResponse:
    """What an in-memory endpoint answers: status, headers and body chunks (lazily produced)."""

    status: int
    headers: dict[str, str]
    chunks: Iterable[bytes]


MemoryHandler = Callable[[HttpRequest, CancelHandle | None], MemoryResponse]
_memory_schemes: dict[str, MemoryHandler] = {}


def register_memory_scheme(scheme: str, handler: MemoryHandler) -> None:
    """Serve URLs ``scheme://...`` from ``handler`` instead of the network."""
    _memory_schemes[scheme] = handler


# Requests that cannot be sent as they are: no retry can fix them, so they are not retried.
_UNSENDABLE = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidJSONError,
)


def _map_exception(exc: BaseException, what: str) -> LlmError:
    if isinstance(exc, requests.exceptions.InvalidHeader):
        # The text would quote the header value, which may be a credential.
        return InvalidInputError.at("headers", f"a header cannot be sent {what} (value not shown)")
    detail = redact(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, _UNSENDABLE):
        field = "json" if isinstance(exc, requests.exceptions.InvalidJSONError) else "url"
        return InvalidInputError.at(field, f"cannot send {what}: {detail}")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return RequestTimeoutError(f"connect timed out {what}: {detail}")
    if isinstance(exc, (requests.exceptions.ReadTimeout, socket.timeout, TimeoutError)):
        return RequestTimeoutError(f"read timed out {what}: {detail}")
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return RequestTimeoutError(f"read timed out {what}: {detail}")
    return ApiConnectionError(f"connection failed {what}: {detail}")


_BODY_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
    ValueError,  # "I/O operation on closed file" after a cancel
    AttributeError,  # urllib3 reading from a connection that was torn down
)


class OpenResponse:
    """A response whose headers have arrived and whose body is still to be read."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        chunks: Iterator[bytes],
        close: Callable[[], None],
        abort: Callable[[], None],
        url: str,
        sock: socket.socket | None = None,
    ) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.url = url
        self._chunks = chunks
        self._close = close
        self._abort = abort
        self._sock = sock
        self.closed = False

    def iter_bytes(self) -> Iterator[bytes]:
        """Body bytes as they arrive; errors become :class:`ApiConnectionError` / timeouts."""
        try:
            for chunk in self._chunks:
                if chunk:
                    yield chunk
        except _BODY_ERRORS as exc:
            raise _map_exception(exc, "while reading the response body") from exc

    def read(self) -> bytes:
        """The whole body."""
        try:
            return b"".join(self.iter_bytes())
        finally:
            self.close()

    def close(self) -> None:
        """Release the connection (back to the pool when the body was fully read)."""
        if not self.closed:
            self.closed = True
            try:
                self._close()
            except Exception:
                pass

    def release(self, *, max_bytes: int = 65536, timeout: float = 0.05) -> None:
        """Finish a body whose payload is complete (after ``[DONE]``): read what is left,
        normally just the chunked terminator, so the connection returns to the pool.

        Bounded in bytes and time; a server that keeps talking or stays silent just gets its
        connection dropped instead of reused.
        """
        if self.closed:
            return
        old = self._sock.gettimeout() if self._sock is not None else None
        try:
            if self._sock is not None:
                self._sock.settimeout(timeout)
            drained = 0
            for chunk in self._chunks:
                drained += len(chunk)
                if drained > max_bytes:
                    break
        except Exception:
            pass
        finally:
            if self._sock is not None:
                try:
                    self._sock.settimeout(old)
                except OSError:
                    pass
        self.close()

    def abort(self) -> None:
        """Tear the connection down now, from any thread: a blocked read returns at once."""
        try:
            self._abort()
        finally:
            self.close()


def _socket_of(resp: requests.Response) -> socket.socket | None:
    raw = resp.raw
    for path in (("_connection", "sock"), ("_fp", "fp", "raw", "_sock")):
        obj: Any = raw
        for attr in path:
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, socket.socket):
            return obj
    return None


def _body_chunks(resp: requests.Response, stream: bool) -> Iterator[bytes]:
    """Body chunks as they arrive.

    Chunked bodies go through ``iter_content(chunk_size=None)``, which yields each chunk as it
    arrives. For a streamed body without chunked encoding (close-delimited SSE), urllib3's
    ``stream(None)`` would wait for the end, so ``read1`` hands over whatever has arrived.
    """
    chunked = "chunked" in resp.headers.get("transfer-encoding", "").lower()
    read1 = getattr(resp.raw, "read1", None)
    if not stream or chunked or read1 is None:
        return resp.iter_content(chunk_size=None if stream else 65536)

    def arrivals() -> Iterator[bytes]:
        while True:
            data = read1(65536, decode_content=True)
            if not data:
                return
            yield data

    return arrivals()


# --- cancelling a request that is still waiting for its response headers ---------------------
# The socket of a request only becomes visible once ``session.request`` returns. To let a cancel
# interrupt the wait for the headers, connections announce their socket, while a request runs, to
# the cancel handle of the thread that sends it.
_inflight = threading.local()


def _announce(conn: urllib3.connection.HTTPConnection) -> None:
    handle: CancelHandle | None = getattr(_inflight, "handle", None)
    sock = conn.sock
    if handle is None or sock is None:
        return

    def shut() -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    _inflight.closers.append(shut)
    handle.on_cancel(shut)


class _AnnouncingHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _announce(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a pooled connection: connect() is not called again
            _announce(self)
        super().request(*args, **kwargs)


class _AnnouncingHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _announce(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            _announce(self)
        super().request(*args, **kwargs)


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _AnnouncingHTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _AnnouncingHTTPSConnection


class Transport:
    """One pooled ``requests.Session`` per client; thread-safe for concurrent calls."""

    def __init__(self, options: ConnectionOptions) -> None:
        self.options = options
        self.session = requests.Session()
        self._adapter = requests.adapters.HTTPAdapter(
            pool_connections=options.pool_size, pool_maxsize=options.pool_size, max_retries=0
        )
        self._adapter.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        self.session.mount("https://", self._adapter)
        self.session.mount("http://", self._adapter)
        if options.proxy:
            self.session.proxies = {"http": options.proxy, "https": options.proxy}
        self._last_used = time.monotonic()
        self._lock = threading.Lock()

    def _drop_idle(self) -> None:
        idle = self.options.idle_timeout
        now = time.monotonic()
        with self._lock:
            if idle is not None and now - self._last_used > idle:
                self._adapter.poolmanager.clear()
                log.debug(
                    "llmcore: dropped pooled connections idle for %.1fs", now - self._last_used
                )
            self._last_used = now

    def send(
        self, request: HttpRequest, *, stream: bool, cancel: CancelHandle | None = None
    ) -> OpenResponse:
        """Send ``request`` and return once the status and headers have arrived."""
        if cancel is not None:
            cancel.check()
        scheme = request.url.split(":", 1)[0]
        if scheme in _memory_schemes:
            return self._send_memory(request, cancel)
        self._drop_idle()
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "llmcore: %s %s headers=%s",
                request.method,
                request.url,
                mask_headers(request.headers),
            )
        _inflight.handle, _inflight.closers = cancel, []
        try:
            resp = self.session.request(
                request.method,
                request.url,
                headers=request.headers,
                params=request.params or None,
                json=request.json if request.body is None else None,
                data=request.body,
                stream=True,
                timeout=(self.options.connect_timeout, self.options.read_timeout),
            )
        except requests.exceptions.RequestException as exc:
            if cancel is not None and cancel.cancelled:
                raise CancelledError() from exc
            raise _map_exception(exc, f"to {request.url}") from exc
        finally:
            if cancel is not None:
                for shut in _inflight.closers:
                    cancel.discard(shut)  # the stream registers its own closer from here on
            _inflight.handle, _inflight.closers = None, []

        sock = _socket_of(resp)

        def abort() -> None:
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            resp.close()

        opened = OpenResponse(
            resp.status_code,
            dict(resp.headers),
            _body_chunks(resp, stream),
            resp.close,
            abort,
            request.url,
            sock,
        )
        log.debug("llmcore: <- %s %s", resp.status_code, request.url)
        return opened

    def _send_memory(self, request: HttpRequest, cancel: CancelHandle | None) -> OpenResponse:
        handler = _memory_schemes[request.url.split(":", 1)[0]]
        answer = handler(request, cancel)
        chunks = iter(answer.chunks)
        stop = threading.Event()

        def guarded() -> Iterator[bytes]:
            for chunk in chunks:
                if stop.is_set():
                    raise ConnectionAbortedError("connection closed by the client")
                yield chunk

        close = getattr(chunks, "close", lambda: None)
        return OpenResponse(
            answer.status, dict(answer.headers), guarded(), close, stop.set, request.url
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self.session.close()
