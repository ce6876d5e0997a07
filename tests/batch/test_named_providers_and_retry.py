"""Batches whose pairs name their provider; a retry policy per batch and per stream."""

from __future__ import annotations

import pytest
from batch_support import OPTIONS, completion, prompt_of, requests_for
from loopback import LoopbackServer, RecordedRequest, Reply

from llmcore import (
    ChatCompletionResponse,
    Client,
    ConfigurationError,
    InvalidInputError,
    LlmError,
    RetryPolicy,
    batch_smart,
)
from llmcore.batching import ClientSpec, run_item
from llmcore_openai import openai_compatible

NO_WAIT = dict(backoff_initial=0.0, backoff_max=0.0)


def named(name: str):  # type: ignore[no-untyped-def]
    def respond(request: RecordedRequest) -> Reply:
        return Reply.json(completion(f"{name} {prompt_of(request)}"))

    return respond


def test_pairs_may_name_their_provider_by_name_or_value(
    two_servers: tuple[LoopbackServer, LoopbackServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_srv, b_srv = two_servers
    a_srv.responder, b_srv.responder = named("openai"), named("local")
    monkeypatch.setenv("OPENAI_BASE_URL", a_srv.base_url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-named-0123")
    local = openai_compatible(b_srv.base_url + "/v1", name="local")
    requests = requests_for(12)
    pairs = [("openai" if i % 3 else local, r) for i, r in enumerate(requests)]
    results = batch_smart(pairs, 2)
    assert all(isinstance(r, ChatCompletionResponse) for r in results)
    expected = [f"{'openai' if i % 3 else 'local'} {i}" for i in range(12)]
    assert [r.text() for r in results] == expected  # type: ignore[union-attr]
    assert len(a_srv.requests) == 8 and len(b_srv.requests) == 4
    assert {r.headers["authorization"] for r in a_srv.requests} == {"Bearer sk-named-0123"}
    # one client per named provider: one connection pool each, two connections at most
    assert len({r.connection_id for r in a_srv.requests}) <= 2


def test_a_named_provider_that_cannot_be_used_fails_before_anything_is_sent(
    two_servers: tuple[LoopbackServer, LoopbackServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_srv, _ = two_servers
    client = Client(openai_compatible(a_srv.base_url + "/v1"), options=OPTIONS)
    requests = requests_for(3)
    with pytest.raises(ConfigurationError) as caught:
        batch_smart([(client, requests[0]), ("no-such-provider", requests[1])])
    assert "items[1]" in str(caught.value) and "no-such-provider" in str(caught.value)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError) as caught:
        batch_smart([(client, requests[0]), (client, requests[1]), ("openai", requests[2])])
    assert "items[2]" in str(caught.value) and "OPENAI_API_KEY" in str(caught.value)
    with pytest.raises(InvalidInputError) as bad:
        batch_smart([(client, requests[0]), requests[1]])  # type: ignore[list-item]
    assert bad.value.field == "items[1]"
    assert a_srv.requests == []


def _busy(result: object) -> bool:
    return isinstance(result, LlmError) and result.status == 503


def failing_twice() -> Reply:
    return Reply.json({"error": {"message": "busy"}}, status=503)


def test_a_batch_retry_policy_replaces_the_clients_own(
    two_servers: tuple[LoopbackServer, LoopbackServer],
) -> None:
    a_srv, _ = two_servers
    a_srv.responder = lambda request: failing_twice()
    client = Client(
        openai_compatible(a_srv.base_url + "/v1"), options=OPTIONS.evolve(max_retries=2, **NO_WAIT)
    )
    once = RetryPolicy(attempts=1)
    results = client.chat_completion_batch(requests_for(4), 2, retry=once)
    assert all(_busy(r) for r in results)
    assert len(a_srv.requests) == 4  # one attempt each, not three
    a_srv.reset()
    a_srv.responder = lambda request: failing_twice()
    smart = client.chat_completion_batch_smart(requests_for(4), 2, retry=once)
    assert all(_busy(r) for r in smart) and len(a_srv.requests) == 4
    a_srv.reset()
    a_srv.responder = lambda request: failing_twice()
    client.chat_completion_batch(requests_for(2), 2)  # the client's own: 3 attempts
    assert len(a_srv.requests) == 6
    with pytest.raises(InvalidInputError) as caught:
        client.chat_completion_batch(requests_for(2), retry=3)  # type: ignore[arg-type]
    assert caught.value.field == "retry"


def test_a_retry_policy_travels_with_tasks_to_an_executor_elsewhere(
    two_servers: tuple[LoopbackServer, LoopbackServer],
) -> None:
    a_srv, _ = two_servers
    a_srv.responder = lambda request: failing_twice()
    spec = ClientSpec(
        openai_compatible(a_srv.base_url + "/v1"), None, OPTIONS.evolve(max_retries=2, **NO_WAIT)
    )
    result = run_item(spec, 0, requests_for(1)[0], RetryPolicy(attempts=2, **NO_WAIT))
    assert _busy(result) and len(a_srv.requests) == 2


def test_a_stream_takes_its_own_retry_policy(
    two_servers: tuple[LoopbackServer, LoopbackServer],
) -> None:
    a_srv, _ = two_servers
    served: list[int] = []

    def respond(request: RecordedRequest) -> Reply:
        served.append(1)
        if len(served) == 1:
            return failing_twice()
        return Reply.json(completion("streamed"))

    a_srv.responder = respond
    client = Client(openai_compatible(a_srv.base_url + "/v1"), options=OPTIONS)  # no retries
    request = requests_for(1)[0]
    stream = client.chat_completion_stream(request, retry=RetryPolicy(attempts=2, **NO_WAIT))
    assert stream.until_done().text() == "streamed"
    assert len(served) == 2
    served.clear()
    with pytest.raises(LlmError):
        client.chat_completion_stream(request)  # the client's policy: one attempt
    assert len(served) == 1
    with pytest.raises(InvalidInputError):
        client.chat_completion_stream(request, retry="twice")  # type: ignore[arg-type]
