"""GLM answers, streams and error bodies -> unified objects: pure parsing, no I/O."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmcore
import llmcore_zhipu
from llmcore import Frame, HttpResponse, StopReason
from llmcore_zhipu import ZHIPU
from llmcore_zhipu.parse import ERROR_CODES, NOT_RETRYABLE_CODES


def _response(body: Any, status: int = 200) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, {"content-type": "application/json"}, raw)


def _answer(finish: str, **message: Any) -> dict[str, Any]:
    return {
        "id": "2026x",
        "model": "glm-4.7",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "message": {"role": "assistant", "content": "ok", **message},
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 2},
            "completion_tokens_details": {"reasoning_tokens": 3},
        },
    }


@pytest.mark.parametrize(
    ("raw", "unified"),
    [
        ("stop", StopReason.STOP),
        ("length", StopReason.LENGTH),
        ("tool_calls", StopReason.TOOL_USE),
        ("sensitive", StopReason.CONTENT_FILTER),
        ("network_error", StopReason.ERROR),
        ("model_context_window_exceeded", StopReason.LENGTH),
    ],
)
def test_finish_reasons(raw: str, unified: StopReason) -> None:
    response = llmcore_zhipu.parse_response(ZHIPU, _response(_answer(raw)))
    assert response.finish_reason == raw
    assert response.stop_reason is unified


def test_answer_with_reasoning_tool_call_and_usage() -> None:
    call = {
        "id": "call_9",
        "type": "function",
        "index": 0,
        "function": {"name": "get_weather", "arguments": '{"city":"Beijing"}'},
    }
    body = _answer("tool_calls", reasoning_content="think", tool_calls=[call])
    response = llmcore_zhipu.parse_response(ZHIPU, _response(body))
    assert response.text() == "ok"
    assert response.message.reasoning == "think"
    assert [(c.id, c.name, c.arguments) for c in response.message.tool_calls] == [
        ("call_9", "get_weather", {"city": "Beijing"})
    ]
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (10, 5)
    assert (response.usage.cached_tokens, response.usage.reasoning_tokens) == (2, 3)
    assert response.provider == "zhipu"


EXPECTED_CLASSES = {
    "1000": llmcore.AuthenticationError,
    "1002": llmcore.AuthenticationError,
    "1003": llmcore.AuthenticationError,
    "1112": llmcore.PermissionDeniedError,
    "1113": llmcore.RateLimitError,
    "1210": llmcore.InvalidRequestError,
    "1211": llmcore.ModelNotFoundError,
    "1214": llmcore.InvalidRequestError,
    "1220": llmcore.PermissionDeniedError,
    "1231": llmcore.ConflictError,
    "1234": llmcore.ServerError,
    "1261": llmcore.ContextLengthExceededError,
    "1301": llmcore.ContentFilterError,
    "1302": llmcore.RateLimitError,
    "1303": llmcore.RateLimitError,
    "1304": llmcore.RateLimitError,
    "1305": llmcore.RateLimitError,
    "1308": llmcore.RateLimitError,
    "1309": llmcore.PermissionDeniedError,
    "1312": llmcore.OverloadedError,
}


@pytest.mark.parametrize(("code", "cls"), sorted(EXPECTED_CLASSES.items()))
def test_error_codes_become_llmcore_errors(code: str, cls: type[llmcore.LlmError]) -> None:
    body = {"error": {"code": code, "message": f"message {code}"}}
    err = llmcore_zhipu.parse_error(ZHIPU, _response(body, 400))
    assert type(err) is cls
    assert err is not None
    assert (err.code, err.message, err.status) == (code, f"message {code}", 400)
    assert err.provider == "zhipu"
    assert err.body == body["error"]
    assert err.is_retryable() is (
        cls
        in (
            llmcore.RateLimitError,
            llmcore.ServerError,
            llmcore.OverloadedError,
            llmcore.ConflictError,
        )
        and code not in NOT_RETRYABLE_CODES
    )


def test_quota_codes_are_never_retried() -> None:
    for code in NOT_RETRYABLE_CODES:
        err = llmcore_zhipu.parse_error(ZHIPU, _response({"error": {"code": code}}, 429))
        assert isinstance(err, llmcore.RateLimitError)
        assert err.is_retryable() is False
        assert err.message == f"zhipu reported error {code}"
    assert set(NOT_RETRYABLE_CODES) <= set(ERROR_CODES)


def test_an_integer_code_is_read_like_a_string() -> None:
    body = {"error": {"code": 1261, "message": "x"}}
    err = llmcore_zhipu.parse_error(ZHIPU, _response(body, 400))
    assert isinstance(err, llmcore.ContextLengthExceededError)
    assert err.code == "1261"


@pytest.mark.parametrize(
    "body",
    [{"error": {"code": "9999", "message": "new"}}, {"error": "text"}, {"detail": "x"}, b"<html>"],
)
def test_unknown_codes_and_other_bodies_are_left_to_the_core(body: Any) -> None:
    assert llmcore_zhipu.parse_error(ZHIPU, _response(body, 400)) is None


def test_the_core_completes_glm_errors_and_falls_back_for_unknown_ones() -> None:
    plugins = llmcore.get_plugins()
    headers = {"content-type": "application/json", "retry-after": "7", "x-request-id": "req-1"}
    known = HttpResponse(429, headers, b'{"error":{"code":"1302","message":"busy"}}')
    err = plugins.parse_error(ZHIPU, known)
    assert isinstance(err, llmcore.RateLimitError)
    assert (err.retry_after, err.request_id, err.code) == (7.0, "req-1", "1302")
    unknown = HttpResponse(401, headers, b'{"error":{"code":"4242","message":"who"}}')
    err = plugins.parse_error(ZHIPU, unknown)
    assert isinstance(err, llmcore.AuthenticationError)
    assert err.message == "who"


def test_error_object_inside_a_200_answer_raises_by_code() -> None:
    body = {"error": {"code": "1301", "message": "unsafe"}}
    with pytest.raises(llmcore.ContentFilterError) as caught:
        llmcore_zhipu.parse_response(ZHIPU, _response(body))
    assert caught.value.code == "1301"


def _frames(*objs: Any) -> Iterator[Frame]:
    for obj in objs:
        yield Frame(obj if isinstance(obj, str) else json.dumps(obj))


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "model": "glm-4.7",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def test_stream_chunks_and_terminal_frame() -> None:
    frames = _frames(
        _chunk({"role": "assistant", "reasoning_content": "hm"}),
        _chunk({"content": "4"}),
        _chunk({}, "sensitive"),
        "[DONE]",
    )
    gen = llmcore_zhipu.parse.iter_glm_chunks(ZHIPU, frames)
    chunks = []
    with pytest.raises(StopIteration) as stop:
        while True:
            chunks.append(next(gen))
    assert stop.value.value is True  # the [DONE] frame was seen
    assert [c.choices[0].delta.reasoning for c in chunks] == ["hm", None, None]
    assert [c.choices[0].delta.content for c in chunks] == [None, "4", None]
    assert chunks[-1].choices[0].stop_reason is StopReason.CONTENT_FILTER


def test_stream_error_frame_raises_by_code() -> None:
    frames = _frames(_chunk({"content": "par"}), {"error": {"code": "1301", "message": "unsafe"}})
    chunks = llmcore_zhipu.iter_stream(ZHIPU, frames)
    assert next(chunks).choices[0].delta.content == "par"
    with pytest.raises(llmcore.ContentFilterError) as caught:
        next(chunks)
    assert (caught.value.code, caught.value.message) == ("1301", "unsafe")


def test_stream_error_frame_with_unknown_code_keeps_the_openai_reading() -> None:
    frames = _frames({"error": {"code": "7777", "message": "odd"}})
    with pytest.raises(llmcore.LlmError) as caught:
        list(llmcore_zhipu.iter_stream(ZHIPU, frames))
    assert caught.value.message == "odd" and caught.value.code == "7777"


def test_list_models() -> None:
    request = llmcore_zhipu.build_list_models(ZHIPU)
    assert (request.method, request.url) == ("GET", "https://open.bigmodel.cn/api/paas/v4/models")
    body = {"object": "list", "data": [{"id": "glm-4.7", "object": "model", "owned_by": "z-ai"}]}
    models = llmcore_zhipu.parse_list_models(ZHIPU, _response(body))
    assert [(m.id, m.owned_by) for m in models] == [("glm-4.7", "z-ai")]
