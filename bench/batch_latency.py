#!/usr/bin/env python3
"""Where a batch's time goes: each request's latency as its worker thread sees it (S5's setup).

S5 (``bench_client.py``) reports a batch's wall time against the ideal. This script runs the
same batch (200 requests, 16 workers, a server answering after 50 ms: ``bench_server.py``'s
``bench-slow`` model) several times in one process per client and records, for every request,
the time from just before it is sent to the end of its answer, on its worker thread. A client
whose requests take 50 ms plus its own work reaches the ideal; a wait for the interpreter lock
once the answer has arrived shows up as latency above 50 ms. Clients:

- ``floor``: the harness's raw-socket client (one ``sendall``, a few ``recv``);
- ``requests``: a ``requests.Session`` over a ``ThreadPoolExecutor(16)``;
- ``llmcore``: ``Client.chat_completion_batch(requests, concurrency=16)``, timed by the
  client's ``on_payload`` and ``on_response`` hooks.

    python bench/batch_latency.py            # 5 batches per client
    python bench/batch_latency.py --batches 9

Only 127.0.0.1 is contacted. Run it on a quiet machine: every figure is wall-clock time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchdata as bd
from bench_client import LoopbackServer

N, CONCURRENCY = 200, 16
IDEAL_S = math.ceil(N / CONCURRENCY) * bd.SLOW_LATENCY_S

Batch = Callable[[list[str]], list[str]]


def floor(url: str, latencies: list[float]) -> Batch:
    import worker

    client = worker.Floor(url)
    post = client._post

    def timed(path: str, payload: dict[str, object]) -> bytes:
        started = time.perf_counter()
        body = post(path, payload)
        latencies.append(time.perf_counter() - started)
        return body

    client._post = timed  # type: ignore[method-assign]
    return lambda prompts: client.batch(bd.SLOW_MODEL, prompts, CONCURRENCY)


def raw_requests(url: str, latencies: list[float]) -> Batch:
    import requests

    session = requests.Session()

    def one(prompt: str) -> str:
        payload = {"model": bd.SLOW_MODEL, "messages": [{"role": "user", "content": prompt}]}
        started = time.perf_counter()
        response = session.post(f"{url}/v1/chat/completions", json=payload, timeout=30)
        response.raise_for_status()
        text = response.json()["choices"][0]["message"]["content"]
        latencies.append(time.perf_counter() - started)
        return str(text)

    def run(prompts: list[str]) -> list[str]:
        with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
            return list(pool.map(one, prompts))

    return run


def llmcore_batch(url: str, latencies: list[float]) -> Batch:
    from llmcore import ChatCompletionRequest, ChatCompletionResponse, Client, Message
    from llmcore_openai import openai_compatible

    started = threading.local()

    def on_payload(request: object, provider: object) -> None:
        started.at = time.perf_counter()

    def on_response(response: object, provider: object) -> None:
        latencies.append(time.perf_counter() - started.at)

    client = Client(
        openai_compatible(f"{url}/v1"),
        api_key=bd.API_KEY,
        on_payload=on_payload,
        on_response=on_response,
    )

    def run(prompts: list[str]) -> list[str]:
        batch = [ChatCompletionRequest(bd.SLOW_MODEL, [Message.user(p)]) for p in prompts]
        results = client.chat_completion_batch(batch, concurrency=CONCURRENCY)
        assert all(isinstance(r, ChatCompletionResponse) for r in results)
        return [r.text() for r in results]  # type: ignore[union-attr]

    return run


CLIENTS = {"floor": floor, "requests": raw_requests, "llmcore": llmcore_batch}


def measure(name: str, url: str, batches: int) -> dict[str, float]:
    latencies: list[float] = []
    run = CLIENTS[name](url, latencies)
    warm = [f"warm-up {i}" for i in range(CONCURRENCY)]
    run(warm)
    latencies.clear()
    walls = []
    for b in range(batches):
        prompts = [f"request {b}-{i}" for i in range(N)]
        t0 = time.perf_counter()
        texts = run(prompts)
        walls.append(time.perf_counter() - t0)
        assert texts == [bd.slow_reply(p) for p in prompts], f"{name}: wrong answers"
    deciles = statistics.quantiles(latencies, n=10)
    return {
        "x_ideal": statistics.median(walls) / IDEAL_S,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p90_ms": deciles[8] * 1e3,
        "max_ms": max(latencies) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=5, help="batches per client (5)")
    args = parser.parse_args()
    bd.install_loopback_guard()
    print(f"{N} requests, {CONCURRENCY} workers, {bd.SLOW_LATENCY_S * 1e3:.0f} ms server latency")
    print("client      x ideal   latency p50   p90     max (ms, per request)")
    with LoopbackServer() as server:
        for name in CLIENTS:
            r = measure(name, server.url, args.batches)
            print(
                f"{name:10s} {r['x_ideal']:7.3f}  {r['p50_ms']:10.2f} {r['p90_ms']:6.2f}"
                f" {r['max_ms']:7.2f}"
            )


if __name__ == "__main__":
    main()
