"""Anthropic Messages answers, stream events, errors and model lists -> llmcore objects (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmcore
from llmcore import Frame, HttpResponse, Role, StopReason, ThinkingBlock, ToolCall, Usage
from llmcore.accumulate import StreamAccumulator
from llmcore_anthropic import ANTHROPIC
from llmcore_anthropic.parse import iter_chunks, parse_error, parse_message, parse_models

API = "anthropic-messages"


def response(obj: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps(obj).encode())


def frames(*events: dict[str, Any]) -> Iterator[Frame]:
    for event in events:
        yield Frame(json.dumps(event), event=str(event["type"]))


Run = tuple[list[llmcore.ChatCompletionChunk], Any, StreamAccumulator]


def run(*events: dict[str, Any]) -> Run:
    """The chunks, the iterator's return value and the accumulated answer."""
    gen = iter_chunks(ANTHROPIC, frames(*events))
    chunks: list[llmcore.ChatCompletionChunk] = []
    acc = StreamAccumulator("anthropic", API)
    while True:
        try:
            chunk = next(gen)
        except StopIteration as stop:
            return chunks, stop.value, acc
        chunks.append(chunk)
        acc.feed(chunk)


def start(usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": [],
        "stop_reason": None, "usage": usage or {"input_tokens": 10, "output_tokens": 1}}}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, d: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": d}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(reason: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
            "usage": usage}


END = {"type": "message_stop"}
PING = {"type": "ping"}


# --- non-streamed -----------------------------------------------------------------------------
def test_whole_message_with_thinking_redacted_text_and_tool_use() -> None:
    body = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [
            {"type": "thinking", "thinking": "First.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "thinking", "thinking": "Second.", "signature": "sig-2"},
            {"type": "text", "text": "Let me "},
            {"type": "text", "text": "check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
             "input": {"city": "Paris"}},
            {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 20, "cache_read_input_tokens": 100,
                  "cache_creation_input_tokens": 30},
    }
    out = parse_message(ANTHROPIC, response(body))
    message = out.message
    assert message.role is Role.ASSISTANT
    assert message.text() == "Let me check."
    assert message.reasoning == "First.\n\nSecond."
    assert message.thinking == (
        ThinkingBlock("First.", "sig-1", None, "anthropic", API),
        ThinkingBlock("", None, "opaque", "anthropic", API),
        ThinkingBlock("Second.", "sig-2", None, "anthropic", API),
    )
    assert message.tool_calls == (ToolCall("toolu_1", "get_weather", {"city": "Paris"}),)
    assert (out.finish_reason, out.stop_reason) == ("tool_use", StopReason.TOOL_USE)
    # prompt = input + cache reads + cache writes (the API's input_tokens excludes both)
    assert out.usage == Usage(135, 20, 155, 100, 30, 0)
    assert (out.id, out.model, out.provider) == ("msg_1", "claude-x", "anthropic")


@pytest.mark.parametrize(
    ("raw", "want"),
    [("end_turn", StopReason.STOP), ("stop_sequence", StopReason.STOP),
     ("max_tokens", StopReason.LENGTH), ("tool_use", StopReason.TOOL_USE),
     ("refusal", StopReason.CONTENT_FILTER), ("pause_turn", StopReason.STOP),
     ("model_context_window_exceeded", StopReason.LENGTH)],
)
def test_stop_reasons(raw: str, want: StopReason) -> None:
    body = {"content": [{"type": "text", "text": "x"}], "stop_reason": raw, "usage": {}}
    assert parse_message(ANTHROPIC, response(body)).stop_reason is want


def test_a_wrong_shape_is_a_parse_error_for_the_core() -> None:
    with pytest.raises(KeyError):
        parse_message(ANTHROPIC, response({"type": "message", "id": "x"}))
    with pytest.raises(TypeError):
        parse_message(ANTHROPIC, response(["not", "an", "object"]))


# --- streams ----------------------------------------------------------------------------------
def test_text_stream_with_pings_and_cumulative_usage() -> None:
    chunks, done, acc = run(
        start({"input_tokens": 10, "cache_read_input_tokens": 4, "output_tokens": 1}),
        PING,
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Hel"}),
        PING,
        delta(0, {"type": "text_delta", "text": "lo"}),
        stop(0),
        message_delta("end_turn", {"output_tokens": 7}),
        END,
    )
    assert done is True
    assert chunks[0].role() is Role.ASSISTANT and chunks[0].id == "msg_1"
    assert chunks[0].usage == Usage.of(14, 1, cached_tokens=4)
    assert "".join(c.text() or "" for c in chunks) == "Hello"
    assert chunks[-1].finish_reason() == "end_turn"
    assert chunks[-1].usage == Usage.of(14, 7, cached_tokens=4)
    final = acc.response()
    assert (final.text(), final.model, final.stop_reason) == ("Hello", "claude-x", StopReason.STOP)


def test_message_delta_usage_replaces_start_counts() -> None:
    _, _, acc = run(
        start({"input_tokens": 2039, "output_tokens": 1}),
        message_delta("end_turn", {"input_tokens": 10423, "output_tokens": 341,
                                   "cache_read_input_tokens": None}),
        END,
    )
    assert acc.response().usage == Usage.of(10423, 341)


def test_thinking_blocks_with_signature_deltas_and_redacted_blocks() -> None:
    _, _, acc = run(
        start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Think "}),
        delta(0, {"type": "thinking_delta", "thinking": "hard."}),
        delta(0, {"type": "signature_delta", "signature": "SIG=="}),
        stop(0),
        block_start(1, {"type": "redacted_thinking", "data": "R1"}),
        stop(1),
        block_start(2, {"type": "redacted_thinking", "data": "R2"}),
        stop(2),
        block_start(3, {"type": "text", "text": ""}),
        delta(3, {"type": "text_delta", "text": "Done."}),
        stop(3),
        message_delta("end_turn", {"output_tokens": 9}),
        END,
    )
    message = acc.response().message
    assert message.text() == "Done."
    assert message.reasoning == "Think hard."
    assert message.thinking == (
        ThinkingBlock("Think hard.", "SIG==", None, "anthropic", API),
        ThinkingBlock("", None, "R1", "anthropic", API),
        ThinkingBlock("", None, "R2", "anthropic", API),
    )


def test_tool_use_input_streamed_as_json_deltas() -> None:
    chunks, _, acc = run(
        start(),
        block_start(0, {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}),
        delta(0, {"type": "input_json_delta", "partial_json": ""}),
        delta(0, {"type": "input_json_delta", "partial_json": '{"city": "Pa'}),
        delta(0, {"type": "input_json_delta", "partial_json": 'ris"}'}),
        stop(0),
        block_start(1, {"type": "tool_use", "id": "toolu_b", "name": "noop", "input": {}}),
        stop(1),
        message_delta("tool_use", {"output_tokens": 9}),
        END,
    )
    fragments = [tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls]
    assert [(f.index, f.id, f.name, f.arguments) for f in fragments] == [
        (0, "toolu_a", "get_weather", None),
        (0, None, None, '{"city": "Pa'),
        (0, None, None, 'ris"}'),
        (1, "toolu_b", "noop", None),
        (1, None, None, "{}"),  # no input_json_delta: the start's input is the whole input
    ]
    final = acc.response()
    assert final.tool_calls() == (
        ToolCall("toolu_a", "get_weather", {"city": "Paris"}),
        ToolCall("toolu_b", "noop", {}),
    )
    assert final.stop_reason is StopReason.TOOL_USE


def test_invalid_streamed_tool_json_is_kept_raw() -> None:
    _, _, acc = run(
        start(),
        block_start(0, {"type": "tool_use", "id": "t", "name": "f", "input": {}}),
        delta(0, {"type": "input_json_delta", "partial_json": '{"a": 1,'}),
        stop(0),
        message_delta("tool_use", {"output_tokens": 2}),
        END,
    )
    (call,) = acc.response().tool_calls()
    assert call.arguments == {} and call.raw_arguments == '{"a": 1,'


def test_server_tool_blocks_and_citations_are_not_tool_calls_or_text() -> None:
    _, _, acc = run(
        start(),
        block_start(0, {"type": "server_tool_use", "id": "srv", "name": "web_search",
                        "input": {}}),
        delta(0, {"type": "input_json_delta", "partial_json": '{"query": "x"}'}),
        stop(0),
        block_start(1, {"type": "web_search_tool_result", "tool_use_id": "srv", "content": []}),
        stop(1),
        block_start(2, {"type": "text", "text": ""}),
        delta(2, {"type": "citations_delta", "citation": {"type": "web_search_result_location"}}),
        delta(2, {"type": "text_delta", "text": "Sunny."}),
        stop(2),
        {"type": "some_future_event"},
        message_delta("end_turn", {"output_tokens": 3}),
        END,
    )
    final = acc.response()
    assert final.text() == "Sunny." and final.tool_calls() == ()


def test_stream_without_message_stop_reports_no_terminal_event() -> None:
    _, done, _ = run(start(), block_start(0, {"type": "text", "text": "a"}))
    assert done is None


def test_an_error_event_raises_the_typed_error() -> None:
    gen = iter_chunks(ANTHROPIC, iter([
        Frame(json.dumps(start())),
        Frame('{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'),
    ]))
    next(gen)
    with pytest.raises(llmcore.OverloadedError) as caught:
        next(gen)
    assert caught.value.message == "Overloaded" and caught.value.code == "overloaded_error"


# --- errors -----------------------------------------------------------------------------------
ERROR_CASES = [
    (400, "invalid_request_error", "messages: field required", llmcore.InvalidRequestError),
    (400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum",
     llmcore.ContextLengthExceededError),
    (401, "authentication_error", "invalid x-api-key", llmcore.AuthenticationError),
    (402, "billing_error", "credit balance too low", llmcore.PermissionDeniedError),
    (403, "permission_error", "not allowed", llmcore.PermissionDeniedError),
    (404, "not_found_error", "model: claude-nope", llmcore.ModelNotFoundError),
    (413, "request_too_large", "Request exceeds the maximum size", llmcore.InvalidRequestError),
    (429, "rate_limit_error", "Number of requests has exceeded your rate limit",
     llmcore.RateLimitError),
    (500, "api_error", "Internal server error", llmcore.ServerError),
    (504, "timeout_error", "Request timed out", llmcore.RequestTimeoutError),
    (529, "overloaded_error", "Overloaded", llmcore.OverloadedError),
]


@pytest.mark.parametrize(("status", "etype", "message", "cls"), ERROR_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in ERROR_CASES])
def test_error_types(status: int, etype: str, message: str, cls: type[llmcore.LlmError]) -> None:
    body = {"type": "error", "error": {"type": etype, "message": message},
            "request_id": "req_011"}
    err = parse_error(ANTHROPIC, response(body, status))
    assert type(err) is cls
    assert err is not None
    assert (err.status, err.code, err.message, err.request_id) == (status, etype, message,
                                                                   "req_011")
    assert err.is_retryable() is (status in (429, 500, 504, 529))


def test_unknown_error_type_falls_back_to_the_status() -> None:
    err = parse_error(ANTHROPIC, response({"type": "error", "error": {"type": "new_error",
                                                                      "message": "m"}}, 503))
    assert isinstance(err, llmcore.OverloadedError) and err.code == "new_error"


def test_bodies_of_another_shape_are_left_to_the_core() -> None:
    html = HttpResponse(502, {"content-type": "text/html"}, b"<html><title>Bad</title></html>")
    assert parse_error(ANTHROPIC, html) is None
    assert parse_error(ANTHROPIC, response({"message": "plain"}, 500)) is None


# --- models -----------------------------------------------------------------------------------
def test_models_page() -> None:
    body = {"data": [
        {"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
         "created_at": "2025-09-29T00:00:00Z"},
        {"type": "model", "id": "claude-x"},
    ], "has_more": False, "first_id": "claude-sonnet-4-5", "last_id": "claude-x"}
    models = parse_models(response(body))
    assert [m.id for m in models] == ["claude-sonnet-4-5", "claude-x"]
    assert models[0].created == 1759104000
    assert models[0].extra == {"display_name": "Claude Sonnet 4.5",
                               "created_at": "2025-09-29T00:00:00Z"}
    assert models[1].created is None
