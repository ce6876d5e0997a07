"""The agent loop with the faux provider: event order, tool execution, validation, hooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from agent_support import MODEL, WEATHER, Recorder, get_weather, sent_messages, text_of

from llmcore import Message, Role, Tool, ToolCall
from llmcore.agent import (
    AfterToolCallContext,
    AfterToolCallResult,
    Agent,
    AgentEvent,
    AgentLoopConfig,
    AgentOptions,
    AgentTool,
    AgentToolResult,
    BeforeToolCallContext,
    BeforeToolCallResult,
    MessageUpdateEvent,
    ToolExecutionEndEvent,
    TurnContext,
    agent_loop,
    client_stream_function,
    run_agent_loop,
)
from llmcore.cancel import CancelHandle
from llmcore.testing import FauxProvider

CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def calls(*cities: str) -> list[ToolCall]:
    return [ToolCall(f"call_{i}", "get_weather", {"city": c}) for i, c in enumerate(cities)]


def describe(event: AgentEvent) -> str:
    """A compact, exact description of an event (updates collapsed by the caller)."""
    kind = event.type
    if kind in ("message_start", "message_end"):
        message = event.message  # type: ignore[union-attr]
        return f"{kind}:{message.role.value}"
    if kind.startswith("tool_execution"):
        return f"{kind}:{event.tool_call_id}"  # type: ignore[union-attr]
    return kind


def collapsed(events: list[AgentEvent]) -> list[str]:
    out: list[str] = []
    for event in events:
        name = describe(event)
        if name == "message_update" and out and out[-1] == "message_update*":
            continue
        out.append("message_update*" if name == "message_update" else name)
    return out


def test_two_parallel_tool_calls_then_answer_exact_event_order(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    # call_0 can only finish once call_1 has: sequential execution would deadlock (and time out
    # into an error), so this proves the two run at the same time; call_1 ends first, yet the
    # results are persisted in the assistant's order.
    second_done = threading.Event()

    def weather(
        tool_call_id: str, args: dict[str, Any], cancel: CancelHandle, on_update: Any
    ) -> str:
        if tool_call_id == "call_0":
            assert second_done.wait(10), "call_1 never ran while call_0 was running"
            return f"rainy in {args['city']}"
        second_done.set()
        return f"sunny in {args['city']}"

    tool = AgentTool(Tool("get_weather", "Weather.", CITY_SCHEMA), weather, "Weather")
    faux.add_reply(tool_calls=calls("Paris", "Rome"))
    faux.add_reply(text="Paris is rainy, Rome is sunny.")
    agent = make_agent(tools=[tool])
    recorder = Recorder()
    agent.subscribe(recorder)

    added = agent.prompt_text("Weather in Paris and Rome?")

    assert collapsed(recorder.events) == [
        "agent_start",
        "turn_start",
        "message_start:user",
        "message_end:user",
        "message_start:assistant",
        "message_update*",
        "message_end:assistant",
        "tool_execution_start:call_0",
        "tool_execution_start:call_1",
        "tool_execution_end:call_1",
        "tool_execution_end:call_0",
        "message_start:tool",
        "message_end:tool",
        "message_start:tool",
        "message_end:tool",
        "turn_end",
        "turn_start",
        "message_start:assistant",
        "message_update*",
        "message_end:assistant",
        "turn_end",
        "agent_end",
    ]
    updates = [e for e in recorder.events if isinstance(e, MessageUpdateEvent)]
    assert updates[0].event.type == "tool_call_start"
    assert updates[-1].message.text() == "Paris is rainy, Rome is sunny."
    roles = [m.role for m in agent.state.messages]
    assert roles == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.TOOL, Role.ASSISTANT]
    assert added == agent.state.messages
    results = agent.state.messages[2:4]
    assert [(m.tool_call_id, m.text()) for m in results] == [
        ("call_0", "rainy in Paris"),
        ("call_1", "sunny in Rome"),
    ]
    # the model saw both results, in order, in the second request
    second = sent_messages(faux, 1)
    assert [m["role"] for m in second] == ["user", "assistant", "tool", "tool"]
    assert [m["tool_call_id"] for m in second[2:]] == ["call_0", "call_1"]
    assert faux.requests[0]["tools"][0]["name"] == "get_weather"
    # every event is serialisable
    json.dumps([e.to_dict() for e in recorder.events])
    assert recorder.events[-1].to_dict()["type"] == "agent_end"
    assert not agent.state.is_streaming and agent.state.pending_tool_calls == frozenset()


def test_invalid_arguments_become_an_error_result_the_model_sees(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    ran: list[Any] = []

    def weather(city: str) -> str:
        """Weather."""
        ran.append(city)
        return "sunny"

    faux.add_reply(tool_calls=[ToolCall("c1", "weather", {"town": 3})])
    faux.add_reply(text="Sorry.")
    agent = make_agent(tools=[AgentTool.from_function(weather)])
    recorder = Recorder()
    agent.subscribe(recorder)
    agent.prompt_text("hi")

    assert ran == []  # never executed
    result = agent.state.messages[2]
    assert result.role is Role.TOOL and result.is_error
    assert "invalid arguments for tool 'weather'" in result.text()
    assert "$.city: required property is missing" in result.text()
    sent = sent_messages(faux, 1)[2]
    assert sent["is_error"] is True and "$.city" in text_of(sent)
    end = next(e for e in recorder.events if isinstance(e, ToolExecutionEndEvent))
    assert end.is_error


def test_unknown_tool_is_an_error_result(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    faux.add_reply(tool_calls=[ToolCall("c1", "nope", {})])
    faux.add_reply(text="ok")
    agent = make_agent(tools=[WEATHER])
    agent.prompt_text("hi")
    result = agent.state.messages[2]
    assert result.is_error and "unknown tool 'nope'" in result.text()


def test_a_tool_that_raises_becomes_an_is_error_result(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    def weather(city: str) -> str:
        """Weather."""
        raise ValueError(f"no station in {city}")

    faux.add_reply(tool_calls=[ToolCall("c1", "weather", {"city": "Oz"})])
    faux.add_reply(text="The tool failed.")
    agent = make_agent(tools=[AgentTool.from_function(weather)])
    agent.prompt_text("hi")
    result = agent.state.messages[2]
    assert result.is_error and result.text() == "ValueError: no station in Oz"
    assert sent_messages(faux, 1)[2]["is_error"] is True
    assert agent.state.messages[-1].text() == "The tool failed."
    assert agent.state.error is None


def _order_tool(log: list[str]) -> Any:
    def run(tool_call_id: str, args: dict[str, Any], cancel: CancelHandle, on_update: Any) -> str:
        log.append(f"start {tool_call_id}")
        on_update(AgentToolResult(f"working on {args['city']}"))
        log.append(f"end {tool_call_id}")
        return args["city"]

    return run


def test_sequential_mode_runs_tools_one_after_the_other(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    log: list[str] = []
    tool = AgentTool(Tool("get_weather", None, CITY_SCHEMA), _order_tool(log))
    faux.add_reply(tool_calls=calls("A", "B", "C"))
    faux.add_reply(text="done")
    agent = make_agent(tools=[tool], tool_execution="sequential")
    recorder = Recorder()
    agent.subscribe(recorder)
    agent.prompt_text("go")
    assert log == [f"{kind} call_{i}" for i in range(3) for kind in ("start", "end")]
    tool_events = [describe(e) for e in recorder.events if e.type.startswith("tool_execution")]
    assert tool_events == [
        f"tool_execution_{kind}:call_{i}" for i in range(3) for kind in ("start", "update", "end")
    ]


def test_a_tool_marked_sequential_makes_its_batch_sequential(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    log: list[str] = []
    tool = AgentTool(
        Tool("get_weather", None, CITY_SCHEMA), _order_tool(log), execution_mode="sequential"
    )
    faux.add_reply(tool_calls=calls("A", "B"))
    faux.add_reply(text="done")
    agent = make_agent(tools=[tool])  # parallel by default
    recorder = Recorder()
    agent.subscribe(recorder)
    agent.prompt_text("go")
    tool_events = [describe(e) for e in recorder.events if e.type.startswith("tool_execution")]
    assert tool_events[:3] == [
        "tool_execution_start:call_0",
        "tool_execution_update:call_0",
        "tool_execution_end:call_0",
    ]


def test_parallel_updates_are_delivered_on_the_running_thread(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    log: list[str] = []
    tool = AgentTool(Tool("get_weather", None, CITY_SCHEMA), _order_tool(log))
    faux.add_reply(tool_calls=calls("A", "B"))
    faux.add_reply(text="done")
    agent = make_agent(tools=[tool])
    threads: set[int] = set()
    agent.subscribe(lambda e: threads.add(threading.get_ident()))
    agent.prompt_text("go")
    assert threads == {threading.get_ident()}
    assert sorted(log) == ["end call_0", "end call_1", "start call_0", "start call_1"]


def test_before_hook_blocks_and_rewrites(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    seen: list[str] = []

    def weather(city: str) -> str:
        """Weather."""
        seen.append(city)
        return f"sunny in {city}"

    def before(ctx: BeforeToolCallContext) -> BeforeToolCallResult | None:
        assert ctx.assistant_message.tool_calls[0].id == "call_0"
        if ctx.args["city"] == "Atlantis":
            return BeforeToolCallResult(block=True, reason="Atlantis is off limits")
        if ctx.args["city"] == "paris":
            return BeforeToolCallResult(args={"city": "Paris"})
        return None

    faux.add_reply(
        tool_calls=[
            ToolCall("call_0", "weather", {"city": "Atlantis"}),
            ToolCall("call_1", "weather", {"city": "paris"}),
            ToolCall("call_2", "weather", {"city": "Rome"}),
        ]
    )
    faux.add_reply(text="ok")
    agent = make_agent(tools=[AgentTool.from_function(weather)], before_tool_call=before)
    agent.prompt_text("go")
    assert sorted(seen) == ["Paris", "Rome"]
    blocked, rewritten, plain = agent.state.messages[2:5]
    assert blocked.is_error and blocked.text() == "Atlantis is off limits"
    assert not rewritten.is_error and rewritten.text() == "sunny in Paris"
    assert plain.text() == "sunny in Rome"


def test_before_hook_rewrite_is_validated_again(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    faux.add_reply(tool_calls=calls("Paris"))
    faux.add_reply(text="ok")
    agent = make_agent(
        tools=[WEATHER], before_tool_call=lambda ctx: BeforeToolCallResult(args={"city": 1})
    )
    agent.prompt_text("go")
    result = agent.state.messages[2]
    assert result.is_error and "$.city" in result.text()


def test_after_hook_rewrites_the_result(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    def after(ctx: AfterToolCallContext) -> AfterToolCallResult | None:
        assert ctx.result.content == "sunny in Paris" and not ctx.is_error
        return AfterToolCallResult(content="[redacted]", is_error=True, details={"why": "test"})

    faux.add_reply(tool_calls=calls("Paris"))
    faux.add_reply(text="ok")
    agent = make_agent(tools=[WEATHER], after_tool_call=after)
    recorder = Recorder()
    agent.subscribe(recorder)
    agent.prompt_text("go")
    result = agent.state.messages[2]
    assert result.is_error and result.text() == "[redacted]"
    end = next(e for e in recorder.events if isinstance(e, ToolExecutionEndEvent))
    assert end.details == {"why": "test"} and end.is_error
    assert text_of(sent_messages(faux, 1)[2]) == "[redacted]"


def _terminating(terminate_for: set[str]) -> AgentTool:
    def run(tool_call_id: str, args: dict[str, Any], cancel: CancelHandle, on_update: Any) -> Any:
        return AgentToolResult(f"done {args['city']}", terminate=args["city"] in terminate_for)

    return AgentTool(Tool("get_weather", None, CITY_SCHEMA), run)


def test_terminate_when_every_result_of_the_batch_terminates(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    faux.add_reply(tool_calls=calls("A", "B"))
    agent = make_agent(tools=[_terminating({"A", "B"})])
    recorder = Recorder()
    agent.subscribe(recorder)
    agent.prompt_text("go")
    assert len(faux.requests) == 1  # no model call after the batch
    assert [m.role for m in agent.state.messages] == [
        Role.USER,
        Role.ASSISTANT,
        Role.TOOL,
        Role.TOOL,
    ]
    assert recorder.types()[-2:] == ["turn_end", "agent_end"]


def test_terminate_ignored_unless_the_whole_batch_terminates(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    faux.add_reply(tool_calls=calls("A", "B"))
    faux.add_reply(text="final")
    agent = make_agent(tools=[_terminating({"A"})])
    agent.prompt_text("go")
    assert len(faux.requests) == 2
    assert agent.state.messages[-1].text() == "final"


def test_after_hook_can_set_terminate(faux: FauxProvider, make_agent: Callable[..., Agent]) -> None:
    faux.add_reply(tool_calls=calls("A"))
    agent = make_agent(
        tools=[WEATHER], after_tool_call=lambda ctx: AfterToolCallResult(terminate=True)
    )
    agent.prompt_text("go")
    assert len(faux.requests) == 1


def test_should_stop_after_turn_and_prepare_next_turn(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    from llmcore.agent import NextTurn

    turns: list[TurnContext] = []
    faux.add_reply(tool_calls=calls("A"))
    faux.add_reply(tool_calls=calls("B"))
    faux.add_reply(text="never")
    agent = make_agent(
        tools=[WEATHER],
        prepare_next_turn=lambda t: NextTurn(system_prompt="Be brief."),
        should_stop_after_turn=lambda t: turns.append(t) or len(turns) == 2,
    )
    agent.prompt_text("go")
    assert len(faux.requests) == 2
    assert sent_messages(faux, 0)[0]["role"] == "user"  # no system prompt at first
    assert sent_messages(faux, 1)[0] == sent_messages(faux, 1)[0] | {"role": "system"}
    assert text_of(sent_messages(faux, 1)[0]) == "Be brief."
    assert turns[0].tool_results[0].text() == "sunny in A"


def test_prepare_arguments_runs_before_validation(
    faux: FauxProvider, make_agent: Callable[..., Agent]
) -> None:
    def prepare(args: dict[str, Any]) -> dict[str, Any]:
        return {"city": args.pop("town")} if "town" in args else args

    tool = AgentTool(WEATHER.definition, WEATHER.execute, prepare_arguments=prepare)
    faux.add_reply(tool_calls=[ToolCall("c1", "get_weather", {"town": "Oslo"})])
    faux.add_reply(text="ok")
    agent = make_agent(tools=[tool])
    agent.prompt_text("go")
    assert agent.state.messages[2].text() == "sunny in Oslo"


def test_low_level_agent_loop_and_run_agent_loop(faux: FauxProvider, client: Any) -> None:
    faux.add_reply(tool_calls=calls("Paris"))
    faux.add_reply(text="It is sunny.")
    faux.add_reply(text="Again.")
    config = AgentLoopConfig(model=MODEL, stream=client_stream_function(client), tools=[WEATHER])
    messages: list[Any] = []
    steps = agent_loop([Message.user("weather?")], messages, config)
    types = [e.type for e in steps]
    assert types[0] == "agent_start" and types[-1] == "agent_end"
    assert messages[-1].text() == "It is sunny."
    seen: list[str] = []
    added = run_agent_loop(
        [Message.user("again")], messages, config, on_event=lambda e: seen.append(e.type)
    )
    assert [m.text() for m in added] == ["again", "Again."]
    assert seen.count("turn_start") == 1 and len(messages) == 6


def test_a_custom_stream_function_stands_in_for_the_client(faux: FauxProvider) -> None:
    from llmcore import events as ev
    from llmcore.chat import ChatCompletionRequest, ChatCompletionResponse, Choice, StopReason

    requests: list[ChatCompletionRequest] = []

    def stream(request: ChatCompletionRequest, cancel: CancelHandle) -> Any:
        requests.append(request)
        answer = Message.assistant("proxied")
        response = ChatCompletionResponse("r1", request.model, (Choice(0, answer, "stop"),))
        yield ev.StartEvent(Message(Role.ASSISTANT))
        yield ev.TextStartEvent(0)
        yield ev.TextDeltaEvent(0, "proxied")
        yield ev.TextEndEvent(0, "proxied")
        yield ev.DoneEvent(StopReason.STOP, answer, response)

    agent = Agent(stream, AgentOptions(model="proxy-model", system_prompt="sys"))
    agent.prompt_text("hi")
    assert agent.state.messages[-1].text() == "proxied"
    assert [m.role for m in requests[0].messages] == [Role.SYSTEM, Role.USER]
    assert faux.requests == []
    # AgentOptions(stream=...) works the same, with no client at all
    other = Agent(None, AgentOptions(model="m", stream=stream))
    other.prompt_text("hi")
    assert other.state.messages[-1].text() == "proxied"


def test_from_function_tool_gets_converted_arguments() -> None:
    tool = AgentTool.from_function(get_weather, label="Weather")
    assert tool.name == "get_weather" and tool.label == "Weather"
    assert tool.definition.parameters["required"] == ["city"]
    assert tool.execute("id", {"city": "Nice"}, CancelHandle(), lambda p: None) == "sunny in Nice"
