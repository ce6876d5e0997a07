"""Cross-provider handoffs: each rule of llmcore.handoff, then a recorded-style Anthropic
conversation (signed thinking, tool calls) continued on OpenAI, its payload checked field by field.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import responses

import llmcore
from llmcore import (
    AudioPart,
    Capabilities,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    Client,
    Compat,
    Content,
    Context,
    ImagePart,
    Message,
    MessageOrigin,
    Provider,
    Role,
    StopReason,
    TextPart,
    ThinkingBlock,
    Tool,
    ToolCall,
    adapt_request,
    history_message,
    transform_messages,
)
from llmcore.handoff import NO_RESULT, ToolCallIdRule, tool_call_id_rule
from llmcore_openai import OPENAI, OpenAIChatCompat
from llmcore_openai.payload import chat_payload

ANTHROPIC = Provider(
    name="anthropic",
    api="anthropic-messages",
    base_url="https://api.anthropic.com/v1",
    capabilities=Capabilities(vision=("claude-*",)),
)
SIG = "EqQBCkgIARABGAIiQL3mFm0sIgnatureZ5fZ8lq0Yw=="
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8).decode()
WAV_B64 = base64.b64encode(b"RIFF\x00\x00\x00\x00WAVEfmt ").decode()


def claude_thinking(text: str, *, signature: str | None = SIG, redacted: str | None = None) -> Any:
    return ThinkingBlock(text, signature, redacted, "anthropic", "anthropic-messages")


def claude_turn(text: str = "", calls: tuple[ToolCall, ...] = (), thought: str = "Hmm.") -> Message:
    return Message(
        Role.ASSISTANT,
        text,
        tool_calls=calls,
        reasoning=thought,
        thinking=(claude_thinking(thought),),
    )


def provider(**compat: Any) -> Provider:
    return OPENAI.evolve(compat=OpenAIChatCompat(**compat))


# --- pass-through -------------------------------------------------------------------------------
def test_user_and_tool_messages_pass_through_unchanged() -> None:
    image = Content.from_text("look") + Content.from_image_base64(PNG_B64, "image/png")
    messages = (
        Message.user(image),
        Message.assistant("", [ToolCall("call_1", "f", {})]),
        Message.tool("call_1", "done"),
    )
    out = transform_messages(messages, OPENAI, "gpt-4o")
    assert all(a is b for a, b in zip(out, messages, strict=True))


def test_adapt_request_returns_the_same_object_when_nothing_changes() -> None:
    request = ChatCompletionRequest("gpt-4o", [Message.system("s"), Message.user("hi")])
    assert adapt_request(request, OPENAI) is request


def test_same_provider_and_api_keep_everything() -> None:
    turn = Message(
        Role.ASSISTANT,
        "answer",
        tool_calls=[ToolCall("toolu_01", "f", {"a": 1}, extra={"cache": True})],
        reasoning="Hmm.",
        thinking=(claude_thinking("Hmm."), claude_thinking("", signature=None, redacted=REDACTED)),
    )
    out = transform_messages([Message.user("q"), turn], ANTHROPIC, "claude-sonnet-4-5")
    assert out[1] is turn
    assert out[1].thinking[0].signature == SIG
    assert out[1].thinking[1].redacted == REDACTED


def test_same_provider_name_but_other_api_is_foreign() -> None:
    other_api = ANTHROPIC.evolve(api="openai-chat")
    out = transform_messages([claude_turn("ok")], other_api, "claude-x")
    assert out[0].thinking == ()
    assert out[0].text().startswith("<thinking>\nHmm.\n</thinking>")


# --- foreign thinking ----------------------------------------------------------------------------
def test_foreign_thinking_becomes_thinking_text_without_signatures() -> None:
    turn = Message(
        Role.ASSISTANT,
        "The answer is 4.",
        reasoning="2 + 2 = 4",
        thinking=(
            claude_thinking("2 + 2 = 4"),
            claude_thinking("", signature=None, redacted=REDACTED),
        ),
    )
    (out,) = transform_messages([turn], OPENAI, "gpt-4o")
    assert out.text() == "<thinking>\n2 + 2 = 4\n</thinking>\n\nThe answer is 4."
    assert out.thinking == ()
    assert out.reasoning is None
    assert isinstance(out.content.parts[0], TextPart)
    assert SIG not in repr(out) and REDACTED not in repr(out)


def test_foreign_thinking_without_text_gets_no_separator() -> None:
    turn = claude_turn("", (ToolCall("toolu_1", "f", {}),), thought="call f")
    out = transform_messages([turn, Message.tool("toolu_1", "r")], OPENAI, "gpt-4o")
    assert out[0].text() == "<thinking>\ncall f\n</thinking>"


def test_multiple_foreign_blocks_join_in_one_thinking_text() -> None:
    turn = Message(
        Role.ASSISTANT,
        "x",
        thinking=(claude_thinking("first"), claude_thinking("  "), claude_thinking("second")),
    )
    (out,) = transform_messages([turn], OPENAI, "gpt-4o")
    assert out.text() == "<thinking>\nfirst\n\nsecond\n</thinking>\n\nx"


def test_foreign_thinking_dropped_where_the_target_rejects_it() -> None:
    target = provider(extra={"drop_foreign_thinking": True})
    (out,) = transform_messages([claude_turn("answer")], target, "gpt-4o")
    assert out.text() == "answer"
    assert out.thinking == () and out.reasoning is None


def test_foreign_thinking_goes_to_the_reasoning_field_when_the_target_has_one() -> None:
    target = provider(reasoning_field="reasoning_content")
    (out,) = transform_messages([claude_turn("answer", thought="deep")], target, "deepseek-chat")
    assert out.text() == "answer"
    assert out.reasoning == "deep"
    assert out.thinking == ()


def test_untagged_blocks_are_foreign() -> None:
    turn = Message(Role.ASSISTANT, "a", thinking=(ThinkingBlock("t", signature=SIG),))
    (out,) = transform_messages([turn], ANTHROPIC, "claude-x")
    assert out.thinking == ()
    assert "<thinking>\nt\n</thinking>" in out.text()


def test_mixed_blocks_keep_the_native_ones() -> None:
    gemini = ThinkingBlock("g", "gsig", None, "gemini", "gemini")
    turn = Message(Role.ASSISTANT, "a", reasoning="c\n\ng", thinking=(claude_thinking("c"), gemini))
    (out,) = transform_messages([turn], ANTHROPIC, "claude-x")
    assert out.thinking == (claude_thinking("c"),)
    assert out.reasoning == "c"
    assert out.text() == "<thinking>\ng\n</thinking>\n\na"


def test_foreign_turn_drops_provider_fields_of_its_tool_calls() -> None:
    call = ToolCall("toolu_1", "f", {"x": 1}, extra={"thought_signature": "abc"})
    turn = claude_turn("", (call,))
    out = transform_messages([turn, Message.tool("toolu_1", "r")], OPENAI, "gpt-4o")
    assert out[0].tool_calls == (ToolCall("toolu_1", "f", {"x": 1}),)


def test_reasoning_of_unknown_origin_becomes_thinking_text() -> None:
    turn = Message(Role.ASSISTANT, "42", reasoning="let me think")
    (out,) = transform_messages([turn], OPENAI, "gpt-4o")
    assert out.text() == "<thinking>\nlet me think\n</thinking>\n\n42"
    assert out.reasoning is None


def test_reasoning_of_unknown_origin_is_kept_for_a_reasoning_field() -> None:
    turn = Message(Role.ASSISTANT, "42", reasoning="let me think")
    target = provider(reasoning_field="reasoning_content")
    (out,) = transform_messages([turn], target, "deepseek-reasoner")
    assert out is turn or out == turn
    assert chat_payload(target, ChatCompletionRequest("m", [out]), False)["messages"][0] == {
        "role": "assistant",
        "content": "42",
        "reasoning_content": "let me think",
    }


def test_reasoning_of_unknown_origin_dropped_on_request() -> None:
    turn = Message(Role.ASSISTANT, "42", reasoning="let me think")
    (out,) = transform_messages([turn], provider(extra={"drop_foreign_thinking": True}), "m")
    assert out.text() == "42" and out.reasoning is None


# --- tool-call ids -------------------------------------------------------------------------------
RESPONSES_ID = "call_Vb3x9|fc_68a1c0ffee+/=" + "Z" * 300  # Responses-style call_id|item_id


@pytest.mark.parametrize(
    ("target", "limit"),
    [(ANTHROPIC, 64), (OPENAI, 40)],
    ids=["anthropic-messages", "openai-chat"],
)
def test_tool_call_ids_are_rewritten_to_what_the_target_accepts(
    target: Provider, limit: int
) -> None:
    messages = [
        Message.user("q"),
        Message.assistant("", [ToolCall(RESPONSES_ID, "f", {}), ToolCall("call_ok_1", "g", {})]),
        Message.tool(RESPONSES_ID, "r1"),
        Message.tool("call_ok_1", "r2"),
    ]
    out = transform_messages(messages, target, "m")
    new = out[1].tool_calls[0].id
    assert re.fullmatch(rf"[a-zA-Z0-9_-]{{1,{limit}}}", new)
    assert new.startswith("call_Vb3x9_fc_68a1c0ffee")
    assert out[2].tool_call_id == new
    assert out[1].tool_calls[1].id == "call_ok_1"  # valid ids are left alone
    assert out[3] is messages[3]
    # deterministic: the next request of the same conversation maps it the same way
    assert transform_messages(messages, target, "m")[1].tool_calls[0].id == new


def test_openai_limit_is_40_characters() -> None:
    long_id = "toolu_" + "a" * 50  # valid for Anthropic, too long for OpenAI Chat
    messages = [Message.assistant("", [ToolCall(long_id, "f", {})]), Message.tool(long_id, "r")]
    assert transform_messages(messages, ANTHROPIC, "m")[0].tool_calls[0].id == long_id
    out = transform_messages(messages, OPENAI, "gpt-4o")
    assert len(out[0].tool_calls[0].id) == 40
    assert out[1].tool_call_id == out[0].tool_calls[0].id


def test_distinct_ids_stay_distinct_after_rewriting() -> None:
    a, b = "x" * 45 + "1", "x" * 45 + "2"  # same 40-character prefix
    out = transform_messages(
        [Message.assistant("", [ToolCall(a, "f"), ToolCall(b, "f")])], OPENAI, "m"
    )
    ids = [c.id for c in out[0].tool_calls]
    assert len(set(ids)) == 2
    assert all(len(i) <= 40 for i in ids)


def test_tool_call_id_rule_per_api_and_override() -> None:
    assert tool_call_id_rule(OPENAI).max_length == 40
    assert tool_call_id_rule(ANTHROPIC).max_length == 64
    assert tool_call_id_rule(OPENAI.evolve(api="something-new")) == ToolCallIdRule()
    mistral = provider(
        extra={
            "tool_call_id_chars": "a-zA-Z0-9",
            "tool_call_id_min_length": 9,
            "tool_call_id_max_length": 9,
        }
    )
    rule = tool_call_id_rule(mistral)
    new = rule.rewrite("call_abc123")
    assert re.fullmatch(r"[a-zA-Z0-9]{9}", new)
    assert rule.rewrite("abcDEF123") == "abcDEF123"


@pytest.mark.parametrize("old", ["", "a", "ü" * 70, "a|b", "-" * 64, "x" * 65])
def test_rewrite_always_gives_an_accepted_id(old: str) -> None:
    for rule in (ToolCallIdRule(), ToolCallIdRule(max_length=40), ToolCallIdRule(9, "a-z0-9", 9)):
        assert rule.accepts(rule.rewrite(old))


# --- empty and aborted turns -------------------------------------------------------------------
def test_empty_assistant_turns_are_dropped() -> None:
    messages = [
        Message.user("q"),
        Message.assistant(""),
        Message.assistant("   \n"),
        Message(Role.ASSISTANT, "", thinking=(claude_thinking("", signature=None),)),
        Message.user("again"),
    ]
    out = transform_messages(messages, OPENAI, "gpt-4o")
    assert [m.text() for m in out] == ["q", "again"]


def test_turn_with_only_foreign_redacted_thinking_is_dropped_as_empty() -> None:
    turn = Message(Role.ASSISTANT, "", thinking=(claude_thinking("", redacted=REDACTED),))
    assert transform_messages([Message.user("q"), turn], OPENAI, "gpt-4o") == (Message.user("q"),)
    # ... but kept on its own provider, where the redacted payload means something
    assert transform_messages([turn], ANTHROPIC, "claude-x") == (turn,)


def test_turn_with_only_tool_calls_is_not_empty() -> None:
    turn = Message.assistant("", [ToolCall("call_1", "f", {})])
    out = transform_messages([turn, Message.tool("call_1", "r")], OPENAI, "gpt-4o")
    assert out[0] is turn


def response(stop: StopReason | None, text: str = "partial") -> ChatCompletionResponse:
    return ChatCompletionResponse("r1", "m", [Choice(0, Message.assistant(text), None, stop)])


@pytest.mark.parametrize("stop", [StopReason.ABORTED, StopReason.ERROR])
def test_aborted_and_failed_turns_do_not_enter_history(stop: StopReason) -> None:
    assert history_message(response(stop)) is None
    context = Context(messages=[Message.user("q")])
    assert context.append_response(response(stop)) is context


@pytest.mark.parametrize("stop", [StopReason.STOP, StopReason.LENGTH, StopReason.TOOL_USE, None])
def test_finished_turns_enter_history(stop: StopReason | None) -> None:
    assert history_message(response(stop)) == Message.assistant("partial")
    context = Context(messages=[Message.user("q")]).append_response(response(stop))
    assert context.messages[-1] == Message.assistant("partial")


def test_response_without_choices_has_no_history_message() -> None:
    assert history_message(ChatCompletionResponse("r", "m", ())) is None


# --- missing tool results ----------------------------------------------------------------------
def test_missing_tool_results_get_a_synthetic_error_before_the_next_user_message() -> None:
    calls = (ToolCall("call_a", "fa", {}), ToolCall("call_b", "fb", {}), ToolCall("call_c", "fc"))
    messages = [
        Message.user("q"),
        Message.assistant("", calls),
        Message.tool("call_b", "rb"),
        Message.user("next"),
    ]
    out = transform_messages(messages, OPENAI, "gpt-4o")
    assert [m.role for m in out] == [
        Role.USER,
        Role.ASSISTANT,
        Role.TOOL,
        Role.TOOL,
        Role.TOOL,
        Role.USER,
    ]
    assert out[2] is messages[2]
    assert out[3] == Message.tool("call_a", NO_RESULT, name="fa", is_error=True)
    assert out[4] == Message.tool("call_c", NO_RESULT, name="fc", is_error=True)


def test_missing_tool_results_before_the_next_assistant_turn_and_at_the_end() -> None:
    messages = [
        Message.assistant("", [ToolCall("call_1", "f")]),
        Message.assistant("", [ToolCall("call_2", "g")]),
    ]
    out = transform_messages(messages, OPENAI, "gpt-4o")
    assert [(m.role, m.tool_call_id, m.is_error) for m in out] == [
        (Role.ASSISTANT, None, False),
        (Role.TOOL, "call_1", True),
        (Role.ASSISTANT, None, False),
        (Role.TOOL, "call_2", True),
    ]


def test_synthetic_results_use_the_rewritten_ids() -> None:
    out = transform_messages([Message.assistant("", [ToolCall(RESPONSES_ID, "f")])], OPENAI, "m")
    assert out[1].tool_call_id == out[0].tool_calls[0].id != RESPONSES_ID


# --- media the model cannot take ----------------------------------------------------------------
def test_images_downgraded_for_a_model_without_vision() -> None:
    user = Message.user(Content.from_text("what is this?") + Content.new_image("https://x/cat.png"))
    result = Message.tool("call_1", Content.from_image_base64(PNG_B64, "image/png"))
    messages = [user, Message.assistant("", [ToolCall("call_1", "shot")]), result]
    out = transform_messages(messages, OPENAI, "gpt-3.5-turbo")
    assert out[0].content.parts == (
        TextPart("what is this?"),
        TextPart("[image omitted: gpt-3.5-turbo does not accept images]"),
    )
    assert out[2].content.parts == (
        TextPart("[image omitted: gpt-3.5-turbo does not accept images]"),
    )
    assert out[2].tool_call_id == "call_1"
    # a vision model keeps them
    assert transform_messages(messages, OPENAI, "gpt-4o")[0] is user


def test_audio_downgraded_for_a_model_without_audio_input() -> None:
    user = Message.user(Content((TextPart("listen"), AudioPart(data=WAV_B64, format="wav"))))
    (out,) = transform_messages([user], OPENAI, "gpt-4o")
    assert out.content.parts[1] == TextPart("[audio omitted: gpt-4o does not accept audio]")
    (kept,) = transform_messages([user], OPENAI, "gpt-4o-audio-preview")
    assert kept is user


def test_system_and_assistant_media_are_not_touched() -> None:
    turn = Message(Role.ASSISTANT, Content((ImagePart(url="https://x/generated.png"),)))
    (out,) = transform_messages([turn], OPENAI, "gpt-3.5-turbo")
    assert out is turn


# --- the client applies it ---------------------------------------------------------------------
@responses.activate
def test_client_sends_the_adapted_conversation() -> None:
    responses.post(
        "https://api.openai.com/v1/chat/completions",
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ok"},
                    "finish_reason": "stop",
                }
            ],
        },
    )
    client = Client("openai", api_key="sk-test")
    request = ChatCompletionRequest("gpt-4o", claude_conversation())
    assert client.chat_completion(request).text() == "ok"
    body = json.loads(responses.calls[0].request.body)
    assert body == chat_payload(OPENAI, adapt_request(request, OPENAI), False)
    assert SIG not in json.dumps(body)


# --- done-when: an Anthropic conversation with thinking and tool calls continues on OpenAI ------
PARIS_ID = "toolu_01A09q90qw90lq917835lq9"  # 29 characters: valid everywhere
TOKYO_ID = "toolu_01XYZ" + "abcdefghij" * 4  # 51 characters: valid for Anthropic, not OpenAI
WEATHER = Tool(
    "get_weather",
    "Current weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def claude_conversation() -> list[Message]:
    """What llmcore recorded from Anthropic: signed thinking, redacted thinking, two parallel
    tool calls (one never answered), an aborted empty turn, a final answer with thinking."""
    plan = "The user wants two cities. I'll call get_weather for each."
    return [
        Message.system("You are a weather assistant."),
        Message.user("What's the weather in Paris and Tokyo?"),
        Message(
            Role.ASSISTANT,
            "Let me check both cities.",
            tool_calls=(
                ToolCall(PARIS_ID, "get_weather", {"city": "Paris"}),
                ToolCall(TOKYO_ID, "get_weather", {"city": "Tokyo"}),
            ),
            reasoning=plan,
            thinking=(
                claude_thinking(plan),
                claude_thinking("", signature=None, redacted=REDACTED),
            ),
        ),
        Message.tool(PARIS_ID, '{"temp_c": 18, "sky": "cloudy"}', name="get_weather"),
        Message.user("Never mind Tokyo. Should I take an umbrella in Paris?"),
        Message(Role.ASSISTANT, ""),  # aborted before any output
        Message.user("Hello? Umbrella or not?"),
        Message(
            Role.ASSISTANT,
            "No umbrella needed: it is cloudy but dry.",
            reasoning="Cloudy, 18°C, no rain in the result.",
            thinking=(claude_thinking("Cloudy, 18°C, no rain in the result."),),
        ),
        Message.user("Thanks! And tomorrow?"),
    ]


def test_anthropic_conversation_with_thinking_and_tools_is_valid_for_openai_chat() -> None:
    request = ChatCompletionRequest("gpt-4o", claude_conversation(), tools=[WEATHER])
    payload = chat_payload(OPENAI, adapt_request(request, OPENAI), False)

    assert payload["model"] == "gpt-4o"
    assert payload["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER.parameters,
                "description": "Current weather in a city",
            },
        }
    ]
    wire = payload["messages"]
    assert [m["role"] for m in wire] == [
        "system", "user", "assistant", "tool", "tool", "user", "user", "assistant", "user",
    ]  # fmt: skip
    system, user1, call_turn, paris, tokyo, user2, user3, answer, user4 = wire

    assert system == {"role": "system", "content": "You are a weather assistant."}
    assert user1 == {"role": "user", "content": "What's the weather in Paris and Tokyo?"}

    # the assistant turn: foreign thinking as text, no signature, ids OpenAI accepts
    assert set(call_turn) == {"role", "content", "tool_calls"}
    assert call_turn["content"] == (
        "<thinking>\nThe user wants two cities. I'll call get_weather for each.\n</thinking>\n\n"
        "Let me check both cities."
    )
    calls = call_turn["tool_calls"]
    assert len(calls) == 2
    for call in calls:
        assert set(call) == {"id", "type", "function"}
        assert call["type"] == "function"
        assert isinstance(call["id"], str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", call["id"])
        assert set(call["function"]) == {"name", "arguments"}
        assert call["function"]["name"] == "get_weather"
        assert isinstance(call["function"]["arguments"], str)
    assert calls[0]["id"] == PARIS_ID
    assert calls[1]["id"] != TOKYO_ID and len(calls[1]["id"]) <= 40
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert json.loads(calls[1]["function"]["arguments"]) == {"city": "Tokyo"}

    # every call answered, in order, right after the turn; the missing one by a synthetic error
    assert paris == {
        "role": "tool",
        "tool_call_id": PARIS_ID,
        "content": '{"temp_c": 18, "sky": "cloudy"}',
    }
    assert tokyo == {
        "role": "tool",
        "tool_call_id": calls[1]["id"],
        "content": f"Error: {NO_RESULT}",
    }

    # the aborted empty turn is gone: two user messages in a row are fine for openai-chat
    assert user2 == {
        "role": "user",
        "content": "Never mind Tokyo. Should I take an umbrella in Paris?",
    }
    assert user3 == {"role": "user", "content": "Hello? Umbrella or not?"}
    assert answer == {
        "role": "assistant",
        "content": "<thinking>\nCloudy, 18°C, no rain in the result.\n</thinking>\n\n"
        "No umbrella needed: it is cloudy but dry.",
    }
    assert user4 == {"role": "user", "content": "Thanks! And tomorrow?"}

    # nothing Anthropic-specific left anywhere in the body
    body = json.dumps(payload, ensure_ascii=False)
    for secret in (SIG, REDACTED, "signature", "redacted", 'thinking":', "reasoning_content"):
        assert secret not in body
    assert "thinking" not in {k for m in wire for k in m}


def test_handoff_payload_validates_against_the_openai_sdk_types() -> None:
    """Extra evidence where the official SDK is installed: its request param types accept it."""
    pydantic = pytest.importorskip("pydantic")
    chat = pytest.importorskip("openai.types.chat")
    request = ChatCompletionRequest("gpt-4o", claude_conversation(), tools=[WEATHER])
    payload = chat_payload(OPENAI, adapt_request(request, OPENAI), False)
    adapter = pydantic.TypeAdapter(list[chat.ChatCompletionMessageParam])
    adapter.validate_python(payload["messages"], strict=True)
    pydantic.TypeAdapter(list[chat.ChatCompletionToolParam]).validate_python(payload["tools"])


def test_the_same_conversation_stays_untouched_for_anthropic() -> None:
    messages = claude_conversation()
    out = transform_messages(messages, ANTHROPIC, "claude-sonnet-4-5")
    kept = [m for m in messages if not (m.role is Role.ASSISTANT and not m.text())]
    assert [m for m in out if m.role is not Role.TOOL or m.tool_call_id == PARIS_ID] == kept
    assert out[2].thinking[0].signature == SIG
    assert out[4] == Message.tool(TOKYO_ID, NO_RESULT, name="get_weather", is_error=True)


def test_context_round_trip_then_handoff() -> None:
    context = Context("You are a weather assistant.", claude_conversation()[1:], [WEATHER])
    restored = Context.loads(context.dumps())
    assert restored == context
    request = restored.to_request("gpt-4o")
    assert adapt_request(request, OPENAI).messages[0] == Message.system(
        "You are a weather assistant."
    )
    assert llmcore.Context is Context


# --- origins: the same API gets the message as it was ---------------------------------------------
DEEPSEEK = OPENAI.evolve(
    name="deepseek", compat=OpenAIChatCompat(reasoning_field="reasoning_content")
)
GROQ = OPENAI.evolve(name="groq")


def deepseek_turn(**fields: Any) -> Message:
    return Message(
        Role.ASSISTANT,
        "42",
        reasoning="let me think",
        origin=MessageOrigin("deepseek", "openai-chat", "deepseek-reasoner"),
        **fields,
    )


def test_own_plain_reasoning_going_back_to_its_api_is_not_foreign() -> None:
    turn = deepseek_turn()
    (out,) = transform_messages([turn], GROQ, "gpt-oss-120b")  # same API, no reasoning field
    assert out is turn  # no <thinking> text put in the content
    (out,) = transform_messages([turn], DEEPSEEK, "deepseek-reasoner")
    assert out is turn
    wire = chat_payload(DEEPSEEK, ChatCompletionRequest("m", [out]), False)["messages"][0]
    assert wire == {"role": "assistant", "content": "42", "reasoning_content": "let me think"}


def test_reasoning_from_another_api_is_converted() -> None:
    turn = deepseek_turn()
    (out,) = transform_messages([turn], ANTHROPIC, "claude-x")
    assert out.text() == "<thinking>\nlet me think\n</thinking>\n\n42"
    assert out.reasoning is None
    assert out.origin == turn.origin  # the origin itself stays


def test_untagged_blocks_take_the_messages_origin() -> None:
    block = ThinkingBlock("t", signature=SIG)
    turn = Message(
        Role.ASSISTANT,
        "a",
        reasoning="t",
        thinking=(block,),
        origin=MessageOrigin("anthropic", "anthropic-messages", "claude-x"),
    )
    (out,) = transform_messages([turn], ANTHROPIC, "claude-x")
    assert out is turn and out.thinking[0].signature == SIG
    (out,) = transform_messages([turn], OPENAI, "gpt-4o")
    assert out.thinking == () and out.text() == "<thinking>\nt\n</thinking>\n\na"


def test_signed_blocks_stay_with_their_provider_even_on_the_same_api() -> None:
    turn = Message(
        Role.ASSISTANT,
        "a",
        reasoning="Hmm.",
        thinking=(claude_thinking("Hmm."),),
        origin=MessageOrigin("anthropic", "anthropic-messages", "claude-x"),
    )
    vertex = ANTHROPIC.evolve(name="anthropic-vertex")
    (out,) = transform_messages([turn], vertex, "claude-x")
    assert out.thinking == ()
    assert out.text().startswith("<thinking>\nHmm.\n</thinking>")


def test_provider_data_goes_back_to_the_same_api_only() -> None:
    data = {"reasoning_details": [{"type": "reasoning.encrypted", "data": "xyz"}]}
    call = ToolCall("call_1", "f", {}, extra={"extra_content": {"google": {"sig": "s"}}})
    turn = deepseek_turn(provider_data=data, tool_calls=(call,))
    result = Message.tool("call_1", "ok")
    out = transform_messages([turn, result], GROQ, "m")
    assert out[0] is turn
    out = transform_messages([turn, result], ANTHROPIC, "claude-x")
    assert out[0].provider_data == {}
    assert out[0].tool_calls == (ToolCall("call_1", "f", {}),)  # its extra meant nothing there
    unknown = Message(Role.ASSISTANT, "a", provider_data=data)  # no origin: API unknown
    (out,) = transform_messages([unknown], GROQ, "m")
    assert out.provider_data == {}


def test_the_same_api_plugin_sends_back_only_the_provider_data_it_accepts() -> None:
    data = {"reasoning_details": [{"type": "reasoning.text", "text": "t"}], "annotations": []}
    turn = deepseek_turn(provider_data=data)
    router = OPENAI.evolve(
        name="openrouter", compat=OpenAIChatCompat(replay_provider_data=("reasoning_details",))
    )
    request = adapt_request(ChatCompletionRequest("m", [turn]), router)
    wire = chat_payload(router, request, False)["messages"][0]
    assert wire["reasoning_details"] == data["reasoning_details"]
    assert "annotations" not in wire
    plain = chat_payload(OPENAI, adapt_request(ChatCompletionRequest("m", [turn]), OPENAI), False)
    assert set(plain["messages"][0]) == {"role", "content"}  # OpenAI takes none of it back


def test_core_compat_fields_steer_the_handoff() -> None:
    target = OPENAI.evolve(compat=Compat(drop_foreign_thinking=True, tool_call_id_max_length=9))
    (out,) = transform_messages([claude_turn("answer")], target, "gpt-4o")
    assert out.text() == "answer"
    assert tool_call_id_rule(target).max_length == 9
    assert chat_payload(target, ChatCompletionRequest("gpt-4o", [Message.user("x")]), False)


def test_context_round_trip_keeps_the_origin_for_the_handoff() -> None:
    turn = deepseek_turn(provider_data={"annotations": [{"url": "https://a.example"}]})
    restored = Context.loads(Context(None, [Message.user("q"), turn]).dumps())
    assert restored.messages[1] == turn
    out = transform_messages(restored.messages, GROQ, "m")
    assert out[1] == turn
