"""``loopback`` importable and one loopback server per module, for the Ollama loopback tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_INTEGRATION = Path(__file__).resolve().parents[2] / "integration"
if str(_INTEGRATION) not in sys.path:
    sys.path.insert(0, str(_INTEGRATION))

from loopback import LoopbackServer  # noqa: E402


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    """One loopback server per module; tests call ``reset()`` before scripting it."""
    with LoopbackServer() as loopback:
        yield loopback
