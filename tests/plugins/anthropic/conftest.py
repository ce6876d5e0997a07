"""Setup for llmcore-anthropic's tests: ``loopback`` importable, a server per test, and no
Anthropic variables from the developer's shell."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_INTEGRATION = str(Path(__file__).resolve().parents[2] / "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)

from loopback import LoopbackServer  # noqa: E402


@pytest.fixture(autouse=True)
def _no_anthropic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A started loopback server on 127.0.0.1, stopped after the test."""
    with LoopbackServer() as started:
        yield started
