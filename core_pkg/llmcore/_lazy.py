"""A module imported on first attribute access, for imports that only some calls need.

``batching = lazy_module("llmcore.batching")`` at module level costs nothing; the first
``batching.run_ordered`` imports the module (under the import system's own lock, so threads
racing there get the one module) and every later access is one attribute lookup on the proxy's
cached module. Modules that use it import the real module under ``TYPE_CHECKING`` for the type
checker.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["lazy_module"]


class _LazyModule:
    __slots__ = ("_module", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str) -> Any:
    """A stand-in for module ``name`` that imports it when an attribute is first read."""
    return _LazyModule(name)
