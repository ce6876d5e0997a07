"""Leases: what a cancel or a deadline may do to a connection, and when (no network)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from llmcore.transport import Lease, _put_leased, _Watchdog


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def _shut(sock: socket.socket) -> bool:
    """True when ``sock``'s peer sees EOF (it was shut down)."""
    sock.settimeout(0.5)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


def test_interrupt_shuts_the_attached_socket_down(pair: tuple[socket.socket, socket.socket]):
    lease = Lease()
    lease.attach(pair[0])
    lease.interrupt("cancelled")
    assert lease.reason == "cancelled"
    assert _shut(pair[1])
    assert not lease.finish()  # an interrupted connection is never reused


def test_interrupt_before_the_socket_exists_applies_on_attach(
    pair: tuple[socket.socket, socket.socket],
):
    lease = Lease()
    lease.interrupt("deadline")
    lease.attach(pair[0])
    assert _shut(pair[1])


def test_a_finished_lease_never_touches_its_old_socket(pair: tuple[socket.socket, socket.socket]):
    lease = Lease()
    lease.attach(pair[0])
    assert lease.finish()  # the pool took the connection back
    lease.interrupt("cancelled")  # a late cancel from another thread
    assert lease.reason is None
    pair[0].sendall(b"x")  # the socket still works for its next user
    assert pair[1].recv(1) == b"x"


def test_lease_holds_its_socket_weakly() -> None:
    a, b = socket.socketpair()
    lease = Lease()
    lease.attach(a)
    fd = a.fileno()
    del a  # the only strong reference: the socket is closed and freed now
    assert lease._sock is not None and lease._sock() is None
    b.close()
    assert fd >= 0


class _Conn:
    def __init__(self, lease: Lease) -> None:
        self._llmcore_lease = lease
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_pool_closes_an_interrupted_connection_instead_of_reusing_it() -> None:
    lease = Lease()
    lease.interrupt("cancelled")
    conn = _Conn(lease)
    _put_leased(None, conn)  # type: ignore[arg-type]
    assert conn.closed and conn._llmcore_lease is None


def test_pool_finishes_a_clean_lease_and_keeps_the_connection() -> None:
    lease = Lease()
    conn = _Conn(lease)
    _put_leased(None, conn)  # type: ignore[arg-type]
    assert not conn.closed and lease.done


def test_interrupt_and_finish_race_from_many_threads() -> None:
    """Whatever the interleaving, either the pool reuses the connection and the cancel did
    nothing, or the cancel shut it down and the pool refused it: never both."""
    for _ in range(300):
        a, b = socket.socketpair()
        lease = Lease()
        lease.attach(a)
        reused: list[bool] = []
        start = threading.Barrier(2)

        def cancel(lease: Lease, start: threading.Barrier) -> None:
            start.wait()
            lease.interrupt("cancelled")

        def release(lease: Lease, start: threading.Barrier, reused: list[bool]) -> None:
            start.wait()
            reused.append(lease.finish())

        threads = [
            threading.Thread(target=cancel, args=(lease, start)),
            threading.Thread(target=release, args=(lease, start, reused)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if reused[0]:
            assert lease.reason is None
            a.sendall(b"ok")
            assert b.recv(2) == b"ok"
        else:
            assert lease.reason == "cancelled"
        a.close()
        b.close()


def test_watchdog_interrupts_at_the_deadline_and_skips_finished_leases() -> None:
    dog = _Watchdog()
    late, done, early = Lease(), Lease(), Lease()
    now = time.monotonic()
    dog.schedule(now + 0.3, late)
    dog.schedule(now + 0.05, done)
    done.finish()
    dog.schedule(now + 0.1, early)
    deadline = time.monotonic() + 3
    while late.reason is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert early.reason == "deadline" and late.reason == "deadline"
    assert done.reason is None
