"""One conversation across three real plugins, over real sockets on 127.0.0.1.

A conversation starts on Anthropic (signed extended thinking, text and a ``tool_use``), continues
on Gemini (a thought and a signed ``functionCall``) and then on OpenAI Chat Completions, through
``Client("anthropic")``, ``Client("gemini")`` and ``Client("openai")`` pointed at three loopback
servers, each answering in its provider's own wire format (the shapes, ids and signatures of the
recorded exchanges in ``tests/corpus/``). Every payload is checked field by field, for what the
core's handoff rules (``llmcore.handoff``) promise each API:

- Anthropic gets its own thinking block back with its signature byte for byte, and the other
  providers' reasoning as ``<thinking>`` text;
- Gemini gets Anthropic's reasoning as text, the call as a named ``functionCall`` and the result
  as a ``functionResponse``, and no Anthropic signature;
- OpenAI gets both reasoning texts as ``<thinking>`` text, tool-call ids its API accepts, and
  neither Anthropic's signature nor Gemini's ``thoughtSignature``;
- Gemini, when the conversation comes back to it, gets its own ``thoughtSignature`` unchanged.

Each conversation runs called and streamed, and with the history saved to JSON and loaded
again (``Context.dumps`` / ``Context.loads``) between every two hops: what is sent must not
depend on the round trip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from loopback import LoopbackServer, RecordedRequest, Reply

from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Client,
    Context,
    Message,
    MessageOrigin,
    StopReason,
    Tool,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def _corpus(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json.loads((CORPUS / name).read_text(encoding="utf-8"))
    return case


# --- what each provider says (taken from recorded exchanges) -----------------------------------
_ANTHROPIC_CASE = _corpus("anthropic/thinking_tool_call.json")
_ANTHROPIC_BODY = json.loads(_ANTHROPIC_CASE["response"]["body"])
_GEMINI_CASE = _corpus("gemini/tool_calls_gemini3.json")
_GEMINI_BODY = json.loads(_GEMINI_CASE["response"]["body"])

QUESTION = "What is the largest city in the user country?"
THINKING = _ANTHROPIC_BODY["content"][0]["thinking"]
ANTHROPIC_SIGNATURE = _ANTHROPIC_BODY["content"][0]["signature"]
ANTHROPIC_TEXT = _ANTHROPIC_BODY["content"][1]["text"]
TOOL_USE_ID = _ANTHROPIC_BODY["content"][2]["id"]  # toolu_01YGzqpRE16Vricda3Aqcejo
GEMINI_SIGNATURE = _GEMINI_BODY["candidates"][0]["content"]["parts"][0]["thoughtSignature"]
GEMINI_THOUGHT = "**Finding the city**\n\nThe user is in France; get_largest_city will tell."
ANSWER = "The largest city in France is Paris."
FOLLOW_UP = "Thanks! How many people live there?"
COUNTRY, CITY = "France", "Paris"

CLAUDE = "claude-sonnet-4-20250514"
GEMINI = "gemini-3-flash-preview"
GPT = "gpt-4o-2024-08-06"

TOOLS = (
    Tool("get_user_country", "The user's country", {"type": "object", "properties": {}}),
    Tool(
        "get_largest_city",
        "The largest city of a country",
        {
            "type": "object",
            "properties": {"country": {"type": "string"}},
            "required": ["country"],
        },
    ),
)

SKIP_SIGNATURE = "skip_thought_signature_validator"
"""The ``thoughtSignature`` Google documents for function calls Gemini did not produce."""

OPENAI_ID = re.compile(r"[a-zA-Z0-9_-]{1,40}")
"""The tool-call ids OpenAI Chat Completions accepts."""


# --- Anthropic Messages -----------------------------------------------------------------------
def anthropic_message() -> dict[str, Any]:
    """The recorded answer: a signed thinking block, text, then ``tool_use``."""
    return {**_ANTHROPIC_BODY, "model": CLAUDE}


def anthropic_final(text: str) -> dict[str, Any]:
    return {
        **_ANTHROPIC_BODY,
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
    }


def _sse_event(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode()


def anthropic_events(message: dict[str, Any]) -> list[bytes]:
    """``message`` as the Messages API streams it: every event kind, fragments split in two."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": 1}
    events = [
        _sse_event({"type": "message_start", "message": start}),
        _sse_event({"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
            text = block["thinking"]
            deltas = [
                {"type": "thinking_delta", "thinking": text[: len(text) // 2]},
                {"type": "thinking_delta", "thinking": text[len(text) // 2 :]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        elif kind == "text":
            opening = {"type": "text", "text": ""}
            text = block["text"]
            deltas = [
                {"type": "text_delta", "text": text[: len(text) // 2]},
                {"type": "text_delta", "text": text[len(text) // 2 :]},
            ]
        else:
            opening = {**block, "input": {}}
            raw = json.dumps(block["input"])
            half = len(raw) // 2
            deltas = [
                {"type": "input_json_delta", "partial_json": raw[:half]},
                {"type": "input_json_delta", "partial_json": raw[half:]},
            ]
        events.append(
            _sse_event({"type": "content_block_start", "index": index, "content_block": opening})
        )
        events += [
            _sse_event({"type": "content_block_delta", "index": index, "delta": delta})
            for delta in deltas
        ]
        events.append(_sse_event({"type": "content_block_stop", "index": index}))
    events.append(
        _sse_event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            }
        )
    )
    events.append(_sse_event({"type": "message_stop"}))
    return events


def anthropic_reply(message: dict[str, Any], streamed: bool) -> Reply:
    if not streamed:
        return Reply.json(message, headers={"request-id": "req_011CbVjqiXA7wxBTF7BBSFMV"})
    return Reply.sse(anthropic_events(message), fragment=7)


# --- Gemini -----------------------------------------------------------------------------------
def gemini_answer(parts: list[dict[str, Any]], finish: str | None = "STOP") -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "modelVersion": GEMINI,
        "responseId": _GEMINI_BODY["responseId"],
        "usageMetadata": _GEMINI_BODY["usageMetadata"],
    }


def gemini_call_parts() -> list[dict[str, Any]]:
    """A thought, then a ``functionCall`` without an id carrying the thought signature (the
    Gemini 3 shape: the first call of a turn is signed)."""
    return [
        {"text": GEMINI_THOUGHT, "thought": True},
        {
            "functionCall": {"name": "get_largest_city", "args": {"country": COUNTRY}},
            "thoughtSignature": GEMINI_SIGNATURE,
        },
    ]


def gemini_reply(parts: list[dict[str, Any]], streamed: bool) -> Reply:
    if not streamed:
        return Reply.json(gemini_answer(parts))
    events = [json.dumps(gemini_answer([part], None)) for part in parts[:-1]]
    events.append(json.dumps(gemini_answer(parts[-1:])))
    return Reply.sse(events, fragment=11, line_ending="\r\n")


def gemini_path(streamed: bool) -> str:
    action = "streamGenerateContent" if streamed else "generateContent"
    return f"/v1beta/models/{GEMINI}:{action}"


# --- OpenAI Chat Completions ------------------------------------------------------------------
_OPENAI_USAGE = {
    "completion_tokens": 12,
    "prompt_tokens": 168,
    "total_tokens": 180,
    "completion_tokens_details": {"reasoning_tokens": 0},
    "prompt_tokens_details": {"cached_tokens": 0},
}


def openai_reply(text: str, streamed: bool) -> Reply:
    base = {
        "id": "chatcmpl-BSXk0dWkG4hfPt0lph4oFO35iT73I",
        "created": 1746142584,
        "model": GPT,
        "system_fingerprint": "fp_f5bdcc3276",
    }
    if not streamed:
        message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        body = {**base, "object": "chat.completion", "choices": [choice], "usage": _OPENAI_USAGE}
        return Reply.json(body)
    chunk = {**base, "object": "chat.completion.chunk"}

    def choice(delta: dict[str, Any], finish: str | None = None) -> str:
        item = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return json.dumps({**chunk, "choices": [item], "usage": None})

    words = text.split(" ")
    events = [choice({"role": "assistant", "content": "", "refusal": None})]
    events += [choice({"content": w if not i else " " + w}) for i, w in enumerate(words)]
    events.append(choice({}, "stop"))
    events.append(json.dumps({**chunk, "choices": [], "usage": _OPENAI_USAGE}))
    events.append("[DONE]")
    return Reply.sse(events, fragment=5)


# --- running the conversation -----------------------------------------------------------------
@dataclass
class Servers:
    anthropic: LoopbackServer
    gemini: LoopbackServer
    openai: LoopbackServer


@pytest.fixture
def servers() -> Iterator[Servers]:
    with LoopbackServer() as a, LoopbackServer() as g, LoopbackServer() as o:
        yield Servers(a, g, o)


@pytest.fixture(autouse=True)
def _no_provider_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "ANTHROPIC_BASE_URL",
        "GOOGLE_GEMINI_BASE_URL",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
        "OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


@dataclass
class Run:
    """What one run of the conversation sent and got back."""

    streamed: bool
    responses: dict[str, ChatCompletionResponse] = field(default_factory=dict)
    sent: dict[str, RecordedRequest] = field(default_factory=dict)
    contexts: list[Context] = field(default_factory=list)

    def body(self, hop: str) -> dict[str, Any]:
        body: dict[str, Any] = self.sent[hop].json()
        return body


def _ask(client: Client, request: ChatCompletionRequest, streamed: bool) -> ChatCompletionResponse:
    if not streamed:
        return client.chat_completion(request)
    stream = client.chat_completion_stream(request)
    for _chunk in stream:
        pass
    return stream.response


def converse(servers: Servers, *, streamed: bool, roundtrip: bool) -> Run:
    """Anthropic -> Gemini -> OpenAI, then back to Anthropic and to Gemini."""
    run = Run(streamed)

    def keep(context: Context) -> Context:
        if roundtrip:
            loaded = Context.loads(context.dumps())
            assert loaded == context
            context = loaded
        run.contexts.append(context)
        return context

    anthropic = Client("anthropic", base_url=servers.anthropic.base_url, api_key="sk-ant-test")
    gemini = Client("gemini", base_url=servers.gemini.base_url, api_key="gemini-test-key")
    openai = Client("openai", base_url=servers.openai.base_url + "/v1", api_key="sk-test")

    servers.anthropic.add(
        "POST",
        "/v1/messages",
        anthropic_reply(anthropic_message(), streamed),
        anthropic_reply(anthropic_final("About 2.1 million people."), streamed),
    )
    servers.gemini.add(
        "POST",
        gemini_path(streamed),
        gemini_reply(gemini_call_parts(), streamed),
        gemini_reply([{"text": "Paris has about 2.1 million inhabitants."}], streamed),
    )
    servers.openai.add("POST", "/v1/chat/completions", openai_reply(ANSWER, streamed))

    def hop(
        name: str, client: Client, server: LoopbackServer, request: ChatCompletionRequest
    ) -> ChatCompletionResponse:
        count = len(server.requests)
        run.responses[name] = _ask(client, request, streamed)
        assert len(server.requests) == count + 1
        run.sent[name] = server.requests[-1]
        return run.responses[name]

    context = keep(Context(messages=[Message.user(QUESTION)], tools=TOOLS))
    first = hop(
        "anthropic",
        anthropic,
        servers.anthropic,
        context.to_request("claude-sonnet-4-0", reasoning_budget=3000),
    )
    context = keep(context.append_response(first).append(Message.tool(TOOL_USE_ID, COUNTRY)))

    second = hop("gemini", gemini, servers.gemini, context.to_request(GEMINI))
    (city_call,) = second.tool_calls()
    context = keep(context.append_response(second).append(Message.tool(city_call.id, CITY)))

    third = hop("openai", openai, servers.openai, context.to_request("gpt-4o"))
    context = keep(context.append_response(third).append(Message.user(FOLLOW_UP)))

    hop(
        "anthropic-again",
        anthropic,
        servers.anthropic,
        context.to_request("claude-sonnet-4-0", reasoning_budget=3000),
    )
    hop("gemini-again", gemini, servers.gemini, context.to_request(GEMINI))
    return run


MODES = [
    pytest.param((False, False), id="called"),
    pytest.param((True, False), id="streamed"),
    pytest.param((False, True), id="called-json-roundtrip"),
    pytest.param((True, True), id="streamed-json-roundtrip"),
]


@pytest.fixture(params=MODES)
def run(request: pytest.FixtureRequest, servers: Servers) -> Run:
    streamed, roundtrip = request.param
    return converse(servers, streamed=streamed, roundtrip=roundtrip)


def unsigned_gemini_steps(contents: list[dict[str, Any]]) -> list[int]:
    """The model contents of the current turn whose function calls carry no signature.

    Gemini 3 checks the current turn (everything after the last user text) and answers 400
    "Function call is missing a thought_signature in functionCall parts" when the first
    ``functionCall`` of a step has none.
    """
    start = 0
    for index, content in enumerate(contents):
        if content["role"] == "user" and any("text" in p for p in content["parts"]):
            start = index + 1
    found = []
    for index, content in enumerate(contents[start:], start):
        calls = [p for p in content["parts"] if "functionCall" in p]
        if content["role"] == "model" and calls and "thoughtSignature" not in calls[0]:
            found.append(index)
    return found


def _thinking_text(text: str) -> str:
    return f"<thinking>\n{text}\n</thinking>"


# --- the answers, as llmcore reads them -------------------------------------------------------
def test_each_answer_records_where_it_came_from(run: Run) -> None:
    first = run.responses["anthropic"].message
    assert first.origin == MessageOrigin("anthropic", "anthropic-messages", CLAUDE)
    (block,) = first.thinking
    assert (block.text, block.signature) == (THINKING, ANTHROPIC_SIGNATURE)
    assert (block.provider, block.api) == ("anthropic", "anthropic-messages")
    assert first.text() == ANTHROPIC_TEXT
    assert [(c.id, c.name, c.arguments) for c in first.tool_calls] == [
        (TOOL_USE_ID, "get_user_country", {})
    ]
    assert run.responses["anthropic"].stop_reason is StopReason.TOOL_USE

    second = run.responses["gemini"].message
    assert second.origin == MessageOrigin("gemini", "gemini", GEMINI)
    assert second.reasoning == GEMINI_THOUGHT
    (call,) = second.tool_calls
    assert re.fullmatch(r"gemini_[0-9a-f]{24}", call.id)  # Gemini sent no id: one is made
    assert (call.name, call.arguments) == ("get_largest_city", {"country": COUNTRY})
    assert call.extra == {"thoughtSignature": GEMINI_SIGNATURE}
    assert run.responses["gemini"].stop_reason is StopReason.TOOL_USE

    third = run.responses["openai"].message
    assert third.origin == MessageOrigin("openai", "openai-chat", GPT)
    assert third.text() == ANSWER


# --- hop 1: Anthropic -------------------------------------------------------------------------
def test_anthropic_receives_the_question_with_thinking_enabled(run: Run) -> None:
    sent = run.sent["anthropic"]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    body = run.body("anthropic")
    assert body["model"] == "claude-sonnet-4-0"
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 3000}
    assert body["max_tokens"] == 4096 + 3000
    assert body["messages"] == [{"role": "user", "content": QUESTION}]
    assert [t["name"] for t in body["tools"]] == ["get_user_country", "get_largest_city"]


# --- hop 2: Gemini ----------------------------------------------------------------------------
def test_gemini_receives_reasoning_as_text_and_the_call_as_a_function_call(run: Run) -> None:
    sent = run.sent["gemini"]
    assert sent.headers["x-goog-api-key"] == "gemini-test-key"
    body = run.body("gemini")
    user, model, results = body["contents"]
    assert user == {"role": "user", "parts": [{"text": QUESTION}]}
    assert model["role"] == "model"
    text, text2, call = model["parts"]
    # Anthropic's reasoning is foreign to Gemini: readable text, not a Gemini thought
    assert text == {"text": _thinking_text(THINKING) + "\n\n"}
    assert text2 == {"text": ANTHROPIC_TEXT}
    # Gemini 3 refuses an unsigned call in the current turn: the documented stand-in signature
    assert call == {
        "functionCall": {"name": "get_user_country", "args": {}, "id": TOOL_USE_ID},
        "thoughtSignature": SKIP_SIGNATURE,
    }
    assert unsigned_gemini_steps(body["contents"]) == []
    assert results == {
        "role": "user",
        "parts": [
            {
                "functionResponse": {
                    "name": "get_user_country",
                    "response": {"output": COUNTRY},
                    "id": TOOL_USE_ID,
                }
            }
        ],
    }
    assert [d["name"] for d in body["tools"][0]["functionDeclarations"]] == [
        "get_user_country",
        "get_largest_city",
    ]
    raw = sent.body.decode()
    assert ANTHROPIC_SIGNATURE not in raw
    assert ANTHROPIC_SIGNATURE[:24] not in raw
    assert raw.count("thoughtSignature") == 1  # the stand-in, nothing of Anthropic's
    assert '"thought"' not in raw


# --- hop 3: OpenAI ----------------------------------------------------------------------------
def test_openai_receives_thinking_text_and_ids_it_accepts(run: Run) -> None:
    sent = run.sent["openai"]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    body = run.body("openai")
    city_id = run.responses["gemini"].tool_calls()[0].id
    assert body["messages"] == [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": _thinking_text(THINKING) + "\n\n" + ANTHROPIC_TEXT,
            "tool_calls": [
                {
                    "id": TOOL_USE_ID,
                    "type": "function",
                    "function": {"name": "get_user_country", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": TOOL_USE_ID, "content": COUNTRY},
        {
            "role": "assistant",
            "content": _thinking_text(GEMINI_THOUGHT),
            "tool_calls": [
                {
                    "id": city_id,
                    "type": "function",
                    "function": {
                        "name": "get_largest_city",
                        "arguments": json.dumps({"country": COUNTRY}),
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": city_id, "content": CITY},
    ]
    for message in body["messages"]:
        for call in message.get("tool_calls", ()):
            assert OPENAI_ID.fullmatch(call["id"]), call["id"]
        if message["role"] == "tool":
            assert OPENAI_ID.fullmatch(message["tool_call_id"])
    raw = sent.body.decode()
    for secret in (GEMINI_SIGNATURE, ANTHROPIC_SIGNATURE):
        assert secret not in raw and secret[:24] not in raw
    assert "thoughtSignature" not in raw and "signature" not in raw.lower()
    assert body.get("stream", False) is run.streamed


# --- back to the first two providers ----------------------------------------------------------
def test_back_on_anthropic_its_own_signature_goes_back_byte_for_byte(run: Run) -> None:
    sent = run.sent["anthropic-again"]
    body = run.body("anthropic-again")
    city_id = run.responses["gemini"].tool_calls()[0].id
    assert body["messages"] == [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": THINKING, "signature": ANTHROPIC_SIGNATURE},
                {"type": "text", "text": ANTHROPIC_TEXT},
                {"type": "tool_use", "id": TOOL_USE_ID, "name": "get_user_country", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": TOOL_USE_ID, "content": COUNTRY}],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": _thinking_text(GEMINI_THOUGHT)},
                {
                    "type": "tool_use",
                    "id": city_id,
                    "name": "get_largest_city",
                    "input": {"country": COUNTRY},
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": city_id, "content": CITY}],
        },
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": FOLLOW_UP},
    ]
    # byte for byte: the signature as the first answer carried it, in the bytes on the wire
    assert json.dumps(ANTHROPIC_SIGNATURE) in sent.body.decode()
    assert body["messages"][1]["content"][0]["signature"].encode() == (
        _ANTHROPIC_BODY["content"][0]["signature"].encode()
    )
    raw = sent.body.decode()
    assert GEMINI_SIGNATURE not in raw and GEMINI_SIGNATURE[:24] not in raw
    assert "thoughtSignature" not in raw


def test_back_on_gemini_its_own_thought_signature_goes_back_unchanged(run: Run) -> None:
    body = run.body("gemini-again")
    contents = body["contents"]
    assert [c["role"] for c in contents] == [
        "user",
        "model",
        "user",
        "model",
        "user",
        "model",
        "user",
    ]
    # Gemini's own turn: its thought and its signed call, as they came (the made-up id stays
    # home: Gemini sent none)
    assert contents[3] == {
        "role": "model",
        "parts": [
            {"text": GEMINI_THOUGHT, "thought": True},
            {
                "functionCall": {"name": "get_largest_city", "args": {"country": COUNTRY}},
                "thoughtSignature": GEMINI_SIGNATURE,
            },
        ],
    }
    assert contents[4]["parts"][0] == {
        "functionResponse": {"name": "get_largest_city", "response": {"output": CITY}}
    }
    # Anthropic's turn is still foreign here, OpenAI's answer is plain text
    assert contents[1]["parts"][0] == {"text": _thinking_text(THINKING) + "\n\n"}
    assert contents[1]["parts"][2]["thoughtSignature"] == SKIP_SIGNATURE
    assert unsigned_gemini_steps(contents) == []
    assert contents[5] == {"role": "model", "parts": [{"text": ANSWER}]}
    assert contents[6] == {"role": "user", "parts": [{"text": FOLLOW_UP}]}
    raw = run.sent["gemini-again"].body.decode()
    assert ANTHROPIC_SIGNATURE not in raw and ANTHROPIC_SIGNATURE[:24] not in raw
    assert raw.count(GEMINI_SIGNATURE) == 1


@pytest.mark.parametrize("streamed", [False, True], ids=["called", "streamed"])
def test_what_is_sent_does_not_depend_on_the_json_round_trip(streamed: bool) -> None:
    with LoopbackServer() as a, LoopbackServer() as g, LoopbackServer() as o:
        direct = converse(Servers(a, g, o), streamed=streamed, roundtrip=False)
    with LoopbackServer() as a, LoopbackServer() as g, LoopbackServer() as o:
        saved = converse(Servers(a, g, o), streamed=streamed, roundtrip=True)
    for hop in direct.sent:
        assert saved.sent[hop].body == direct.sent[hop].body, hop
    # and a saved conversation keeps every trace the handoff rules read
    loaded = Context.loads(saved.contexts[-1].dumps())
    claude, gemini = loaded.messages[1], loaded.messages[3]
    assert claude.thinking[0].signature == ANTHROPIC_SIGNATURE
    assert claude.origin == MessageOrigin("anthropic", "anthropic-messages", CLAUDE)
    assert gemini.tool_calls[0].extra == {"thoughtSignature": GEMINI_SIGNATURE}
    assert gemini.origin == MessageOrigin("gemini", "gemini", GEMINI)
