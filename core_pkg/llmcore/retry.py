"""Retries with tenacity: retryable errors only, exponential backoff with jitter, server hints.

The policy is a value, :class:`~llmcore.options.RetryPolicy`, taken from the call
(``retry=``), else from ``ConnectionOptions.retry``, else from the ``max_retries`` /
``backoff_*`` / ``max_retry_after`` fields. With the default policy: a retryable
:class:`~llmcore.errors.LlmError` (connection errors, 408, 409, 429, 5xx, 529) is retried up to
``max_retries`` times. The wait is the server's ``retry-after-ms``/``retry-after``
hint when there is one, else ``backoff_initial * 2**n`` (capped at ``backoff_max``) with full
jitter. A hint longer than ``max_retry_after`` is not waited for: the error is raised at once
(its ``retry_after`` says how long the server asked for). The call's deadline (from
``total_timeout``) bounds attempts and waits together: no wait starts that would end after it,
and the transport interrupts an attempt that is still running when it passes. Waits end early
when the call is cancelled.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from llmcore.cancel import CancelHandle
from llmcore.errors import LlmError
from llmcore.options import ConnectionOptions, RetryPolicy

if TYPE_CHECKING:
    import tenacity

__all__ = ["call_with_retries"]

T = TypeVar("T")
log = logging.getLogger("llmcore")


def _retryable(exc: BaseException, policy: RetryPolicy) -> bool:
    if not isinstance(exc, LlmError):
        return False
    if policy.honour_should_retry and exc.should_retry is not None:
        verdict = exc.should_retry
    elif policy.retry_statuses is not None and exc.status is not None:
        verdict = exc.status in policy.retry_statuses
    else:
        verdict = exc._default_retryable()
    return verdict and (exc.retry_after is None or exc.retry_after <= policy.max_retry_after)


def _backoff(policy: RetryPolicy, attempt: int) -> float:
    ceiling = min(policy.backoff_max, policy.backoff_initial * 2 ** (attempt - 1))
    return random.uniform(ceiling * (1 - policy.jitter), ceiling)


def _reason(exc: BaseException | None) -> str:
    if not isinstance(exc, LlmError):
        return type(exc).__name__
    if exc.should_retry:
        return f"{type(exc).__name__}, the server said x-should-retry: true"
    if exc.status is not None:
        return f"{type(exc).__name__}, HTTP {exc.status}"
    return type(exc).__name__


def _stop_at(deadline: float) -> tenacity.stop.stop_base:
    """A tenacity stop: stop when the next wait would end after ``deadline``."""
    import tenacity

    class _StopAt(tenacity.stop.stop_base):
        def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
            return time.monotonic() + retry_state.upcoming_sleep >= deadline

    return _StopAt()


def call_with_retries(
    fn: Callable[[], T],
    options: ConnectionOptions,
    cancel: CancelHandle | None = None,
    deadline: float | None = None,
    policy: RetryPolicy | None = None,
) -> T:
    """Run ``fn`` until it succeeds, fails for good, or retries/deadline run out.

    ``deadline`` is a ``time.monotonic()`` instant (the client derives it from
    ``total_timeout`` when the call starts). ``policy`` is the call's own
    :class:`RetryPolicy`; ``None`` uses ``options.retry_policy``. Every retry is logged at
    DEBUG with its reason and its wait.
    """
    policy = policy if policy is not None else options.retry_policy
    # The first attempt runs outside tenacity: most calls succeed at once, and building the
    # retry machinery costs more than a small answer's parsing. Its failure, if retryable,
    # is handed to tenacity as attempt 1, so waits, logs and stops are the same as if
    # tenacity had run it.
    started = time.monotonic()
    try:
        return fn()
    except BaseException as exc:
        if policy.attempts <= 1 or not _retryable(exc, policy):
            raise
        first: BaseException | None = exc

    def attempt() -> T:
        nonlocal first
        if first is not None:
            failure, first = first, None
            raise failure
        return fn()

    import tenacity  # only now: most calls succeed at once and never need it

    stops: list[tenacity.stop.stop_base] = [tenacity.stop_after_attempt(policy.attempts)]
    if deadline is not None:
        stops.append(_stop_at(deadline))
    if policy.deadline is not None:
        stops.append(_stop_at(started + policy.deadline))
    stop = tenacity.stop_any(*stops)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, LlmError) and exc.retry_after is not None:
            return exc.retry_after
        return _backoff(policy, state.attempt_number)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        seconds = state.next_action.sleep if state.next_action is not None else 0.0
        hinted = isinstance(exc, LlmError) and exc.retry_after is not None
        log.debug(
            "llmcore: attempt %d of %d failed (%s: %s); retrying in %.2fs (%s)",
            state.attempt_number,
            policy.attempts,
            _reason(exc),
            exc,
            seconds,
            "the server's Retry-After" if hinted else "backoff",
        )

    retrying = tenacity.Retrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception(lambda exc: _retryable(exc, policy)),
        sleep=cancel.sleep if cancel is not None else time.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(attempt)
