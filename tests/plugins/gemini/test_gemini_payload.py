"""Unified request -> Gemini ``generateContent`` payload: pure translation, no I/O."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import llmcore
import llmcore_gemini
from llmcore import (
    AudioPart,
    ChatCompletionRequest,
    Content,
    DocumentPart,
    ImagePart,
    InvalidInputError,
    Message,
    Role,
    ThinkingBlock,
    Tool,
    ToolCall,
    ToolChoice,
)
from llmcore_gemini.payload import build_chat_request, generate_payload
from llmcore_gemini.providers import api_url, is_synthetic_id, synthetic_call_id

GEMINI = llmcore_gemini.GEMINI
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def _payload(messages: list[Message], **options: Any) -> dict[str, Any]:
    return generate_payload(GEMINI, ChatCompletionRequest("gemini-2.5-flash", messages, **options))


def test_urls_methods_and_stream_query() -> None:
    request = ChatCompletionRequest("gemini-2.5-flash", [Message.user("hi")])
    whole = build_chat_request(GEMINI, request, False)
    stream = build_chat_request(GEMINI, request, True)
    base = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash"
    assert (whole.method, whole.url, whole.params) == ("POST", f"{base}:generateContent", {})
    assert stream.url == f"{base}:streamGenerateContent"
    assert stream.params == {"alt": "sse"}
    assert stream.stream_format == "sse"
    assert "key" not in stream.params and whole.header("x-goog-api-key") is None


def test_base_url_without_a_version_gets_v1beta() -> None:
    assert api_url(GEMINI.with_base_url("https://proxy.example"), "models") == (
        "https://proxy.example/v1beta/models")
    assert api_url(GEMINI.with_base_url("http://h/v1"), "models") == "http://h/v1/models"
    assert api_url(GEMINI.with_base_url("http://h/x/v1alpha/"), "m") == "http://h/x/v1alpha/m"


def test_model_names_with_a_collection_are_kept() -> None:
    for model, path in (("models/gemini-2.0-flash", "models/gemini-2.0-flash"),
                        ("tunedModels/my-model", "tunedModels/my-model")):
        request = ChatCompletionRequest(model, [Message.user("hi")])
        assert build_chat_request(GEMINI, request, False).url.endswith(f"/{path}:generateContent")


def test_system_messages_become_the_system_instruction() -> None:
    body = _payload([Message.system("be brief"), Message.user("hi"),
                     Message(Role.DEVELOPER, "and kind")])
    assert body["systemInstruction"] == {"parts": [{"text": "be brief"}, {"text": "and kind"}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_media_parts() -> None:
    content = Content.from_parts([
        "look",
        ImagePart(data=PNG, mime_type="image/png"),
        ImagePart(data=PNG),  # MIME type sniffed from the bytes
        ImagePart(url="https://example.com/cat.jpg"),
        ImagePart(url="gs://bucket/file", mime_type="image/webp"),
        ImagePart(url="data:image/gif;base64,R0lGODlh"),
        AudioPart(data="AAAA", format="wav"),
        DocumentPart(data="JVBERi0=", mime_type="application/pdf"),
        DocumentPart(url="https://example.com/a.pdf"),
    ])
    parts = _payload([Message.user(content)])["contents"][0]["parts"]
    assert parts == [
        {"text": "look"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"fileUri": "https://example.com/cat.jpg", "mimeType": "image/jpeg"}},
        {"fileData": {"fileUri": "gs://bucket/file", "mimeType": "image/webp"}},
        {"inlineData": {"mimeType": "image/gif", "data": "R0lGODlh"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "AAAA"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"fileData": {"fileUri": "https://example.com/a.pdf", "mimeType": "application/pdf"}},
    ]


def test_inline_data_without_a_known_mime_type_is_refused_with_its_path() -> None:
    with pytest.raises(InvalidInputError) as caught:
        _payload([Message.user("x"), Message.user(Content((ImagePart(data="AAAA"),)))])
    assert caught.value.field == "messages[1].content[0].mime_type"


def test_tool_calls_results_and_names_from_history() -> None:
    calls = [ToolCall("call_1", "get_weather", {"city": "Paris"},
                      extra={"thoughtSignature": "SIG1"}),
             ToolCall("call_2", "get_time", {})]
    body = _payload([
        Message.user("weather and time?"),
        Message.assistant("Let me check.", calls),
        Message.tool("call_1", "sunny"),
        Message.tool("call_2", "boom", is_error=True),
        Message.user("thanks"),
    ])
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "weather and time?"}]},
        {"role": "model", "parts": [
            {"text": "Let me check."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"},
             "thoughtSignature": "SIG1"},
            {"functionCall": {"name": "get_time", "args": {}, "id": "call_2"}},
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"},
                                  "id": "call_1"}},
            {"functionResponse": {"name": "get_time", "response": {"error": "boom"},
                                  "id": "call_2"}},
        ]},
        {"role": "user", "parts": [{"text": "thanks"}]},
    ]


def test_synthetic_ids_are_not_sent_back() -> None:
    call_id = synthetic_call_id("resp", 0, 0, "f", {})
    assert is_synthetic_id(call_id) and not is_synthetic_id("call_1")
    assert call_id == synthetic_call_id("resp", 0, 0, "f", {})  # deterministic
    assert call_id != synthetic_call_id("resp", 0, 1, "f", {})
    body = _payload([Message.user("q"), Message.assistant("", [ToolCall(call_id, "f", {})]),
                     Message.tool(call_id, "r")])
    assert body["contents"][1]["parts"] == [{"functionCall": {"name": "f", "args": {}}}]
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "f", "response": {"output": "r"}}}]


def test_a_tool_result_without_a_known_call_needs_a_name() -> None:
    with pytest.raises(InvalidInputError) as caught:
        _payload([Message.user("q"), Message.tool("nope", "r")])
    assert caught.value.field == "messages[1].tool_call_id"
    body = _payload([Message.user("q"), Message.tool("nope", "r", name="lookup")])
    assert body["contents"][1]["parts"][0]["functionResponse"]["name"] == "lookup"


def test_images_of_a_tool_result_follow_its_function_response() -> None:
    result = Message.tool("c1", Content.from_parts(["chart:", ImagePart(data=PNG,
                                                                       mime_type="image/png")]))
    body = _payload([Message.user("q"), Message.assistant("", [ToolCall("c1", "plot", {})]),
                     result])
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "plot", "response": {"output": "chart:"}, "id": "c1"}},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
    ]


def test_thinking_blocks_and_signatures_go_back_on_their_parts() -> None:
    native = dict(provider="gemini", api="gemini")
    message = Message(
        Role.ASSISTANT, "The answer.", reasoning="I thought.",
        thinking=(ThinkingBlock("", "TEXTSIG", **native),),
    )
    parts = _payload([Message.user("q"), message])["contents"][1]["parts"]
    assert parts == [{"text": "I thought.", "thought": True},
                     {"text": "The answer.", "thoughtSignature": "TEXTSIG"}]
    signed = Message(Role.ASSISTANT, "", thinking=(ThinkingBlock("t", "S", **native),
                                                   ThinkingBlock("", "S2", **native)))
    assert _payload([Message.user("q"), signed])["contents"][1]["parts"] == [
        {"text": "t", "thought": True, "thoughtSignature": "S"},
        {"text": "", "thoughtSignature": "S2"},
    ]


def test_foreign_reasoning_arrives_as_text_without_signatures() -> None:
    """A turn from another provider goes through the core's handoff before the payload."""
    foreign = Message(Role.ASSISTANT, "hi", thinking=(
        ThinkingBlock("mull", "anthropic-sig", provider="anthropic", api="anthropic-messages"),),
        tool_calls=[ToolCall("toolu_1", "f", {}, extra={"thoughtSignature": "x"})])
    request = llmcore.adapt_request(
        ChatCompletionRequest("gemini-2.5-flash", [Message.user("q"), foreign,
                                                   Message.tool("toolu_1", "ok")]), GEMINI)
    parts = generate_payload(GEMINI, request)["contents"][1]["parts"]
    assert parts[0]["text"].startswith("<thinking>\nmull\n</thinking>")
    assert "thoughtSignature" not in str(parts)


def test_tools_and_tool_choice() -> None:
    tool = Tool("get_weather", "Weather of a city",
                {"type": "object", "properties": {"city": {"type": "string"}},
                 "required": ["city"], "additionalProperties": False})
    body = _payload([Message.user("q")], tools=[tool], tool_choice="required")
    assert body["tools"] == [{"functionDeclarations": [{
        "name": "get_weather", "description": "Weather of a city",
        "parametersJsonSchema": tool.parameters}]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    modes = {"auto": {"mode": "AUTO"}, "none": {"mode": "NONE"},
             ToolChoice.tool("get_weather"): {"mode": "ANY",
                                              "allowedFunctionNames": ["get_weather"]}}
    for choice, config in modes.items():
        sent = _payload([Message.user("q")], tools=[tool], tool_choice=choice)
        assert sent["toolConfig"] == {"functionCallingConfig": config}


def test_generation_config_fields() -> None:
    body = _payload([Message.user("q")], temperature=0.2, top_p=0.9, max_tokens=64,
                    stop=["END"], seed=7,
                    response_format={"type": "json_schema",
                                     "json_schema": {"name": "x", "schema": {"type": "object"}}},
                    extra={"top_k": 5, "presence_penalty": 0.5, "frequency_penalty": 0.1,
                           "n": 2, "safetySettings": [{"category": "c", "threshold": "t"}],
                           "generationConfig": {"responseModalities": ["TEXT"]}})
    assert body["generationConfig"] == {
        "temperature": 0.2, "topP": 0.9, "maxOutputTokens": 64, "seed": 7,
        "stopSequences": ["END"], "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"}, "topK": 5, "presencePenalty": 0.5,
        "frequencyPenalty": 0.1, "candidateCount": 2, "responseModalities": ["TEXT"],
    }
    assert body["safetySettings"] == [{"category": "c", "threshold": "t"}]
    assert set(body) == {"contents", "generationConfig", "safetySettings"}
    plain = _payload([Message.user("q")], response_format={"type": "json_object"})
    assert plain["generationConfig"] == {"responseMimeType": "application/json"}
    assert "generationConfig" not in _payload([Message.user("q")])


def test_reasoning_budget_and_effort() -> None:
    assert _payload([Message.user("q")], reasoning_budget=2048)["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}}
    assert _payload([Message.user("q")], reasoning_budget=0)["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 0}}
    assert _payload([Message.user("q")], reasoning_effort="low")["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True}}
    gemini3 = generate_payload(GEMINI, ChatCompletionRequest(
        "gemini-3-pro-preview", [Message.user("q")], reasoning_effort="high"))
    assert gemini3["generationConfig"] == {
        "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": True}}


@pytest.mark.parametrize(("options", "field"), [
    ({"user": "u-1"}, "user"),
    ({"response_format": {"type": "xml"}}, "response_format"),
    ({"response_format": {"type": "json_schema"}}, "response_format"),
])
def test_what_gemini_cannot_express_is_refused(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _payload([Message.user("q")], **options)
    assert caught.value.field == field


def test_system_media_is_refused() -> None:
    with pytest.raises(InvalidInputError) as caught:
        _payload([Message(Role.SYSTEM, Content((ImagePart(data=PNG, mime_type="image/png"),))),
                  Message.user("q")])
    assert caught.value.field == "messages[0].content"
