"""Unified request -> Ollama ``/api/chat`` payload and the model-management requests: pure
translation, no I/O."""

from __future__ import annotations

import base64

import pytest

import llmcore
from llmcore import (
    AudioPart,
    ChatCompletionRequest,
    Content,
    ImagePart,
    Message,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from llmcore_ollama import OLLAMA, chat_payload
from llmcore_ollama.payload import (
    build_chat_request,
    delete_request,
    list_request,
    pull_request,
    show_request,
    think_value,
)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
WEATHER = Tool("get_weather", "The weather in a city",
               {"type": "object", "properties": {"city": {"type": "string"}}})


def _payload(*messages: Message, stream: bool = False, **options: object) -> dict[str, object]:
    return chat_payload(OLLAMA, ChatCompletionRequest("llama3.2", list(messages), **options),
                        stream)


def test_minimal_payload_always_says_whether_to_stream() -> None:
    """Ollama streams by default, so ``stream`` is sent both ways; nothing else is invented."""
    assert _payload(Message.user("hi")) == {
        "model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    assert _payload(Message.user("hi"), stream=True)["stream"] is True


def test_the_http_request_is_a_post_to_api_chat_decoded_as_ndjson() -> None:
    request = ChatCompletionRequest("m", [Message.user("hi")])
    streamed = build_chat_request(OLLAMA, request, True)
    assert (streamed.method, streamed.url) == ("POST", "http://localhost:11434/api/chat")
    assert streamed.stream_format == "ndjson"
    assert streamed.header("accept") == "application/x-ndjson"
    assert streamed.header("content-type") == "application/json"
    assert build_chat_request(OLLAMA, request, False).header("accept") == "application/json"


def test_roles_system_user_assistant_tool() -> None:
    call = ToolCall("call_1", "get_weather", {"city": "Paris"})
    messages = _payload(
        Message.system("be brief"),
        Message(Role.DEVELOPER, "also kind"),
        Message.user("weather?"),
        Message.assistant("", [call]),
        Message.tool("call_1", "18C and sunny"),
        Message.assistant("It is 18C."),
    )["messages"]
    assert messages == [
        {"role": "system", "content": "be brief"},
        {"role": "system", "content": "also kind"},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "",
         "tool_calls": [{"id": "call_1",
                         "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        # the tool's name comes from the call it answers (Ollama's templates match by name)
        {"role": "tool", "content": "18C and sunny", "tool_name": "get_weather",
         "tool_call_id": "call_1"},
        {"role": "assistant", "content": "It is 18C."},
    ]


def test_tool_result_name_given_on_the_message_wins_and_errors_are_marked() -> None:
    messages = _payload(Message.user("x"),
                        Message.tool("c9", "boom", name="lookup", is_error=True))["messages"]
    assert messages[1] == {"role": "tool", "content": "Error: boom", "tool_name": "lookup",
                           "tool_call_id": "c9"}


def test_images_are_base64_strings_without_a_data_prefix() -> None:
    content = Content.from_parts([TextPart("what is "), TextPart("this?"),
                                  ImagePart(data=PNG, mime_type="image/png"),
                                  ImagePart(url=f"data:image/png;base64,{PNG}")])
    assert _payload(Message.user(content))["messages"] == [
        {"role": "user", "content": "what is this?", "images": [PNG, PNG]}]


def test_image_urls_and_audio_are_refused_naming_the_field() -> None:
    url = Content.from_parts([TextPart("x"), ImagePart(url="https://example.com/cat.png")])
    with pytest.raises(llmcore.InvalidInputError) as caught:
        _payload(Message.user("hi"), Message.user(url))
    assert caught.value.field == "messages[1].content[1]"
    assert "base64" in caught.value.message
    audio = Content.from_parts([AudioPart(data="AAAA", format="wav")])
    with pytest.raises(llmcore.InvalidInputError) as caught:
        _payload(Message.user(audio))
    assert caught.value.field == "messages[0].content[0]"


def test_assistant_reasoning_goes_back_as_thinking() -> None:
    answer = Message(Role.ASSISTANT, "4", reasoning="2 + 2 is 4")
    messages = _payload(Message.user("2+2?"), answer, Message.user("and 3+3?"))["messages"]
    assert messages[1] == {"role": "assistant", "content": "4", "thinking": "2 + 2 is 4"}


def test_tools_in_the_function_shape() -> None:
    body = _payload(Message.user("x"), tools=[WEATHER, Tool("noop", None, {"type": "object"})])
    assert body["tools"] == [
        {"type": "function", "function": {"name": "get_weather",
                                          "description": "The weather in a city",
                                          "parameters": WEATHER.parameters}},
        {"type": "function", "function": {"name": "noop", "parameters": {"type": "object"}}},
    ]


def test_tool_choice_none_drops_the_tools_and_forcing_a_call_is_refused() -> None:
    assert "tools" not in _payload(Message.user("x"), tools=[WEATHER], tool_choice="none")
    assert "tools" in _payload(Message.user("x"), tools=[WEATHER], tool_choice="auto")
    for choice in ("required", ToolChoice.tool("get_weather")):
        with pytest.raises(llmcore.InvalidInputError) as caught:
            _payload(Message.user("x"), tools=[WEATHER], tool_choice=choice)
        assert caught.value.field == "tool_choice"


def test_sampling_options_go_under_options_and_max_tokens_is_num_predict() -> None:
    body = _payload(Message.user("x"), temperature=0.2, top_p=0.9, seed=7, max_tokens=64,
                    stop=["\n\n", "END"])
    assert body["options"] == {"temperature": 0.2, "top_p": 0.9, "seed": 7, "num_predict": 64,
                               "stop": ["\n\n", "END"]}
    assert not {"temperature", "max_tokens", "seed", "stop"} & set(body)


def test_extra_options_merge_into_options_and_other_extra_keys_go_top_level() -> None:
    body = _payload(Message.user("x"), temperature=0.2,
                    extra={"options": {"num_ctx": 8192, "temperature": 0.5}, "keep_alive": "1h"})
    assert body["options"] == {"temperature": 0.5, "num_ctx": 8192}
    assert body["keep_alive"] == "1h"
    with pytest.raises(llmcore.InvalidInputError):
        _payload(Message.user("x"), extra={"options": 3})


@pytest.mark.parametrize(
    ("settings", "think"),
    [
        ({}, None),
        ({"reasoning_effort": "none"}, False),
        ({"reasoning_effort": "minimal"}, "low"),
        ({"reasoning_effort": "low"}, "low"),
        ({"reasoning_effort": "medium"}, "medium"),
        ({"reasoning_effort": "high"}, "high"),
        ({"reasoning_effort": "xhigh"}, "high"),
        ({"reasoning_budget": 0}, False),
        ({"reasoning_budget": 2048}, True),
        ({"reasoning_effort": "low", "reasoning_budget": 0}, "low"),
    ],
)
def test_reasoning_settings_become_think(settings: dict[str, object], think: object) -> None:
    request = ChatCompletionRequest("m", [Message.user("x")], **settings)  # type: ignore[arg-type]
    assert think_value(request) == think
    body = chat_payload(OLLAMA, request, False)
    assert body.get("think", None) == think
    assert ("think" in body) is (think is not None)


SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@pytest.mark.parametrize(
    ("response_format", "wire"),
    [
        ({"type": "json_object"}, "json"),
        ({"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}}, SCHEMA),
        (SCHEMA, SCHEMA),
        ({"type": "text"}, None),
    ],
)
def test_response_format_becomes_format(response_format: dict[str, object],
                                        wire: object) -> None:
    body = _payload(Message.user("x"), response_format=response_format)
    assert body.get("format") == wire


def test_json_schema_format_without_a_schema_is_refused() -> None:
    with pytest.raises(llmcore.InvalidInputError) as caught:
        _payload(Message.user("x"), response_format={"type": "json_schema", "json_schema": {}})
    assert caught.value.field == "response_format.json_schema.schema"


def test_model_management_requests() -> None:
    tags = list_request(OLLAMA)
    assert (tags.method, tags.url) == ("GET", "http://localhost:11434/api/tags")
    show = show_request(OLLAMA, "llama3.2")
    assert (show.method, show.url, show.json) == (
        "POST", "http://localhost:11434/api/show", {"model": "llama3.2"})
    assert show_request(OLLAMA, "m", verbose=True).json == {"model": "m", "verbose": True}
    pull = pull_request(OLLAMA, "qwen3:8b")
    assert (pull.method, pull.url, pull.json, pull.stream_format) == (
        "POST", "http://localhost:11434/api/pull", {"model": "qwen3:8b", "stream": True},
        "ndjson")
    assert pull_request(OLLAMA, "m", insecure=True).json["insecure"] is True
    delete = delete_request(OLLAMA, "m")
    assert (delete.method, delete.url, delete.json) == (
        "DELETE", "http://localhost:11434/api/delete", {"model": "m"})
