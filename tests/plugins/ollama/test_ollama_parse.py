"""Ollama answers, NDJSON stream lines, model lists and errors -> llmcore: pure parsing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmcore
from llmcore import Frame, HttpResponse, StopReason, Usage
from llmcore.accumulate import StreamAccumulator
from llmcore_ollama import OLLAMA
from llmcore_ollama.management import PullProgress, parse_show
from llmcore_ollama.parse import (
    iter_chunks,
    parse_chat,
    parse_created,
    parse_error,
    parse_models,
    tool_call_id,
)

CREATED = "2025-01-02T03:04:05.123456789Z"


def _response(body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, {"content-type": "application/json"}, json.dumps(body).encode())


def _answer(message: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "qwen3", "created_at": CREATED, "message": {"role": "assistant", **message},
            "done": True, "done_reason": "stop", "prompt_eval_count": 12, "eval_count": 30,
            **fields}


def test_text_answer_with_usage_model_and_created() -> None:
    response = parse_chat(OLLAMA, _response(_answer({"content": "Hello"})))
    assert response.text() == "Hello"
    assert (response.finish_reason, response.stop_reason) == ("stop", StopReason.STOP)
    assert response.usage == Usage.of(12, 30)
    assert (response.model, response.provider, response.id) == ("qwen3", "ollama", None)
    assert response.created == 1735787045


def test_thinking_is_reasoning() -> None:
    response = parse_chat(OLLAMA, _response(_answer({"content": "4", "thinking": "2+2=4"})))
    assert response.reasoning() == "2+2=4"
    assert response.text() == "4"


def test_tool_calls_with_object_arguments_end_as_tool_use_with_synthesised_ids() -> None:
    calls = [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
             {"id": "call_given", "function": {"index": 1, "name": "get_time",
                                              "arguments": {"tz": "CET"}}}]
    response = parse_chat(OLLAMA, _response(_answer({"content": "", "tool_calls": calls})))
    first, second = response.tool_calls()
    assert (first.name, first.arguments) == ("get_weather", {"city": "Paris"})
    assert first.id.startswith("call_0_") and len(first.id) == len("call_0_") + 8
    assert (second.id, second.name, second.arguments) == ("call_given", "get_time", {"tz": "CET"})
    assert response.stop_reason is StopReason.TOOL_USE
    assert response.finish_reason == "stop"  # the raw value stays
    again = parse_chat(OLLAMA, _response(_answer({"content": "", "tool_calls": calls})))
    assert again.tool_calls()[0].id == first.id  # deterministic


def test_synthesised_ids_differ_by_index_time_name_and_arguments() -> None:
    call = {"function": {"name": "f", "arguments": {"a": 1}}}
    ids = {tool_call_id(call, 0, CREATED), tool_call_id(call, 1, CREATED),
           tool_call_id(call, 0, "2025-01-02T03:04:06Z"),
           tool_call_id({"function": {"name": "f", "arguments": {"a": 2}}}, 0, CREATED)}
    assert len(ids) == 4


def test_length_and_load_done_reasons() -> None:
    response = parse_chat(OLLAMA, _response(_answer({"content": "cut"}, done_reason="length")))
    assert response.stop_reason is StopReason.LENGTH
    loaded = parse_chat(OLLAMA, _response(_answer({"content": ""}, done_reason="load")))
    assert loaded.stop_reason is StopReason.STOP


def test_a_server_without_done_reason_finishes_with_stop() -> None:
    body = _answer({"content": "old server"})
    del body["done_reason"]
    assert parse_chat(OLLAMA, _response(body)).finish_reason == "stop"


def test_an_error_object_in_a_200_body_is_raised_typed() -> None:
    with pytest.raises(llmcore.ModelNotFoundError):
        parse_chat(OLLAMA, _response({"error": "model 'nope' not found"}))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2024-05-24T20:01:31.01558Z", 1716580891), ("2024-05-24T22:01:31+02:00", 1716580891),
     ("2024-05-24T20:01:31", 1716580891), ("yesterday", None), (None, None)],
)
def test_created_at(value: Any, seconds: int | None) -> None:
    assert parse_created(value) == seconds


def _lines(*objects: dict[str, Any]) -> Iterator[Frame]:
    return iter([Frame(json.dumps(o)) for o in objects])


def _stream(*objects: dict[str, Any]) -> tuple[list[llmcore.ChatCompletionChunk], Any]:
    chunks: list[llmcore.ChatCompletionChunk] = []
    gen = iter_chunks(OLLAMA, _lines(*objects))
    while True:
        try:
            chunks.append(next(gen))
        except StopIteration as stop:
            return chunks, stop.value


def _line(message: dict[str, Any], done: bool = False, **fields: Any) -> dict[str, Any]:
    return {"model": "qwen3", "created_at": CREATED,
            "message": {"role": "assistant", **message}, "done": done, **fields}


def test_stream_deltas_usage_at_done_and_the_terminal_return() -> None:
    chunks, terminal = _stream(
        _line({"content": "", "thinking": "let me"}),
        _line({"content": "", "thinking": " think"}),
        _line({"content": "Hel"}),
        _line({"content": "lo"}),
        _line({"content": ""}, True, done_reason="stop", prompt_eval_count=5, eval_count=9),
    )
    assert terminal is True
    assert chunks[0].role() is llmcore.Role.ASSISTANT and chunks[1].role() is None
    assert [c.reasoning() for c in chunks[:2]] == ["let me", " think"]
    assert [c.text() for c in chunks] == [None, None, "Hel", "lo", None]
    assert [c.usage for c in chunks[:-1]] == [None] * 4
    assert chunks[-1].usage == Usage.of(5, 9)
    assert (chunks[-1].finish_reason(), chunks[-1].choices[0].stop_reason) == (
        "stop", StopReason.STOP)


def test_stream_tool_calls_arrive_whole_each_its_own_index() -> None:
    chunks, _ = _stream(
        _line({"content": "", "tool_calls": [
            {"function": {"name": "a", "arguments": {"x": 1}}}]}),
        _line({"content": "", "tool_calls": [
            {"function": {"name": "b", "arguments": {}}},
            {"id": "given", "function": {"name": "c", "arguments": {"y": [1, 2]}}}]}),
        _line({"content": ""}, True, done_reason="stop", prompt_eval_count=1, eval_count=2),
    )
    deltas = [d for c in chunks for d in c.choices[0].delta.tool_calls]
    assert [(d.index, d.name, json.loads(d.arguments or "")) for d in deltas] == [
        (0, "a", {"x": 1}), (1, "b", {}), (2, "c", {"y": [1, 2]})]
    assert deltas[2].id == "given" and deltas[0].id and deltas[1].id
    assert chunks[-1].choices[0].stop_reason is StopReason.TOOL_USE
    acc = StreamAccumulator("ollama", "ollama-chat")
    for chunk in chunks:
        acc.feed(chunk)
    calls = acc.response().tool_calls()
    assert [(c.name, c.arguments) for c in calls] == [("a", {"x": 1}), ("b", {}),
                                                       ("c", {"y": [1, 2]})]


def test_stream_that_stops_before_done_does_not_claim_its_end() -> None:
    _, terminal = _stream(_line({"content": "par"}))
    assert terminal is None


def test_an_error_line_mid_stream_raises_a_typed_error() -> None:
    gen = iter_chunks(OLLAMA, _lines(_line({"content": "Hi"}),
                                     {"error": "an error was encountered while running the model"}))
    assert next(gen).text() == "Hi"
    with pytest.raises(llmcore.ServerError) as caught:
        next(gen)
    assert caught.value.message == "an error was encountered while running the model"
    assert caught.value.status is None


def test_a_context_overflow_error_line_is_typed_as_such() -> None:
    gen = iter_chunks(OLLAMA, _lines({"error": "the input length exceeds the context length"}))
    with pytest.raises(llmcore.ContextLengthExceededError):
        next(gen)


@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (404, 'model "llama9" not found, try pulling it first', llmcore.ModelNotFoundError),
        (500, "pull model manifest: file does not exist", llmcore.ModelNotFoundError),
        (400, "registry.ollama.ai/library/gemma:2b does not support tools",
         llmcore.InvalidRequestError),
        (500, "model requires more system memory (9.0 GiB) than is available",
         llmcore.ServerError),
        (401, "unauthorized", llmcore.AuthenticationError),
        (429, "too many requests", llmcore.RateLimitError),
        (502, "cloud model unreachable", llmcore.ServerError),
    ],
)
def test_error_bodies(status: int, message: str, cls: type[llmcore.LlmError]) -> None:
    err = parse_error(OLLAMA, _response({"error": message}, status))
    assert type(err) is cls
    assert err is not None and err.message == message and err.status == status


def test_error_bodies_of_another_shape_are_left_to_the_core() -> None:
    assert parse_error(OLLAMA, HttpResponse(404, {}, b"404 page not found")) is None
    assert parse_error(OLLAMA, _response({"error": {"message": "x"}}, 500)) is None


def test_model_list() -> None:
    body = {"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest",
                        "modified_at": "2025-05-04T17:37:44Z", "size": 2019393189,
                        "digest": "a80c4f17acd5", "details": {"family": "llama"}}]}
    (info,) = parse_models(_response(body))
    assert info.id == "llama3.2:latest"
    assert info.extra == {"modified_at": "2025-05-04T17:37:44Z", "size": 2019393189,
                          "digest": "a80c4f17acd5", "details": {"family": "llama"}}
    assert parse_models(_response({"models": []})) == []


def test_show_model() -> None:
    body = {"modelfile": "FROM x", "parameters": "stop \"<|eot|>\"", "template": "{{ .Prompt }}",
            "details": {"family": "qwen3", "parameter_size": "8.2B",
                        "quantization_level": "Q4_K_M"},
            "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
            "capabilities": ["completion", "tools", "thinking"],
            "modified_at": "2025-05-04T17:37:44Z"}
    details = parse_show("qwen3:8b", _response(body))
    assert details.name == "qwen3:8b"
    assert details.capabilities == ("completion", "tools", "thinking")
    assert details.supports("tools") and not details.supports("vision")
    assert details.context_length == 40960
    assert (details.family, details.parameter_size, details.quantization_level) == (
        "qwen3", "8.2B", "Q4_K_M")
    assert details.template == "{{ .Prompt }}" and details.raw == body
    old = parse_show("m", _response({"model_info": {"llama.context_length": 8192}}))
    assert (old.capabilities, old.context_length) == ((), 8192)


def test_pull_progress() -> None:
    layer = PullProgress.from_wire({"status": "pulling 6a07", "digest": "sha256:6a07",
                                    "total": 400, "completed": 100})
    assert (layer.fraction, layer.succeeded) == (0.25, False)
    assert PullProgress.from_wire({"status": "pulling 6a07", "total": 400}).fraction == 0.0
    assert PullProgress.from_wire({"status": "success"}).succeeded
    assert PullProgress.from_wire({"status": "verifying sha256 digest"}).fraction is None
