"""The batch-file runner killed with SIGKILL mid-run and resumed: each custom_id exactly once.

``python -m llmcore batch`` runs in a subprocess against a loopback server (127.0.0.1) that
answers after a few milliseconds, so that a 2,000-line file takes seconds; it is killed at 5
random moments (each once the output has grown, so each kill lands mid-run) and restarted each
time, then run to the end.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from batchfile_support import CHAT_PATH, completion, openai_line, read_results, write_lines
from loopback import LoopbackServer, Reply

LINES = 2000
KILLS = 5


def _start(source: Path, out: Path, base_url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmcore",
            "batch",
            str(source),
            str(out),
            "--provider",
            "openai-compatible",
            "--base-url",
            base_url,
            "--concurrency",
            "8",
            "--no-progress",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _complete_lines(out: Path) -> list[dict[str, object]]:
    data = out.read_bytes() if out.exists() else b""
    end = data.rfind(b"\n") + 1
    return [json.loads(line) for line in data[:end].splitlines()]  # every complete line parses


def test_sigkill_at_five_random_moments_then_resume(
    tmp_path: Path, loopback_server: LoopbackServer
) -> None:
    loopback_server.add("POST", CHAT_PATH, Reply.json(completion()).after(0.004))
    source = write_lines(tmp_path / "in.jsonl", [openai_line(f"id-{i}") for i in range(LINES)])
    out = tmp_path / "out.jsonl"
    base_url = loopback_server.base_url + "/v1"
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    counts: list[int] = []
    for _ in range(KILLS):
        before = len(_complete_lines(out))
        proc = _start(source, out, base_url)
        deadline = time.monotonic() + 20
        while len(_complete_lines(out)) <= before:  # the run has started writing
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the runner wrote nothing"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert proc.returncode == -signal.SIGKILL, f"seed {seed}: the run ended before the kill"
        lines = _complete_lines(out)
        ids = [line["custom_id"] for line in lines]
        assert len(ids) == len(set(ids)), f"seed {seed}: an id was written twice"
        counts.append(len(ids))
    assert counts == sorted(counts) and counts[-1] < LINES, (seed, counts)
    proc = _start(source, out, base_url)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"skipped {counts[-1]}".encode() in err
    results = read_results(out)
    ids = [r["custom_id"] for r in results]
    assert sorted(ids) == sorted(f"id-{i}" for i in range(LINES)), f"seed {seed}"
    assert all(r["error"] is None and r["response"]["status_code"] == 200 for r in results)
