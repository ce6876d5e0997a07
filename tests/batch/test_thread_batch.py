"""chat_completion_batch on threads: order, pool growth, callbacks, progress, cancel."""

from __future__ import annotations

import concurrent.futures
import io
import sys
import threading
import time
from collections.abc import Callable

import pytest
from batch_support import OPTIONS, check_echoes, echo_server, requests_for
from loopback import LoopbackServer

from llmcore import (
    CancelHandle,
    CancelledRequestError,
    ChatCompletionResponse,
    Client,
    ConfigurationError,
    LlmError,
)
from llmcore.batching import BatchResult, Progress


def test_thousand_requests_ten_percent_failing_come_back_in_order(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.responder = echo_server(fail_every=10)
    client = make_client()
    results = client.chat_completion_batch(requests_for(1000), concurrency=16)
    check_echoes(results, 1000)
    assert len(server.requests) == 1000


def test_the_pool_grows_to_the_concurrency_and_stays_warm_until_idle(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    # pool_size 2, 16 at once: without growth, every round opens ~14 new connections.
    server.responder = echo_server(fail_every=0, pause=0.05)
    client = make_client(OPTIONS.evolve(pool_size=2, idle_timeout=0.3))
    for _ in range(2):  # the second batch finds its connections warm
        results = client.chat_completion_batch(requests_for(96), concurrency=16)
        assert all(isinstance(r, ChatCompletionResponse) for r in results)
    connections = {r.connection_id for r in server.requests}
    assert len(connections) <= 16, len(connections)
    assert client._transport.pool_capacity == 16
    time.sleep(0.4)  # idle for longer than idle_timeout: the next call drops the pool
    client.chat_completion(requests_for(1)[0])
    assert client._transport.pool_capacity == 2


def test_reservations_from_two_threads_take_the_larger(
    make_client: Callable[..., Client],
) -> None:
    transport = make_client(OPTIONS.evolve(pool_size=3))._transport
    assert transport.pool_capacity == 3
    with transport.reserve(8):
        assert transport.pool_capacity == 8
        with transport.reserve(20):
            assert transport.pool_capacity == 20
        assert transport.pool_capacity == 20
    assert transport.pool_capacity == 20


def test_a_call_from_another_thread_during_a_batch_is_answered(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.responder = echo_server(fail_every=0, pause=0.02)
    client = make_client(OPTIONS.evolve(pool_size=2))
    side: list[str] = []

    def other() -> None:
        for request in requests_for(7)[1:]:
            side.append(client.chat_completion(request).text())

    thread = threading.Thread(target=other)
    thread.start()
    results = client.chat_completion_batch(requests_for(64), concurrency=12)
    thread.join(10)
    assert side == [f"echo {i}" for i in range(1, 7)]
    assert [r.text() for r in results if isinstance(r, ChatCompletionResponse)] == [
        f"echo {i}" for i in range(64)
    ]


def test_on_result_runs_once_per_item_on_the_calling_thread(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.responder = echo_server(fail_every=5)
    client = make_client()
    seen: dict[int, BatchResult] = {}
    threads: set[int] = set()

    def on_result(index: int, result: BatchResult) -> None:
        assert index not in seen
        seen[index] = result
        threads.add(threading.get_ident())

    results = client.chat_completion_batch(requests_for(50), 8, on_result=on_result)
    assert sorted(seen) == list(range(50))
    assert all(seen[i] is results[i] for i in range(50))
    assert threads == {threading.get_ident()}


def test_a_callback_that_raises_stops_the_batch_and_propagates(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.responder = echo_server(fail_every=0, pause=0.02)
    client = make_client()

    def on_result(index: int, result: BatchResult) -> None:
        raise RuntimeError("callback bug")

    with pytest.raises(RuntimeError, match="callback bug"):
        client.chat_completion_batch(requests_for(200), 4, on_result=on_result)
    assert len(server.requests) < 200


def test_cancel_from_another_thread_keeps_finished_results_and_marks_the_rest(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.responder = echo_server(fail_every=0, pause=0.2)
    client = make_client()
    cancel = CancelHandle()
    finished: list[int] = []

    def on_result(index: int, result: BatchResult) -> None:
        if isinstance(result, ChatCompletionResponse):
            finished.append(index)
        if len(finished) == 4:
            threading.Thread(target=cancel.cancel).start()

    results = client.chat_completion_batch(requests_for(60), 4, on_result=on_result, cancel=cancel)
    assert len(results) == 60
    done = [i for i, r in enumerate(results) if isinstance(r, ChatCompletionResponse)]
    cancelled = [i for i, r in enumerate(results) if isinstance(r, CancelledRequestError)]
    assert set(finished) <= set(done)
    assert len(done) >= 4
    assert sorted(done + cancelled) == list(range(60))
    assert all(results[i].text() == f"echo {i}" for i in done)  # type: ignore[union-attr]
    assert len(server.requests) < 60
    assert isinstance(results[59], CancelledRequestError)
    assert not results[59].is_retryable()


def test_a_cancelled_handle_sends_nothing(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.responder = echo_server(fail_every=0)
    cancel = CancelHandle()
    cancel.cancel()
    results = make_client().chat_completion_batch(requests_for(10), 2, cancel=cancel)
    assert all(isinstance(r, CancelledRequestError) for r in results)
    assert server.requests == []


def test_a_thread_pool_executor_of_the_caller_is_used(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.responder = echo_server(fail_every=3)
    client = make_client()
    with concurrent.futures.ThreadPoolExecutor(3, "mine") as pool:
        results = client.chat_completion_batch(requests_for(30), executor=pool)
    check_echoes(results, 30, fail_every=3)


def test_bad_items_and_bad_concurrency(make_client: Callable[..., Client]) -> None:
    client = make_client()
    results = client.chat_completion_batch(["not a request"])  # type: ignore[list-item]
    assert isinstance(results[0], ConfigurationError)
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ConfigurationError, match="concurrency"):
            client.chat_completion_batch(requests_for(2), bad)  # type: ignore[arg-type]


def test_progress_bar_with_tqdm(
    server: LoopbackServer, make_client: Callable[..., Client], capsys: pytest.CaptureFixture[str]
) -> None:
    import tqdm  # noqa: F401  (the progress extra; installed in every test env)
    server.responder = echo_server(fail_every=4)
    make_client().chat_completion_batch(requests_for(12), 3, progress=True)
    err = capsys.readouterr().err
    assert "llmcore batch" in err
    assert "12/12" in err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_without_tqdm_is_a_text_line_on_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    tty = _Tty()
    bar = Progress(3, stream=tty)
    bar.update(LlmError("x"))
    bar.update(LlmError("y"))
    bar.close()
    assert tty.getvalue() == ("\rllmcore batch: 1/3 (1 failed)\rllmcore batch: 2/3 (2 failed)\n")
    pipe = io.StringIO()
    bar = Progress(3, stream=pipe)
    bar.update(LlmError("x"))
    bar.close()
    assert pipe.getvalue() == ""
