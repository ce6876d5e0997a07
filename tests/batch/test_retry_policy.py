"""RetryPolicy: the retry rules as a value, on ConnectionOptions and per call."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from batch_support import OPTIONS, completion, requests_for
from loopback import LoopbackServer, Reply

from llmcore import (
    ChatCompletionResponse,
    Client,
    ConnectionOptions,
    InvalidInputError,
    InvalidRequestError,
    OverloadedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)

PATH = "/v1/chat/completions"
REQ = requests_for(1)[0]
NO_WAIT = RetryPolicy(attempts=3, backoff_initial=0.0, backoff_max=0.0)


def fail(status: int, **headers: str) -> Reply:
    return Reply.json({"error": {"message": f"status {status}"}}, status=status, headers=headers)


def test_the_old_fields_make_up_the_default_policy() -> None:
    options = ConnectionOptions(
        max_retries=4, backoff_initial=0.1, backoff_max=2, max_retry_after=9
    )
    assert options.retry_policy == RetryPolicy(
        attempts=5, backoff_initial=0.1, backoff_max=2.0, max_retry_after=9.0
    )
    policy = RetryPolicy(attempts=1)
    assert options.evolve(retry=policy).retry_policy is policy
    assert ConnectionOptions().retry_policy == RetryPolicy()


def test_a_policy_for_one_call_overrides_the_options(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.add("POST", PATH, fail(500), fail(500), Reply.json(completion("third")))
    client = make_client(OPTIONS)  # max_retries=0
    answer = client.chat_completion(REQ, retry=NO_WAIT)
    assert answer.text() == "third"
    assert len(server.requests) == 3
    server.reset()
    server.add("POST", PATH, fail(500), Reply.json(completion("second")))
    with pytest.raises(ServerError):
        client.chat_completion(REQ)
    assert len(server.requests) == 1


def test_the_policy_on_the_options_is_used(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.add("POST", PATH, fail(503), Reply.json(completion("ok")))
    client = make_client(OPTIONS.evolve(retry=NO_WAIT))
    assert client.chat_completion(REQ).text() == "ok"


def test_retry_statuses_choose_what_is_retried(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    client = make_client()
    server.add("POST", PATH, fail(400), Reply.json(completion("ok")))
    answer = client.chat_completion(REQ, retry=NO_WAIT.evolve(retry_statuses={400, 429}))
    assert isinstance(answer, ChatCompletionResponse)
    server.reset()
    server.add("POST", PATH, fail(500), Reply.json(completion("ok")))
    with pytest.raises(ServerError):
        client.chat_completion(REQ, retry=NO_WAIT.evolve(retry_statuses={429}))
    assert len(server.requests) == 1
    server.reset()
    server.add("POST", PATH, fail(400))
    with pytest.raises(InvalidRequestError):
        client.chat_completion(REQ, retry=NO_WAIT)
    assert len(server.requests) == 1


def test_x_should_retry_is_obeyed_unless_told_not_to(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    client = make_client()
    server.add("POST", PATH, fail(503, **{"x-should-retry": "false"}), Reply.json(completion()))
    with pytest.raises(OverloadedError):
        client.chat_completion(REQ, retry=NO_WAIT)
    assert len(server.requests) == 1
    server.reset()
    server.add("POST", PATH, fail(503, **{"x-should-retry": "false"}), Reply.json(completion()))
    client.chat_completion(REQ, retry=NO_WAIT.evolve(honour_should_retry=False))
    assert len(server.requests) == 2


def test_every_retry_is_logged_at_debug_with_reason_and_wait(
    server: LoopbackServer,
    make_client: Callable[..., Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.add("POST", PATH, fail(500), fail(429, **{"Retry-After": "0"}), Reply.json(completion()))
    policy = RetryPolicy(attempts=3, backoff_initial=0.05, jitter=0.0)
    with caplog.at_level(logging.DEBUG, logger="llmcore"):
        make_client().chat_completion(REQ, retry=policy)
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.DEBUG, logging.DEBUG]
    first, second = (r.getMessage() for r in retries)
    assert "attempt 1 of 3 failed (ServerError, HTTP 500" in first
    assert "retrying in 0.05s (backoff)" in first
    assert "attempt 2 of 3 failed (RateLimitError, HTTP 429" in second
    assert "retrying in 0.00s (the server's Retry-After)" in second


def test_the_retry_deadline_stops_retries_that_would_end_after_it(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.add("POST", PATH, fail(500))
    policy = RetryPolicy(attempts=10, backoff_initial=0.3, jitter=0.0, deadline=0.5)
    with pytest.raises(ServerError):
        make_client().chat_completion(REQ, retry=policy)
    assert len(server.requests) == 2  # waits 0.3, then a 0.6 wait would pass the deadline


def test_a_retry_after_above_the_cap_raises_at_once(
    server: LoopbackServer, make_client: Callable[..., Client]
) -> None:
    server.add("POST", PATH, fail(429, **{"Retry-After": "5"}), Reply.json(completion()))
    with pytest.raises(RateLimitError) as info:
        make_client().chat_completion(REQ, retry=NO_WAIT.evolve(max_retry_after=1))
    assert info.value.retry_after == 5
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 0},
        {"attempts": True},
        {"jitter": 1.5},
        {"jitter": -0.1},
        {"backoff_initial": -1},
        {"retry_statuses": [42]},
        {"retry_statuses": "500"},
        {"deadline": 0},
    ],
)
def test_bad_policies_name_their_field(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError, match=next(iter(kwargs))):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_policy_must_be_a_policy(make_client: Callable[..., Client]) -> None:
    with pytest.raises(InvalidInputError, match="retry"):
        ConnectionOptions(retry=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="retry"):
        make_client().chat_completion(REQ, retry=3)  # type: ignore[arg-type]
