"""Cancellation: a handle any thread can use to stop a stream at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["CancelHandle", "CancelledError"]


class CancelledError(Exception):
    """Internal: raised inside the core when a cancelled call must stop (never escapes)."""


class CancelHandle:
    """Cancels one call. ``cancel()`` is thread-safe, idempotent and returns immediately.

    It shuts the call's connection down (so a blocked read, or the wait for the response
    headers, returns at once) and makes any retry wait end early; the stream then ends normally
    with stop reason ``aborted``. It reaches only its own call: the connection it interrupts is
    discarded instead of pooled, and once the call has ended, ``cancel()`` does nothing. The
    handle holds no socket, so keeping it after the call keeps no connection open.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Stop the call: interrupt its connection now. Safe from any thread, and more than once.

        Never raises: a closer that fails while closing a dying socket is ignored.
        """
        with self._lock:
            self._event.set()
            closers, self._closers = self._closers, []
        for close in closers:
            try:
                close()
            except Exception:  # closing a dying socket may fail; the flag is what counts
                pass

    def on_cancel(self, close: Callable[[], None]) -> None:
        """Run ``close`` on cancel (at once if already cancelled).

        :param close: a callable taking no argument that interrupts the resource.
        :raises Exception: whatever ``close`` raises when it runs at once (already cancelled).
        """
        with self._lock:
            if not self._event.is_set():
                self._closers.append(close)
                return
        close()

    def discard(self, close: Callable[[], None]) -> None:
        """Forget a closer registered with :meth:`on_cancel` (its resource is gone).

        :param close: the callable given to :meth:`on_cancel`; an unknown one is ignored.
            Never raises.
        """
        with self._lock:
            if close in self._closers:
                self._closers.remove(close)

    def sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``; raise :class:`CancelledError` if cancelled meanwhile.

        :param seconds: how long to wait at most.
        :raises CancelledError: the handle is cancelled before or during the wait.
        """
        if self._event.wait(seconds):
            raise CancelledError()

    def check(self) -> None:
        """Raise :class:`CancelledError` if cancelled."""
        if self._event.is_set():
            raise CancelledError()

    def __repr__(self) -> str:
        return f"CancelHandle(cancelled={self.cancelled})"
