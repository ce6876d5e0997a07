"""The only module that talks to ``requests``: a pooled session and an open-response wrapper.

``requests``' exceptions are mapped to llmcore errors here and nowhere else. In-memory endpoints
(the faux provider) plug in through :func:`register_memory_scheme`, so they run through the same
send path (framing, parsing, cancellation) as real HTTP.
"""

from __future__ import annotations

import contextlib
import heapq
import http.client
import itertools
import logging
import os
import socket
import sys
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs
import requests
import requests.adapters
import requests.compat
import requests.cookies
import requests.hooks
import requests.utils
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions
from requests.structures import CaseInsensitiveDict

from llmcore.cancel import CancelHandle, CancelledError
from llmcore.errors import (
    ApiConnectionError,
    ConfigurationError,
    InvalidInputError,
    LlmError,
    RedirectError,
    RequestTimeoutError,
    redact,
)
from llmcore.http import HttpRequest, mask_headers
from llmcore.options import ConnectionOptions

# The JSON module requests encodes bodies with (simplejson when it is installed).
_requests_json: Any = vars(requests.compat)["json"]

__all__ = ["Lease", "MemoryResponse", "OpenResponse", "Transport", "register_memory_scheme"]

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


def _chain_has(exc: BaseException | None, kinds: tuple[type[BaseException], ...]) -> bool:
    """True when ``exc``, or an exception it wraps (in its args, cause or context, a few
    levels deep), is one of ``kinds``: requests and urllib3 wrap the low-level error."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, kinds):
            return True
        inner = next((a for a in exc.args if isinstance(a, BaseException)), None)
        exc = inner or exc.__cause__ or exc.__context__
        seen += 1
    return False


# A read timeout mid-body reaches us as a ``ConnectionError`` wrapping urllib3's timeout.
_TIMEOUTS = (
    requests.exceptions.Timeout,
    urllib3.exceptions.TimeoutError,
    socket.timeout,
    TimeoutError,
)

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
    if _chain_has(exc, (urllib3.exceptions.NewConnectionError,)):
        # urllib3 derives its "could not connect" error (refused, no such host) from its
        # connect *timeout* error, so it must be told apart before the timeouts are.
        return ApiConnectionError(f"connection failed {what}: {detail}")
    if _chain_has(exc, _TIMEOUTS):
        return RequestTimeoutError(f"read timed out {what}: {detail}")
    return ApiConnectionError(f"connection failed {what}: {detail}")


def _deadline_error(what: str) -> RequestTimeoutError:
    err = RequestTimeoutError(f"the call's total_timeout expired {what}")
    err.should_retry = False  # a deadline that passed cannot be met by trying again
    return err


_BODY_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
    ValueError,  # "I/O operation on closed file" after an interrupt
    AttributeError,  # urllib3 reading from a connection that was torn down
)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Lease:
    """One attempt's hold on one connection, shared with the threads that may interrupt it.

    A cancel or an expired deadline (other threads) may only *shut the socket down*, and only
    while the attempt still holds the connection; everything else (closing, returning it to the
    pool) is done by the thread that owns the response. The pool calls :meth:`finish` before it
    takes a connection back, under the same lock as :meth:`interrupt`, so a late cancel can
    never reach a socket that already serves another request, and an interrupted connection is
    closed instead of being pooled. The lease holds its socket weakly: a cancel handle that
    outlives its call keeps no socket open.
    """

    __slots__ = ("_done", "_lock", "_sock", "reason", "reused")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: weakref.ref[socket.socket] | None = None
        self._done = False
        self.reason: str | None = None  # "cancelled" or "deadline" once interrupted
        self.reused = False  # the attempt went out on a pooled (already used) connection

    @property
    def done(self) -> bool:
        """True once the attempt gave its connection up."""
        return self._done

    def attach(self, sock: socket.socket) -> None:
        """The attempt now uses ``sock`` (a new or a pooled connection)."""
        with self._lock:
            if self._done:
                return
            self._sock = weakref.ref(sock)
            if self.reason is not None:
                _shutdown(sock)

    def interrupt(self, reason: str = "cancelled") -> None:
        """From any thread: make a blocked read return now (first reason wins)."""
        with self._lock:
            if self._done or self.reason is not None:
                return
            self.reason = reason
            sock = self._sock() if self._sock is not None else None
            if sock is not None:
                _shutdown(sock)

    def cancel(self) -> None:
        """:meth:`interrupt` for a cancel handle (one bound method, so it can be discarded)."""
        self.interrupt("cancelled")

    def finish(self) -> bool:
        """The attempt gives the connection up; True when it may be reused."""
        with self._lock:
            self._done = True
            self._sock = None
            return self.reason is None


class _Watchdog:
    """One daemon thread that interrupts leases whose call deadline passed.

    Socket timeouts bound each read; only a watchdog bounds a server that trickles a byte at a
    time or sends keep-alive comments forever. Finished leases are skipped and compacted away.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Lease]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._pushes = 0

    def schedule(self, when: float, lease: Lease) -> None:
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._seq), lease))
            self._pushes += 1
            if self._pushes % 256 == 0:
                self._heap = [e for e in self._heap if not e[2].done]
                heapq.heapify(self._heap)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="llmcore-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap and self._heap[0][2] is lease:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].done:
                        heapq.heappop(self._heap)
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        lease = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(self._heap[0][0] - now if self._heap else None)
            lease.interrupt("deadline")


_watchdog = _Watchdog()


class OpenResponse:
    """A response whose headers have arrived and whose body is still to be read.

    Only the thread that reads it may close or release it; other threads interrupt it through
    its :class:`Lease` (the cancel handle and the deadline watchdog do).
    """

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        chunks: Iterator[bytes],
        close: Callable[[], None],
        url: str,
        sock: socket.socket | None = None,
        lease: Lease | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.url = url
        self.lease = lease or Lease()
        self._chunks = chunks
        self._close = close
        self._sock = sock
        self._on_close = on_close
        self.closed = False

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters (``""`` when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def failure(self, exc: BaseException, what: str) -> BaseException:
        """The error a failed read becomes: a cancel, an expired deadline, or a mapped error."""
        if self.lease.reason == "cancelled":
            return CancelledError()
        if self.lease.reason == "deadline":
            return _deadline_error(what)
        return _map_exception(exc, what)

    def iter_bytes(self) -> Iterator[bytes]:
        """Body bytes as they arrive; errors become :class:`ApiConnectionError` / timeouts."""
        try:
            for chunk in self._chunks:
                if chunk:
                    yield chunk
        except _BODY_ERRORS as exc:
            raise self.failure(exc, "while reading the response body") from exc
        if self.lease.reason is not None:  # a shut-down socket may read as a clean end
            raise self.failure(ConnectionAbortedError(), "while reading the response body")

    def read(self) -> bytes:
        """The whole body."""
        try:
            return b"".join(self.iter_bytes())
        finally:
            self.close()

    def set_read_timeout(self, seconds: float) -> None:
        """Change the socket timeout of the reads still to come (the reading thread only)."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.settimeout(seconds)

    def close(self) -> None:
        """Release the connection (back to the pool only when the body was fully read and the
        attempt was not interrupted)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._close()
        except Exception:
            pass
        finally:
            self.lease.finish()
            self._sock = None
            if self._on_close is not None:
                self._on_close()

    def release(self, *, max_bytes: int = 65536, timeout: float = 0.05) -> None:
        """Finish a body whose payload is complete (after ``[DONE]``): read what is left,
        normally just the chunked terminator, so the connection returns to the pool.

        Bounded in bytes and time; a server that keeps talking or stays silent just gets its
        connection dropped instead of reused.
        """
        if self.closed:
            return
        try:
            self.set_read_timeout(timeout)
            drained = 0
            for chunk in self._chunks:
                drained += len(chunk)
                if drained > max_bytes:
                    break
        except Exception:
            pass
        self.close()

    def abort(self) -> None:
        """Interrupt and close, from the reading thread."""
        self.lease.interrupt("cancelled")
        self.close()


def _socket_of(raw: Any) -> socket.socket | None:
    """The socket under a urllib3 response (None once it is gone)."""
    for path in (("_connection", "sock"), ("_fp", "fp", "raw", "_sock")):
        obj: Any = raw
        for attr in path:
            obj = getattr(obj, attr, None)
            if obj is None:
                break
        if isinstance(obj, socket.socket):
            return obj
    return None


def _body_chunks(raw: Any, stream: bool, consumed: list[bool]) -> Iterator[bytes]:
    """Body chunks of a urllib3 response as they arrive, as ``requests`` reads them.

    Chunked bodies go through ``stream(None)``, which yields each chunk as it arrives. For a
    streamed body without chunked encoding (close-delimited SSE), ``stream(None)`` would wait
    for the end, so ``read1`` hands over whatever has arrived. ``consumed`` gets ``True`` once
    a body has been read to its end, so that closing the response returns its connection to
    the pool instead of closing it (what ``requests.Response.close`` does).
    """
    chunked = "chunked" in raw.headers.get("transfer-encoding", "").lower()
    read1 = getattr(raw, "read1", None)
    if not stream or chunked or read1 is None:

        def whole() -> Iterator[bytes]:
            yield from raw.stream(None if stream else 65536, decode_content=True)
            consumed.append(True)

        return whole()

    def arrivals() -> Iterator[bytes]:
        while True:
            data = read1(65536, decode_content=True)
            if not data:
                return
            yield data

    return arrivals()


# --- leases on pooled connections --------------------------------------------------------------
# The socket of a request only becomes visible once ``session.request`` returns. So that a cancel
# or a deadline can interrupt the wait for the response headers too, connections attach their
# socket, while a request runs, to the lease of the thread that sends it; the pool finishes the
# lease before it takes the connection back.
_inflight = threading.local()


def _attach(conn: urllib3.connection.HTTPConnection, *, reused: bool) -> None:
    lease: Lease | None = getattr(_inflight, "lease", None)
    sock = conn.sock
    if lease is None or sock is None:
        return
    conn._llmcore_lease = lease  # type: ignore[attr-defined]
    lease.reused = reused
    lease.attach(sock)


# A body up to this size goes out in the same send as the request's headers.
_COALESCE_BYTES = 256 * 1024

if TYPE_CHECKING:
    _ConnectionBase = urllib3.connection.HTTPConnection
else:
    _ConnectionBase = object


class _Leased(_ConnectionBase):
    """What llmcore adds to urllib3's connections: each attaches its socket to the lease of
    the attempt using it (see above), and sends a small request in one piece.

    urllib3 sends a request's headers and then its body, two system calls each releasing and
    taking back the interpreter lock (with many threads sending at once, each is a chance to
    wait for it); a small ``bytes`` body is sent together with the headers instead, in one
    call and usually one TCP segment. The bytes on the wire are the same.
    """

    _llmcore_body: bytes | None = None  # the body to send with the headers
    _llmcore_sent: bytes | None = None  # the body already sent with them

    def connect(self) -> None:
        super().connect()
        _attach(self, reused=False)

    def request(self, method: str, url: str, body: Any = None, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a pooled connection: connect() is not called again
            _attach(self, reused=True)
        small = isinstance(body, bytes) and 0 < len(body) <= _COALESCE_BYTES
        self._llmcore_body = body if small else None
        try:
            super().request(method, url, body, *args, **kwargs)
        finally:
            self._llmcore_body = self._llmcore_sent = None

    def send(self, data: Any) -> None:
        body = self._llmcore_body
        if body is not None and isinstance(data, bytes) and data.endswith(b"\r\n\r\n"):
            # the header block (it ends with the blank line): the body goes with it
            self._llmcore_body, self._llmcore_sent = None, body
            super().send(data + body)
            return
        if data is self._llmcore_sent and data is not None:
            self._llmcore_sent = None  # urllib3 sending the body: it has gone already
            return
        super().send(data)


class _LeasedHTTPConnection(_Leased, urllib3.connection.HTTPConnection):
    pass


class _LeasedHTTPSConnection(_Leased, urllib3.connection.HTTPSConnection):
    pass


class _StaleConnection(Exception):
    """A pooled connection the server had already closed: nothing of the request was answered."""


_STALE_SIGNS = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def _stale(exc: BaseException) -> bool:
    """True when ``exc`` is the server closing a kept-alive connection before answering."""
    return _chain_has(exc, _STALE_SIGNS)


def _put_leased(pool: urllib3.connectionpool.HTTPConnectionPool, conn: Any) -> None:
    lease: Lease | None = getattr(conn, "_llmcore_lease", None)
    if lease is not None:
        conn._llmcore_lease = None
        if not lease.finish():  # interrupted: its socket is shut down, never pool it
            conn.close()


def _grow_queue(pool: urllib3.connectionpool.HTTPConnectionPool, size: int) -> None:
    """Let ``pool`` keep up to ``size`` idle connections (never fewer than it does now).

    Only the queue's bound changes, under the queue's own lock: connections in use and idle
    ones are untouched, and the pool's get/put (which finish leases) stay as they are."""
    queue = pool.pool
    if queue is None:  # the pool was closed
        return
    with queue.mutex:
        if queue.maxsize < size:
            queue.maxsize = size
            queue.not_full.notify_all()


class _Capacity:
    """How many connections each pool of one transport keeps: ``pool_size``, or more once a
    batch needed more (:meth:`Transport.reserve`). Pools created later start at that size."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.lock = threading.Lock()
        self.high = base  # the largest reservation since the pools were last dropped
        self.active: list[int] = []

    @property
    def size(self) -> int:
        return max([self.base, self.high, *self.active])


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _LeasedHTTPConnection
    capacity: _Capacity | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.capacity is not None:
            _grow_queue(self, self.capacity.size)

    def _put_conn(self, conn: Any) -> None:
        _put_leased(self, conn)
        super()._put_conn(conn)


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _LeasedHTTPSConnection
    capacity: _Capacity | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.capacity is not None:
            _grow_queue(self, self.capacity.size)

    def _put_conn(self, conn: Any) -> None:
        _put_leased(self, conn)
        super()._put_conn(conn)


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _redirect_target(request: HttpRequest, status: int, location: str) -> str | None:
    """Where a redirect may be followed, or None: only within the request's origin, and for a
    request with a body only when the method is kept (307/308)."""
    target = urllib.parse.urljoin(request.url, location)
    if _origin(target) != _origin(request.url):
        return None
    if request.method.upper() not in {"GET", "HEAD"} and status not in {307, 308}:
        return None
    return target


def _environ_key() -> tuple[Any, ...] | None:
    """The environment as a cache key (its proxy and CA-bundle variables decide a route), or
    None where they are not all that decides (the platform's proxy settings count too, or the
    environment cannot be read cheaply).

    The whole environment, not just those variables: a tuple of its items costs a fifth of
    picking them out, and any change, even to an unrelated variable, only means one new route.
    """
    if sys.platform in ("darwin", "win32"):
        return None
    data = getattr(os.environ, "_data", None)
    if not isinstance(data, dict):
        return None
    return tuple(data.items())


def _merged_settings(
    session: requests.Session, url: str, proxies: dict[str, str] | None
) -> dict[str, Any]:
    """What ``Session.merge_environment_settings`` gives with ``trust_env`` on.

    The session itself runs with ``trust_env`` off, so that requests never reads ``~/.netrc``:
    a netrc entry for the provider's host would replace the client's own ``Authorization``
    header (its API key) with a Basic one. The environment's proxies and CA bundle still
    apply, as here.
    """
    merged = dict(proxies or {})
    for key, value in requests.utils.get_environ_proxies(url, merged.get("no_proxy")).items():
        merged.setdefault(key, value)
    verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None
    proxies = {k: v for k, v in {**session.proxies, **merged}.items() if v is not None}
    return {
        "proxies": proxies,
        "stream": True,
        "verify": verify if verify is not None else session.verify,
        "cert": session.cert,
    }


def _prepared_url(url: str, params: dict[str, str]) -> str:
    """The URL requests sends for ``url`` and ``params`` (IDNA host, quoted path, encoded query)."""
    prepared = requests.PreparedRequest()
    prepared.prepare_url(url, params)
    return prepared.url or url


def _merged_headers(session: requests.Session, request: HttpRequest) -> list[tuple[str, Any]]:
    """The session's headers merged under the request's (case-insensitively; a header set to
    None is removed), each checked by requests' own validity check: ``InvalidHeader`` for a
    header that cannot be sent."""
    merged: CaseInsensitiveDict[Any] = CaseInsensitiveDict(session.headers)
    merged.update(request.headers)
    pairs = []
    for name, value in merged.items():
        if value is None:  # a session header set to None is removed, as requests does
            continue
        requests.utils.check_header_validity((name, value))
        pairs.append((name, value))
    return pairs


def _prepare(
    session: requests.Session,
    request: HttpRequest,
    url: str,
    cache: dict[Any, list[tuple[str, Any]]] | None = None,
) -> requests.PreparedRequest:
    """What ``session.prepare_request`` makes of ``request`` (with ``url`` already prepared),
    built directly.

    ``Session.prepare_request`` merges settings through generic mappings and runtime protocol
    checks: about a third of the CPU a small call costs. For what llmcore sends (string headers,
    a JSON or bytes body, no files, no per-request cookies, auth or hooks) this is the same
    request, header for header and byte for byte (tests compare the two), in a fraction of the
    time: the session's headers merged under the request's, every header checked by requests'
    own validity check (a header that cannot be sent raises ``InvalidHeader``), the body JSON
    encoded by requests' own encoder, ``Content-Length`` and ``Content-Type`` as requests sets
    them, the session's cookies, and credentials in the URL or on the session as Basic auth.
    """
    prepared = requests.PreparedRequest()
    method = request.method.upper()
    prepared.method = method
    prepared.url = url
    if cache is None:
        pairs = _merged_headers(session, request)
    else:  # a client sends the same headers again and again
        key = (tuple(request.headers.items()), tuple(session.headers.items()))
        cached = cache.get(key)
        if cached is None:
            cached = _merged_headers(session, request)
            if len(cache) >= 64:
                cache.clear()
            cache[key] = cached
        pairs = cached
    headers: CaseInsensitiveDict[Any] = CaseInsensitiveDict(pairs)
    prepared.headers = headers
    if len(session.cookies):
        jar = requests.cookies.merge_cookies(  # type: ignore[no-untyped-call]
            requests.cookies.RequestsCookieJar(), session.cookies
        )
        prepared.prepare_cookies(jar)
    body: bytes | None = None
    content_type = None
    if request.body:
        body = request.body
    elif request.body is None and request.json is not None:
        content_type = "application/json"
        try:
            encoded = _requests_json.dumps(request.json, allow_nan=False)
        except ValueError as exc:
            raise requests.exceptions.InvalidJSONError(exc, request=prepared) from None
        body = encoded if isinstance(encoded, bytes) else encoded.encode("utf-8")
    if body is not None:
        headers["Content-Length"] = str(len(body))
    elif method not in ("GET", "HEAD") and headers.get("Content-Length") is None:
        headers["Content-Length"] = "0"
    if content_type and "content-type" not in headers:
        headers["Content-Type"] = content_type
    prepared.body = body
    if session.auth is not None or "@" in url:
        prepared.prepare_auth(session.auth)
    prepared.hooks = requests.hooks.default_hooks()
    return prepared


def _pool_kwargs(verify: Any, cert: Any) -> dict[str, Any]:
    """The TLS part of a pool's key, as requests computes it for ``verify`` and ``cert``."""
    kwargs: dict[str, Any] = {}
    cert_reqs = "CERT_REQUIRED"
    if verify is False:
        cert_reqs = "CERT_NONE"
    elif isinstance(verify, str):
        kwargs["ca_cert_dir" if os.path.isdir(verify) else "ca_certs"] = verify
    kwargs["cert_reqs"] = cert_reqs
    if cert is not None:
        if isinstance(cert, tuple) and len(cert) == 2:
            kwargs["cert_file"], kwargs["key_file"] = cert
        else:
            kwargs["cert_file"] = cert
    return kwargs


class _Route:
    """How requests to one origin go out: the keyword arguments of ``HTTPAdapter.send``
    (proxies, ``verify``, ``cert``), and, where no proxy applies, the connection pool's key
    (scheme, host, port, TLS settings), so the request can go to the pool directly."""

    __slots__ = ("pool", "settings")

    def __init__(
        self, settings: dict[str, Any], pool: tuple[str, str, int | None, dict[str, Any]] | None
    ) -> None:
        self.settings = settings
        self.pool = pool

    @classmethod
    def make(cls, settings: dict[str, Any], url: str) -> _Route:
        if requests.utils.select_proxy(url, settings["proxies"]) is not None:
            return cls(settings, None)
        parts = urllib.parse.urlparse(url)
        try:
            port = parts.port
        except ValueError:  # requests' own path raises its InvalidURL for it
            return cls(settings, None)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return cls(settings, None)
        kwargs = _pool_kwargs(settings["verify"], settings["cert"])
        return cls(settings, (scheme, parts.hostname, port, kwargs))


_ADAPTERS_FILE = os.path.normcase(os.path.abspath(requests.adapters.__file__ or ""))


def _genuine_send() -> bool:
    """True while ``HTTPAdapter.send`` is requests' own: libraries that mock requests (the
    ``responses`` library, test doubles) replace it, and then every request goes through it."""
    global _genuine_code
    code = getattr(requests.adapters.HTTPAdapter.send, "__code__", None)
    if code is not None and code is _genuine_code:
        return True
    filename = getattr(code, "co_filename", None)
    if filename is None or os.path.normcase(os.path.abspath(filename)) != _ADAPTERS_FILE:
        return False
    _genuine_code = code
    return True


_genuine_code: Any = None


# urllib3's errors and the requests errors ``HTTPAdapter.send`` raises for them, in its order:
# for the reason inside a MaxRetryError, and for the error itself.
_REASON_ERRORS: tuple[tuple[type[BaseException], type[requests.RequestException]], ...] = (
    (urllib3.exceptions.ResponseError, requests.exceptions.RetryError),
    (urllib3.exceptions.ProxyError, requests.exceptions.ProxyError),
    (urllib3.exceptions.SSLError, requests.exceptions.SSLError),
)
_DIRECT_ERRORS: tuple[tuple[type[BaseException], type[requests.RequestException]], ...] = (
    (urllib3.exceptions.ClosedPoolError, requests.exceptions.ConnectionError),
    (urllib3.exceptions.ProxyError, requests.exceptions.ProxyError),
    (urllib3.exceptions.SSLError, requests.exceptions.SSLError),
    (urllib3.exceptions.ReadTimeoutError, requests.exceptions.ReadTimeout),
    (urllib3.exceptions.InvalidHeader, requests.exceptions.InvalidHeader),
)


def _requests_error(exc: BaseException, prepared: requests.PreparedRequest) -> BaseException:
    """The error ``HTTPAdapter.send`` raises for ``exc`` from urllib3 (its mapping, in its
    order), so the rest of the transport sees the same errors on both paths."""
    errors = urllib3.exceptions
    if isinstance(exc, (errors.ProtocolError, OSError)):
        return requests.exceptions.ConnectionError(exc, request=prepared)
    if isinstance(exc, errors.MaxRetryError):
        reason = exc.reason
        if isinstance(reason, errors.ConnectTimeoutError) and not isinstance(
            reason, errors.NewConnectionError
        ):
            return requests.exceptions.ConnectTimeout(exc, request=prepared)
        kind = next((r for u, r in _REASON_ERRORS if isinstance(reason, u)), None)
        return (kind or requests.exceptions.ConnectionError)(exc, request=prepared)
    kind = next((r for u, r in _DIRECT_ERRORS if isinstance(exc, u)), None)
    return exc if kind is None else kind(exc, request=prepared)


def _urlopen(
    adapter: requests.adapters.HTTPAdapter,
    prepared: requests.PreparedRequest,
    path: str,
    route: _Route,
    timeouts: tuple[float | None, float | None],
) -> Any:
    """What ``HTTPAdapter.send`` does for a request no proxy applies to, without the
    ``requests.Response`` it builds around urllib3's response: pick the pool, apply the TLS
    settings, send, map urllib3's errors to requests' ones. Returns urllib3's response."""
    assert route.pool is not None
    scheme, host, port, pool_kwargs = route.pool
    settings = route.settings
    try:
        pool = adapter.poolmanager.connection_from_host(
            host, port=port, scheme=scheme, pool_kwargs=pool_kwargs
        )
    except urllib3.exceptions.LocationValueError as exc:
        raise requests.exceptions.InvalidURL(exc, request=prepared) from exc
    adapter.cert_verify(  # type: ignore[no-untyped-call]
        pool, prepared.url or "", settings["verify"], settings["cert"]
    )
    headers = prepared.headers
    try:
        return pool.urlopen(
            method=prepared.method,
            url=path,
            body=prepared.body,
            headers=headers,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=adapter.max_retries,
            timeout=urllib3.Timeout(connect=timeouts[0], read=timeouts[1]),
            chunked=not (prepared.body is None or "Content-Length" in headers),
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        mapped = _requests_error(exc, prepared)
        if mapped is exc:
            raise
        raise mapped from exc


class Transport:
    """One pooled ``requests.Session`` per client; thread-safe for concurrent calls."""

    def __init__(self, options: ConnectionOptions) -> None:
        self.options = options
        self.session = requests.Session()
        self.session.trust_env = False  # the environment is read by _route instead
        self._adapter = requests.adapters.HTTPAdapter(
            pool_connections=options.pool_size, pool_maxsize=options.pool_size, max_retries=0
        )
        # Per-transport pool classes share this transport's capacity, so that a batch can
        # grow the pools it uses (and pools created during the batch start grown).
        self._capacity = _Capacity(options.pool_size)
        extra = {"capacity": self._capacity}
        self._adapter.poolmanager.pool_classes_by_scheme = {
            "http": type("_HTTPPool", (_HTTPPool,), extra),
            "https": type("_HTTPSPool", (_HTTPSPool,), extra),
        }
        self.session.mount("https://", self._adapter)
        self.session.mount("http://", self._adapter)
        # An explicit proxy is passed with every request: requests lets proxy environment
        # variables override ``Session.proxies``, but never a request's own ``proxies``.
        self._proxies = {"http": options.proxy, "https": options.proxy} if options.proxy else None
        self._last_used = time.monotonic()
        self._lock = threading.Lock()
        self._routes: dict[tuple[Any, ...], _Route] = {}
        self._urls: dict[Any, tuple[str, str]] = {}
        self._headers: dict[Any, list[tuple[str, Any]]] = {}

    def _url(self, url: str, params: dict[str, str]) -> tuple[str, str]:
        """``url`` with ``params`` as requests prepares it, and the path (with the query) that
        goes on the request line; cached (a client sends to few URLs)."""
        key: Any = (url, *params.items()) if params else url
        cached = self._urls.get(key)
        if cached is None:
            prepared = _prepared_url(url, params)
            target = requests.PreparedRequest()
            target.url = prepared
            # the request line's target as the adapter makes it when no proxy applies
            cached = (prepared, self._adapter.request_url(target, {}))
            with self._lock:
                if len(self._urls) >= 256:
                    self._urls.clear()
                self._urls[key] = cached
        return cached

    def _route(self, url: str) -> _Route:
        """How a request to ``url`` goes out (see :func:`_merged_settings` and
        :class:`_Route`), cached per origin.

        The proxies, ``verify`` and ``cert`` a request gets depend only on the URL's origin,
        the session's settings and the environment's ``*_proxy``, ``REQUEST_METHOD`` and CA
        bundle variables, so the result is cached under those and the environment (a changed
        variable is a new key; see :func:`_environ_key`). Where the platform's own proxy
        configuration is consulted as well (macOS, Windows), nothing is cached.
        """
        session = self.session
        environ = _environ_key()
        if environ is None:
            return _Route.make(_merged_settings(session, url, self._proxies), url)
        origin = url.split("/", 3)[:3]
        key = (
            "/".join(origin),
            environ,
            repr(session.proxies),
            session.verify,
            session.cert,
        )
        cached = self._routes.get(key)
        if cached is None:
            cached = _Route.make(_merged_settings(session, url, self._proxies), url)
            with self._lock:
                if len(self._routes) >= 64:
                    self._routes.clear()
                self._routes[key] = cached
        return cached

    @property
    def pool_capacity(self) -> int:
        """How many idle connections each host's pool keeps right now."""
        with self._capacity.lock:
            return self._capacity.size

    @contextlib.contextmanager
    def reserve(self, connections: int) -> Iterator[None]:
        """Make every host's pool keep at least ``connections`` connections.

        A batch running ``connections`` requests at once would otherwise open and drop a
        connection for each request above ``pool_size``. The pools only grow, which is safe
        for other threads using them: their connections and leases are untouched. They keep
        that size (so the next batch finds its connections warm) until the client has been
        idle for ``idle_timeout``, when the pooled connections are dropped as always and the
        pools start again at ``pool_size``.
        """
        with self._capacity.lock:
            self._capacity.active.append(connections)
            self._capacity.high = max(self._capacity.high, connections)
            size = self._capacity.size
            pools = self._adapter.poolmanager.pools
            with pools.lock:
                current = list(pools._container.values())
            for pool in current:
                _grow_queue(pool, size)
        try:
            yield
        finally:
            with self._capacity.lock:
                self._capacity.active.remove(connections)

    def _drop_idle(self) -> None:
        idle = self.options.idle_timeout
        now = time.monotonic()
        if idle is None or now - self._last_used <= idle:
            # The common case takes no lock: the threads of a batch would queue on it.
            self._last_used = now
            return
        with self._lock:
            if now - self._last_used > idle:
                self._adapter.poolmanager.clear()
                with self._capacity.lock:
                    self._capacity.high = self._capacity.base
                log.debug(
                    "llmcore: dropped pooled connections idle for %.1fs", now - self._last_used
                )
            self._last_used = now

    def _timeouts(self, deadline: float | None) -> tuple[float | None, float | None]:
        connect, read = self.options.connect_timeout, self.options.read_timeout
        if deadline is None:
            return connect, read
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _deadline_error("before the request was sent")
        return (
            remaining if connect is None else min(connect, remaining),
            remaining if read is None else min(read, remaining),
        )

    def send(
        self,
        request: HttpRequest,
        *,
        stream: bool,
        cancel: CancelHandle | None = None,
        deadline: float | None = None,
    ) -> OpenResponse:
        """Send ``request`` and return once the status and headers have arrived.

        ``deadline`` is a ``time.monotonic()`` instant that bounds everything this response
        does, body reads included. Redirects are followed only within the request's origin
        (and for requests with a body only when 307/308 keep the method); any other redirect
        raises :class:`RedirectError`, so credentials and prompts never go to another host.
        """
        if cancel is not None:
            cancel.check()
        scheme = request.url.split(":", 1)[0]
        if scheme in _memory_schemes:
            return self._send_memory(request, cancel)
        self._drop_idle()
        for _ in range(_MAX_REDIRECTS + 1):
            opened = self._send_fresh(request, stream=stream, cancel=cancel, deadline=deadline)
            location = opened.headers.get("location")
            if opened.status not in _REDIRECTS or not location:
                return opened
            opened.close()
            target = _redirect_target(request, opened.status, location)
            if target is None:
                shown = redact(urllib.parse.urljoin(request.url, location))
                raise RedirectError(
                    f"the server redirected {request.method} {redact(request.url)} to {shown}"
                    " (another origin, or a method change); llmcore does not follow it so that"
                    " neither credentials nor the request body leave the configured host."
                    " Set base_url to the new address if it is right",
                    status=opened.status,
                    location=shown,
                )
            log.debug("llmcore: following %s redirect to %s", opened.status, redact(target))
            request = attrs.evolve(request, url=target)
        raise RedirectError(
            f"more than {_MAX_REDIRECTS} redirects for {redact(request.url)}", status=None
        )

    def _send_fresh(
        self,
        request: HttpRequest,
        *,
        stream: bool,
        cancel: CancelHandle | None,
        deadline: float | None,
    ) -> OpenResponse:
        """:meth:`_send_once`, sent again at once when it went out on a pooled connection that
        the server had already closed (no byte of a response arrived: the server never took
        the request). Every pooled connection may be stale, so this repeats up to the pool
        size; a failure on a new connection is a real one."""
        for _ in range(self._capacity.size):
            try:
                return self._send_once(request, stream=stream, cancel=cancel, deadline=deadline)
            except _StaleConnection:
                log.debug("llmcore: pooled connection was closed by the server; sending again")
        return self._send_once(
            request, stream=stream, cancel=cancel, deadline=deadline, stale_ok=False
        )

    def _send_once(
        self,
        request: HttpRequest,
        *,
        stream: bool,
        cancel: CancelHandle | None,
        deadline: float | None,
        stale_ok: bool = True,
    ) -> OpenResponse:
        timeouts = self._timeouts(deadline)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "llmcore: %s %s headers=%s",
                request.method,
                request.url,
                mask_headers(request.headers),
            )
        lease = Lease()
        if deadline is not None:
            _watchdog.schedule(deadline, lease)
        if cancel is not None:
            cancel.on_cancel(lease.cancel)

        def forget() -> None:
            if cancel is not None:
                cancel.discard(lease.cancel)

        _inflight.lease = lease
        try:
            # What ``Session.request`` does (prepare, pick the adapter, send, keep the cookies),
            # minus its generic merging and its per-call scan of the environment for proxy and
            # CA-bundle variables (see _prepare and _route).
            session = self.session
            url, path = self._url(request.url, request.params)
            prepared = _prepare(session, request, url, self._headers)
            route = self._route(url)
            adapter = session.get_adapter(url)
            if route.pool is not None and adapter is self._adapter and _genuine_send():
                raw = _urlopen(adapter, prepared, path, route, timeouts)
            else:  # another adapter, a proxy, or HTTPAdapter.send patched (``responses``)
                raw = adapter.send(
                    prepared,
                    timeout=timeouts,  # type: ignore[arg-type]  # None means no limit there too
                    **route.settings,
                ).raw
            if "set-cookie" in raw.headers:
                requests.cookies.extract_cookies_to_jar(  # type: ignore[no-untyped-call]
                    session.cookies, prepared, raw
                )
        except requests.exceptions.RequestException as exc:
            lease.finish()
            forget()
            failure: BaseException
            if stale_ok and lease.reused and lease.reason is None and _stale(exc):
                raise _StaleConnection() from None
            if lease.reason == "cancelled" or (cancel is not None and cancel.cancelled):
                failure = CancelledError()
            elif lease.reason == "deadline":
                failure = _deadline_error(f"waiting for the response from {request.url}")
            else:
                failure = _map_exception(exc, f"to {request.url}")
            raise failure from exc
        except OSError as exc:
            # requests' own TLS setup, before anything is sent: a CA bundle or client
            # certificate file that does not exist (``REQUESTS_CA_BUNDLE`` set wrongly)
            lease.finish()
            forget()
            raise ConfigurationError(
                f"the TLS settings for {redact(request.url)} cannot be used: {redact(str(exc))}"
                " (check REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE)"
            ) from exc
        finally:
            _inflight.lease = None

        consumed: list[bool] = []

        def close() -> None:  # what ``requests.Response.close`` does
            if not consumed:
                raw.close()
            raw.release_conn()

        opened = OpenResponse(
            raw.status,
            dict(raw.headers),
            _body_chunks(raw, stream, consumed),
            close,
            request.url,
            _socket_of(raw),
            lease,
            forget,
        )
        log.debug("llmcore: <- %s %s", raw.status, request.url)
        return opened

    def _send_memory(self, request: HttpRequest, cancel: CancelHandle | None) -> OpenResponse:
        handler = _memory_schemes[request.url.split(":", 1)[0]]
        answer = handler(request, cancel)
        chunks = iter(answer.chunks)
        lease = Lease()
        if cancel is not None:
            cancel.on_cancel(lease.cancel)

        def guarded() -> Iterator[bytes]:
            for chunk in chunks:
                if lease.reason is not None:
                    raise ConnectionAbortedError("connection closed by the client")
                yield chunk

        def forget() -> None:
            if cancel is not None:
                cancel.discard(lease.cancel)

        close = getattr(chunks, "close", lambda: None)
        return OpenResponse(
            answer.status,
            dict(answer.headers),
            guarded(),
            close,
            request.url,
            None,
            lease,
            forget,
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self.session.close()
