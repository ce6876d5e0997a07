"""Gemini turns in a conversation that goes on: back to Gemini, and on to OpenAI's chat API.

The core stamps each answer with its origin (provider ``gemini``, API ``gemini``, model) and
sends a message's reasoning, signatures and tool-call ``extra`` back only to the API it came
from. Gemini's own plain thought text (a thought part without a signature) therefore goes back
to Gemini as a thought part (``{"text", "thought": true}``), as Google's own SDK keeps the
whole model content in a chat's history; towards ``openai-chat`` its signatures and the tool
calls' ``thoughtSignature`` are dropped and the thought text becomes ``<thinking>`` text.

Both plugins are registered (the installed ones), both servers are the loopback server.
"""

from __future__ import annotations

import json
from typing import Any

from loopback import LoopbackServer, Reply

import llmcore
import llmcore_openai
from llmcore import Context, Message, MessageOrigin, StopReason, Tool

GEMINI_PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
OPENAI_PATH = "/v1/chat/completions"
TOOL = Tool("get_time", "The time", {"type": "object", "properties": {}})


_RATINGS = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]


def _gemini(parts: list[dict[str, Any]]) -> Reply:
    return Reply.json({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP",
                        "index": 0, "safetyRatings": _RATINGS}],
        "modelVersion": "gemini-2.5-flash", "responseId": "resp-1",
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3,
                          "thoughtsTokenCount": 4, "totalTokenCount": 12},
    })


def _openai_answer(text: str) -> Reply:
    return Reply.json({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
    })


def _clients(server: LoopbackServer) -> tuple[llmcore.Client, llmcore.Client]:
    options = llmcore.ConnectionOptions(max_retries=0)
    gemini = llmcore.Client("gemini", api_key="g-key", base_url=server.base_url + "/v1beta",
                            options=options)
    openai = llmcore.Client(llmcore_openai.OPENAI, api_key="o-key",
                            base_url=server.base_url + "/v1", options=options)
    return gemini, openai


def test_unsigned_thought_text_goes_back_to_gemini_as_a_thought_part(
    loopback: LoopbackServer,
) -> None:
    """A Gemini answer whose thought part has no signature, saved and loaded with the context,
    goes back to Gemini as the same thought part, not as ``<thinking>`` text."""
    loopback.reset()
    loopback.add("POST", GEMINI_PATH,
                 _gemini([{"text": "Noon is 12:00.", "thought": True}, {"text": "It is noon."}]),
                 _gemini([{"text": "You are welcome."}]))
    gemini, _ = _clients(loopback)
    with gemini:
        context = Context(messages=[Message.user("time?")])
        first = gemini.chat_completion(context.to_request("gemini-2.5-flash"))
        assert first.message.origin == MessageOrigin("gemini", "gemini", "gemini-2.5-flash")
        assert first.message.reasoning_any() == "Noon is 12:00."
        assert all(not b.signature for b in first.message.thinking)
        context = Context.loads(context.append_response(first).dumps())
        context = context.append(Message.user("thanks"))
        gemini.chat_completion(context.to_request("gemini-2.5-flash"))
    model_turn = loopback.requests[1].json()["contents"][1]
    assert model_turn == {"role": "model", "parts": [
        {"text": "Noon is 12:00.", "thought": True}, {"text": "It is noon."}]}


def test_a_gemini_tool_turn_moves_to_openai_without_signatures(loopback: LoopbackServer) -> None:
    """Signed thought and a signed function call from Gemini, continued on OpenAI's chat API:
    no ``thoughtSignature`` (tool-call ``extra``) and no Gemini provider data reach it; the
    thought text arrives as ``<thinking>`` text; the call and its result keep their pairing."""
    loopback.reset()
    call = {"functionCall": {"name": "get_time", "args": {}}, "thoughtSignature": "CALL-SIG=="}
    loopback.add("POST", GEMINI_PATH, _gemini([
        {"text": "I need the clock.", "thought": True, "thoughtSignature": "THOUGHT-SIG=="},
        call,
    ]))
    loopback.add("POST", OPENAI_PATH, _openai_answer("It is noon."))
    gemini, openai = _clients(loopback)
    with gemini, openai:
        context = Context(messages=[Message.user("time?")], tools=[TOOL])
        first = gemini.chat_completion(context.to_request("gemini-2.5-flash"))
        assert first.stop_reason is StopReason.TOOL_USE
        [tool_call] = first.tool_calls()
        assert tool_call.extra == {"thoughtSignature": "CALL-SIG=="}
        assert first.choices[0].provider_data["safetyRatings"]
        context = Context.loads(context.append_response(first).dumps())
        context = context.append(Message.tool(tool_call.id, "12:00"))
        second = openai.chat_completion(context.to_request("gpt-4o-mini"))
    assert second.text() == "It is noon."
    sent = loopback.requests[1].json()
    raw = json.dumps(sent)
    for leak in ("CALL-SIG==", "THOUGHT-SIG==", "thoughtSignature", "safetyRatings"):
        assert leak not in raw, leak
    assistant = sent["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"] == "<thinking>\nI need the clock.\n</thinking>"
    [wire_call] = assistant["tool_calls"]
    assert set(wire_call) == {"id", "type", "function"}
    assert wire_call["function"] == {"name": "get_time", "arguments": "{}"}
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": wire_call["id"],
                                   "content": "12:00"}
