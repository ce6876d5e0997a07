"""The ``llmcore`` command line through its entry points (``python -m llmcore``, the console
script and click's CliRunner), against a loopback server on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pytest
from batchfile_support import CHAT_PATH, completion, openai_line, read_results, write_lines
from click.testing import CliRunner
from loopback import LoopbackServer, Reply

from llmcore import Client
from llmcore.cli import cli

SECRET = "sk-cli-test-secret-0123456789abcdef"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop("LLMCORE_PROVIDER", None)
    env.update(extra)
    return env


def run(*args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmcore", *args],
        input=input,
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=60,
    )


def sse_chunk(text: str | None = None, finish: str | None = None) -> str:
    delta: dict[str, Any] = {} if text is None else {"content": text}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps(
        {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}
    )


def stream_reply(*words: str) -> Reply:
    return Reply.sse([*[sse_chunk(w) for w in words], sse_chunk(finish="stop"), "[DONE]"])


def base(server: LoopbackServer) -> str:
    return server.base_url + "/v1"


# --- the entry points -----------------------------------------------------------------------------
def test_import_llmcore_does_not_import_click() -> None:
    code = "import sys, llmcore, llmcore.batch; print('click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_console_script_is_installed_and_is_the_same_command() -> None:
    script = Path(sysconfig.get_path("scripts")) / "llmcore"
    assert script.exists()
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    for command in ("chat", "models", "providers", "batch"):
        assert command in out.stdout
    assert out.stdout == run("--help").stdout.replace("python -m llmcore", "llmcore")


# --- chat ---------------------------------------------------------------------------------------
def test_chat_streams_the_answer_with_system_and_model(loopback_server: LoopbackServer) -> None:
    loopback_server.add("POST", CHAT_PATH, stream_reply("Hel", "lo", " there"))
    out = run(
        "chat",
        "-m",
        "tiny",
        "--provider",
        "openai-compatible",
        "--base-url",
        base(loopback_server),
        "--system",
        "be kind",
        "say hi",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Hello there\n"
    sent = loopback_server.requests[0].json()
    assert sent["model"] == "tiny" and sent["stream"] is True
    assert sent["messages"] == [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": "say hi"},
    ]


def test_chat_reads_the_prompt_from_stdin(loopback_server: LoopbackServer) -> None:
    loopback_server.add("POST", CHAT_PATH, stream_reply("fine"))
    result = CliRunner().invoke(
        cli,
        ["chat", "-m", "m", "-p", "openai-compatible", "--base-url", base(loopback_server)],
        input="how are you?\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output == "fine\n"
    assert loopback_server.requests[0].json()["messages"][-1]["content"] == "how are you?\n"


def test_a_provider_error_is_one_redacted_line_and_exit_1(
    loopback_server: LoopbackServer,
) -> None:
    body = {"error": {"message": f"Incorrect API key provided: {SECRET}", "code": "invalid_key"}}
    loopback_server.add("POST", CHAT_PATH, Reply.json(body, status=401))
    out = run(
        "chat",
        "-m",
        "m",
        "--provider",
        "openai",
        "--base-url",
        base(loopback_server),
        "hi",
        OPENAI_API_KEY=SECRET,
    )
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("llmcore: error: AuthenticationError:")
    assert "Traceback" not in out.stderr and SECRET not in out.stderr


def test_configuration_errors_are_one_line_too() -> None:
    out = run("chat", "-m", "m", "--provider", "no-such-provider", "hi")
    assert out.returncode == 1
    assert out.stderr.startswith("llmcore: error: ConfigurationError: unknown provider")
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    missing = run("chat", "-m", "m", "--provider", "openai", "hi")
    assert missing.returncode == 1 and "OPENAI_API_KEY" in missing.stderr
    usage = run("chat", "--provider", "openai", "hi")
    assert usage.returncode == 2 and "Missing option" in usage.stderr


def test_ctrl_c_exits_130_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(Client, "chat_completion_stream", interrupted)
    result = CliRunner().invoke(
        cli,
        ["chat", "-m", "m", "-p", "openai-compatible", "--base-url", "http://127.0.0.1:9/v1", "hi"],
    )
    assert result.exit_code == 130
    assert result.output == ""


# --- models and providers -------------------------------------------------------------------------
def test_models_lists_the_provider_models(loopback_server: LoopbackServer) -> None:
    page = {
        "object": "list",
        "data": [{"id": "alpha", "object": "model"}, {"id": "beta", "object": "model"}],
    }
    loopback_server.add("GET", "/v1/models", Reply.json(page))
    out = run("models", "--provider", "openai-compatible", "--base-url", base(loopback_server))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["alpha", "beta"]


def test_providers_says_whether_each_key_is_set_never_the_key() -> None:
    out = run("providers", OPENAI_API_KEY=SECRET)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "llmcore-openai" in rows["openai"] and "openai-chat" in rows["openai"]
    assert "key set (OPENAI_API_KEY)" in rows["openai"]
    assert "no key needed" in rows["openai-compatible"]
    assert SECRET not in out.stdout + out.stderr
    unset = run("providers")
    assert "key missing (OPENAI_API_KEY)" in unset.stdout


# --- batch --------------------------------------------------------------------------------------
def test_batch_runs_the_file_and_prints_a_summary(
    tmp_path: Path, loopback_server: LoopbackServer
) -> None:
    loopback_server.add("POST", CHAT_PATH, Reply.json(completion("yes")))
    source = write_lines(tmp_path / "in.jsonl", [openai_line(f"q{i}") for i in range(25)])
    out_path = tmp_path / "out.jsonl"
    args = (
        "batch",
        str(source),
        str(out_path),
        "--provider",
        "openai-compatible",
        "--base-url",
        base(loopback_server),
        "--model",
        "mm",
        "--concurrency",
        "3",
    )
    out = run(*args)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("done 25, failed 0, skipped 0, elapsed ")
    assert "\r" not in out.stderr  # not a terminal: no progress line
    results = read_results(out_path)
    assert sorted(r["custom_id"] for r in results) == sorted(f"q{i}" for i in range(25))
    assert {r.json()["model"] for r in loopback_server.requests} == {"mm"}
    again = run(*args)
    assert again.returncode == 0
    assert again.stderr.startswith("done 0, failed 0, skipped 25, ")


def test_batch_progress_line_and_failures_exit_1(
    tmp_path: Path, loopback_server: LoopbackServer
) -> None:
    bad = Reply.json({"error": {"message": "nope"}}, status=400)
    loopback_server.add("POST", CHAT_PATH, bad, Reply.json(completion()))
    source = write_lines(tmp_path / "in.jsonl", [openai_line(f"q{i}") for i in range(5)])
    result = CliRunner().invoke(
        cli,
        [
            "batch",
            str(source),
            str(tmp_path / "out.jsonl"),
            "-p",
            "openai-compatible",
            "--base-url",
            base(loopback_server),
            "-c",
            "1",
            "--progress",
        ],
    )
    assert result.exit_code == 1
    assert "\r[" in result.output and "5/5 failed 1" in result.output
    assert "done 4, failed 1, skipped 0" in result.output


def test_batch_with_duplicate_ids_is_one_line_naming_them(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [openai_line("x"), openai_line("x")])
    out = run(
        "batch",
        str(source),
        str(tmp_path / "out.jsonl"),
        "--provider",
        "openai-compatible",
        "--base-url",
        "http://127.0.0.1:9/v1",
    )
    assert out.returncode == 1
    assert "duplicate custom_id: 'x' on lines 1, 2" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


_AS_FROM_A_TERMINAL = (
    "import runpy, signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "sys.argv[0] = 'llmcore'\n"
    "runpy.run_module('llmcore', run_name='__main__', alter_sys=True)\n"
)


def test_batch_interrupted_with_ctrl_c_exits_130_without_traceback_and_resumes(
    tmp_path: Path, loopback_server: LoopbackServer
) -> None:
    loopback_server.add("POST", CHAT_PATH, Reply.json(completion()).after(0.05))
    source = write_lines(tmp_path / "in.jsonl", [openai_line(f"q{i}") for i in range(400)])
    out_path = tmp_path / "out.jsonl"
    args = [
        "batch",
        str(source),
        str(out_path),
        "--provider",
        "openai-compatible",
        "--base-url",
        base(loopback_server),
        "-c",
        "2",
    ]
    proc = subprocess.Popen(
        # ``python -m llmcore``, with Ctrl-C handled as from a terminal: a test run started in
        # the background (``cmd &`` in a non-interactive shell) ignores SIGINT, and a child
        # would inherit that and, rightly, keep ignoring it.
        [sys.executable, "-c", _AS_FROM_A_TERMINAL, *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not out_path.exists() or out_path.stat().st_size == 0:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    written = len(read_results(out_path))
    assert 0 < written < 400
    loopback_server.reset()
    loopback_server.add("POST", CHAT_PATH, Reply.json(completion()))
    again = run(*args[:-2], "-c", "8")
    assert again.returncode == 0, again.stderr
    assert again.stderr.startswith(f"done {400 - written}, failed 0, skipped {written}, ")
    assert sorted(r["custom_id"] for r in read_results(out_path)) == sorted(
        f"q{i}" for i in range(400)
    )
