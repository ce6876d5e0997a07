"""Smoke tests of the benchmark harness: the server, the workers, the checks, the report.

Not collected by the default ``pytest`` run (``testpaths = tests``); run them with
``pytest bench``. They assert on structure and correctness only, never on timings.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_client
import benchdata as bd
import worker

TINY = {
    "S1": {},
    "S2": {"n": 3},
    "S3": {"chunks": 50},
    "S4": {"n": 3},
    "S5": {"n": 20, "concurrency": 4},
    "S6": {"n": 3},
    "S7": {"chunks": 50},
}


@pytest.fixture(scope="module")
def server() -> Iterator[bench_client.LoopbackServer]:
    with bench_client.LoopbackServer(prebuild=[8, 50]) as srv:
        saved = dict(os.environ)
        os.environ.update(
            OPENAI_BASE_URL=f"{srv.url}/v1",
            ANTHROPIC_BASE_URL=srv.url,
        )
        try:
            yield srv
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _run(server: bench_client.LoopbackServer, scenario: str, client: str) -> dict:
    before = server.stats()
    out = worker.run(scenario, client, server.url, dict(TINY[scenario]))
    after = server.stats()
    seen = {k: after[k] - before[k] for k in ("requests", "connections", "bad")}
    return bench_client.check_counts(out, seen)


@pytest.mark.parametrize("scenario", sorted(TINY))
@pytest.mark.parametrize("client", ["requests", "llmcore", "floor"])
def test_every_scenario_runs_and_is_checked(
    server: bench_client.LoopbackServer, scenario: str, client: str
) -> None:
    out = _run(server, scenario, client)
    assert out["status"] == "ok", out
    assert out["blocked"] == []
    expected_key = {
        "S1": "total_ms",
        "S2": "us_per_call",
        "S3": "chunks_per_s",
        "S4": "ttfc_us",
        "S5": "x_ideal",
        "S6": "rss_mb",
        "S7": "chunks_per_s",
    }[scenario]
    assert out[expected_key] > 0


def test_the_cold_start_baseline_only_imports(server: bench_client.LoopbackServer) -> None:
    out = _run(server, "S1", "import-requests")
    assert out["status"] == "ok" and out["sent"] == 0 and "first_call_ms" not in out


def test_a_wrong_answer_fails_the_client(
    server: bench_client.LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker.Requests, "call", lambda self, model, prompt: "something else")
    out = worker.run("S2", "requests", server.url, dict(TINY["S2"]))
    assert out["status"].startswith("FAILED: WrongAnswer"), out
    assert "us_per_call" not in out


def test_a_stream_missing_a_chunk_fails(
    server: bench_client.LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = worker.Requests.stream

    def lossy(self: worker.Requests, model: str) -> Iterator[str]:
        for i, piece in enumerate(real(self, model)):  # type: ignore[call-overload]
            if i != 3:
                yield piece

    monkeypatch.setattr(worker.Requests, "stream", lossy)
    out = worker.run("S3", "requests", server.url, dict(TINY["S3"]))
    assert out["status"].startswith("FAILED: WrongAnswer"), out


def test_a_batch_out_of_order_fails(
    server: bench_client.LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = worker.Adapter.batch
    monkeypatch.setattr(worker.Requests, "batch", lambda self, m, p, c: real(self, m, p, c)[::-1])
    out = worker.run("S5", "requests", server.url, dict(TINY["S5"]))
    assert out["status"].startswith("FAILED: WrongAnswer"), out


def test_a_missing_library_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    class Missing(worker.Adapter):
        def __init__(self, url: str) -> None:
            raise ImportError("No module named 'nothing_here'")

    monkeypatch.setitem(worker.CLIENTS, "aisuite", Missing)
    out = worker.run("S2", "aisuite", "http://127.0.0.1:9", dict(TINY["S2"]))
    assert out["status"] == "not installed: No module named 'nothing_here'"


def test_a_client_without_the_protocol_is_na(server: bench_client.LoopbackServer) -> None:
    out = worker.run("S3", "anthropic", server.url, dict(TINY["S3"]))
    assert out["status"].startswith("n/a")


def test_server_counts_must_match() -> None:
    ok = {"status": "ok", "sent": 5, "blocked": []}
    good = bench_client.check_counts(dict(ok), {"requests": 5, "connections": 1, "bad": 0})
    assert good["status"] == "ok"
    more = bench_client.check_counts(dict(ok), {"requests": 7, "connections": 1, "bad": 0})
    assert more["status"].startswith("FAILED: the server saw 7 requests")
    bad = bench_client.check_counts(dict(ok), {"requests": 5, "connections": 1, "bad": 1})
    assert bad["status"].startswith("FAILED")


def test_the_server_sends_what_the_checks_expect(server: bench_client.LoopbackServer) -> None:
    floor = worker.Floor(server.url)
    assert "".join(floor.stream(bd.stream_model(50))) == bd.stream_text(50)  # type: ignore[call-overload]
    assert "".join(floor.anthropic_stream(bd.stream_model(50))) == bd.stream_text(50)  # type: ignore[call-overload]
    assert floor.call(bd.MODEL, "x") == bd.REPLY_TEXT
    assert floor.call(bd.SLOW_MODEL, "hi 7") == bd.slow_reply("hi 7")


def _cells(values: dict[str, dict[str, dict[str, float]]]) -> dict:
    return {
        scenario: {
            client: bench_client.Cell(reps=[dict(metrics, server={"connections": 1})])
            for client, metrics in row.items()
        }
        for scenario, row in values.items()
    }


def test_targets_are_computed() -> None:
    cells = _cells(
        {
            "S1": {
                "import-requests": {"ready_ms": 100},
                "requests": {"ready_ms": 110, "total_ms": 120},
                "llmcore": {"ready_ms": 140, "total_ms": 300},
                "litellm": {"ready_ms": 2000, "total_ms": 2500},
            },
            "S2": {"requests": {"us_per_call": 100}, "llmcore": {"us_per_call": 130}},
            "S5": {"llmcore": {"x_ideal": 1.05}},
        }
    )
    got = [t.verdict for t in bench_client.targets(cells)]
    assert got[0] == "met"  # 1.4x import requests
    assert got[1] == "met"  # LiteLLM 14x slower
    assert got[2] == "MISSED"  # 2.5x raw requests' import + first call
    assert got[3] == "MISSED"  # 1.3x per call
    assert got[4].startswith("n/a")  # no openai SDK in this run
    assert got[7] == "met"  # S5


def test_the_whole_run_writes_a_report(tmp_path: Path) -> None:
    code = bench_client.main(
        [
            "--quick",
            "--scenarios",
            "S2,S3",
            "--clients",
            "llmcore",
            "--calls",
            "3",
            "--chunks",
            "50",
            "--results-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    [path] = tmp_path.glob("*.json")
    report = json.loads(path.read_text(encoding="utf-8"))
    s2 = report["scenarios"]["S2"]["clients"]
    assert set(s2) == {"requests", "llmcore"}
    assert all(c["status"] == "ok" and len(c["reps"]) == 1 for c in s2.values())
    assert report["scenarios"]["S3"]["clients"]["llmcore"]["median"]["chunks_per_s"] > 0
    assert "Targets" in report["table"] and "llmcore" in report["table"]
    assert {t["verdict"] for t in report["targets"]} <= {"met", "MISSED"} | {
        t["verdict"] for t in report["targets"] if t["verdict"].startswith("n/a")
    }
