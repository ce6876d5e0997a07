"""Conversation messages, tool calls and tool definitions.

A :class:`Message` follows the OpenAI chat shape (``role``, ``content``, ``tool_calls``,
``tool_call_id``, ``name``) plus the unified ``reasoning`` text and the provider's opaque
``thinking`` blocks, which must be sent back unchanged on some providers.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from llmcore.content import Content, to_content

__all__ = ["Message", "Role", "ThinkingBlock", "Tool", "ToolCall"]


class Role(str, enum.Enum):
    """Who speaks. Values are the wire strings, so ``Role("user")`` works."""

    SYSTEM = "system"
    DEVELOPER = "developer"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"

    def __str__(self) -> str:
        return self.value


def _to_role(value: Role | str) -> Role:
    return value if isinstance(value, Role) else Role(value)


def _freeze_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


@attrs.frozen
class ToolCall:
    """A call the model asked for: ``arguments`` is the parsed JSON object.

    ``raw_arguments`` keeps the provider's text when it was not valid JSON (``arguments`` is then
    ``{}``), so nothing is lost and :func:`llmcore.validate_tool_call` can report it.
    ``extra`` carries provider fields that must travel with the call (e.g. Gemini signatures).
    """

    id: str
    name: str
    arguments: dict[str, Any] = attrs.field(factory=dict, converter=_freeze_dict)
    raw_arguments: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_freeze_dict)

    def arguments_json(self) -> str:
        """The arguments as JSON text, for wires that want a string: the provider's own text
        when it was not valid JSON, so a replayed call is sent back exactly as it came."""
        if self.raw_arguments is not None:
            return self.raw_arguments
        return json.dumps(self.arguments, ensure_ascii=False)


@attrs.frozen
class ThinkingBlock:
    """One provider reasoning block kept verbatim so that it can be replayed.

    ``signature`` is Anthropic's ``signature`` / Gemini's ``thoughtSignature``; ``redacted``
    holds Anthropic's ``redacted_thinking.data`` or an encrypted reasoning payload; ``provider``
    and ``api`` say where it came from (handoffs drop signatures across providers).
    """

    text: str = ""
    signature: str | None = None
    redacted: str | None = None
    provider: str | None = None
    api: str | None = None


@attrs.frozen
class Tool:
    """A function the model may call, described by a JSON Schema for its arguments."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}}, converter=_freeze_dict
    )
    strict: bool | None = None


def _to_tool_calls(value: Iterable[ToolCall] | None) -> tuple[ToolCall, ...]:
    return tuple(value or ())


def _to_thinking(value: Iterable[ThinkingBlock] | None) -> tuple[ThinkingBlock, ...]:
    return tuple(value or ())


@attrs.frozen
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
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: str | None = None
    thinking: tuple[ThinkingBlock, ...] = attrs.field(factory=tuple, converter=_to_thinking)
    is_error: bool = False

    @classmethod
    def system(cls, text: str) -> Message:
        """A system prompt."""
        return cls(Role.SYSTEM, text)

    @classmethod
    def user(cls, content: Content | str) -> Message:
        """A user turn."""
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
