"""Unified request -> Anthropic Messages payload: pure translation, field by field."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import llmcore
from llmcore import (
    AudioPart,
    ChatCompletionRequest,
    Content,
    DocumentPart,
    ImagePart,
    Message,
    MessageOrigin,
    Role,
    TextPart,
    ThinkingBlock,
    Tool,
    ToolCall,
    ToolChoice,
)
from llmcore_anthropic import (
    ANTHROPIC,
    ANTHROPIC_BEARER,
    DEFAULT_MAX_TOKENS,
    anthropic_compatible,
    messages_payload,
)
from llmcore_anthropic.payload import build_messages_request

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
PNG_B64 = base64.b64encode(PNG).decode()
PDF_B64 = base64.b64encode(b"%PDF-1.4 tiny").decode()
WEATHER = Tool(
    "get_weather",
    "Weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
SIG = "EqQBCkYIBxgCKkD+signature/with+base64=="


def body(*messages: Message, provider: llmcore.Provider = ANTHROPIC, stream: bool = False,
         **options: Any) -> dict[str, Any]:
    request = ChatCompletionRequest("claude-sonnet-4-5", messages or (Message.user("hi"),),
                                    **options)
    return messages_payload(provider, request, stream)


def invalid(*messages: Message, **options: Any) -> llmcore.InvalidInputError:
    with pytest.raises(llmcore.InvalidInputError) as caught:
        body(*messages, **options)
    return caught.value


# --- the request line, headers and required fields --------------------------------------------
def test_minimal_body_has_the_required_max_tokens() -> None:
    assert body() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert DEFAULT_MAX_TOKENS == 4096


def test_max_tokens_given_and_provider_default() -> None:
    assert body(max_tokens=10)["max_tokens"] == 10
    small = anthropic_compatible("http://127.0.0.1:9", default_max_tokens=256)
    assert body(provider=small)["max_tokens"] == 256


def test_http_request_url_headers_and_stream_flag() -> None:
    request = ChatCompletionRequest("m", [Message.user("hi")])
    http = build_messages_request(ANTHROPIC, request, True)
    assert http.method == "POST"
    assert http.url == "https://api.anthropic.com/v1/messages"
    assert http.header("anthropic-version") == "2023-06-01"
    assert http.header("accept") == "text/event-stream"
    assert http.stream_format == "sse"
    assert http.json["stream"] is True
    assert "stream" not in build_messages_request(ANTHROPIC, request, False).json


def test_base_url_with_or_without_v1() -> None:
    request = ChatCompletionRequest("m", [Message.user("hi")])
    for base in ("http://127.0.0.1:8014", "http://127.0.0.1:8014/", "http://127.0.0.1:8014/v1"):
        http = build_messages_request(anthropic_compatible(base), request, False)
        assert http.url == "http://127.0.0.1:8014/v1/messages"


def test_a_provider_anthropic_version_header_replaces_the_default() -> None:
    provider = ANTHROPIC.evolve(headers={"Anthropic-Version": "2099-01-01"})
    http = build_messages_request(provider, ChatCompletionRequest("m", [Message.user("x")]), False)
    assert http.header("anthropic-version") is None  # the client adds the provider's own


def test_the_two_providers() -> None:
    assert (ANTHROPIC.name, ANTHROPIC.auth, ANTHROPIC.api_key_env) == (
        "anthropic", "x-api-key", ("ANTHROPIC_API_KEY",))
    assert (ANTHROPIC_BEARER.name, ANTHROPIC_BEARER.auth, ANTHROPIC_BEARER.api_key_env) == (
        "anthropic-bearer", "bearer", ("ANTHROPIC_AUTH_TOKEN",))
    for provider in (ANTHROPIC, ANTHROPIC_BEARER):
        assert provider.api == "anthropic-messages"
        assert provider.base_url_env == ("ANTHROPIC_BASE_URL",)
        assert provider.base_url == "https://api.anthropic.com"
    assert set(llmcore.supported_providers()) >= {"anthropic", "anthropic-bearer"}


# --- system ---------------------------------------------------------------------------------------
def test_system_is_top_level_not_a_message() -> None:
    out = body(Message.system("Be terse."), Message.user("hi"))
    assert out["system"] == "Be terse."
    assert out["messages"] == [{"role": "user", "content": "hi"}]


def test_several_system_and_developer_messages_become_text_blocks() -> None:
    out = body(Message.system("A."), Message.user("hi"), Message(Role.DEVELOPER, "B."))
    assert out["system"] == [{"type": "text", "text": "A."}, {"type": "text", "text": "B."}]
    assert out["messages"] == [{"role": "user", "content": "hi"}]


def test_system_with_an_image_is_refused() -> None:
    err = invalid(Message(Role.SYSTEM, Content.from_image_base64(PNG_B64, "image/png")),
                  Message.user("hi"))
    assert err.field == "messages[0].content"


# --- user content blocks --------------------------------------------------------------------------
def test_image_base64_url_and_text_blocks() -> None:
    content = Content.from_parts([
        TextPart("look"),
        ImagePart(data=PNG_B64, mime_type="image/png"),
        ImagePart(url="https://example.invalid/cat.jpg"),
        TextPart(""),  # empty text blocks are refused by the API: left out
    ])
    assert body(Message.user(content))["messages"][0]["content"] == [
        {"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        {"type": "image", "source": {"type": "url", "url": "https://example.invalid/cat.jpg"}},
    ]


def test_data_url_image_becomes_base64() -> None:
    content = Content.new_image(f"data:image/png;base64,{PNG_B64}")
    (block,) = body(Message.user(content))["messages"][0]["content"]
    assert block["source"] == {"type": "base64", "media_type": "image/png", "data": PNG_B64}


def test_unsupported_image_type_names_the_field() -> None:
    bmp = Content.from_parts(["x", ImagePart(data=PNG_B64, mime_type="image/bmp")])
    err = invalid(Message.user("a"), Message.user(bmp))
    assert err.field == "messages[1].content[1]"
    assert "image/bmp" in err.reason


def test_documents_pdf_text_and_url() -> None:
    text_b64 = base64.b64encode(b"plain words").decode()
    content = Content.from_parts([
        DocumentPart(data=PDF_B64, mime_type="application/pdf", name="report.pdf"),
        DocumentPart(data=text_b64, mime_type="text/plain"),
        DocumentPart(url="https://example.invalid/a.pdf"),
    ])
    assert body(Message.user(content))["messages"][0]["content"] == [
        {"type": "document", "title": "report.pdf",
         "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64}},
        {"type": "document",
         "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}},
        {"type": "document", "source": {"type": "url", "url": "https://example.invalid/a.pdf"}},
    ]


def test_audio_is_refused_with_its_path() -> None:
    err = invalid(Message.user(Content.from_parts(["hear", AudioPart(data="AAAA", format="wav")])))
    assert err.field == "messages[0].content[1]"
    assert "audio" in err.reason


# --- assistant turns, thinking, tools -------------------------------------------------------------
def test_assistant_text_is_a_string_and_tool_calls_are_tool_use_blocks() -> None:
    call = ToolCall("toolu_1", "get_weather", {"city": "Paris"})
    out = body(Message.user("q"), Message.assistant("sure"),
               Message.assistant("", [call]), Message.user("again"))
    assert out["messages"][1] == {"role": "assistant", "content": "sure"}
    assert out["messages"][2] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]}


def test_own_thinking_blocks_go_back_unchanged_and_first() -> None:
    blocks = (
        ThinkingBlock("step one", SIG, provider="anthropic", api="anthropic-messages"),
        ThinkingBlock("", redacted="opaque-data==", provider="anthropic",
                      api="anthropic-messages"),
    )
    call = ToolCall("toolu_1", "get_weather", {"city": "Paris"})
    history = Message(Role.ASSISTANT, "Checking.", tool_calls=[call], thinking=blocks,
                      reasoning="step one")
    request = ChatCompletionRequest("claude-sonnet-4-5", [Message.user("q"), history])
    adapted = llmcore.adapt_request(request, ANTHROPIC)  # what the client does before building
    out = messages_payload(ANTHROPIC, adapted, False)
    assert out["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "step one", "signature": SIG},
        {"type": "redacted_thinking", "data": "opaque-data=="},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]


def test_foreign_thinking_loses_its_signature_and_becomes_text() -> None:
    block = ThinkingBlock("mull", "gemini-sig", provider="gemini", api="gemini")
    history = Message(Role.ASSISTANT, "Answer.", thinking=[block])
    request = ChatCompletionRequest("m", [Message.user("q"), history, Message.user("more")])
    out = messages_payload(ANTHROPIC, llmcore.adapt_request(request, ANTHROPIC), False)
    assert out["messages"][1]["content"] == [
        {"type": "text", "text": "<thinking>\nmull\n</thinking>\n\n"},
        {"type": "text", "text": "Answer."},
    ]
    assert "gemini-sig" not in str(out)


def test_an_unsigned_thinking_block_cannot_be_replayed_and_is_left_out() -> None:
    block = ThinkingBlock("no signature", provider="anthropic", api="anthropic-messages")
    out = body(Message.user("q"), Message(Role.ASSISTANT, "A.", thinking=[block]))
    assert out["messages"][1] == {"role": "assistant", "content": "A."}


# --- server-side tool blocks and citations go back as they came ------------------------------
ORIGIN = MessageOrigin("anthropic", "anthropic-messages", "claude-sonnet-4-5")
PAUSED_CONTENT = [
    {"type": "text", "text": "Searching."},
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
     "input": {"query": "SF weather"}},
    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
        {"type": "web_search_result", "url": "https://w.example", "title": "W",
         "encrypted_content": "ENC==", "page_age": None}]},
    {"type": "text", "text": " Sunny.", "citations": [
        {"type": "web_search_result_location", "url": "https://w.example", "title": "W",
         "cited_text": "Sunny", "encrypted_index": "IDX"}]},
]


def paused(text: str = "Searching. Sunny.", **changes: Any) -> Message:
    """The assistant message of a ``pause_turn`` web-search answer, as the client returns it."""
    return Message(Role.ASSISTANT, text, origin=ORIGIN,
                   provider_data={"content": PAUSED_CONTENT}, **changes)


def test_recorded_content_blocks_go_back_unchanged_to_resume_a_paused_turn() -> None:
    """Server tool blocks, results and citations are sent as the API sent them, in order."""
    request = ChatCompletionRequest("claude-sonnet-4-5", [Message.user("Weather?"), paused()],
                                    extra={"cache_breakpoints": [1]})
    out = messages_payload(ANTHROPIC, llmcore.adapt_request(request, ANTHROPIC), False)
    sent = out["messages"][1]
    assert sent["role"] == "assistant"
    assert sent["content"][:-1] == PAUSED_CONTENT[:-1]
    assert sent["content"][-1] == {**PAUSED_CONTENT[-1], "cache_control": {"type": "ephemeral"}}
    assert "cache_control" not in PAUSED_CONTENT[-1]  # the message's data is not changed


def test_recorded_content_with_thinking_and_tool_use_goes_back_whole() -> None:
    blocks = [{"type": "thinking", "thinking": "t", "signature": SIG}, *PAUSED_CONTENT,
              {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
               "input": {"city": "SF"}}]
    message = Message(
        Role.ASSISTANT, "Searching. Sunny.", origin=ORIGIN, provider_data={"content": blocks},
        thinking=[ThinkingBlock("t", SIG, provider="anthropic", api="anthropic-messages")],
        tool_calls=[ToolCall("toolu_1", "get_weather", {"city": "SF"})],
    )
    request = ChatCompletionRequest("claude-sonnet-4-5", [Message.user("q"), message])
    out = messages_payload(ANTHROPIC, llmcore.adapt_request(request, ANTHROPIC), False)
    assert out["messages"][1]["content"] == blocks


@pytest.mark.parametrize(
    "message",
    [paused("Edited."),  # the text no longer matches the blocks
     paused(tool_calls=[ToolCall("toolu_9", "f", {})]),  # a call the blocks do not hold
     paused(thinking=[ThinkingBlock("t", SIG, provider="anthropic",
                                    api="anthropic-messages")])],
    ids=["text", "tool-calls", "thinking"],
)
def test_a_message_that_no_longer_matches_its_blocks_is_sent_from_its_fields(
    message: Message,
) -> None:
    request = ChatCompletionRequest("claude-sonnet-4-5", [Message.user("q"), message])
    out = messages_payload(ANTHROPIC, llmcore.adapt_request(request, ANTHROPIC), False)
    sent = out["messages"][1]["content"]
    assert "server_tool_use" not in str(sent) and "ENC==" not in str(sent)


def test_recorded_blocks_never_reach_another_api_or_provider() -> None:
    """A handoff to another provider of the same API keeps provider data, but the signed
    thinking becomes text there, so the blocks no longer match and are not sent."""
    other = anthropic_compatible("http://127.0.0.1:9", name="local")
    message = Message(
        Role.ASSISTANT, "Searching. Sunny.", origin=ORIGIN,
        provider_data={"content": [{"type": "thinking", "thinking": "t", "signature": SIG},
                                   *PAUSED_CONTENT]},
        thinking=[ThinkingBlock("t", SIG, provider="anthropic", api="anthropic-messages")],
    )
    request = ChatCompletionRequest("m", [Message.user("q"), message])
    out = messages_payload(other, llmcore.adapt_request(request, other), False)
    assert SIG not in str(out) and "ENC==" not in str(out)


def test_tool_results_share_one_user_message_with_images_and_errors() -> None:
    calls = [ToolCall("t1", "get_weather", {"city": "A"}), ToolCall("t2", "get_weather", {})]
    image = Content.from_parts(["chart:", ImagePart(data=PNG_B64, mime_type="image/png")])
    out = body(
        Message.user("q"),
        Message.assistant("", calls),
        Message.tool("t1", image),
        Message.tool("t2", "city missing", is_error=True),
        Message.user("thanks"),
    )
    assert out["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "text", "text": "chart:"},
            {"type": "image",
             "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
        ]},
        {"type": "tool_result", "tool_use_id": "t2", "content": "city missing", "is_error": True},
    ]}
    assert out["messages"][3] == {"role": "user", "content": "thanks"}


def test_tools_and_tool_choice() -> None:
    out = body(tools=[WEATHER, Tool("noop")], tool_choice="required")
    assert out["tools"] == [
        {"name": "get_weather", "description": "Weather for a city.",
         "input_schema": WEATHER.parameters},
        {"name": "noop", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert out["tool_choice"] == {"type": "any"}
    assert body(tools=[WEATHER], tool_choice="auto")["tool_choice"] == {"type": "auto"}
    assert body(tools=[WEATHER], tool_choice="none")["tool_choice"] == {"type": "none"}
    named = body(tools=[WEATHER], tool_choice=ToolChoice.tool("get_weather"))
    assert named["tool_choice"] == {"type": "tool", "name": "get_weather"}


# --- options --------------------------------------------------------------------------------------
def test_sampling_stop_user_and_extra() -> None:
    out = body(temperature=0.5, top_p=0.9, stop=["END", "STOP"], user="u-1",
               extra={"top_k": 5, "service_tier": "auto"})
    assert out["temperature"] == 0.5 and out["top_p"] == 0.9
    assert out["stop_sequences"] == ["END", "STOP"]
    assert out["metadata"] == {"user_id": "u-1"}
    assert out["top_k"] == 5 and out["service_tier"] == "auto"
    assert "stop" not in out and "user" not in out


def test_reasoning_budget_is_thinking_budget_tokens() -> None:
    out = body(reasoning_budget=2000)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert out["max_tokens"] == DEFAULT_MAX_TOKENS + 2000  # room for the answer too
    assert body(reasoning_budget=2000, max_tokens=8000)["max_tokens"] == 8000
    assert body(reasoning_budget=0)["thinking"] == {"type": "disabled"}


def test_budget_must_stay_below_max_tokens() -> None:
    err = invalid(reasoning_budget=4000, max_tokens=4000)
    assert err.field == "reasoning_budget"


def test_reasoning_effort_picks_a_budget() -> None:
    assert body(reasoning_effort="low")["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body(reasoning_effort="high")["thinking"]["budget_tokens"] == 16384
    assert body(reasoning_effort="none")["thinking"] == {"type": "disabled"}
    both = body(reasoning_effort="high", reasoning_budget=1500)
    assert both["thinking"] == {"type": "enabled", "budget_tokens": 1500}
    assert "reasoning_effort" not in both


def test_json_schema_response_format_is_output_config() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    out = body(response_format={"type": "json_schema", "json_schema": {"name": "x",
                                                                        "schema": schema}})
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "response_format" not in out
    assert "output_config" not in body(response_format={"type": "text"})
    assert invalid(response_format={"type": "json_object"}).field == "response_format"


def test_seed_cannot_be_sent() -> None:
    assert invalid(seed=7).field == "seed"


# --- prompt caching -------------------------------------------------------------------------------
def test_top_level_cache_control_passes_through() -> None:
    out = body(extra={"cache_control": {"type": "ephemeral", "ttl": "5m"}})
    assert out["cache_control"] == {"type": "ephemeral", "ttl": "5m"}


def test_cache_breakpoints_mark_system_tools_and_messages() -> None:
    out = body(
        Message.system("long rules"),
        Message.user(Content.from_parts(["a", "b"])),
        Message.assistant("ok"),
        Message.user("question"),
        tools=[WEATHER],
        extra={"cache_breakpoints": ["system", "tools", 1, -1], "cache_ttl": "1h"},
    )
    mark = {"type": "ephemeral", "ttl": "1h"}
    assert out["system"] == [{"type": "text", "text": "long rules", "cache_control": mark}]
    assert out["tools"][-1]["cache_control"] == mark
    assert out["messages"][0]["content"] == [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b", "cache_control": mark},
    ]
    assert out["messages"][1] == {"role": "assistant", "content": "ok"}
    assert out["messages"][2]["content"] == [
        {"type": "text", "text": "question", "cache_control": mark},
    ]
    assert "cache_breakpoints" not in out and "cache_ttl" not in out


def test_cache_breakpoint_without_ttl_and_on_a_tool_result() -> None:
    call = ToolCall("t1", "get_weather", {})
    out = body(Message.user("q"), Message.assistant("", [call]), Message.tool("t1", "sunny"),
               extra={"cache_breakpoints": [-1]})
    assert out["messages"][2]["content"][0]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"cache_breakpoints": ["everything"]}, "extra['cache_breakpoints'][0]"),
        ({"cache_breakpoints": [5]}, "extra['cache_breakpoints'][0]"),
        ({"cache_breakpoints": ["system"]}, "extra['cache_breakpoints'][0]"),  # no system
        ({"cache_breakpoints": "system"}, "extra['cache_breakpoints']"),
        ({"cache_breakpoints": [0], "cache_ttl": "2h"}, "extra['cache_ttl']"),
    ],
)
def test_bad_cache_breakpoints_name_the_field(extra: dict[str, Any], field: str) -> None:
    assert invalid(extra=extra).field == field
