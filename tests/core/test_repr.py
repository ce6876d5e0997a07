"""The shared ``__repr__`` of llmcore's attrs classes (``llmcore._repr``) is attrs' own text.

Every attrs class of the core and of the five plugins is compared with a twin that attrs itself
decorates with the same fields and field ``repr`` settings: the same values must give the same
text, with ``repr=False`` fields (credentials, bodies) hidden and custom field reprs (masked
headers and URLs) applied. Instances are made without ``__init__`` so every field, required
or not, holds a chosen value.
"""

from __future__ import annotations

import importlib
import pickle
import pkgutil
from typing import Any

import attrs
import pytest

import llmcore
from llmcore import _repr

PACKAGES = [
    "llmcore",
    "llmcore_openai",
    "llmcore_anthropic",
    "llmcore_gemini",
    "llmcore_ollama",
    "llmcore_zhipu",
]


def attrs_classes() -> list[type]:
    found: dict[str, type] = {}
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        modules = [package] + [
            importlib.import_module(f"{package_name}.{info.name}")
            for info in pkgutil.iter_modules(package.__path__)
        ]
        for module in modules:
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and attrs.has(value)
                    and value.__module__ == module.__name__
                ):
                    found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found)]


def generated(cls: type) -> bool:
    """True for the shared repr and attrs' own; False for a class's hand-written one."""
    code = getattr(cls.__repr__, "__code__", None)
    return cls.__repr__ is _repr.attrs_fields_repr or (
        code is not None and code.co_filename.startswith("<attrs generated")
    )


CLASSES = [cls for cls in attrs_classes() if generated(cls)]
SHARED = [cls for cls in CLASSES if cls.__repr__ is _repr.attrs_fields_repr]


def sample(attribute: attrs.Attribute, index: int) -> Any:  # type: ignore[type-arg]
    """A value for ``attribute``: its default, else a string with credentials in it."""
    default = attribute.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return default.factory() if not default.takes_self else {}  # type: ignore[attr-defined]
    if default is not attrs.NOTHING:
        return default
    return f"https://user:pw@host{index}.invalid/v1?key=sk-{index:04d}abcdefghijklmnop"


def instance(cls: type, values: dict[str, Any]) -> Any:
    obj = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(obj, name, value)
    return obj


def twin(cls: type) -> type:
    """The class attrs itself would build: same field names, order and repr settings."""
    fields = {a.name: attrs.field(repr=a.repr, init=a.init) for a in attrs.fields(cls)}
    made = attrs.make_class(cls.__name__, fields, slots=True, frozen=True, repr=True)
    made.__qualname__ = cls.__qualname__
    return made


def test_the_shared_repr_is_in_use() -> None:
    names = {cls.__name__ for cls in SHARED}
    assert {"Message", "Provider", "HttpRequest", "ChatCompletionRequest", "Usage"} <= names
    assert len(SHARED) >= 60


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_repr_is_the_text_attrs_generates(cls: type) -> None:
    values = {a.name: sample(a, i) for i, a in enumerate(attrs.fields(cls))}
    ours, theirs = instance(cls, values), instance(twin(cls), values)
    assert repr(ours) == repr(theirs)


def test_a_cycle_shows_as_ellipsis_like_attrs() -> None:
    cls = llmcore.Usage
    values = {a.name: [] for a in attrs.fields(cls)}
    ours, theirs = instance(cls, values), instance(twin(cls), {**values})
    first = attrs.fields(cls)[0].name
    getattr(ours, first).append(ours)
    object.__setattr__(theirs, first, [theirs])
    assert repr(ours) == repr(theirs)
    assert "[...]" in repr(ours)


def test_nested_values_use_their_own_reprs() -> None:
    request = llmcore.HttpRequest(
        "POST",
        "https://api.invalid/v1?api_key=sk-secret0123456789abcdef",
        {"Authorization": "Bearer sk-secret0123456789abcdef"},
        body=b"secret body",
    )
    message = llmcore.Message.user("hi")
    text = repr(llmcore.ModelPage([], request))
    assert "sk-secret0123456789abcdef" not in text and "secret body" not in text
    assert text.startswith("ModelPage(models=(), next_request=HttpRequest(method='POST'")
    same = instance(twin(llmcore.Message), attrs.asdict(message, recurse=False))
    assert repr(message) == repr(same)


def test_equality_hashing_and_pickling_are_attrs_as_before() -> None:
    part = llmcore.TextPart("x")
    assert part == llmcore.TextPart("x") and hash(part) == hash(llmcore.TextPart("x"))
    assert pickle.loads(pickle.dumps(part)) == part
    message = llmcore.Message.user("hi")
    assert pickle.loads(pickle.dumps(message)) == message
    assert repr(pickle.loads(pickle.dumps(message))) == repr(message)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.role = "system"  # type: ignore[misc]
    assert not hasattr(message, "__dict__")  # still slotted
