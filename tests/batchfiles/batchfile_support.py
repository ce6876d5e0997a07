"""Shared helpers of the batch-file and CLI tests: input lines, canned answers, output checks."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHAT_PATH = "/v1/chat/completions"


def completion(text: str = "ok", *, model: str = "m") -> dict[str, Any]:
    """An OpenAI ``chat.completion`` body."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def openai_line(custom_id: str, prompt: str = "hi", **body: Any) -> dict[str, Any]:
    """One OpenAI Batch API input line."""
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [{"role": "user", "content": prompt}], **body},
    }


def write_lines(path: Path, lines: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def read_results(path: Path) -> list[dict[str, Any]]:
    """Every output line parsed; fails on a line that is not JSON or a torn last line."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "the output ends in a torn line"
    return [json.loads(line) for line in data.splitlines()]
