"""Helpers for the agent tests (imported by the test modules)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from llmcore.agent import AgentEvent, AgentTool
from llmcore.testing import FauxProvider

MODEL = "faux-1"


def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
        city: the city name.
    """
    return f"sunny in {city}"


WEATHER = AgentTool.from_function(get_weather)


class Recorder:
    """Collects events; ``wait_for(type)`` blocks until an event of that type arrived."""

    def __init__(self) -> None:
        self.events: list[AgentEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: AgentEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[AgentEvent], bool], timeout: float = 10.0) -> None:
        with self._cond:
            ok = self._cond.wait_for(lambda: any(predicate(e) for e in self.events), timeout)
        assert ok, f"event not seen; got {[e.type for e in self.events]}"

    def types(self) -> list[str]:
        return [e.type for e in self.events]


def sent_messages(faux: FauxProvider, index: int) -> list[dict[str, Any]]:
    """The messages of the ``index``-th request the faux provider received."""
    messages: list[dict[str, Any]] = faux.requests[index]["messages"]
    return messages


def text_of(message: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in message["content"]["parts"])


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``fn`` on a thread; the list receives its result or exception."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out
