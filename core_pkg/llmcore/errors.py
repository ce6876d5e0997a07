"""The one error hierarchy of llmcore.

Every failure a caller can see is an :class:`LlmError`; plugins map their provider's error bodies
onto it (``parse_error`` hook) and the transport maps ``requests``' exceptions onto it, so no bare
``KeyError`` or ``JSONDecodeError`` ever escapes::

    LlmError
     +-- AuthenticationError           401, bad or missing credentials
     +-- PermissionDeniedError         403
     +-- RateLimitError                429 (retryable unless the quota is exhausted)
     +-- RequestTimeoutError           408, connect/read timeouts (retryable)
     +-- ApiConnectionError            DNS, refused, reset before a response (retryable)
     +-- ModelNotFoundError            404 / unknown model
     +-- InvalidRequestError           400, 422
     |    +-- ContextLengthExceededError
     |    +-- ContentFilterError
     +-- ConflictError                 409 (retryable)
     +-- OverloadedError               503, 529 (retryable)
     +-- ServerError                   other 5xx (retryable)
     +-- MalformedResponseError        a 2xx body or stream frame llmcore cannot read
     +-- StreamInterruptedError        the connection died mid-stream; carries the partial response
     +-- UnsupportedOperationError     the provider/API cannot do what was asked
     +-- ConfigurationError            missing key, unknown provider, bad options
     |    +-- InvalidInputError        a request, message, tool or option fails validation
     +-- PluginError                   a plugin is missing, broken, or returned the wrong thing

Messages never contain an API key: :func:`redact` scrubs known secrets from every message.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from llmcore.chat import ChatCompletionResponse

__all__ = [
    "ApiConnectionError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "ContentFilterError",
    "ContextLengthExceededError",
    "InvalidInputError",
    "InvalidRequestError",
    "LlmError",
    "MalformedResponseError",
    "ModelNotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "PluginError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "StreamInterruptedError",
    "UnsupportedOperationError",
    "error_for_status",
    "redact",
]

_RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

# Secrets registered by clients, scrubbed from every error message.
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember ``value`` so that :func:`redact` removes it from any text (min. 6 chars)."""
    if len(value) >= 6:
        with _secrets_lock:
            _secrets.add(value)


_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._\-~+/=]{8,}")
_KEYLIKE = re.compile(r"\b(sk-(?:ant-)?[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]{12,}")


def redact(text: str) -> str:
    """Return ``text`` with registered secrets, bearer tokens and ``sk-`` keys masked."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, "****")
    text = _BEARER.sub(r"\1****", text)
    return _KEYLIKE.sub(r"\1****", text)


def _redact_value(value: Any) -> Any:
    """``value`` with :func:`redact` applied to every string in it (dicts and lists walked)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(v) for v in value)
    return value


class LlmError(Exception):
    """Base of every llmcore error.

    ``provider`` is the provider name, ``status`` the HTTP status (``None`` when no response
    arrived), ``code`` the provider's own error code, ``request_id`` the provider's request id and
    ``retry_after`` the server's retry hint in seconds.
    """

    retryable: ClassVar[bool | None] = None  # None: decided by the HTTP status

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
    ) -> None:
        self.message = redact(message)
        self.provider = provider
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        # The raw error body often echoes the request (and its key): scrub it like the message.
        self.body = _redact_value(body)
        # The partial answer when the error happened mid-stream (set by the core).
        self.partial: ChatCompletionResponse | None = None
        # The server's own verdict (``x-should-retry`` header) overrides the class default.
        self.should_retry: bool | None = None
        super().__init__(self.message)

    def is_retryable(self) -> bool:
        """True when the same request may succeed if sent again (network, 429, 5xx...)."""
        if self.should_retry is not None:
            return self.should_retry
        return self._default_retryable()

    def _default_retryable(self) -> bool:
        if self.retryable is not None:
            return self.retryable
        return self.status in _RETRYABLE_STATUSES

    def __str__(self) -> str:
        parts = [self.message]
        details = []
        if self.provider:
            details.append(f"provider={self.provider}")
        if self.status is not None:
            details.append(f"status={self.status}")
        if self.code:
            details.append(f"code={self.code}")
        if self.request_id:
            details.append(f"request_id={self.request_id}")
        if details:
            parts.append(f"({', '.join(details)})")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, code={self.code!r})"
        )

    def __reduce__(self) -> Any:
        # Keep keyword fields when errors cross process boundaries (pickling).
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[LlmError], message: str, state: dict[str, Any]) -> LlmError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class AuthenticationError(LlmError):
    """The provider rejected the credentials (HTTP 401)."""

    retryable = False


class PermissionDeniedError(LlmError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""

    retryable = False


class RateLimitError(LlmError):
    """Too many requests (HTTP 429). Not retryable when the quota itself is exhausted."""

    def _default_retryable(self) -> bool:
        return self.code not in {"insufficient_quota", "billing_hard_limit_reached"}


class RequestTimeoutError(LlmError):
    """The request timed out (HTTP 408, or a connect/read timeout)."""

    retryable = True


class ApiConnectionError(LlmError):
    """No usable response: DNS failure, refused or reset connection, TLS error."""

    retryable = True


class ModelNotFoundError(LlmError):
    """The model does not exist or the key has no access to it."""

    retryable = False


class InvalidRequestError(LlmError):
    """The provider refused the request as malformed (HTTP 400, 422)."""

    retryable = False


class ContextLengthExceededError(InvalidRequestError):
    """The prompt (plus the requested output) does not fit the model's context window."""


class ContentFilterError(InvalidRequestError):
    """The provider's safety system refused the request."""


class ConflictError(LlmError):
    """HTTP 409: a conflicting request is in progress; retrying usually works."""

    retryable = True


class OverloadedError(LlmError):
    """The provider is temporarily overloaded (HTTP 503, Anthropic 529)."""

    retryable = True


class ServerError(LlmError):
    """The provider failed (HTTP 5xx)."""

    retryable = True


class MalformedResponseError(LlmError):
    """A successful response whose body (or a stream frame) has the wrong shape: HTML instead of
    JSON, truncated JSON, missing fields. ``body`` holds the start of what arrived."""

    retryable = False


class StreamInterruptedError(LlmError):
    """A stream broke after it started; ``partial`` holds everything received until then.

    It is retryable in the sense that sending the request again may work, but llmcore never
    retries it by itself: the caller has already seen part of the answer.
    """

    retryable = True

    def __init__(
        self, message: str, *, partial: ChatCompletionResponse | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.partial = partial


class UnsupportedOperationError(LlmError):
    """The provider or its API cannot do what was asked (e.g. list models)."""

    retryable = False


class ConfigurationError(LlmError):
    """llmcore was set up wrongly: missing API key, unknown provider, invalid option."""

    retryable = False


class PluginError(LlmError):
    """A plugin is missing, failed to load, or broke its hook contract."""

    retryable = False


_BY_STATUS: dict[int, type[LlmError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: ModelNotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    413: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
    503: OverloadedError,
    529: OverloadedError,
}

_CONTEXT_PATTERNS = re.compile(
    "|".join(
        [
            r"prompt is too long",
            r"exceeds the context window",
            r"input token count.*exceeds the maximum",
            r"maximum context length is \d+ tokens",
            r"reduce the length of the messages",
            r"exceeds the limit of \d+",
            r"exceeded model token limit",
            r"input is too long for requested model",
            r"context[_ ]length[_ ]exceeded",
            r"context window exceeds limit",
            r"too many tokens",
        ]
    ),
    re.IGNORECASE,
)


def looks_like_context_overflow(*texts: str | None) -> bool:
    """True when any of ``texts`` matches a known "context too long" wording or code."""
    return any(t and _CONTEXT_PATTERNS.search(t) for t in texts)


_BY_TYPE: dict[str, type[LlmError]] = {
    "invalid_request_error": InvalidRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "permission_denied": PermissionDeniedError,
    "not_found_error": ModelNotFoundError,
    "rate_limit_error": RateLimitError,
    "rate_limit_exceeded": RateLimitError,
    "overloaded_error": OverloadedError,
    "server_error": ServerError,
    "api_error": ServerError,
    "timeout_error": RequestTimeoutError,
}


def error_for_status(
    status: int | None,
    message: str,
    *,
    code: str | None = None,
    error_type: str | None = None,
    **kwargs: Any,
) -> LlmError:
    """Build the error class that fits an HTTP status, provider code/type and message."""
    cls: type[LlmError]
    if looks_like_context_overflow(message, code) and (status is None or status < 500):
        cls = ContextLengthExceededError
    elif code in {"content_filter", "content_policy_violation"}:
        cls = ContentFilterError
    elif code == "model_not_found":
        cls = ModelNotFoundError
    elif status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status is not None and status >= 500:
        cls = ServerError
    elif error_type in _BY_TYPE or code in _BY_TYPE:
        # Errors inside a 200 stream have no useful status: classify by the provider's type.
        cls = _BY_TYPE.get(error_type or "") or _BY_TYPE[code or ""]
    else:
        cls = LlmError
    return cls(message, status=status, code=code, **kwargs)


class InvalidInputError(ConfigurationError):
    """A value given to llmcore is invalid; ``field`` is its path (``messages[2].content``).

    Raised when a request, message, content part, tool or option is built (and by plugins for
    input their API cannot express), before anything is sent. ``reason`` is the problem without
    the path; the message reads ``"<field>: <reason>"``. Never retryable.
    """

    def __init__(
        self, message: str, *, field: str = "", reason: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.field = field
        self.reason = message if reason is None else reason

    @classmethod
    def at(cls, field: str, reason: str, **kwargs: Any) -> InvalidInputError:
        """The error for ``field``, its message ``"<field>: <reason>"``."""
        return cls(f"{field}: {reason}" if field else reason, field=field, reason=reason, **kwargs)

    def within(self, prefix: str) -> InvalidInputError:
        """The same error with its field path under ``prefix`` (``messages[2]`` + ``content``)."""
        if not prefix:
            return self
        if not self.field:
            field = prefix
        elif self.field.startswith("["):
            field = prefix + self.field
        else:
            field = f"{prefix}.{self.field}"
        return InvalidInputError.at(field, self.reason, provider=self.provider)
