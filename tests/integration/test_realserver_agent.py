"""The agent loop against a real third-party server: llama.cpp's ``llama-server`` on 127.0.0.1.

Run with ``tox -e realserver`` (see ``tests/integration/test_realserver.py`` and
``tools/realserver/README.md``). The tiny scripted model calls ``get_weather({"city": "Paris"})``
when that tool is declared, and answers ``Hello, world! This is a tiny model.`` after a tool
result, so the whole run is exact: one tool turn, then the final answer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
import requests

import llmcore
import llmcore_openai
from llmcore import ConnectionOptions, Role, StopReason
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

URL = os.environ.get("LLMCORE_REALSERVER_URL", "http://127.0.0.1:8014/v1").rstrip("/")
IN_ENV = bool(os.environ.get("LLMCORE_REALSERVER"))
MODEL = "tiny-scripted"
ANSWER = "Hello, world! This is a tiny model."
OPTIONS = ConnectionOptions(connect_timeout=5, read_timeout=60, total_timeout=120, max_retries=0)


def _probe() -> str | None:
    try:
        resp = requests.get(f"{URL}/models", timeout=(2, 10))
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"
    if resp.status_code != 200:
        return f"GET {URL}/models answered HTTP {resp.status_code}: {resp.text[:200]!r}"
    return None


@pytest.fixture(scope="module")
def client() -> Iterator[llmcore.Client]:
    problem = _probe()
    if problem is not None:
        message = (
            f"llama-server is not reachable at {URL} ({problem}). Start it with "
            "`bash tools/realserver/real_server_llamacpp.sh start` or run "
            "`tox -e realserver`; set LLMCORE_REALSERVER_URL for another address."
        )
        if IN_ENV:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    provider = llmcore_openai.openai_compatible(URL, name="llama-cpp")
    with llmcore.Client(provider, options=OPTIONS) as c:
        yield c


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
