"""Smoke tests for the benchmark script: it runs, checks answers, reports, writes JSON.

Not collected by the default ``pytest`` run (``testpaths = tests``); run them with
``pytest bench``. They assert on structure and correctness only, never on timings.
"""

from __future__ import annotations

import json
from pathlib import Path

import bench_client
import pytest


def _run(tmp_path: Path, *extra: str) -> dict:
    code = bench_client.main(["--n", "4", "--quick", "--results-dir", str(tmp_path), *extra])
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    report = json.loads(files[0].read_text(encoding="utf-8"))
    report["exit_code"] = code
    return report


def test_requests_and_llmcore_run_and_are_checked(tmp_path: Path) -> None:
    report = _run(tmp_path, "--clients", "requests,llmcore")
    assert report["exit_code"] == 0
    assert report["blocked_network_attempts"] == []
    plan = report["plan"]
    for name in ("requests", "llmcore"):
        entry = report["clients"][name]
        assert entry["status"] == "ok"
        assert entry["nonstream"]["calls"] == 4
        assert entry["stream"]["streams"] == 4
        assert entry["batch"]["batches"] == plan["batch_rounds"]
        server = entry["server"]
        assert server["nonstream"]["requests"] == plan["warmup"] + 4
        assert server["stream"]["streams"] == plan["warmup"] + 4
        assert server["batch"]["requests"] == 64 * (plan["batch_rounds"] + 1)
        # one client object: its non-streamed calls share one pooled connection
        assert server["nonstream"]["connections"] <= 1
    header, *rows = report["table"]
    assert header[0] == "metric" and header[1].startswith("requests")
    assert all(len(row) == len(header) for row in rows)
    assert "(1.00x)" in rows[0][1]


def test_missing_library_is_reported_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(base_url: str) -> bench_client.BenchClient:
        raise ImportError("No module named 'openai'")

    monkeypatch.setitem(bench_client.FACTORIES, "openai", missing)
    report = _run(tmp_path, "--clients", "requests,openai")
    assert report["exit_code"] == 0
    assert report["clients"]["openai"]["status"] == "not installed"
    assert report["clients"]["requests"]["status"] == "ok"
    assert all(row[2] in ("not installed", "-") for row in report["table"][1:])


def test_a_wrong_answer_fails_the_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = bench_client.FACTORIES["requests"]

    def lying(base_url: str) -> bench_client.BenchClient:
        client = real(base_url)
        client.call = lambda: "something else"
        return client

    monkeypatch.setitem(bench_client.FACTORIES, "requests", lying)
    report = _run(tmp_path, "--clients", "requests")
    assert report["exit_code"] == 1
    assert report["clients"]["requests"]["status"].startswith("FAILED: WrongAnswer")


def test_canned_stream_is_about_fifty_chunks_and_spells_the_text() -> None:
    events = bench_client.SSE_EVENTS
    assert 45 <= len(events) <= 55 and events[-1] == b"data: [DONE]\n\n"
    text = ""
    for event in events[:-1]:
        for choice in json.loads(event[len(b"data: ") :])["choices"]:
            text += choice["delta"].get("content") or ""
    assert text == bench_client.STREAM_TEXT
