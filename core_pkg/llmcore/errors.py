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
 |    +-- StreamTimeoutError       ... because a read timed out or total_timeout expired
 |                                 (also a RequestTimeoutError)
 +-- RedirectError                 a redirect to another origin, not followed
     +-- UnsupportedOperationError     the provider/API cannot do what was asked
     +-- ConfigurationError            missing key, unknown provider, bad options
     |    +-- InvalidInputError        a request, message, tool or option fails validation
     +-- PluginError                   a plugin is missing, broken, or returned the wrong thing

Messages never contain an API key: :func:`redact` scrubs known secrets, tokens, URL credentials
and credential query parameters from every message, and :func:`scrub_chain` (applied by the
public entry points through :func:`scrubbed`) makes the whole ``__cause__`` / ``__context__``
chain of a raised error safe to print.
"""

from __future__ import annotations

import email.utils
import functools
import inspect
import re
import threading
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar, ParamSpec, TypeVar, cast

if TYPE_CHECKING:
    from llmcore.chat import ChatCompletionResponse
    from llmcore.http import HttpResponse

__all__ = [
    "ApiConnectionError",
    "AuthenticationError",
    "CancelledRequestError",
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
    "RedirectError",
    "RequestTimeoutError",
    "ServerError",
    "StreamInterruptedError",
    "StreamTimeoutError",
    "UnsupportedOperationError",
    "complete_error",
    "error_for_status",
    "redact",
    "retry_after_seconds",
    "register_secret",
    "scrub_chain",
    "scrubbed",
]

P = ParamSpec("P")
R = TypeVar("R")
E = TypeVar("E", bound=BaseException)

_RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

# --- redaction --------------------------------------------------------------------------------
# Secrets registered by clients (API keys, base-URL passwords, query keys), scrubbed from every
# error message and log line. ``_secrets_re`` is rebuilt on registration and read lock-free.
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secrets_re: re.Pattern[str] | None = None


def register_secret(value: str) -> None:
    """Remember ``value`` so that :func:`redact` removes it from any text (min. 6 chars)."""
    global _secrets_re
    # A key pasted with a stray newline or space shows up without it in most texts.
    values = {v for v in (value, value.strip()) if len(v) >= 6}
    if not values:
        return
    with _secrets_lock:
        if values <= _secrets:
            return
        _secrets.update(values)
        ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial masks
        _secrets_re = re.compile("|".join(re.escape(s) for s in ordered))


_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._\-~+/=]{8,}")
_KEYLIKE = re.compile(r"\b(sk-(?:ant-)?[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-]{12,}")
# ``scheme://user:password@host``: what lies between ``://`` and an ``@`` of the authority.
_USERINFO = re.compile(r"://[^\s/?#@'\"<>]+@")

CREDENTIAL_PARAMS = frozenset(
    {
        "key",
        "apikey",
        "api_key",
        "api-key",
        "x-api-key",
        "x-goog-api-key",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth",
        "auth_token",
        "authorization",
        "sig",
        "signature",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)
"""Query parameter names (lower case) whose values :func:`redact` masks."""

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_LONGEST_NAME = max(len(n) for n in CREDENTIAL_PARAMS)
_PARAM_VALUE = re.compile(r"[^&#\s'\"<>),;]+")


def _mask_credential_params(text: str) -> str:
    """Mask ``value`` in ``name=value`` for credential names, as in a query string
    (``?key=...&sig=...``) or a log line. The name must not continue a longer word
    (``max_tokens=`` is left alone). Driven by ``str.find("=")``: linear, no regex scan."""
    pieces: list[str] = []
    last = 0
    pos = text.find("=")
    while pos != -1:
        start, limit = pos, max(0, pos - _LONGEST_NAME - 1)
        while start > limit and text[start - 1] in _NAME_CHARS:
            start -= 1
        whole_word = start == 0 or text[start - 1] not in _NAME_CHARS
        if whole_word and text[start:pos].lower() in CREDENTIAL_PARAMS:
            value = _PARAM_VALUE.match(text, pos + 1)
            if value is not None and value.group() != "****":
                pieces += [text[last : pos + 1], "****"]
                last = value.end()
                pos = text.find("=", last)
                continue
        pos = text.find("=", pos + 1)
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def is_credential_param(name: str) -> bool:
    """True when a query parameter called ``name`` carries a credential (``key``, ``sig``...)."""
    return name.lower() in CREDENTIAL_PARAMS


def redact(text: str) -> str:
    """``text`` with credentials masked as ``****``.

    Masks registered secrets (every client's API key, base-URL passwords and query keys),
    ``Bearer`` tokens, ``sk-`` keys, the ``user:password@`` of URLs and the values of
    credential query parameters (``key=``, ``api_key=``, ``token=``, ``sig=``...).
    """
    known = _secrets_re
    if known is not None:
        text = known.sub("****", text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(r"\1****", text)
    if "sk-" in text:
        text = _KEYLIKE.sub(r"\1****", text)
    if "@" in text and "://" in text:
        text = _USERINFO.sub("://****@", text)
    if "=" in text:
        text = _mask_credential_params(text)
    return text


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
        # Fields set after construction (a server's code or request id) are redacted too.
        return redact(" ".join(parts))

    def __repr__(self) -> str:
        return redact(
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


class CancelledRequestError(LlmError):
    """The request was cancelled before it finished: a batch item whose batch was cancelled
    (:class:`~llmcore.CancelHandle`) before its answer arrived. Not retryable as such: send
    the request again if it is still wanted."""

    retryable = False


class PluginError(LlmError):
    """A plugin is missing, failed to load, or broke its hook contract."""

    retryable = False


# --- exception chains -------------------------------------------------------------------------


class RedactedError(Exception):
    """Stands in for a foreign exception (``requests``, ``urllib3``, ``OSError``...) in the
    ``__cause__`` / ``__context__`` chain of an :class:`LlmError`.

    Such exceptions often carry a request URL with its query key, a proxy's credentials or a
    header value in their text. The stand-in keeps what is useful: the original type's name
    (``original_type``, also the start of its message), the redacted text, the traceback and the
    chain's shape; the original object (and the request, response or socket it references) is
    dropped.
    """

    def __init__(self, original_type: str, message: str) -> None:
        super().__init__(f"{original_type}: {message}" if message else original_type)
        self.original_type = original_type

    @classmethod
    def of(cls, exc: BaseException) -> RedactedError:
        """The stand-in for ``exc`` (its chain links are set by :func:`scrub_chain`)."""
        kind = type(exc)
        try:
            text = str(exc)
        except Exception:  # a broken __str__ must not hide the original error
            text = f"<{kind.__name__} whose str() failed>"
        stand_in = cls(f"{kind.__module__}.{kind.__qualname__}", redact(text))
        stand_in.__traceback__ = exc.__traceback__
        stand_in.__suppress_context__ = exc.__suppress_context__
        return stand_in

    def __reduce__(self) -> Any:
        return (_rebuild_redacted, (self.original_type, str(self)))


def _rebuild_redacted(original_type: str, text: str) -> RedactedError:
    err = RedactedError(original_type, "")
    err.args = (text,)
    return err


def _scrub_llm_error(err: LlmError) -> None:
    err.message = redact(err.message)
    err.args = tuple(redact(a) if isinstance(a, str) else a for a in err.args)
    err.body = _redact_value(err.body)
    for name in ("code", "request_id"):
        value = getattr(err, name, None)
        if isinstance(value, str):
            setattr(err, name, redact(value))


def scrub_chain(err: E) -> E:
    """Make ``err`` and every link of its ``__cause__`` / ``__context__`` chain safe to print.

    :class:`LlmError` links are redacted in place (message, ``args``, ``body``); every other
    exception in the chain is replaced by a :class:`RedactedError` holding its type name and
    redacted text, with its traceback, its own chain and ``__suppress_context__`` kept. Returns
    ``err`` itself (scrubbed in place), so ``traceback.format_exception(err)`` shows no
    secret. Idempotent and safe on cyclic chains.
    """
    replaced: dict[int, BaseException] = {}

    def safe(exc: BaseException) -> BaseException:
        done = replaced.get(id(exc))
        if done is not None:
            return done
        if isinstance(exc, LlmError):
            _scrub_llm_error(exc)
            out: BaseException = exc
        elif isinstance(exc, RedactedError):
            out = exc
        else:
            out = RedactedError.of(exc)
        replaced[id(exc)] = out
        cause, context = exc.__cause__, exc.__context__
        out.__cause__ = None if cause is None else safe(cause)
        out.__context__ = None if context is None else safe(context)
        out.__suppress_context__ = exc.__suppress_context__
        return out

    if isinstance(err, LlmError):
        safe(err)
    else:  # a foreign root cannot be replaced in the caller's hands: scrub its links only
        replaced[id(err)] = err
        if err.__cause__ is not None:
            err.__cause__ = safe(err.__cause__)
        if err.__context__ is not None:
            err.__context__ = safe(err.__context__)
    return err


def scrubbed(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator for public entry points: an :class:`LlmError` raised by ``fn`` has its chain
    scrubbed (:func:`scrub_chain`) and is re-raised as the same object. Generator functions
    are wrapped as generators. Other exceptions pass through untouched."""
    if inspect.isgeneratorfunction(fn):
        gen_fn: Callable[P, Generator[Any, Any, Any]] = fn  # R is a generator here

        @functools.wraps(fn)
        def gen_wrapper(*args: P.args, **kwargs: P.kwargs) -> Generator[Any, Any, Any]:
            try:
                return (yield from gen_fn(*args, **kwargs))
            except LlmError as err:
                scrub_chain(err)
                raise

        return cast("Callable[P, R]", gen_wrapper)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except LlmError as err:
            scrub_chain(err)
            raise

    return wrapper


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
    """Build the error class that fits an HTTP status, provider code/type and message.

    :param status: the HTTP status, or ``None`` (an error inside a 200 stream).
    :param message: the provider's error message.
    :param code: the provider's error code (``"rate_limit_exceeded"``, ``"model_not_found"``...).
    :param error_type: the provider's error type, used when the status says nothing.
    :param kwargs: the other :class:`LlmError` fields (``provider``, ``request_id``,
        ``retry_after``, ``body``).
    :returns: the error (for instance a :class:`RateLimitError` for 429, a
        :class:`ContextLengthExceededError` for a context overflow); it is returned, not raised.
        Never raises, except ``TypeError`` for a keyword that is no :class:`LlmError` field.
    """
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


class RedirectError(LlmError):
    """The server answered with a redirect that llmcore does not follow: to another origin
    (scheme, host or port), or one that would change the method of a request with a body.
    ``location`` is the (redacted) target, so the caller can fix ``base_url``."""

    retryable = False

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class StreamTimeoutError(StreamInterruptedError, RequestTimeoutError):
    """A stream stopped because a read timed out or the call's ``total_timeout`` expired;
    ``partial`` holds everything received until then. It is both a
    :class:`StreamInterruptedError` and a :class:`RequestTimeoutError`."""


def retry_after_seconds(response: HttpResponse, now: float | None = None) -> float | None:
    """The server's retry hint in seconds: ``retry-after-ms``, then ``retry-after`` (seconds or
    an HTTP date, measured against ``now``, the current POSIX time by default); None if absent
    or unreadable.

    :param response: the response whose headers are read.
    :param now: the current POSIX time for an HTTP-date hint (default ``time.time()``).
    :returns: seconds, never negative, or ``None``. Never raises: an unreadable value is
        ``None``.
    """
    ms = response.header("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = response.header("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if now is None:
        now = time.time()
    return max(0.0, when.timestamp() - now)


def complete_error(
    err: LlmError, response: HttpResponse, *, provider: str | None = None, now: float | None = None
) -> LlmError:
    """Fill what ``err`` left unset from ``response``: ``status``, ``request_id``,
    ``retry_after`` (:func:`retry_after_seconds`), ``should_retry`` (``x-should-retry``) and
    ``provider``. The core applies it to whatever a plugin's ``parse_error`` returns, so the
    retry policy and its caps hold for every plugin; returns ``err`` itself.

    :param err: the error to complete (changed in place).
    :param response: the HTTP response it came from.
    :param provider: the provider name to set when ``err.provider`` is unset.
    :param now: the current POSIX time for an HTTP-date ``retry-after`` (default now).
    :returns: ``err``. Never raises.
    """
    if err.status is None:
        err.status = response.status
    if err.request_id is None:
        err.request_id = response.request_id
    if err.retry_after is None:
        err.retry_after = retry_after_seconds(response, now)
    if err.should_retry is None:
        verdict = (response.header("x-should-retry") or "").strip().lower()
        if verdict in ("true", "false"):
            err.should_retry = verdict == "true"
    if err.provider is None:
        err.provider = provider
    return err


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
