"""Chat requests, responses, stream chunks, usage and stop reasons.

Usage rule (one for every provider): ``prompt_tokens`` counts every input token, cached ones
included (``cached_tokens`` and ``cache_write_tokens`` are subsets of it); ``completion_tokens``
counts every output token, reasoning included (``reasoning_tokens`` is a subset of it);
``total_tokens = prompt_tokens + completion_tokens`` unless the provider reports otherwise.
Plugins convert their provider's counts to this rule, so nothing is counted twice.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from llmcore.messages import Message, Role, Tool, ToolCall
from llmcore.validation import (
    check_int,
    check_json_object,
    check_number,
    check_str,
    describe,
    fail,
    items_of,
)

__all__ = [
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "Choice",
    "ChunkChoice",
    "Delta",
    "ModelInfo",
    "ReasoningEffort",
    "StopReason",
    "ToolCallDelta",
    "ToolChoice",
    "Usage",
    "map_stop_reason",
]

log = logging.getLogger("llmcore")


class StopReason(str, enum.Enum):
    """Why generation ended, the same for every provider (the raw value stays alongside)."""

    STOP = "stop"
    LENGTH = "length"
    TOOL_USE = "tool_use"
    CONTENT_FILTER = "content_filter"
    ERROR = "error"
    ABORTED = "aborted"

    def __str__(self) -> str:
        return self.value


def map_stop_reason(
    raw: str | None, table: Mapping[str, StopReason], *, provider: str = "?"
) -> StopReason | None:
    """Map a provider's raw finish reason through ``table``.

    ``None`` stays ``None`` (not finished yet); an unknown value maps to ``STOP`` with a warning,
    never an exception, because providers add new values without notice.

    :param raw: the provider's finish reason, or ``None``.
    :param table: raw value to :class:`StopReason`.
    :param provider: the provider name for the warning's text.
    :returns: the unified stop reason, or ``None``. Never raises.
    """
    if raw is None:
        return None
    found = table.get(raw)
    if found is None:
        log.warning("llmcore: unknown finish reason %r from %s, treated as 'stop'", raw, provider)
        return StopReason.STOP
    return found


class ReasoningEffort(str, enum.Enum):
    """How hard a reasoning model should think; plugins map it to their provider's control."""

    NONE = "none"
    MINIMAL = "minimal"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    XHIGH = "xhigh"


def _check_tool_choice(instance: ToolChoice) -> None:
    if instance.mode not in _CHOICE_MODES:
        fail(
            "mode",
            f"unknown tool choice mode {describe(instance.mode)}; expected one of "
            f"{', '.join(_CHOICE_MODES)}",
        )
    if instance.mode == "tool":
        check_str("name", instance.name, nonempty=True)
    elif instance.name is not None:
        fail("name", f"is only used with mode 'tool', not {instance.mode!r}")


_CHOICE_MODES = ("auto", "none", "required", "tool")


@attrs.frozen
class ToolChoice:
    """``auto``, ``none``, ``required`` or one named tool (``ToolChoice.tool("get_weather")``)."""

    mode: str
    name: str | None = None

    def __attrs_post_init__(self) -> None:
        _check_tool_choice(self)

    @classmethod
    def tool(cls, name: str) -> ToolChoice:
        """Force the model to call the tool ``name``."""
        return cls("tool", name)


def _to_tool_choice(value: ToolChoice | str | None) -> ToolChoice | None:
    if value is None or isinstance(value, ToolChoice):
        return value
    if value in ("auto", "none", "required"):
        return ToolChoice(value)
    if not isinstance(value, str) or not value:
        fail(
            "tool_choice",
            f"expected 'auto', 'none', 'required', a tool name or a ToolChoice, got "
            f"{describe(value)}",
        )
    return ToolChoice.tool(value)


def _to_stop(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    stop = tuple(items_of("stop", value, "strings"))
    for i, item in enumerate(stop):
        check_str(f"stop[{i}]", item)
    return stop


def _to_messages(value: Iterable[Message]) -> tuple[Message, ...]:
    if value is None:
        fail("messages", "expected a list of Message, got None")
    if isinstance(value, tuple) and value and all(type(m) is Message for m in value):
        return value  # the common case: nothing to convert or check
    messages = tuple(items_of("messages", value, "Message"))
    if not messages:
        fail("messages", "must hold at least one message")
    for i, m in enumerate(messages):
        if type(m) is not Message and not isinstance(m, Message):
            hint = (
                " (build it with Message(...) or Message.user(...))"
                if isinstance(m, str | Mapping)
                else ""
            )
            fail(f"messages[{i}]", f"expected a Message, got {describe(m)}{hint}")
    return messages


def _to_tools(value: Iterable[Tool] | None) -> tuple[Tool, ...] | None:
    if value is None:
        return None
    tools = tuple(items_of("tools", value, "Tool"))
    for i, tool in enumerate(tools):
        if not isinstance(tool, Tool):
            fail(f"tools[{i}]", f"expected a Tool, got {describe(tool)}")
    return tools


_EFFORTS = {e.value: e for e in ReasoningEffort}


def _to_effort(value: ReasoningEffort | str | None) -> ReasoningEffort | None:
    if value is None or isinstance(value, ReasoningEffort):
        return value
    effort = _EFFORTS.get(value) if isinstance(value, str) else None
    if effort is None:
        fail(
            "reasoning_effort",
            f"unknown effort {describe(value)}; expected one of {', '.join(_EFFORTS)}",
        )
    return effort


def _plain_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


def _to_extra(value: Mapping[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        fail("extra", f"expected a dict, got {describe(value)}")
    return dict(value)


def _check_model(value: object) -> None:
    if not isinstance(value, str):
        fail("model", f"expected a non-empty string, got {describe(value)}")
    if not value:
        fail("model", "must be a non-empty string")


_INT64 = 2**63

# Well-known provider options passed through ``extra``: checked like the typed fields.
_EXTRA_NUMBERS: dict[str, tuple[float, float]] = {
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
_EXTRA_COUNTS = ("n", "max_completion_tokens")


def _check_request(request: ChatCompletionRequest) -> None:
    check_number("temperature", request.temperature, optional=True, minimum=0)
    check_number("top_p", request.top_p, optional=True, minimum=0, maximum=1)
    check_int("max_tokens", request.max_tokens, optional=True, minimum=1)
    check_json_object("response_format", request.response_format, optional=True)
    check_int("seed", request.seed, optional=True, minimum=-_INT64, maximum=_INT64 - 1)
    check_str("user", request.user, optional=True)
    check_int("reasoning_budget", request.reasoning_budget, optional=True, minimum=0)
    extra = request.extra
    if extra:
        check_json_object("extra", extra)
        for key, (low, high) in _EXTRA_NUMBERS.items():
            if key in extra:
                check_number(f"extra[{key!r}]", extra[key], minimum=low, maximum=high)
        for key in _EXTRA_COUNTS:
            if key in extra:
                check_int(f"extra[{key!r}]", extra[key], minimum=1)


@attrs.frozen
class ChatCompletionRequest:
    """One chat call: a model and messages plus the usual options.

    ``model`` may be ``"provider/model"`` for gateways (sent unchanged). ``extra`` is merged into
    the provider payload last, for options llmcore does not model. ``reasoning_effort`` and
    ``reasoning_budget`` (tokens) are mapped by each plugin to its provider's control.

    Every field is checked when the request is built: ``messages`` is a non-empty list of
    :class:`Message`; ``temperature`` a finite number >= 0; ``top_p`` in [0, 1]; ``max_tokens``
    an int >= 1; ``seed`` a 64-bit int; ``stop`` a str or a list of str; ``extra`` and
    ``response_format`` JSON objects (``n``, ``presence_penalty``... in ``extra`` are checked
    too). A bad value raises :class:`~llmcore.InvalidInputError` naming the field.
    """

    model: str = attrs.field(validator=lambda _i, _a, v: _check_model(v))
    messages: tuple[Message, ...] = attrs.field(converter=_to_messages)
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] | None = attrs.field(default=None, converter=_to_stop)
    tools: tuple[Tool, ...] | None = attrs.field(default=None, converter=_to_tools)
    tool_choice: ToolChoice | None = attrs.field(default=None, converter=_to_tool_choice)
    response_format: dict[str, Any] | None = None
    seed: int | None = None
    user: str | None = None
    reasoning_effort: ReasoningEffort | None = attrs.field(default=None, converter=_to_effort)
    reasoning_budget: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_to_extra)

    def __attrs_post_init__(self) -> None:
        _check_request(self)

    @classmethod
    def new(cls, model: str, messages: Iterable[Message]) -> ChatCompletionRequest:
        """A request for ``model`` with ``messages`` and no options set."""
        return cls(model, messages)

    def with_options(self, **changes: Any) -> ChatCompletionRequest:
        """A copy with some fields changed."""
        return attrs.evolve(self, **changes)


@attrs.frozen
class Usage:
    """Token counts under the one rule in this module's docstring."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def of(
        cls,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        *,
        total_tokens: int | None = None,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> Usage:
        """Build a usage record, computing ``total_tokens`` when the provider omits it."""
        total = prompt_tokens + completion_tokens if total_tokens is None else total_tokens
        return cls(
            prompt_tokens,
            completion_tokens,
            total,
            cached_tokens,
            cache_write_tokens,
            reasoning_tokens,
        )

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        pairs = zip(attrs.astuple(self), attrs.astuple(other), strict=True)
        return Usage(*(a + b for a, b in pairs))


@attrs.frozen
class Choice:
    """One answer: the assistant message and why it ended (raw and unified)."""

    index: int
    message: Message
    finish_reason: str | None = None
    stop_reason: StopReason | None = None


def _to_choices(value: Iterable[Choice]) -> tuple[Choice, ...]:
    return tuple(value)


@attrs.frozen
class ChatCompletionResponse:
    """A complete answer (or, after a cancel or cut, the partial one)."""

    id: str | None
    model: str | None
    choices: tuple[Choice, ...] = attrs.field(converter=_to_choices)
    usage: Usage | None = None
    provider: str | None = None
    created: int | None = None

    def text(self) -> str:
        """The first choice's text ("" when there is none)."""
        return self.choices[0].message.text() if self.choices else ""

    @property
    def message(self) -> Message:
        """The first choice's message (an empty assistant message when there is none)."""
        return self.choices[0].message if self.choices else Message(Role.ASSISTANT)

    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The first choice's tool calls."""
        return self.message.tool_calls

    def reasoning(self) -> str | None:
        """The first choice's reasoning text."""
        return self.message.reasoning_any()

    @property
    def finish_reason(self) -> str | None:
        """The first choice's raw finish reason."""
        return self.choices[0].finish_reason if self.choices else None

    @property
    def stop_reason(self) -> StopReason | None:
        """The first choice's unified stop reason."""
        return self.choices[0].stop_reason if self.choices else None


@attrs.frozen
class ToolCallDelta:
    """A fragment of a streamed tool call; fragments with the same ``index`` form one call.

    ``id`` and ``name`` usually come only on the first fragment; ``arguments`` is a piece of JSON
    text to append. ``extra`` carries provider fields to keep with the call.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None
    extra: dict[str, Any] | None = None


def _to_tc_deltas(value: Iterable[ToolCallDelta] | None) -> tuple[ToolCallDelta, ...]:
    return tuple(value or ())


@attrs.frozen
class Delta:
    """What one chunk adds to a choice's message.

    ``reasoning_signature`` / ``reasoning_redacted`` carry opaque thinking payloads; a
    ``thinking_block_end`` marks the end of one provider thinking block (Anthropic).
    """

    role: Role | None = None
    content: str | None = None
    reasoning: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = attrs.field(factory=tuple, converter=_to_tc_deltas)
    reasoning_signature: str | None = None
    reasoning_redacted: str | None = None
    thinking_block_end: bool = False


@attrs.frozen
class ChunkChoice:
    """One choice's part of a stream chunk."""

    index: int = 0
    delta: Delta = attrs.field(factory=Delta)
    finish_reason: str | None = None
    stop_reason: StopReason | None = None


def _to_chunk_choices(value: Iterable[ChunkChoice]) -> tuple[ChunkChoice, ...]:
    return tuple(value)


@attrs.frozen
class ChatCompletionChunk:
    """One piece of a streamed answer, in the OpenAI chunk shape every provider is mapped to."""

    id: str | None = None
    model: str | None = None
    choices: tuple[ChunkChoice, ...] = attrs.field(factory=tuple, converter=_to_chunk_choices)
    usage: Usage | None = None

    def text(self) -> str | None:
        """``choices[0].delta.content``."""
        return self.choices[0].delta.content if self.choices else None

    def role(self) -> Role | None:
        """``choices[0].delta.role`` (first chunk only)."""
        return self.choices[0].delta.role if self.choices else None

    def finish_reason(self) -> str | None:
        """``choices[0].finish_reason`` (final chunk only)."""
        return self.choices[0].finish_reason if self.choices else None

    def reasoning(self) -> str | None:
        """``choices[0].delta.reasoning``."""
        return self.choices[0].delta.reasoning if self.choices else None


@attrs.frozen
class ModelInfo:
    """A model a provider offers; ``extra`` keeps provider fields such as ``owned_by``."""

    id: str
    created: int | None = None
    owned_by: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_plain_dict)

    def __str__(self) -> str:
        return self.id
