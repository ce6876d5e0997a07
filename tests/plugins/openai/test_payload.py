"""Unified request -> OpenAI Chat Completions payload: pure translation, no I/O.

The last tests rebuild three recorded OpenAI conversations (tool call, tool result follow-up,
stream after a tool result) with llmcore types and compare the payload with the recorded one.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

import llmcore
from llmcore import (
    AudioPart,
    Capabilities,
    ChatCompletionRequest,
    Content,
    Message,
    Provider,
    Role,
    ThinkingBlock,
    Tool,
    ToolCall,
    ToolChoice,
)
from llmcore_openai import OPENAI, openai_compat, openai_compatible
from llmcore_openai.payload import (
    AUDIO_PLACEHOLDER,
    IMAGE_PLACEHOLDER,
    build_chat_request,
    chat_payload,
)

_CONFORMANCE = str(Path(__file__).resolve().parents[2] / "conformance")
if _CONFORMANCE not in sys.path:
    sys.path.insert(0, _CONFORMANCE)

from corpus import load_case  # noqa: E402

COMPAT = openai_compatible("http://127.0.0.1:9/v1")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
PNG_B64 = base64.b64encode(PNG).decode()

WEATHER = Tool(
    "get_weather",
    "Weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def _with(provider: Provider, **compat: Any) -> Provider:
    return provider.evolve(compat=attrs.evolve(openai_compat(provider), **compat))


def payload(request: ChatCompletionRequest, provider: Provider = COMPAT,
            stream: bool = False) -> dict[str, Any]:
    return chat_payload(provider, request, stream)


def req(*messages: Message, model: str = "m-1", **options: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest(model, messages or [Message.user("hi")], **options)


def one_message(message: Message, provider: Provider = COMPAT, model: str = "m-1") -> Any:
    (wire,) = payload(req(message, model=model), provider)["messages"]
    return wire


# --- basics -----------------------------------------------------------------------------------
def test_minimal_payload() -> None:
    assert payload(req(Message.user("hello"))) == {
        "model": "m-1", "messages": [{"role": "user", "content": "hello"}],
    }


def test_build_chat_request_non_stream() -> None:
    request = req(Message.user("hello"))
    http = build_chat_request(COMPAT, request, False)
    assert http.method == "POST"
    assert http.url == "http://127.0.0.1:9/v1/chat/completions"
    assert http.header("accept") == "application/json"
    assert http.header("content-type") == "application/json"
    assert http.stream_format == "sse"
    assert http.json == chat_payload(COMPAT, request, False)
    assert http.header("authorization") is None  # credentials are the core's business


def test_build_chat_request_stream() -> None:
    http = build_chat_request(COMPAT, req(), True)
    assert http.header("accept") == "text/event-stream"
    assert http.json["stream"] is True


@pytest.mark.parametrize("model", ["openai/gpt-4o", "meta-llama/Llama-3.3-70B:fireworks",
                                   "anthropic/claude-sonnet-4.5"])
def test_gateway_model_names_are_sent_unchanged(model: str) -> None:
    assert payload(req(model=model))["model"] == model


def test_sampling_options() -> None:
    body = payload(req(temperature=0.0, top_p=0.5, seed=7, user="u-1"))
    assert (body["temperature"], body["top_p"], body["seed"], body["user"]) == (0.0, 0.5, 7, "u-1")
    assert not {"temperature", "top_p", "seed", "user"} & set(payload(req()))


@pytest.mark.parametrize(("stop", "wire"), [("END", ["END"]), (["a", "b"], ["a", "b"]),
                                            (("x",), ["x"])])
def test_stop_is_always_a_list(stop: Any, wire: list[str]) -> None:
    assert payload(req(stop=stop))["stop"] == wire


def test_no_stop_no_key() -> None:
    assert "stop" not in payload(req())


def test_response_format_passes_through() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "city", "strict": True,
                                                     "schema": {"type": "object"}}}
    assert payload(req(response_format=schema))["response_format"] == schema
    assert payload(req(response_format={"type": "json_object"}))["response_format"] == {
        "type": "json_object"}


def test_extra_is_merged_last() -> None:
    body = payload(req(temperature=0.2, max_tokens=5,
                       extra={"temperature": 0.9, "n": 2, "stream_options": {"x": 1}}),
                   stream=True)
    assert body["temperature"] == 0.9
    assert body["n"] == 2
    assert body["stream_options"] == {"x": 1}
    assert body["max_tokens"] == 5


# --- system / developer role ------------------------------------------------------------------
@pytest.mark.parametrize(("role", "model", "wire"), [
    ("system", "o3-mini", "system"),
    ("developer", "gpt-4o", "developer"),
    ("auto", "o3-mini", "developer"),
    ("auto", "o1", "developer"),
    ("auto", "gpt-5-mini", "developer"),
    ("auto", "gpt-4o", "system"),
    ("auto", "gpt-4.1-nano", "system"),
])
def test_system_role(role: str, model: str, wire: str) -> None:
    provider = _with(OPENAI, system_role=role)
    assert one_message(Message.system("be brief"), provider, model) == {
        "role": wire, "content": "be brief"}


def test_auto_without_reasoning_globs_is_system() -> None:
    provider = _with(COMPAT, system_role="auto")
    assert provider.capabilities.reasoning == ()
    assert one_message(Message.system("x"), provider, "o3-mini")["role"] == "system"


def test_developer_message_follows_the_provider_role() -> None:
    message = Message(Role.DEVELOPER, "rules")
    assert one_message(message, COMPAT) == {"role": "system", "content": "rules"}
    assert one_message(message, OPENAI, "o4-mini")["role"] == "developer"


def test_openai_provider_defaults() -> None:
    assert OPENAI.compat.system_role == "auto"
    assert one_message(Message.system("s"), OPENAI, "gpt-4o")["role"] == "system"
    assert one_message(Message.system("s"), OPENAI, "o3")["role"] == "developer"


# --- max tokens and stream options ------------------------------------------------------------
def test_max_tokens_field() -> None:
    assert payload(req(max_tokens=64))["max_tokens"] == 64
    body = payload(req(max_tokens=64), OPENAI)
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body
    assert not {"max_tokens", "max_completion_tokens"} & set(payload(req(), OPENAI))


def test_stream_options_only_when_streaming_with_stream_usage() -> None:
    body = payload(req(), COMPAT, stream=True)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    quiet = payload(req(), _with(COMPAT, stream_usage=False), stream=True)
    assert quiet["stream"] is True and "stream_options" not in quiet
    plain = payload(req(), COMPAT, stream=False)
    assert "stream" not in plain and "stream_options" not in plain


def test_reasoning_effort_only_when_the_endpoint_accepts_it() -> None:
    assert payload(req(reasoning_effort="high"), OPENAI, )["reasoning_effort"] == "high"
    assert "reasoning_effort" not in payload(req(reasoning_effort="high"), COMPAT)
    assert "reasoning_effort" not in payload(req(), OPENAI)


# --- tools --------------------------------------------------------------------------------------
def test_tools() -> None:
    bare = Tool("ping")
    strict = Tool("exact", None, {"type": "object", "properties": {}}, strict=True)
    assert payload(req(tools=[WEATHER, bare, strict]))["tools"] == [
        {"type": "function", "function": {
            "name": "get_weather", "description": "Weather for a city.",
            "parameters": WEATHER.parameters}},
        {"type": "function", "function": {
            "name": "ping", "parameters": {"type": "object", "properties": {}}}},
        {"type": "function", "function": {
            "name": "exact", "parameters": {"type": "object", "properties": {}},
            "strict": True}},
    ]


def test_no_tools_no_key() -> None:
    assert "tools" not in payload(req(tools=[]))
    assert "tools" not in payload(req())


@pytest.mark.parametrize(("choice", "wire"), [
    ("auto", "auto"),
    ("none", "none"),
    ("required", "required"),
    (ToolChoice("required"), "required"),
    (ToolChoice.tool("get_weather"), {"type": "function", "function": {"name": "get_weather"}}),
    ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
])
def test_tool_choice(choice: Any, wire: Any) -> None:
    assert payload(req(tools=[WEATHER], tool_choice=choice))["tool_choice"] == wire


def test_no_tool_choice_no_key() -> None:
    assert "tool_choice" not in payload(req(tools=[WEATHER]))


# --- content: images and audio ----------------------------------------------------------------
def test_image_by_url() -> None:
    content = Content.from_text("What is this?") + Content.new_image(
        "https://example.com/cat.jpg", detail="low")
    assert one_message(Message.user(content)) == {"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg",
                                            "detail": "low"}},
    ]}


def test_image_as_base64_data_url() -> None:
    content = Content.from_image_bytes(PNG) + "caption"
    assert one_message(Message.user(content))["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        {"type": "text", "text": "caption"},
    ]


def test_image_data_url_round_trips() -> None:
    url = f"data:image/png;base64,{PNG_B64}"
    part = one_message(Message.user(Content.new_image(url)))["content"][0]
    assert part == {"type": "image_url", "image_url": {"url": url}}


def test_image_placeholder_when_the_model_has_no_vision() -> None:
    content = Content.from_text("look") + Content.new_image("https://example.com/a.png")
    wire = one_message(Message.user(content), OPENAI, "gpt-3.5-turbo")
    assert wire["content"] == [{"type": "text", "text": "look"},
                               {"type": "text", "text": IMAGE_PLACEHOLDER}]
    seen = one_message(Message.user(content), OPENAI, "gpt-4o-mini")
    assert seen["content"][1]["type"] == "image_url"


def test_vision_globs_of_a_compatible_provider() -> None:
    provider = openai_compatible("http://x/v1", capabilities=Capabilities(vision=("llava*",)))
    image = Message.user(Content.new_image("https://example.com/a.png"))
    assert one_message(image, provider, "llava-13b")["content"][0]["type"] == "image_url"
    assert one_message(image, provider, "llama-3")["content"][0] == {
        "type": "text", "text": IMAGE_PLACEHOLDER}


def test_input_audio() -> None:
    provider = openai_compatible("http://x/v1", capabilities=Capabilities(audio=("*-audio",)))
    data = base64.b64encode(b"RIFF....WAVEfmt ").decode()
    wav = Message.user(Content.from_text("transcribe") + Content((AudioPart(data=data),)))
    assert one_message(wav, provider, "m-audio")["content"][1] == {
        "type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
    mp3 = Message.user(Content.from_audio_base64(data, "mp3"))
    assert one_message(mp3, provider, "m-audio")["content"] == [
        {"type": "input_audio", "input_audio": {"data": data, "format": "mp3"}}]
    assert one_message(mp3, provider, "m-text")["content"] == [
        {"type": "text", "text": AUDIO_PLACEHOLDER}]


def test_audio_by_url_is_invalid_input_naming_the_part() -> None:
    provider = openai_compatible("http://x/v1", capabilities=Capabilities(audio=("*",)))
    with pytest.raises(llmcore.InvalidInputError, match=r"^messages\[0\]\.content\[0\]: "):
        payload(req(Message.user(Content.new_audio("https://example.com/a.wav", "audio/wav"))),
                provider)


def test_user_name_is_kept() -> None:
    assert one_message(Message(Role.USER, "hi", name="alice")) == {
        "role": "user", "content": "hi", "name": "alice"}


# --- assistant history, tool calls and tool results -------------------------------------------
def test_assistant_tool_calls_carry_json_string_arguments() -> None:
    calls = [ToolCall("call_1", "get_weather", {"city": "Zürich"}),
             ToolCall("call_2", "ping")]
    assert one_message(Message.assistant("", calls)) == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Zürich"}'}},
            {"id": "call_2", "type": "function",
             "function": {"name": "ping", "arguments": "{}"}},
        ],
    }


def test_assistant_text_with_tool_calls_keeps_the_text() -> None:
    wire = one_message(Message.assistant("Let me check.", [ToolCall("c", "ping")]))
    assert wire["content"] == "Let me check."


def test_raw_arguments_pass_through_unchanged() -> None:
    broken = ToolCall("call_1", "get_weather", {}, raw_arguments='{"city": "Par')
    wire = one_message(Message.assistant("", [broken]))
    assert wire["tool_calls"][0]["function"]["arguments"] == '{"city": "Par'


def test_tool_call_extra_travels_with_the_call() -> None:
    call = ToolCall("c", "ping", extra={"thought_signature": "abc"})
    assert one_message(Message.assistant("", [call]))["tool_calls"][0]["thought_signature"] == "abc"


def test_plain_assistant_text() -> None:
    assert one_message(Message.assistant("Paris.")) == {"role": "assistant", "content": "Paris."}
    assert one_message(Message.assistant("")) == {"role": "assistant", "content": ""}


def test_tool_result_message() -> None:
    assert one_message(Message.tool("call_1", "22 degrees", name="get_weather")) == {
        "role": "tool", "tool_call_id": "call_1", "content": "22 degrees"}


def test_tool_result_images_follow_in_a_user_message() -> None:
    """Tool messages take text only, so a result's images come next in a user message."""
    image = Content.from_image_bytes(PNG)
    request = req(Message.tool("call_1", Content.from_text("chart:") + image),
                  Message.tool("call_2", "no image"),
                  Message.user("and now?"))
    assert payload(request)["messages"] == [
        {"role": "tool", "tool_call_id": "call_1",
         "content": "chart:\n(images attached in the next message)"},
        {"role": "tool", "tool_call_id": "call_2", "content": "no image"},
        {"role": "user", "content": [
            {"type": "text", "text": "Images from the result of tool call call_1:"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
        ]},
        {"role": "user", "content": "and now?"},
    ]


def test_failed_tool_result_is_marked() -> None:
    wire = one_message(Message.tool("call_1", "city not found", is_error=True))
    assert wire["content"] == "Error: city not found"


def test_tool_result_without_id_is_a_configuration_error() -> None:
    with pytest.raises(llmcore.ConfigurationError):
        payload(req(Message(Role.TOOL, "orphan")))


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_field_echo(field: str) -> None:
    provider = _with(COMPAT, reasoning_field=field)
    message = Message(Role.ASSISTANT, "4", reasoning="2+2 is 4")
    assert one_message(message, provider) == {"role": "assistant", "content": "4",
                                               field: "2+2 is 4"}


def test_reasoning_echo_from_thinking_blocks() -> None:
    provider = _with(COMPAT, reasoning_field="reasoning_content")
    message = Message(Role.ASSISTANT, "4", thinking=[ThinkingBlock("one"), ThinkingBlock("two")])
    assert one_message(message, provider)["reasoning_content"] == "one\n\ntwo"


def test_reasoning_is_dropped_without_a_reasoning_field() -> None:
    message = Message(Role.ASSISTANT, "4", reasoning="2+2 is 4")
    assert one_message(message, COMPAT) == {"role": "assistant", "content": "4"}


def test_no_empty_reasoning_echo() -> None:
    provider = _with(COMPAT, reasoning_field="reasoning_content")
    assert "reasoning_content" not in one_message(Message.assistant("4"), provider)


# --- recorded OpenAI requests -----------------------------------------------------------------
MULTIPLY = Tool(
    "multiply",
    "Multiply two numbers.",
    {"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
     "required": ["a", "b"], "type": "object"},
)


def _recorded(case: str) -> dict[str, Any]:
    recorded: dict[str, Any] = load_case(f"openai/{case}")["request"]["json"]
    return recorded


def test_recorded_stream_tool_call() -> None:
    """The whole body equals the recorded one, key for key."""
    request = ChatCompletionRequest("gpt-4o-mini", [Message.user("What is 1231 * 2331?")],
                                    tools=[MULTIPLY])
    assert chat_payload(OPENAI, request, True) == _recorded("stream_tool_call.json")


def test_recorded_stream_after_tool_result() -> None:
    """Tool call and tool result history; the one difference is ``content: null`` on the
    tool-call turn, which OpenAI treats the same as an absent ``content``."""
    call = ToolCall("call_1EYWDzueHEp8OsB8jJSEp7WB", "multiply", {"a": 1231, "b": 2331})
    request = ChatCompletionRequest("gpt-4o-mini", [
        Message.user("What is 1231 * 2331?"),
        Message.assistant(""),
        Message.assistant("", [call]),
        Message.tool(call.id, "2869461"),
    ], tools=[MULTIPLY])
    body = chat_payload(OPENAI, request, True)
    assert body["messages"][2].pop("content") is None
    assert body == _recorded("stream_after_tool_result.json")


def test_recorded_tool_call_followup() -> None:
    """``n`` goes through ``extra``; the empty ``description`` is omitted by llmcore."""
    recorded = _recorded("tool_call_followup.json")
    country = Tool("get_user_country", "",
                   {"additionalProperties": False, "properties": {}, "type": "object"})
    final = Tool(
        "final_result",
        "The final response which ends this conversation",
        {"properties": {"city": {"type": "string"}, "country": {"type": "string"}},
         "required": ["city", "country"], "type": "object"},
    )
    call = ToolCall("call_iXFttys57ap0o16JSlC8yhYo", "get_user_country")
    request = ChatCompletionRequest(
        "gpt-4o",
        [Message.user("What is the largest city in the user country?"),
         Message.assistant("", [call]),
         Message.tool(call.id, "Mexico")],
        tools=[country, final], tool_choice="required", extra={"n": 1},
    )
    body = chat_payload(OPENAI, request, False)
    assert body["messages"][1].pop("content") is None
    assert "description" not in body["tools"][0]["function"]
    body["tools"][0]["function"]["description"] = ""
    del recorded["stream"]  # False: llmcore sends no "stream" key for a blocking call
    assert body == recorded
