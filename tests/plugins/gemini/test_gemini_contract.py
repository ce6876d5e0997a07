"""The conformance kit's contract checks for llmcore-gemini (no recordings needed).

The protocol sample writes bodies the way Gemini does: a stream is ``alt=sse`` events, one
``GenerateContentResponse`` per event, the last one carrying ``finishReason`` (a stream cut
before it is truncated: Gemini sends no end marker; the kit's round trip wants no usage); an
error is a Google RPC error body (``{"error": {"code", "message", "status"}}``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

import llmcore_gemini
from llmcore import conformance as kit

_RPC_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
               404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def _object(parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    obj: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash",
                           "responseId": "contract-1"}
    if finish is not None:
        candidate["finishReason"] = finish
    return obj


def stream_body(pieces: Sequence[str], *, finished: bool = True) -> bytes:
    events = [_object([{"text": p}], None) for p in pieces]
    if finished:
        events.append(_object([{"text": ""}], "STOP"))
    return "".join(f"data: {json.dumps(e)}\r\n\r\n" for e in events).encode()


def response_body(text: str) -> bytes:
    return json.dumps(_object([{"text": text}], "STOP")).encode()


def error_body(status: int, message: str) -> bytes:
    return json.dumps({"error": {"code": status, "message": message,
                                 "status": _RPC_STATUS.get(status, "UNKNOWN")}}).encode()


SAMPLE = kit.ProtocolSample(
    stream_body=stream_body,
    response_body=response_body,
    error_body=error_body,
    model="gemini-2.5-flash",
)


@pytest.mark.parametrize("check", kit.contract_checks(llmcore_gemini.GEMINI, SAMPLE), ids=str)
def test_contract(check: kit.Check) -> None:
    """Payload building, on_payload hooks, cancel, truncation, typed and scrubbed errors."""
    check()
