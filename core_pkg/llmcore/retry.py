"""Retries with tenacity: retryable errors only, exponential backoff with jitter, server hints.

A retryable :class:`~llmcore.errors.LlmError` (connection errors, 408, 409, 429, 5xx, 529) is
retried up to ``max_retries`` times. The wait is the server's ``retry-after-ms``/``retry-after``
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
from typing import TypeVar

import tenacity

from llmcore.cancel import CancelHandle
from llmcore.errors import LlmError
from llmcore.options import ConnectionOptions

__all__ = ["call_with_retries"]

T = TypeVar("T")
log = logging.getLogger("llmcore")


def _should_retry(options: ConnectionOptions) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if not isinstance(exc, LlmError) or not exc.is_retryable():
            return False
        return exc.retry_after is None or exc.retry_after <= options.max_retry_after

    return check


def _wait(options: ConnectionOptions) -> Callable[[tenacity.RetryCallState], float]:
    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, LlmError) and exc.retry_after is not None:
            return exc.retry_after
        ceiling = min(
            options.backoff_max, options.backoff_initial * 2 ** (state.attempt_number - 1)
        )
        return random.uniform(ceiling / 2, ceiling)

    return wait


class _StopAt(tenacity.stop.stop_base):
    """Stop when the next wait would end after the call's deadline."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return time.monotonic() + retry_state.upcoming_sleep >= self.deadline


def call_with_retries(
    fn: Callable[[], T],
    options: ConnectionOptions,
    cancel: CancelHandle | None = None,
    deadline: float | None = None,
) -> T:
    """Run ``fn`` until it succeeds, fails for good, or retries/deadline run out.

    ``deadline`` is a ``time.monotonic()`` instant (the client derives it from
    ``total_timeout`` when the call starts).
    """
    stop: tenacity.stop.stop_base = tenacity.stop_after_attempt(options.max_retries + 1)
    if deadline is not None:
        stop = stop | _StopAt(deadline)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.info(
            "llmcore: attempt %d failed (%s); retrying in %.2fs", state.attempt_number, exc, wait
        )

    retrying = tenacity.Retrying(
        stop=stop,
        wait=_wait(options),
        retry=tenacity.retry_if_exception(_should_retry(options)),
        sleep=cancel.sleep if cancel is not None else time.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)
