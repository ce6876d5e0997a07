"""llmcore against a real third-party server: llama.cpp's ``llama-server`` on 127.0.0.1.

Run with ``tox -e realserver``: it builds (once) and starts the server with the tiny scripted
model ``tiny-scripted`` (see ``tools/realserver/README.md``), runs these tests and
stops the server. The model's answers are exact, so every assertion here is exact too, and each
one is checked through llmcore both non-streamed (``chat_completion``) and streamed
(``chat_completion_stream``, as chunks and as typed events).

When the ``realserver`` env runs (``LLMCORE_REALSERVER=1``) nothing is skipped: a server that
cannot be reached at ``LLMCORE_REALSERVER_URL`` (default ``http://127.0.0.1:8014/v1``) fails every
test with a message saying how to start it. Outside that env (a plain ``pytest`` run) the tests
are skipped when no server answers, and run when one does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from realserver_support import (
    ANSWER,
    MODEL,
    OPTIONS,
    TOOLS,
    URL,
    USAGE_HI,
    WEATHER_ARGS,
    server_client,
)

import llmcore
import llmcore_openai
from llmcore import (
    CancelHandle,
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


# --- the server and the client ------------------------------------------------------------------
@pytest.fixture(scope="module")
def client() -> Iterator[llmcore.Client]:
    yield from server_client(llmcore_openai.openai_compatible(URL, name="llama-cpp"))


def request(*messages: Message, **options: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest(MODEL, messages or (Message.user("hi"),), **options)


def weather_request(**options: Any) -> ChatCompletionRequest:
    return request(Message.user("What is the weather in Paris?"), tools=TOOLS, **options)


def usage_of(resp: ChatCompletionResponse) -> tuple[int, int, int]:
    assert resp.usage is not None, "the server reported no usage"
    return resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens


def consume(stream: ChatStream) -> tuple[list[llmcore.ChatCompletionChunk], ChatCompletionResponse]:
    """Every chunk of ``stream`` and its final response (the stream must end without error)."""
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
    assert done.response.text() == text
    assert len(events) == 1 + 1 + len(deltas) + 1 + 1, [e.type for e in events]


# --- plain chat ---------------------------------------------------------------------------------
def test_chat_plain(client: llmcore.Client) -> None:
    resp = client.chat_completion(request())
    assert resp.text() == ANSWER
    assert resp.finish_reason == "stop"
    assert resp.stop_reason is StopReason.STOP
    assert resp.message.role is llmcore.Role.ASSISTANT
    assert resp.tool_calls() == ()
    assert usage_of(resp) == USAGE_HI
    assert resp.provider == "llama-cpp"
    assert resp.model and resp.id


def test_stream_plain(client: llmcore.Client) -> None:
    chunks, resp = consume(client.chat_completion_stream(request()))
    text_chunks = [c for c in chunks if c.text()]
    assert len(text_chunks) >= 5, "the answer did not arrive token by token"
    assert streamed_text(chunks) == ANSWER
    assert finish_reasons(chunks) == ["stop"]
    # usage arrives in its own final chunk (stream_options.include_usage)
    usages = [c.usage for c in chunks if c.usage is not None]
    assert usages, "no usage chunk: stream_options.include_usage was not honoured"
    assert (
        usages[-1].prompt_tokens,
        usages[-1].completion_tokens,
        usages[-1].total_tokens,
    ) == USAGE_HI
    assert resp.text() == ANSWER
    assert resp.finish_reason == "stop"
    assert resp.stop_reason is StopReason.STOP
    assert usage_of(resp) == USAGE_HI
    assert resp.tool_calls() == ()


def test_stream_plain_events(client: llmcore.Client) -> None:
    events = collect_events(client.chat_completion_stream(request()))
    check_text_events(events, ANSWER, StopReason.STOP)
    done = events[-1]
    assert isinstance(done, ev.DoneEvent)
    assert usage_of(done.response) == USAGE_HI
    assert done.response.finish_reason == "stop"


def test_stream_text_helper(client: llmcore.Client) -> None:
    assert client.chat_completion_stream(request()).text() == ANSWER
    assert client.quick_chat_text(MODEL, "hi") == ANSWER


# --- max_tokens -> length -----------------------------------------------------------------------
def test_chat_max_tokens(client: llmcore.Client) -> None:
    resp = client.chat_completion(request(max_tokens=3))
    assert resp.text() == "Hello, world"
    assert resp.finish_reason == "length"
    assert resp.stop_reason is StopReason.LENGTH
    assert usage_of(resp)[1] == 3


def test_stream_max_tokens(client: llmcore.Client) -> None:
    chunks, resp = consume(client.chat_completion_stream(request(max_tokens=3)))
    assert streamed_text(chunks) == "Hello, world"
    assert finish_reasons(chunks) == ["length"]
    assert resp.text() == "Hello, world"
    assert resp.finish_reason == "length"
    assert resp.stop_reason is StopReason.LENGTH
    assert usage_of(resp)[1] == 3


def test_stream_max_tokens_events(client: llmcore.Client) -> None:
    events = collect_events(client.chat_completion_stream(request(max_tokens=3)))
    check_text_events(events, "Hello, world", StopReason.LENGTH)


# --- stop sequences -----------------------------------------------------------------------------
def test_chat_stop(client: llmcore.Client) -> None:
    resp = client.chat_completion(request(stop=["world"]))
    assert resp.text() == "Hello, "
    assert resp.finish_reason == "stop"
    assert resp.stop_reason is StopReason.STOP


def test_stream_stop(client: llmcore.Client) -> None:
    chunks, resp = consume(client.chat_completion_stream(request(stop=["world"])))
    assert streamed_text(chunks) == "Hello, "
    assert finish_reasons(chunks) == ["stop"]
    assert resp.text() == "Hello, "
    assert resp.stop_reason is StopReason.STOP


def test_stream_stop_events(client: llmcore.Client) -> None:
    events = collect_events(client.chat_completion_stream(request(stop="world")))
    check_text_events(events, "Hello, ", StopReason.STOP)


# --- tool calls ---------------------------------------------------------------------------------
TOOL_CHOICES = pytest.mark.parametrize(
    "tool_choice",
    [None, "auto", "required", ToolChoice.tool("get_weather")],
    ids=["default", "auto", "required", "named"],
)


def check_weather_call(call: ToolCall) -> None:
    assert call.name == "get_weather"
    assert call.arguments == WEATHER_ARGS
    assert call.raw_arguments is None
    assert call.id, "the tool call has no id"


@TOOL_CHOICES
def test_chat_tool_call(client: llmcore.Client, tool_choice: Any) -> None:
    resp = client.chat_completion(weather_request(tool_choice=tool_choice))
    (call,) = resp.tool_calls()
    check_weather_call(call)
    assert resp.finish_reason == "tool_calls"
    assert resp.stop_reason is StopReason.TOOL_USE
    assert resp.text() == ""


@TOOL_CHOICES
def test_stream_tool_call(client: llmcore.Client, tool_choice: Any) -> None:
    chunks, resp = consume(client.chat_completion_stream(weather_request(tool_choice=tool_choice)))
    fragments = [tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls]
    assert len(fragments) >= 2, "the tool call was not streamed in fragments"
    assert {f.index for f in fragments} == {0}
    assert fragments[0].name == "get_weather" and fragments[0].id
    assert json.loads("".join(f.arguments or "" for f in fragments)) == WEATHER_ARGS
    assert finish_reasons(chunks) == ["tool_calls"]
    (call,) = resp.tool_calls()
    check_weather_call(call)
    assert call.id == fragments[0].id
    assert resp.finish_reason == "tool_calls"
    assert resp.stop_reason is StopReason.TOOL_USE
    assert resp.text() == ""


def _is_growing_prefix(partial: Any) -> bool:
    """``partial`` is on the way to ``WEATHER_ARGS``: a subset whose strings are prefixes."""
    if partial is None:
        return True
    if not isinstance(partial, dict) or not set(partial) <= set(WEATHER_ARGS):
        return False
    return all(isinstance(v, str) and WEATHER_ARGS[k].startswith(v) for k, v in partial.items())


def _size(partial: Any) -> int:
    return sum(len(v) + 1 for v in partial.values()) if isinstance(partial, dict) else -1


@TOOL_CHOICES
def test_stream_tool_call_events(client: llmcore.Client, tool_choice: Any) -> None:
    events = collect_events(client.chat_completion_stream(weather_request(tool_choice=tool_choice)))
    assert isinstance(events[0], ev.StartEvent)
    assert not [e for e in events if e.type.startswith(("text", "thinking"))], events
    start = events[1]
    assert isinstance(start, ev.ToolCallStartEvent), events[1]
    assert start.content_index == 0
    assert start.name == "get_weather" and start.id

    deltas = [e for e in events if isinstance(e, ev.ToolCallDeltaEvent)]
    assert len(deltas) >= 2, "the arguments did not arrive in fragments"
    assert all(d.content_index == 0 and d.name == "get_weather" for d in deltas)
    assert json.loads("".join(d.delta for d in deltas)) == WEATHER_ARGS
    partials = [d.partial for d in deltas]
    assert all(_is_growing_prefix(p) for p in partials), partials
    sizes = [_size(p) for p in partials]
    assert sizes == sorted(sizes), partials  # never shrinks
    assert partials[-1] == WEATHER_ARGS

    end = events[-2]
    assert isinstance(end, ev.ToolCallEndEvent)
    assert end.content_index == 0
    check_weather_call(end.tool_call)
    assert end.tool_call.id == start.id
    assert len(events) == 1 + 1 + len(deltas) + 1 + 1, [e.type for e in events]

    done = events[-1]
    assert isinstance(done, ev.DoneEvent)
    assert done.reason is StopReason.TOOL_USE
    assert done.message.tool_calls == (end.tool_call,)
    assert done.response.finish_reason == "tool_calls"


# --- tool result turn ---------------------------------------------------------------------------
def tool_result_request(call: ToolCall) -> ChatCompletionRequest:
    """The weather question, the assistant's call (as history) and the tool's result."""
    return request(
        Message.user("What is the weather in Paris?"),
        Message.assistant(tool_calls=[call]),
        Message.tool(call.id, '{"temperature_c": 21, "sky": "clear"}', name=call.name),
        tools=TOOLS,
    )


def test_chat_tool_result_turn(client: llmcore.Client) -> None:
    first = client.chat_completion(weather_request())
    (call,) = first.tool_calls()
    # the assistant message as returned is the history entry (content "" -> null on the wire)
    history = first.message
    req = request(
        Message.user("What is the weather in Paris?"),
        history,
        Message.tool(call.id, "sunny, 21 C"),
        tools=TOOLS,
    )
    resp = client.chat_completion(req)
    assert resp.text() == ANSWER
    assert resp.finish_reason == "stop"
    assert resp.stop_reason is StopReason.STOP
    assert resp.tool_calls() == ()


def test_stream_tool_result_turn(client: llmcore.Client) -> None:
    _, first = consume(client.chat_completion_stream(weather_request()))
    (call,) = first.tool_calls()
    chunks, resp = consume(client.chat_completion_stream(tool_result_request(call)))
    assert streamed_text(chunks) == ANSWER
    assert finish_reasons(chunks) == ["stop"]
    assert resp.text() == ANSWER
    assert resp.stop_reason is StopReason.STOP
    assert resp.tool_calls() == ()


def test_stream_tool_result_turn_events(client: llmcore.Client) -> None:
    call = ToolCall("call_hand_made_1", "get_weather", WEATHER_ARGS)
    events = collect_events(client.chat_completion_stream(tool_result_request(call)))
    check_text_events(events, ANSWER, StopReason.STOP)


# --- models -------------------------------------------------------------------------------------
def test_list_models(client: llmcore.Client) -> None:
    models = client.list_models()
    ids = [m.id for m in models]
    assert MODEL in ids, ids


# --- cancel -------------------------------------------------------------------------------------
def test_stream_cancel_after_first_chunk(client: llmcore.Client) -> None:
    stream, handle = client.chat_completion_stream_with_cancel(request())
    assert stream.cancel_handle is handle
    seen: list[llmcore.ChatCompletionChunk] = []
    with stream:
        for chunk in stream:
            seen.append(chunk)
            handle.cancel()
    assert len(seen) >= 1
    resp = stream.response
    assert resp.stop_reason is StopReason.ABORTED
    assert stream.error is None  # a cancel is not an error
    assert ANSWER.startswith(resp.text()), resp.text()
    assert ANSWER.startswith(streamed_text(seen))
    # the cancelled connection is gone; the next call works
    assert client.chat_completion(request()).text() == ANSWER


def test_stream_cancel_from_another_thread_events(client: llmcore.Client) -> None:
    handle = CancelHandle()
    stream = client.chat_completion_stream(request(), cancel=handle)
    assert stream.cancel_handle is handle
    events: list[ev.StreamEvent] = []
    with stream:
        for event in stream.events():
            events.append(event)
            if isinstance(event, ev.TextDeltaEvent) and not handle.cancelled:
                worker = threading.Thread(target=handle.cancel)
                worker.start()
                worker.join(5)
    end = events[-1]
    assert isinstance(end, ev.ErrorEvent), [e.type for e in events]
    assert end.reason is StopReason.ABORTED
    assert end.error is None
    assert ANSWER.startswith(end.partial.text()) and end.partial.text()
    assert end.response.stop_reason is StopReason.ABORTED
    assert stream.response.stop_reason is StopReason.ABORTED
    deltas = "".join(e.delta for e in events if isinstance(e, ev.TextDeltaEvent))
    assert deltas == end.partial.text()


def test_stream_cancel_before_reading(client: llmcore.Client) -> None:
    stream = client.chat_completion_stream(request())
    stream.cancel()
    chunks, resp = consume(stream)
    assert resp.stop_reason is StopReason.ABORTED
    assert ANSWER.startswith(resp.text())
    assert ANSWER.startswith(streamed_text(chunks))


def test_chat_plain_cancelled_elsewhere_does_not_leak(client: llmcore.Client) -> None:
    """A non-streamed call right after cancelled streams gets the whole, exact answer."""
    for _ in range(3):
        stream = client.chat_completion_stream(request())
        next(iter(stream))
        stream.cancel()
        stream.until_done()
    resp = client.chat_completion(request())
    assert resp.text() == ANSWER
    assert usage_of(resp) == USAGE_HI


# --- system prompt and history ------------------------------------------------------------------
def history_request() -> ChatCompletionRequest:
    return request(
        Message.system("You are a terse assistant."),
        Message.user("hi"),
        Message.assistant(ANSWER),
        Message.user("And again?"),
    )


def test_chat_system_and_history(client: llmcore.Client) -> None:
    resp = client.chat_completion(history_request())
    assert resp.text() == ANSWER
    assert resp.stop_reason is StopReason.STOP
    prompt, completion, total = usage_of(resp)
    assert prompt > USAGE_HI[0]  # the history was sent and counted
    assert completion == USAGE_HI[1]
    assert total == prompt + completion


def test_stream_system_and_history(client: llmcore.Client) -> None:
    chunks, resp = consume(client.chat_completion_stream(history_request()))
    assert streamed_text(chunks) == ANSWER
    assert resp.stop_reason is StopReason.STOP
    prompt, completion, _ = usage_of(resp)
    assert prompt > USAGE_HI[0] and completion == USAGE_HI[1]


def test_stream_system_and_history_events(client: llmcore.Client) -> None:
    events = collect_events(client.chat_completion_stream(history_request()))
    check_text_events(events, ANSWER, StopReason.STOP)


# --- batch --------------------------------------------------------------------------------------
def test_batch_in_order(client: llmcore.Client) -> None:
    requests_ = [
        request(),
        request(max_tokens=3),
        request(stop=["world"]),
        weather_request(),
        request(max_tokens=1),
    ]
    results = client.chat_completion_batch(requests_, concurrency=2)
    assert len(results) == 5
    assert all(isinstance(r, ChatCompletionResponse) for r in results), results
    full, three, stopped, tool, one = results
    assert isinstance(full, ChatCompletionResponse) and full.text() == ANSWER
    assert isinstance(three, ChatCompletionResponse) and three.text() == "Hello, world"
    assert three.stop_reason is StopReason.LENGTH
    assert isinstance(stopped, ChatCompletionResponse) and stopped.text() == "Hello, "
    assert isinstance(tool, ChatCompletionResponse)
    check_weather_call(tool.tool_calls()[0])
    assert isinstance(one, ChatCompletionResponse) and one.stop_reason is StopReason.LENGTH
    assert one.text() and "Hello, world".startswith(one.text()) and one.text() != "Hello, world"


def test_batch_smart_in_order(client: llmcore.Client) -> None:
    results = client.chat_completion_batch_smart([request(max_tokens=3), request()])
    assert [r.text() for r in results if isinstance(r, ChatCompletionResponse)] == [
        "Hello, world",
        ANSWER,
    ]


# --- provider flags: what this server accepts ---------------------------------------------------
def flagged_client(**flags: Any) -> llmcore.Client:
    provider = llmcore_openai.openai_compatible(URL, name="llama-cpp", **flags)
    return llmcore.Client(provider, options=OPTIONS)


def test_default_flags_on_the_wire(client: llmcore.Client) -> None:
    """The provider defaults (``system`` role, ``max_tokens``, streamed usage) go on the wire."""
    sent: list[dict[str, Any]] = []

    def capture(http_request: llmcore.HttpRequest, _provider: llmcore.Provider) -> None:
        assert isinstance(http_request.json, dict)
        sent.append(http_request.json)

    req = request(Message.system("Be brief."), Message.user("hi"), max_tokens=3)
    assert client.chat_completion(req, on_payload=capture).text() == "Hello, world"
    assert client.chat_completion_stream(req, on_payload=capture).text() == "Hello, world"
    for body in sent:
        assert body["messages"][0] == {"role": "system", "content": "Be brief."}
        assert body["max_tokens"] == 3 and "max_completion_tokens" not in body
        assert "reasoning_effort" not in body
    assert "stream" not in sent[0]
    assert sent[1]["stream"] is True and sent[1]["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_server_honours_max_completion_tokens(client: llmcore.Client, stream: bool) -> None:
    """llama-server takes ``max_completion_tokens`` as well as ``max_tokens``."""
    with flagged_client(max_tokens_field="max_completion_tokens") as c:
        req = request(max_tokens=3)
        resp = consume(c.chat_completion_stream(req))[1] if stream else c.chat_completion(req)
    assert resp.text() == "Hello, world"
    assert resp.finish_reason == "length"
    assert resp.stop_reason is StopReason.LENGTH


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
def test_server_accepts_and_ignores_reasoning_effort(client: llmcore.Client, stream: bool) -> None:
    """``reasoning_effort`` is accepted (and has no effect: the model does not reason)."""
    sent: list[Any] = []

    def capture(http_request: llmcore.HttpRequest, _provider: llmcore.Provider) -> None:
        assert isinstance(http_request.json, dict)
        sent.append(http_request.json.get("reasoning_effort"))

    with flagged_client(reasoning_effort=True) as c:
        req = request(reasoning_effort="low")
        if stream:
            resp = consume(c.chat_completion_stream(req, on_payload=capture))[1]
        else:
            resp = c.chat_completion(req, on_payload=capture)
    assert sent == ["low"]
    assert resp.text() == ANSWER
    assert resp.reasoning() is None
    assert usage_of(resp) == USAGE_HI


def test_server_accepts_developer_role(client: llmcore.Client) -> None:
    with flagged_client(system_role="developer") as c:
        resp = c.chat_completion(request(Message.system("Be brief."), Message.user("hi")))
    assert resp.text() == ANSWER


def test_stream_without_include_usage_has_no_usage(client: llmcore.Client) -> None:
    """Streamed usage comes only because we ask for it (``stream_options.include_usage``)."""
    with flagged_client(stream_usage=False) as c:
        chunks, resp = consume(c.chat_completion_stream(request()))
    assert streamed_text(chunks) == ANSWER
    assert resp.usage is None
