"""Tools: definitions from typed Python functions, argument validation and tool results.

:func:`tool_from_function` turns a typed function and its docstring into a :class:`Tool` whose
``parameters`` is a JSON Schema. :func:`validate_tool_call` checks what the model sent against
that schema (jsonschema, Draft 2020-12 unless the schema's ``$schema`` asks for another draft) and
raises :class:`ToolValidationError` naming the tool and the JSON path of every bad value.
:func:`run_tool_call` validates, calls the function and wraps the outcome (or the failure) in a
tool-result :class:`Message`, ready to send back to the model::

    tools = [tool_from_function(get_weather)]
    for call in response.tool_calls():
        messages.append(run_tool_call({"get_weather": get_weather}, tools, call))
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from llmcore.content import Content
from llmcore.errors import ConfigurationError, LlmError
from llmcore.messages import Message, Tool, ToolCall
from llmcore.tool_schema import convert_arguments, function_schema
from llmcore.validation import schema_problem

__all__ = [
    "ToolValidationError",
    "run_tool_call",
    "tool_from_function",
    "tool_result",
    "validate_tool_arguments",
    "validate_tool_call",
]

log = logging.getLogger("llmcore")

# What OpenAI, Anthropic and Gemini all accept as a function name.
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_REASON = 300
_JSON_NAMES = {
    list: "array",
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


class ToolValidationError(LlmError):
    """The model's tool call does not fit the tool: unknown name, non-JSON or invalid arguments.

    ``tool_name`` is the tool the call named; ``errors`` lists ``(json_path, reason)`` for every
    bad value (``("$.items[2].qty", "-1 is less than the minimum of 0")``). The message repeats
    them, one per line, so ``str(error)`` can go back to the model as a tool result.

    A direct :class:`LlmError` subclass, not an :class:`InvalidRequestError`: nothing was refused
    by a provider (no HTTP status), the fault is in the model's output, and the remedy is to
    report it to the model rather than to fix the request, so handlers written for HTTP 400s
    must not catch it.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        tool_name: str | None = None,
        errors: Sequence[tuple[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.tool_name = tool_name
        self.errors: list[tuple[str, str]] = list(errors)


def tool_from_function(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool | None = None,
) -> Tool:
    """A :class:`Tool` described by ``fn``'s signature, type hints and docstring.

    The name defaults to ``fn.__name__``, the description to the docstring's first paragraph;
    Google-style ``Args:`` entries and reST ``:param x:`` lines describe the parameters, and
    parameters with defaults are optional. See :mod:`llmcore.tool_schema` for the supported
    types; ``*args``, ``**kwargs`` and types with no JSON equivalent raise
    :class:`ConfigurationError`.

    :param fn: the function the tool describes (and that :func:`run_tool_call` calls).
    :param name: the tool name (default ``fn.__name__``): 1-64 letters, digits, ``_`` or ``-``.
    :param description: the tool description (default: the docstring's first paragraph).
    :param strict: the :class:`Tool`'s ``strict`` flag (``None``: the provider's default).
    :raises ConfigurationError: ``fn`` takes ``*args``/``**kwargs`` or a type with no JSON
        equivalent, or the name is not a valid tool name.
    """
    described = function_schema(fn, name=name)
    if not _TOOL_NAME.match(described.name):
        raise ConfigurationError(
            f"tool name {described.name!r} is not 1-64 letters, digits, '_' or '-'; pass name="
        )
    return Tool(described.name, description or described.description, described.parameters, strict)


# --- validation ------------------------------------------------------------------------------


def validate_tool_call(tools: Sequence[Tool], call: ToolCall) -> dict[str, Any]:
    """The validated arguments of ``call``, checked against the tool of the same name.

    Raises :class:`ToolValidationError` for an unknown tool (listing the known ones), for
    arguments that were not a JSON object (``call.raw_arguments``), and for schema failures.

    :param tools: the tools sent with the request.
    :param call: the tool call the model made.
    :raises ToolValidationError: as above; ``str(error)`` is meant for the model.
    :raises ConfigurationError: the matching tool's own parameters schema is invalid.
    """
    tool = next((t for t in tools if t.name == call.name), None)
    if tool is None:
        known = ", ".join(repr(t.name) for t in tools) or "none"
        raise ToolValidationError(
            f"unknown tool {call.name!r}; known tools: {known}", tool_name=call.name
        )
    if call.raw_arguments is not None:
        return validate_tool_arguments(tool, call.raw_arguments)
    return validate_tool_arguments(tool, call.arguments)


def validate_tool_arguments(tool: Tool, arguments: Mapping[str, Any] | str) -> dict[str, Any]:
    """``arguments`` (a dict, or JSON text) checked against ``tool.parameters``.

    Returns the arguments as a dict. Raises :class:`ToolValidationError` naming the tool and
    every failing JSON path, and :class:`ConfigurationError` if the tool's schema is invalid.
    """
    value = _parse_arguments(tool.name, arguments) if isinstance(arguments, str) else arguments
    if not isinstance(value, Mapping):
        kind = _JSON_NAMES.get(type(value), type(value).__name__)
        reason = f"arguments must be a JSON object, got {kind}"
        raise _invalid(tool.name, [("$", reason)])
    value = dict(value)
    errors = _schema_errors(tool, value)
    if errors:
        raise _invalid(tool.name, errors)
    return value


def _parse_arguments(tool_name: str, text: str) -> Any:
    if not text.strip():
        return {}  # some providers send "" for a call without arguments
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _invalid(tool_name, [("$", f"arguments are not valid JSON: {exc}")]) from exc


def _invalid(tool_name: str, errors: list[tuple[str, str]]) -> ToolValidationError:
    lines = "".join(f"\n  {path}: {reason}" for path, reason in errors)
    return ToolValidationError(
        f"invalid arguments for tool {tool_name!r}:{lines}", tool_name=tool_name, errors=errors
    )


def _schema_errors(tool: Tool, value: dict[str, Any]) -> list[tuple[str, str]]:
    from jsonschema import validators  # type: ignore[import-untyped, unused-ignore]

    schema = tool.parameters
    problem = schema_problem(schema)
    if problem is not None:
        raise ConfigurationError(f"tool {tool.name!r} has an invalid parameters schema: {problem}")
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    found: list[tuple[tuple[tuple[int, Any], ...], str]] = []
    for error in cls(schema).iter_errors(value):
        for path, reason in _describe(error):
            key = tuple((0, p) if isinstance(p, int) else (1, str(p)) for p in path)
            found.append((key, reason))
    unique = dict.fromkeys((_json_path(k), r) for k, r in sorted(found, key=lambda f: f[0]))
    return list(unique)


def _describe(error: Any) -> list[tuple[list[Any], str]]:
    """``(path, reason)`` pairs for one jsonschema error, pointing at the offending key."""
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        return [([*path, k], "required property is missing") for k in missing]
    if error.validator == "additionalProperties" and error.validator_value is False:
        schema = error.schema if isinstance(error.schema, dict) else {}
        known, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
        extra = [
            k
            for k in error.instance
            if k not in known and not any(re.search(p, k) for p in patterns)
        ]
        return [([*path, k], "unexpected property (not in the schema)") for k in extra]
    branch = _furthest_branch(error.context, len(path))
    if branch:
        return [pair for sub in branch for pair in _describe(sub)]
    return [(path, _shorten(error.message))]


def _furthest_branch(context: Sequence[Any], depth: int) -> list[Any]:
    """The errors of the ``anyOf``/``oneOf`` branch the value most likely meant, if that branch
    got deeper into the value than the branch point (so ``Optional[Item]`` reports
    ``$.item.qty`` rather than "not valid under any of the given schemas"). Most likely: the
    deepest, then the one whose ``const``/``enum`` tags matched, then the one with fewest errors.
    """
    branches: dict[Any, list[Any]] = {}
    for sub in context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)

    def rank(errors: list[Any]) -> tuple[int, int, int]:
        tags = sum(e.validator in ("const", "enum") for e in errors)
        return (max(len(e.absolute_path) for e in errors), -tags, -len(errors))

    best = max(branches.values(), key=rank, default=[])
    return best if best and rank(best)[0] > depth else []


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _json_path(key: tuple[tuple[int, Any], ...]) -> str:
    out = "$"
    for kind, part in key:
        if kind == 0:
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


# --- results and execution -------------------------------------------------------------------


def tool_result(call: ToolCall, content: str | Content, *, is_error: bool = False) -> Message:
    """The tool-result message answering ``call`` (its id and name filled in).

    :param call: the tool call being answered.
    :param content: the result: text, or a :class:`Content` (text, images...).
    :param is_error: mark the result as a failure (llmcore-openai prefixes it with ``Error:``).
    :raises InvalidInputError: ``content`` is neither a ``str`` nor a :class:`Content`.
    """
    return Message.tool(call.id, content, name=call.name or None, is_error=is_error)


def run_tool_call(
    functions: Mapping[str, Callable[..., Any]], tools: Sequence[Tool], call: ToolCall
) -> Message:
    """Validate ``call``, run ``functions[call.name]`` with its arguments, return the result.

    Arguments are converted to the function's annotated types where JSON differs (enum members,
    attrs instances, tuples, sets). A string or :class:`Content` result is sent as it is; any
    other result is JSON-encoded. Validation failures and exceptions raised by the function
    become a result with ``is_error=True`` and the error text, for the model to read.

    :param functions: tool name to the Python function that implements it.
    :param tools: the tools sent with the request (their schemas validate the arguments).
    :param call: the tool call the model made.
    :returns: the tool-result message (never raised: a :class:`ToolValidationError`, a
        missing function or an ``Exception`` from the function is an ``is_error`` result).
    :raises ConfigurationError: the matching tool's own parameters schema is invalid.
    """
    try:
        arguments = validate_tool_call(tools, call)
    except ToolValidationError as exc:
        return tool_result(call, str(exc), is_error=True)
    fn = functions.get(call.name)
    if fn is None:
        return tool_result(call, f"tool {call.name!r} has no implementation", is_error=True)
    try:
        result = fn(**convert_arguments(fn, arguments))
    except Exception as exc:
        log.debug("llmcore: tool %r raised", call.name, exc_info=True)
        return tool_result(call, f"{type(exc).__name__}: {exc}", is_error=True)
    return tool_result(call, _result_content(result))


def _result_content(result: Any) -> str | Content:
    if isinstance(result, str | Content):
        return result
    try:
        return json.dumps(result, ensure_ascii=False, default=_jsonable)
    except (TypeError, ValueError):
        return str(result)


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        return attrs.asdict(value)  # enum members inside come back through this function
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
