"""JSON Schema from typed Python functions and their docstrings, and the way back.

:func:`function_schema` reads a function's signature, type hints (string annotations included)
and docstring; :func:`convert_arguments` turns validated JSON arguments back into the annotated
types (enum members, attrs instances, tuples, sets) before the function is called. Supported
annotations: ``str``, ``int``, ``float``, ``bool``, ``None``, ``Optional``/unions, ``list[X]``,
``tuple``, ``set[X]``, ``dict[str, X]``, ``Literal[...]``, ``Enum`` subclasses, attrs classes and
``TypedDict`` (nested objects), ``Annotated[X, "description"]`` and ``Any``.
"""

from __future__ import annotations

import enum
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, Union

import attrs

from llmcore._repr import attrs_repr
from llmcore.errors import ConfigurationError

__all__ = ["FunctionSchema", "convert_arguments", "function_schema", "parse_docstring"]

Schema = dict[str, Any]


@attrs_repr
@attrs.frozen(repr=False)
class FunctionSchema:
    """What a function says about itself: name, first docstring paragraph, parameter schema."""

    name: str
    description: str | None
    parameters: Schema


def function_schema(fn: Callable[..., Any], *, name: str | None = None) -> FunctionSchema:
    """The name, description and JSON Schema of ``fn``'s keyword-callable parameters.

    Parameters with defaults are optional (their JSON-representable default is shown);
    ``Args:``/``:param:`` docstring entries describe them. ``*args``, ``**kwargs``,
    positional-only parameters and types with no JSON equivalent raise
    :class:`ConfigurationError`.
    """
    where = name or getattr(fn, "__name__", None) or repr(fn)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the signature of {fn!r}: {exc}") from exc
    hints = _type_hints(fn, where)
    summary, param_docs = parse_docstring(inspect.getdoc(fn) or "")
    properties: dict[str, Schema] = {}
    required: list[str] = []
    for param in signature.parameters.values():
        here = f"tool {where!r}, parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigurationError(f"{here}: *args and **kwargs cannot be described as a tool")
        if param.kind is param.POSITIONAL_ONLY:
            raise ConfigurationError(f"{here}: positional-only parameters are not supported")
        schema = _schema(hints.get(param.name, Any), here, ())
        if "description" not in schema and param.name in param_docs:
            schema["description"] = param_docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif _is_json(_plain(param.default)):
            schema["default"] = _plain(param.default)
        properties[param.name] = schema
    return FunctionSchema(where, summary or None, _object_schema(properties, required))


def _object_schema(properties: dict[str, Schema], required: list[str]) -> Schema:
    # Closed objects: a Python function or class cannot take keys it does not declare.
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _type_hints(obj: Any, where: str) -> dict[str, Any]:
    target = obj
    if not (inspect.isfunction(obj) or inspect.ismethod(obj) or isinstance(obj, type)):
        target = obj.func if isinstance(obj, functools.partial) else type(obj).__call__
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception as exc:  # NameError for unresolvable strings, TypeError for odd objects
        raise ConfigurationError(
            f"cannot resolve the type hints of {where!r}: {exc} (are the annotated types "
            f"importable from the module that defines it?)"
        ) from exc


_UNION_TYPES: tuple[Any, ...] = (Union, types.UnionType)
_SIMPLE: dict[Any, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
    None: "null",
}
_ARRAYS = {list, tuple, set, frozenset}
_ABSTRACT_ARRAYS = {"Sequence", "MutableSequence", "Iterable", "Collection", "Set", "MutableSet"}
_ABSTRACT_MAPS = {"Mapping", "MutableMapping"}
_QUALIFIERS = {"Required", "NotRequired", "ReadOnly"}


def _implicit_optional(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Undo Python 3.10's implicit ``Optional[...]`` around an ``Annotated[X | None, ...]``
    parameter whose default is None (3.11+ no longer adds it), so both give one schema."""
    if len(args) == 2 and type(None) in args:
        (other,) = [a for a in args if a is not type(None)]
        if typing.get_origin(other) is typing.Annotated and type(None) in typing.get_args(
            typing.get_args(other)[0]
        ):
            return (other,)
    return args


def _schema(hint: Any, where: str, seen: tuple[type, ...]) -> Schema:
    """The JSON Schema for one annotation (``seen`` guards against recursive classes)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        schema = _schema(args[0], where, seen)
        text = next((a for a in args[1:] if isinstance(a, str)), None)
        if text:
            schema["description"] = text
        return schema
    if hint is Any or hint is object:
        return {}
    if _qualifier(origin):
        return _schema(args[0], where, seen)
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    if origin in _UNION_TYPES:
        arms = _implicit_optional(args)
        if len(arms) == 1:
            return _schema(arms[0], where, seen)
        return _union([_schema(a, where, seen) for a in arms])
    if origin is Literal:
        return _enum([_plain(a) for a in args])
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum([m.value for m in hint])
    if hint in _ARRAYS or origin in _ARRAYS or _abstract(origin or hint, _ABSTRACT_ARRAYS):
        return _array(origin or hint, args, where, seen)
    if hint is dict or origin is dict or _abstract(origin or hint, _ABSTRACT_MAPS):
        return _mapping(args, where, seen)
    if isinstance(hint, type) and (attrs.has(hint) or _is_typeddict(hint)):
        if hint in seen:
            raise ConfigurationError(f"{where}: recursive type {hint.__name__} is not supported")
        return _object(hint, where, (*seen, hint))
    raise ConfigurationError(f"{where}: no JSON Schema for type {hint!r}")


def _qualifier(origin: Any) -> bool:
    return getattr(origin, "_name", None) in _QUALIFIERS


def _abstract(tp: Any, names: set[str]) -> bool:
    return (
        getattr(tp, "__module__", None) in ("collections.abc", "typing")
        and getattr(tp, "__name__", getattr(tp, "_name", None)) in names
    )


def _is_typeddict(tp: type) -> bool:
    return issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _union(members: list[Schema]) -> Schema:
    """``["string", "null"]`` when every member is a bare type, else ``anyOf``."""
    if all(list(m) == ["type"] and isinstance(m["type"], str) for m in members):
        names = list(dict.fromkeys(m["type"] for m in members))
        return {"type": names[0] if len(names) == 1 else names}
    return {"anyOf": members}


def _enum(values: list[Any]) -> Schema:
    kinds = {_json_type(v) for v in values}
    schema: Schema = {"enum": values}
    if len(kinds) == 1 and None not in kinds:
        schema = {"type": kinds.pop(), **schema}
    return schema


def _json_type(value: Any) -> str | None:
    for py, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(value, py):
            return name
    return "null" if value is None else None


def _array(container: Any, args: tuple[Any, ...], where: str, seen: tuple[type, ...]) -> Schema:
    schema: Schema = {"type": "array"}
    if container is tuple and args and args[-1] is not Ellipsis:
        items = [_schema(a, where, seen) for a in args]
        return {**schema, "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if args:
        schema["items"] = _schema(args[0], where, seen)
    if container in (set, frozenset) or getattr(container, "__name__", "").endswith("Set"):
        schema["uniqueItems"] = True
    return schema


def _mapping(args: tuple[Any, ...], where: str, seen: tuple[type, ...]) -> Schema:
    if args and args[0] is not str:
        raise ConfigurationError(f"{where}: JSON object keys are strings, not {args[0]!r}")
    schema: Schema = {"type": "object"}
    if len(args) == 2 and args[1] is not Any:
        schema["additionalProperties"] = _schema(args[1], where, seen)
    return schema


def _object(cls: type, where: str, seen: tuple[type, ...]) -> Schema:
    hints = _type_hints(cls, cls.__name__)
    properties: dict[str, Schema] = {}
    required: list[str] = []
    if attrs.has(cls):
        for field in attrs.fields(cls):
            if not field.init:
                continue
            key = field.alias or field.name
            schema = _schema(hints.get(field.name, Any), f"{where} ({cls.__name__}.{key})", seen)
            if "description" in field.metadata and "description" not in schema:
                schema["description"] = str(field.metadata["description"])
            if field.default is attrs.NOTHING:
                required.append(key)
            elif _is_json(_plain(field.default)):  # a Factory is not JSON: no default shown
                schema["default"] = _plain(field.default)
            properties[key] = schema
    else:
        required_keys: frozenset[str] = getattr(cls, "__required_keys__", frozenset())
        for key, hint in hints.items():
            qualifier = getattr(typing.get_origin(hint), "_name", None)
            properties[key] = _schema(hint, f"{where} ({cls.__name__}.{key})", seen)
            if qualifier == "Required" or (key in required_keys and qualifier != "NotRequired"):
                required.append(key)
    return _object_schema(properties, required)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


# --- docstrings ------------------------------------------------------------------------------

_ARG_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
_SECTION = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
_GOOGLE_ITEM = re.compile(r"^\**(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_REST_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?\**(\w+)\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph and the parameter descriptions of a (cleaned) docstring.

    Understands Google-style ``Args:`` sections and reST ``:param [type] name:`` fields;
    continuation lines are joined with spaces.
    """
    lines = doc.expandtabs().splitlines()
    summary: list[str] = []
    for line in lines:
        text = line.strip()
        if not text or _SECTION.match(text) or text.startswith(":"):
            break
        summary.append(text)
    params: dict[str, list[str]] = {}
    current: list[str] | None = None
    section_indent: int | None = None  # indent of the open Args: header
    item_indent: int | None = None
    for line in lines:
        text, indent = line.strip(), len(line) - len(line.lstrip())
        if not text:
            continue
        rest = _REST_PARAM.match(text)
        if rest:
            current = params.setdefault(rest.group(1), [rest.group(2)])
            section_indent = None
            continue
        header = _SECTION.match(text)
        if header and (section_indent is None or indent <= section_indent):
            is_args = header.group(1).strip().lower() in _ARG_SECTIONS
            section_indent, item_indent, current = (indent if is_args else None), None, None
            continue
        if section_indent is not None:
            if indent <= section_indent:
                section_indent = current = None
            elif item_indent is None or indent <= item_indent:
                item = _GOOGLE_ITEM.match(text)
                item_indent = indent
                current = params.setdefault(item.group(1), [item.group(2)]) if item else None
            elif current is not None:
                current.append(text)
            continue
        if text.startswith(":"):
            current = None
        elif current is not None and indent > 0:
            current.append(text)
        else:
            current = None
    described = {k: " ".join(p for p in v if p) for k, v in params.items()}
    return " ".join(summary), {k: v for k, v in described.items() if v}


# --- JSON arguments back to Python types ---------------------------------------------------


def convert_arguments(fn: Callable[..., Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` (validated JSON) converted to ``fn``'s annotated parameter types."""
    try:
        hints = _type_hints(fn, getattr(fn, "__name__", "tool"))
    except ConfigurationError:
        return arguments
    return {k: _convert(v, hints[k]) if k in hints else v for k, v in arguments.items()}


def _convert(value: Any, hint: Any) -> Any:
    """``value`` (plain JSON) as ``hint`` where they differ; unchanged when it does not fit."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated or _qualifier(origin):
        return _convert(value, args[0])
    if origin in _UNION_TYPES:
        member = next((a for a in args if _fits(value, a)), None)
        return value if member is None else _convert(value, member)
    container = origin or hint
    if isinstance(value, list) and (container in _ARRAYS or _abstract(container, _ABSTRACT_ARRAYS)):
        if container is tuple and args and args[-1] is not Ellipsis:
            return tuple(_convert(v, a) for v, a in zip(value, args, strict=False))
        items = [_convert(v, args[0]) if args else v for v in value]
        return container(items) if container in (tuple, set, frozenset) else items
    if isinstance(value, dict) and (container is dict or _abstract(container, _ABSTRACT_MAPS)):
        return {k: _convert(v, args[1]) for k, v in value.items()} if len(args) == 2 else value
    if isinstance(hint, type) and _fits(value, hint):
        if issubclass(hint, enum.Enum):
            return hint(value)
        if attrs.has(hint):
            hints = _type_hints(hint, hint.__name__)
            fields = {f.alias or f.name: f.name for f in attrs.fields(hint) if f.init}
            return hint(
                **{k: _convert(v, hints.get(fields.get(k, k), Any)) for k, v in value.items()}
            )
        if _is_typeddict(hint):
            hints = _type_hints(hint, hint.__name__)
            return {k: _convert(v, hints.get(k, Any)) for k, v in value.items()}
    return value


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` could be an instance of ``hint`` (after :func:`_convert`)."""
    origin = typing.get_origin(hint) or hint
    if origin is typing.Annotated:
        return _fits(value, typing.get_args(hint)[0])
    if hint is Any or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    if origin is Literal:
        return value in typing.get_args(hint)
    if origin in _UNION_TYPES:
        return any(_fits(value, a) for a in typing.get_args(hint))
    if origin in _ARRAYS or _abstract(origin, _ABSTRACT_ARRAYS):
        return isinstance(value, list)
    if origin is dict or _abstract(origin, _ABSTRACT_MAPS):
        return isinstance(value, dict)
    if not isinstance(origin, type):
        return False
    if issubclass(origin, enum.Enum):
        return any(value == m.value for m in origin)
    if attrs.has(origin) or issubclass(origin, dict):
        return isinstance(value, dict)
    if origin is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin)
