"""llmcore-anthropic against a real server: llama.cpp's ``llama-server`` speaks ``/v1/messages``.

The same server and tiny scripted model as ``test_realserver.py`` (see
``tools/realserver/README.md``), reached at ``LLMCORE_REALSERVER_URL`` (default
``http://127.0.0.1:8014/v1``) through the Anthropic Messages API: plain text, the SSE events
(``message_start``, ``content_block_*``, ``message_delta``, ``message_stop``), ``tool_use`` with
its input streamed as ``input_json_delta``, ``max_tokens`` and ``stop_sequences``. Each answer is
exact and checked non-streamed, streamed as chunks, and streamed as typed events.

Inside ``tox -e realserver`` (``LLMCORE_REALSERVER=1``) an unreachable server fails every test;
in a plain ``pytest`` run these tests are skipped when no server answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from realserver_support import (
    ANSWER,
    MODEL,
    TOOLS,
    URL,
    USAGE_HI,
    WEATHER_ARGS,
    server_client,
)

import llmcore
import llmcore_anthropic
from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatStream,
    Message,
    StopReason,
    ToolCall,
    ToolChoice,
)
from llmcore import events as ev

pytestmark = pytest.mark.realserver

NAME = "llama-cpp-anthropic"


@pytest.fixture(scope="module")
def client() -> Iterator[llmcore.Client]:
    yield from server_client(llmcore_anthropic.anthropic_compatible(URL, name=NAME))


def request(*messages: Message, **options: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest(MODEL, messages or (Message.user("hi"),), **options)


def weather_request(**options: Any) -> ChatCompletionRequest:
    return request(Message.user("What is the weather in Paris?"), tools=TOOLS, **options)


def usage_of(resp: ChatCompletionResponse) -> tuple[int, int, int]:
    assert resp.usage is not None, "the server reported no usage"
    return resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens


def consume(stream: ChatStream) -> tuple[list[llmcore.ChatCompletionChunk], ChatCompletionResponse]:
    with stream:
        chunks = list(stream)
    assert stream.error is None
    return chunks, stream.response


def collect_events(stream: ChatStream) -> list[ev.StreamEvent]:
    with stream:
        return list(stream.events())


def streamed_text(chunks: list[llmcore.ChatCompletionChunk]) -> str:
    return "".join(c.text() or "" for c in chunks)


def finish_reasons(chunks: list[llmcore.ChatCompletionChunk]) -> list[str]:
    return [r for c in chunks if (r := c.finish_reason()) is not None]


def check_text_events(events: list[ev.StreamEvent], text: str, reason: StopReason) -> None:
    """start, one text block (start, deltas, end) at index 0, done."""
    assert isinstance(events[0], ev.StartEvent)
    assert isinstance(events[1], ev.TextStartEvent) and events[1].content_index == 0
    deltas = [e for e in events if isinstance(e, ev.TextDeltaEvent)]
    assert all(d.content_index == 0 for d in deltas)
    assert "".join(d.delta for d in deltas) == text
    assert events[1 + len(deltas) + 1] == ev.TextEndEvent(0, text)
    done = events[-1]
    assert isinstance(done, ev.DoneEvent), done
    assert done.reason is reason
    assert done.message.text() == text
    assert len(events) == 1 + 1 + len(deltas) + 1 + 1, [e.type for e in events]


# --- plain text ---------------------------------------------------------------------------------
def test_chat_plain(client: llmcore.Client) -> None:
    resp = client.chat_completion(request())
    assert resp.text() == ANSWER
    assert resp.finish_reason == "end_turn"
    assert resp.stop_reason is StopReason.STOP
    assert resp.tool_calls() == ()
    assert usage_of(resp) == USAGE_HI
    assert resp.provider == NAME
    assert resp.model == MODEL and resp.id


def test_stream_plain(client: llmcore.Client) -> None:
    chunks, resp = consume(client.chat_completion_stream(request()))
    assert len([c for c in chunks if c.text()]) >= 5, "the answer did not arrive token by token"
    assert streamed_text(chunks) == ANSWER
    assert finish_reasons(chunks) == ["end_turn"]
    assert chunks[0].role() is llmcore.Role.ASSISTANT  # message_start
    assert chunks[0].usage is not None and chunks[0].usage.prompt_tokens == USAGE_HI[0]
    assert resp.text() == ANSWER
    assert resp.stop_reason is StopReason.STOP
    assert usage_of(resp) == USAGE_HI  # message_delta's output count, message_start's input
    assert resp.model == MODEL and resp.id


def test_stream_plain_events(client: llmcore.Client) -> None:
    events = collect_events(client.chat_completion_stream(request()))
    check_text_events(events, ANSWER, StopReason.STOP)
    done = events[-1]
    assert isinstance(done, ev.DoneEvent)
    assert usage_of(done.response) == USAGE_HI


def test_default_max_tokens_and_headers_on_the_wire(client: llmcore.Client) -> None:
    """Without max_tokens the documented default goes out; system is top-level."""
    sent: list[llmcore.HttpRequest] = []

    def capture(http_request: llmcore.HttpRequest, _provider: llmcore.Provider) -> None:
        sent.append(http_request)

    req = request(Message.system("Be brief."), Message.user("hi"))
    assert client.chat_completion(req, on_payload=capture).text() == ANSWER
    assert client.chat_completion_stream(req, on_payload=capture).text() == ANSWER
    for http_request in sent:
        assert http_request.url == f"{URL}/messages"
        assert http_request.header("anthropic-version") == "2023-06-01"
        body = http_request.json
        assert body["max_tokens"] == llmcore_anthropic.DEFAULT_MAX_TOKENS == 4096
        assert body["system"] == "Be brief."
        assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert "stream" not in sent[0].json and sent[1].json["stream"] is True


# --- max_tokens -> max_tokens / length ----------------------------------------------------------
def test_chat_max_tokens(client: llmcore.Client) -> None:
    resp = client.chat_completion(request(max_tokens=3))
    assert resp.text() == "Hello, world"
    assert resp.finish_reason == "max_tokens"
    assert resp.stop_reason is StopReason.LENGTH
    assert usage_of(resp)[1] == 3


def test_stream_max_tokens(client: llmcore.Client) -> None:
    chunks, resp = consume(client.chat_completion_stream(request(max_tokens=3)))
    assert streamed_text(chunks) == "Hello, world"
    assert finish_reasons(chunks) == ["max_tokens"]
    assert resp.stop_reason is StopReason.LENGTH
    assert usage_of(resp)[1] == 3


def test_stream_max_tokens_events(client: llmcore.Client) -> None:
    events = collect_events(client.chat_completion_stream(request(max_tokens=3)))
    check_text_events(events, "Hello, world", StopReason.LENGTH)


# --- stop_sequences -----------------------------------------------------------------------------
def test_chat_stop_sequences(client: llmcore.Client) -> None:
    sent: list[Any] = []
    resp = client.chat_completion(
        request(stop=["world"]),
        on_payload=lambda r, _p: sent.append(r.json["stop_sequences"]),
    )
    assert sent == [["world"]]
    assert resp.text() == "Hello, "
    assert resp.stop_reason is StopReason.STOP


def test_stream_stop_sequences(client: llmcore.Client) -> None:
    chunks, resp = consume(client.chat_completion_stream(request(stop=["world"])))
    assert streamed_text(chunks) == "Hello, "
    assert len(finish_reasons(chunks)) == 1
    assert resp.text() == "Hello, "
    assert resp.stop_reason is StopReason.STOP


def test_stream_stop_sequences_events(client: llmcore.Client) -> None:
    events = collect_events(client.chat_completion_stream(request(stop="world")))
    check_text_events(events, "Hello, ", StopReason.STOP)


# --- tool_use -----------------------------------------------------------------------------------
TOOL_CHOICES = pytest.mark.parametrize(
    "tool_choice",
    [None, "auto", "required", ToolChoice.tool("get_weather")],
    ids=["default", "auto", "any", "named"],
)


def check_weather_call(call: ToolCall) -> None:
    assert call.name == "get_weather"
    assert call.arguments == WEATHER_ARGS
    assert call.raw_arguments is None
    assert call.id, "the tool call has no id"


@TOOL_CHOICES
def test_chat_tool_use(client: llmcore.Client, tool_choice: Any) -> None:
    resp = client.chat_completion(weather_request(tool_choice=tool_choice))
    (call,) = resp.tool_calls()
    check_weather_call(call)
    assert resp.finish_reason == "tool_use"
    assert resp.stop_reason is StopReason.TOOL_USE
    assert resp.text() == ""


@TOOL_CHOICES
def test_stream_tool_use(client: llmcore.Client, tool_choice: Any) -> None:
    chunks, resp = consume(client.chat_completion_stream(weather_request(tool_choice=tool_choice)))
    fragments = [tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls]
    pieces = [f.arguments for f in fragments if f.arguments]
    assert len(pieces) >= 2, "the input did not arrive as several input_json_delta events"
    assert {f.index for f in fragments} == {0}
    assert fragments[0].name == "get_weather" and fragments[0].id
    assert json.loads("".join(pieces)) == WEATHER_ARGS
    assert finish_reasons(chunks) == ["tool_use"]
    (call,) = resp.tool_calls()
    check_weather_call(call)
    assert call.id == fragments[0].id
    assert resp.stop_reason is StopReason.TOOL_USE


def test_stream_tool_use_events(client: llmcore.Client) -> None:
    events = collect_events(client.chat_completion_stream(weather_request()))
    assert isinstance(events[0], ev.StartEvent)
    start = events[1]
    assert isinstance(start, ev.ToolCallStartEvent) and start.name == "get_weather"
    deltas = [e for e in events if isinstance(e, ev.ToolCallDeltaEvent)]
    assert len(deltas) >= 2
    assert json.loads("".join(d.delta for d in deltas)) == WEATHER_ARGS
    assert deltas[-1].partial == WEATHER_ARGS
    end = events[-2]
    assert isinstance(end, ev.ToolCallEndEvent)
    check_weather_call(end.tool_call)
    assert end.tool_call.id == start.id
    done = events[-1]
    assert isinstance(done, ev.DoneEvent) and done.reason is StopReason.TOOL_USE
    assert len(events) == 1 + 1 + len(deltas) + 1 + 1, [e.type for e in events]


def test_tool_result_turn(client: llmcore.Client) -> None:
    """The call, sent back as ``tool_use`` history with its ``tool_result``, gets the answer."""
    first = client.chat_completion(weather_request())
    (call,) = first.tool_calls()
    req = request(
        Message.user("What is the weather in Paris?"),
        first.message,
        Message.tool(call.id, '{"temperature_c": 21, "sky": "clear"}', name=call.name),
        tools=TOOLS,
    )
    sent: list[Any] = []
    resp = client.chat_completion(req, on_payload=lambda r, _p: sent.append(r.json["messages"]))
    assert resp.text() == ANSWER
    assert resp.stop_reason is StopReason.STOP
    assert sent[0][1]["content"] == [
        {"type": "tool_use", "id": call.id, "name": "get_weather", "input": WEATHER_ARGS}
    ]
    assert sent[0][2]["content"][0]["type"] == "tool_result"
    _, streamed = consume(client.chat_completion_stream(req))
    assert streamed.text() == ANSWER


# --- history, models, errors --------------------------------------------------------------------
def test_system_and_history(client: llmcore.Client) -> None:
    req = request(
        Message.system("You are a terse assistant."),
        Message.user("hi"),
        Message.assistant(ANSWER),
        Message.user("And again?"),
    )
    resp = client.chat_completion(req)
    assert resp.text() == ANSWER
    prompt, completion, total = usage_of(resp)
    assert prompt > USAGE_HI[0] and completion == USAGE_HI[1] and total == prompt + completion
    events = collect_events(client.chat_completion_stream(req))
    check_text_events(events, ANSWER, StopReason.STOP)


def test_list_models(client: llmcore.Client) -> None:
    assert MODEL in [m.id for m in client.list_models()]


def test_invalid_request_is_typed(client: llmcore.Client) -> None:
    """The server's 400 ``invalid_request_error`` becomes an InvalidRequestError."""
    with pytest.raises(llmcore.InvalidRequestError) as caught:
        client.chat_completion(request(extra={"max_tokens": "three"}))
    err = caught.value
    assert err.status == 400
    assert err.code == "invalid_request_error"
    assert "max_tokens" in err.message
    assert err.provider == NAME
