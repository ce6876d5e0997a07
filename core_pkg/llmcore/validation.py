"""Input checks shared by llmcore's types: every failure is an :class:`InvalidInputError`.

Each check names the field it looks at (``temperature``, ``messages[2].content``,
``default_headers['X-Foo']``) and describes the offending value only when it is short; secrets
(API keys, proxy URLs) are never shown. The checks run on every construction, so they are
plain type tests and one walk over nested JSON values, nothing more.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

from llmcore.errors import InvalidInputError

__all__ = [
    "check_api_key",
    "check_base_url",
    "check_bool",
    "check_client_settings",
    "check_headers",
    "check_int",
    "check_json_object",
    "check_json_value",
    "check_number",
    "check_object_schema",
    "check_str",
    "describe",
    "fail",
    "items_of",
    "schema_problem",
]


_SHORT = 40
_MAX_DEPTH = 200
# RFC 9110 token: the characters a header name may hold.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# Control characters (HTAB excluded) and DEL: what no header value may carry.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def fail(field: str, reason: str) -> NoReturn:
    """Raise the :class:`InvalidInputError` for ``field``."""
    raise InvalidInputError.at(field, reason)


def describe(value: object) -> str:
    """A short description of ``value``: its repr when short, else only its type and size."""
    if value is None or isinstance(value, bool | int | float):
        text = repr(value)
        return text if len(text) <= _SHORT else f"an int of {len(text)} digits"
    kind = type(value).__name__
    if isinstance(value, str | bytes):
        text = repr(value)
        return f"{kind} {text}" if len(text) <= _SHORT else f"a {kind} of {len(value)} characters"
    try:
        size = len(value)  # type: ignore[arg-type]
    except TypeError:
        return f"a {kind}"
    return f"a {kind} of {size} item{'' if size == 1 else 's'}"


# --- scalars ---------------------------------------------------------------------------------


def check_str(
    field: str, value: Any, *, optional: bool = False, nonempty: bool = False
) -> str | None:
    """``value`` if it is a string (non-empty when asked; ``None`` when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        fail(field, f"expected a string, got {describe(value)}")
    if nonempty and not value:
        fail(field, "must not be empty")
    return value


def check_bool(field: str, value: Any, *, optional: bool = False) -> None:
    """``value`` is ``True`` or ``False`` (or ``None`` when ``optional``)."""
    if value is None and optional:
        return
    if not isinstance(value, bool):
        fail(field, f"expected True or False, got {describe(value)}")


def check_int(
    field: str,
    value: Any,
    *,
    optional: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
) -> None:
    """``value`` is an ``int`` (a ``bool`` is not) within ``[minimum, maximum]``."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        fail(field, f"expected an integer, got {describe(value)}")
    _check_range(field, value, minimum, maximum)


def check_number(
    field: str,
    value: Any,
    *,
    optional: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> None:
    """``value`` is a finite ``int`` or ``float`` (a ``bool`` is not) within the bounds."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(field, f"expected a number, got {describe(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        fail(field, f"must be a finite number, got {value!r}")
    if exclusive_minimum and minimum is not None and value <= minimum:
        fail(field, f"must be > {minimum:g}, got {describe(value)}")
    _check_range(field, value, minimum, maximum)


def _check_range(field: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        fail(field, f"must be >= {minimum:g}, got {describe(value)}")
    if maximum is not None and value > maximum:
        fail(field, f"must be <= {maximum:g}, got {describe(value)}")


# --- JSON values -----------------------------------------------------------------------------


def check_json_object(field: str, value: Any, *, optional: bool = False) -> None:
    """``value`` is a mapping with string keys whose values JSON can carry exactly."""
    if value is None and optional:
        return
    if not isinstance(value, Mapping):
        fail(field, f"expected a JSON object (a dict), got {describe(value)}")
    check_json_value(field, value)


def check_json_value(field: str, value: Any) -> None:
    """``value`` is made of dicts (string keys), lists, tuples, strings, finite numbers, bools
    and None only: what JSON can carry and give back unchanged."""
    try:
        _walk(value, 0)
    except _NotJson as exc:
        path = field + "".join(
            f"[{k}]" if isinstance(k, int) else f"[{k!r}]" if len(k) <= _SHORT else "[...]"
            for k in reversed(exc.keys)
        )
        fail(path, exc.reason)


class _NotJson(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keys: list[str | int] = []  # innermost first, filled in on the way out


def _walk(value: Any, depth: int) -> None:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return
    if kind is float:
        if not math.isfinite(value):
            raise _NotJson(f"{value!r} is not JSON-serialisable")
        return
    if depth >= _MAX_DEPTH:
        raise _NotJson(f"nested more than {_MAX_DEPTH} levels deep (or contains itself)")
    if kind is list or kind is tuple:
        for i, item in enumerate(value):
            try:
                _walk(item, depth + 1)
            except _NotJson as exc:
                exc.keys.append(i)
                raise
        return
    if kind is dict or isinstance(value, dict):
        for key, item in value.items():
            if type(key) is not str:
                raise _NotJson(f"has a {type(key).__name__} key; JSON object keys are strings")
            try:
                _walk(item, depth + 1)
            except _NotJson as exc:
                exc.keys.append(key)
                raise
        return
    if isinstance(value, str | int | float | list | tuple):  # subclasses (enums, named tuples)
        if isinstance(value, float) and not math.isfinite(value):
            raise _NotJson(f"{value!r} is not JSON-serialisable")
        if isinstance(value, list | tuple):
            _walk(list(value), depth)
        return
    raise _NotJson(f"a {type(value).__name__} is not JSON-serialisable")


# --- tool schemas ----------------------------------------------------------------------------

_schema_ok: set[str] = set()
_schema_lock = threading.Lock()
_SCHEMA_CACHE = 512


def check_object_schema(field: str, schema: Any) -> None:
    """``schema`` is a valid JSON Schema (its ``$schema`` draft, else 2020-12) for an object."""
    check_json_object(field, schema)
    kind = schema.get("type")
    if kind != "object":
        got = "no 'type'" if kind is None else f"'type': {describe(kind)}"
        fail(field, f'must be an object schema ({{"type": "object", ...}}), got {got}')
    problem = schema_problem(schema)
    if problem is not None:
        fail(field, f"is not a valid JSON Schema: {problem}")


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why ``schema`` is not a valid JSON Schema under its draft, or None when it is valid.

    Valid schemas are remembered (by value), so a tool rebuilt for every request is checked
    once.
    """
    # The JSON text keeps 1, 1.0 and true apart (equal in Python, different schemas).
    key = json.dumps(schema, sort_keys=True)
    with _schema_lock:
        if key in _schema_ok:
            return None
    from jsonschema import exceptions, validators  # type: ignore[import-untyped, unused-ignore]

    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        message = str(exc.message)
        return message if len(message) <= 200 else message[:197] + "..."
    with _schema_lock:
        if len(_schema_ok) >= _SCHEMA_CACHE:
            _schema_ok.clear()
        _schema_ok.add(key)
    return None


# --- connection settings ---------------------------------------------------------------------


def check_base_url(field: str, value: Any) -> None:
    """An ``http(s)://host...`` URL (or one of a registered in-memory scheme), no whitespace."""
    check_str(field, value)
    if not value:
        fail(field, "must not be empty")
    if _WHITESPACE_OR_CONTROL.search(value):
        fail(field, "must not contain whitespace or control characters")
    from llmcore.transport import _memory_schemes

    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        fail(field, f"is not a valid URL ({exc})")
    scheme = parts.scheme.lower()
    if "://" not in value or scheme not in ("http", "https", *_memory_schemes):
        fail(field, "must start with http:// or https:// (e.g. 'http://localhost:8080/v1')")
    if not parts.hostname:
        fail(field, "has no host")
    del port


def check_api_key(field: str, value: Any) -> None:
    """A key a header can carry: a string without line breaks, control characters, leading or
    trailing whitespace or non-latin-1 characters. The value is never shown."""
    if not isinstance(value, str):
        fail(field, f"expected a string, got {type(value).__name__}")
    if _CONTROL.search(value) or "\t" in value:
        fail(field, "contains a line break or control character (the value is not shown)")
    if value != value.strip():
        fail(field, "has leading or trailing whitespace (the value is not shown)")
    if not _latin1(value):
        fail(field, "contains characters an HTTP header cannot carry (the value is not shown)")


def check_headers(field: str, value: Any) -> None:
    """A mapping of header names (tokens) to values an HTTP header can carry."""
    if not isinstance(value, Mapping):
        fail(field, f"expected a dict of header names to values, got {describe(value)}")
    for name, header in value.items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            shown = describe(name)
            fail(field, f"header name {shown} is not a valid token (letters, digits, -_.!#$...)")
        where = f"{field}[{name!r}]"
        if not isinstance(header, str):
            fail(where, f"expected a string, got {type(header).__name__}")
        if _CONTROL.search(header):
            fail(where, "contains a line break or control character")
        if header[:1] in (" ", "\t"):
            fail(where, "has leading whitespace")
        if not _latin1(header):
            fail(where, "contains characters an HTTP header cannot carry (not latin-1)")


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def items_of(field: str, value: Any, what: str) -> Iterable[Any]:
    """``value`` as an iterable of items, refusing strings, bytes, mappings and sets."""
    if isinstance(value, str | bytes | bytearray | Mapping | set | frozenset) or not hasattr(
        value, "__iter__"
    ):
        fail(field, f"expected a list of {what}, got {describe(value)}")
    return value  # type: ignore[no-any-return]


def check_client_settings(provider: Any, base_url: Any, options: Any) -> None:
    """What ``Client(...)`` is given: the base URL it will use and its options."""
    from llmcore.options import ConnectionOptions
    from llmcore.providers import Provider

    if not isinstance(provider, Provider):
        fail("provider", f"expected a provider name or a Provider, got {describe(provider)}")
    if base_url is None:
        check_base_url(f"base_url (of provider {provider.name!r})", provider.base_url)
    else:
        check_base_url("base_url", base_url)
    if options is not None and not isinstance(options, ConnectionOptions):
        fail("options", f"expected a ConnectionOptions, got {describe(options)}")
