"""OpenAI Chat Completions responses and streams: behaviours the recorded corpus does not cover.

Pure tests call :mod:`llmcore_openai.parse` directly (streams are accumulated with the core's
:class:`~llmcore.accumulate.StreamAccumulator`); the malformed-body and broken-stream tests go
through the real client against the loopback server on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmcore
from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Frame,
    HttpResponse,
    Message,
    StopReason,
    Usage,
)
from llmcore.accumulate import StreamAccumulator
from llmcore_openai import openai_compatible
from llmcore_openai.parse import iter_chunks, parse_chat, parse_models, parse_usage

_INTEGRATION = str(Path(__file__).resolve().parents[2] / "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)

from loopback import LoopbackServer, Reply  # noqa: E402

PROVIDER = openai_compatible("http://127.0.0.1:9/v1", name="acme")
REQUEST = ChatCompletionRequest("m-1", [Message.user("hi")])


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    server = LoopbackServer().start()
    try:
        yield server
    finally:
        server.stop()


def _client(server: LoopbackServer) -> llmcore.Client:
    provider = openai_compatible(server.base_url + "/v1", name="acme")
    return llmcore.Client(provider, api_key="test-key",
                          options=llmcore.ConnectionOptions(max_retries=0))


def chat(
    message: dict[str, Any], finish: str | None = "stop", **body: Any
) -> ChatCompletionResponse:
    raw = {"id": "c-1", "model": "m-1",
           "choices": [{"index": 0, "message": message, "finish_reason": finish}], **body}
    return parse_chat(PROVIDER, HttpResponse(200, {"content-type": "application/json"},
                                             json.dumps(raw).encode()))


def frame(delta: dict[str, Any] | None = None, finish: str | None = None,
          **extra: Any) -> str:
    return json.dumps({"id": "s-1", "model": "m-1",
                       "choices": [{"index": 0, "delta": delta or {},
                                    "finish_reason": finish}], **extra})


def run_frames(datas: list[str], provider: Any = PROVIDER) -> tuple[ChatCompletionResponse, bool]:
    """Accumulate the chunks ``iter_chunks`` makes of ``datas``; also whether it saw [DONE]."""
    acc = StreamAccumulator(provider.name, provider.api)
    chunks = iter_chunks(provider, iter(Frame(d) for d in datas))
    while True:
        try:
            acc.feed(next(chunks))
        except StopIteration as stop:
            return acc.response(), bool(stop.value)


def tool_frame(**call: Any) -> str:
    return frame({"tool_calls": [call]})


def _calls(response: ChatCompletionResponse) -> list[tuple[str, str, dict[str, Any], str | None]]:
    return [(c.id, c.name, c.arguments, c.raw_arguments) for c in response.tool_calls()]


# --- finish reasons ---------------------------------------------------------------------------
def test_unknown_finish_reason_is_stop_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmcore"):
        response = chat({"role": "assistant", "content": "ok"}, finish="eos_token")
    assert response.finish_reason == "eos_token"
    assert response.stop_reason is StopReason.STOP
    assert any("eos_token" in r.getMessage() and "acme" in r.getMessage()
               for r in caplog.records if r.levelno == logging.WARNING)


def test_unknown_finish_reason_in_a_stream(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmcore"):
        response, done = run_frames([frame({"content": "ok"}), frame(finish="brand_new"),
                                     "[DONE]"])
    assert done
    assert (response.finish_reason, response.stop_reason) == ("brand_new", StopReason.STOP)
    assert any("brand_new" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("raw", "unified"), [
    ("stop", StopReason.STOP), ("length", StopReason.LENGTH),
    ("tool_calls", StopReason.TOOL_USE), ("function_call", StopReason.TOOL_USE),
    ("content_filter", StopReason.CONTENT_FILTER), ("sensitive", StopReason.CONTENT_FILTER),
    ("model_context_window_exceeded", StopReason.LENGTH),
    ("insufficient_system_resource", StopReason.ERROR),
])
def test_known_finish_reasons(
    raw: str, unified: StopReason, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="llmcore"):
        assert chat({"role": "assistant", "content": "x"}, finish=raw).stop_reason is unified
    assert not caplog.records


def test_stop_with_tool_calls_is_tool_use() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    response = chat({"role": "assistant", "content": None, "tool_calls": [call]}, finish="stop")
    assert response.stop_reason is StopReason.TOOL_USE


# --- content shapes ---------------------------------------------------------------------------
def test_content_as_a_list_of_parts() -> None:
    response = chat({"role": "assistant", "content": [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Let me "},
                                          {"type": "text", "text": "think."}]},
        {"type": "text", "text": "Hel"},
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        {"type": "text", "text": "lo"},
    ]})
    assert response.text() == "Hello"
    assert response.message.reasoning == "Let me think."


def test_thinking_part_as_a_plain_string() -> None:
    response = chat({"role": "assistant", "content": [
        {"type": "thinking", "thinking": "short"}, {"type": "text", "text": "ok"}]})
    assert (response.text(), response.message.reasoning) == ("ok", "short")


def test_content_parts_in_stream_deltas() -> None:
    response, _ = run_frames([
        frame({"role": "assistant",
               "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "hm"}]}]}),
        frame({"content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]}),
        frame({"content": "C"}, finish="stop"),
        "[DONE]",
    ])
    assert (response.text(), response.reasoning()) == ("ABC", "hm")


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "reasoning_text"])
def test_reasoning_fields(field: str) -> None:
    assert chat({"role": "assistant", "content": "4", field: "2+2"}).message.reasoning == "2+2"


def test_duplicate_reasoning_fields_are_taken_once() -> None:
    response, _ = run_frames([frame({"reasoning": "a", "reasoning_content": "a"}),
                              frame({"reasoning": "b", "reasoning_content": "b"}, "stop"),
                              "[DONE]"])
    assert response.reasoning() == "ab"


def test_null_content_is_empty_text() -> None:
    assert chat({"role": "assistant", "content": None}).text() == ""


# --- streamed tool calls ----------------------------------------------------------------------
def test_tool_call_without_index_same_id_continues_new_id_starts() -> None:
    response, _ = run_frames([
        tool_frame(id="a", type="function", function={"name": "f", "arguments": '{"x"'}),
        tool_frame(id="a", function={"arguments": ": 1}"}),
        tool_frame(id="b", type="function", function={"name": "g", "arguments": '{"y":'}),
        tool_frame(function={"arguments": " 2}"}),  # no id, no index: the latest call
        tool_frame(id="a", function={"arguments": ""}),
        frame(finish="tool_calls"),
        "[DONE]",
    ])
    assert _calls(response) == [("a", "f", {"x": 1}, None), ("b", "g", {"y": 2}, None)]
    assert response.stop_reason is StopReason.TOOL_USE


def test_tool_call_without_index_or_id() -> None:
    response, _ = run_frames([
        tool_frame(function={"name": "now", "arguments": "{}"}),
        frame(finish="tool_calls"), "[DONE]",
    ])
    assert _calls(response) == [("", "now", {}, None)]


def test_repeated_id_and_name_in_every_fragment_are_taken_once() -> None:
    pieces = ['{"ci', 'ty": ', '"Paris"}']
    response, _ = run_frames([
        tool_frame(index=0, id="0", type="function",
                   function={"name": "get_weather", "arguments": p}) for p in pieces
    ] + ["[DONE]"])
    assert _calls(response) == [("0", "get_weather", {"city": "Paris"}, None)]


def test_arguments_before_id_and_name() -> None:
    response, _ = run_frames([
        tool_frame(index=0, function={"arguments": "{}"}),
        tool_frame(index=0, id="0", type="function", function={"name": "llm_version"}),
        "[DONE]",
    ])
    assert _calls(response) == [("0", "llm_version", {}, None)]


def test_parallel_calls_by_index() -> None:
    response, _ = run_frames([
        tool_frame(index=0, id="c0", function={"name": "f", "arguments": ""}),
        tool_frame(index=1, id="c1", function={"name": "f", "arguments": '{"n": 2}'}),
        tool_frame(index=0, function={"arguments": '{"n": 1}'}),
        frame(finish="tool_calls"), "[DONE]",
    ])
    assert _calls(response) == [("c0", "f", {"n": 1}, None), ("c1", "f", {"n": 2}, None)]


@pytest.mark.parametrize("arguments", ['{"city": "Par', "[1, 2]", "not json"])
def test_invalid_arguments_are_kept_raw(arguments: str) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    response = chat({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")
    assert _calls(response) == [("c", "f", {}, arguments)]
    streamed, _ = run_frames([
        tool_frame(index=0, id="c", function={"name": "f", "arguments": arguments[:3]}),
        tool_frame(index=0, function={"arguments": arguments[3:]}),
        frame(finish="tool_calls"), "[DONE]",
    ])
    assert _calls(streamed) == [("c", "f", {}, arguments)]


def test_empty_arguments_are_an_empty_object() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}
    response = chat({"role": "assistant", "tool_calls": [call]}, "tool_calls")
    assert _calls(response) == [("c", "f", {}, None)]


def test_extra_tool_call_fields_are_kept() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"},
            "extra_content": {"google": {"thought_signature": "sig"}}}
    response = chat({"role": "assistant", "tool_calls": [call]}, "tool_calls")
    assert response.tool_calls()[0].extra == {
        "extra_content": {"google": {"thought_signature": "sig"}}}


# --- usage --------------------------------------------------------------------------------------
def test_usage_details() -> None:
    usage = parse_usage({"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
                         "prompt_tokens_details": {"cached_tokens": 80, "cache_write_tokens": 5},
                         "completion_tokens_details": {"reasoning_tokens": 30}})
    assert usage == Usage(100, 50, 150, cached_tokens=80, cache_write_tokens=5,
                          reasoning_tokens=30)


def test_usage_deepseek_cache_hits_and_missing_total() -> None:
    usage = parse_usage({"prompt_tokens": 10, "completion_tokens": 2, "prompt_cache_hit_tokens": 8,
                         "prompt_tokens_details": None})
    assert usage == Usage(10, 2, 12, cached_tokens=8)


def test_usage_absent_or_not_an_object() -> None:
    assert parse_usage(None) is None
    assert parse_usage("12") is None


def test_stream_usage_from_x_groq_and_from_the_choice() -> None:
    groq, _ = run_frames([frame({"content": "a"}, "stop",
                                x_groq={"usage": {"prompt_tokens": 3, "completion_tokens": 1}}),
                          "[DONE]"])
    assert groq.usage == Usage.of(3, 1)
    inline = json.dumps({"id": "s", "choices": [{"index": 0, "delta": {"content": "a"},
                                                 "finish_reason": "stop",
                                                 "usage": {"prompt_tokens": 4,
                                                           "completion_tokens": 2}}]})
    choice, _ = run_frames([inline, "[DONE]"])
    assert choice.usage == Usage.of(4, 2)


def test_usage_only_final_chunk() -> None:
    response, done = run_frames([
        frame({"content": "hi"}), frame(finish="stop"),
        json.dumps({"id": "s", "choices": [], "usage": {"prompt_tokens": 5,
                                                        "completion_tokens": 1}}),
        "[DONE]",
    ])
    assert done and response.usage == Usage.of(5, 1) and response.text() == "hi"


# --- stream ends --------------------------------------------------------------------------------
def test_done_is_reported_and_blank_frames_are_skipped() -> None:
    response, done = run_frames(["", "  ", frame({"content": "x"}, "stop"), "[DONE]"])
    assert done and response.text() == "x"


def test_no_done_is_reported() -> None:
    _, done = run_frames([frame({"content": "x"}, "stop")])
    assert not done


def test_think_tags_flush_at_the_end_of_a_stream() -> None:
    provider = openai_compatible("http://x/v1", name="acme", think_tags=True)
    response, _ = run_frames([frame({"content": "<thi"}), frame({"content": "nk>why"}),
                              frame({"content": "</thi"}), "[DONE]"], provider)
    assert response.text() == ""
    assert response.reasoning() == "why</thi"


# --- errors in 200 answers --------------------------------------------------------------------
@pytest.mark.parametrize(("error", "cls", "status", "code"), [
    ({"message": "slow down", "type": "rate_limit", "code": "rate_limit_exceeded",
      "status_code": 429}, llmcore.RateLimitError, 429, "rate_limit_exceeded"),
    ({"message": "Token limit reached", "code": 400}, llmcore.InvalidRequestError, 400, "400"),
    ({"message": "This model's maximum context length is 8192 tokens",
      "code": "context_length_exceeded"}, llmcore.ContextLengthExceededError, 200,
     "context_length_exceeded"),
    ({"message": "gone", "code": "model_not_found"}, llmcore.ModelNotFoundError, 200,
     "model_not_found"),
    ({"message": "upstream failed", "code": 502}, llmcore.ServerError, 502, "502"),
    ({"message": "boom", "type": "server_error", "code": None}, llmcore.ServerError, 200, None),
])
def test_error_frame_raises_a_typed_error(error: dict[str, Any], cls: type[llmcore.LlmError],
                                          status: int, code: str | None) -> None:
    with pytest.raises(llmcore.LlmError) as caught:
        run_frames([frame({"content": "par"}), json.dumps({"error": error}), "[DONE]"])
    err = caught.value
    assert type(err) is cls
    assert (err.message, err.status, err.code, err.provider) == (
        error["message"], status, code, "acme")


def test_error_string_frame() -> None:
    with pytest.raises(llmcore.LlmError) as caught:
        run_frames([json.dumps({"error": "overloaded, try later"})])
    assert caught.value.message == "overloaded, try later"


def test_error_object_in_a_200_body() -> None:
    body = {"error": {"message": "quota", "code": "insufficient_quota", "status_code": 429}}
    with pytest.raises(llmcore.RateLimitError) as caught:
        parse_chat(PROVIDER, HttpResponse(200, {}, json.dumps(body).encode()))
    assert caught.value.code == "insufficient_quota"
    assert not caught.value.is_retryable()


def test_error_frame_through_the_client_keeps_the_partial(loopback: LoopbackServer) -> None:
    loopback.add("POST", "/v1/chat/completions", Reply.sse([
        frame({"role": "assistant", "content": "Hel"}),
        json.dumps({"error": {"message": "boom", "code": 503}}),
    ], fragment=5))
    with _client(loopback) as client:
        stream = client.chat_completion_stream(REQUEST)
        with pytest.raises(llmcore.OverloadedError) as caught:
            stream.text()
    assert caught.value.message == "boom"
    assert caught.value.partial is not None and caught.value.partial.text() == "Hel"
    assert caught.value.partial.stop_reason is StopReason.ERROR


# --- malformed answers through the client -----------------------------------------------------
def test_frame_that_is_not_json(loopback: LoopbackServer) -> None:
    loopback.add("POST", "/v1/chat/completions", Reply.sse([
        frame({"role": "assistant", "content": "Hi"}), "{not json", "[DONE]"]))
    with _client(loopback) as client:
        stream = client.chat_completion_stream(REQUEST)
        with pytest.raises(llmcore.MalformedResponseError) as caught:
            list(stream)
    err = caught.value
    assert err.provider == "acme" and "acme" in err.message
    assert err.partial is not None and err.partial.text() == "Hi"
    assert stream.error is err


def test_frame_that_is_a_json_array(loopback: LoopbackServer) -> None:
    loopback.add("POST", "/v1/chat/completions", Reply.sse(["[1, 2]", "[DONE]"]))
    with _client(loopback) as client, pytest.raises(llmcore.MalformedResponseError):
        client.chat_completion_stream(REQUEST).text()


HTML = ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
        "<body><h1>Bad Gateway</h1>" + "x" * 400 + "</body></html>")


@pytest.mark.parametrize(("body", "kind"), [
    (HTML, "not valid JSON"),
    ('{"id": "c-1", "object": "chat.completion", "choices": [{"index": 0, "mess',
     "not valid JSON"),
    ('{"id": "c-1", "object": "chat.completion"}', "unexpected shape"),
    ("", "not valid JSON"),
])
def test_malformed_200_body(loopback: LoopbackServer, body: str, kind: str) -> None:
    loopback.add("POST", "/v1/chat/completions",
                 Reply.raw(200, body, content_type="application/json"))
    with _client(loopback) as client, pytest.raises(llmcore.MalformedResponseError) as caught:
        client.chat_completion(REQUEST)
    err = caught.value
    assert err.provider == "acme"
    assert err.message.startswith("acme sent a response that is ")
    assert kind in err.message
    assert repr(body[:40])[1:-1] in err.message  # the start of the body, quoted
    assert not err.is_retryable()


def test_malformed_list_models(loopback: LoopbackServer) -> None:
    loopback.add("GET", "/v1/models", Reply.raw(200, "<html>login</html>"))
    with _client(loopback) as client, pytest.raises(llmcore.MalformedResponseError) as caught:
        client.list_models()
    assert "<html>login</html>" in caught.value.message


def test_stream_without_done_or_finish_reason_is_interrupted(loopback: LoopbackServer) -> None:
    loopback.add("POST", "/v1/chat/completions", Reply.sse([
        frame({"role": "assistant", "content": "Hello"}), frame({"content": " wor"})],
        random_fragments=True, seed=11))
    with _client(loopback) as client:
        stream = client.chat_completion_stream(REQUEST)
        seen = []
        with pytest.raises(llmcore.StreamInterruptedError) as caught:
            for chunk in stream:
                seen.append(chunk.text() or "")
    err = caught.value
    assert "".join(seen) == "Hello wor"
    assert err.partial is not None and err.partial.text() == "Hello wor"
    assert err.partial.stop_reason is StopReason.ERROR
    assert err.provider == "acme"


def test_stream_with_finish_reason_but_no_done_completes(loopback: LoopbackServer) -> None:
    loopback.add("POST", "/v1/chat/completions", Reply.sse([
        frame({"role": "assistant", "content": "Hi"}), frame(finish="stop")]))
    with _client(loopback) as client:
        stream = client.chat_completion_stream(REQUEST)
        assert stream.text() == "Hi"
    assert stream.response.stop_reason is StopReason.STOP
    assert stream.error is None


# --- list models --------------------------------------------------------------------------------
def test_parse_models() -> None:
    body = {"object": "list", "data": [
        {"id": "m-1", "object": "model", "created": 1, "owned_by": "acme", "context": 8192},
        {"id": 42},
    ]}
    models = parse_models(HttpResponse(200, {}, json.dumps(body).encode()))
    assert [(m.id, m.created, m.owned_by, m.extra) for m in models] == [
        ("m-1", 1, "acme", {"context": 8192}), ("42", None, None, {})]


def test_parse_models_bare_list() -> None:
    models = parse_models(HttpResponse(200, {}, b'[{"id": "a"}, {"id": "b"}]'))
    assert [m.id for m in models] == ["a", "b"]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "reasoning_text", "thinking",
                                   "thought"])
def test_every_reasoning_field_name_is_read(field: str) -> None:
    body = {"id": "x", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "4", field: "2+2"}}]}
    raw = HttpResponse(200, {}, json.dumps(body).encode())
    response = parse_chat(openai_compatible("http://x/v1"), raw)
    assert (response.text(), response.message.reasoning) == ("4", "2+2")
