"""The agent loop against a real third-party server: llama.cpp's ``llama-server`` on 127.0.0.1.

Run with ``tox -e realserver`` (see ``tests/integration/test_realserver.py`` and
``tools/realserver/README.md``). The tiny scripted model calls ``get_weather({"city": "Paris"})``
when that tool is declared, and answers ``Hello, world! This is a tiny model.`` after a tool
result, so the whole run is exact: one tool turn, then the final answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from realserver_support import ANSWER, MODEL, URL, server_client

import llmcore
import llmcore_openai
from llmcore import Role, StopReason
from llmcore.agent import (
    Agent,
    AgentEvent,
    AgentOptions,
    AgentTool,
    MessageEndEvent,
    ToolExecutionEndEvent,
    ToolExecutionStartEvent,
)

pytestmark = pytest.mark.realserver


@pytest.fixture(scope="module")
def client() -> Iterator[llmcore.Client]:
    yield from server_client(llmcore_openai.openai_compatible(URL, name="llama-cpp"))


def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
        city: the city name.
    """
    return json.dumps({"city": city, "sky": "sunny", "celsius": 21})


def test_agent_calls_get_weather_then_answers(client: llmcore.Client) -> None:
    seen_cities: list[str] = []

    def weather(city: str) -> str:
        """Current weather in a city."""
        seen_cities.append(city)
        return get_weather(city)

    tool = AgentTool.from_function(weather, name="get_weather")
    agent = Agent(
        client,
        AgentOptions(
            model=MODEL,
            tools=[tool],
            # a safety net: a model that kept calling tools would fail here, not hang
            should_stop_after_turn=lambda turn: len(turn.messages) > 8,
        ),
    )
    events: list[AgentEvent] = []
    with agent.subscribe(events.append):
        added = agent.prompt_text("What is the weather in Paris?")

    assert seen_cities == ["Paris"]
    roles = [m.role for m in added]
    assert roles == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    call = added[1].tool_calls[0]
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    assert added[2].tool_call_id == call.id and not added[2].is_error
    assert added[3].text() == ANSWER and not added[3].tool_calls
    assert agent.state.error is None

    starts = [e for e in events if isinstance(e, ToolExecutionStartEvent)]
    ends = [e for e in events if isinstance(e, ToolExecutionEndEvent)]
    assert [(e.tool_name, e.args) for e in starts] == [("get_weather", {"city": "Paris"})]
    assert [e.tool_call_id for e in ends] == [call.id]
    assistant_ends = [
        e.stop_reason for e in events if isinstance(e, MessageEndEvent) and e.stop_reason
    ]
    assert assistant_ends == [StopReason.TOOL_USE, StopReason.STOP]
    types = [e.type for e in events]
    assert types[0] == "agent_start" and types[-1] == "agent_end"
    assert types.count("turn_start") == 2 and types.count("turn_end") == 2
    json.dumps([e.to_dict() for e in events])
