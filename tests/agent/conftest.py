"""Shared fixtures for the agent tests: a faux provider on a private plugin registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from agent_support import MODEL

import llmcore
from llmcore.agent import Agent, AgentOptions
from llmcore.testing import FauxProvider, register_faux_provider


@pytest.fixture
def faux() -> Iterator[FauxProvider]:
    plugins = llmcore.Plugins(load_entrypoints=False)
    provider = register_faux_provider("agent", plugins=plugins)
    provider.plugins = plugins  # type: ignore[attr-defined]
    yield provider


@pytest.fixture
def client(faux: FauxProvider) -> Iterator[llmcore.Client]:
    options = llmcore.ConnectionOptions(max_retries=0, read_timeout=30)
    with llmcore.Client("agent", plugins=faux.plugins, options=options) as c:  # type: ignore[attr-defined]
        yield c


@pytest.fixture
def make_agent(client: llmcore.Client) -> Callable[..., Agent]:
    def make(**options: Any) -> Agent:
        options.setdefault("model", MODEL)
        return Agent(client, AgentOptions(**options))

    return make
