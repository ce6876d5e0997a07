"""JSON (de)serialisation of every llmcore value type with one cattrs converter.

Content parts are a tagged union on their ``type`` field (``text``, ``image``, ``audio``,
``document``); messages carry a stable ``role``; binary media is base64 already, so a dumped
conversation is plain JSON. Loading bad JSON raises :class:`SerializationError` with the path of
the bad field (``$.messages[2].role``).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import cattrs
import cattrs.preconf.json

from llmcore.content import AudioPart, DocumentPart, ImagePart, Part, TextPart
from llmcore.errors import ConfigurationError

__all__ = ["SerializationError", "converter", "dumps", "loads", "to_dict", "from_dict"]

T = TypeVar("T")

converter = cattrs.preconf.json.make_converter(omit_if_default=False)

_PARTS: dict[str, type[Any]] = {
    "text": TextPart,
    "image": ImagePart,
    "audio": AudioPart,
    "document": DocumentPart,
}


def _structure_part(value: Any, _type: Any) -> Part:
    if not isinstance(value, dict):
        raise TypeError(f"content part must be an object, got {type(value).__name__}")
    tag = value.get("type", "text")
    cls = _PARTS.get(tag)
    if cls is None:
        raise ValueError(f"unknown content part type {tag!r}")
    part: Part = converter.structure(value, cls)
    return part


converter.register_structure_hook(Part, _structure_part)


class SerializationError(ConfigurationError):
    """JSON that does not describe the expected llmcore type; ``paths`` lists the bad fields."""

    def __init__(self, message: str, paths: list[str]) -> None:
        super().__init__(message)
        self.paths = paths


def to_dict(value: Any) -> Any:
    """``value`` as plain JSON-compatible data."""
    return converter.unstructure(value)


def from_dict(data: Any, cls: type[T]) -> T:
    """Build a ``cls`` from plain data; :class:`SerializationError` naming bad paths."""
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            paths = cattrs.transform_error(exc, path="$")
        else:
            paths = [f"$: {type(exc).__name__}: {exc}"]
        raise SerializationError(f"cannot load {cls.__name__}: " + "; ".join(paths), paths) from exc


def dumps(value: Any, **kwargs: Any) -> str:
    """``value`` as a JSON string."""
    return json.dumps(to_dict(value), ensure_ascii=False, **kwargs)


def loads(text: str | bytes, cls: type[T]) -> T:
    """A ``cls`` from a JSON string."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SerializationError(f"not JSON: {exc}", [f"$: {exc}"]) from exc
    return from_dict(data, cls)
