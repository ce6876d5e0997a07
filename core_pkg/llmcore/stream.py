"""A live chat stream: an iterator of chunks (or of typed events) and a context manager.

Whatever happens, nothing is lost: after the stream ends, ``stream.response`` is the accumulated
answer. A cancel (``CancelHandle.cancel()`` from any thread) closes the socket at once and ends
the stream normally with stop reason ``aborted``; a connection that dies mid-stream raises
:class:`~llmcore.errors.StreamInterruptedError` carrying the partial response; an error frame
from the provider raises its typed error with ``partial`` set.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

from llmcore import events as ev
from llmcore.accumulate import StreamAccumulator
from llmcore.cancel import CancelHandle, CancelledError
from llmcore.chat import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    StopReason,
)
from llmcore.errors import (
    ApiConnectionError,
    LlmError,
    RequestTimeoutError,
    StreamInterruptedError,
    scrub_chain,
    scrubbed,
)
from llmcore.frames import decode_frames
from llmcore.messages import Message, Role

if TYPE_CHECKING:
    from llmcore.http import Frame, StreamFormat
    from llmcore.plugins import Plugins
    from llmcore.providers import Provider
    from llmcore.transport import OpenResponse

__all__ = ["ChatStream"]

_PARSE_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError)
_Step = tuple[ChatCompletionChunk, list[ev.StreamEvent]]


class ChatStream:
    """Iterate for :class:`~llmcore.chat.ChatCompletionChunk` objects, or call :meth:`events`.

    Use one view per stream. ``response`` is the answer so far (final after the end), ``error``
    the error that ended it, ``cancel_handle`` the handle that stops it.
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
    ) -> None:
        self.provider = provider
        self.request = request
        self.cancel_handle = cancel
        self.error: LlmError | None = None
        self._plugins = plugins
        self._opened = opened
        self._format = stream_format
        self._acc = StreamAccumulator(provider.name, provider.api)
        self._final: ChatCompletionResponse | None = None
        self._tail: list[ev.StreamEvent] = []
        self._last_frame = ""
        if opened is not None:
            cancel.on_cancel(opened.abort)
        self._steps = self._run()

    # --- the engine --------------------------------------------------------------------------
    def _remember(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            self._last_frame = frame.data
            yield frame

    def _run(self) -> Generator[_Step, None, None]:
        opened = self._opened
        if opened is None:  # cancelled before the response arrived
            self._end(StopReason.ABORTED, None)
            return
        complete = False
        try:
            frames = self._remember(decode_frames(opened.iter_bytes(), self._format))
            chunks = self._plugins.iter_stream(self.provider, self.request, frames)
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration as stop:
                    complete = bool(stop.value)
                    break
                yield chunk, self._acc.feed(chunk)
            if complete and not self.cancel_handle.cancelled:
                opened.release()  # read the body's tail so the connection is pooled
        except GeneratorExit:
            self._end(StopReason.ABORTED, None)
            raise
        except CancelledError:
            self._end(StopReason.ABORTED, None)
            return
        except Exception as exc:
            if self.cancel_handle.cancelled:
                self._end(StopReason.ABORTED, None)
                return
            raise self._fail(self._as_llm_error(exc)) from exc
        finally:
            self.cancel_handle.discard(opened.abort)
            opened.close()
        if self.cancel_handle.cancelled:
            self._end(StopReason.ABORTED, None)
            return
        if not complete and not self._acc.finished:
            raise self._fail(
                StreamInterruptedError(
                    "the stream ended before its terminal event (truncated response)",
                    provider=self.provider.name,
                )
            )
        self._end(None, None)

    def _as_llm_error(self, exc: Exception) -> LlmError:
        if isinstance(exc, (ApiConnectionError, RequestTimeoutError)):
            return StreamInterruptedError(
                f"the stream broke after {self._acc.chunks_seen} chunks: {exc.message}",
                provider=self.provider.name,
            )
        if isinstance(exc, LlmError):
            if exc.provider is None:
                exc.provider = self.provider.name
            return exc
        if isinstance(exc, _PARSE_ERRORS):
            frame = self._last_frame.encode("utf-8", errors="replace")
            return self._plugins.malformed(self.provider, frame, exc)
        return StreamInterruptedError(
            f"the stream failed: {type(exc).__name__}: {exc}", provider=self.provider.name
        )

    def _fail(self, err: LlmError) -> LlmError:
        self._end(StopReason.ERROR, err)
        err.partial = self._final
        return err

    def _end(self, reason: StopReason | None, err: LlmError | None) -> None:
        self._tail = self._acc.close_blocks()
        self._final = self._acc.response(stop_reason=reason)
        self.error = err
        first = self._final.choices[0] if self._final.choices else None
        message = first.message if first else Message(Role.ASSISTANT)
        if reason in (StopReason.ABORTED, StopReason.ERROR):
            assert reason is not None
            self._tail.append(ev.ErrorEvent(reason, err, message, self._final))
        else:
            final_reason = (first.stop_reason if first else None) or StopReason.STOP
            self._tail.append(ev.DoneEvent(final_reason, message, self._final))

    # --- the two views -----------------------------------------------------------------------
    def __iter__(self) -> ChatStream:
        return self

    @scrubbed
    def __next__(self) -> ChatCompletionChunk:
        return next(self._steps)[0]

    def events(self) -> Iterator[ev.StreamEvent]:
        """Typed block events (start, text/thinking/tool-call start-delta-end, done or error).

        Errors end the iteration with an :class:`~llmcore.events.ErrorEvent` instead of raising.
        """
        yield ev.StartEvent(Message(Role.ASSISTANT))
        try:
            for _chunk, events in self._steps:
                yield from events
        except LlmError as err:  # the ErrorEvent below carries it: make its chain safe
            scrub_chain(err)
        yield from self._tail

    # --- results and lifetime ----------------------------------------------------------------
    @property
    def response(self) -> ChatCompletionResponse:
        """The accumulated answer: final after the end, partial before."""
        return self._final if self._final is not None else self._acc.response()

    @scrubbed
    def until_done(self) -> ChatCompletionResponse:
        """Consume the rest of the stream and return the final response."""
        for _ in self._steps:
            pass
        return self.response

    @scrubbed
    def text(self) -> str:
        """Consume the stream and return the full text."""
        return self.until_done().text()

    def cancel(self) -> None:
        """Same as ``cancel_handle.cancel()``."""
        self.cancel_handle.cancel()

    def close(self) -> None:
        """Stop reading and release the connection (the answer so far stays available)."""
        if self._final is None:
            self.cancel_handle.cancel()
            self._steps.close()
            if self._final is None:
                self._end(StopReason.ABORTED, None)

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._final is None else "finished"
        return f"<ChatStream {self.provider.name} {self.request.model} {state}>"
