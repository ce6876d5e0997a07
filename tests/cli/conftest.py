"""CLI tests: ``loopback`` (tests/integration) and ``batchfile_support`` importable."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent.parent / "batchfiles"
for _path in (str(_HERE), str(_HERE.parent / "integration")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from loopback import LoopbackServer  # noqa: E402


@pytest.fixture
def loopback_server() -> Iterator[LoopbackServer]:
    """A started loopback server on 127.0.0.1, stopped after the test."""
    server = LoopbackServer().start()
    try:
        yield server
    finally:
        server.stop()
