"""The agent loop: model turns, tools run by llmcore, events for a UI, steering and abort.

An :class:`Agent` sends the conversation to a model, runs the tools the model calls (validated
with :func:`~llmcore.tools.validate_tool_call`, in parallel on a thread pool by default), appends
their results and calls the model again, until the assistant stops::

    tools = [AgentTool.from_function(get_weather)]
    agent = Agent(client, AgentOptions(model="gpt-4o", tools=tools))
    agent.prompt_text("What is the weather in Paris?")   # blocks until the run ends
    print(agent.state.messages[-1].text())

Everything is synchronous: :meth:`Agent.prompt_text` blocks, listeners are called on the thread
that runs the loop, and :meth:`Agent.abort`, :meth:`Agent.steer` and :meth:`Agent.follow_up` may
be called from any other thread. Events come in this order::

    agent_start
      turn_start
        message_start / message_end           (each prompt, steering or follow-up message)
        message_start, message_update*, message_end      (the assistant's streamed answer)
        tool_execution_start*, tool_execution_update*, tool_execution_end*
        message_start / message_end           (each tool result, in the assistant's order)
      turn_end
      ... more turns while the model calls tools or messages are queued ...
    agent_end

:func:`agent_loop` (a generator of events) and :func:`run_agent_loop` are the same loop without
an :class:`Agent` object.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal, Union

import attrs

from llmcore import events as ev
from llmcore import serde
from llmcore._repr import attrs_repr
from llmcore.cancel import CancelHandle, CancelledError
from llmcore.chat import ChatCompletionRequest, ReasoningEffort, StopReason
from llmcore.content import Content
from llmcore.errors import InvalidInputError, LlmError
from llmcore.messages import Message, Role, Tool, ToolCall
from llmcore.tool_schema import convert_arguments
from llmcore.tools import ToolValidationError, tool_from_function, validate_tool_arguments

if TYPE_CHECKING:
    from llmcore.client import Client

__all__ = [
    "AfterToolCallContext",
    "AfterToolCallResult",
    "Agent",
    "AgentEndEvent",
    "AgentError",
    "AgentEvent",
    "AgentLoopConfig",
    "AgentOptions",
    "AgentStartEvent",
    "AgentState",
    "AgentTool",
    "AgentToolResult",
    "BeforeToolCallContext",
    "BeforeToolCallResult",
    "MessageEndEvent",
    "MessageStartEvent",
    "MessageUpdateEvent",
    "NextTurn",
    "StreamFunction",
    "Subscription",
    "ToolExecutionEndEvent",
    "ToolExecutionStartEvent",
    "ToolExecutionUpdateEvent",
    "TurnContext",
    "TurnEndEvent",
    "TurnStartEvent",
    "UnfinishedTurn",
    "agent_loop",
    "client_stream_function",
    "default_convert_to_llm",
    "run_agent_loop",
]

log = logging.getLogger("llmcore")

ExecutionMode = Literal["parallel", "sequential"]
QueueMode = Literal["one-at-a-time", "all"]

StreamFunction = Callable[[ChatCompletionRequest, CancelHandle], Iterable[ev.StreamEvent]]
"""``stream(request, cancel)``: the typed events of one model call, ending with a
:class:`~llmcore.events.DoneEvent` or an :class:`~llmcore.events.ErrorEvent`. It may raise an
:class:`~llmcore.errors.LlmError` before the first event (the turn then fails with it)."""


class AgentError(LlmError):
    """The agent cannot do what was asked: a run is already going, or nothing to continue from."""

    retryable = False


# --- messages -----------------------------------------------------------------------------------
@attrs_repr
@attrs.frozen(repr=False)
class UnfinishedTurn:
    """An assistant turn that was aborted or failed, kept in the agent's messages for the app.

    ``message`` is the partial assistant message (what had streamed), ``stop_reason`` is
    ``aborted`` or ``error`` and ``error`` the error text. It is never sent to a model: the loop
    drops it from what it sends next (see :func:`llmcore.handoff.history_message`).
    """

    message: Message
    stop_reason: StopReason
    error: str | None = None
    type: Literal["unfinished_turn"] = "unfinished_turn"


AgentMessage = Any
"""What the agent's messages hold: :class:`~llmcore.messages.Message` values,
:class:`UnfinishedTurn` records and any app-owned custom message (kept in state, turned into
model messages, or dropped, by ``convert_to_llm``)."""


def default_convert_to_llm(messages: Sequence[AgentMessage]) -> list[Message]:
    """The default ``convert_to_llm``: keep :class:`~llmcore.messages.Message` values, drop the
    rest (custom messages and unfinished turns)."""
    return [m for m in messages if isinstance(m, Message)]


# --- tools --------------------------------------------------------------------------------------
@attrs_repr
@attrs.frozen(repr=False)
class AgentToolResult:
    """What a tool returns: ``content`` for the model, ``details`` for the app only (not sent),
    and ``terminate``: a hint to end the run after this batch (honoured only when every result of
    the batch says so)."""

    content: str | Content = ""
    details: Any = None
    terminate: bool = False


ToolUpdate = Callable[[AgentToolResult], None]


ToolExecute = Callable[[str, dict[str, Any], CancelHandle, ToolUpdate], Any]
"""``execute(tool_call_id, args, cancel, on_update)``: run the tool with validated ``args``;
poll or wait on ``cancel`` to stop early; call ``on_update`` with partial results. Returns an
:class:`AgentToolResult`, a str or Content, or anything JSON-encodable."""


def _as_result(value: Any) -> AgentToolResult:
    if isinstance(value, AgentToolResult):
        return value
    if isinstance(value, (str, Content)):
        return AgentToolResult(value)
    try:
        return AgentToolResult(json.dumps(serde.to_dict(value), ensure_ascii=False))
    except (TypeError, ValueError):
        return AgentToolResult(str(value))


@attrs_repr
@attrs.frozen(repr=False)
class AgentTool:
    """A tool the agent runs: its ``definition`` (a :class:`~llmcore.messages.Tool`), a
    ``label`` for UIs, its ``execute`` function, an optional ``prepare_arguments`` (called on the
    raw arguments before validation, e.g. to accept an older argument shape) and an
    ``execution_mode`` override: ``"sequential"`` runs the whole batch it is part of in order.

    :meth:`from_function` builds one from a typed Python function.
    """

    definition: Tool
    execute: ToolExecute
    label: str = ""
    prepare_arguments: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    execution_mode: ExecutionMode | None = None

    @property
    def name(self) -> str:
        """The tool's name, as the model calls it."""
        return self.definition.name

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        label: str | None = None,
        execution_mode: ExecutionMode | None = None,
    ) -> AgentTool:
        """A tool described by ``fn`` (see :func:`~llmcore.tools.tool_from_function`) that calls
        ``fn(**args)`` (arguments converted to its annotated types). A str or Content result is
        sent as it is, an :class:`AgentToolResult` as given, anything else JSON-encoded.

        :raises ConfigurationError: ``fn``'s signature cannot be described as a JSON Schema.
        """
        definition = tool_from_function(fn, name=name, description=description)

        def execute(
            _tool_call_id: str, args: dict[str, Any], _cancel: CancelHandle, _update: ToolUpdate
        ) -> Any:
            return fn(**convert_arguments(fn, args))

        return cls(definition, execute, label or definition.name, None, execution_mode)


@attrs_repr
@attrs.frozen(repr=False)
class BeforeToolCallContext:
    """What ``before_tool_call`` sees: the assistant message, the call, its validated
    arguments and the messages so far."""

    assistant_message: Message
    tool_call: ToolCall
    args: dict[str, Any]
    messages: tuple[AgentMessage, ...]


@attrs_repr
@attrs.frozen(repr=False)
class BeforeToolCallResult:
    """``block=True`` skips the tool (the model gets an error result saying ``reason``);
    ``args`` replaces the arguments (validated again)."""

    block: bool = False
    reason: str | None = None
    args: dict[str, Any] | None = None


@attrs_repr
@attrs.frozen(repr=False)
class AfterToolCallContext:
    """What ``after_tool_call`` sees: the call, its arguments and its result."""

    assistant_message: Message
    tool_call: ToolCall
    args: dict[str, Any]
    result: AgentToolResult
    is_error: bool
    messages: tuple[AgentMessage, ...]


@attrs_repr
@attrs.frozen(repr=False)
class AfterToolCallResult:
    """Fields to replace in the result (``None`` keeps the tool's own)."""

    content: str | Content | None = None
    details: Any = None
    is_error: bool | None = None
    terminate: bool | None = None


@attrs_repr
@attrs.frozen(repr=False)
class TurnContext:
    """A finished turn: its assistant message, its tool results and the messages so far."""

    assistant_message: Message
    tool_results: tuple[Message, ...]
    messages: tuple[AgentMessage, ...]


@attrs_repr
@attrs.frozen(repr=False)
class NextTurn:
    """Changes for the next model call (``None`` keeps the current value)."""

    model: str | None = None
    system_prompt: str | None = None
    thinking_level: ReasoningEffort | str | None = None
    tools: tuple[AgentTool, ...] | None = None


# --- events -------------------------------------------------------------------------------------
class _Event:
    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-compatible data (its ``type`` included)."""
        data: dict[str, Any] = serde.to_dict(self)
        return data


@attrs_repr
@attrs.frozen(repr=False)
class AgentStartEvent(_Event):
    """A run starts."""

    type: Literal["agent_start"] = "agent_start"


@attrs_repr
@attrs.frozen(repr=False)
class TurnStartEvent(_Event):
    """A turn (one model call and the tools it asks for) starts."""

    type: Literal["turn_start"] = "turn_start"


@attrs_repr
@attrs.frozen(repr=False)
class MessageStartEvent(_Event):
    """A message enters the conversation (a prompt, an assistant answer starting, a result)."""

    message: AgentMessage
    type: Literal["message_start"] = "message_start"


@attrs_repr
@attrs.frozen(repr=False)
class MessageUpdateEvent(_Event):
    """The streaming assistant message grew: ``message`` is the partial message so far and
    ``event`` the stream event that changed it."""

    message: Message
    event: ev.StreamEvent
    type: Literal["message_update"] = "message_update"


@attrs_repr
@attrs.frozen(repr=False)
class MessageEndEvent(_Event):
    """A message is complete; for an assistant message ``stop_reason`` says how it ended."""

    message: AgentMessage
    stop_reason: StopReason | None = None
    type: Literal["message_end"] = "message_end"


@attrs_repr
@attrs.frozen(repr=False)
class ToolExecutionStartEvent(_Event):
    """A tool call is about to run (or be refused)."""

    tool_call_id: str
    tool_name: str
    args: dict[str, Any]
    type: Literal["tool_execution_start"] = "tool_execution_start"


@attrs_repr
@attrs.frozen(repr=False)
class ToolExecutionUpdateEvent(_Event):
    """A running tool reported a partial result."""

    tool_call_id: str
    tool_name: str
    partial_result: AgentToolResult
    type: Literal["tool_execution_update"] = "tool_execution_update"


@attrs_repr
@attrs.frozen(repr=False)
class ToolExecutionEndEvent(_Event):
    """A tool call finished: ``result`` is the tool-result message the model will see."""

    tool_call_id: str
    tool_name: str
    result: Message
    is_error: bool
    details: Any = None
    type: Literal["tool_execution_end"] = "tool_execution_end"


@attrs_repr
@attrs.frozen(repr=False)
class TurnEndEvent(_Event):
    """A turn ended: its assistant message and its tool results (in the assistant's order)."""

    message: Message
    tool_results: tuple[Message, ...]
    stop_reason: StopReason | None = None
    type: Literal["turn_end"] = "turn_end"


@attrs_repr
@attrs.frozen(repr=False)
class AgentEndEvent(_Event):
    """The run ended; ``messages`` are the messages it added."""

    messages: tuple[AgentMessage, ...]
    error: str | None = None
    type: Literal["agent_end"] = "agent_end"


AgentEvent = Union[
    AgentStartEvent,
    TurnStartEvent,
    MessageStartEvent,
    MessageUpdateEvent,
    MessageEndEvent,
    ToolExecutionStartEvent,
    ToolExecutionUpdateEvent,
    ToolExecutionEndEvent,
    TurnEndEvent,
    AgentEndEvent,
]


# --- the low-level loop -------------------------------------------------------------------------
def client_stream_function(client: Client) -> StreamFunction:
    """The stream function of a :class:`~llmcore.Client`: its typed stream events."""

    def stream(request: ChatCompletionRequest, cancel: CancelHandle) -> Iterator[ev.StreamEvent]:
        with client.chat_completion_stream(request, cancel=cancel) as chat:
            yield from chat.events()

    return stream


def _to_tools(tools: Iterable[AgentTool]) -> tuple[AgentTool, ...]:
    return tuple(tools)


def _no_messages() -> list[AgentMessage]:
    return []


@attrs_repr
@attrs.define(repr=False)
class AgentLoopConfig:
    """Everything the loop needs besides the conversation.

    ``convert_to_llm`` turns the agent's messages (custom ones included) into model messages;
    ``transform_context`` prunes or compacts the agent's messages before each call (unfinished
    turns are already removed). ``request_options`` are extra
    :class:`~llmcore.ChatCompletionRequest` fields (``temperature=``, ``max_tokens=``...).
    """

    model: str
    stream: StreamFunction
    system_prompt: str | None = None
    tools: tuple[AgentTool, ...] = attrs.field(default=(), converter=_to_tools)
    thinking_level: ReasoningEffort | str | None = None
    request_options: dict[str, Any] = attrs.field(factory=dict)
    convert_to_llm: Callable[[Sequence[AgentMessage]], Sequence[Message]] = default_convert_to_llm
    transform_context: Callable[[list[AgentMessage]], list[AgentMessage]] | None = None
    tool_execution: ExecutionMode = "parallel"
    max_workers: int | None = None
    before_tool_call: Callable[[BeforeToolCallContext], BeforeToolCallResult | None] | None = None
    after_tool_call: Callable[[AfterToolCallContext], AfterToolCallResult | None] | None = None
    should_stop_after_turn: Callable[[TurnContext], bool] | None = None
    prepare_next_turn: Callable[[TurnContext], NextTurn | None] | None = None
    get_steering_messages: Callable[[], list[AgentMessage]] = _no_messages
    get_follow_up_messages: Callable[[], list[AgentMessage]] = _no_messages


def _effort(level: ReasoningEffort | str | None) -> ReasoningEffort | None:
    if level is None or level == "off":
        return None
    try:
        return ReasoningEffort(level)
    except ValueError:
        known = ", ".join(repr(e.value) for e in ReasoningEffort)
        raise InvalidInputError.at(
            "thinking_level", f"unknown level {level!r}; expected 'off' or one of {known}"
        ) from None


class _Partial:
    """The assistant message as it streams, rebuilt from block events."""

    def __init__(self) -> None:
        self.text: dict[int, str] = {}
        self.thinking: dict[int, str] = {}
        self.calls: dict[int, ToolCall] = {}

    def feed(self, event: ev.StreamEvent) -> None:
        if isinstance(event, ev.TextDeltaEvent):
            self.text[event.content_index] = self.text.get(event.content_index, "") + event.delta
        elif isinstance(event, ev.TextEndEvent):
            self.text[event.content_index] = event.content
        elif isinstance(event, ev.ThinkingDeltaEvent):
            i = event.content_index
            self.thinking[i] = self.thinking.get(i, "") + event.delta
        elif isinstance(event, ev.ThinkingEndEvent):
            self.thinking[event.content_index] = event.content
        elif isinstance(event, ev.ToolCallEndEvent):
            self.calls[event.content_index] = event.tool_call

    def message(self) -> Message:
        text = "".join(self.text[i] for i in sorted(self.text))
        reasoning = "\n\n".join(self.thinking[i] for i in sorted(self.thinking)) or None
        calls = [self.calls[i] for i in sorted(self.calls)]
        return Message(Role.ASSISTANT, text, tool_calls=calls, reasoning=reasoning)


_Step = Generator[AgentEvent, None, Any]


class _Loop:
    def __init__(
        self, messages: list[AgentMessage], config: AgentLoopConfig, cancel: CancelHandle
    ) -> None:
        self.messages = messages
        self.config = config
        self.cancel = cancel
        self.new: list[AgentMessage] = []
        self.error: str | None = None

    def add(self, message: AgentMessage) -> Generator[AgentEvent, None, None]:
        self.messages.append(message)
        self.new.append(message)
        yield MessageStartEvent(message)
        yield MessageEndEvent(message)

    def request(self) -> ChatCompletionRequest:
        cfg = self.config
        kept = [m for m in self.messages if not isinstance(m, UnfinishedTurn)]
        if cfg.transform_context is not None:
            kept = cfg.transform_context(kept)
        llm = list(cfg.convert_to_llm(kept))
        head = [Message.system(cfg.system_prompt)] if cfg.system_prompt else []
        options = dict(cfg.request_options)
        options.setdefault("tools", tuple(t.definition for t in cfg.tools) or None)
        effort = _effort(cfg.thinking_level)
        if effort is not None:
            options.setdefault("reasoning_effort", effort)
        return ChatCompletionRequest(cfg.model, head + llm, **options)

    def stream_assistant(self) -> Generator[AgentEvent, None, tuple[Message, StopReason]]:
        partial = _Partial()
        started = False
        final: Message | None = None
        reason = StopReason.ERROR
        try:
            request = self.request()
            for event in self.config.stream(request, self.cancel):
                if isinstance(event, ev.StartEvent):
                    started = True
                    yield MessageStartEvent(event.partial)
                elif isinstance(event, ev.DoneEvent):
                    final, reason = event.message, event.reason
                    break
                elif isinstance(event, ev.ErrorEvent):
                    final, reason = event.partial, event.reason
                    if event.error is not None:
                        self.error = str(event.error)
                    break
                else:
                    if not started:
                        started = True
                        yield MessageStartEvent(Message(Role.ASSISTANT))
                    partial.feed(event)
                    yield MessageUpdateEvent(partial.message(), event)
        except LlmError as exc:
            self.error = str(exc)
            reason = StopReason.ABORTED if self.cancel.cancelled else StopReason.ERROR
        if final is None:
            final = partial.message()
            if reason not in (StopReason.ERROR, StopReason.ABORTED):
                reason = StopReason.ERROR
                self.error = self.error or "the stream ended without a final event"
        if self.cancel.cancelled and reason is not StopReason.ABORTED:
            reason = StopReason.ABORTED if reason is StopReason.ERROR else reason
        if not started:
            yield MessageStartEvent(Message(Role.ASSISTANT))
        unfinished = reason in (StopReason.ABORTED, StopReason.ERROR)
        if unfinished and reason is StopReason.ABORTED:
            self.error = None
        stored: AgentMessage = (
            UnfinishedTurn(final, reason, self.error if reason is StopReason.ERROR else None)
            if unfinished
            else final
        )
        self.messages.append(stored)
        self.new.append(stored)
        yield MessageEndEvent(final, reason)
        return final, reason

    # --- tools ----------------------------------------------------------------------------------
    def prepare(
        self, assistant: Message, call: ToolCall
    ) -> tuple[AgentTool | None, dict[str, Any], Message | None]:
        """The tool and validated args, or an error result for the model."""
        tool = next((t for t in self.config.tools if t.name == call.name), None)
        if tool is None:
            known = ", ".join(repr(t.name) for t in self.config.tools) or "none"
            return None, {}, _error_result(call, f"unknown tool {call.name!r}; known: {known}")
        try:
            raw: Any = call.arguments
            if call.raw_arguments is not None:
                raw = call.raw_arguments
            if tool.prepare_arguments is not None and not isinstance(raw, str):
                raw = tool.prepare_arguments(dict(raw))
            args = validate_tool_arguments(tool.definition, raw)
            hook = self.config.before_tool_call
            if hook is not None:
                ctx = BeforeToolCallContext(assistant, call, args, tuple(self.messages))
                verdict = hook(ctx)
                if verdict is not None and verdict.block:
                    reason = verdict.reason or f"tool call {call.name!r} was blocked"
                    return tool, args, _error_result(call, reason)
                if verdict is not None and verdict.args is not None:
                    args = validate_tool_arguments(tool.definition, verdict.args)
        except ToolValidationError as exc:
            return tool, {}, _error_result(call, str(exc))
        return tool, args, None

    def run_tool(
        self,
        assistant: Message,
        tool: AgentTool,
        call: ToolCall,
        args: dict[str, Any],
        on_update: ToolUpdate,
    ) -> tuple[Message, AgentToolResult]:
        is_error = False
        try:
            self.cancel.check()
            result = _as_result(tool.execute(call.id, args, self.cancel, on_update))
        except CancelledError:
            result, is_error = AgentToolResult("the tool call was aborted"), True
        except Exception as exc:
            log.debug("llmcore: agent tool %r raised", call.name, exc_info=True)
            result, is_error = AgentToolResult(f"{type(exc).__name__}: {exc}"), True
        hook = self.config.after_tool_call
        if hook is not None:
            ctx = AfterToolCallContext(
                assistant, call, args, result, is_error, tuple(self.messages)
            )
            change = hook(ctx)
            if change is not None:
                result = AgentToolResult(
                    result.content if change.content is None else change.content,
                    result.details if change.details is None else change.details,
                    result.terminate if change.terminate is None else change.terminate,
                )
                is_error = is_error if change.is_error is None else change.is_error
        message = Message.tool(call.id, result.content, name=call.name, is_error=is_error)
        return message, result

    def execute_tools(
        self, assistant: Message
    ) -> Generator[AgentEvent, None, tuple[list[Message], bool]]:
        calls = assistant.tool_calls
        results: dict[int, Message] = {}
        outcomes: dict[int, AgentToolResult] = {}
        runnable: list[tuple[int, AgentTool, ToolCall, dict[str, Any]]] = []
        sequential = self.config.tool_execution == "sequential" or any(
            t.execution_mode == "sequential"
            for c in calls
            for t in self.config.tools
            if t.name == c.name
        )
        if sequential:
            for i, call in enumerate(calls):
                yield from self._one_sequential(assistant, i, call, results, outcomes)
        else:
            for i, call in enumerate(calls):
                tool, args, refused = self.prepare(assistant, call)
                yield ToolExecutionStartEvent(call.id, call.name, args)
                if refused is not None or tool is None:
                    assert refused is not None
                    results[i] = refused
                    yield ToolExecutionEndEvent(call.id, call.name, refused, True)
                else:
                    runnable.append((i, tool, call, args))
            yield from self._parallel(assistant, runnable, results, outcomes)
        ordered = [results[i] for i in range(len(calls))]
        for message in ordered:
            yield from self.add(message)
        terminate = bool(ordered) and all(
            i in outcomes and outcomes[i].terminate for i in range(len(calls))
        )
        return ordered, terminate

    def _one_sequential(
        self,
        assistant: Message,
        i: int,
        call: ToolCall,
        results: dict[int, Message],
        outcomes: dict[int, AgentToolResult],
    ) -> Generator[AgentEvent, None, None]:
        tool, args, refused = self.prepare(assistant, call)
        yield ToolExecutionStartEvent(call.id, call.name, args)
        if refused is not None or tool is None:
            assert refused is not None
            results[i] = refused
            yield ToolExecutionEndEvent(call.id, call.name, refused, True)
            return
        updates: queue.SimpleQueue[AgentToolResult] = queue.SimpleQueue()
        message, outcome = self.run_tool(assistant, tool, call, args, updates.put)
        while not updates.empty():
            yield ToolExecutionUpdateEvent(call.id, call.name, updates.get())
        results[i], outcomes[i] = message, outcome
        yield ToolExecutionEndEvent(call.id, call.name, message, message.is_error, outcome.details)

    def _parallel(
        self,
        assistant: Message,
        runnable: list[tuple[int, AgentTool, ToolCall, dict[str, Any]]],
        results: dict[int, Message],
        outcomes: dict[int, AgentToolResult],
    ) -> Generator[AgentEvent, None, None]:
        if not runnable:
            return
        inbox: queue.SimpleQueue[tuple[int, ToolCall, Any, bool]] = queue.SimpleQueue()

        def work(i: int, tool: AgentTool, call: ToolCall, args: dict[str, Any]) -> None:
            try:
                done = self.run_tool(
                    assistant, tool, call, args, lambda p: inbox.put((i, call, p, False))
                )
            except BaseException as exc:  # a failing hook: re-raised on the loop's thread
                inbox.put((i, call, exc, True))
                return
            inbox.put((i, call, done, True))

        workers = self.config.max_workers or len(runnable)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llmcore-tool") as pool:
            for item in runnable:
                pool.submit(work, *item)
            left = len(runnable)
            while left:
                i, call, payload, finished = inbox.get()
                if not finished:
                    yield ToolExecutionUpdateEvent(call.id, call.name, payload)
                    continue
                left -= 1
                if isinstance(payload, BaseException):
                    raise payload
                message, outcome = payload
                results[i], outcomes[i] = message, outcome
                yield ToolExecutionEndEvent(
                    call.id, call.name, message, message.is_error, outcome.details
                )

    # --- the run --------------------------------------------------------------------------------
    def run(self, prompts: Sequence[AgentMessage]) -> Generator[AgentEvent, None, list[Any]]:
        cfg = self.config
        yield AgentStartEvent()
        yield TurnStartEvent()
        for prompt in prompts:
            yield from self.add(prompt)
        pending = list(cfg.get_steering_messages())
        first = True
        while True:
            more = True
            while more or pending:
                if not first:
                    yield TurnStartEvent()
                first = False
                for message in pending:
                    yield from self.add(message)
                pending = []
                assistant, reason = yield from self.stream_assistant()
                if reason in (StopReason.ABORTED, StopReason.ERROR):
                    yield TurnEndEvent(assistant, (), reason)
                    yield AgentEndEvent(tuple(self.new), self.error)
                    return self.new
                results: list[Message] = []
                terminate = False
                if assistant.tool_calls:
                    results, terminate = yield from self.execute_tools(assistant)
                more = bool(assistant.tool_calls) and not terminate
                yield TurnEndEvent(assistant, tuple(results), reason)
                turn = TurnContext(assistant, tuple(results), tuple(self.messages))
                if self.cancel.cancelled or (
                    cfg.should_stop_after_turn is not None and cfg.should_stop_after_turn(turn)
                ):
                    yield AgentEndEvent(tuple(self.new), self.error)
                    return self.new
                if cfg.prepare_next_turn is not None:
                    self._apply(cfg.prepare_next_turn(turn))
                pending = list(cfg.get_steering_messages())
            pending = list(cfg.get_follow_up_messages())
            if not pending:
                break
        yield AgentEndEvent(tuple(self.new), self.error)
        return self.new

    def _apply(self, change: NextTurn | None) -> None:
        if change is None:
            return
        cfg = self.config
        if change.model is not None:
            cfg.model = change.model
        if change.system_prompt is not None:
            cfg.system_prompt = change.system_prompt
        if change.thinking_level is not None:
            cfg.thinking_level = change.thinking_level
        if change.tools is not None:
            cfg.tools = tuple(change.tools)


def _error_result(call: ToolCall, text: str) -> Message:
    return Message.tool(call.id, text, name=call.name or None, is_error=True)


def _check_continue(messages: Sequence[AgentMessage]) -> None:
    sendable = [m for m in messages if not isinstance(m, UnfinishedTurn)]
    if not sendable:
        raise AgentError("nothing to continue from: the agent has no messages")
    last = sendable[-1]
    if isinstance(last, Message) and last.role not in (Role.USER, Role.TOOL):
        raise AgentError(
            f"cannot continue from a {last.role.value} message: the last message must be a "
            "user or tool-result message (send a prompt instead)"
        )


def agent_loop(
    prompts: Sequence[AgentMessage],
    messages: list[AgentMessage],
    config: AgentLoopConfig,
    cancel: CancelHandle | None = None,
) -> Generator[AgentEvent, None, list[AgentMessage]]:
    """Run the agent loop, yielding its events; the generator returns the messages it added.

    ``messages`` (the conversation so far) is extended in place with the prompts, assistant
    turns and tool results. With no ``prompts`` the loop continues the conversation: its last
    message must be a user or tool-result message.

    :param prompts: the messages that start the run (none: continue).
    :param messages: the conversation, extended as the run goes.
    :param config: the model, stream function, tools and hooks.
    :param cancel: a handle that aborts the run from any thread (the stream and running tools).
    :raises AgentError: nothing to continue from.
    """
    if not prompts:
        _check_continue(messages)
    loop = _Loop(messages, config, cancel or CancelHandle())
    return (yield from loop.run(prompts))


def run_agent_loop(
    prompts: Sequence[AgentMessage],
    messages: list[AgentMessage],
    config: AgentLoopConfig,
    *,
    cancel: CancelHandle | None = None,
    on_event: Callable[[AgentEvent], None] | None = None,
) -> list[AgentMessage]:
    """Run :func:`agent_loop` to its end, calling ``on_event`` with each event; returns the
    messages the run added."""
    steps = agent_loop(prompts, messages, config, cancel)
    while True:
        try:
            event = next(steps)
        except StopIteration as stop:
            added: list[AgentMessage] = stop.value
            return added
        if on_event is not None:
            on_event(event)


# --- the Agent ----------------------------------------------------------------------------------
@attrs_repr
@attrs.define(repr=False)
class AgentState:
    """The agent's state. Read it freely; change it through the :class:`Agent` setters.

    ``streaming_message`` is the partial assistant message while it streams,
    ``pending_tool_calls`` the ids of the tool calls running now, ``error`` the last run's error.
    """

    system_prompt: str | None = None
    model: str = ""
    thinking_level: ReasoningEffort | str | None = None
    tools: tuple[AgentTool, ...] = ()
    messages: list[AgentMessage] = attrs.field(factory=list)
    is_streaming: bool = False
    streaming_message: Message | None = None
    pending_tool_calls: frozenset[str] = frozenset()
    error: str | None = None


@attrs_repr
@attrs.define(repr=False)
class AgentOptions:
    """How an :class:`Agent` runs. ``stream`` replaces the client's stream (e.g. a proxy);
    ``steering_mode`` / ``follow_up_mode`` say whether queued messages are delivered one per
    turn (``"one-at-a-time"``) or all at once (``"all"``). The rest is as in
    :class:`AgentLoopConfig`."""

    model: str = ""
    system_prompt: str | None = None
    thinking_level: ReasoningEffort | str | None = None
    tools: Sequence[AgentTool] = ()
    messages: Sequence[AgentMessage] = ()
    stream: StreamFunction | None = None
    request_options: dict[str, Any] = attrs.field(factory=dict)
    convert_to_llm: Callable[[Sequence[AgentMessage]], Sequence[Message]] = default_convert_to_llm
    transform_context: Callable[[list[AgentMessage]], list[AgentMessage]] | None = None
    tool_execution: ExecutionMode = "parallel"
    max_workers: int | None = None
    before_tool_call: Callable[[BeforeToolCallContext], BeforeToolCallResult | None] | None = None
    after_tool_call: Callable[[AfterToolCallContext], AfterToolCallResult | None] | None = None
    should_stop_after_turn: Callable[[TurnContext], bool] | None = None
    prepare_next_turn: Callable[[TurnContext], NextTurn | None] | None = None
    steering_mode: QueueMode = "one-at-a-time"
    follow_up_mode: QueueMode = "one-at-a-time"


Listener = Callable[[AgentEvent], None]


class Subscription:
    """A listener's registration: :meth:`unsubscribe`, or use it as a context manager."""

    def __init__(self, agent: Agent, listener: Listener) -> None:
        self._agent = agent
        self._listener = listener

    def unsubscribe(self) -> None:
        """Stop calling the listener (calling it again does nothing)."""
        self._agent._unsubscribe(self._listener)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()


def _as_message(message: AgentMessage | str) -> AgentMessage:
    return Message.user(message) if isinstance(message, str) else message


class Agent:
    """A stateful agent around a :class:`~llmcore.Client` (or a stream function).

    ``prompt_text`` / ``prompt_messages`` / ``continue_run`` block until the run ends; listeners
    are called on that thread. ``abort``, ``steer``, ``follow_up``, ``wait_for_idle`` and the
    setters may be called from any thread.

    :param client: the client whose streams the agent uses, or a stream function (``None``
        when ``options.stream`` is set).
    :param options: the model, tools, hooks and queue modes.
    :raises AgentError: neither a client nor ``options.stream`` was given.
    :raises InvalidInputError: ``options.thinking_level`` is unknown.
    """

    def __init__(self, client: Client | StreamFunction | None, options: AgentOptions) -> None:
        if options.stream is not None:
            self._stream: StreamFunction = options.stream
        elif client is None:
            raise AgentError("Agent needs a client or AgentOptions(stream=...)")
        elif callable(client) and not hasattr(client, "chat_completion_stream"):
            self._stream = client
        else:
            self._stream = client_stream_function(client)  # type: ignore[arg-type]
        _effort(options.thinking_level)
        self.options = options
        self._state = AgentState(
            options.system_prompt,
            options.model,
            options.thinking_level,
            tuple(options.tools),
            list(options.messages),
        )
        self._tool_execution: ExecutionMode = options.tool_execution
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._steering: list[AgentMessage] = []
        self._follow_ups: list[AgentMessage] = []
        self._cancel: CancelHandle | None = None
        self._idle = threading.Event()
        self._idle.set()

    # --- state ------------------------------------------------------------------------------
    @property
    def state(self) -> AgentState:
        """The live state (system prompt, model, tools, messages, streaming status, error)."""
        return self._state

    def set_system_prompt(self, system_prompt: str | None) -> None:
        """The system prompt for the next model call."""
        self._state.system_prompt = system_prompt

    def set_model(self, model: str) -> None:
        """The model for the next run."""
        self._state.model = model

    def set_thinking_level(self, level: ReasoningEffort | str | None) -> None:
        """The reasoning effort for the next run (``None`` or ``"off"``: the provider's default).

        :raises InvalidInputError: ``level`` is no :class:`~llmcore.ReasoningEffort` value.
        """
        _effort(level)
        self._state.thinking_level = level

    def set_tools(self, tools: Sequence[AgentTool]) -> None:
        """The tools for the next run."""
        self._state.tools = tuple(tools)

    def set_tool_execution(self, mode: ExecutionMode) -> None:
        """``"parallel"`` (the default) or ``"sequential"`` for the next run."""
        self._tool_execution = mode

    def set_messages(self, messages: Sequence[AgentMessage]) -> None:
        """Replace the conversation (not during a run)."""
        self._require_idle()
        self._state.messages = list(messages)

    def reset(self) -> None:
        """Forget the conversation, the queues and the last error (not during a run)."""
        self._require_idle()
        with self._lock:
            self._steering.clear()
            self._follow_ups.clear()
        self._state.messages = []
        self._state.error = None
        self._state.streaming_message = None
        self._state.pending_tool_calls = frozenset()

    # --- listeners and queues ---------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Subscription:
        """Call ``listener(event)`` for every event, on the thread running the loop."""
        with self._lock:
            self._listeners.append(listener)
        return Subscription(self, listener)

    def _unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def steer(self, message: AgentMessage | str) -> None:
        """Queue a message delivered after the current turn's tools finish (any thread)."""
        with self._lock:
            self._steering.append(_as_message(message))

    def follow_up(self, message: AgentMessage | str) -> None:
        """Queue a message delivered only when the agent would otherwise stop (any thread)."""
        with self._lock:
            self._follow_ups.append(_as_message(message))

    def clear_queues(self) -> None:
        """Drop the queued steering and follow-up messages."""
        with self._lock:
            self._steering.clear()
            self._follow_ups.clear()

    def _take(self, which: list[AgentMessage], mode: QueueMode) -> list[AgentMessage]:
        with self._lock:
            if not which:
                return []
            if mode == "all":
                taken = list(which)
                which.clear()
                return taken
            return [which.pop(0)]

    # --- running ----------------------------------------------------------------------------
    def prompt_text(self, text: str) -> list[AgentMessage]:
        """Send ``text`` as a user message and run until the agent stops; returns the messages
        the run added.

        :raises AgentError: a run is already going.
        """
        return self.prompt_messages([Message.user(text)])

    def prompt_messages(self, messages: Sequence[AgentMessage]) -> list[AgentMessage]:
        """Send ``messages`` (a str is a user message) and run until the agent stops; returns
        the messages added.

        :raises AgentError: a run is already going, or ``messages`` is empty.
        """
        if not messages:
            raise AgentError("prompt_messages needs at least one message")
        return self._run([_as_message(m) for m in messages])

    def continue_run(self) -> list[AgentMessage]:
        """Run again from the conversation as it is (e.g. after an error): the last message
        (unfinished turns aside) must be a user or tool-result message, unless steering or
        follow-up messages are queued, which then start the run.

        :raises AgentError: a run is already going, or nothing to continue from.
        """
        sendable = [m for m in self._state.messages if not isinstance(m, UnfinishedTurn)]
        last = sendable[-1] if sendable else None
        if isinstance(last, Message) and last.role is Role.ASSISTANT:
            queued = self._take(self._steering, "all") or self._take(self._follow_ups, "all")
            if queued:
                return self._run(queued)
        return self._run([])

    def abort(self) -> None:
        """Stop the run now, from any thread: the stream ends (its partial message is kept with
        stop reason ``aborted``) and running tools see their cancel handle cancelled."""
        with self._lock:
            cancel = self._cancel
        if cancel is not None:
            cancel.cancel()

    def wait_for_idle(self, timeout: float | None = None) -> bool:
        """Block until no run is going; False if ``timeout`` seconds passed first."""
        return self._idle.wait(timeout)

    @property
    def is_running(self) -> bool:
        """True while a run is going."""
        return not self._idle.is_set()

    def _require_idle(self) -> None:
        if not self._idle.is_set():
            raise AgentError("the agent is running: wait_for_idle() or abort() first")

    def _config(self) -> AgentLoopConfig:
        o, s = self.options, self._state
        return AgentLoopConfig(
            model=s.model,
            stream=self._stream,
            system_prompt=s.system_prompt,
            tools=s.tools,
            thinking_level=s.thinking_level,
            request_options=dict(o.request_options),
            convert_to_llm=o.convert_to_llm,
            transform_context=o.transform_context,
            tool_execution=self._tool_execution,
            max_workers=o.max_workers,
            before_tool_call=o.before_tool_call,
            after_tool_call=o.after_tool_call,
            should_stop_after_turn=o.should_stop_after_turn,
            prepare_next_turn=o.prepare_next_turn,
            get_steering_messages=lambda: self._take(self._steering, o.steering_mode),
            get_follow_up_messages=lambda: self._take(self._follow_ups, o.follow_up_mode),
        )

    def _run(self, prompts: list[AgentMessage]) -> list[AgentMessage]:
        with self._lock:
            if not self._idle.is_set():
                raise AgentError("the agent is already running: wait_for_idle() or steer()")
            if not prompts:
                _check_continue(self._state.messages)
            cancel = self._cancel = CancelHandle()
            self._idle.clear()
        state = self._state
        state.error = None
        state.is_streaming = True
        try:
            steps = agent_loop(prompts, state.messages, self._config(), cancel)
            while True:
                try:
                    event = next(steps)
                except StopIteration as stop:
                    added: list[AgentMessage] = stop.value
                    return added
                self._track(event)
                with self._lock:
                    listeners = list(self._listeners)
                for listener in listeners:
                    listener(event)
        finally:
            state.is_streaming = False
            state.streaming_message = None
            state.pending_tool_calls = frozenset()
            with self._lock:
                self._cancel = None
                self._idle.set()

    def _track(self, event: AgentEvent) -> None:
        state = self._state
        if isinstance(event, MessageUpdateEvent):
            state.streaming_message = event.message
        elif isinstance(event, MessageEndEvent):
            state.streaming_message = None
        elif isinstance(event, ToolExecutionStartEvent):
            state.pending_tool_calls = state.pending_tool_calls | {event.tool_call_id}
        elif isinstance(event, ToolExecutionEndEvent):
            state.pending_tool_calls = state.pending_tool_calls - {event.tool_call_id}
        elif isinstance(event, AgentEndEvent):
            state.error = event.error
