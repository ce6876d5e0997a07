"""Controlling a running agent from other threads: steering, follow-ups, abort; and the
conversation itself: continue_run after an error, custom messages, transform_context."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from agent_support import WEATHER, Recorder, in_thread, sent_messages, text_of

from llmcore import Message, Role, StopReason, Tool, ToolCall
from llmcore.agent import (
    Agent,
    AgentError,
    AgentTool,
    MessageEndEvent,
    MessageUpdateEvent,
    ToolExecutionStartEvent,
    UnfinishedTurn,
)
from llmcore.cancel import CancelHandle
from llmcore.testing import FauxError, FauxProvider, FauxReply

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def blocking_tool(release: threading.Event) -> AgentTool:
    def run(tool_call_id: str, args: dict[str, Any], cancel: CancelHandle, on_update: Any) -> str:
        assert release.wait(10), "the test never released the tool"
        return f"sunny in {args['city']}"

    return AgentTool(Tool("get_weather", None, CITY), run)


def test_steering_from_another_thread_is_injected_after_the_tools_finish(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    release = threading.Event()
    faux.add_reply(
        tool_calls=[
            ToolCall("c1", "get_weather", {"city": "Paris"}),
            ToolCall("c2", "get_weather", {"city": "Rome"}),
        ]
    )
    faux.add_reply(text="Rome only then.")
    agent = make_agent(tools=[blocking_tool(release)])
    recorder = Recorder()
    agent.subscribe(recorder)
    thread, out = in_thread(lambda: agent.prompt_text("Weather in Paris and Rome?"))
    recorder.wait_for(lambda e: isinstance(e, ToolExecutionStartEvent))
    assert agent.state.is_streaming and agent.is_running
    agent.steer("Actually, only Rome matters.")
    release.set()
    thread.join(10)
    assert not thread.is_alive() and not isinstance(out[0], BaseException)

    # both tools finished and were answered; the steering message came after them
    second = sent_messages(faux, 1)
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool", "user"]
    assert text_of(second[-1]) == "Actually, only Rome matters."
    assert len(faux.requests) == 2
    assert agent.state.messages[-1].text() == "Rome only then."
    assert agent.wait_for_idle(1)


def test_steering_one_at_a_time_and_all(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    faux.add_reply(tool_calls=[ToolCall("c1", "get_weather", {"city": "Paris"})])
    faux.add_replies("one", "two")
    agent = make_agent(tools=[WEATHER])
    agent.subscribe(
        lambda e: (
            (agent.steer("s1"), agent.steer("s2"))
            if isinstance(e, ToolExecutionStartEvent)
            else None
        )
    )
    agent.prompt_text("go")
    # one-at-a-time: s1 with the tool results, s2 on its own next turn
    assert text_of(sent_messages(faux, 1)[-1]) == "s1"
    assert [text_of(m) for m in sent_messages(faux, 2)[-3:]] == ["s1", "one", "s2"]

    faux.add_reply(tool_calls=[ToolCall("c2", "get_weather", {"city": "Rome"})])
    faux.add_reply(text="both")
    every = make_agent(tools=[WEATHER], steering_mode="all")
    every.subscribe(
        lambda e: (
            (every.steer("a"), every.steer("b")) if isinstance(e, ToolExecutionStartEvent) else None
        )
    )
    every.prompt_text("go")
    assert [text_of(m) for m in sent_messages(faux, 4)[-2:]] == ["a", "b"]
    assert len(faux.requests) == 5


def test_follow_up_only_when_the_agent_would_otherwise_stop(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    release = threading.Event()
    faux.add_reply(tool_calls=[ToolCall("c1", "get_weather", {"city": "Paris"})])
    faux.add_replies("Sunny in Paris.", "Rome is sunny too.")
    agent = make_agent(tools=[blocking_tool(release)])
    recorder = Recorder()
    agent.subscribe(recorder)
    thread, _out = in_thread(lambda: agent.prompt_text("Weather in Paris?"))
    recorder.wait_for(lambda e: isinstance(e, ToolExecutionStartEvent))
    agent.follow_up("And Rome?")
    release.set()
    thread.join(10)
    assert not thread.is_alive()
    # not injected after the tools (the model still had the tool result to answer) ...
    assert [m["role"] for m in sent_messages(faux, 1)] == ["user", "assistant", "tool"]
    # ... but once it stopped
    third = sent_messages(faux, 2)
    assert [m["role"] for m in third] == ["user", "assistant", "tool", "assistant", "user"]
    assert text_of(third[-1]) == "And Rome?"
    assert agent.state.messages[-1].text() == "Rome is sunny too."
    assert recorder.types().count("agent_end") == 1
    assert recorder.types().count("turn_start") == 3


def test_abort_during_the_stream_keeps_the_partial_message(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    words = " ".join(f"w{i}" for i in range(200))
    faux.add_reply(FauxReply(text=words, delay=0.02))
    faux.add_reply(text="fresh answer")
    agent = make_agent()
    recorder = Recorder()
    agent.subscribe(recorder)
    thread, _out = in_thread(lambda: agent.prompt_text("talk"))
    recorder.wait_for(
        lambda e: isinstance(e, MessageUpdateEvent) and e.message.text().startswith("w0 w1")
    )
    assert agent.state.streaming_message is not None
    started = time.monotonic()
    agent.abort()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 3  # did not stream the remaining 4 seconds

    last = agent.state.messages[-1]
    assert isinstance(last, UnfinishedTurn) and last.stop_reason is StopReason.ABORTED
    assert last.message.text().startswith("w0 w1") and last.message.text() != words
    end = [e for e in recorder.events if isinstance(e, MessageEndEvent)][-1]
    assert end.stop_reason is StopReason.ABORTED
    assert recorder.types()[-2:] == ["turn_end", "agent_end"]
    assert agent.state.error is None and not agent.state.is_streaming

    # the aborted turn is not sent with the next prompt
    agent.prompt_text("again")
    assert [(m["role"], text_of(m)) for m in sent_messages(faux, 1)] == [
        ("user", "talk"),
        ("user", "again"),
    ]
    assert agent.state.messages[-1].text() == "fresh answer"


def test_abort_during_a_tool_cancels_it_through_its_handle(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    cancelled: list[bool] = []

    def slow(tool_call_id: str, args: dict[str, Any], cancel: CancelHandle, on_update: Any) -> str:
        try:
            cancel.sleep(30)
        finally:
            cancelled.append(cancel.cancelled)
        return "never"

    faux.add_reply(tool_calls=[ToolCall("c1", "get_weather", {"city": "Paris"})])
    faux.add_reply(text="should not be asked")
    agent = make_agent(tools=[AgentTool(Tool("get_weather", None, CITY), slow)])
    recorder = Recorder()
    agent.subscribe(recorder)
    thread, _out = in_thread(lambda: agent.prompt_text("go"))
    recorder.wait_for(lambda e: isinstance(e, ToolExecutionStartEvent))
    time.sleep(0.05)
    agent.abort()
    thread.join(10)
    assert not thread.is_alive()  # did not wait the tool's 30 seconds
    assert cancelled == [True]
    result = agent.state.messages[-1]
    assert result.role is Role.TOOL and result.is_error and "aborted" in result.text()
    assert len(faux.requests) == 1  # no model call after the abort
    assert recorder.types()[-2:] == ["turn_end", "agent_end"]


def test_continue_run_after_an_error(faux: FauxProvider, make_agent: Callable[..., Agent]) -> None:
    faux.add_reply(FauxError(500, "the server fell over"))
    faux.add_reply(text="Back again.")
    agent = make_agent()
    recorder = Recorder()
    agent.subscribe(recorder)
    agent.prompt_text("hello")
    last = agent.state.messages[-1]
    assert isinstance(last, UnfinishedTurn) and last.stop_reason is StopReason.ERROR
    assert agent.state.error is not None and "the server fell over" in agent.state.error
    assert recorder.events[-1].to_dict()["error"] == agent.state.error

    agent.continue_run()
    assert agent.state.error is None
    assert [(m["role"], text_of(m)) for m in sent_messages(faux, 1)] == [("user", "hello")]
    assert agent.state.messages[-1].text() == "Back again."
    # now the last message is the assistant's: nothing to continue from
    with pytest.raises(AgentError, match="cannot continue from a assistant message"):
        agent.continue_run()


def test_continue_run_with_nothing_queued_needs_a_user_or_tool_message(
    make_agent: Callable[..., Agent],
) -> None:
    with pytest.raises(AgentError, match="no messages"):
        make_agent().continue_run()


def test_continue_run_from_an_assistant_message_takes_queued_messages(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    faux.add_reply(text="ok")
    agent = make_agent(messages=[Message.user("a"), Message.assistant("b")])
    agent.follow_up("c")
    agent.continue_run()
    assert [text_of(m) for m in sent_messages(faux, 0)] == ["a", "b", "c"]


@attrs.frozen
class Note:
    """An app-owned message: shown in the UI, sent to the model only as a user message."""

    text: str
    private: bool = False


def test_custom_messages_through_convert_to_llm(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    def convert(messages: Any) -> list[Message]:
        out: list[Message] = []
        for m in messages:
            if isinstance(m, Note):
                if not m.private:
                    out.append(Message.user(f"[note] {m.text}"))
            elif isinstance(m, Message):
                out.append(m)
        return out

    faux.add_replies("one", "two")
    agent = make_agent(convert_to_llm=convert)
    agent.prompt_messages([Note("user is in Paris"), Note("secret", private=True)])
    assert [text_of(m) for m in sent_messages(faux, 0)] == ["[note] user is in Paris"]
    assert agent.state.messages[:2] == [Note("user is in Paris"), Note("secret", private=True)]

    # the default conversion drops custom messages
    plain = make_agent(messages=[Note("x"), Message.user("hi")])
    plain.continue_run()
    assert [text_of(m) for m in sent_messages(faux, 1)] == ["hi"]


def test_transform_context_prunes_before_each_call(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    faux.add_replies("a1", "a2")
    agent = make_agent(transform_context=lambda messages: messages[-1:])
    agent.prompt_text("first")
    agent.prompt_text("second")
    assert [text_of(m) for m in sent_messages(faux, 1)] == ["second"]
    assert len(agent.state.messages) == 4  # the state keeps everything


def test_busy_agent_refuses_a_second_prompt_and_subscriptions_end(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    release = threading.Event()
    faux.add_reply(tool_calls=[ToolCall("c1", "get_weather", {"city": "Paris"})])
    faux.add_reply(text="done")
    agent = make_agent(tools=[blocking_tool(release)])
    recorder = Recorder()
    with agent.subscribe(recorder):
        thread, _out = in_thread(lambda: agent.prompt_text("go"))
        recorder.wait_for(lambda e: isinstance(e, ToolExecutionStartEvent))
        assert agent.state.pending_tool_calls == frozenset({"c1"})
        assert not agent.wait_for_idle(0.01)
        with pytest.raises(AgentError, match="already running"):
            agent.prompt_text("again")
        with pytest.raises(AgentError, match="running"):
            agent.reset()
        release.set()
        assert agent.wait_for_idle(10)
        thread.join(10)
    count = len(recorder.events)
    faux.add_reply(text="later")
    agent.prompt_text("later")
    assert len(recorder.events) == count  # unsubscribed by the with block
    agent.reset()
    assert agent.state.messages == [] and agent.state.error is None


def test_setters_apply_to_the_next_run(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    faux.add_replies("a", "b")
    agent = make_agent()
    agent.prompt_text("one")
    agent.set_model("faux-2")
    agent.set_system_prompt("Be terse.")
    agent.set_thinking_level("high")
    agent.set_tools([WEATHER])
    agent.set_tool_execution("sequential")
    agent.set_messages([Message.user("fresh")])
    agent.continue_run()
    request = faux.requests[1]
    assert request["model"] == "faux-2"
    assert request["reasoning_effort"] == "high"
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert [t["name"] for t in request["tools"]] == ["get_weather"]
    assert agent.state.model == "faux-2" and agent.state.tools == (WEATHER,)


def test_thinking_level_is_checked_and_off_sends_none(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    from llmcore import InvalidInputError

    with pytest.raises(InvalidInputError, match="thinking_level"):
        make_agent(thinking_level="extreme")
    agent = make_agent(thinking_level="off")
    with pytest.raises(InvalidInputError, match="thinking_level"):
        agent.set_thinking_level("bogus")
    faux.add_reply(text="ok")
    agent.prompt_messages(["plain text is a user message"])
    assert faux.requests[0].get("reasoning_effort") is None
    assert agent.state.messages[0] == Message.user("plain text is a user message")


def test_a_client_or_a_stream_is_required() -> None:
    from llmcore.agent import AgentOptions

    with pytest.raises(AgentError, match="client"):
        Agent(None, AgentOptions(model="m"))
