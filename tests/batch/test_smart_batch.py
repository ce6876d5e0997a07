"""The smart batch: groups by provider, a limit each, 429s pause one provider only."""

from __future__ import annotations

import threading
import time

import pytest
from batch_support import OPTIONS, completion, prompt_of, requests_for
from loopback import LoopbackServer, RecordedRequest, Reply

from llmcore import (
    ChatCompletionResponse,
    Client,
    ConfigurationError,
    HttpResponse,
    batch_smart,
)
from llmcore.batching import rate_limit_wait
from llmcore_openai import openai_compatible


def client_on(server: LoopbackServer, name: str, **options: object) -> Client:
    return Client(
        openai_compatible(server.base_url + "/v1", name=name), options=OPTIONS.evolve(**options)
    )


class Recorder:
    """Answers ``<name> <prompt>`` after ``pause``, noting when each request arrived and how
    many were in flight at once; ``first`` replaces the first reply."""

    def __init__(self, name: str, pause: float = 0.0, first: Reply | None = None) -> None:
        self.name, self.pause, self.first = name, pause, first
        self.lock = threading.Lock()
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.peak = 0

    def __call__(self, request: RecordedRequest) -> Reply:
        with self.lock:
            self.arrivals.append(time.monotonic())
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            first = self.first if len(self.arrivals) == 1 else None
        if self.pause:
            time.sleep(self.pause)
        with self.lock:
            self.in_flight -= 1
        return first or Reply.json(completion(f"{self.name} {prompt_of(request)}"))


def test_pairs_come_back_in_order_with_a_limit_per_provider(
    two_servers: tuple[LoopbackServer, LoopbackServer],
) -> None:
    a_srv, b_srv = two_servers
    a_srv.responder = a = Recorder("a", pause=0.03)
    b_srv.responder = b = Recorder("b", pause=0.03)
    ca, cb = client_on(a_srv, "prov-a"), client_on(b_srv, "prov-b")
    reqs = requests_for(40)
    pairs = [(ca if i % 3 else cb, r) for i, r in enumerate(reqs)]
    results = batch_smart(pairs, {"prov-a": 2, "prov-b": 5})
    for i, result in enumerate(results):
        assert isinstance(result, ChatCompletionResponse)
        assert result.text() == f"{'a' if i % 3 else 'b'} {i}"
    assert a.peak <= 2
    assert b.peak <= 5
    assert b.peak > 2  # the limits are per provider, not one for all


def test_a_429_pauses_its_provider_and_not_the_others(
    two_servers: tuple[LoopbackServer, LoopbackServer],
) -> None:
    slow_srv, fast_srv = two_servers
    limited = Reply.json(
        {"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "1"}
    )
    slow_srv.responder = slow = Recorder("slow", first=limited)
    fast_srv.responder = fast = Recorder("fast", pause=0.01)
    slow_client = client_on(slow_srv, "slow", max_retries=1)
    fast_client = client_on(fast_srv, "fast")
    pairs = [(slow_client, r) for r in requests_for(4)] + [
        (fast_client, r) for r in requests_for(30)
    ]
    results = batch_smart(pairs, {"slow": 1, "fast": 4})
    assert all(isinstance(r, ChatCompletionResponse) for r in results)
    # The slow provider waited out its Retry-After before its next request...
    assert slow.arrivals[1] - slow.arrivals[0] >= 0.9
    # ... while every request of the other provider was already answered.
    assert max(fast.arrivals) < slow.arrivals[1]


def test_an_exhausted_ratelimit_counter_pauses_the_next_request(
    server: LoopbackServer,
) -> None:
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "600ms"}
    server.responder = rec = Recorder("a", first=Reply.json(completion("first"), headers=headers))
    client = client_on(server, "a")
    results = batch_smart([(client, r) for r in requests_for(3)], 1)
    assert [r.text() for r in results] == ["first", "a 1", "a 2"]  # type: ignore[union-attr]
    assert rec.arrivals[1] - rec.arrivals[0] >= 0.5


def test_tiny_batches_run_on_the_calling_thread(server: LoopbackServer) -> None:
    server.responder = Recorder("a")
    seen: set[int] = set()
    client = Client(
        openai_compatible(server.base_url + "/v1"),
        options=OPTIONS,
        on_payload=lambda req, prov: seen.add(threading.get_ident()),
    )
    results = client.chat_completion_batch_smart(requests_for(2))
    assert [r.text() for r in results] == ["a 0", "a 1"]  # type: ignore[union-attr]
    assert seen == {threading.get_ident()}
    seen.clear()
    client.chat_completion_batch_smart(requests_for(6))
    assert threading.get_ident() not in seen


def test_a_bad_limit_is_refused(server: LoopbackServer) -> None:
    client = client_on(server, "a")
    with pytest.raises(ConfigurationError, match="concurrency"):
        batch_smart([(client, r) for r in requests_for(5)], {"a": 0})


def response(status: int, **headers: str) -> HttpResponse:
    return HttpResponse(status, headers, b"", "http://127.0.0.1/")


@pytest.mark.parametrize(
    ("resp", "wait"),
    [
        (response(200), None),
        (response(200, **{"x-ratelimit-remaining-requests": "3"}), None),
        (
            response(
                200,
                **{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"},
            ),
            360.0,
        ),
        (
            response(
                200,
                **{
                    "x-ratelimit-remaining-tokens": "0",
                    "x-ratelimit-reset-tokens": "1m30.5s",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "20ms",
                },
            ),
            90.5,
        ),
        (
            response(
                200, **{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "2.5"}
            ),
            2.5,
        ),
        (
            response(
                200,
                **{
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "2026-01-01T00:00:10Z",
                },
            ),
            10.0,
        ),
        (response(429, **{"retry-after": "7"}), 7.0),
        (response(429, **{"retry-after-ms": "250"}), 0.25),
        (
            response(
                429,
                **{"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "3s"},
            ),
            3.0,
        ),
        (response(429), 1.0),
        (
            response(
                200, **{"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "soon"}
            ),
            None,
        ),
    ],
)
def test_rate_limit_wait_reads_the_headers(resp: HttpResponse, wait: float | None) -> None:
    now = 1767225600.0  # 2026-01-01T00:00:00Z
    assert (
        rate_limit_wait(resp, now) == pytest.approx(wait)
        if wait is not None
        else (rate_limit_wait(resp, now) is None)
    )
