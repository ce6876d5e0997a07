"""Connection options: pool, timeouts, proxy, retries, default headers."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import attrs

from llmcore.errors import ConfigurationError, redact
from llmcore.http import mask_headers

__all__ = ["ConnectionOptions"]


def _seconds(value: float | datetime.timedelta | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value)


def _positive(_inst: object, attr: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ConfigurationError(f"ConnectionOptions.{attr.name} must be > 0, got {value!r}")


def _headers(value: Mapping[str, str] | None) -> dict[str, str]:
    return dict(value or {})


def _proxy_repr(proxy: str | None) -> str:
    return repr(proxy if proxy is None else redact(proxy))


def _headers_repr(headers: Mapping[str, str]) -> str:
    return repr({k: redact(v) for k, v in mask_headers(headers).items()})


@attrs.frozen
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
    - ``default_headers``: sent with every request.
    """

    pool_size: int = 10
    idle_timeout: float | None = attrs.field(default=90.0, converter=_seconds, validator=_positive)
    connect_timeout: float | None = attrs.field(
        default=10.0, converter=_seconds, validator=_positive
    )
    read_timeout: float | None = attrs.field(default=600.0, converter=_seconds, validator=_positive)
    total_timeout: float | None = attrs.field(default=None, converter=_seconds, validator=_positive)
    finish_grace: float | None = attrs.field(default=1.0, converter=_seconds, validator=_positive)
    proxy: str | None = attrs.field(default=None, repr=_proxy_repr)
    max_retries: int = 2
    backoff_initial: float = attrs.field(default=0.5, converter=float)
    backoff_max: float = attrs.field(default=8.0, converter=float)
    max_retry_after: float = attrs.field(default=60.0, converter=float)
    default_headers: dict[str, str] = attrs.field(
        factory=dict, converter=_headers, repr=_headers_repr
    )

    def __attrs_post_init__(self) -> None:
        if self.pool_size < 1:
            raise ConfigurationError(
                f"ConnectionOptions.pool_size must be >= 1, got {self.pool_size}"
            )
        if self.max_retries < 0:
            raise ConfigurationError(
                f"ConnectionOptions.max_retries must be >= 0, got {self.max_retries}"
            )

    def evolve(self, **changes: Any) -> ConnectionOptions:
        """A copy with some fields changed."""
        return attrs.evolve(self, **changes)
