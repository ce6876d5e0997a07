"""Transport, retries, error mapping, headers, payload hooks, secrets (mocked with ``responses``).

``responses`` patches ``HTTPAdapter.send``, so everything above it (session, retries, plugins,
error mapping) is real llmcore code. Waits are kept tiny (``FAST`` options); where the exact
wait matters, the sleep of :mod:`llmcore.retry` is replaced by a recorder.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
import traceback
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import requests
import responses
from responses.registries import OrderedRegistry

import llmcore.retry
from llmcore import (
    AuthenticationError,
    ChatCompletionRequest,
    Client,
    ConfigurationError,
    ConflictError,
    ConnectionOptions,
    ContextLengthExceededError,
    HttpRequest,
    HttpResponse,
    InvalidRequestError,
    LlmError,
    MalformedResponseError,
    Message,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    Provider,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
)
from llmcore_openai import openai_compatible

BASE = "https://api.openai.com/v1"
URL = BASE + "/chat/completions"
KEY = "sk-proj-Abc123SECRETkey4567890xyz"
# A key with no recognisable shape: only the client's registration can scrub it.
ODD_KEY = "zq8-not-a-known-shape-5f1e2d3c4b5a"
FAST = ConnectionOptions(backoff_initial=0.001, backoff_max=0.01)
REQ = ChatCompletionRequest("gpt-4o-mini", [Message.user("hi")])


def completion(text: str = "hello", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    body.update(extra)
    return body


def error_body(message: str, code: str | None = None, etype: str = "invalid_request_error"):
    return {"error": {"message": message, "type": etype, "code": code, "param": None}}


def make_client(options: ConnectionOptions = FAST, api_key: str = KEY, **kw: Any) -> Client:
    return Client("openai", api_key=api_key, options=options, **kw)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """Replies are served in the order they were added (one per request)."""
    with responses.RequestsMock(registry=OrderedRegistry, assert_all_requests_are_fired=False) as r:
        yield r


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record (and skip) the waits between attempts of non-streamed calls."""
    recorded: list[float] = []

    class _Time:
        monotonic = staticmethod(time.monotonic)

        @staticmethod
        def sleep(seconds: float) -> None:
            recorded.append(seconds)

    monkeypatch.setattr(llmcore.retry, "time", _Time)
    return recorded


def add_status(
    rsps: responses.RequestsMock, status: int, body: Any = None, times: int = 1, **headers: str
) -> None:
    """Queue ``times`` identical error replies (the ordered registry serves each once)."""
    payload = body if body is not None else error_body(f"status {status}")
    for _ in range(times):
        rsps.add(responses.POST, URL, json=payload, status=status, headers=headers or None)


# --- retries ---------------------------------------------------------------------------------


def test_503_503_200_succeeds_after_three_calls(rsps: responses.RequestsMock) -> None:
    add_status(rsps, 503)
    add_status(rsps, 503)
    rsps.add(responses.POST, URL, json=completion("third time"))
    resp = make_client().chat_completion(REQ)
    assert resp.text() == "third time"
    assert len(rsps.calls) == 3


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 520, 529])
def test_retryable_statuses_are_retried(rsps: responses.RequestsMock, status: int) -> None:
    add_status(rsps, status)
    rsps.add(responses.POST, URL, json=completion())
    assert make_client().chat_completion(REQ).text() == "hello"
    assert len(rsps.calls) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_never_retried(rsps: responses.RequestsMock, status: int) -> None:
    add_status(rsps, status)
    rsps.add(responses.POST, URL, json=completion())
    with pytest.raises(LlmError) as info:
        make_client(FAST.evolve(max_retries=5)).chat_completion(REQ)
    assert info.value.status == status
    assert not info.value.is_retryable()
    assert len(rsps.calls) == 1


def test_connection_errors_are_retried(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, URL, body=requests.exceptions.ConnectionError("refused"))
    rsps.add(responses.POST, URL, body=requests.exceptions.ReadTimeout("slow"))
    rsps.add(responses.POST, URL, json=completion("after two failures"))
    assert make_client().chat_completion(REQ).text() == "after two failures"
    assert len(rsps.calls) == 3


def test_connection_errors_map_to_typed_errors(rsps: responses.RequestsMock) -> None:
    from llmcore import ApiConnectionError

    rsps.add(responses.POST, URL, body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(ApiConnectionError) as info:
        make_client(FAST.evolve(max_retries=0)).chat_completion(REQ)
    assert info.value.is_retryable() and info.value.status is None
    assert info.value.provider == "openai"
    rsps.add(responses.POST, URL, body=requests.exceptions.ConnectTimeout("slow"))
    with pytest.raises(RequestTimeoutError):
        make_client(FAST.evolve(max_retries=0)).chat_completion(REQ)


def test_retries_give_up_after_max_retries(rsps: responses.RequestsMock) -> None:
    add_status(rsps, 500, times=4)
    rsps.add(responses.POST, URL, json=completion())
    with pytest.raises(ServerError) as info:
        make_client(FAST.evolve(max_retries=3)).chat_completion(REQ)
    assert len(rsps.calls) == 4
    assert info.value.status == 500


def test_max_retries_zero_means_one_attempt(rsps: responses.RequestsMock) -> None:
    add_status(rsps, 503)
    rsps.add(responses.POST, URL, json=completion())
    with pytest.raises(OverloadedError):
        make_client(FAST.evolve(max_retries=0)).chat_completion(REQ)
    assert len(rsps.calls) == 1


def test_retry_after_ms_is_waited(rsps: responses.RequestsMock) -> None:
    add_status(rsps, 429, **{"retry-after-ms": "10"})
    rsps.add(responses.POST, URL, json=completion())
    # Backoff alone would wait at most 1 ms: the 10 ms wait can only come from the hint.
    options = ConnectionOptions(backoff_initial=0.001, backoff_max=0.001)
    start = time.monotonic()
    assert make_client(options).chat_completion(REQ).text() == "hello"
    elapsed = time.monotonic() - start
    assert len(rsps.calls) == 2
    assert 0.009 <= elapsed < 0.5


def test_retry_after_ms_beats_retry_after(rsps: responses.RequestsMock, sleeps: list[float]):
    add_status(rsps, 429, **{"retry-after-ms": "20", "Retry-After": "7"})
    rsps.add(responses.POST, URL, json=completion())
    make_client().chat_completion(REQ)
    assert sleeps == [pytest.approx(0.02)]


def test_retry_after_seconds(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    add_status(rsps, 503, **{"Retry-After": "3"})
    rsps.add(responses.POST, URL, json=completion())
    make_client().chat_completion(REQ)
    assert sleeps == [3.0]


def test_retry_after_http_date(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    add_status(rsps, 429, **{"Retry-After": when})
    rsps.add(responses.POST, URL, json=completion())
    make_client().chat_completion(REQ)
    assert len(sleeps) == 1
    assert 27.0 <= sleeps[0] <= 31.0


def test_retry_after_http_date_in_the_past_is_zero(rsps, sleeps: list[float]) -> None:
    add_status(rsps, 429, **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    rsps.add(responses.POST, URL, json=completion())
    make_client().chat_completion(REQ)
    assert sleeps == [0.0]


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "120"},
        {"retry-after-ms": "120000"},
        {"Retry-After": "__DATE__"},
    ],
)
def test_retry_after_above_max_raises_at_once(
    rsps: responses.RequestsMock, sleeps: list[float], headers: dict[str, str]
) -> None:
    if headers.get("Retry-After") == "__DATE__":
        headers = {"Retry-After": email.utils.formatdate(time.time() + 120, usegmt=True)}
    add_status(rsps, 429, error_body("slow down", "rate_limit_exceeded"), **headers)
    rsps.add(responses.POST, URL, json=completion())
    start = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        make_client(FAST.evolve(max_retry_after=60, max_retries=5)).chat_completion(REQ)
    assert time.monotonic() - start < 0.5
    assert len(rsps.calls) == 1
    assert sleeps == []
    assert info.value.retry_after == pytest.approx(120, abs=2)
    assert info.value.is_retryable()  # retryable in itself; the hint is just too long


def test_retry_after_within_max_is_honoured(rsps, sleeps: list[float]) -> None:
    add_status(rsps, 429, **{"Retry-After": "5"})
    rsps.add(responses.POST, URL, json=completion())
    make_client(FAST.evolve(max_retry_after=5)).chat_completion(REQ)
    assert sleeps == [5.0]
    assert len(rsps.calls) == 2


def test_backoff_is_exponential_with_jitter_and_capped(rsps, sleeps: list[float]) -> None:
    add_status(rsps, 500, times=6)
    rsps.add(responses.POST, URL, json=completion())
    options = ConnectionOptions(max_retries=6, backoff_initial=0.001, backoff_max=0.01)
    make_client(options).chat_completion(REQ)
    assert len(sleeps) == 6
    for n, wait in enumerate(sleeps):
        ceiling = min(0.01, 0.001 * 2**n)
        assert ceiling / 2 <= wait <= ceiling, (n, wait)
    assert max(sleeps) <= 0.01


def test_backoff_has_jitter(rsps: responses.RequestsMock, sleeps: list[float]) -> None:
    add_status(rsps, 503, times=13)
    options = ConnectionOptions(max_retries=12, backoff_initial=0.001, backoff_max=0.001)
    with pytest.raises(OverloadedError):
        make_client(options).chat_completion(REQ)
    assert len(sleeps) == 12
    assert len(set(sleeps)) > 1  # not a fixed wait


def test_total_timeout_is_a_deadline_for_all_attempts(rsps: responses.RequestsMock) -> None:
    add_status(rsps, 503, times=40)
    options = ConnectionOptions(
        max_retries=1000, backoff_initial=0.04, backoff_max=0.04, total_timeout=0.2
    )
    start = time.monotonic()
    with pytest.raises(OverloadedError):
        make_client(options).chat_completion(REQ)
    elapsed = time.monotonic() - start
    assert elapsed < 0.5
    assert 2 <= len(rsps.calls) <= 12


def test_total_timeout_shorter_than_backoff_gives_one_attempt(rsps) -> None:
    add_status(rsps, 503)
    options = ConnectionOptions(
        max_retries=5, backoff_initial=1.0, backoff_max=1.0, total_timeout=0.1
    )
    start = time.monotonic()
    with pytest.raises(OverloadedError):
        make_client(options).chat_completion(REQ)
    assert time.monotonic() - start < 0.5
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("status", [429, 500, 503])
def test_x_should_retry_false_disables_retries(rsps: responses.RequestsMock, status: int) -> None:
    add_status(rsps, status, **{"x-should-retry": "false"})
    rsps.add(responses.POST, URL, json=completion())
    with pytest.raises(LlmError) as info:
        make_client().chat_completion(REQ)
    assert not info.value.is_retryable()
    assert len(rsps.calls) == 1


def test_insufficient_quota_is_not_retried(rsps: responses.RequestsMock) -> None:
    add_status(rsps, 429, error_body("You exceeded your current quota", "insufficient_quota",
                                     "insufficient_quota"))
    rsps.add(responses.POST, URL, json=completion())
    with pytest.raises(RateLimitError) as info:
        make_client().chat_completion(REQ)
    assert info.value.code == "insufficient_quota"
    assert not info.value.is_retryable()
    assert len(rsps.calls) == 1


def test_malformed_200_is_not_retried(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, URL, body='{"id": "x", "choices": [', status=200,
             content_type="application/json")
    rsps.add(responses.POST, URL, json=completion())
    with pytest.raises(MalformedResponseError):
        make_client().chat_completion(REQ)
    assert len(rsps.calls) == 1


# --- error mapping ---------------------------------------------------------------------------

HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

ERROR_TABLE = [
    # (id, status, body, content type, expected class, code, retryable)
    ("401", 401, error_body("Incorrect API key provided", "invalid_api_key"), None,
     AuthenticationError, "invalid_api_key", False),
    ("403", 403, error_body("Country not supported", "unsupported_country_region_territory"),
     None, PermissionDeniedError, "unsupported_country_region_territory", False),
    ("404-model", 404, error_body("The model `gpt-9` does not exist", "model_not_found"), None,
     ModelNotFoundError, "model_not_found", False),
    ("400-context", 400, error_body(
        "This model's maximum context length is 8192 tokens. However, your messages resulted "
        "in 9000 tokens.", "context_length_exceeded"), None,
     ContextLengthExceededError, "context_length_exceeded", False),
    ("400-context-nocode", 400, error_body(
        "This model's maximum context length is 8192 tokens. Please reduce the length.", None),
     None, ContextLengthExceededError, "invalid_request_error", False),
    ("400", 400, error_body("Invalid value for 'temperature'", "invalid_value"), None,
     InvalidRequestError, "invalid_value", False),
    ("409", 409, error_body("conflict", None, "conflict"), None, ConflictError, "conflict", True),
    ("429", 429, error_body("Rate limit reached", "rate_limit_exceeded", "requests"), None,
     RateLimitError, "rate_limit_exceeded", True),
    ("429-quota", 429, error_body("You exceeded your current quota", "insufficient_quota",
                                  "insufficient_quota"), None,
     RateLimitError, "insufficient_quota", False),
    ("500", 500, error_body("The server had an error", None, "server_error"), None,
     ServerError, "server_error", True),
    ("502-html", 502, HTML_502, "text/html", ServerError, None, True),
    ("503", 503, error_body("The engine is currently overloaded", None, "overloaded"), None,
     OverloadedError, "overloaded", True),
    ("529", 529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
     None, OverloadedError, "overloaded_error", True),
]


@pytest.mark.parametrize(
    ("status", "body", "ctype", "cls", "code", "retryable"),
    [pytest.param(*row[1:], id=row[0]) for row in ERROR_TABLE],
)
def test_error_mapping(
    rsps: responses.RequestsMock,
    status: int,
    body: Any,
    ctype: str | None,
    cls: type[LlmError],
    code: str | None,
    retryable: bool,
) -> None:
    headers = {"x-request-id": "req_abc123"}
    if isinstance(body, str):
        rsps.add(responses.POST, URL, body=body, status=status, headers=headers,
                 content_type=ctype)
    else:
        rsps.add(responses.POST, URL, json=body, status=status, headers=headers)
    with pytest.raises(LlmError) as info:
        make_client(FAST.evolve(max_retries=0)).chat_completion(REQ)
    err = info.value
    assert type(err) is cls
    assert err.status == status
    assert err.code == code
    assert err.request_id == "req_abc123"
    assert err.provider == "openai"
    assert err.is_retryable() is retryable
    assert "req_abc123" in str(err) and f"status={status}" in str(err)
    if ctype == "text/html":
        assert "502 Bad Gateway" in err.message
        assert "<" not in str(err) and ">" not in str(err)
        assert "nginx" not in err.message  # the title, not the page


def test_html_page_without_title_has_no_tags(rsps: responses.RequestsMock) -> None:
    page = "<html><body><h1>Service Unavailable</h1><p>try &amp; again</p></body></html>"
    rsps.add(responses.POST, URL, body=page, status=500, content_type="text/html")
    with pytest.raises(ServerError) as info:
        make_client(FAST.evolve(max_retries=0)).chat_completion(REQ)
    assert "Service Unavailable" in str(info.value)
    assert "try & again" in str(info.value)
    assert "<" not in str(info.value)


@pytest.mark.parametrize(
    "body",
    ['{"id": "chatcmpl-1", "choices": [{"message": {"content": "hel', "", "<html>oops</html>",
     '{"no_choices": true}'],
    ids=["truncated", "empty", "html", "wrong-shape"],
)
def test_bad_200_body_is_malformed_response(rsps: responses.RequestsMock, body: str) -> None:
    rsps.add(responses.POST, URL, body=body, status=200, content_type="application/json")
    with pytest.raises(MalformedResponseError) as info:
        make_client().chat_completion(REQ)
    assert info.value.provider == "openai"
    assert "openai" in str(info.value)


def test_error_in_200_body_is_raised_typed(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, URL, json=error_body("The model `x` does not exist",
                                                  "model_not_found"))
    with pytest.raises(ModelNotFoundError):
        make_client().chat_completion(REQ)


# --- request headers, pool, options ----------------------------------------------------------


def test_request_headers_and_body(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, URL, json=completion())
    options = FAST.evolve(default_headers={"X-App": "demo", "User-Agent": "my-app/1.0"})
    make_client(options).chat_completion(REQ)
    sent = rsps.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["X-App"] == "demo"
    assert sent.headers["User-Agent"] == "my-app/1.0"
    body = json.loads(sent.body)
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert "stream" not in body


def test_default_and_provider_headers_on_every_request(rsps: responses.RequestsMock) -> None:
    url = "https://gw.example/v1/chat/completions"
    add_status_url = {"json": completion()}
    rsps.add(responses.POST, url, json=error_body("x"), status=500)
    rsps.add(responses.POST, url, **add_status_url)
    rsps.add(responses.GET, "https://gw.example/v1/models", json={"data": [{"id": "m1"}]})
    provider = openai_compatible("https://gw.example/v1", headers={"X-Provider": "p1"})
    client = Client(provider, api_key=KEY,
                    options=FAST.evolve(default_headers={"X-Default": "d1"}))
    client.chat_completion(REQ)
    assert [m.id for m in client.list_models()] == ["m1"]
    assert len(rsps.calls) == 3
    for call in rsps.calls:
        assert call.request.headers["X-Provider"] == "p1"
        assert call.request.headers["X-Default"] == "d1"
        assert call.request.headers["Authorization"] == f"Bearer {KEY}"


def test_one_session_per_client_and_pool_size_reaches_adapter() -> None:
    a = make_client(FAST.evolve(pool_size=7))
    b = make_client()
    sess_a, sess_b = a._transport.session, b._transport.session
    assert isinstance(sess_a, requests.Session)
    assert sess_a is not sess_b
    for scheme in ("http://", "https://"):
        adapter = sess_a.get_adapter(scheme + "example.com")
        assert adapter._pool_maxsize == 7
        assert adapter._pool_connections == 7
        assert adapter.poolmanager.connection_pool_kw["maxsize"] == 7
    assert b._transport.session.get_adapter("https://x")._pool_maxsize == 10
    a.close()
    b.close()


def test_session_is_reused_across_calls(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, URL, json=completion())
    rsps.add(responses.POST, URL, json=completion())
    client = make_client()
    session = client._transport.session
    client.chat_completion(REQ)
    client.chat_completion(REQ)
    assert client._transport.session is session
    assert len(rsps.calls) == 2


# --- payload hooks ---------------------------------------------------------------------------


def test_on_payload_replaces_the_json_body(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, URL, json=completion())
    seen: list[HttpRequest] = []

    def hook(req: HttpRequest, provider: Provider) -> HttpRequest:
        seen.append(req)
        assert provider.name == "openai"
        return attrs.evolve(req, json={**req.json, "temperature": 0.25, "metadata": {"k": "v"}})

    make_client(on_payload=hook).chat_completion(REQ)
    body = json.loads(rsps.calls[0].request.body)
    assert body["temperature"] == 0.25 and body["metadata"] == {"k": "v"}
    assert seen[0].json["model"] == "gpt-4o-mini"
    assert seen[0].header("Authorization") is None  # hooks run before the key is added


def test_on_payload_returning_none_keeps_request(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, URL, json=completion())
    make_client(on_payload=lambda req, provider: None).chat_completion(REQ)
    assert json.loads(rsps.calls[0].request.body)["model"] == "gpt-4o-mini"


def test_per_call_on_payload_runs_after_client_hook(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, URL, json=completion())
    order: list[str] = []

    def client_hook(req: HttpRequest, provider: Provider) -> HttpRequest:
        order.append("client")
        return attrs.evolve(req, json={**req.json, "seed": 1, "user": "client"})

    def call_hook(req: HttpRequest, provider: Provider) -> HttpRequest:
        order.append("call")
        assert req.json["seed"] == 1
        return attrs.evolve(req, json={**req.json, "user": "call"})

    client = make_client(on_payload=client_hook)
    client.chat_completion(REQ, on_payload=call_hook)
    assert order == ["client", "call"]
    body = json.loads(rsps.calls[0].request.body)
    assert body["seed"] == 1 and body["user"] == "call"


def test_on_response_sees_status_headers_and_body(rsps: responses.RequestsMock) -> None:
    add_status(rsps, 503, **{"x-request-id": "req_1"})
    rsps.add(responses.POST, URL, json=completion("ok"), headers={"x-request-id": "req_2"})
    seen: list[HttpResponse] = []
    per_call: list[int] = []
    client = make_client(on_response=lambda resp, provider: seen.append(resp))
    client.chat_completion(REQ, on_response=lambda resp, provider: per_call.append(resp.status))
    assert [r.status for r in seen] == [503, 200]
    assert per_call == [503, 200]
    assert seen[0].request_id == "req_1" and seen[1].header("X-Request-Id") == "req_2"
    assert json.loads(seen[1].body)["choices"][0]["message"]["content"] == "ok"
    assert b"status 503" in seen[0].body
    assert seen[1].header("content-type") == "application/json"


# --- API key resolution ----------------------------------------------------------------------


def test_explicit_key_beats_env(rsps: responses.RequestsMock, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-000000000000000000")
    rsps.add(responses.POST, URL, json=completion())
    make_client(api_key=KEY).chat_completion(REQ)
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"


def test_env_key_is_used(rsps: responses.RequestsMock, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-111111111111111111")
    rsps.add(responses.POST, URL, json=completion())
    Client("openai", options=FAST).chat_completion(REQ)
    auth = rsps.calls[0].request.headers["Authorization"]
    assert auth == "Bearer sk-from-env-111111111111111111"


@pytest.mark.parametrize("value", [None, ""])
def test_missing_key_names_the_env_var(monkeypatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("OPENAI_API_KEY", value)
    with pytest.raises(ConfigurationError) as info:
        Client("openai")
    assert "OPENAI_API_KEY" in str(info.value)
    assert info.value.provider == "openai"


def test_openai_compatible_needs_no_key(rsps: responses.RequestsMock, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_COMPATIBLE_API_KEY", raising=False)
    url = "http://local.test:8080/v1/chat/completions"
    rsps.add(responses.POST, url, json=completion("local"))
    rsps.add(responses.POST, url, json=completion("local"))
    client = Client(openai_compatible("http://local.test:8080/v1"), options=FAST)
    assert client.chat_completion(REQ).text() == "local"
    assert "Authorization" not in rsps.calls[0].request.headers
    named = Client("openai-compatible", base_url="http://local.test:8080/v1", options=FAST)
    assert named.chat_completion(REQ).text() == "local"


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [KEY, ODD_KEY])
def test_key_not_in_client_or_request_repr(key: str) -> None:
    client = make_client(api_key=key)
    assert key not in repr(client) and key not in str(client)
    req = HttpRequest("POST", URL, {"Authorization": f"Bearer {key}", "api-key": key,
                                    "X-Other": "visible"}, json={"a": 1})
    assert key not in repr(req)
    assert "visible" in repr(req)
    assert "****" in repr(req)


def _everything_about(err: BaseException) -> str:
    parts = [str(err), repr(err), "".join(traceback.format_exception(err))]
    if isinstance(err, LlmError):
        parts.append(err.message)
    return "\n".join(parts)


@pytest.mark.parametrize("key", [KEY, ODD_KEY])
@pytest.mark.parametrize("status", [400, 401, 500])
def test_key_echoed_by_server_is_not_in_errors(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture, key: str, status: int
) -> None:
    caplog.set_level(logging.DEBUG, logger="llmcore")
    echo = f"Incorrect API key provided: {key}. Header was 'Bearer {key}'"
    for _ in range(2):  # a 500 is retried once
        rsps.add(responses.POST, URL, json=error_body(echo, "invalid_api_key"), status=status,
                 headers={"x-request-id": "req_s"})
    with pytest.raises(LlmError) as info:
        make_client(FAST.evolve(max_retries=1), api_key=key).chat_completion(REQ)
    assert key not in _everything_about(info.value)
    assert key not in repr(info.value.body)  # the raw error body is scrubbed too
    assert "Incorrect API key provided" in str(info.value)
    assert info.value.body["error"]["code"] == "invalid_api_key"
    assert caplog.records, "DEBUG logging produced nothing to check"
    for record in caplog.records:
        assert key not in record.getMessage()


def test_key_not_in_debug_logs_of_success_and_retries(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="llmcore")
    add_status(rsps, 503, error_body(f"upstream rejected Bearer {KEY}"))
    rsps.add(responses.POST, URL, json=completion())
    make_client().chat_completion(REQ)
    messages = [r.getMessage() for r in caplog.records]
    assert any("retrying" in m for m in messages)
    assert any("chat/completions" in m for m in messages)
    for message in messages:
        assert KEY not in message
    assert KEY not in caplog.text


def test_key_not_in_connection_error(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, URL, body=requests.exceptions.ConnectionError(
        f"failed with headers {{'Authorization': 'Bearer {ODD_KEY}'}}"))
    with pytest.raises(LlmError) as info:
        make_client(FAST.evolve(max_retries=0), api_key=ODD_KEY).chat_completion(REQ)
    assert ODD_KEY not in str(info.value) and ODD_KEY not in repr(info.value)
