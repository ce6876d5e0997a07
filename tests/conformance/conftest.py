"""Conformance-test setup: ``corpus`` and ``loopback`` importable, one loopback server per module.

The corpus is ``tests/corpus/`` in the repository (see ``corpus.py``). A missing corpus is not
skipped: the test modules list their cases at import time, so :class:`corpus.CorpusMissingError`
makes collection fail with a message naming the folder.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for _path in (_HERE, _HERE.parent / "integration"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from loopback import LoopbackServer  # noqa: E402


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackServer]:
    """One loopback server per test module; tests call ``reset()`` before scripting it."""
    server = LoopbackServer().start()
    try:
        yield server
    finally:
        server.stop()
