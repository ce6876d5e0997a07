"""Executors that run elsewhere get picklable tasks: a ClientSpec and the request, no client."""

from __future__ import annotations

import concurrent.futures
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from batch_support import OPTIONS, check_echoes, echo_server, requests_for
from loopback import LoopbackServer

from llmcore import (
    ChatCompletionResponse,
    Client,
    ClientSpec,
    ConfigurationError,
    Provider,
    batching,
)
from llmcore_openai import openai_compatible


class PicklingExecutor(concurrent.futures.Executor):
    """Runs tasks on threads, but only after a pickle round trip, like a process pool."""

    def __init__(self) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(4)
        self.payloads: list[bytes] = []
        self._max_workers = 4

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        payload = pickle.dumps((fn, args, kwargs))
        self.payloads.append(payload)
        fn2, args2, kwargs2 = pickle.loads(payload)
        return self.pool.submit(lambda: pickle.loads(pickle.dumps(fn2(*args2, **kwargs2))))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait, cancel_futures=cancel_futures)


@pytest.fixture(autouse=True)
def fresh_worker_cache() -> None:
    batching._worker_clients.clear()


def test_tasks_carry_a_spec_and_the_request_and_workers_build_one_client(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.responder = echo_server(fail_every=10)
    client = make_client()
    executor = PicklingExecutor()
    results = client.chat_completion_batch(requests_for(100), executor=executor)
    executor.shutdown()
    check_echoes(results, 100)
    assert len(executor.payloads) == 100
    fn, args, _ = pickle.loads(executor.payloads[0])
    assert fn is batching.run_item
    assert isinstance(args[0], ClientSpec)
    assert args[0].options == client.options
    assert len(batching._worker_clients) == 1  # one client built, reused for every task


def test_the_key_stays_home_unless_asked(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.responder = echo_server(fail_every=0)
    provider = openai_compatible(
        server.base_url + "/v1", api_key_env="BATCH_TEST_KEY", key_required=True
    )
    client = Client(provider, api_key="sk-batch-secret-123456", options=OPTIONS)
    spec = client.spec()
    assert spec.api_key is None
    assert b"sk-batch-secret" not in pickle.dumps(spec)
    assert "sk-batch" not in repr(client.spec(send_key=True))
    # The workers' environment has no key: each slot says so.
    monkeypatch.delenv("BATCH_TEST_KEY", raising=False)
    results = client.chat_completion_batch(requests_for(3), executor=PicklingExecutor())
    assert all(isinstance(r, ConfigurationError) and "BATCH_TEST_KEY" in str(r) for r in results)
    # The key in the workers' environment...
    monkeypatch.setenv("BATCH_TEST_KEY", "sk-from-worker-env-1")
    results = client.chat_completion_batch(requests_for(3), executor=PicklingExecutor())
    assert all(isinstance(r, ChatCompletionResponse) for r in results)
    assert server.requests[-1].headers["authorization"] == "Bearer sk-from-worker-env-1"
    # ... or sent explicitly.
    monkeypatch.delenv("BATCH_TEST_KEY")
    batching._worker_clients.clear()
    executor = PicklingExecutor()
    results = client.chat_completion_batch(requests_for(3), executor=executor, send_key=True)
    assert all(isinstance(r, ChatCompletionResponse) for r in results)
    assert server.requests[-1].headers["authorization"] == "Bearer sk-batch-secret-123456"
    client.close()


def test_a_client_with_hooks_cannot_travel(server: LoopbackServer) -> None:
    client = Client(
        openai_compatible(server.base_url + "/v1"), on_payload=lambda r, p: None, options=OPTIONS
    )
    with pytest.raises(ConfigurationError, match="cannot travel"):
        client.chat_completion_batch(requests_for(3), executor=PicklingExecutor())
    client.close()


def test_a_worker_that_dies_puts_an_error_in_its_slot(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.responder = echo_server(fail_every=0)

    class Dying(PicklingExecutor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            if args[1] == 2:
                future: concurrent.futures.Future[Any] = concurrent.futures.Future()
                future.set_exception(RuntimeError("worker lost"))
                return future
            return super().submit(fn, *args, **kwargs)

    results = make_client().chat_completion_batch(requests_for(5), executor=Dying())
    assert [type(r).__name__ for r in results] == ["ChatCompletionResponse"] * 2 + ["LlmError"] + [
        "ChatCompletionResponse"
    ] * 2
    assert "worker lost" in str(results[2])


def test_the_spec_carries_the_resolved_base_url_and_never_its_password(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCH_BASE_URL", server.base_url + "/v1")
    provider = openai_compatible("http://unused.invalid/v1", base_url_env="BATCH_BASE_URL")
    client = Client(provider, options=OPTIONS)
    assert client.spec().base_url == server.base_url + "/v1"  # workers need no variable
    client.close()
    with_password = server.base_url.replace("http://", "http://user:pa55word-xyz@") + "/v1"
    client = Client(openai_compatible(with_password), options=OPTIONS)
    with pytest.raises(ConfigurationError, match="send_key") as info:
        client.spec()
    assert "pa55word" not in str(info.value)
    spec = client.spec(send_key=True)
    assert isinstance(spec.provider, Provider)
    assert spec.provider.base_url == with_password
    client.close()
