"""Connection options: pool, timeouts, proxy, retries, default headers."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from llmcore._repr import attrs_repr
from llmcore.errors import redact
from llmcore.http import mask_headers
from llmcore.validation import check_headers, check_int, check_number, fail

__all__ = ["ConnectionOptions", "RetryPolicy", "check_retry_policy"]


def _duration(field: str, value: float | datetime.timedelta | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    check_number(field, value, minimum=0, exclusive_minimum=True)
    return float(value)


def _idle(value: float | datetime.timedelta | None) -> float | None:
    return _duration("idle_timeout", value)


def _connect(value: float | datetime.timedelta | None) -> float | None:
    return _duration("connect_timeout", value)


def _read(value: float | datetime.timedelta | None) -> float | None:
    return _duration("read_timeout", value)


def _total(value: float | datetime.timedelta | None) -> float | None:
    return _duration("total_timeout", value)


def _grace(value: float | datetime.timedelta | None) -> float | None:
    return _duration("finish_grace", value)


def _seconds_at_least_zero(field: str, value: float | datetime.timedelta) -> float:
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    check_number(field, value, minimum=0)
    return float(value)


def _backoff_initial(value: float | datetime.timedelta) -> float:
    return _seconds_at_least_zero("backoff_initial", value)


def _backoff_max(value: float | datetime.timedelta) -> float:
    return _seconds_at_least_zero("backoff_max", value)


def _max_retry_after(value: float | datetime.timedelta) -> float:
    return _seconds_at_least_zero("max_retry_after", value)


def _jitter(value: float) -> float:
    check_number("jitter", value, minimum=0, maximum=1)
    return float(value)


def _retry_deadline(value: float | datetime.timedelta | None) -> float | None:
    return _duration("deadline", value)


def _statuses(value: Iterable[int] | None) -> frozenset[int] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        fail("retry_statuses", f"expected HTTP status codes, got a {type(value).__name__}")
    codes = frozenset(value)
    for code in codes:
        check_int("retry_statuses", code, minimum=100)
    return codes


@attrs_repr
@attrs.frozen(repr=False)
class RetryPolicy:
    """When and how a failed call is sent again: a value, on :class:`ConnectionOptions`
    (``retry=``) or for one call (``client.chat_completion(request, retry=...)``).

    - ``attempts``: attempts in all, the first included (1 turns retries off);
    - ``backoff_initial`` / ``backoff_max``: the wait before retry ``n`` is
      ``backoff_initial * 2**(n-1)`` seconds, capped at ``backoff_max``...
    - ``jitter``: ... of which this fraction is random (0: exact waits; the default 0.5 waits
      between half the backoff and all of it);
    - ``retry_statuses``: the HTTP statuses retried; ``None`` keeps llmcore's classification
      (408, 409, 429, 5xx, 529 and connection failures; see ``docs/errors.md``). Failures
      without a status (connection errors, timeouts) follow that classification either way;
    - ``max_retry_after``: the longest server-requested wait (``Retry-After``) honoured; a
      longer one raises the error at once;
    - ``honour_should_retry``: obey the server's ``x-should-retry: true|false`` header;
    - ``deadline``: seconds after the call started past which no retry (and no wait) starts.
      ``ConnectionOptions.total_timeout`` bounds the call as a whole, attempts included.
    """

    attempts: int = attrs.field(
        default=3, validator=lambda _i, _a, v: check_int("attempts", v, minimum=1)
    )
    backoff_initial: float = attrs.field(default=0.5, converter=_backoff_initial)
    backoff_max: float = attrs.field(default=8.0, converter=_backoff_max)
    jitter: float = attrs.field(default=0.5, converter=_jitter)
    retry_statuses: frozenset[int] | None = attrs.field(default=None, converter=_statuses)
    max_retry_after: float = attrs.field(default=60.0, converter=_max_retry_after)
    honour_should_retry: bool = True
    deadline: float | None = attrs.field(default=None, converter=_retry_deadline)

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt, no retry."""
        return cls(attempts=1)

    def evolve(self, **changes: Any) -> RetryPolicy:
        """A copy with some fields changed."""
        return attrs.evolve(self, **changes)


def _check_retry(_inst: object, _attr: attrs.Attribute[Any], value: RetryPolicy | None) -> None:
    if value is not None and not isinstance(value, RetryPolicy):
        fail("retry", f"expected a RetryPolicy, got a {type(value).__name__}")


def _headers(value: Mapping[str, str] | None) -> dict[str, str]:
    if value is None:
        return {}
    check_headers("default_headers", value)
    return dict(value)


def _check_proxy(_inst: object, _attr: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    # A proxy URL may hold a password: describe the problem, never the value.
    if not isinstance(value, str):
        fail("proxy", f"expected a URL string, got a {type(value).__name__}")
    if not value or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        fail("proxy", "must be a non-empty URL without whitespace (the value is not shown)")
    if "://" not in value:
        fail(
            "proxy", "must be a URL with a scheme, e.g. http://proxy:3128 (the value is not shown)"
        )


def _proxy_repr(proxy: str | None) -> str:
    return repr(proxy if proxy is None else redact(proxy))


def _headers_repr(headers: Mapping[str, str]) -> str:
    return repr({k: redact(v) for k, v in mask_headers(headers).items()})


@functools.lru_cache(maxsize=32)
def _field_policy(
    max_retries: int, backoff_initial: float, backoff_max: float, max_retry_after: float
) -> RetryPolicy:
    """The policy the ``max_retries`` / ``backoff_*`` / ``max_retry_after`` fields describe
    (a frozen value, so one instance serves every call with the same fields)."""
    return RetryPolicy(
        attempts=max_retries + 1,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
        max_retry_after=max_retry_after,
    )


@attrs_repr
@attrs.frozen(repr=False)
class ConnectionOptions:
    """How a :class:`~llmcore.Client` connects. Durations are seconds or ``timedelta``.

    - ``pool_size``: connections kept per host (also the default batch concurrency);
    - ``idle_timeout``: pooled connections unused this long are dropped before the next request;
    - ``connect_timeout`` / ``read_timeout``: per attempt; ``read_timeout`` is the longest silence
      allowed between two bytes, so a long stream is fine as long as it keeps talking;
    - ``total_timeout``: a deadline for the whole call: every attempt, every wait between
      attempts, the wait for the response headers and every body read, the whole of a stream
      included. When it passes, the call raises :class:`~llmcore.errors.RequestTimeoutError`
      (a stream raises :class:`~llmcore.errors.StreamTimeoutError`, keeping what arrived);
    - ``finish_grace``: once a stream has delivered every finish reason, how long llmcore waits
      for the rest (usage, the end marker) before ending the stream cleanly anyway;
    - ``proxy``: an ``http://`` or ``socks`` URL for every request (env proxies are used otherwise);
    - ``max_retries``: extra attempts for retryable errors (0 turns retries off);
    - ``backoff_initial`` / ``backoff_max``: exponential backoff with jitter between attempts;
    - ``max_retry_after``: the longest server-requested wait (``Retry-After``) that is honoured;
    - ``default_headers``: sent with every request;
    - ``retry``: a :class:`RetryPolicy` for every call; when set it replaces ``max_retries``,
      ``backoff_initial``, ``backoff_max`` and ``max_retry_after`` (which otherwise make up
      the policy, see :attr:`retry_policy`).

    Every value is checked here: durations are finite numbers > 0 (``backoff_*`` and
    ``max_retry_after`` >= 0), counts are ints (a bool is not), header names are tokens and
    header values carry no line breaks or control characters. A bad value raises
    :class:`~llmcore.InvalidInputError` naming the field.
    """

    pool_size: int = attrs.field(
        default=10, validator=lambda _i, _a, v: check_int("pool_size", v, minimum=1)
    )
    idle_timeout: float | None = attrs.field(default=90.0, converter=_idle)
    connect_timeout: float | None = attrs.field(default=10.0, converter=_connect)
    read_timeout: float | None = attrs.field(default=600.0, converter=_read)
    total_timeout: float | None = attrs.field(default=None, converter=_total)
    finish_grace: float | None = attrs.field(default=1.0, converter=_grace)
    proxy: str | None = attrs.field(default=None, validator=_check_proxy, repr=_proxy_repr)
    max_retries: int = attrs.field(
        default=2, validator=lambda _i, _a, v: check_int("max_retries", v, minimum=0)
    )
    backoff_initial: float = attrs.field(default=0.5, converter=_backoff_initial)
    backoff_max: float = attrs.field(default=8.0, converter=_backoff_max)
    max_retry_after: float = attrs.field(default=60.0, converter=_max_retry_after)
    default_headers: dict[str, str] = attrs.field(
        factory=dict, converter=_headers, repr=_headers_repr
    )

    retry: RetryPolicy | None = attrs.field(default=None, validator=_check_retry)

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy calls use: ``retry``, or the one the ``max_retries`` / ``backoff_*`` /
        ``max_retry_after`` fields describe."""
        if self.retry is not None:
            return self.retry
        return _field_policy(
            self.max_retries, self.backoff_initial, self.backoff_max, self.max_retry_after
        )

    def evolve(self, **changes: Any) -> ConnectionOptions:
        """A copy with some fields changed."""
        return attrs.evolve(self, **changes)


def check_retry_policy(retry: object) -> None:
    """``retry`` is ``None`` or a :class:`RetryPolicy`; else :class:`InvalidInputError`
    naming the ``retry`` field."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        fail("retry", f"expected a RetryPolicy, got a {type(retry).__name__}")
