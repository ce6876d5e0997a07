"""Anthropic Messages answers, stream events, errors and model lists -> llmcore objects (pure)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmcore
from llmcore import Frame, HttpResponse, Role, StopReason, ThinkingBlock, ToolCall, Usage
from llmcore import events as ev
from llmcore.accumulate import StreamAccumulator
from llmcore_anthropic import ANTHROPIC
from llmcore_anthropic.parse import (
    iter_chunks,
    parse_error,
    parse_message,
    parse_models,
    parse_models_page,
)

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


def events_per_chunk(*events: dict[str, Any]) -> list[list[Any]]:
    """The block events each chunk produces, chunk by chunk (``[]`` for a chunk with none)."""
    acc = StreamAccumulator("anthropic", API)
    return [acc.feed(chunk) for chunk in iter_chunks(ANTHROPIC, frames(*events))]


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
    """Each ``content_block_stop`` of a tool call is a fragment with ``end=True`` and no
    arguments: a call that streamed no input gets ``{}`` from the core, nothing guessed."""
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
    assert [(f.index, f.id, f.name, f.arguments, f.end) for f in fragments] == [
        (0, "toolu_a", "get_weather", None, False),
        (0, None, None, '{"city": "Pa', False),
        (0, None, None, 'ris"}', False),
        (0, None, None, None, True),
        (1, "toolu_b", "noop", None, False),
        (1, None, None, None, True),  # no input_json_delta: no argument text, the call ends
    ]
    final = acc.response()
    assert final.tool_calls() == (
        ToolCall("toolu_a", "get_weather", {"city": "Paris"}),
        ToolCall("toolu_b", "noop", {}),
    )
    assert final.stop_reason is StopReason.TOOL_USE


def test_a_tool_call_ends_at_its_block_stop_in_the_event_view() -> None:
    """The end event of a call with no input comes with its ``content_block_stop``, not at
    stream close, and carries ``{}``."""
    per_chunk = events_per_chunk(
        start(),
        block_start(0, {"type": "tool_use", "id": "toolu_b", "name": "noop", "input": {}}),
        stop(0),
        message_delta("tool_use", {"output_tokens": 9}),
        END,
    )
    assert [type(e) for e in per_chunk[1]] == [ev.ToolCallStartEvent]
    (end,) = per_chunk[2]
    assert isinstance(end, ev.ToolCallEndEvent)
    assert end.tool_call == ToolCall("toolu_b", "noop", {})


def test_an_input_given_whole_at_the_block_start_is_the_arguments() -> None:
    """A server that puts the whole input in ``content_block_start`` and streams no delta."""
    chunks, _, acc = run(
        start(),
        block_start(0, {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}),
        stop(0),
        message_delta("tool_use", {"output_tokens": 2}),
        END,
    )
    last = chunks[2].choices[0].delta.tool_calls[0]
    assert (last.arguments, last.end) == ('{"a": 1}', True)
    assert acc.response().tool_calls() == (ToolCall("t", "f", {"a": 1}),)


def test_block_stop_ends_text_and_thinking_blocks() -> None:
    """Two text blocks in a row stay two blocks in the event view, each ended at its stop."""
    per_chunk = events_per_chunk(
        start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Hm."}),
        delta(0, {"type": "signature_delta", "signature": "S"}),
        stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "One."}),
        stop(1),
        block_start(2, {"type": "text", "text": ""}),
        delta(2, {"type": "text_delta", "text": " Two."}),
        stop(2),
        message_delta("end_turn", {"output_tokens": 3}),
        END,
    )
    kinds = [[type(e).__name__ for e in chunk] for chunk in per_chunk]
    assert kinds == [  # empty block starts yield no chunk
        [],
        ["ThinkingStartEvent", "ThinkingDeltaEvent"],
        [],
        ["ThinkingEndEvent"],
        ["TextStartEvent", "TextDeltaEvent"],
        ["TextEndEvent"],
        ["TextStartEvent", "TextDeltaEvent"],
        ["TextEndEvent"],
        [],
    ]
    ends = [e for chunk in per_chunk for e in chunk if isinstance(e, ev.TextEndEvent)]
    assert [e.content for e in ends] == ["One.", " Two."]
    thinking = next(e for chunk in per_chunk for e in chunk if isinstance(e, ev.ThinkingEndEvent))
    assert (thinking.content, thinking.signature) == ("Hm.", "S")


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


CITATION = {"type": "web_search_result_location", "url": "https://w.example/sf",
            "title": "SF weather", "cited_text": "Sunny, 21 C.", "encrypted_index": "E1"}
SEARCH_RESULT = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
    {"type": "web_search_result", "url": "https://w.example/sf", "title": "SF weather",
     "encrypted_content": "ENC==", "page_age": "1 day ago"}]}
WEB_SEARCH_CONTENT = [
    {"type": "text", "text": "Let me search."},
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
     "input": {"query": "SF weather"}},
    SEARCH_RESULT,
    {"type": "text", "text": "It is ", "citations": None},
    {"type": "text", "text": "sunny.", "citations": [CITATION]},
]
WEB_SEARCH_EVENTS = (
    start({"input_tokens": 10, "output_tokens": 1, "service_tier": "standard",
           "cache_creation": {"ephemeral_5m_input_tokens": 0}}),
    block_start(0, {"type": "text", "text": ""}),
    delta(0, {"type": "text_delta", "text": "Let me search."}),
    stop(0),
    block_start(1, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
                    "input": {}}),
    delta(1, {"type": "input_json_delta", "partial_json": ""}),
    delta(1, {"type": "input_json_delta", "partial_json": '{"query": '}),
    delta(1, {"type": "input_json_delta", "partial_json": '"SF weather"}'}),
    stop(1),
    block_start(2, SEARCH_RESULT),
    stop(2),
    block_start(3, {"type": "text", "text": "", "citations": None}),
    delta(3, {"type": "text_delta", "text": "It is "}),
    stop(3),
    block_start(4, {"type": "text", "text": "", "citations": []}),
    delta(4, {"type": "citations_delta", "citation": CITATION}),
    delta(4, {"type": "text_delta", "text": "sunny."}),
    stop(4),
    {"type": "some_future_event"},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None,
                                        "container": {"id": "cnt_1"}},
     "usage": {"output_tokens": 30, "server_tool_use": {"web_search_requests": 1}}},
    END,
)


def test_server_tool_blocks_and_citations_are_kept_as_provider_data() -> None:
    """A web-search answer: the server tool blocks are neither tool calls nor text; the whole
    content list (citations included) is the message's provider data."""
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": WEB_SEARCH_CONTENT, "stop_reason": "end_turn", "stop_sequence": None,
            "container": {"id": "cnt_1"},
            "usage": {"input_tokens": 10, "output_tokens": 30, "service_tier": "standard",
                      "cache_creation": {"ephemeral_5m_input_tokens": 0},
                      "server_tool_use": {"web_search_requests": 1}}}
    out = parse_message(ANTHROPIC, response(body))
    assert out.text() == "Let me search.It is sunny." and out.tool_calls() == ()
    assert out.message.provider_data == {"content": WEB_SEARCH_CONTENT}
    assert out.provider_data == {"container": {"id": "cnt_1"}}
    assert out.usage is not None
    assert out.usage.provider_data == {"service_tier": "standard",
                                       "cache_creation": {"ephemeral_5m_input_tokens": 0},
                                       "server_tool_use": {"web_search_requests": 1}}


def test_a_stream_ends_with_the_provider_data_of_the_whole_answer() -> None:
    """The same web-search answer streamed: blocks assembled from their deltas (the server
    tool's input, the citations) give the same message, response and usage provider data."""
    chunks, done, acc = run(*WEB_SEARCH_EVENTS)
    assert done is True
    final = acc.response()
    assert final.text() == "Let me search.It is sunny." and final.tool_calls() == ()
    assert final.message.provider_data == {"content": WEB_SEARCH_CONTENT}
    assert final.provider_data == {"container": {"id": "cnt_1"}}
    assert final.usage is not None
    assert final.usage.provider_data == {"service_tier": "standard",
                                         "cache_creation": {"ephemeral_5m_input_tokens": 0},
                                         "server_tool_use": {"web_search_requests": 1}}
    # the list arrives from the first unmodelled block's end on: the blocks so far, then each
    pieces = [len(ch.delta.provider_data["content"]) for c in chunks for ch in c.choices
              if "content" in ch.delta.provider_data]
    assert pieces == [2, 1, 1, 1]


def test_plain_answers_carry_no_content_copy() -> None:
    """Text, thinking and tool calls are modelled: no ``content`` provider data for them."""
    body = {"content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                        {"type": "text", "text": "x"},
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}}
    assert parse_message(ANTHROPIC, response(body)).message.provider_data == {}
    _, _, acc = run(start(), block_start(0, {"type": "text", "text": "x"}), stop(0),
                    message_delta("end_turn", {"output_tokens": 1}), END)
    assert acc.response().message.provider_data == {}


def test_stop_sequence_is_choice_provider_data() -> None:
    body = {"content": [{"type": "text", "text": "1, 2"}], "stop_reason": "stop_sequence",
            "stop_sequence": "3", "usage": {"input_tokens": 1, "output_tokens": 1}}
    whole = parse_message(ANTHROPIC, response(body))
    assert whole.choices[0].provider_data == {"stop_sequence": "3"}
    _, _, acc = run(
        start(), block_start(0, {"type": "text", "text": "1, 2"}), stop(0),
        {"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "3"},
         "usage": {"output_tokens": 1}},
        END,
    )
    streamed = acc.response()
    assert streamed.choices[0].provider_data == {"stop_sequence": "3"}
    assert streamed.stop_reason is StopReason.STOP


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
    page = parse_models_page(ANTHROPIC, response(body))
    assert page.models == tuple(models) and page.next_request is None


def test_models_page_with_more_asks_for_the_next_after_its_last_id() -> None:
    body = {"data": [{"type": "model", "id": "claude-a"}], "has_more": True,
            "first_id": "claude-a", "last_id": "claude-a"}
    page = parse_models_page(ANTHROPIC, response(body))
    assert [m.id for m in page.models] == ["claude-a"]
    nxt = page.next_request
    assert nxt is not None
    assert (nxt.method, nxt.url) == ("GET", "https://api.anthropic.com/v1/models")
    assert nxt.params == {"limit": "1000", "after_id": "claude-a"}
    assert nxt.header("anthropic-version") == "2023-06-01"
    # ``has_more`` without a cursor cannot be followed: the last page
    no_cursor = {**body, "last_id": None}
    assert parse_models_page(ANTHROPIC, response(no_cursor)).next_request is None
