"""Conversation messages, tool calls and tool definitions.

A :class:`Message` follows the OpenAI chat shape (``role``, ``content``, ``tool_calls``,
``tool_call_id``, ``name``) plus the unified ``reasoning`` text and the provider's opaque
``thinking`` blocks, which must be sent back unchanged on some providers.

An assistant message answered by a provider also records where it came from
(:class:`MessageOrigin`: provider, API and model, set by the core) and what that API sent that
llmcore does not model (``provider_data``: citations, server-side tool results, refusals...).
Both travel through :class:`~llmcore.Context` JSON, and :mod:`llmcore.handoff` uses the origin to
send reasoning, signatures and provider data back unchanged to the API that produced them.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from llmcore._repr import attrs_repr
from llmcore.content import Content, to_content
from llmcore.errors import InvalidInputError
from llmcore.validation import (
    check_bool,
    check_json_object,
    check_object_schema,
    check_str,
    describe,
    fail,
    items_of,
)

__all__ = ["Message", "MessageOrigin", "Role", "ThinkingBlock", "Tool", "ToolCall"]


class Role(str, enum.Enum):
    """Who speaks. Values are the wire strings, so ``Role("user")`` works."""

    SYSTEM = "system"
    DEVELOPER = "developer"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"

    def __str__(self) -> str:
        return self.value


_ROLES = {r.value: r for r in Role}


def _to_role(value: Role | str) -> Role:
    if isinstance(value, Role):
        return value
    role = _ROLES.get(value) if isinstance(value, str) else None
    if role is None:
        fail("role", f"unknown role {describe(value)}; expected one of {', '.join(_ROLES)}")
    return role


def _opt_str(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_str(attribute.name, value, optional=True)


def _str(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_str(attribute.name, value)


def _json_object(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_json_object(attribute.name, value)


def _json_dict(field: str, value: Mapping[str, Any] | None) -> dict[str, Any]:
    """A mapping (or None, meaning empty) copied into a dict; anything else refused."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        fail(field, f"expected a dict, got {describe(value)}")
    return dict(value)


def _to_arguments(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return _json_dict("arguments", value)


def _to_extra(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return _json_dict("extra", value)


def _to_parameters(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return _json_dict("parameters", value)


@attrs_repr
@attrs.frozen(repr=False)
class ToolCall:
    """A call the model asked for: ``arguments`` is the parsed JSON object.

    ``raw_arguments`` keeps the provider's text when it was not valid JSON (``arguments`` is then
    ``{}``), so nothing is lost and :func:`llmcore.validate_tool_call` can report it.
    ``extra`` carries provider fields that must travel with the call (e.g. Gemini signatures).
    """

    id: str = attrs.field(validator=_str)
    name: str = attrs.field(validator=_str)
    arguments: dict[str, Any] = attrs.field(
        factory=dict, converter=_to_arguments, validator=_json_object
    )
    raw_arguments: str | None = attrs.field(default=None, validator=_opt_str)
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_to_extra, validator=_json_object)

    def arguments_json(self) -> str:
        """The arguments as JSON text, for wires that want a string: the provider's own text
        when it was not valid JSON, so a replayed call is sent back exactly as it came."""
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(self.arguments, ensure_ascii=False)


@attrs_repr
@attrs.frozen(repr=False)
class ThinkingBlock:
    """One provider reasoning block kept verbatim so that it can be replayed.

    ``signature`` is Anthropic's ``signature`` / Gemini's ``thoughtSignature``; ``redacted``
    holds Anthropic's ``redacted_thinking.data`` or an encrypted reasoning payload; ``provider``
    and ``api`` say where it came from (handoffs drop signatures across providers).
    """

    text: str = attrs.field(default="", validator=_str)
    signature: str | None = attrs.field(default=None, validator=_opt_str)
    redacted: str | None = attrs.field(default=None, validator=_opt_str)
    provider: str | None = attrs.field(default=None, validator=_opt_str)
    api: str | None = attrs.field(default=None, validator=_opt_str)


@attrs_repr
@attrs.frozen(repr=False)
class Tool:
    """A function the model may call, described by a JSON Schema for its arguments.

    ``name`` is a non-empty string; ``parameters`` must be a valid JSON Schema (the draft its
    ``$schema`` names, else 2020-12) of ``"type": "object"``.
    """

    name: str = attrs.field(validator=lambda _i, _a, v: check_str("name", v, nonempty=True))
    description: str | None = attrs.field(default=None, validator=_opt_str)
    parameters: dict[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}},
        converter=_to_parameters,
    )
    strict: bool | None = attrs.field(
        default=None, validator=lambda _i, _a, v: check_bool("strict", v, optional=True)
    )

    def __attrs_post_init__(self) -> None:
        try:
            check_object_schema("parameters", self.parameters)
        except InvalidInputError as exc:
            # Name the tool: the error usually surfaces far from where the tool was written.
            raise InvalidInputError.at(exc.field, f"{exc.reason} (tool {self.name!r})") from None


def _items(field: str, cls: type[Any], value: Any) -> tuple[Any, ...]:
    """An iterable (None meaning empty) of ``cls`` instances as a tuple; anything else refused."""
    if value is None:
        return ()
    if isinstance(value, tuple) and all(type(v) is cls for v in value):
        return value
    items = tuple(items_of(field, value, cls.__name__))
    for i, item in enumerate(items):
        if not isinstance(item, cls):
            fail(f"{field}[{i}]", f"expected a {cls.__name__}, got {describe(item)}")
    return items


def _to_tool_calls(value: Iterable[ToolCall] | None) -> tuple[ToolCall, ...]:
    return _items("tool_calls", ToolCall, value)


def _to_thinking(value: Iterable[ThinkingBlock] | None) -> tuple[ThinkingBlock, ...]:
    return _items("thinking", ThinkingBlock, value)


def _to_provider_data(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return _json_dict("provider_data", value)


def _nonempty_str(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_str(attribute.name, value, nonempty=True)


@attrs_repr
@attrs.frozen(repr=False)
class MessageOrigin:
    """Where an assistant message came from: the ``provider`` name, the ``api`` it speaks and
    the ``model`` that answered (as the response reported it, else as requested; None if unknown).

    The core sets it on every message of a response it builds (a call or a stream); handoffs
    (:func:`llmcore.transform_messages`) compare it with the target to decide what is sent back
    as it was and what is converted.
    """

    provider: str = attrs.field(validator=_nonempty_str)
    api: str = attrs.field(validator=_nonempty_str)
    model: str | None = attrs.field(default=None, validator=_opt_str)


def _check_origin(_instance: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, MessageOrigin):
        fail("origin", f"expected a MessageOrigin or None, got {describe(value)}")


@attrs_repr
@attrs.frozen(repr=False)
class Message:
    """One turn of a conversation.

    ``content`` accepts a string, a :class:`Content` or a list of parts. ``reasoning`` is the
    model's reasoning text, whatever field the provider used; ``thinking`` keeps the provider's
    reasoning blocks (with signatures) for replay. ``tool_call_id`` answers a tool call;
    ``is_error`` marks a failed tool result.
    """

    role: Role = attrs.field(converter=_to_role)
    content: Content = attrs.field(factory=Content, converter=to_content)
    tool_calls: tuple[ToolCall, ...] = attrs.field(factory=tuple, converter=_to_tool_calls)
    tool_call_id: str | None = attrs.field(default=None, validator=_opt_str)
    name: str | None = attrs.field(default=None, validator=_opt_str)
    reasoning: str | None = attrs.field(default=None, validator=_opt_str)
    thinking: tuple[ThinkingBlock, ...] = attrs.field(factory=tuple, converter=_to_thinking)
    is_error: bool = attrs.field(
        default=False, validator=lambda _i, _a, v: check_bool("is_error", v)
    )
    origin: MessageOrigin | None = attrs.field(default=None, validator=_check_origin)
    provider_data: dict[str, Any] = attrs.field(
        factory=dict, converter=_to_provider_data, validator=_json_object
    )

    @classmethod
    def system(cls, text: str) -> Message:
        """A system prompt."""
        _not_none(text)
        return cls(Role.SYSTEM, text)

    @classmethod
    def user(cls, content: Content | str) -> Message:
        """A user turn."""
        _not_none(content)
        return cls(Role.USER, content)

    @classmethod
    def assistant(cls, content: Content | str = "", tool_calls: Iterable[ToolCall] = ()) -> Message:
        """An assistant turn (e.g. a prior answer replayed as history)."""
        return cls(Role.ASSISTANT, content, tool_calls=tuple(tool_calls))

    @classmethod
    def tool(
        cls,
        tool_call_id: str,
        content: Content | str,
        *,
        name: str | None = None,
        is_error: bool = False,
    ) -> Message:
        """The result of a tool call, answering ``tool_call_id``."""
        check_str("tool_call_id", tool_call_id)
        _not_none(content)
        return cls(Role.TOOL, content, tool_call_id=tool_call_id, name=name, is_error=is_error)

    def text(self) -> str:
        """The text of the content."""
        return self.content.as_text()

    def reasoning_any(self) -> str | None:
        """The reasoning text if any: ``reasoning``, else the joined thinking blocks."""
        if self.reasoning:
            return self.reasoning
        joined = "\n\n".join(b.text for b in self.thinking if b.text)
        return joined or None


def _not_none(content: object) -> None:
    if content is None:
        fail("content", "must not be None (pass a str, a Content or a list of parts)")
