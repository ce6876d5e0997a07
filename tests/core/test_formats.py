"""Output formats: chunks and responses as JSON / SSE / NDJSON, in llmcore's and OpenAI's shape.

The OpenAI shape is checked three ways: field by field, by reading it back with llmcore's own
OpenAI parser (a proxy's client), and against the official SDK's models where installed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmcore import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChunkChoice,
    ConfigurationError,
    Delta,
    HttpResponse,
    Message,
    Role,
    StopReason,
    ToolCall,
    ToolCallDelta,
    Usage,
    serde,
)
from llmcore.formats import (
    iter_ndjson,
    iter_sse,
    openai_chunk_dict,
    openai_response_dict,
    sse_done,
    to_data,
    to_json,
    to_ndjson,
    to_sse,
)
from llmcore.frames import ndjson_frames, sse_frames
from llmcore_openai import OPENAI
from llmcore_openai.parse import iter_chunks, parse_chat

USAGE = Usage.of(100, 20, cached_tokens=60, reasoning_tokens=12)


def chunk(delta: Delta, finish: str | None = None, stop: StopReason | None = None) -> Any:
    return ChatCompletionChunk("chatcmpl-9", "gpt-4o", [ChunkChoice(0, delta, finish, stop)])


STREAM = [
    chunk(Delta(role=Role.ASSISTANT, content="")),
    chunk(Delta(reasoning="Two cities, ", reasoning_signature="sig-not-for-openai")),
    chunk(Delta(reasoning="two calls.")),
    chunk(Delta(content="Checking\nnow\u2028 \u00e9\U0001f600")),
    chunk(Delta(tool_calls=[ToolCallDelta(0, "call_1", "get_weather", "")])),
    chunk(Delta(tool_calls=[ToolCallDelta(0, arguments='{"city": ')])),
    chunk(Delta(tool_calls=[ToolCallDelta(0, arguments='"Paris"}')])),
    chunk(Delta(tool_calls=[ToolCallDelta(1, "call_2", "get_time", "{}")])),
    chunk(Delta(), "tool_calls", StopReason.TOOL_USE),
    ChatCompletionChunk("chatcmpl-9", "gpt-4o", [], USAGE),
]

RESPONSE = ChatCompletionResponse(
    "chatcmpl-9",
    "gpt-4o",
    [
        Choice(
            0,
            Message(
                Role.ASSISTANT,
                "Checking now.",
                tool_calls=[ToolCall("call_1", "get_weather", {"city": "Paris"})],
                reasoning="Two cities.",
            ),
            "tool_calls",
            StopReason.TOOL_USE,
        )
    ],
    USAGE,
    "openai",
    1_700_000_000,
)


# --- framing ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["llmcore", "openai"])
@pytest.mark.parametrize("value", [*STREAM, RESPONSE], ids=lambda v: type(v).__name__)
def test_json_sse_and_ndjson_framing(value: Any, shape: Any) -> None:
    text = to_json(value, shape=shape)
    assert "\n" not in text and "\r" not in text
    assert json.loads(text) == to_data(value, shape=shape)
    assert to_sse(value, shape=shape) == f"data: {text}\n\n"
    assert to_sse(value, shape=shape, event="chunk") == f"event: chunk\ndata: {text}\n\n"
    assert to_ndjson(value, shape=shape) == text + "\n"


def test_sse_done() -> None:
    assert sse_done() == "data: [DONE]\n\n"


def test_iter_sse_and_ndjson() -> None:
    events = list(iter_sse(STREAM))
    assert len(events) == len(STREAM) + 1
    assert events[-1] == sse_done()
    assert all(e.startswith("data: {") and e.endswith("}\n\n") for e in events[:-1])
    assert list(iter_sse(STREAM[:1], done=False)) == [to_sse(STREAM[0], shape="openai")]
    lines = "".join(iter_ndjson(STREAM))
    assert lines.count("\n") == len(STREAM)


def test_sse_frames_parse_back_with_the_core_decoder() -> None:
    body = "".join(iter_sse(STREAM, shape="llmcore")).encode("utf-8")
    frames = list(sse_frames([body[i : i + 7] for i in range(0, len(body), 7)]))
    assert [f.data for f in frames][-1] == "[DONE]"
    assert [serde.loads(f.data, ChatCompletionChunk) for f in frames[:-1]] == STREAM


def test_ndjson_lines_parse_back_with_the_core_decoder() -> None:
    body = "".join(iter_ndjson(STREAM)).encode("utf-8")
    frames = list(ndjson_frames([body]))
    assert [serde.loads(f.data, ChatCompletionChunk) for f in frames] == STREAM


# --- llmcore shape ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", STREAM, ids=str)
def test_llmcore_shape_round_trips_chunks(value: ChatCompletionChunk) -> None:
    assert serde.loads(to_json(value), ChatCompletionChunk) == value


def test_llmcore_shape_round_trips_responses_and_keeps_everything() -> None:
    assert serde.loads(to_json(RESPONSE), ChatCompletionResponse) == RESPONSE
    data = json.loads(to_json(STREAM[1]))
    assert data["choices"][0]["delta"]["reasoning_signature"] == "sig-not-for-openai"


def test_llmcore_shape_works_for_any_value() -> None:
    assert json.loads(to_json(Message.user("hi")))["role"] == "user"


def test_llmcore_shape_takes_no_openai_options() -> None:
    with pytest.raises(ConfigurationError, match="takes no options"):
        to_json(RESPONSE, created=5)


# --- OpenAI shape: field by field ----------------------------------------------------------------
def test_openai_role_and_text_chunks() -> None:
    first = openai_chunk_dict(STREAM[0], created=1_700_000_000)
    assert first == {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
        ],
    }
    text = openai_chunk_dict(STREAM[3])["choices"][0]["delta"]
    assert text == {"content": "Checking\nnow\u2028 \u00e9\U0001f600"}
    assert openai_chunk_dict(STREAM[3])["created"] == 0


def test_openai_reasoning_chunks_drop_signatures() -> None:
    delta = openai_chunk_dict(STREAM[1])["choices"][0]["delta"]
    assert delta == {"reasoning_content": "Two cities, "}
    other = openai_chunk_dict(STREAM[1], reasoning_field="reasoning")["choices"][0]["delta"]
    assert other == {"reasoning": "Two cities, "}
    assert "sig-not-for-openai" not in to_json(STREAM[1], shape="openai")


def test_openai_tool_call_fragments() -> None:
    first, middle = (openai_chunk_dict(STREAM[i])["choices"][0]["delta"] for i in (4, 5))
    assert first == {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ]
    }
    assert middle == {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}


def test_openai_finish_and_usage_chunks() -> None:
    finish = openai_chunk_dict(STREAM[8])["choices"][0]
    assert finish["finish_reason"] == "tool_calls" and finish["delta"] == {}
    usage = openai_chunk_dict(STREAM[9])
    assert usage["choices"] == []
    assert usage["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 12},
    }
    assert "usage" not in openai_chunk_dict(STREAM[0])
    writes = openai_chunk_dict(ChatCompletionChunk(usage=Usage.of(5, 1, cache_write_tokens=3)))
    assert writes["usage"]["prompt_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 3}


@pytest.mark.parametrize(
    ("raw", "stop", "expected"),
    [
        ("stop", StopReason.STOP, "stop"),
        ("end_turn", StopReason.STOP, "stop"),
        ("max_tokens", StopReason.LENGTH, "length"),
        ("tool_use", StopReason.TOOL_USE, "tool_calls"),
        ("refusal", StopReason.CONTENT_FILTER, "content_filter"),
        (None, StopReason.ERROR, "error"),
        (None, StopReason.ABORTED, "error"),
        ("length", None, "length"),
        ("SAFETY", None, "stop"),
        (None, None, None),
    ],
)
def test_openai_finish_reason_mapping(raw: str | None, stop: Any, expected: str | None) -> None:
    data = openai_chunk_dict(chunk(Delta(), raw, stop))
    assert data["choices"][0]["finish_reason"] == expected


def test_openai_response_shape() -> None:
    data = openai_response_dict(RESPONSE)
    assert data == {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking now.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                    "reasoning_content": "Two cities.",
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": openai_chunk_dict(STREAM[9])["usage"],
    }


def test_openai_response_content_is_null_with_only_tool_calls_and_raw_arguments_kept() -> None:
    message = Message.assistant("", [ToolCall("c", "f", {}, raw_arguments='{"a": ')])
    response = ChatCompletionResponse(None, None, [Choice(0, message)])
    data = openai_response_dict(response, created=42)
    assert (data["id"], data["model"], data["created"]) == ("", "", 42)
    assert data["choices"][0]["message"]["content"] is None
    assert data["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == '{"a": '
    assert data["choices"][0]["finish_reason"] is None
    assert "usage" not in data


def test_openai_shape_rejects_other_values_and_unknown_shapes() -> None:
    with pytest.raises(ConfigurationError, match="ChatCompletionChunk"):
        to_json(Message.user("hi"), shape="openai")
    with pytest.raises(ConfigurationError, match="unknown output shape"):
        to_json(RESPONSE, shape="anthropic")  # type: ignore[arg-type]


# --- OpenAI shape: read back by an OpenAI client --------------------------------------------------
def test_openai_sse_stream_reads_back_through_the_openai_parser() -> None:
    body = "".join(iter_sse(STREAM, shape="openai")).encode("utf-8")
    parsed = list(iter_chunks(OPENAI, sse_frames([body])))
    assert len(parsed) == len(STREAM)
    text = "".join(c.text() or "" for c in parsed)
    assert text == "Checking\nnow\u2028 \u00e9\U0001f600"
    assert "".join(c.reasoning() or "" for c in parsed) == "Two cities, two calls."
    deltas = [tc for c in parsed for ch in c.choices for tc in ch.delta.tool_calls]
    assert [(d.index, d.id, d.name) for d in deltas if d.id] == [
        (0, "call_1", "get_weather"),
        (1, "call_2", "get_time"),
    ]
    args = "".join(d.arguments or "" for d in deltas if d.index == 0)
    assert json.loads(args) == {"city": "Paris"}
    assert parsed[8].choices[0].stop_reason is StopReason.TOOL_USE
    assert parsed[9].usage == USAGE


def test_openai_response_reads_back_through_the_openai_parser() -> None:
    body = to_json(RESPONSE, shape="openai").encode("utf-8")
    parsed = parse_chat(OPENAI, HttpResponse(200, {}, body))
    assert parsed.text() == "Checking now."
    assert parsed.tool_calls() == RESPONSE.tool_calls()
    assert parsed.reasoning() == "Two cities."
    assert parsed.usage == USAGE
    assert parsed.stop_reason is StopReason.TOOL_USE
    assert parsed.created == RESPONSE.created


def test_openai_shape_validates_against_the_official_sdk_models() -> None:
    chat = pytest.importorskip("openai.types.chat")
    for value in STREAM:
        chat.ChatCompletionChunk.model_validate(openai_chunk_dict(value), strict=True)
    chat.ChatCompletion.model_validate(openai_response_dict(RESPONSE), strict=True)
