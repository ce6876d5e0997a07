"""What the tests against llama.cpp's llama-server share: where it is, the tiny model's exact
answers (tools/realserver/README.md), the tools it calls, and the client fixture's probe."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import requests

import llmcore
from llmcore import ConnectionOptions, Provider, Tool

URL = os.environ.get("LLMCORE_REALSERVER_URL", "http://127.0.0.1:8014/v1").rstrip("/")
IN_ENV = bool(os.environ.get("LLMCORE_REALSERVER"))
MODEL = "tiny-scripted"

ANSWER = "Hello, world! This is a tiny model."
USAGE_HI = (12, 11, 23)  # prompt, completion, total for the single user message "hi"
WEATHER_ARGS = {"city": "Paris"}

GET_WEATHER = Tool(
    "get_weather",
    "Current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
GET_TIME = Tool(
    "get_time",
    "Current time in a time zone.",
    {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
)
TOOLS = (GET_WEATHER, GET_TIME)

# Tight timeouts and no retries: a hang or a flaky answer must show up as itself.
OPTIONS = ConnectionOptions(connect_timeout=5, read_timeout=60, total_timeout=120, max_retries=0)


def probe() -> str | None:
    """None when the server answers ``GET /models``, else what went wrong."""
    try:
        resp = requests.get(f"{URL}/models", timeout=(2, 10))
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"
    if resp.status_code != 200:
        return f"GET {URL}/models answered HTTP {resp.status_code}: {resp.text[:200]!r}"
    return None


def server_client(provider: Provider) -> Iterator[llmcore.Client]:
    """A client for ``provider`` once the server answers. In the realserver tox env an absent
    server fails the tests; elsewhere they are skipped (they need the server, nothing else)."""
    problem = probe()
    if problem is not None:
        message = (
            f"llama-server is not reachable at {URL} ({problem}). Start it with "
            "`bash tools/realserver/real_server_llamacpp.sh start` or run "
            "`tox -e realserver`; set LLMCORE_REALSERVER_URL for another address."
        )
        if IN_ENV:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with llmcore.Client(provider, options=OPTIONS) as c:
        yield c
