#!/usr/bin/env python3
"""Client-side overhead of llmcore vs raw ``requests`` vs the ``openai`` SDK vs LiteLLM.

Every client talks to the same loopback server, which this script starts itself in a child
process (a threaded stdlib ``http.server`` on 127.0.0.1, HTTP/1.1 keep-alive). The server sends
the same canned bytes to every client: one ``chat.completion`` JSON document, or an SSE stream
of 50 chunks ending in ``data: [DONE]``. The server is identical for every column, so the
differences between columns are what each client library costs on the calling side.

Scenarios (the clients are interleaved block by block so that machine noise spreads evenly):

1. non-streamed calls: ``--n`` sequential calls after a warm-up; median, p95, calls/s;
2. streamed calls: time to the first non-empty text delta and to the end of the stream;
3. batch: 64 requests on 8 threads (llmcore's ``chat_completion_batch``, a
   ``ThreadPoolExecutor`` over the others), wall time per batch and requests/s.

Each client uses one client object (one connection pool) for the whole run; the server counts
the connections each client opened. Every answer's text is checked. Results are printed as a
table (absolute numbers and ratios to raw ``requests``) and written to
``bench/results/<timestamp>.json``. Only 127.0.0.1 is ever contacted: an audit hook refuses any
other connect or DNS lookup, and the run reports any attempt it blocked.

    python bench/bench_client.py            # full run
    python bench/bench_client.py --quick    # a smoke run (seconds)
    tox -e bench -- --n 1000
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import gc
import http.server
import importlib.metadata
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Before any client library is imported (they are imported lazily, per column): LiteLLM fetches
# its model cost map from GitHub at import time unless told to use the bundled copy, and nobody
# gets to phone home from a benchmark.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["LITELLM_TELEMETRY"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
for _var in ("NO_PROXY", "no_proxy"):  # never route loopback traffic through a proxy
    os.environ[_var] = ",".join(filter(None, [os.environ.get(_var, ""), "127.0.0.1,localhost"]))

HERE = Path(__file__).resolve().parent
MODEL = "bench-model"
API_KEY = "sk-bench-not-a-real-key"
PROMPT = "Say hello to the benchmark."
BATCH_SIZE = 64
BATCH_THREADS = 8
ALL_CLIENTS = ("requests", "llmcore", "openai", "litellm")
SCENARIOS = ("nonstream", "stream", "batch")
SERVER_KEYS = ("requests", "streams", "connections", "busy_us")
BASELINE = "requests"

# --- the canned answers ---------------------------------------------------------------------------
REPLY_TEXT = (
    "Hello! This is the loopback benchmark server answering with the same canned completion "
    "for every client, so that the only thing that differs between the columns is the work "
    "each client library does on its own side of the socket: building the request, sending "
    "it, reading the response and turning it into objects."
)
_SENTENCE = (
    "Streaming hello from the loopback benchmark server: every client receives exactly these "
    "bytes, split into small server-sent events the way a real model emits tokens, and has to "
    "reassemble them into the same text before the benchmark accepts its timing as real work "
    "done by the client."
)
_WORDS = _SENTENCE.split(" ")
STREAM_PIECES = [_WORDS[0]] + [" " + w for w in _WORDS[1:]]
STREAM_TEXT = "".join(STREAM_PIECES)
CREATED = 1_700_000_000


def _completion_json() -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY_TEXT},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 64, "total_tokens": 76},
    }
    return json.dumps(body).encode()


def _stream_events() -> list[bytes]:
    """The SSE events, one per element: role, one per piece, finish, usage, ``[DONE]``."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }

    objs = [chunk({"role": "assistant", "content": ""})]
    objs += [chunk({"content": piece}) for piece in STREAM_PIECES]
    objs.append(chunk({}, "stop"))
    usage = {"prompt_tokens": 12, "completion_tokens": len(STREAM_PIECES), "total_tokens": 0}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    last = chunk({}, usage=usage)
    last["choices"] = []
    objs.append(last)
    events = [b"data: " + json.dumps(o).encode() + b"\n\n" for o in objs]
    events.append(b"data: [DONE]\n\n")
    return events


COMPLETION_BODY = _completion_json()
SSE_EVENTS = _stream_events()


# --- loopback guard -------------------------------------------------------------------------------
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
BLOCKED: list[str] = []
_guard_installed = False


def install_loopback_guard() -> None:
    """Refuse (and record) every connect or DNS lookup that is not for 127.0.0.1.

    An audit hook cannot be removed: once installed it stays for the life of the process.
    """
    global _guard_installed
    if _guard_installed:
        return
    _guard_installed = True

    def host_of(value: Any) -> str | None:
        if isinstance(value, bytes):
            return value.decode(errors="replace")
        return value if isinstance(value, str) else None

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.getaddrinfo":
            host = host_of(args[0])
            if host is not None and host not in LOOPBACK:
                BLOCKED.append(f"DNS lookup of {host}")
                raise OSError(f"bench: refused DNS lookup of {host!r} (loopback only)")
        elif event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple) and host_of(address[0]) not in LOOPBACK:
                BLOCKED.append(f"connect to {address[0]}:{address[1]}")
                raise ConnectionRefusedError(f"bench: refused connect to {address!r}")

    sys.addaudithook(hook)


# --- the server (runs in a child process: it must not share the clients' GIL) --------------------
class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.streams = 0
        self.connections = 0
        self.busy_us = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counters = _Counters()
    _counted = False

    def setup(self) -> None:
        super().setup()
        # Small SSE writes must leave at once (Nagle + delayed ACK would add ~40 ms stalls).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/__stats":
            c = self.counters
            with c.lock:
                stats = {
                    "requests": c.requests,
                    "streams": c.streams,
                    "connections": c.connections,
                    "busy_us": c.busy_us,
                }
            self._send(200, json.dumps(stats).encode())
        else:
            self._send(404, b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        started = time.perf_counter()
        try:
            self._answer()
        finally:
            busy = int((time.perf_counter() - started) * 1e6)
            with self.counters.lock:
                self.counters.busy_us += busy

    def _answer(self) -> None:
        raw = self._read_body()
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, b'{"error": {"message": "not found"}}')
            return
        stream = json.loads(raw).get("stream") is True
        c = self.counters
        with c.lock:
            c.requests += 1
            c.streams += stream
            if not self._counted:
                self._counted = True
                c.connections += 1
        if not stream:
            self._send(200, COMPLETION_BODY)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in SSE_EVENTS:  # one HTTP chunk, one write, per event
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")


def serve() -> None:
    """Child-process entry point: listen on an ephemeral port, print it, serve until killed."""
    install_loopback_guard()
    http.server.ThreadingHTTPServer.request_queue_size = 128
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.5)


class LoopbackServer:
    """The server child process (started with this interpreter and this file)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"the loopback server did not start (said {line!r})")
        self.port = int(line.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, int]:
        url = f"http://127.0.0.1:{self.port}/__stats"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return dict(json.load(resp))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the clients ----------------------------------------------------------------------------------
@dataclass
class BenchClient:
    """One library under test: a non-streamed call, a stream of text deltas, a batch."""

    name: str
    version: str
    call: Callable[[], str]
    stream: Callable[[], Iterator[str]]
    close: Callable[[], None]
    batch: Callable[[int, int], list[str]] | None = None

    def run_batch(self, size: int, threads: int) -> list[str]:
        if self.batch is not None:
            return self.batch(size, threads)
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            futures = [pool.submit(self.call) for _ in range(size)]
            return [f.result() for f in futures]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def make_requests(base_url: str) -> BenchClient:
    """The baseline: one ``requests.Session``, ``json=`` in, ``.json()`` out, SSE by hand."""
    import requests

    session = requests.Session()
    url = f"{base_url}/chat/completions"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    messages = [{"role": "user", "content": PROMPT}]

    def call() -> str:
        resp = session.post(url, json={"model": MODEL, "messages": messages}, headers=headers)
        resp.raise_for_status()
        return str(resp.json()["choices"][0]["message"]["content"])

    def stream() -> Iterator[str]:
        payload = {"model": MODEL, "messages": messages, "stream": True}
        with session.post(url, json=payload, headers=headers, stream=True) as resp:
            resp.raise_for_status()
            # Read to the end (past [DONE]) so the connection goes back to the pool.
            for line in resp.iter_lines():
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    continue
                for choice in json.loads(data)["choices"]:
                    content = choice["delta"].get("content")
                    if content:
                        yield content

    return BenchClient("requests", _version("requests"), call, stream, session.close)


def make_llmcore(base_url: str) -> BenchClient:
    import llmcore
    from llmcore_openai import openai_compatible

    client = llmcore.Client(openai_compatible(base_url), api_key=API_KEY)
    request = llmcore.ChatCompletionRequest(MODEL, [llmcore.Message.user(PROMPT)])

    def call() -> str:
        return client.chat_completion(request).text()

    def stream() -> Iterator[str]:
        with client.chat_completion_stream(request) as chunks:
            for chunk in chunks:
                text = chunk.text()
                if text:
                    yield text

    def batch(size: int, threads: int) -> list[str]:
        results = client.chat_completion_batch([request] * size, concurrency=threads)
        texts = []
        for result in results:
            if isinstance(result, llmcore.LlmError):
                raise result
            texts.append(result.text())
        return texts

    return BenchClient("llmcore", llmcore.__version__, call, stream, client.close, batch)


def make_openai(base_url: str) -> BenchClient:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=API_KEY)
    messages: Any = [{"role": "user", "content": PROMPT}]

    def call() -> str:
        resp = client.chat.completions.create(model=MODEL, messages=messages)
        return resp.choices[0].message.content or ""

    def stream() -> Iterator[str]:
        with client.chat.completions.create(model=MODEL, messages=messages, stream=True) as chunks:
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

    return BenchClient("openai", openai.__version__, call, stream, client.close)


def make_litellm(base_url: str) -> BenchClient:
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    model = f"openai/{MODEL}"
    messages = [{"role": "user", "content": PROMPT}]
    kwargs: dict[str, Any] = {"model": model, "api_base": base_url, "api_key": API_KEY}

    def call() -> str:
        resp: Any = litellm.completion(messages=messages, **kwargs)
        return str(resp.choices[0].message.content)

    def stream() -> Iterator[str]:
        resp: Any = litellm.completion(messages=messages, stream=True, **kwargs)
        for chunk in resp:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    # LiteLLM keeps its (openai SDK) client in a module-level cache: that is its pool.
    return BenchClient("litellm", _version("litellm"), call, stream, lambda: None)


FACTORIES: dict[str, Callable[[str], BenchClient]] = {
    "requests": make_requests,
    "llmcore": make_llmcore,
    "openai": make_openai,
    "litellm": make_litellm,
}


# --- measuring ------------------------------------------------------------------------------------
class WrongAnswer(Exception):
    """A client returned something else than the canned text: its timing would be meaningless."""


def _check(client: str, what: str, got: str, expected: str) -> None:
    if got != expected:
        raise WrongAnswer(f"{client} {what}: expected {expected[:40]!r}..., got {got[:80]!r}")


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _p95(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def _settle() -> None:
    """Between blocks: let background work (e.g. LiteLLM's logging threads) finish, collect."""
    time.sleep(0.05)
    gc.collect()


@dataclass
class Samples:
    call: list[float] = field(default_factory=list)
    call_wall: float = 0.0
    call_cpu: float = 0.0
    ttfc: list[float] = field(default_factory=list)
    stream_total: list[float] = field(default_factory=list)
    stream_cpu: float = 0.0
    batch: list[float] = field(default_factory=list)
    batch_cpu: float = 0.0


def time_calls(client: BenchClient, count: int, out: Samples) -> None:
    clock = time.perf_counter
    cpu0 = time.process_time()
    start = clock()
    for _ in range(count):
        t0 = clock()
        text = client.call()
        out.call.append(clock() - t0)
        _check(client.name, "non-streamed call", text, REPLY_TEXT)
    out.call_wall += clock() - start
    out.call_cpu += time.process_time() - cpu0


def time_streams(client: BenchClient, count: int, out: Samples) -> None:
    clock = time.perf_counter
    cpu0 = time.process_time()
    for _ in range(count):
        pieces: list[str] = []
        first = None
        t0 = clock()
        for piece in client.stream():
            if first is None:
                first = clock()
            pieces.append(piece)
        end = clock()
        _check(client.name, "stream", "".join(pieces), STREAM_TEXT)
        assert first is not None
        out.ttfc.append(first - t0)
        out.stream_total.append(end - t0)
    out.stream_cpu += time.process_time() - cpu0


def time_batch(client: BenchClient, out: Samples) -> None:
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    texts = client.run_batch(BATCH_SIZE, BATCH_THREADS)
    out.batch.append(time.perf_counter() - t0)
    out.batch_cpu += time.process_time() - cpu0
    if len(texts) != BATCH_SIZE:
        raise WrongAnswer(f"{client.name} batch: {len(texts)} results for {BATCH_SIZE} requests")
    for text in texts:
        _check(client.name, "batch item", text, REPLY_TEXT)


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass
class Plan:
    n: int
    stream_n: int
    warmup: int
    blocks: int
    batch_rounds: int


def make_plan(n: int | None, quick: bool) -> Plan:
    if quick:
        n = n or 40
        return Plan(n, n, warmup=5, blocks=2, batch_rounds=2)
    n = n or 500
    return Plan(n, n, warmup=max(10, n // 20), blocks=5, batch_rounds=7)


def run(
    server: LoopbackServer, names: Sequence[str], plan: Plan, log: Callable[[str], None]
) -> dict[str, Any]:
    """Build the clients, warm them up, run the three scenarios interleaved; per-client stats."""
    clients: dict[str, BenchClient] = {}
    status: dict[str, str] = {}
    for name in names:
        try:
            clients[name] = FACTORIES[name](server.base_url)
            status[name] = "ok"
        except ImportError as exc:
            status[name] = "not installed"
            log(f"  {name}: not installed ({exc})")
    samples = {name: Samples() for name in clients}
    # What the server saw, per client and scenario (warm-up included).
    seen = {name: {sc: dict.fromkeys(SERVER_KEYS, 0) for sc in SCENARIOS} for name in clients}

    def guarded(name: str, scenario: str, step: Callable[[], None]) -> None:
        if status[name] != "ok":
            return
        s0 = server.stats()
        try:
            step()
        except Exception as exc:
            status[name] = f"FAILED: {type(exc).__name__}: {exc}"
            log(f"  {name}: {status[name]}")
        s1 = server.stats()
        for key in SERVER_KEYS:
            seen[name][scenario][key] += s1[key] - s0[key]

    order = list(clients)
    log(f"warm-up: {plan.warmup} calls, {plan.warmup} streams, 1 batch per client")
    for name in order:
        client = clients[name]
        guarded(name, "nonstream", lambda c=client: time_calls(c, plan.warmup, Samples()))
        guarded(name, "stream", lambda c=client: time_streams(c, plan.warmup, Samples()))
        guarded(name, "batch", lambda c=client: time_batch(c, Samples()))

    def interleaved(scenario: str, blocks: int, step: Callable[[BenchClient, int], None]) -> None:
        for block in range(blocks):
            rotated = order[block % len(order) :] + order[: block % len(order)] if order else []
            for name in rotated:
                _settle()
                guarded(name, scenario, lambda n=name, b=block: step(clients[n], b))
            log(f"  {scenario}: block {block + 1}/{blocks} done")

    calls = _split(plan.n, plan.blocks)
    streams = _split(plan.stream_n, plan.blocks)
    log(f"scenario 1: {plan.n} non-streamed calls per client, {plan.blocks} interleaved blocks")
    interleaved("nonstream", plan.blocks, lambda c, b: time_calls(c, calls[b], samples[c.name]))
    log(f"scenario 2: {plan.stream_n} streamed calls per client")
    interleaved("stream", plan.blocks, lambda c, b: time_streams(c, streams[b], samples[c.name]))
    log(f"scenario 3: {plan.batch_rounds} batches of {BATCH_SIZE} on {BATCH_THREADS} threads")
    interleaved("batch", plan.batch_rounds, lambda c, _b: time_batch(c, samples[c.name]))

    for client in clients.values():
        client.close()

    out: dict[str, Any] = {}
    for name in names:
        entry: dict[str, Any] = {"status": status[name]}
        if name in clients:
            entry["version"] = clients[name].version
        if status[name] == "ok":
            s = samples[name]
            entry["nonstream"] = {
                "calls": len(s.call),
                "median_ms": _ms(statistics.median(s.call)),
                "p95_ms": _ms(_p95(s.call)),
                "mean_ms": _ms(statistics.fmean(s.call)),
                "min_ms": _ms(min(s.call)),
                "calls_per_s": len(s.call) / s.call_wall,
                "cpu_ms_per_call": _ms(s.call_cpu / len(s.call)),
            }
            entry["stream"] = {
                "streams": len(s.ttfc),
                "chunks_per_stream": len(SSE_EVENTS),
                "ttfc_median_ms": _ms(statistics.median(s.ttfc)),
                "ttfc_p95_ms": _ms(_p95(s.ttfc)),
                "total_median_ms": _ms(statistics.median(s.stream_total)),
                "total_p95_ms": _ms(_p95(s.stream_total)),
                "cpu_ms_per_stream": _ms(s.stream_cpu / len(s.ttfc)),
            }
            entry["batch"] = {
                "batches": len(s.batch),
                "size": BATCH_SIZE,
                "threads": BATCH_THREADS,
                "median_ms": _ms(statistics.median(s.batch)),
                "min_ms": _ms(min(s.batch)),
                "requests_per_s": BATCH_SIZE / statistics.median(s.batch),
                "cpu_ms_per_request": _ms(s.batch_cpu / (BATCH_SIZE * len(s.batch))),
            }
            entry["server"] = seen[name]
            for counts in seen[name].values():
                counts["busy_us_per_request"] = round(
                    counts["busy_us"] / max(1, counts["requests"])
                )
            expected = {
                "nonstream": plan.warmup + plan.n,
                "stream": plan.warmup + plan.stream_n,
                "batch": BATCH_SIZE * (plan.batch_rounds + 1),
            }
            for scenario, count in expected.items():
                got = seen[name][scenario]["requests"]
                if got != count:
                    entry["status"] = status[name] = (
                        f"FAILED: the server saw {got} {scenario} requests, expected {count}"
                    )
        out[name] = entry
    return out


# --- reporting ------------------------------------------------------------------------------------
ROWS: list[tuple[str, str, str, str]] = [
    # label, scenario, key, unit ("ms" = lower is better, "/s" = higher is better)
    ("non-streamed: median", "nonstream", "median_ms", "ms"),
    ("non-streamed: p95", "nonstream", "p95_ms", "ms"),
    ("non-streamed: calls/s", "nonstream", "calls_per_s", "/s"),
    ("non-streamed: client CPU per call", "nonstream", "cpu_ms_per_call", "ms"),
    ("stream: first chunk, median", "stream", "ttfc_median_ms", "ms"),
    ("stream: first chunk, p95", "stream", "ttfc_p95_ms", "ms"),
    ("stream: whole stream, median", "stream", "total_median_ms", "ms"),
    ("stream: whole stream, p95", "stream", "total_p95_ms", "ms"),
    ("stream: client CPU per stream", "stream", "cpu_ms_per_stream", "ms"),
    (f"batch {BATCH_SIZE}x{BATCH_THREADS} threads: median", "batch", "median_ms", "ms"),
    (f"batch {BATCH_SIZE}x{BATCH_THREADS} threads: req/s", "batch", "requests_per_s", "/s"),
    ("batch: client CPU per request", "batch", "cpu_ms_per_request", "ms"),
]


def _fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"
    return f"{value:,.0f}/s"


def build_table(clients: dict[str, Any]) -> list[list[str]]:
    """Rows of cells: the header, one row per metric, overhead rows, connections."""
    names = list(clients)
    base = clients.get(BASELINE, {})
    base_ok = base.get("status") == "ok"
    header = ["metric"] + [
        f"{n} {clients[n]['version']}" if "version" in clients[n] else n for n in names
    ]
    table = [header]
    for label, scenario, key, unit in ROWS:
        row = [label]
        for name in names:
            entry = clients[name]
            if entry["status"] != "ok":
                row.append(entry["status"] if len(entry["status"]) < 40 else "FAILED")
                continue
            value = entry[scenario][key]
            cell = _fmt(value, unit)
            if base_ok:
                cell += f" ({value / base[scenario][key]:.2f}x)"
            row.append(cell)
        table.append(row)
    for label, scenario, key in (
        ("non-streamed: overhead vs raw (median)", "nonstream", "median_ms"),
        ("stream: overhead vs raw (median)", "stream", "total_median_ms"),
    ):
        row = [label]
        for name in names:
            entry = clients[name]
            if entry["status"] != "ok" or not base_ok:
                row.append("-")
                continue
            delta_us = (entry[scenario][key] - base[scenario][key]) * 1000
            row.append(f"{delta_us:+,.0f} us")
        table.append(row)
    row = ["TCP connections opened: calls/streams/batches"]
    for name in names:
        entry = clients[name]
        if entry["status"] != "ok":
            row.append("-")
            continue
        row.append(" / ".join(str(entry["server"][sc]["connections"]) for sc in SCENARIOS))
    table.append(row)
    return table


def format_text(table: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(table[0]) + " |", "|---" + "|---:" * (len(table[0]) - 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    return "\n".join(lines)


def source_info() -> dict[str, Any]:
    """The llmcore commit measured, and whether the core or plugin sources differ from it."""
    root = HERE.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    changed = git("status", "--porcelain", "--", "core_pkg", "plugins")
    return {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted_changes": changed.splitlines() if changed else [],
    }


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "usable_cpus": affinity,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "libraries": {
            d: _version(d)
            for d in (
                "llmcore",
                "llmcore-openai",
                "requests",
                "urllib3",
                "openai",
                "httpx",
                "litellm",
            )
        },
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, default=None, help="timed calls and streams per client (default 500)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: n=40, fewer blocks and batches"
    )
    parser.add_argument(
        "--clients",
        default=",".join(ALL_CLIENTS),
        help=f"comma-separated subset of {','.join(ALL_CLIENTS)}",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=HERE / "results", help="where the JSON goes"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.n is not None and args.n < 1:
        parser.error("--n must be >= 1")
    names = [n.strip() for n in args.clients.split(",") if n.strip()]
    unknown = [n for n in names if n not in FACTORIES]
    if unknown or not names:
        parser.error(f"--clients: unknown {unknown}; choose from {', '.join(ALL_CLIENTS)}")
    args.client_names = names
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve()
        return 0
    install_loopback_guard()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    plan = make_plan(args.n, args.quick)
    started = datetime.datetime.now(datetime.timezone.utc)
    info = machine_info()
    server = LoopbackServer()
    log(f"loopback server at {server.base_url} (pid {server.proc.pid})")
    try:
        results = run(server, args.client_names, plan, log)
    finally:
        server.close()
    info["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    table = build_table(results)
    text = format_text(table)
    report = {
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(
            (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1
        ),
        "machine": info,
        "source": source_info(),
        "plan": vars(plan) | {"batch_size": BATCH_SIZE, "batch_threads": BATCH_THREADS},
        "baseline": BASELINE,
        "payload": {
            "completion_bytes": len(COMPLETION_BODY),
            "sse_events": len(SSE_EVENTS),
            "sse_bytes": sum(len(e) for e in SSE_EVENTS),
        },
        "blocked_network_attempts": BLOCKED,
        "clients": results,
        "table": table,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print()
    commit = (report["source"]["commit"] or "?")[:10]
    dirty = " + uncommitted changes" if report["source"]["uncommitted_changes"] else ""
    print(
        f"Python {info['python']} on {info['cpu']} ({info['usable_cpus']} usable CPUs), "
        f"llmcore at {commit}{dirty}; n={plan.n} calls and streams per client, "
        f"{plan.batch_rounds} batches of {BATCH_SIZE}"
    )
    print("Ratios are relative to raw requests: for ms lower is better, for /s higher is better.")
    print()
    print(text)
    if args.markdown:
        print()
        print(format_markdown(table))
    print()
    if BLOCKED:
        print(f"WARNING: refused {len(BLOCKED)} non-loopback network attempts: {BLOCKED[:5]}")
    failed = {n: e["status"] for n, e in results.items() if e["status"].startswith("FAILED")}
    for name, why in failed.items():
        print(f"{name}: {why}")
    print(f"results: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
