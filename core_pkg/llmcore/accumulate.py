"""Assemble stream chunks into the final response, and into typed block events.

One :class:`StreamAccumulator` per stream. :meth:`feed` takes each unified chunk a plugin yields
and returns the block events it implies (for choice 0); :meth:`response` builds the accumulated
:class:`~llmcore.chat.ChatCompletionResponse` at any time, so a cancelled or broken stream still
has its partial answer.

Tool-call fragments are merged per ``(choice, index)``: the first ``id`` and ``name`` win (some
gateways repeat them in every fragment), argument fragments are appended, and the arguments are
parsed once at the end (empty means ``{}``; invalid JSON keeps the raw text in
``ToolCall.raw_arguments``).

Block ends: a plugin whose protocol announces them sets ``Delta.block_end`` (the open block
ended) or ``ToolCallDelta.end`` (that tool call is complete); the end event
(:class:`~llmcore.events.TextEndEvent`, :class:`~llmcore.events.ToolCallEndEvent` with the whole
call...) is emitted at once. Without them the accumulator ends a block when another kind starts
(a tool call whose JSON is still incomplete lingers until it completes) and the rest at stream
close.

Provider data: chunk, choice and delta ``provider_data`` are merged into the response, choice
and message ones by :func:`llmcore.chat.merge_provider_data` (lists appended, other values
replaced), in stream order. Every message of the response records its
:class:`~llmcore.messages.MessageOrigin` (provider, API and model) when the provider and API are
known.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

from llmcore.chat import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChunkChoice,
    StopReason,
    ToolCallDelta,
    Usage,
    merge_provider_data,
)
from llmcore.messages import Message, MessageOrigin, Role, ThinkingBlock, ToolCall
from llmcore.partial_json import parse_partial_json

if TYPE_CHECKING:
    from llmcore import events as ev
else:  # the event types load when the first one is built
    from llmcore._lazy import lazy_module

    ev = lazy_module("llmcore.events")

__all__ = ["StreamAccumulator", "finish_tool_call"]


def _complete_json(text: str) -> bool:
    """True when ``text`` is a whole JSON document (so a tool call's arguments are done)."""
    if not text.strip():
        return False
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def finish_tool_call(
    id: str | None, name: str | None, arguments: str, extra: dict[str, Any] | None = None
) -> ToolCall:
    """A :class:`ToolCall` from accumulated argument text (invalid JSON kept raw).

    ``NaN`` and ``Infinity`` are not JSON: arguments holding them are kept raw too.

    :param id: the call id (``None`` becomes ``""``).
    :param name: the tool name (``None`` becomes ``""``).
    :param arguments: the argument text as streamed; text that is not a JSON object gives
        ``arguments == {}`` and is kept in ``raw_arguments``.
    :param extra: provider fields that travel with the call.
    :raises InvalidInputError: ``id`` or ``name`` is not a string, or ``extra`` is not a
        JSON object. Bad argument text never raises.
    """
    raw: str | None = None
    parsed: Any = {}
    if arguments.strip():
        try:
            parsed = json.loads(arguments, parse_constant=_not_json)
        except ValueError:
            parsed, raw = {}, arguments
    if not isinstance(parsed, dict):
        parsed, raw = {}, arguments
    return ToolCall(
        id=id or "", name=name or "", arguments=parsed, raw_arguments=raw, extra=extra or {}
    )


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@attrs.define
class _ToolState:
    id: str | None = None
    name: str | None = None
    arguments: list[str] = attrs.Factory(list)
    extra: dict[str, Any] = attrs.Factory(dict)
    content_index: int = -1
    ended: bool = False

    def text(self) -> str:
        return "".join(self.arguments)

    def build(self) -> ToolCall:
        return finish_tool_call(self.id, self.name, self.text(), self.extra)


@attrs.define
class _ThinkingState:
    parts: list[str] = attrs.Factory(list)
    signature: str | None = None
    redacted: str | None = None
    opaque: bool = False  # the API has native thinking blocks (keep them for replay)
    content_index: int = -1


@attrs.define
class _ChoiceState:
    role: Role = Role.ASSISTANT
    text: list[str] = attrs.Factory(list)
    thinking: list[_ThinkingState] = attrs.Factory(list)
    tools: dict[int, _ToolState] = attrs.Factory(dict)
    finish_reason: str | None = None
    stop_reason: StopReason | None = None
    provider_data: dict[str, Any] = attrs.Factory(dict)  # the choice's
    message_data: dict[str, Any] = attrs.Factory(dict)  # the message's (from deltas)
    # block tracking (events): ("text"|"thinking"|"tool", key) of the open block
    open_block: tuple[str, int] | None = None
    # tool calls whose arguments were still incomplete when another block started (interleaved
    # fragments): they stay open and end when their JSON completes or the stream ends
    lingering: set[int] = attrs.Factory(set)
    text_block_parts: list[str] = attrs.Factory(list)
    next_index: int = 0


def _already_merged(so_far: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when merging ``new`` into ``so_far`` would change nothing: every key already holds
    an equal value, and none is a list (lists are appended). Servers repeat the same fields
    (``system_fingerprint``) in every chunk of a stream."""
    return new.items() <= so_far.items() and not any(type(v) is list for v in new.values())


def _plain_text(choice: ChunkChoice) -> bool:
    """True when ``choice`` adds text and nothing else (no role, reasoning, tool calls, block
    end, provider data, finish or stop reason)."""
    delta = choice.delta
    return (
        delta.role is None
        and not delta.reasoning
        and not delta.reasoning_signature
        and not delta.reasoning_redacted
        and not delta.thinking_block_end
        and not delta.tool_calls
        and not delta.block_end
        and not delta.provider_data
        and not choice.provider_data
        and choice.finish_reason is None
        and choice.stop_reason is None
    )


class StreamAccumulator:
    """Collects chunks; knows the partial answer at every point."""

    def __init__(
        self,
        provider: str | None = None,
        api: str | None = None,
        *,
        requested_model: str | None = None,
    ) -> None:
        self.provider = provider
        self.api = api
        self.requested_model = requested_model  # the origin's model when no chunk names one
        self.id: str | None = None
        self.model: str | None = None
        self.usage: Usage | None = None
        self.provider_data: dict[str, Any] = {}
        self._choices: dict[int, _ChoiceState] = {}
        self.chunks_seen = 0

    # --- feeding -----------------------------------------------------------------------------
    def feed(self, chunk: ChatCompletionChunk, *, events: bool = True) -> list[ev.StreamEvent]:
        """Add one chunk; return the block events it produces (choice 0 only).

        ``events=False`` builds no event objects (the answer is accumulated the same way):
        for readers that only want chunks.
        """
        self.chunks_seen += 1
        if self.id is None and chunk.id:
            self.id = chunk.id
        if self.model is None and chunk.model:
            self.model = chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        data = chunk.provider_data
        if data and not _already_merged(self.provider_data, data):
            self.provider_data = merge_provider_data(self.provider_data, data)
        out: list[ev.StreamEvent] = []
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _ChoiceState()
            sink: list[ev.StreamEvent] | None = out if events and choice.index == 0 else None
            delta = choice.delta
            if (
                sink is None
                and delta.content
                and state.open_block is not None
                and state.open_block[0] == "text"
                and _plain_text(choice)
            ):
                # More text in the open text block, no events wanted: all _text would do.
                state.text.append(delta.content)
                state.text_block_parts.append(delta.content)
                continue
            if delta.role is not None:
                state.role = delta.role
            if delta.reasoning or delta.reasoning_signature or delta.reasoning_redacted:
                self._thinking(
                    state,
                    delta.reasoning or "",
                    delta.reasoning_signature,
                    delta.reasoning_redacted,
                    sink,
                )
            if delta.thinking_block_end and state.open_block and state.open_block[0] == "thinking":
                self._close(state, sink)
            if delta.content:
                self._text(state, delta.content, sink)
            for tc in delta.tool_calls:
                self._tool(state, tc, sink)
            if delta.block_end:
                self._end_block(state, sink)
            if delta.provider_data:
                state.message_data = merge_provider_data(state.message_data, delta.provider_data)
            if choice.provider_data:
                state.provider_data = merge_provider_data(state.provider_data, choice.provider_data)
            if choice.finish_reason is not None:
                state.finish_reason = choice.finish_reason
            if choice.stop_reason is not None:
                state.stop_reason = choice.stop_reason
        return out

    def _open(
        self,
        state: _ChoiceState,
        kind: str,
        key: int,
        sink: list[ev.StreamEvent] | None,
        start: ev.StreamEvent | None,
    ) -> int:
        self._close(state, sink)
        if kind != "tool":  # only tool calls interleave; text or thinking ends them all
            for lingering in sorted(state.lingering):
                self._end_tool(state, lingering, sink)
        index = state.next_index
        state.next_index += 1
        state.open_block = (kind, key)
        if sink is not None and start is not None:
            sink.append(start)
        return index

    def _close(self, state: _ChoiceState, sink: list[ev.StreamEvent] | None) -> None:
        block = state.open_block
        if block is None:
            return
        state.open_block = None
        kind, key = block
        if kind == "text":
            content = "".join(state.text_block_parts)
            state.text_block_parts = []
            if sink is not None:
                sink.append(ev.TextEndEvent(key, content))
        elif kind == "thinking":
            th = state.thinking[-1]
            if sink is not None:
                sink.append(ev.ThinkingEndEvent(th.content_index, "".join(th.parts), th.signature))
        elif _complete_json(state.tools[key].text()):
            self._end_tool(state, key, sink)
        else:
            state.lingering.add(key)

    def _end_block(self, state: _ChoiceState, sink: list[ev.StreamEvent] | None) -> None:
        """The plugin said the open block ended: emit its end now, whatever its content."""
        block = state.open_block
        if block is not None and block[0] == "tool":
            state.open_block = None
            self._end_tool(state, block[1], sink)
        else:
            self._close(state, sink)

    def _end_tool(self, state: _ChoiceState, key: int, sink: list[ev.StreamEvent] | None) -> None:
        tool = state.tools[key]
        tool.ended = True
        state.lingering.discard(key)
        if sink is not None:
            sink.append(ev.ToolCallEndEvent(tool.content_index, tool.build()))

    def _thinking(
        self,
        state: _ChoiceState,
        text: str,
        signature: str | None,
        redacted: str | None,
        sink: list[ev.StreamEvent] | None,
    ) -> None:
        if state.open_block is None or state.open_block[0] != "thinking":
            th = _ThinkingState()
            th.content_index = state.next_index
            state.thinking.append(th)
            self._open(
                state, "thinking", th.content_index, sink, ev.ThinkingStartEvent(th.content_index)
            )
        th = state.thinking[-1]
        if text:
            th.parts.append(text)
            if sink is not None:
                sink.append(ev.ThinkingDeltaEvent(th.content_index, text))
        if signature:
            th.signature = (th.signature or "") + signature
            th.opaque = True
        if redacted:
            th.redacted = (th.redacted or "") + redacted
            th.opaque = True

    def _text(self, state: _ChoiceState, text: str, sink: list[ev.StreamEvent] | None) -> None:
        if state.open_block is None or state.open_block[0] != "text":
            index = state.next_index
            self._open(state, "text", index, sink, ev.TextStartEvent(index))
        state.text.append(text)
        state.text_block_parts.append(text)
        if sink is not None and state.open_block is not None:
            sink.append(ev.TextDeltaEvent(state.open_block[1], text))

    def _tool(
        self, state: _ChoiceState, tc: ToolCallDelta, sink: list[ev.StreamEvent] | None
    ) -> None:
        tool = state.tools.get(tc.index)
        if tool is None:
            tool = state.tools[tc.index] = _ToolState()
        if tool.id is None and tc.id:
            tool.id = tc.id
        if tool.name is None and tc.name:
            tool.name = tc.name
        if tc.extra:
            tool.extra.update(tc.extra)
        if tool.ended:  # fragments after the plugin's end: kept, no more events
            if tc.arguments:
                tool.arguments.append(tc.arguments)
            return
        if tool.content_index < 0:
            tool.content_index = state.next_index
            self._open(
                state,
                "tool",
                tc.index,
                sink,
                ev.ToolCallStartEvent(tool.content_index, tool.id, tool.name),
            )
        if tc.arguments:
            tool.arguments.append(tc.arguments)
            if sink is not None:
                sink.append(
                    ev.ToolCallDeltaEvent(
                        tool.content_index,
                        tc.arguments,
                        parse_partial_json(tool.text()),
                        tool.id,
                        tool.name,
                    )
                )
            if tc.index in state.lingering and _complete_json(tool.text()):
                self._end_tool(state, tc.index, sink)
        if tc.end and not tool.ended:
            if state.open_block == ("tool", tc.index):
                state.open_block = None
            self._end_tool(state, tc.index, sink)

    # --- results -----------------------------------------------------------------------------
    def close_blocks(self) -> list[ev.StreamEvent]:
        """End every open block (choice 0 events), e.g. when the stream finished."""
        out: list[ev.StreamEvent] = []
        for index, state in self._choices.items():
            sink = out if index == 0 else None
            block = state.open_block
            state.open_block = None
            if block is not None and block[0] == "tool":
                state.lingering.add(block[1])
            elif block is not None:
                state.open_block = block
                self._close(state, sink)
            for key in sorted(state.lingering):
                self._end_tool(state, key, sink)
        return out

    @property
    def finished(self) -> bool:
        """True when every choice seen so far has a finish reason (and there is one)."""
        return bool(self._choices) and all(
            s.finish_reason is not None or s.stop_reason is not None for s in self._choices.values()
        )

    def origin(self) -> MessageOrigin | None:
        """Where the answer comes from (None when the provider or API is unknown)."""
        if not self.provider or not self.api:
            return None
        return MessageOrigin(self.provider, self.api, self.model or self.requested_model)

    def response(self, *, stop_reason: StopReason | None = None) -> ChatCompletionResponse:
        """The answer so far. ``stop_reason`` overrides every choice's (aborted, error)."""
        origin = self.origin()
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            tool_calls = tuple(state.tools[i].build() for i in sorted(state.tools))
            reasoning = "\n\n".join("".join(t.parts) for t in state.thinking if t.parts) or None
            blocks = tuple(
                ThinkingBlock("".join(t.parts), t.signature, t.redacted, self.provider, self.api)
                for t in state.thinking
                if t.opaque
            )
            message = Message(
                state.role,
                "".join(state.text),
                tool_calls=tool_calls,
                reasoning=reasoning,
                thinking=blocks,
                origin=origin,
                provider_data=state.message_data,
            )
            reason = stop_reason or state.stop_reason
            if reason is None:
                reason = StopReason.TOOL_USE if tool_calls else StopReason.STOP
            choices.append(
                Choice(
                    index,
                    message,
                    state.finish_reason,
                    reason,
                    provider_data=state.provider_data,
                )
            )
        if not choices and stop_reason is not None:
            choices.append(Choice(0, Message(Role.ASSISTANT, origin=origin), None, stop_reason))
        return ChatCompletionResponse(
            id=self.id,
            model=self.model,
            choices=tuple(choices),
            usage=self.usage,
            provider=self.provider,
            provider_data=self.provider_data,
        )
