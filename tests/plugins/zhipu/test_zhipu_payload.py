"""Unified request -> GLM chat payload: pure translation, field by field, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

import llmcore_zhipu
from llmcore import (
    ChatCompletionRequest,
    HttpRequest,
    InvalidInputError,
    Message,
    Role,
    ToolCall,
    ToolChoice,
)
from llmcore import Tool as LlmTool
from llmcore_zhipu import ZAI, ZHIPU, web_search

WEATHER = LlmTool(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def _build(request: ChatCompletionRequest, *, stream: bool = False) -> HttpRequest:
    return llmcore_zhipu.build_payload(ZHIPU, request, stream)


def _body(request: ChatCompletionRequest, *, stream: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = _build(request, stream=stream).json
    return body


def _req(**options: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest("glm-4.7", [Message.user("hi")], **options)


def test_url_method_headers_and_plain_body() -> None:
    http = _build(_req(temperature=0.2, top_p=0.9, max_tokens=64, seed=7))
    assert http.method == "POST"
    assert http.url == "https://open.bigmodel.cn/api/paas/v4/chat/completions"
    assert http.stream_format == "sse"
    assert http.header("Accept") == "application/json"
    assert http.json == {
        "model": "glm-4.7",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "max_tokens": 64,
    }


def test_zai_posts_to_the_international_host() -> None:
    http = llmcore_zhipu.build_payload(ZAI, _req(), False)
    assert http.url == "https://api.z.ai/api/paas/v4/chat/completions"
    assert ZAI.headers == {"Accept-Language": "en-US,en"}


def test_stream_asks_for_usage() -> None:
    body = _body(_req(), stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("options", "thinking"),
    [
        ({"reasoning_effort": "none"}, {"type": "disabled"}),
        ({"reasoning_effort": "minimal"}, {"type": "enabled"}),
        ({"reasoning_effort": "low"}, {"type": "enabled"}),
        ({"reasoning_effort": "high"}, {"type": "enabled"}),
        ({"reasoning_budget": 0}, {"type": "disabled"}),
        ({"reasoning_budget": 2048}, {"type": "enabled"}),
        ({"reasoning_effort": "high", "reasoning_budget": 0}, {"type": "disabled"}),
    ],
)
def test_reasoning_settings_become_the_thinking_object(
    options: dict[str, Any], thinking: dict[str, str]
) -> None:
    body = _body(_req(**options))
    assert body["thinking"] == thinking
    assert "reasoning_effort" not in body  # GLM's control is ``thinking``


def test_no_reasoning_settings_leave_thinking_to_the_model() -> None:
    assert "thinking" not in _body(_req())


def test_extra_thinking_keys_merge_over_the_computed_type() -> None:
    body = _body(_req(reasoning_effort="high", extra={"thinking": {"clear_thinking": False}}))
    assert body["thinking"] == {"type": "enabled", "clear_thinking": False}
    body = _body(_req(reasoning_effort="high", extra={"thinking": {"type": "disabled"}}))
    assert body["thinking"] == {"type": "disabled"}


def test_extra_thinking_must_be_an_object() -> None:
    with pytest.raises(InvalidInputError) as caught:
        _body(_req(extra={"thinking": "on"}))
    assert caught.value.field == "extra['thinking']"


def test_reasoning_goes_back_as_reasoning_content() -> None:
    history = [
        Message.user("17*19?"),
        Message(Role.ASSISTANT, "323", reasoning="18^2 - 1"),
        Message.user("and 17*21?"),
    ]
    body = _body(ChatCompletionRequest("glm-4.7", history))
    assert body["messages"][1] == {
        "role": "assistant",
        "content": "323",
        "reasoning_content": "18^2 - 1",
    }


def test_function_tools_and_tool_history_are_openai_shaped() -> None:
    call = ToolCall("call_1", "get_weather", {"city": "Beijing"})
    history = [
        Message.user("weather?"),
        Message.assistant("", tool_calls=[call]),
        Message.tool("call_1", "sunny"),
    ]
    body = _body(ChatCompletionRequest("glm-4.7", history, tools=[WEATHER], tool_choice="auto"))
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER.parameters,
                "description": "Weather for a city",
            },
        }
    ]
    assert body["tool_choice"] == "auto"
    assert body["messages"][1]["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Beijing"}'},
        }
    ]
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


def test_web_search_tool_shape() -> None:
    assert web_search() == {"type": "web_search", "web_search": {"search_result": True}}
    assert web_search(search_result=False, search_query="GLM", count=3) == {
        "type": "web_search",
        "web_search": {"search_query": "GLM", "count": 3, "search_result": False},
    }


def test_builtin_tools_in_extra_are_appended_to_the_function_tools() -> None:
    body = _body(_req(tools=[WEATHER], extra={"tools": [web_search(search_engine="search_pro")]}))
    assert [t["type"] for t in body["tools"]] == ["function", "web_search"]
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tools"][1] == {
        "type": "web_search",
        "web_search": {"search_engine": "search_pro", "search_result": True},
    }


def test_builtin_tools_alone() -> None:
    body = _body(_req(extra={"tools": [web_search()]}))
    assert body["tools"] == [web_search()]


def test_extra_tools_must_be_a_list() -> None:
    with pytest.raises(InvalidInputError) as caught:
        _body(_req(extra={"tools": web_search()}))
    assert caught.value.field == "extra['tools']"


@pytest.mark.parametrize("choice", ["none", "required", ToolChoice.tool("get_weather")])
def test_tool_choice_other_than_auto_is_refused_before_sending(choice: Any) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _body(_req(tools=[WEATHER], tool_choice=choice))
    assert caught.value.field == "tool_choice"
    assert caught.value.provider == "zhipu"


def test_one_stop_sequence_is_sent_several_are_refused() -> None:
    assert _body(_req(stop="END"))["stop"] == ["END"]
    with pytest.raises(InvalidInputError) as caught:
        _body(_req(stop=["A", "B"]))
    assert caught.value.field == "stop"


def test_images_go_as_image_url_parts_for_vision_models() -> None:
    from llmcore import Content, ImagePart, TextPart

    content = Content.from_parts([TextPart("what?"), ImagePart(url="https://x.test/a.png")])
    body = _body(ChatCompletionRequest("glm-4.6v", [Message.user(content)]))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what?"},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
    ]
    text_only = _body(ChatCompletionRequest("glm-4.7", [Message.user(content)]))
    assert text_only["messages"][0]["content"][1]["type"] == "text"  # placeholder, not an image


def test_other_extra_fields_pass_through() -> None:
    body = _body(_req(extra={"do_sample": False, "request_id": "r-1", "tool_stream": True}))
    assert body["do_sample"] is False
    assert body["request_id"] == "r-1"
    assert body["tool_stream"] is True
