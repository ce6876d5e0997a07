"""Batch test helpers: replies chosen by request content, requests, result checks."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_INTEGRATION = str(Path(__file__).resolve().parent.parent / "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)

from loopback import RecordedRequest, Reply  # noqa: E402

from llmcore import ChatCompletionRequest, ConnectionOptions, Message  # noqa: E402

OPTIONS = ConnectionOptions(
    connect_timeout=2.0, read_timeout=10.0, max_retries=0, backoff_initial=0.0, backoff_max=0.0
)


def completion(text: str = "ok") -> dict[str, Any]:
    return {
        "id": "chatcmpl-b",
        "object": "chat.completion",
        "model": "loop-model",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
    }


def prompt_of(request: RecordedRequest) -> str:
    body = json.loads(request.body)
    return str(body["messages"][-1]["content"])


def echo_server(fail_every: int = 10, pause: float = 0.0) -> Callable[[RecordedRequest], Reply]:
    """Answer ``echo <n>`` to prompt ``<n>``; every ``fail_every``-th prompt gets a 400."""

    def respond(request: RecordedRequest) -> Reply:
        n = int(prompt_of(request))
        if fail_every and n % fail_every == 0:
            reply = Reply.json({"error": {"message": f"bad {n}", "type": "invalid"}}, status=400)
        else:
            reply = Reply.json(completion(f"echo {n}"))
        return reply.after(pause) if pause else reply

    return respond


def requests_for(count: int) -> list[ChatCompletionRequest]:
    return [ChatCompletionRequest("loop-model", [Message.user(str(i))]) for i in range(count)]


def check_echoes(results: list[Any], count: int, fail_every: int = 10) -> None:
    """Every result in its slot: a 400 for each ``fail_every``-th prompt, else its echo."""
    from llmcore import ChatCompletionResponse, InvalidRequestError

    assert len(results) == count
    for i, result in enumerate(results):
        if fail_every and i % fail_every == 0:
            assert isinstance(result, InvalidRequestError), (i, result)
            assert f"bad {i}" in result.message
        else:
            assert isinstance(result, ChatCompletionResponse), (i, result)
            assert result.text() == f"echo {i}"
