"""Secrets never print; the error hierarchy classifies, redacts and pickles."""

from __future__ import annotations

import copy
import logging
import pickle
from typing import Any

import pytest

import llmcore
from llmcore import (
    ApiConnectionError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    ContentFilterError,
    ContextLengthExceededError,
    HttpRequest,
    HttpResponse,
    InvalidRequestError,
    LlmError,
    MalformedResponseError,
    ModelNotFoundError,
    OverloadedError,
    PermissionDeniedError,
    PluginError,
    Provider,
    RateLimitError,
    RequestTimeoutError,
    Secret,
    ServerError,
    StreamInterruptedError,
    UnsupportedOperationError,
)
from llmcore.chat import ChatCompletionResponse, Choice
from llmcore.errors import error_for_status, redact, register_secret
from llmcore.http import mask_headers
from llmcore.messages import Message, Role

KEY = "sk-test-abcdefghijklmnopqrstuvwxyz0123456789"


# --- Secret -----------------------------------------------------------------------------------


def test_secret_never_shows_its_value() -> None:
    secret = Secret(KEY)
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr([secret])):
        assert KEY not in text and "****" in text
    assert repr({"key": secret}) == "{'key': Secret('****')}"
    assert secret.reveal() == KEY


def test_secret_in_logs_and_exceptions(caplog: Any) -> None:
    secret = Secret(KEY)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("llmcore.test").debug("credential: %s / %r", secret, secret)
    assert KEY not in caplog.text
    assert KEY not in str(ValueError(secret))


def test_secret_equality_and_truthiness() -> None:
    assert Secret("abc") == Secret("abc") and Secret("abc") != Secret("abd")
    assert Secret("abc") != "abc"
    assert hash(Secret("abc")) == hash(Secret("abc"))
    assert not Secret("") and Secret("x")


def test_secret_is_not_picklable_or_copyable() -> None:
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(Secret(KEY))
    with pytest.raises(TypeError):
        copy.deepcopy(Secret(KEY))


def test_secret_has_no_dict_to_leak() -> None:
    secret = Secret(KEY)
    assert not hasattr(secret, "__dict__")
    with pytest.raises(AttributeError):
        secret.other = 1  # type: ignore[attr-defined]


# --- headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "authorization",
        "x-api-key",
        "X-Api-Key",
        "api-key",
        "x-goog-api-key",
        "Proxy-Authorization",
        "Cookie",
    ],
)
def test_http_request_repr_masks_credentials(name: str) -> None:
    request = HttpRequest(
        "POST", "https://api.example.invalid/v1/chat", {name: f"Bearer {KEY}", "Accept": "json"}
    )
    for text in (repr(request), str(request)):
        assert KEY not in text
        assert f"'{name}': '****'" in text
        assert "'Accept': 'json'" in text
    # The value itself is intact for the transport.
    assert request.header(name) == f"Bearer {KEY}"


def test_headers_added_later_are_masked_too() -> None:
    request = HttpRequest("GET", "https://x.invalid").with_headers({"Authorization": KEY})
    assert KEY not in repr(request)
    assert mask_headers({"API-KEY": KEY, "a": "b"}) == {"API-KEY": "****", "a": "b"}


def test_http_response_repr_masks_credentials_and_omits_the_body() -> None:
    response = HttpResponse(200, {"Authorization": KEY, "X-Request-Id": "r1"}, KEY.encode())
    assert KEY not in repr(response)
    assert response.request_id == "r1"


def test_client_repr_hides_the_key() -> None:
    client = llmcore.Client(
        Provider(name="p", api="none", base_url="https://p.invalid"),
        api_key=KEY,
        plugins=llmcore.Plugins(load_entrypoints=False),
    )
    assert KEY not in repr(client) and "api_key=set" in repr(client)


# --- retryability -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (AuthenticationError("x", status=401), False),
        (PermissionDeniedError("x", status=403), False),
        (RateLimitError("x", status=429), True),
        (RateLimitError("x", status=429, code="insufficient_quota"), False),
        (RateLimitError("x", status=429, code="billing_hard_limit_reached"), False),
        (RequestTimeoutError("x"), True),
        (ApiConnectionError("x"), True),
        (ModelNotFoundError("x", status=404), False),
        (InvalidRequestError("x", status=400), False),
        (ContextLengthExceededError("x", status=400), False),
        (ContentFilterError("x", status=400), False),
        (ConflictError("x", status=409), True),
        (OverloadedError("x", status=529), True),
        (ServerError("x", status=500), True),
        (MalformedResponseError("x", status=200), False),
        (StreamInterruptedError("x"), True),
        (UnsupportedOperationError("x"), False),
        (ConfigurationError("x"), False),
        (PluginError("x"), False),
        # The base class decides by HTTP status.
        (LlmError("x"), False),
        (LlmError("x", status=400), False),
        (LlmError("x", status=402), False),
        (LlmError("x", status=408), True),
        (LlmError("x", status=502), True),
        (LlmError("x", status=504), True),
    ],
    ids=lambda v: v if isinstance(v, bool) else f"{type(v).__name__}-{v.status}-{v.code}",
)
def test_is_retryable(error: LlmError, retryable: bool) -> None:
    assert error.is_retryable() is retryable


@pytest.mark.parametrize("verdict", [True, False])
@pytest.mark.parametrize(
    "error", [ServerError("x", status=500), InvalidRequestError("x", status=400), LlmError("x")]
)
def test_should_retry_overrides_the_class_default(error: LlmError, verdict: bool) -> None:
    error.should_retry = verdict
    assert error.is_retryable() is verdict


def test_the_hierarchy() -> None:
    assert issubclass(ContextLengthExceededError, InvalidRequestError)
    assert issubclass(ContentFilterError, InvalidRequestError)
    for name in llmcore.errors.__all__:
        value = getattr(llmcore.errors, name)
        if isinstance(value, type):
            assert issubclass(value, LlmError), name
            assert name in llmcore.__all__, name


# --- redaction --------------------------------------------------------------------------------


def test_messages_never_contain_keys() -> None:
    error = AuthenticationError(f"Incorrect API key provided: {KEY}.", status=401)
    assert KEY not in error.message and KEY not in str(error) and KEY not in repr(error)
    assert "****" in error.message  # registered by a Client, or by its sk- shape


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("header Authorization: Bearer abcdefgh12345678", "header Authorization: Bearer ****"),
        ("bearer eyJhbGciOi.JIUzI1NiJ9.sig", "bearer ****"),
        ("key sk-ant-api03-abcdefghijklmnopqrst end", "key sk-ant-api0**** end"),
        ("key sk-proj-abcdefghijklmnopqrst end", "key sk-proj**** end"),
        # Ordinary text is left alone.
        ("the task-list has a disk-usage of 5", "the task-list has a disk-usage of 5"),
        ("Bearer short", "Bearer short"),
    ],
)
def test_redact_patterns(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redact_masks_registered_secrets() -> None:
    secret = "plainsecret-4d1c9a"  # no recognisable shape: only registration catches it
    assert redact(f"bad key {secret}!") == f"bad key {secret}!"
    register_secret(secret)
    assert redact(f"bad key {secret}!") == "bad key ****!"
    assert secret not in str(LlmError(f"failed for {secret}"))
    register_secret("short")  # too short to register: would mask ordinary words
    assert redact("a short text") == "a short text"


def test_client_registers_its_key_for_redaction() -> None:
    key = "custom-key-without-prefix-77"
    llmcore.Client(
        Provider(name="p", api="none", base_url="https://p.invalid"),
        api_key=key,
        plugins=llmcore.Plugins(load_entrypoints=False),
    )
    assert key not in str(ServerError(f"upstream said {key}", status=500))


# --- pickling ---------------------------------------------------------------------------------


def test_pickling_keeps_every_field() -> None:
    error = RateLimitError(
        "slow down",
        provider="openai",
        status=429,
        code="rate_limit",
        request_id="req-1",
        retry_after=1.5,
        body={"error": {"message": "slow down"}},
    )
    error.should_retry = False
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is RateLimitError
    assert vars(clone) == vars(error)
    assert str(clone) == str(error) and clone.args == error.args
    assert clone.is_retryable() is False


def test_pickling_keeps_the_partial_answer() -> None:
    partial = ChatCompletionResponse("r", "m", [Choice(0, Message(Role.ASSISTANT, "Hel"))])
    error = StreamInterruptedError("cut", partial=partial, provider="p")
    clone = pickle.loads(pickle.dumps(error))
    assert clone.partial == partial and clone.partial.text() == "Hel"
    assert clone.provider == "p"


@pytest.mark.parametrize(
    "cls",
    [c for c in vars(llmcore.errors).values() if isinstance(c, type) and issubclass(c, LlmError)],
)
def test_every_error_class_pickles(cls: type[LlmError]) -> None:
    clone = pickle.loads(pickle.dumps(cls("m", status=500, code="c")))
    assert type(clone) is cls and (clone.message, clone.status, clone.code) == ("m", 500, "c")


# --- error_for_status (PROTOCOLS.md 20.5) -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, None, InvalidRequestError),
        (401, None, AuthenticationError),
        (403, None, PermissionDeniedError),
        (404, None, ModelNotFoundError),
        (408, None, RequestTimeoutError),
        (409, None, ConflictError),
        (413, None, InvalidRequestError),
        (422, None, InvalidRequestError),
        (429, None, RateLimitError),
        (500, None, ServerError),
        (502, None, ServerError),
        (503, None, OverloadedError),
        (529, None, OverloadedError),  # Anthropic overloaded_error
        (599, None, ServerError),
        (402, None, LlmError),  # billing (DeepSeek, OpenRouter): not retryable
        (None, None, LlmError),
        (400, "model_not_found", ModelNotFoundError),
        (400, "content_filter", ContentFilterError),  # Azure
        (400, "content_policy_violation", ContentFilterError),
        (429, "insufficient_quota", RateLimitError),
    ],
)
def test_error_for_status_classes(status: int | None, code: str | None, cls: type) -> None:
    error = error_for_status(status, "something failed", code=code, provider="p", request_id="r")
    assert type(error) is cls
    assert (error.status, error.code, error.provider, error.request_id) == (status, code, "p", "r")


@pytest.mark.parametrize(
    ("message", "code"),
    [
        # OpenAI / OpenRouter
        (
            "This model's maximum context length is 8192 tokens. However, your messages resulted "
            "in 9000 tokens.",
            None,
        ),
        ("Your input exceeds the context window of this model.", None),
        ("Please reduce the length of the messages or completion.", None),
        ("too long", "context_length_exceeded"),
        # Anthropic
        ("prompt is too long: 212345 tokens > 200000 maximum", None),
        # Gemini
        (
            "The input token count (1200000) exceeds the maximum number of tokens allowed "
            "(1048576).",
            None,
        ),
        # Others on the PI list
        ("Input is too long for requested model.", None),
        ("This request exceeds the limit of 32768 tokens", None),
        ("exceeded model token limit: 128000", None),
        ("Context length exceeded", None),
    ],
)
def test_context_length_wordings(message: str, code: str | None) -> None:
    error = error_for_status(400, message, code=code)
    assert type(error) is ContextLengthExceededError
    assert not error.is_retryable()


def test_context_wording_on_a_server_error_stays_a_server_error() -> None:
    assert type(error_for_status(500, "prompt is too long")) is ServerError
    assert type(error_for_status(None, "prompt is too long")) is ContextLengthExceededError
    assert type(error_for_status(400, "the prompt is fine")) is InvalidRequestError


# --- the core's default parse_error -----------------------------------------------------------

PROVIDER = Provider(name="p", api="unknown-api", base_url="https://p.invalid")


def _parse(status: int, body: bytes, headers: dict[str, str] | None = None) -> LlmError:
    plugins = llmcore.Plugins(load_entrypoints=False)
    return plugins.parse_error(PROVIDER, HttpResponse(status, headers or {}, body))


def test_default_parse_error_reads_openai_style_bodies() -> None:
    body = b'{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate"}}'
    error = _parse(429, body, {"x-request-id": "req-7", "retry-after-ms": "1500"})
    assert type(error) is RateLimitError
    assert (error.message, error.code, error.request_id, error.retry_after) == (
        "Rate limit reached",
        "rate",
        "req-7",
        1.5,
    )
    assert error.provider == "p" and error.body == {
        "error": {"message": "Rate limit reached", "type": "requests", "code": "rate"}
    }


def test_default_parse_error_reads_html_pages_and_retry_after() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    error = _parse(502, page, {"content-type": "text/html", "retry-after": "7"})
    assert type(error) is ServerError
    assert "502 Bad Gateway" in error.message and "text/html" in error.message
    assert error.retry_after == 7.0


def test_default_parse_error_honours_x_should_retry() -> None:
    assert _parse(400, b"{}", {"x-should-retry": "true"}).is_retryable() is True
    assert _parse(503, b"{}", {"x-should-retry": "false"}).is_retryable() is False


def test_default_parse_error_on_an_empty_body() -> None:
    error = _parse(500, b"")
    assert type(error) is ServerError and "HTTP 500" in error.message
