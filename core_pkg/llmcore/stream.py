"""A live chat stream: an iterator of chunks (or of typed events) and a context manager.

Whatever happens, nothing is lost: after the stream ends, ``stream.response`` is the accumulated
answer. A cancel (``CancelHandle.cancel()`` from any thread) shuts the socket down at once and
ends the stream normally with stop reason ``aborted``; a connection that dies mid-stream raises
:class:`~llmcore.errors.StreamInterruptedError` carrying the partial response (a read timeout or
an expired ``total_timeout`` raises its subclass :class:`~llmcore.errors.StreamTimeoutError`);
an error frame from the provider raises its typed error with ``partial`` set. Once every choice
has its finish reason, the rest of the body (usage, ``[DONE]``) is awaited for at most
``ConnectionOptions.finish_grace`` seconds: a server that then goes silent ends the stream
cleanly.

The reading engine (:class:`_Engine`) holds no reference to its :class:`ChatStream`, so a
stream that is dropped, iterated or not, is freed at once by reference counting (no cycle for
the garbage collector to find) and its connection is closed then; an ``events()`` iterator
keeps the stream's engine alive on its own (``client.chat_completion_stream(r).events()``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from llmcore._lazy import lazy_module
from llmcore.accumulate import StreamAccumulator
from llmcore.cancel import CancelHandle, CancelledError
from llmcore.chat import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChunkChoice,
    Delta,
    StopReason,
    ToolCallDelta,
)
from llmcore.errors import (
    ApiConnectionError,
    LlmError,
    RequestTimeoutError,
    StreamInterruptedError,
    StreamTimeoutError,
    scrub_chain,
    scrubbed,
)
from llmcore.frames import decode_frames
from llmcore.http import HttpResponse
from llmcore.messages import Message, Role

if TYPE_CHECKING:
    from llmcore import events as ev
    from llmcore.http import Frame, StreamFormat
    from llmcore.plugins import Plugins
    from llmcore.providers import Provider
    from llmcore.transport import OpenResponse
else:  # the event types load when a stream first builds one (most end with DoneEvent)
    ev = lazy_module("llmcore.events")

__all__ = ["ChatStream", "response_chunks"]

log = logging.getLogger("llmcore")

_PARSE_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError)
_Step = tuple[ChatCompletionChunk, list[Any]]  # the chunk and its events


def response_chunks(response: ChatCompletionResponse) -> list[ChatCompletionChunk]:
    """The chunks that stand for a whole answer (one per choice, then the usage)."""
    choices = []
    for choice in response.choices:
        message = choice.message
        calls = tuple(
            ToolCallDelta(i, call.id, call.name, call.arguments_json(), call.extra or None)
            for i, call in enumerate(message.tool_calls)
        )
        delta = Delta(
            role=message.role,
            content=message.text() or None,
            reasoning=message.reasoning_any(),
            tool_calls=calls,
            provider_data=message.provider_data,
        )
        choices.append(
            ChunkChoice(
                choice.index,
                delta,
                choice.finish_reason,
                choice.stop_reason,
                provider_data=choice.provider_data,
            )
        )
    out = [
        ChatCompletionChunk(
            response.id, response.model, tuple(choices), provider_data=response.provider_data
        )
    ]
    if response.usage is not None:
        out.append(ChatCompletionChunk(response.id, response.model, (), response.usage))
    return out


def _error_status(data: str) -> int:
    """The HTTP-like status an error frame carries (``status_code``, ``status`` or ``code``),
    else 200."""
    try:
        obj = json.loads(data)
    except ValueError:
        return 200
    err = obj.get("error", obj) if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        return 200
    for key in ("status_code", "status", "code"):
        code = err.get(key)
        if isinstance(code, str) and code.isdigit():
            code = int(code)
        if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
            return code
    return 200


class _Engine:
    """The reading side of one stream. It never refers to its :class:`ChatStream`."""

    def __init__(
        self,
        provider: Provider,
        request: ChatCompletionRequest,
        plugins: Plugins,
        opened: OpenResponse | None,
        stream_format: StreamFormat,
        cancel: CancelHandle,
        complete: ChatCompletionResponse | None,
        finish_grace: float | None,
    ) -> None:
        self.provider = provider
        self.request = request
        self.plugins = plugins
        self.opened = opened
        self.format = stream_format
        self.cancel = cancel
        self.complete = complete
        self.finish_grace = finish_grace
        self.acc = StreamAccumulator(provider.name, provider.api, requested_model=request.model)
        self.final: ChatCompletionResponse | None = None
        self.error: LlmError | None = None
        self.tail: list[ev.StreamEvent] = []
        self.last_frame = ""
        # False while only chunks are read (``__next__``, ``until_done``): the accumulator
        # then builds no event objects. ``events()`` turns it on.
        self.want_events = True

    def _screen(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """Remember the last frame (for error reports); turn error frames into errors.

        A ``map`` (run in C) over :meth:`_check` rather than a generator: this runs per frame.
        """
        return map(self._check, frames)

    def _check(self, frame: Frame) -> Frame:
        self.last_frame = frame.data
        if frame.event == "error":
            body = frame.data.encode("utf-8", errors="replace")
            response = HttpResponse(_error_status(frame.data), {}, body)
            raise self.plugins.parse_error(self.provider, response)
        return frame

    def run(self) -> Generator[_Step, None, None]:
        if self.complete is not None:  # the server answered with a whole JSON response
            for chunk in response_chunks(self.complete):
                yield chunk, self.acc.feed(chunk, events=self.want_events)
            self._end(None, None)
            self.final = self.complete
            return
        opened = self.opened
        if opened is None:  # cancelled before the response arrived
            self._end(StopReason.ABORTED, None)
            return
        complete = False
        graced = False
        try:
            frames = self._screen(decode_frames(opened.iter_bytes(), self.format))
            chunks = self.plugins.iter_stream(self.provider, self.request, frames)
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration as stop:
                    complete = bool(stop.value)
                    break
                events = self.acc.feed(chunk, events=self.want_events)
                if (
                    not graced
                    and self.finish_grace is not None
                    and _has_finish(chunk)
                    and self.acc.finished
                ):
                    graced = True  # the answer is whole: do not wait long for its tail
                    opened.set_read_timeout(self.finish_grace)
                yield chunk, events
            if complete and not self.cancel.cancelled:
                opened.release()  # read the body's tail so the connection is pooled
        except GeneratorExit:
            self._end(StopReason.ABORTED, None)
            raise
        except CancelledError:
            self._end(StopReason.ABORTED, None)
            return
        except Exception as exc:
            if self.cancel.cancelled:
                self._end(StopReason.ABORTED, None)
                return
            if graced and isinstance(exc, (ApiConnectionError, RequestTimeoutError)):
                log.debug("llmcore: stream tail not received after the finish reason: %s", exc)
            else:
                raise self._fail(self._as_llm_error(exc)) from exc
        finally:
            opened.close()
        if self.cancel.cancelled:
            self._end(StopReason.ABORTED, None)
            return
        if not complete and not self.acc.finished:
            raise self._fail(
                StreamInterruptedError(
                    "the stream ended before its terminal event (truncated response)",
                    provider=self.provider.name,
                )
            )
        self._end(None, None)

    def __del__(self) -> None:
        # Nobody can read this stream any more (its ChatStream and every events() iterator are
        # gone; a started reader was closed by its generator's own finalisation first).
        opened = self.opened
        if opened is not None and not opened.closed:
            try:
                opened.close()
            except Exception:  # never raise from a finaliser
                pass

    def abandon(self) -> None:
        """End a stream nobody reads any more: close its connection, keep what arrived."""
        if self.opened is not None:
            self.opened.close()
        if self.final is None:
            self._end(StopReason.ABORTED, None)

    def _as_llm_error(self, exc: Exception) -> LlmError:
        if isinstance(exc, (ApiConnectionError, RequestTimeoutError)):
            cls = StreamTimeoutError if isinstance(exc, RequestTimeoutError) else None
            return (cls or StreamInterruptedError)(
                f"the stream broke after {self.acc.chunks_seen} chunks: {exc.message}",
                provider=self.provider.name,
            )
        if isinstance(exc, LlmError):
            if exc.provider is None:
                exc.provider = self.provider.name
            return exc
        if isinstance(exc, _PARSE_ERRORS):
            frame = self.last_frame.encode("utf-8", errors="replace")
            return self.plugins.malformed(self.provider, frame, exc)
        return StreamInterruptedError(
            f"the stream failed: {type(exc).__name__}: {exc}", provider=self.provider.name
        )

    def _fail(self, err: LlmError) -> LlmError:
        self._end(StopReason.ERROR, err)
        err.partial = self.final
        return err

    def _end(self, reason: StopReason | None, err: LlmError | None) -> None:
        self.tail = self.acc.close_blocks()
        whole = self.complete if reason is None else None  # a whole answer stays as parsed
        self.final = whole if whole is not None else self.acc.response(stop_reason=reason)
        self.error = err
        first = self.final.choices[0] if self.final.choices else None
        message = first.message if first else Message(Role.ASSISTANT)
        if reason in (StopReason.ABORTED, StopReason.ERROR):
            assert reason is not None
            self.tail.append(ev.ErrorEvent(reason, err, message, self.final))
        else:
            final_reason = (first.stop_reason if first else None) or StopReason.STOP
            self.tail.append(ev.DoneEvent(final_reason, message, self.final))


class ChatStream:
    """Iterate for :class:`~llmcore.chat.ChatCompletionChunk` objects, or call :meth:`events`.

    Use one view per stream, from one thread at a time; :meth:`cancel` works from any thread.
    ``response`` is the answer so far (final after the end), ``error`` the error that ended it,
    ``cancel_handle`` the handle that stops it. A stream that is dropped before its end closes
    its connection at once.
    """

    def __init__(
        self,
        *,
        provider: Provider,
        request: ChatCompletionRequest,
        plugins: Plugins,
        opened: OpenResponse | None,
        stream_format: StreamFormat,
        cancel: CancelHandle,
        complete: ChatCompletionResponse | None = None,
        finish_grace: float | None = None,
    ) -> None:
        self.provider = provider
        self.request = request
        self.cancel_handle = cancel
        self._engine = _Engine(
            provider, request, plugins, opened, stream_format, cancel, complete, finish_grace
        )
        self._steps = self._engine.run()

    @property
    def error(self) -> LlmError | None:
        """The error that ended the stream, if one did."""
        return self._engine.error

    # --- the two views -----------------------------------------------------------------------
    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        # What @scrubbed does, inline: this runs once per chunk.
        self._engine.want_events = False
        try:
            return next(self._steps)[0]
        except LlmError as err:
            scrub_chain(err)
            raise

    def events(self) -> Iterator[ev.StreamEvent]:
        """Typed block events (start, text/thinking/tool-call start-delta-end, done or error).

        Errors end the iteration with an :class:`~llmcore.events.ErrorEvent` instead of raising.
        Never raises a stream error: a :class:`~llmcore.errors.StreamInterruptedError`, a
        :class:`~llmcore.errors.MalformedResponseError` or the provider's typed error is carried
        by that ``ErrorEvent`` (and kept in :attr:`error`).
        """
        self._engine.want_events = True
        return _events(self._steps, self._engine)

    # --- results and lifetime ----------------------------------------------------------------
    @property
    def response(self) -> ChatCompletionResponse:
        """The accumulated answer: final after the end, partial before."""
        engine = self._engine
        return engine.final if engine.final is not None else engine.acc.response()

    @scrubbed
    def until_done(self) -> ChatCompletionResponse:
        """Consume the rest of the stream and return the final response.

        :raises StreamInterruptedError: the connection died mid-stream (its subclass
            ``StreamTimeoutError`` for a read timeout or an expired ``total_timeout``); the
            error's ``partial`` holds what arrived.
        :raises MalformedResponseError: a frame the plugin cannot read.
        :raises LlmError: an error frame from the provider, as its typed error (e.g.
            ``RateLimitError``, ``ServerError``), with ``partial`` set.
        A cancel is no error: the stream ends with stop reason ``aborted``.
        """
        self._engine.want_events = False
        for _ in self._steps:
            pass
        return self.response

    @scrubbed
    def text(self) -> str:
        """Consume the stream and return the full text.

        :raises StreamInterruptedError: the connection died mid-stream (its subclass
            ``StreamTimeoutError`` for a read timeout or an expired ``total_timeout``); the
            error's ``partial`` holds what arrived.
        :raises MalformedResponseError: a frame the plugin cannot read.
        :raises LlmError: an error frame from the provider, as its typed error (e.g.
            ``RateLimitError``, ``ServerError``), with ``partial`` set.
        A cancel is no error: the stream ends with stop reason ``aborted``.
        """
        return self.until_done().text()

    def cancel(self) -> None:
        """Same as ``cancel_handle.cancel()``: stop the stream now, from any thread. Never raises.

        The reader then ends with stop reason ``aborted``; the answer so far stays in
        :attr:`response`.
        """
        self.cancel_handle.cancel()

    def close(self) -> None:
        """Stop reading and release the connection (the answer so far stays available).

        From another thread while this one iterates, it cancels (the reader then ends with
        stop reason ``aborted``). Calling it again, or after the end, does nothing. Never raises.
        """
        if self._engine.final is not None:
            return
        self.cancel_handle.cancel()
        try:
            self._steps.close()
        except ValueError:  # the generator runs in another thread: the cancel ends it
            return
        self._engine.abandon()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._engine.final is None else "finished"
        return f"<ChatStream {self.provider.name} {self.request.model} {state}>"


def _has_finish(chunk: ChatCompletionChunk) -> bool:
    """True when a choice of ``chunk`` carries a finish or stop reason."""
    for choice in chunk.choices:
        if choice.finish_reason is not None or choice.stop_reason is not None:
            return True
    return False


def _events(steps: Iterator[_Step], engine: _Engine) -> Iterator[ev.StreamEvent]:
    yield ev.StartEvent(Message(Role.ASSISTANT))
    try:
        for _chunk, events in steps:
            yield from events
    except LlmError as err:  # the ErrorEvent below carries it: make its chain safe
        scrub_chain(err)
    yield from engine.tail
