"""Chat requests, responses, stream chunks, usage and stop reasons.

Usage rule (one for every provider): ``prompt_tokens`` counts every input token, cached ones
included (``cached_tokens`` and ``cache_write_tokens`` are subsets of it); ``completion_tokens``
counts every output token, reasoning included (``reasoning_tokens`` is a subset of it);
``total_tokens = prompt_tokens + completion_tokens`` unless the provider reports otherwise.
Plugins convert their provider's counts to this rule, so nothing is counted twice.

Provider data rule. What a protocol sends and llmcore does not model is kept, not lost, in a
``provider_data`` mapping (a JSON object: string keys, JSON values; empty by default) at the level
it belongs to: :class:`ChatCompletionResponse` (e.g. ``system_fingerprint``, ``service_tier``,
Gemini's ``modelVersion``), :class:`Choice` (``logprobs``, safety ratings, Anthropic's
``stop_sequence``), the choice's :class:`~llmcore.Message` (``annotations``, citations,
server-side tool results: what may be sent back to the same API) and :class:`Usage` (billed
units, server-tool counts, timings). Stream chunks carry the same levels:
:class:`ChatCompletionChunk` -> response, :class:`ChunkChoice` -> choice, :class:`Delta` ->
message, and a chunk's ``usage`` replaces the usage so far, its ``provider_data`` included.

Accumulation (one rule, :func:`merge_provider_data`, applied chunk by chunk in stream order):
per top-level key, when the value so far and the new value are both lists, the new items are
appended; otherwise the new value replaces the old one (later wins). Nested objects are not
merged, and ``None`` is a value like any other. So a plugin sends list items (citations, logprob
entries) as they arrive, and for anything else sends the whole current value.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from llmcore._repr import attrs_repr
from llmcore.http import HttpRequest
from llmcore.messages import Message, MessageOrigin, Role, Tool, ToolCall
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
    "text_chunk",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "Choice",
    "ChunkChoice",
    "Delta",
    "ModelInfo",
    "ModelPage",
    "ReasoningEffort",
    "StopReason",
    "ToolCallDelta",
    "ToolChoice",
    "Usage",
    "map_stop_reason",
    "merge_provider_data",
    "with_origin",
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


@attrs_repr
@attrs.frozen(repr=False)
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


def _to_provider_data(value: Mapping[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {}
    if type(value) is dict:  # the common case, without the abstract-base-class check
        return dict(value)
    if not isinstance(value, Mapping):
        fail("provider_data", f"expected a dict, got {describe(value)}")
    return dict(value)


def _check_provider_data(_instance: object, _attribute: object, value: dict[str, Any]) -> None:
    """A ``provider_data`` attribute is a JSON object (checked like ``extra``)."""
    if value:
        check_json_object("provider_data", value)


def merge_provider_data(so_far: Mapping[str, Any], new: Mapping[str, Any] | None) -> dict[str, Any]:
    """``so_far`` with ``new`` merged in by the accumulation rule of this module's docstring:
    per top-level key, two lists are concatenated, anything else is replaced by the new value.

    :param so_far: the provider data accumulated so far.
    :param new: the provider data of the next fragment (``None``: nothing new).
    :returns: a new dict; neither argument is changed. Never raises.
    """
    merged = dict(so_far)
    for key, value in (new or {}).items():
        old = merged.get(key)
        if isinstance(old, list) and isinstance(value, list):
            merged[key] = old + value
        else:
            merged[key] = value
    return merged


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


@attrs_repr
@attrs.frozen(repr=False)
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


_COUNTS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


@attrs_repr
@attrs.frozen(repr=False)
class Usage:
    """Token counts under the one rule in this module's docstring.

    ``provider_data`` keeps the provider's usage fields that the counts do not model (billed
    units, server-tool counts, timings, cost), as a JSON object. In a stream, a chunk's usage
    replaces the usage so far, ``provider_data`` included: plugins report it cumulatively.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    provider_data: dict[str, Any] = attrs.field(
        factory=dict, converter=_to_provider_data, validator=_check_provider_data, kw_only=True
    )

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
        provider_data: Mapping[str, Any] | None = None,
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
            provider_data=provider_data,
        )

    def __add__(self, other: Usage) -> Usage:
        """Counts added field by field; ``provider_data`` merged by the module's rule (the
        right-hand side's values win, lists are concatenated)."""
        if not isinstance(other, Usage):
            return NotImplemented
        counts = (getattr(self, f) + getattr(other, f) for f in _COUNTS)
        return Usage(
            *counts, provider_data=merge_provider_data(self.provider_data, other.provider_data)
        )


@attrs_repr
@attrs.frozen(repr=False)
class Choice:
    """One answer: the assistant message and why it ended (raw and unified).

    ``provider_data`` keeps the provider's per-answer fields llmcore does not model (e.g.
    ``logprobs``, safety ratings, the stop sequence that matched); data that belongs to the
    message itself, and may be sent back, is in ``message.provider_data``.
    """

    index: int
    message: Message
    finish_reason: str | None = None
    stop_reason: StopReason | None = None
    provider_data: dict[str, Any] = attrs.field(
        factory=dict, converter=_to_provider_data, validator=_check_provider_data, kw_only=True
    )


def _to_choices(value: Iterable[Choice]) -> tuple[Choice, ...]:
    return tuple(value)


@attrs_repr
@attrs.frozen(repr=False)
class ChatCompletionResponse:
    """A complete answer (or, after a cancel or cut, the partial one).

    ``provider_data`` keeps the provider's response-level fields llmcore does not model (e.g.
    ``system_fingerprint``, ``service_tier``, a model version): see this module's docstring.
    """

    id: str | None
    model: str | None
    choices: tuple[Choice, ...] = attrs.field(converter=_to_choices)
    usage: Usage | None = None
    provider: str | None = None
    created: int | None = None
    provider_data: dict[str, Any] = attrs.field(
        factory=dict, converter=_to_provider_data, validator=_check_provider_data, kw_only=True
    )

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


def with_origin(
    response: ChatCompletionResponse, provider: str, api: str, requested_model: str | None = None
) -> ChatCompletionResponse:
    """``response`` with a :class:`~llmcore.messages.MessageOrigin` on every choice's message
    that has none: ``provider``, ``api`` and the model the response reports (else
    ``requested_model``). The core applies it to every answer it returns; the same object comes
    back when nothing changes.
    """
    origin = MessageOrigin(provider, api, response.model or requested_model)
    if all(c.message.origin is not None for c in response.choices):
        return response
    choices = tuple(
        c
        if c.message.origin is not None
        else attrs.evolve(c, message=attrs.evolve(c.message, origin=origin))
        for c in response.choices
    )
    return attrs.evolve(response, choices=choices)


@attrs_repr
@attrs.frozen(repr=False)
class ToolCallDelta:
    """A fragment of a streamed tool call; fragments with the same ``index`` form one call.

    ``id`` and ``name`` usually come only on the first fragment; ``arguments`` is a piece of JSON
    text to append. ``extra`` carries provider fields to keep with the call.

    ``end=True`` says the call is complete with this fragment (a protocol that announces it,
    such as a ``content_block_stop``): the event view then emits its
    :class:`~llmcore.events.ToolCallEndEvent` at once, instead of when its JSON looks complete
    or the stream closes. Fragments for a call after its end are still kept in the response
    but produce no events.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None
    extra: dict[str, Any] | None = None
    end: bool = False


def _to_tc_deltas(value: Iterable[ToolCallDelta] | None) -> tuple[ToolCallDelta, ...]:
    if type(value) is tuple:
        return value
    return tuple(value or ())


@attrs_repr
@attrs.frozen(repr=False)
class Delta:
    """What one chunk adds to a choice's message.

    ``reasoning_signature`` / ``reasoning_redacted`` carry opaque thinking payloads; a
    ``thinking_block_end`` marks the end of one provider thinking block (Anthropic).

    ``block_end=True`` says the content block this delta is in has ended, after this delta's
    own text, reasoning and tool-call fragments are applied: the open text or thinking block
    (or tool call) gets its end event at once, and the next text starts a new block. Protocols
    that announce block ends (``content_block_stop``) set it; others leave the core to close
    blocks when the next kind starts or the stream ends. A tool call's end is better said on
    its fragment (``ToolCallDelta.end``).

    ``provider_data`` is merged into the message's ``provider_data`` by the accumulation rule
    of this module's docstring (lists appended, other values replaced).
    """

    role: Role | None = None
    content: str | None = None
    reasoning: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = attrs.field(factory=tuple, converter=_to_tc_deltas)
    reasoning_signature: str | None = None
    reasoning_redacted: str | None = None
    thinking_block_end: bool = False
    block_end: bool = False
    provider_data: dict[str, Any] = attrs.field(
        factory=dict, converter=_to_provider_data, validator=_check_provider_data, kw_only=True
    )


@attrs_repr
@attrs.frozen(repr=False)
class ChunkChoice:
    """One choice's part of a stream chunk; ``provider_data`` is merged into the final
    :class:`Choice`'s (see the accumulation rule in this module's docstring)."""

    index: int = 0
    delta: Delta = attrs.field(factory=Delta)
    finish_reason: str | None = None
    stop_reason: StopReason | None = None
    provider_data: dict[str, Any] = attrs.field(
        factory=dict, converter=_to_provider_data, validator=_check_provider_data, kw_only=True
    )


def _to_chunk_choices(value: Iterable[ChunkChoice]) -> tuple[ChunkChoice, ...]:
    return tuple(value)


@attrs_repr
@attrs.frozen(repr=False)
class ChatCompletionChunk:
    """One piece of a streamed answer, in the chunk shape every provider is mapped to.

    ``provider_data`` is merged into the final response's (see the accumulation rule in this
    module's docstring); ``usage``, when set, replaces the usage so far.
    """

    id: str | None = None
    model: str | None = None
    choices: tuple[ChunkChoice, ...] = attrs.field(factory=tuple, converter=_to_chunk_choices)
    usage: Usage | None = None
    provider_data: dict[str, Any] = attrs.field(
        factory=dict, converter=_to_provider_data, validator=_check_provider_data, kw_only=True
    )

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


def _setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[object, Any], None], ...]:
    """The slot setters of ``cls``'s fields ``names`` (which must be all of them, in order)."""
    fields = tuple(a.name for a in attrs.fields(cls))
    if fields != names:  # pragma: no cover - caught by the tests when a field is added
        raise AssertionError(f"{cls.__name__} fields are {fields}, not {names}")
    return tuple(cls.__dict__[name].__set__ for name in names)


_DELTA_SET = _setters(
    Delta,
    (
        "role",
        "content",
        "reasoning",
        "tool_calls",
        "reasoning_signature",
        "reasoning_redacted",
        "thinking_block_end",
        "block_end",
        "provider_data",
    ),
)
_CHOICE_SET = _setters(
    ChunkChoice, ("index", "delta", "finish_reason", "stop_reason", "provider_data")
)
_CHUNK_SET = _setters(ChatCompletionChunk, ("id", "model", "choices", "usage", "provider_data"))


def text_chunk(
    text: str | None,
    *,
    index: int = 0,
    role: Role | None = None,
    id: str | None = None,
    model: str | None = None,
    provider_data: dict[str, Any] | None = None,
) -> ChatCompletionChunk:
    """The chunk that adds ``text`` (and ``role``) to choice ``index``, and nothing else.

    Equal to ``ChatCompletionChunk(id, model, (ChunkChoice(index, Delta(role=role,
    content=text)),), provider_data=provider_data)``, but built several times faster: the
    fields are plain values, so the field converters are not run again (a non-empty
    ``provider_data`` is still checked). Meant for a plugin's per-event path, where most events
    of a long answer carry one piece of text.

    :raises InvalidInputError: ``provider_data`` is not a JSON object.
    """
    if provider_data:
        provider_data = _to_provider_data(provider_data)
        if not all(
            type(k) is str and type(v) in _PLAIN_JSON for k, v in provider_data.items()
        ):  # strings, ints, booleans and nulls need no deeper check
            _check_provider_data(None, None, provider_data)
    else:
        provider_data = {}
    delta = _new(Delta)
    d_role, d_content, d_reasoning, d_tools, d_sig, d_red, d_think_end, d_end, d_data = _DELTA_SET
    d_role(delta, role)
    d_content(delta, text)
    d_reasoning(delta, None)
    d_tools(delta, ())
    d_sig(delta, None)
    d_red(delta, None)
    d_think_end(delta, False)
    d_end(delta, False)
    d_data(delta, {})
    choice = _new(ChunkChoice)
    c_index, c_delta, c_finish, c_stop, c_data = _CHOICE_SET
    c_index(choice, index)
    c_delta(choice, delta)
    c_finish(choice, None)
    c_stop(choice, None)
    c_data(choice, {})
    chunk = _new(ChatCompletionChunk)
    k_id, k_model, k_choices, k_usage, k_data = _CHUNK_SET
    k_id(chunk, id)
    k_model(chunk, model)
    k_choices(chunk, (choice,))
    k_usage(chunk, None)
    k_data(chunk, provider_data)
    return chunk


_new = object.__new__
_PLAIN_JSON = frozenset({str, int, bool, type(None)})


@attrs_repr
@attrs.frozen(repr=False)
class ModelInfo:
    """A model a provider offers; ``extra`` keeps provider fields such as ``owned_by``."""

    id: str
    created: int | None = None
    owned_by: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_plain_dict)

    def __str__(self) -> str:
        return self.id


def _to_models(value: Iterable[ModelInfo]) -> tuple[ModelInfo, ...]:
    models = tuple(items_of("models", value, "ModelInfo"))
    for i, model in enumerate(models):
        if not isinstance(model, ModelInfo):
            fail(f"models[{i}]", f"expected a ModelInfo, got {describe(model)}")
    return models


def _check_next(_instance: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, HttpRequest):
        fail("next_request", f"expected an HttpRequest or None, got {describe(value)}")


@attrs_repr
@attrs.frozen(repr=False)
class ModelPage:
    """One page of a model listing, as ``parse_list_models`` may return it.

    ``models`` are this page's models; ``next_request`` is the request for the next page
    (built by the plugin from the response's cursor, e.g. ``after_id`` or ``nextPageToken``),
    or None on the last page. :meth:`llmcore.Client.list_models` follows ``next_request``
    through the whole send path (base-URL parameters, headers, authentication, retries) up to
    :data:`llmcore.client.MAX_MODEL_PAGES` pages.
    """

    models: tuple[ModelInfo, ...] = attrs.field(converter=_to_models)
    next_request: HttpRequest | None = attrs.field(default=None, validator=_check_next)
