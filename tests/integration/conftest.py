"""Integration-test setup: make ``loopback`` importable and provide a server fixture."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from loopback import LoopbackServer  # noqa: E402


@pytest.fixture
def loopback_server() -> Iterator[LoopbackServer]:
    """A started :class:`loopback.LoopbackServer` on 127.0.0.1, stopped after the test."""
    server = LoopbackServer().start()
    try:
        yield server
    finally:
        server.stop()
