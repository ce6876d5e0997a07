#!/usr/bin/env python3
"""llmcore against raw requests and every peer that installs: one run, one table (issue 11).

    tox -e bench                      # the whole comparison (installs the peers), ~20 min
    tox -e bench -- --quick           # smaller sizes, 1 repetition: under 3 minutes
    python bench/bench_client.py --scenarios S2,S3 --clients requests,llmcore --reps 3

The script starts a fast loopback server (``bench_server.py``) in a child process, then runs
every (scenario, client) pair in a fresh process of its own (``worker.py``), ``--reps`` times,
rotating the order of the clients from one repetition to the next. Each worker prints one JSON
line; its texts are checked against what the server sent, and the server's request count
(read before and after each worker) must match what the worker says it sent. The table gives,
per scenario and client, the median over the repetitions, the min-max, and the ratio to the
baseline (raw ``requests.Session`` with hand-rolled SSE); a second table computes the issue's
targets for llmcore (met / missed). The whole report goes to ``bench/results/<UTC>.json``.

Scenarios: S1 cold start (import to ready client; the first call), S2 300 sequential calls,
S3 one stream of 20,000 chunks, S4 time to first chunk over 200 short streams, S5 200 requests
at 50 ms server latency on 16 workers, S6 peak RSS after 100 calls, S7 one Anthropic Messages
API stream of 20,000 chunks. Only 127.0.0.1 is contacted: every process installs an audit hook
that refuses any other connect or DNS lookup.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchdata as bd

HERE = Path(__file__).resolve().parent

BASELINE = "requests"
# Display names: what each worker client is.
LABELS = {
    "import-requests": "import requests alone",
    "floor": "raw socket (floor)",
    "requests": "requests + hand SSE",
    "sseclient": "requests + sseclient-py",
    "llmcore": "llmcore",
    "openai": "openai SDK",
    "anthropic": "anthropic SDK",
    "litellm": "LiteLLM",
    "llm": "simonw/llm",
    "aisuite": "aisuite",
    "any-llm": "any-llm",
}
DISTS = {
    "requests": "requests",
    "sseclient": "sseclient-py",
    "llmcore": "llmcore",
    "openai": "openai",
    "anthropic": "anthropic",
    "litellm": "litellm",
    "llm": "llm",
    "aisuite": "aisuite",
    "any-llm": "any-llm-sdk",
}
OPENAI_PEERS = ["llmcore", "openai", "litellm", "llm", "aisuite", "any-llm"]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool = False
    baseline: str = BASELINE


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    clients: tuple[str, ...]
    metrics: tuple[Metric, ...]
    sizes: dict[str, int] = field(default_factory=dict)


def scenarios(quick: bool) -> dict[str, Scenario]:
    # --quick: the same pairs, smaller sizes (the peers' imports alone take ~60 s per pass)
    calls = 50 if quick else 300
    chunks = 2000 if quick else 20000
    streams = 20 if quick else 200
    batch = 200  # S5's size is its target's definition, quick or not
    ideal_ms = -(-batch // 16) * bd.SLOW_LATENCY_S * 1000
    openai_clients = ("floor", "requests", *OPENAI_PEERS)
    stream_clients = ("floor", "requests", "sseclient", *OPENAI_PEERS)
    return {
        "S1": Scenario(
            "S1",
            "cold start (ms): import + ready client ('ready'), then the first call, one process",
            ("import-requests", "floor", "requests", *OPENAI_PEERS),
            (
                Metric("ready_ms", "ready", "ms", baseline="import-requests"),
                Metric("first_call_ms", "1st call", "ms"),
                Metric("total_ms", "ready + 1st call", "ms"),
            ),
        ),
        "S2": Scenario(
            "S2",
            f"{calls} sequential non-streamed calls (us per call, median)",
            openai_clients,
            (
                Metric("us_per_call", "us per call", "us"),
                Metric("cpu_us_per_call", "CPU us per call", "us"),
            ),
            {"n": calls},
        ),
        "S3": Scenario(
            "S3",
            f"one stream of {chunks:,} small chunks (chunks/s, higher is better)",
            stream_clients,
            (Metric("chunks_per_s", "chunks/s", "/s", higher_is_better=True),),
            {"chunks": chunks},
        ),
        "S4": Scenario(
            "S4",
            f"time to first chunk over {streams} short streams of 8 chunks (us, median)",
            stream_clients,
            (
                Metric("ttfc_us", "first chunk", "us"),
                Metric("stream_us", "whole stream", "us"),
            ),
            {"n": streams},
        ),
        "S5": Scenario(
            "S5",
            f"{batch} requests, 50 ms server latency, 16 workers: wall / ideal ({ideal_ms:.0f} ms)",
            openai_clients,
            (Metric("x_ideal", "x ideal", "x"), Metric("wall_ms", "wall", "ms")),
            {"n": batch, "concurrency": 16},
        ),
        "S6": Scenario(
            "S6",
            "peak RSS of the process after import and 100 calls (MB)",
            openai_clients,
            (Metric("rss_mb", "peak RSS", "MB"),),
            {"n": 100},
        ),
        "S7": Scenario(
            "S7",
            f"one Anthropic Messages API stream of {chunks:,} chunks (chunks/s, higher is better)",
            ("floor", "requests", "sseclient", "llmcore", "anthropic", "litellm"),
            (Metric("chunks_per_s", "chunks/s", "/s", higher_is_better=True),),
            {"chunks": chunks},
        ),
    }


# --- the server --------------------------------------------------------------------------------
class LoopbackServer:
    """``bench_server.py`` in a child process (this interpreter), on an ephemeral port."""

    def __init__(self, prebuild: Sequence[int] = ()) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "bench_server.py"), *map(str, prebuild)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"the loopback server did not start (said {line!r})")
        self.port = int(line.split()[1])
        self.loop = line.split()[2] if len(line.split()) > 2 else "?"
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/__stats", timeout=10) as resp:
            return dict(json.load(resp))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def llm_user_dir(url: str, models: Sequence[str]) -> str:
    """A temporary ``LLM_USER_PATH`` whose ``extra-openai-models.yaml`` points simonw/llm's
    models at the server (its way of talking to an OpenAI-compatible base URL)."""
    path = tempfile.mkdtemp(prefix="bench-llm-")
    entries = [
        f'- model_id: {m}\n  model_name: {m}\n  api_base: "{url}/v1"\n  api_key_name: bench\n'
        for m in models
    ]
    Path(path, "extra-openai-models.yaml").write_text("".join(entries), encoding="utf-8")
    Path(path, "keys.json").write_text(json.dumps({"bench": bd.API_KEY}), encoding="utf-8")
    return path


def worker_env(url: str, llm_dir: str) -> dict[str, str]:
    env = dict(os.environ)
    # Bytecode must be cached: a worker that recompiled its library on every start would time
    # the compiler (the test envs set PYTHONDONTWRITEBYTECODE; the warm-up pass writes .pyc).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        OPENAI_BASE_URL=f"{url}/v1",
        OPENAI_API_KEY=bd.API_KEY,
        ANTHROPIC_BASE_URL=url,
        ANTHROPIC_API_KEY=bd.API_KEY,
        LLM_USER_PATH=llm_dir,
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        LITELLM_TELEMETRY="False",
        HF_HUB_OFFLINE="1",
        DO_NOT_TRACK="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env.pop(var, None)
    return env


# --- running the workers -----------------------------------------------------------------------
def run_worker(
    server: LoopbackServer,
    env: dict[str, str],
    scenario: str,
    client: str,
    sizes: dict[str, int],
    timeout: float,
) -> dict[str, Any]:
    """One fresh worker process; its result, checked against the server's counts."""
    cmd = [sys.executable, str(HERE / "worker.py"), scenario, client, "--url", server.url]
    for key, value in sizes.items():
        cmd += [f"--{key}", str(value)]
    before = server.stats()
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"FAILED: no result after {timeout:.0f} s", "client": client}
    wall = time.perf_counter() - started
    after = server.stats()
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH-RESULT ")]
    if not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"status": f"FAILED: exit {done.returncode}, {' | '.join(tail)[:300]}"}
    result: dict[str, Any] = json.loads(lines[-1][len("BENCH-RESULT ") :])
    result["process_wall_s"] = wall
    seen = {k: after[k] - before[k] for k in ("requests", "connections", "bad")}
    seen["connections"] -= 1  # the second /__stats request's own connection
    return check_counts(result, seen)


def check_counts(result: dict[str, Any], seen: dict[str, int]) -> dict[str, Any]:
    """FAILED unless the server saw exactly the requests the worker says it sent, none of them
    unanswerable, and the worker never tried to leave loopback."""
    result["server"] = seen
    if result["status"] == "ok":
        if seen["requests"] != result.get("sent"):
            result["status"] = (
                f"FAILED: the server saw {seen['requests']} requests, the client sent "
                f"{result.get('sent')}"
            )
        elif seen["bad"]:
            result["status"] = f"FAILED: {seen['bad']} requests the server could not answer"
        elif result.get("blocked"):
            result["status"] = f"FAILED: tried to leave loopback: {result['blocked'][:3]}"
    return result


def probe(
    server: LoopbackServer, env: dict[str, str], clients: Sequence[str], timeout: float
) -> dict[str, str]:
    """The warm-up pass (not timed): each client once, in one process (``worker.py --probe``);
    it writes the bytecode caches and tells which clients are installed."""
    names = ",".join(c for c in clients if c != "import-requests")
    cmd = [sys.executable, str(HERE / "worker.py"), "--probe", "--url", server.url, names]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH-RESULT ")]
    if not lines:
        raise RuntimeError(f"the warm-up pass failed: {done.stderr.strip()[-500:]}")
    status: dict[str, str] = json.loads(lines[-1][len("BENCH-RESULT ") :])
    status["import-requests"] = status.get("requests", "ok")
    return status


def rotated(items: Sequence[str], rep: int) -> list[str]:
    if not items:
        return []
    k = rep % len(items)
    return [*items[k:], *items[:k]]


@dataclass
class Cell:
    """One (scenario, client): its repetitions and final status."""

    status: str = "ok"
    version: str = "?"
    reps: list[dict[str, Any]] = field(default_factory=list)

    def values(self, key: str) -> list[float]:
        return [float(r[key]) for r in self.reps if key in r]

    def median(self, key: str) -> float | None:
        values = self.values(key)
        return statistics.median(values) if values and self.status == "ok" else None


def short_status(status: str) -> str:
    if status.startswith("not installed"):
        return "not installed"
    if status.startswith("n/a"):
        return "n/a"
    return "FAILED" if status.startswith("FAILED") else status


def run_all(
    plan: dict[str, Scenario],
    clients: Sequence[str] | None,
    reps: int,
    server: LoopbackServer,
    env: dict[str, str],
    timeout: float,
    log: Callable[[str], None],
) -> dict[str, dict[str, Cell]]:
    wanted = [c for c in LABELS if clients is None or c in clients]
    installed = probe(server, env, wanted, timeout)
    for client in wanted:
        log(f"warm-up {client}: {installed.get(client, 'ok')}")
    cells: dict[str, dict[str, Cell]] = {}
    for name, scenario in plan.items():
        members = [c for c in scenario.clients if c in wanted]
        cells[name] = {c: Cell() for c in members}
        for client in members:
            if installed[client] != "ok":
                cells[name][client].status = installed[client]
        log(f"{name}: {scenario.title}")
        for rep in range(reps):
            for client in rotated(members, rep):
                cell = cells[name][client]
                if cell.status != "ok":
                    continue
                result = run_worker(server, env, name, client, scenario.sizes, timeout)
                cell.version = result.get("version", cell.version)
                if result["status"] != "ok":
                    cell.status = result["status"]
                    log(f"  {client}: {cell.status}")
                    continue
                cell.reps.append(result)
            log(f"  {name} repetition {rep + 1}/{reps} done")
    return cells


# --- the tables --------------------------------------------------------------------------------
def fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def scenario_rows(scenario: Scenario, cells: dict[str, Cell]) -> list[list[str]]:
    """Header then one row per client: label, version, per metric median / min-max / ratio."""
    header = ["client", "version"]
    for m in scenario.metrics:
        header += [m.label, "min-max", f"vs {LABELS[m.baseline].split(' ')[0]}"]
    header.append("conns")
    rows = [header]
    for client, cell in cells.items():
        row = [LABELS[client], cell.version if cell.status == "ok" else ""]
        for m in scenario.metrics:
            value = cell.median(m.key)
            if value is None:
                row += [short_status(cell.status) if cell.status != "ok" else "-", "", ""]
                continue
            values = cell.values(m.key)
            base_cell = cells.get(m.baseline)
            base = base_cell.median(m.key) if base_cell else None
            ratio = f"{value / base:.2f}x" if base else "-"
            row += [fmt(value), f"{fmt(min(values))}-{fmt(max(values))}", ratio]
        if cell.status == "ok" and cell.reps:
            row.append(str(round(statistics.median(r["server"]["connections"] for r in cell.reps))))

        else:
            row.append("")
        rows.append(row)
    return rows


@dataclass
class Target:
    text: str
    measured: str
    verdict: str  # "met", "MISSED", "n/a (...)"


def _ratio(
    cells: dict[str, dict[str, Cell]], scenario: str, key: str, a: str, b: str
) -> float | None:
    row = cells.get(scenario, {})
    va = row[a].median(key) if a in row else None
    vb = row[b].median(key) if b in row else None
    return va / vb if va is not None and vb else None


def targets(cells: dict[str, dict[str, Cell]]) -> list[Target]:
    """The issue's targets for llmcore, computed from the medians of this run."""
    out = []

    def add(text: str, ratio: float | None, ok: Callable[[float], bool], shown: str) -> None:
        if ratio is None:
            out.append(Target(text, "-", "n/a (not measured in this run)"))
        else:
            out.append(Target(text, shown.format(ratio), "met" if ok(ratio) else "MISSED"))

    r = _ratio(cells, "S1", "ready_ms", "llmcore", "import-requests")
    add("S1 import + ready client <= 1.5x import requests", r, lambda x: x <= 1.5, "{:.2f}x")
    r = _ratio(cells, "S1", "ready_ms", "litellm", "llmcore")
    add("S1 import + ready client >= 10x faster than LiteLLM", r, lambda x: x >= 10, "{:.1f}x")
    r = _ratio(cells, "S1", "total_ms", "llmcore", "requests")
    add("S1 import + first call <= 2x raw requests", r, lambda x: x <= 2, "{:.2f}x")
    r = _ratio(cells, "S2", "us_per_call", "llmcore", "requests")
    add("S2 per call <= 1.25x raw requests", r, lambda x: x <= 1.25, "{:.2f}x")
    r = _ratio(cells, "S2", "us_per_call", "llmcore", "openai")
    add("S2 per call below the openai SDK", r, lambda x: x < 1, "{:.2f}x the SDK")
    r = _ratio(cells, "S3", "chunks_per_s", "llmcore", "requests")
    add("S3 chunks/s >= 0.6x raw requests", r, lambda x: x >= 0.6, "{:.2f}x")
    r = _ratio(cells, "S3", "chunks_per_s", "llmcore", "openai")
    add("S3 chunks/s >= 5x the openai SDK", r, lambda x: x >= 5, "{:.1f}x")
    s5 = cells.get("S5", {}).get("llmcore")
    r = s5.median("x_ideal") if s5 else None
    add("S5 batch wall time <= 1.10x ideal", r, lambda x: x <= 1.10, "{:.3f}x")
    r = _ratio(cells, "S6", "rss_mb", "llmcore", "requests")
    add("S6 peak RSS <= 1.3x raw requests", r, lambda x: x <= 1.3, "{:.2f}x")
    return out


def headroom(cells: dict[str, dict[str, Cell]]) -> list[str]:
    """How far the floor row outruns the fastest real client in the stream scenarios."""
    lines = []
    for name in ("S3", "S7"):
        row = cells.get(name, {})
        floor = row["floor"].median("chunks_per_s") if "floor" in row else None
        others = [
            (c.median("chunks_per_s"), client)
            for client, c in row.items()
            if client != "floor" and c.median("chunks_per_s")
        ]
        if floor and others:
            best, who = max(others)  # type: ignore[type-var]
            transfer = statistics.median(row["floor"].values("transfer_chunks_per_s") or [0])
            lines.append(
                f"{name} server headroom: the raw-socket floor reads {fmt(floor)} chunks/s, "
                f"{floor / best:.1f}x the fastest client ({LABELS[who]}, {fmt(best)}); "
                f"the bytes alone arrive at {fmt(transfer)} chunks/s"
            )
    return lines


def format_text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(row[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|---|---" + "|---:" * (len(rows[0]) - 2) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def report_text(
    plan: dict[str, Scenario],
    cells: dict[str, dict[str, Cell]],
    markdown: bool = False,
) -> str:
    fmt_table = format_markdown if markdown else format_text
    parts = []
    for name, scenario in plan.items():
        if name not in cells:
            continue
        heading = f"### {name}: {scenario.title}" if markdown else f"{name}  {scenario.title}"
        parts.append(heading + "\n\n" + fmt_table(scenario_rows(scenario, cells[name])))
    target_rows = [["target (llmcore)", "measured", "verdict"]]
    target_rows += [[t.text, t.measured, t.verdict] for t in targets(cells)]
    heading = "### Targets" if markdown else "Targets (issue 11), computed from this run's medians"
    parts.append(heading + "\n\n" + fmt_table(target_rows))
    parts += headroom(cells)
    return "\n\n".join(parts)


# --- the report --------------------------------------------------------------------------------
def git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(HERE.parent), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    dists = [
        "llmcore",
        "llmcore-openai",
        "llmcore-anthropic",
        "requests",
        "urllib3",
        "httpx",
        "pydantic",
        "uvloop",
        *sorted(set(DISTS.values()) - {"requests", "llmcore"}),
    ]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_start": list(os.getloadavg()),
        "libraries": {d: version(d) for d in dists},
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 1 repetition")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (5; 1 with --quick)")
    parser.add_argument("--scenarios", default=None, help="comma-separated subset of S1..S7")
    parser.add_argument(
        "--clients", default=None, help=f"comma-separated subset of {','.join(LABELS)}"
    )
    parser.add_argument("--chunks", type=int, default=None, help="chunks per long stream (S3, S7)")
    parser.add_argument("--calls", type=int, default=None, help="calls in S2")
    parser.add_argument("--streams", type=int, default=None, help="short streams in S4")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per worker")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 5)
    if args.reps < 1:
        parser.error("--reps must be >= 1")
    plan = scenarios(args.quick)
    if args.scenarios:
        names = [s.strip().upper() for s in args.scenarios.split(",") if s.strip()]
        unknown = [s for s in names if s not in plan]
        if unknown or not names:
            parser.error(f"--scenarios: unknown {unknown}; choose from {','.join(plan)}")
        plan = {s: plan[s] for s in names}
    for name, scenario in plan.items():
        sizes = dict(scenario.sizes)
        for opt, scen, key in (("chunks", "S3", "chunks"), ("chunks", "S7", "chunks")):
            if getattr(args, opt) and name == scen:
                sizes[key] = getattr(args, opt)
        if args.calls and name == "S2":
            sizes["n"] = args.calls
        if args.streams and name == "S4":
            sizes["n"] = args.streams
        plan[name] = Scenario(name, scenario.title, scenario.clients, scenario.metrics, sizes)
    args.plan = plan
    args.client_names = None
    if args.clients:
        names = [c.strip() for c in args.clients.split(",") if c.strip()]
        unknown = [c for c in names if c not in LABELS]
        if unknown or not names:
            parser.error(f"--clients: unknown {unknown}; choose from {','.join(LABELS)}")
        # The baselines are always measured: every ratio needs them.
        args.client_names = sorted(set(names) | {"import-requests", "requests"})
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    bd.install_loopback_guard()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    plan: dict[str, Scenario] = args.plan
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    info = machine_info()
    chunk_sizes = sorted({s.sizes["chunks"] for s in plan.values() if "chunks" in s.sizes})
    with LoopbackServer(prebuild=[8, *chunk_sizes]) as server:
        llm_dir = llm_user_dir(
            server.url,
            [bd.MODEL, bd.SLOW_MODEL, *(bd.stream_model(n) for n in [8, *chunk_sizes])],
        )
        info["server_loop"] = server.loop
        log(
            f"loopback server at {server.url} ({server.loop} loop, pid {server.proc.pid}); "
            f"{args.reps} repetition(s)"
        )
        cells = run_all(
            plan,
            args.client_names,
            args.reps,
            server,
            worker_env(server.url, llm_dir),
            args.timeout,
            log,
        )
    duration = time.perf_counter() - t0
    info["loadavg_end"] = list(os.getloadavg())
    commit = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain", "--", "core_pkg", "plugins")
    text = report_text(plan, cells)
    report = {
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(duration, 1),
        "machine": info,
        "source": {"commit": commit, "uncommitted_changes": dirty.splitlines() if dirty else []},
        "reps": args.reps,
        "quick": args.quick,
        "scenarios": {
            name: {
                "title": s.title,
                "sizes": s.sizes,
                "clients": {
                    client: {
                        "status": cell.status,
                        "version": cell.version,
                        "median": {m.key: cell.median(m.key) for m in s.metrics},
                        "reps": cell.reps,
                    }
                    for client, cell in cells[name].items()
                },
            }
            for name, s in plan.items()
        },
        "targets": [vars(t) for t in targets(cells)],
        "table": text,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print()
    print(
        f"Python {info['python']} on {info['cpu']} ({info['usable_cpus']} usable CPUs); "
        f"llmcore at {(commit or '?')[:10]}{' + uncommitted changes' if dirty else ''}; "
        f"{args.reps} repetition(s) of each (scenario, client), each in a fresh process; "
        f"{duration:.0f} s; load average {info['loadavg_start'][0]:.1f} at the start, "
        f"{info['loadavg_end'][0]:.1f} at the end"
    )
    print("Medians over the repetitions; ratios to raw requests (hand-rolled SSE).")
    print()
    print(report_text(plan, cells, markdown=args.markdown))
    print()
    failed = {
        (name, client): cell.status
        for name, row in cells.items()
        for client, cell in row.items()
        if cell.status.startswith("FAILED")
    }
    absent = sorted(
        {
            f"{client} ({cell.status})"
            for row in cells.values()
            for client, cell in row.items()
            if cell.status.startswith("not installed")
        }
    )
    for client in absent:
        print(f"not installed: {client}")
    for (name, client), why in failed.items():
        print(f"{name} {client}: {why}")
    print(f"results: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
