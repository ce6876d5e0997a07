"""The transport builds its requests directly (``llmcore.transport._prepare``) instead of
through ``Session.prepare_request``: the two must give the same request, header for header and
byte for byte, and fail the same way on what cannot be sent."""

from __future__ import annotations

import math
from typing import Any

import pytest
import requests
import requests.adapters
import urllib3

from llmcore.http import HttpRequest
from llmcore.transport import _prepare, _prepared_url, _requests_error


def by_requests(session: requests.Session, request: HttpRequest) -> requests.PreparedRequest:
    """What the transport sent before: ``Session.prepare_request`` of the same parts."""
    return session.prepare_request(
        requests.Request(
            request.method.upper(),
            request.url,
            headers=request.headers,
            params=request.params or {},
            json=request.json if request.body is None else None,
            data=request.body or {},
        )
    )


def direct(session: requests.Session, request: HttpRequest) -> requests.PreparedRequest:
    """The transport's own preparation, uncached and from its header cache (the same)."""
    url = _prepared_url(request.url, request.params)
    uncached = _prepare(session, request, url)
    cache: dict[Any, Any] = {}
    first, again = _prepare(session, request, url, cache), _prepare(session, request, url, cache)
    assert parts(uncached) == parts(first) == parts(again)
    return again


def parts(prepared: requests.PreparedRequest) -> tuple[Any, ...]:
    # The header *names* as sent (their case) and values, in order, then method, URL, body.
    return (
        prepared.method,
        prepared.url,
        list(prepared.headers.items()),
        prepared.body,
    )


URL = "https://api.example.test/v1/chat/completions"
CASES: dict[str, HttpRequest] = {
    "json body": HttpRequest("POST", URL, {"Authorization": "Bearer k"}, {"model": "m"}),
    "unicode json": HttpRequest("POST", URL, {}, {"text": 'héllo ✓ \u2028 "q"'}),
    "raw bytes body": HttpRequest(
        "POST", URL, {"Content-Type": "application/x-ndjson"}, None, b"{}\n{}"
    ),
    "empty bytes body": HttpRequest("POST", URL, {}, None, b""),
    "no body, POST": HttpRequest("POST", URL),
    "no body, GET": HttpRequest("GET", "https://api.example.test/v1/models"),
    "lower-case method": HttpRequest("get", "https://api.example.test/v1/models"),
    "DELETE without body": HttpRequest("DELETE", "https://api.example.test/v1/files/f1"),
    "params": HttpRequest("GET", URL, params={"alt": "sse", "q": "a b&c=d/é"}),
    "params on a URL with a query": HttpRequest("GET", URL + "?x=1", params={"y": "2"}),
    "user agent replaced": HttpRequest(
        "POST", URL, {"user-agent": "llmcore/1", "ACCEPT": "text/event-stream"}, {"a": 1}
    ),
    "own content type": HttpRequest(
        "POST", URL, {"content-type": "application/json; charset=utf-8"}, {"a": 1}
    ),
    "own content length": HttpRequest("POST", URL, {"Content-Length": "2"}, None, b"{}"),
    "unquoted path": HttpRequest(
        "POST", "https://api.example.test/v1/models/gemini 1.5:generate", {}, {}
    ),
    "non-ascii path": HttpRequest(
        "POST", "https://api.example.test/v1/modèles/é", {}, {"a": [1, 2]}
    ),
    "idna host": HttpRequest("POST", "https://bücher.example/v1/chat", {}, {"a": None}),
    "port and trailing slash": HttpRequest("POST", "http://127.0.0.1:8080/v1/", {}, {"a": 1.5}),
    "credentials in the url": HttpRequest(
        "POST", "https://user:pa%20ss@api.example.test/v1/chat", {}, {"a": 1}
    ),
    "empty json object": HttpRequest("POST", URL, {}, {}),
    "json false": HttpRequest("POST", URL, {}, False),
    "json list": HttpRequest("POST", URL, {}, [1, "two"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_request_is_the_one_requests_prepares(name: str) -> None:
    session = requests.Session()
    request = CASES[name]
    assert parts(direct(session, request)) == parts(by_requests(session, request))


def test_session_headers_cookies_and_auth_apply_as_with_requests() -> None:
    session = requests.Session()
    session.headers["X-Session"] = "s"
    session.headers["Accept-Encoding"] = None  # type: ignore[assignment]  # removed, as requests does
    session.cookies.set("sticky", "node-3", domain="api.example.test", path="/")
    session.cookies.set("elsewhere", "no", domain="other.example", path="/")
    for request in (CASES["json body"], CASES["params"], CASES["credentials in the url"]):
        assert parts(direct(session, request)) == parts(by_requests(session, request))
    sent = direct(session, CASES["json body"])
    assert sent.headers["Cookie"] == "sticky=node-3"
    assert "Accept-Encoding" not in sent.headers
    session.auth = ("basic-user", "basic-pass")
    request = HttpRequest("POST", URL, {}, {"a": 1})
    assert parts(direct(session, request)) == parts(by_requests(session, request))
    assert direct(session, request).headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer k\r\nX-Injected: 1"},
        {"X-Key": " leading-space"},
        {"X-Bad:Name": "v"},
    ],
)
def test_a_header_that_cannot_be_sent_fails_as_with_requests(headers: dict[str, str]) -> None:
    request = HttpRequest("POST", URL, headers, {"a": 1})
    with pytest.raises(requests.exceptions.InvalidHeader):
        by_requests(requests.Session(), request)
    with pytest.raises(requests.exceptions.InvalidHeader):
        direct(requests.Session(), request)


def test_a_body_json_cannot_encode_fails_as_with_requests() -> None:
    request = HttpRequest("POST", URL, {}, {"temperature": math.nan})
    with pytest.raises(requests.exceptions.InvalidJSONError):
        by_requests(requests.Session(), request)
    with pytest.raises(requests.exceptions.InvalidJSONError):
        direct(requests.Session(), request)


@pytest.mark.parametrize(
    "url", ["api.example.test/v1/chat", "https://", "https://exa mple.test:x/"]
)
def test_a_url_that_cannot_be_sent_fails_as_with_requests(url: str) -> None:
    request = HttpRequest("POST", url, {}, {"a": 1})
    with pytest.raises(requests.exceptions.RequestException) as theirs:
        by_requests(requests.Session(), request)
    with pytest.raises(requests.exceptions.RequestException) as ours:
        direct(requests.Session(), request)
    assert type(ours.value) is type(theirs.value)


def _urllib3_errors() -> list[BaseException]:
    import urllib3.exceptions as e

    pool = urllib3.HTTPConnectionPool("api.example.test")
    return [
        e.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
        ConnectionRefusedError(111, "refused"),
        e.MaxRetryError(pool, "/", e.ConnectTimeoutError(pool, "connect timed out")),
        e.MaxRetryError(pool, "/", e.NewConnectionError(pool, "refused")),  # type: ignore[arg-type]
        e.MaxRetryError(pool, "/", e.ResponseError("too many 500 error responses")),
        e.MaxRetryError(pool, "/", e.ProxyError("proxy down", OSError("x"))),
        e.MaxRetryError(pool, "/", e.SSLError("bad certificate")),
        e.MaxRetryError(pool, "/", e.ProtocolError("aborted")),
        e.ClosedPoolError(pool, "closed"),
        e.ProxyError("proxy down", OSError("x")),
        e.SSLError("bad certificate"),
        e.ReadTimeoutError(pool, "/", "read timed out"),
        e.InvalidHeader("bad header"),
        e.DecodeError("bad gzip"),
    ]


@pytest.mark.parametrize("error", _urllib3_errors(), ids=lambda e: type(e).__name__)
def test_urllib3_errors_become_the_requests_errors_the_adapter_raises(
    error: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(urllib3.HTTPConnectionPool, "urlopen", fail)
    prepared = direct(requests.Session(), CASES["port and trailing slash"])
    with pytest.raises(BaseException) as theirs:
        requests.adapters.HTTPAdapter().send(prepared)
    ours = _requests_error(error, prepared)
    assert type(ours) is type(theirs.value)


def test_a_session_header_changed_after_a_cached_call_applies() -> None:
    session = requests.Session()
    cache: dict[Any, Any] = {}
    request = CASES["json body"]
    url = _prepared_url(request.url, request.params)
    assert "X-Later" not in _prepare(session, request, url, cache).headers
    session.headers["X-Later"] = "yes"
    assert _prepare(session, request, url, cache).headers["X-Later"] == "yes"
    assert parts(_prepare(session, request, url, cache)) == parts(by_requests(session, request))


class _Recorder:
    """A socket stand-in that records what is sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.sent.append(bytes(data))

    def settimeout(self, timeout: float | None) -> None:
        pass


def _sent_by(cls: type, body: Any) -> list[bytes]:
    conn = cls("api.example.test", 443)
    conn.sock = _Recorder()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer k"}
    conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
    return list(conn.sock.sent)


@pytest.mark.parametrize("body", [b'{"model": "m"}', b"x" * 300_000, None])
def test_a_small_body_goes_out_with_the_headers_in_one_send(body: bytes | None) -> None:
    """The same bytes as urllib3's own connection sends; in one piece for a small body."""
    import urllib3.connection

    from llmcore.transport import _COALESCE_BYTES, _LeasedHTTPConnection

    ours = _sent_by(_LeasedHTTPConnection, body)
    theirs = _sent_by(urllib3.connection.HTTPConnection, body)
    assert b"".join(ours) == b"".join(theirs)
    small = body is not None and len(body) <= _COALESCE_BYTES
    assert len(ours) == (1 if small else len(theirs))
    if small:
        assert len(theirs) == 2
