#!/usr/bin/env python3
"""One (scenario, client) measurement in a fresh process; prints one ``BENCH-RESULT {json}`` line.

    python bench/worker.py S3 llmcore --url http://127.0.0.1:PORT [--n 300] [--chunks 20000]

The orchestrator (``bench_client.py``) starts the server and one of these per repetition;
run one by hand to look at a single figure (or to profile it: ``python -m cProfile -s
cumulative bench/worker.py S3 llmcore --url ...``).

Before its clock starts this process has imported only ``os``, ``sys``, ``time`` and
``benchdata`` (which imports nothing), so the cold-start scenario charges each client for
every module it loads. Everything else (``json``, ``concurrent.futures``...) is imported after
the clock stops, or inside the client adapters, which import what they use themselves.

Every text a client returns is compared with what the server sent; a mismatch is a FAILED
result, never a timing. The environment (set by the orchestrator) points the libraries that
read one at the server: ``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``, ``LLM_USER_PATH`` (for
simonw/llm's ``extra-openai-models.yaml``); LiteLLM's cost-map fetch and telemetry are off.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchdata as bd

# Before any client library is imported: LiteLLM fetches its model cost map from GitHub at
# import time unless told to use its bundled copy, and nobody phones home from a benchmark.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("ANY_LLM_DISABLE_TELEMETRY", "1")
for _var in ("NO_PROXY", "no_proxy"):
    os.environ[_var] = ",".join(filter(None, [os.environ.get(_var, ""), "127.0.0.1,localhost"]))
bd.install_loopback_guard()

SHORT = 8  # chunks in a short stream (warm-ups, S4)
MAX_TOKENS = 1024  # for the APIs that require it


class NotApplicable(Exception):
    """This client cannot do this scenario (reported as n/a with the reason)."""


class WrongAnswer(Exception):
    """A client returned another text than the server sent: its timing would be meaningless."""


def check(what: str, got: object, expected: str) -> None:
    if got != expected:
        shown = got[:80] if isinstance(got, str) else got
        raise WrongAnswer(f"{what}: expected {expected[:40]!r}..., got {shown!r}")


def user(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


# --- the clients ---------------------------------------------------------------------------------
# Each adapter imports its library in __init__ and builds one client object (one pool) the way
# the library's documentation shows. ``call`` is one non-streamed call, ``stream`` yields the
# text deltas of one OpenAI-protocol stream, ``anthropic_stream`` of one Messages API stream,
# ``batch`` runs calls concurrently (a plain thread pool unless the library has a batch helper).
class Adapter:
    dist: str | None = None  # the distribution whose version is reported

    def __init__(self, url: str) -> None:
        self.url = url  # http://127.0.0.1:PORT

    def call(self, model: str, prompt: str) -> str:
        raise NotApplicable("no non-streamed call")

    def stream(self, model: str) -> object:
        raise NotApplicable("no OpenAI-protocol stream")

    def anthropic_stream(self, model: str) -> object:
        raise NotApplicable("no Anthropic Messages API stream")

    def batch(self, model: str, prompts: list[str], concurrency: int) -> list[str]:
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(lambda p: self.call(model, p), prompts))

    def close(self) -> None:
        pass


class ImportRequests(Adapter):
    """The S1 baseline: ``import requests`` alone, nothing else."""

    dist = "requests"

    def __init__(self, url: str) -> None:
        import requests  # noqa: F401

        super().__init__(url)


class Floor(Adapter):
    """A minimal HTTP/1.1 client on a plain socket: what the server and the kernel cost.

    One keep-alive socket per thread; the request bytes are formatted by hand, the response is
    read in 256 KB ``recv`` calls, de-chunked, and the texts are pulled out with one regular
    expression over the whole body (no JSON parsing of the events). Its rows show how far the
    server outruns the clients.
    """

    def __init__(self, url: str) -> None:
        import json
        import re
        import socket
        import threading

        super().__init__(url)
        self._json = json
        self._socket = socket
        self._local = threading.local()
        self.host, port = url.rsplit("//", 1)[1].split(":")
        self.port = int(port)
        self._content = re.compile(rb'"content":"((?:[^"\\]|\\.)*)"')
        self._text = re.compile(rb'"type":"text_delta","text":"((?:[^"\\]|\\.)*)"')
        self.transfer_s = 0.0
        self._sock()

    def _sock(self) -> object:
        sock = getattr(self._local, "sock", None)
        if sock is None:
            sock = self._socket.create_connection((self.host, self.port))
            sock.setsockopt(self._socket.IPPROTO_TCP, self._socket.TCP_NODELAY, 1)
            self._local.sock = sock
        return sock

    def _post(self, path: str, payload: dict[str, object]) -> bytes:
        body = self._json.dumps(payload).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {bd.API_KEY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock = self._sock()
        started = time.perf_counter()
        sock.sendall(head + body)  # type: ignore[attr-defined]
        buf = bytearray()
        recv = sock.recv  # type: ignore[attr-defined]
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += recv(262144)
        headers = bytes(buf[:end]).lower()
        if not headers.startswith(b"http/1.1 200"):
            raise RuntimeError(f"floor: {headers[:60]!r}")
        del buf[: end + 4]
        if b"transfer-encoding: chunked" in headers:
            while not buf.endswith(b"\r\n0\r\n\r\n") and buf != b"0\r\n\r\n":
                buf += recv(262144)
            self.transfer_s = time.perf_counter() - started
            out = bytearray()
            pos = 0
            while True:
                eol = buf.index(b"\r\n", pos)
                size = int(buf[pos:eol], 16)
                if size == 0:
                    return bytes(out)
                out += buf[eol + 2 : eol + 2 + size]
                pos = eol + 2 + size + 2
        length = int(headers.split(b"content-length:")[1].split(b"\r\n")[0])
        while len(buf) < length:
            buf += recv(262144)
        return bytes(buf)

    def _texts(self, pattern: object, body: bytes) -> list[str]:
        loads = self._json.loads
        return [
            m.decode() if b"\\" not in m else loads(b'"' + m + b'"')
            for m in pattern.findall(body)  # type: ignore[attr-defined]
            if m
        ]

    def call(self, model: str, prompt: str) -> str:
        body = self._post("/v1/chat/completions", {"model": model, "messages": user(prompt)})
        return "".join(self._texts(self._content, body))

    def stream(self, model: str) -> object:
        payload = {"model": model, "messages": user(bd.PROMPT), "stream": True}
        return iter(self._texts(self._content, self._post("/v1/chat/completions", payload)))

    def anthropic_stream(self, model: str) -> object:
        payload = {
            "model": model,
            "max_tokens": MAX_TOKENS,
            "messages": user(bd.PROMPT),
            "stream": True,
        }
        return iter(self._texts(self._text, self._post("/v1/messages", payload)))


class Requests(Adapter):
    """The baseline: one ``requests.Session``, ``json=`` in, ``.json()`` out, SSE by hand."""

    dist = "requests"

    def __init__(self, url: str) -> None:
        import json

        import requests

        super().__init__(url)
        self._loads = json.loads
        self.session = requests.Session()
        self.headers = {"Authorization": f"Bearer {bd.API_KEY}"}

    def call(self, model: str, prompt: str) -> str:
        resp = self.session.post(
            f"{self.url}/v1/chat/completions",
            json={"model": model, "messages": user(prompt)},
            headers=self.headers,
        )
        resp.raise_for_status()
        return str(resp.json()["choices"][0]["message"]["content"])

    def _lines(self, path: str, payload: dict[str, object], headers: dict[str, str]) -> object:
        with self.session.post(
            f"{self.url}{path}", json=payload, headers=headers, stream=True
        ) as resp:
            resp.raise_for_status()
            # Read to the end (past the last event) so the connection goes back to the pool.
            for line in resp.iter_lines():
                if line.startswith(b"data:"):
                    yield line[5:].strip()

    def stream(self, model: str) -> object:
        payload = {"model": model, "messages": user(bd.PROMPT), "stream": True}
        for data in self._lines("/v1/chat/completions", payload, self.headers):
            if data == b"[DONE]":
                continue
            for choice in self._loads(data)["choices"]:
                content = choice["delta"].get("content")
                if content:
                    yield content

    def anthropic_stream(self, model: str) -> object:
        payload = {
            "model": model,
            "max_tokens": MAX_TOKENS,
            "messages": user(bd.PROMPT),
            "stream": True,
        }
        headers = {"x-api-key": bd.API_KEY, "anthropic-version": "2023-06-01"}
        for data in self._lines("/v1/messages", payload, headers):
            event = self._loads(data)
            if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
                yield event["delta"]["text"]

    def close(self) -> None:
        self.session.close()


class SseClient(Requests):
    """requests + sseclient-py (``SSEClient(response).events()``) for the SSE parsing."""

    dist = "sseclient-py"

    def __init__(self, url: str) -> None:
        import sseclient

        super().__init__(url)
        self._sse = sseclient.SSEClient

    def _events(self, path: str, payload: dict[str, object], headers: dict[str, str]) -> object:
        with self.session.post(
            f"{self.url}{path}", json=payload, headers=headers, stream=True
        ) as resp:
            resp.raise_for_status()
            yield from self._sse(resp).events()

    def stream(self, model: str) -> object:
        payload = {"model": model, "messages": user(bd.PROMPT), "stream": True}
        for event in self._events("/v1/chat/completions", payload, self.headers):
            if event.data == "[DONE]":
                continue
            for choice in self._loads(event.data)["choices"]:
                content = choice["delta"].get("content")
                if content:
                    yield content

    def anthropic_stream(self, model: str) -> object:
        payload = {
            "model": model,
            "max_tokens": MAX_TOKENS,
            "messages": user(bd.PROMPT),
            "stream": True,
        }
        headers = {"x-api-key": bd.API_KEY, "anthropic-version": "2023-06-01"}
        for event in self._events("/v1/messages", payload, headers):
            if event.event == "content_block_delta":
                delta = self._loads(event.data)["delta"]
                if delta["type"] == "text_delta":
                    yield delta["text"]


class Llmcore(Adapter):
    """``llmcore.Client("openai")``: the provider found through the plugin entry points, its
    base URL from ``OPENAI_BASE_URL``; ``Client("anthropic")`` (``ANTHROPIC_BASE_URL``) for
    the Messages API."""

    dist = "llmcore"

    def __init__(self, url: str, protocol: str = "openai") -> None:
        import llmcore

        super().__init__(url)
        self._llmcore = llmcore
        self.client = llmcore.Client(protocol, api_key=bd.API_KEY)

    def _request(self, model: str, prompt: str) -> object:
        m = self._llmcore
        return m.ChatCompletionRequest(model, [m.Message.user(prompt)])

    def call(self, model: str, prompt: str) -> str:
        return str(self.client.chat_completion(self._request(model, prompt)).text())

    def stream(self, model: str) -> object:
        with self.client.chat_completion_stream(self._request(model, bd.PROMPT)) as chunks:
            for chunk in chunks:
                text = chunk.text()
                if text:
                    yield text

    anthropic_stream = stream

    def batch(self, model: str, prompts: list[str], concurrency: int) -> list[str]:
        requests = [self._request(model, p) for p in prompts]
        texts = []
        for result in self.client.chat_completion_batch(requests, concurrency=concurrency):
            if isinstance(result, self._llmcore.LlmError):
                raise result
            texts.append(result.text())
        return texts

    def close(self) -> None:
        self.client.close()


class OpenAISDK(Adapter):
    """The official SDK: ``openai.OpenAI(base_url=..., api_key=...)``."""

    dist = "openai"

    def __init__(self, url: str) -> None:
        import openai

        super().__init__(url)
        self.client = openai.OpenAI(base_url=f"{url}/v1", api_key=bd.API_KEY)

    def call(self, model: str, prompt: str) -> str:
        resp = self.client.chat.completions.create(model=model, messages=user(prompt))
        return resp.choices[0].message.content or ""

    def stream(self, model: str) -> object:
        with self.client.chat.completions.create(
            model=model, messages=user(bd.PROMPT), stream=True
        ) as chunks:
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content

    def close(self) -> None:
        self.client.close()


class AnthropicSDK(Adapter):
    """The official SDK: ``anthropic.Anthropic(base_url=...)``, ``messages.create(stream=True)``
    (the raw events; the ``messages.stream()`` helper also accumulates a snapshot)."""

    dist = "anthropic"

    def __init__(self, url: str, protocol: str = "anthropic") -> None:
        import anthropic

        super().__init__(url)
        self.client = anthropic.Anthropic(base_url=url, api_key=bd.API_KEY)

    def anthropic_stream(self, model: str) -> object:
        with self.client.messages.create(
            model=model, max_tokens=MAX_TOKENS, messages=user(bd.PROMPT), stream=True
        ) as events:
            for event in events:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    yield event.delta.text

    def close(self) -> None:
        self.client.close()


class LiteLLM(Adapter):
    """``litellm.completion(model="openai/<m>" or "anthropic/<m>", api_base=...)``; LiteLLM
    caches its own HTTP client between calls."""

    dist = "litellm"

    def __init__(self, url: str) -> None:
        import litellm

        super().__init__(url)
        litellm.telemetry = False
        litellm.suppress_debug_info = True
        self._completion = litellm.completion

    def call(self, model: str, prompt: str) -> str:
        resp = self._completion(
            model=f"openai/{model}",
            messages=user(prompt),
            api_base=f"{self.url}/v1",
            api_key=bd.API_KEY,
        )
        return str(resp.choices[0].message.content)

    def _chunks(self, resp: object) -> object:
        for chunk in resp:  # type: ignore[attr-defined]
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    def stream(self, model: str) -> object:
        return self._chunks(
            self._completion(
                model=f"openai/{model}",
                messages=user(bd.PROMPT),
                api_base=f"{self.url}/v1",
                api_key=bd.API_KEY,
                stream=True,
            )
        )

    def anthropic_stream(self, model: str) -> object:
        return self._chunks(
            self._completion(
                model=f"anthropic/{model}",
                messages=user(bd.PROMPT),
                api_base=self.url,
                api_key=bd.API_KEY,
                max_tokens=MAX_TOKENS,
                stream=True,
            )
        )


class SimonwLLM(Adapter):
    """simonw/llm's Python API: ``llm.get_model(id)`` for a model that ``LLM_USER_PATH``'s
    ``extra-openai-models.yaml`` (written by the orchestrator) points at the server."""

    dist = "llm"

    def __init__(self, url: str) -> None:
        import llm

        super().__init__(url)
        self._get_model = llm.get_model
        self.models: dict[str, object] = {}
        self._model(bd.MODEL)

    def _model(self, model: str) -> object:
        if model not in self.models:
            self.models[model] = self._get_model(model)
        return self.models[model]

    def call(self, model: str, prompt: str) -> str:
        m = self._model(model)
        return str(m.prompt(prompt, stream=False, key=bd.API_KEY).text())  # type: ignore[attr-defined]

    def stream(self, model: str) -> object:
        m = self._model(model)
        for piece in m.prompt(bd.PROMPT, stream=True, key=bd.API_KEY):  # type: ignore[attr-defined]
            if piece:
                yield piece


class Aisuite(Adapter):
    """``aisuite.Client({"openai": {"base_url": ..., "api_key": ...}})``, model ``openai:<m>``."""

    dist = "aisuite"

    def __init__(self, url: str) -> None:
        import aisuite

        super().__init__(url)
        self.client = aisuite.Client({"openai": {"base_url": f"{url}/v1", "api_key": bd.API_KEY}})

    def call(self, model: str, prompt: str) -> str:
        resp = self.client.chat.completions.create(model=f"openai:{model}", messages=user(prompt))
        return str(resp.choices[0].message.content)

    def stream(self, model: str) -> object:
        chunks = self.client.chat.completions.create(
            model=f"openai:{model}", messages=user(bd.PROMPT), stream=True
        )
        for chunk in chunks:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content


class AnyLLM(Adapter):
    """mozilla-ai's any-llm: ``AnyLLM.create("openai", api_key=..., api_base=...)``."""

    dist = "any-llm-sdk"

    def __init__(self, url: str) -> None:
        from any_llm import AnyLLM as Factory

        super().__init__(url)
        self.llm = Factory.create("openai", api_key=bd.API_KEY, api_base=f"{url}/v1")

    def call(self, model: str, prompt: str) -> str:
        resp = self.llm.completion(model=model, messages=user(prompt))
        return str(resp.choices[0].message.content)  # type: ignore[union-attr]

    def stream(self, model: str) -> object:
        for chunk in self.llm.completion(model=model, messages=user(bd.PROMPT), stream=True):
            if chunk.choices and chunk.choices[0].delta.content:  # type: ignore[union-attr]
                yield chunk.choices[0].delta.content  # type: ignore[union-attr]


CLIENTS: dict[str, type[Adapter]] = {
    "import-requests": ImportRequests,
    "floor": Floor,
    "requests": Requests,
    "sseclient": SseClient,
    "llmcore": Llmcore,
    "openai": OpenAISDK,
    "anthropic": AnthropicSDK,
    "litellm": LiteLLM,
    "llm": SimonwLLM,
    "aisuite": Aisuite,
    "any-llm": AnyLLM,
}


def make(name: str, url: str, protocol: str = "openai") -> Adapter:
    cls = CLIENTS[name]
    if protocol == "anthropic" and cls is Llmcore:
        return Llmcore(url, "anthropic")
    return cls(url)


# --- the scenarios -------------------------------------------------------------------------------
def s1_cold_start(name: str, url: str, opts: dict[str, int]) -> dict[str, object]:
    """Import plus a ready client, then the first (non-streamed) call, in this fresh process."""
    clock = time.perf_counter
    t0 = clock()
    client = make(name, url)
    t1 = clock()
    if name == "import-requests":
        return {"ready_ms": (t1 - t0) * 1e3, "sent": 0}
    text = client.call(bd.MODEL, bd.PROMPT)
    t2 = clock()
    check("first call", text, bd.REPLY_TEXT)
    return {
        "ready_ms": (t1 - t0) * 1e3,
        "first_call_ms": (t2 - t1) * 1e3,
        "total_ms": (t2 - t0) * 1e3,
        "sent": 1,
    }


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def s2_calls(name: str, url: str, opts: dict[str, int]) -> dict[str, object]:
    n, warm = opts["n"], 10
    client = make(name, url)
    for _ in range(warm):
        check("warm-up call", client.call(bd.MODEL, bd.PROMPT), bd.REPLY_TEXT)
    clock = time.perf_counter
    times = []
    cpu0 = time.process_time()
    start = clock()
    for _ in range(n):
        t0 = clock()
        text = client.call(bd.MODEL, bd.PROMPT)
        times.append(clock() - t0)
        check("call", text, bd.REPLY_TEXT)
    wall = clock() - start
    cpu = time.process_time() - cpu0
    client.close()
    return {
        "us_per_call": _median(times) * 1e6,
        "mean_us": wall / n * 1e6,
        "cpu_us_per_call": cpu / n * 1e6,
        "calls": n,
        "sent": warm + n,
    }


def _one_stream(client: Adapter, protocol: str, chunks: int) -> tuple[float, float, int]:
    """Time to the first text delta, to the end; the number of deltas. Checks the text."""
    model = bd.stream_model(chunks)
    clock = time.perf_counter
    pieces: list[str] = []
    first = None
    t0 = clock()
    it = client.anthropic_stream(model) if protocol == "anthropic" else client.stream(model)
    for piece in it:  # type: ignore[attr-defined]
        if first is None:
            first = clock()
        pieces.append(piece)
    end = clock()
    check(f"stream of {chunks}", "".join(pieces), bd.stream_text(chunks))
    assert first is not None
    return first - t0, end - t0, len(pieces)


def _long_stream(name: str, url: str, opts: dict[str, int], protocol: str) -> dict[str, object]:
    chunks = opts["chunks"]
    client = make(name, url, protocol)
    _one_stream(client, protocol, SHORT)  # warm-up
    cpu0 = time.process_time()
    _, total, deltas = _one_stream(client, protocol, chunks)
    cpu = time.process_time() - cpu0
    client.close()
    extra = {}
    if isinstance(client, Floor):  # the request and the bytes alone, before any parsing
        extra["transfer_chunks_per_s"] = chunks / client.transfer_s
    return {
        **extra,
        "chunks_per_s": chunks / total,
        "seconds": total,
        "cpu_s": cpu,
        "chunks": chunks,
        "deltas": deltas,
        "sent": 2,
    }


def s3_long_stream(name: str, url: str, opts: dict[str, int]) -> dict[str, object]:
    return _long_stream(name, url, opts, "openai")


def s7_anthropic_stream(name: str, url: str, opts: dict[str, int]) -> dict[str, object]:
    return _long_stream(name, url, opts, "anthropic")


def s4_first_chunk(name: str, url: str, opts: dict[str, int]) -> dict[str, object]:
    n, warm = opts["n"], 5
    client = make(name, url)
    for _ in range(warm):
        _one_stream(client, "openai", SHORT)
    firsts, totals = [], []
    for _ in range(n):
        first, total, _ = _one_stream(client, "openai", SHORT)
        firsts.append(first)
        totals.append(total)
    client.close()
    return {
        "ttfc_us": _median(firsts) * 1e6,
        "stream_us": _median(totals) * 1e6,
        "streams": n,
        "chunks_per_stream": SHORT,
        "sent": warm + n,
    }


def s5_batch(name: str, url: str, opts: dict[str, int]) -> dict[str, object]:
    import math

    n, concurrency, warm = opts["n"], opts["concurrency"], opts["concurrency"]
    client = make(name, url)
    prompts = [f"warm-up {i}" for i in range(warm)]
    for i, text in enumerate(client.batch(bd.SLOW_MODEL, prompts, concurrency)):
        check(f"warm-up batch item {i}", text, bd.slow_reply(prompts[i]))
    prompts = [f"request {i}" for i in range(n)]
    t0 = time.perf_counter()
    texts = client.batch(bd.SLOW_MODEL, prompts, concurrency)
    wall = time.perf_counter() - t0
    check("batch length", len(texts), n)  # type: ignore[arg-type]
    for i, text in enumerate(texts):
        check(f"batch item {i}", text, bd.slow_reply(prompts[i]))
    client.close()
    ideal = math.ceil(n / concurrency) * bd.SLOW_LATENCY_S
    return {
        "wall_ms": wall * 1e3,
        "ideal_ms": ideal * 1e3,
        "x_ideal": wall / ideal,
        "requests": n,
        "concurrency": concurrency,
        "sent": warm + n,
    }


def s6_memory(name: str, url: str, opts: dict[str, int]) -> dict[str, object]:
    import resource

    n = opts["n"]
    client = make(name, url)
    for _ in range(n):
        check("call", client.call(bd.MODEL, bd.PROMPT), bd.REPLY_TEXT)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"rss_mb": rss_kb / 1024, "calls": n, "sent": n}


SCENARIOS = {
    "S1": s1_cold_start,
    "S2": s2_calls,
    "S3": s3_long_stream,
    "S4": s4_first_chunk,
    "S5": s5_batch,
    "S6": s6_memory,
    "S7": s7_anthropic_stream,
}
# The sizes; the orchestrator passes smaller ones for --quick.
DEFAULTS = {
    "S1": {},
    "S2": {"n": 300},
    "S3": {"chunks": 20000},
    "S4": {"n": 200},
    "S5": {"n": 200, "concurrency": 16},
    "S6": {"n": 100},
    "S7": {"chunks": 20000},
}


def run(scenario: str, name: str, url: str, opts: dict[str, int]) -> dict[str, object]:
    """The measurement as a dict: ``status`` is ``ok``, ``not installed: ...``, ``n/a: ...`` or
    ``FAILED: ...``."""
    try:
        out = SCENARIOS[scenario](name, url, opts)
        out["status"] = "ok"
    except ImportError as exc:
        out = {"status": f"not installed: {exc}"}
    except NotApplicable as exc:
        out = {"status": f"n/a: {exc}"}
    except Exception as exc:
        out = {"status": f"FAILED: {type(exc).__name__}: {str(exc)[:300]}"}
    import importlib.metadata

    dist = CLIENTS[name].dist
    try:
        out["version"] = importlib.metadata.version(dist) if dist else "-"
    except importlib.metadata.PackageNotFoundError:
        out["version"] = "?"
    out.update(scenario=scenario, client=name, blocked=list(bd.BLOCKED))
    return out


def probe(url: str, names: list[str]) -> dict[str, str]:
    """The warm-up pass, in one process: build every client, make one call and one short
    stream of each protocol it speaks. Writes the bytecode caches (a first run after an
    install would otherwise time the compiler) and tells which clients are installed."""
    status = {}
    for name in names:
        try:
            client = make(name, url)
            for step in (
                lambda c=client: c.call(bd.MODEL, bd.PROMPT),
                lambda c=client: list(c.stream(bd.stream_model(SHORT))),  # type: ignore[call-overload]
            ):
                try:
                    step()
                except NotApplicable:
                    pass
            if name in ("floor", "requests", "sseclient", "llmcore", "anthropic", "litellm"):
                list(make(name, url, "anthropic").anthropic_stream(bd.stream_model(SHORT)))  # type: ignore[call-overload]
            status[name] = "ok"
        except ImportError as exc:
            status[name] = f"not installed: {exc}"
        except Exception as exc:
            status[name] = f"FAILED: {type(exc).__name__}: {str(exc)[:300]}"
    return status


def main(argv: list[str]) -> int:
    if argv[:2] == ["--probe", "--url"] and len(argv) in (3, 4):
        import json

        names = argv[3].split(",") if len(argv) == 4 else list(CLIENTS)
        print("BENCH-RESULT " + json.dumps(probe(argv[2], names)), flush=True)
        os._exit(0)
    if len(argv) < 2 or argv[0] not in SCENARIOS or argv[1] not in CLIENTS:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        print(f"scenarios: {' '.join(SCENARIOS)}; clients: {' '.join(CLIENTS)}", file=sys.stderr)
        return 2
    scenario, name, rest = argv[0], argv[1], argv[2:]
    url = os.environ.get("BENCH_URL", "")
    opts = dict(DEFAULTS[scenario])
    for flag, value in zip(rest[::2], rest[1::2], strict=False):
        if flag == "--url":
            url = value
        elif flag.startswith("--") and flag[2:] in opts:
            opts[flag[2:]] = int(value)
        else:
            print(f"unknown option {flag}", file=sys.stderr)
            return 2
    if not url:
        print("--url http://127.0.0.1:PORT is required", file=sys.stderr)
        return 2
    out = run(scenario, name, url, opts)
    import json

    sys.stdout.write("BENCH-RESULT " + json.dumps(out) + "\n")
    sys.stdout.flush()
    # The measurement is over: skip the interpreter's shutdown (LiteLLM's exit hooks alone
    # take seconds), which no figure includes anyway.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
