"""Typed stream events: the event view of every provider's stream.

Every provider's stream becomes the same sequence: ``StartEvent``; then for each content block
of the assistant message a start, deltas and an end (text, thinking or tool call), each carrying
the block's ``content_index``; then ``DoneEvent`` (stop reason and final message) or
``ErrorEvent`` (reason and the partial message). Blocks of different kinds are not guaranteed to
be contiguous: use ``content_index`` to route deltas.
"""

from __future__ import annotations

from typing import Any, Literal, Union

import attrs

from llmcore._repr import attrs_repr
from llmcore.chat import ChatCompletionResponse, StopReason
from llmcore.errors import LlmError
from llmcore.messages import Message, ToolCall

__all__ = [
    "DoneEvent",
    "ErrorEvent",
    "StartEvent",
    "StreamEvent",
    "TextDeltaEvent",
    "TextEndEvent",
    "TextStartEvent",
    "ThinkingDeltaEvent",
    "ThinkingEndEvent",
    "ThinkingStartEvent",
    "ToolCallDeltaEvent",
    "ToolCallEndEvent",
    "ToolCallStartEvent",
]


@attrs_repr
@attrs.frozen(repr=False)
class StartEvent:
    """The stream began; ``partial`` is the (empty) assistant message."""

    partial: Message
    type: Literal["start"] = "start"


@attrs_repr
@attrs.frozen(repr=False)
class TextStartEvent:
    """A text block starts at ``content_index``."""

    content_index: int
    type: Literal["text_start"] = "text_start"


@attrs_repr
@attrs.frozen(repr=False)
class TextDeltaEvent:
    """More text for the block at ``content_index``."""

    content_index: int
    delta: str
    type: Literal["text_delta"] = "text_delta"


@attrs_repr
@attrs.frozen(repr=False)
class TextEndEvent:
    """The text block at ``content_index`` is complete; ``content`` is its whole text."""

    content_index: int
    content: str
    type: Literal["text_end"] = "text_end"


@attrs_repr
@attrs.frozen(repr=False)
class ThinkingStartEvent:
    """A thinking (reasoning) block starts."""

    content_index: int
    type: Literal["thinking_start"] = "thinking_start"


@attrs_repr
@attrs.frozen(repr=False)
class ThinkingDeltaEvent:
    """More reasoning text."""

    content_index: int
    delta: str
    type: Literal["thinking_delta"] = "thinking_delta"


@attrs_repr
@attrs.frozen(repr=False)
class ThinkingEndEvent:
    """The thinking block is complete; ``signature`` is kept for replay when the API has one."""

    content_index: int
    content: str
    signature: str | None = None
    type: Literal["thinking_end"] = "thinking_end"


@attrs_repr
@attrs.frozen(repr=False)
class ToolCallStartEvent:
    """A tool call starts (``id`` and ``name`` as far as known)."""

    content_index: int
    id: str | None
    name: str | None
    type: Literal["tool_call_start"] = "tool_call_start"


@attrs_repr
@attrs.frozen(repr=False)
class ToolCallDeltaEvent:
    """More argument text; ``partial`` is every argument parsed so far (may be incomplete)."""

    content_index: int
    delta: str
    partial: Any
    id: str | None = None
    name: str | None = None
    type: Literal["tool_call_delta"] = "tool_call_delta"


@attrs_repr
@attrs.frozen(repr=False)
class ToolCallEndEvent:
    """The tool call is complete, arguments parsed; validate before executing it."""

    content_index: int
    tool_call: ToolCall
    type: Literal["tool_call_end"] = "tool_call_end"


@attrs_repr
@attrs.frozen(repr=False)
class DoneEvent:
    """The stream finished: unified ``reason``, the final ``message`` and whole ``response``."""

    reason: StopReason
    message: Message
    response: ChatCompletionResponse
    type: Literal["done"] = "done"


@attrs_repr
@attrs.frozen(repr=False)
class ErrorEvent:
    """The stream failed or was aborted; ``partial`` keeps what had arrived."""

    reason: StopReason
    error: LlmError | None
    partial: Message
    response: ChatCompletionResponse
    type: Literal["error"] = "error"


StreamEvent = Union[
    StartEvent,
    TextStartEvent,
    TextDeltaEvent,
    TextEndEvent,
    ThinkingStartEvent,
    ThinkingDeltaEvent,
    ThinkingEndEvent,
    ToolCallStartEvent,
    ToolCallDeltaEvent,
    ToolCallEndEvent,
    DoneEvent,
    ErrorEvent,
]
