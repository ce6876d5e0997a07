"""One shared ``__repr__`` for llmcore's attrs classes, giving the very text attrs generates.

attrs compiles a ``__repr__`` for each class it decorates, and that compile is about 40% of the
cost of creating a class: roughly 0.4 ms each, paid at import for every class of every module
loaded. A class written ::

    @attrs_repr
    @attrs.frozen(repr=False)
    class Usage: ...

shares :func:`attrs_fields_repr` instead. Its text is attrs' own, character for character:
``Name(field=repr(value), ...)`` in field order, the class's ``__qualname__`` (past any
``<locals>.``), fields declared ``repr=False`` left out (secrets stay hidden), a field's own
``repr`` callable used when it has one, ``getattr(self, name, NOTHING)`` for ``init=False``
fields, and ``...`` for an object already being represented further up (a cycle). Equality,
hashing, immutability, slots and pickling are attrs' as before: only the repr is shared.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["attrs_fields_repr", "attrs_repr"]

_C = TypeVar("_C", bound=type)
_Plan = tuple[tuple[str, "Callable[[Any], str] | None", bool], ...]

_plans: dict[type, _Plan] = {}
_local = threading.local()


def _plan(cls: type) -> _Plan:
    """The fields ``cls`` shows: name, repr callable (None: builtin ``repr``), ``init``."""
    plan = _plans.get(cls)
    if plan is None:
        plan = tuple(
            (a.name, None if a.repr is True or a.repr is repr else a.repr, a.init)
            for a in attrs.fields(cls)
            if a.repr is not False
        )
        _plans[cls] = plan
    return plan


def attrs_fields_repr(self: Any) -> str:
    """``self`` as attrs' generated ``__repr__`` would show it."""
    try:
        working: set[int] = _local.working
    except AttributeError:
        working = _local.working = set()
    key = id(self)
    if key in working:
        return "..."
    working.add(key)
    try:
        cls = self.__class__
        parts = []
        for name, show, init in _plan(cls):
            value = getattr(self, name) if init else getattr(self, name, attrs.NOTHING)
            parts.append(f"{name}={value!r}" if show is None else f"{name}={show(value)}")
        return f"{cls.__qualname__.rsplit('>.', 1)[-1]}({', '.join(parts)})"
    finally:
        working.discard(key)


def attrs_repr(cls: _C) -> _C:
    """Give the attrs class ``cls`` (decorated with ``repr=False``) the shared repr; a
    ``__repr__`` the class defines itself is kept."""
    if "__repr__" not in cls.__dict__:
        cls.__repr__ = attrs_fields_repr  # type: ignore[assignment]
    return cls
