#!/usr/bin/env python3
"""Batch wall time against the ideal: 200 requests, concurrency 16, a server answering in 50 ms.

The server is the loopback test server (``tests/integration/loopback.py``, 127.0.0.1 only),
run in a child process (so that it never competes with the clients for the GIL), answering
every ``POST /v1/chat/completions`` after 50 ms. The ideal wall time is
``ceil(200 / 16) * 50 ms`` (= 650 ms): 13 rounds of 16 requests, nothing else. Two columns:

- ``llmcore``: ``Client.chat_completion_batch(requests, concurrency=16)`` on a client with the
  default ``pool_size`` (10): the batch grows the pool to 16 for its duration;
- ``requests``: a plain ``ThreadPoolExecutor(16)`` over one ``requests.Session`` (its default
  pool of 10 connections per host).

Each column runs ``--rounds`` times (after one warm-up); the median is reported with the ratio
to the ideal and the number of TCP connections the server saw (a churning pool opens many).

    python bench/bench_batch.py
    python bench/bench_batch.py --rounds 9 --requests 400
"""

from __future__ import annotations

import argparse
import concurrent.futures
import math
import multiprocessing
import multiprocessing.connection
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))

import requests
from loopback import LoopbackServer, Reply

from llmcore import ChatCompletionRequest, ChatCompletionResponse, Client, Message
from llmcore_openai import openai_compatible

ANSWER = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "model": "bench",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


def serve(latency: float, conn: multiprocessing.connection.Connection) -> None:
    """The child process: serve until told to stop, answering requests for connection counts."""
    with LoopbackServer() as server:
        server.add("POST", "/v1/chat/completions", Reply.json(ANSWER).after(latency))
        conn.send(server.base_url)
        while True:
            if conn.recv() == "stop":
                return
            conn.send(len({r.connection_id for r in server.requests}))


def llmcore_batch(base_url: str, count: int, concurrency: int) -> Callable[[], None]:
    client = Client(openai_compatible(base_url + "/v1"))
    batch = [ChatCompletionRequest("bench", [Message.user(str(i))]) for i in range(count)]

    def run() -> None:
        results = client.chat_completion_batch(batch, concurrency=concurrency)
        assert all(isinstance(r, ChatCompletionResponse) and r.text() == "ok" for r in results)

    return run


def requests_pool(base_url: str, count: int, concurrency: int) -> Callable[[], None]:
    session = requests.Session()
    url = base_url + "/v1/chat/completions"

    def one(i: int) -> str:
        body = {"model": "bench", "messages": [{"role": "user", "content": str(i)}]}
        resp = session.post(url, json=body, timeout=10)
        resp.raise_for_status()
        return str(resp.json()["choices"][0]["message"]["content"])

    def run() -> None:
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            assert all(text == "ok" for text in pool.map(one, range(count)))

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.05, help="server delay, seconds")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    ideal = math.ceil(args.requests / args.concurrency) * args.latency
    print(
        f"{args.requests} requests, concurrency {args.concurrency}, server answers after "
        f"{args.latency * 1000:.0f} ms; ideal wall time {ideal * 1000:.0f} ms"
    )
    print(f"{'column':<10} {'median ms':>10} {'x ideal':>8} {'min ms':>8} {'connections':>12}")
    here, there = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(target=serve, args=(args.latency, there))
    child.start()
    try:
        base_url = here.recv()
        for name, make in (("llmcore", llmcore_batch), ("requests", requests_pool)):
            run = make(base_url, args.requests, args.concurrency)
            run()  # warm-up: the pool fills
            here.send("count")
            before = here.recv()
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                run()
                times.append(time.perf_counter() - start)
            here.send("count")
            opened = here.recv() - before
            median = statistics.median(times)
            print(
                f"{name:<10} {median * 1000:>10.0f} {median / ideal:>8.3f} "
                f"{min(times) * 1000:>8.0f} {opened:>12}"
            )
    finally:
        here.send("stop")
        child.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
