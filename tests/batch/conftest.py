"""Batch tests: a loopback server and clients on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from batch_support import OPTIONS
from loopback import LoopbackServer

from llmcore import Client, ConnectionOptions
from llmcore_openai import openai_compatible


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    srv = LoopbackServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def make_client(server: LoopbackServer) -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(options: ConnectionOptions = OPTIONS, **kwargs: Any) -> Client:
        provider = openai_compatible(server.base_url + "/v1", **kwargs)
        client = Client(provider, options=options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def two_servers() -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    a, b = LoopbackServer().start(), LoopbackServer().start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()
