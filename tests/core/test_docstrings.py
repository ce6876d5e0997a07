"""Every public method of Client and ChatStream, and every public function llmcore exports,
documents what its parameters mean and which errors it raises (issue 7, point 9)."""

from __future__ import annotations

import builtins
import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import llmcore
from llmcore import ChatStream, Client

_ERROR_WORD = re.compile(r"\b([A-Z][A-Za-z]*(?:Error|Exception|Interrupt|Warning))\b")
NEVER_RAISES = "never raises"


def _known_error(name: str) -> bool:
    found = getattr(llmcore, name, None) or getattr(builtins, name, None)
    return isinstance(found, type) and issubclass(found, BaseException)


def _public_methods(
    cls: type, *, constructor: bool = False
) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, member in vars(cls).items():
        if name.startswith("_") and not (constructor and name == "__init__"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property):
            continue  # attributes: documented as such, they take no parameters
        if inspect.isfunction(member):
            yield f"{cls.__name__}.{name}", member


def _exported_functions() -> Iterator[tuple[str, Callable[..., Any]]]:
    for name in llmcore.__all__:
        member = getattr(llmcore, name)
        if inspect.isfunction(member):
            yield name, member


def _doc(owner: str, function: Callable[..., Any]) -> str:
    doc = inspect.getdoc(function) or ""
    if owner.endswith(".__init__"):  # the constructor is documented on the class
        cls = getattr(llmcore, owner.split(".")[0])
        doc = f"{inspect.getdoc(cls) or ''}\n{doc}"
    return doc


def _parameters(function: Callable[..., Any]) -> list[str]:
    return [p for p in inspect.signature(function).parameters if p not in ("self", "cls")]


TARGETS = sorted(
    # ChatStream is built by the client, so its constructor is not public API; Client's is.
    [
        *_public_methods(Client, constructor=True),
        *_public_methods(ChatStream),
        *_exported_functions(),
    ],
    key=lambda item: item[0],
)


def test_targets_cover_the_api() -> None:
    names = {name for name, _ in TARGETS}
    assert {"Client.__init__", "Client.chat_completion", "ChatStream.events"} <= names
    assert {"supported_providers", "transform_messages", "tool_from_function"} <= names
    assert len(TARGETS) > 25


@pytest.mark.parametrize(("name", "function"), TARGETS, ids=[n for n, _ in TARGETS])
def test_docstring_names_every_parameter(name: str, function: Callable[..., Any]) -> None:
    doc = _doc(name, function)
    missing = [p for p in _parameters(function) if not re.search(rf"\b{re.escape(p)}\b", doc)]
    assert not missing, f"{name}: the docstring does not say what {missing} mean(s)"


@pytest.mark.parametrize(("name", "function"), TARGETS, ids=[n for n, _ in TARGETS])
def test_docstring_says_which_errors_it_raises(name: str, function: Callable[..., Any]) -> None:
    doc = _doc(name, function)
    errors = [e for e in _ERROR_WORD.findall(doc) if _known_error(e)]
    assert errors or NEVER_RAISES in doc.lower(), (
        f"{name}: the docstring names no error class it raises and does not say 'Never raises'"
    )
