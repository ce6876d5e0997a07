"""``client.as_ollama()``: model management, ``/api/generate`` and the native chunk stream.

The extension translates like the hooks do: it builds the requests (:mod:`.payload`) and parses
the answers (:mod:`.parse`, :mod:`.management`); :meth:`llmcore.Client.send_request` sends them,
so authentication, default headers, retries, timeouts and error mapping are the core's.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Generator, Iterator
from typing import Any, TextIO

from llmcore import (
    CancelHandle,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Client,
    Frame,
    LlmError,
    Message,
    ModelInfo,
    ModelNotFoundError,
    Plugins,
    Provider,
    Role,
    StopReason,
    StreamInterruptedError,
    adapt_request,
)
from llmcore import events as ev
from llmcore.accumulate import StreamAccumulator
from llmcore.errors import scrub_chain, scrubbed
from llmcore_ollama.generate import (
    GenerateRequest,
    build_generate_request,
    iter_generate_chunks,
    parse_generate,
)
from llmcore_ollama.management import ModelDetails, PullProgress, parse_show
from llmcore_ollama.parse import raise_line_error
from llmcore_ollama.payload import (
    build_chat_request,
    delete_request,
    pull_request,
    show_request,
)

__all__ = ["GenerateStream", "OllamaClient", "ProgressBar", "ProgressCallback"]

ProgressCallback = Callable[[PullProgress], None]
"""``on_progress(progress)``: called with every :class:`PullProgress` line of a pull."""

_UNITS = ("B", "KB", "MB", "GB", "TB")


def _size(count: int) -> str:
    value = float(count)
    for unit in _UNITS:
        if value < 1000 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


class ProgressBar:
    """A one-line text progress bar for pulls, redrawn in place with ``\\r``.

    Each status gets its own line: a new status ends the previous line with a newline. Layer
    downloads show percent, a bar and the byte counts::

        pulling manifest
        pulling 6a0746a1ec1a  42% [############                ] 2.0 GB/4.7 GB
        success
    """

    def __init__(self, output: TextIO, width: int = 28) -> None:
        self.output = output
        self.width = width
        self._status: str | None = None
        self._shown = 0

    def render(self, progress: PullProgress) -> str:
        """The line shown for ``progress`` (without ``\\r``)."""
        fraction = progress.fraction
        if fraction is None or progress.total is None:
            return progress.status
        filled = int(fraction * self.width)
        bar = "#" * filled + " " * (self.width - filled)
        done = _size(progress.completed or 0)
        return f"{progress.status} {fraction:4.0%} [{bar}] {done}/{_size(progress.total)}"

    def update(self, progress: PullProgress) -> None:
        """Show ``progress``: redraw the current line, or start a new one for a new status."""
        line = self.render(progress)
        if self._status is not None and progress.status != self._status:
            self.output.write("\n")
            self._shown = 0
        self.output.write("\r" + line.ljust(self._shown))
        self.output.flush()
        self._status = progress.status
        self._shown = len(line)

    def finish(self) -> None:
        """End the last line (once something was shown)."""
        if self._status is not None:
            self.output.write("\n")
            self.output.flush()
            self._status = None


def _close(frames: Iterator[Frame]) -> None:
    """Close a frame iterator (its connection) that is left before its end."""
    close = getattr(frames, "close", None)
    if close is not None:
        close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class OllamaClient:
    """What Ollama offers beyond chat, on one :class:`llmcore.Client`: ``client.as_ollama()``.

    Every call goes through that client (its base URL, headers, options, retries and hooks).
    Errors are llmcore's typed errors: an unknown model is a
    :class:`~llmcore.ModelNotFoundError`, an unreachable server an
    :class:`~llmcore.ApiConnectionError`.
    """

    def __init__(self, client: Client) -> None:
        self.client = client

    @property
    def provider(self) -> Provider:
        """The client's provider (its base URL already resolved)."""
        return self.client.provider

    def __repr__(self) -> str:
        return f"<OllamaClient {self.provider.name} at {self.provider.base_url!r}>"

    def _json(self, frame: Frame) -> dict[str, Any]:
        try:
            obj = json.loads(frame.data)
            if not isinstance(obj, dict):
                raise TypeError(f"stream line is {type(obj).__name__}, not an object")
        except (ValueError, TypeError) as exc:
            raise Plugins.malformed(self.provider, frame.data, exc) from exc
        raise_line_error(self.provider, obj)
        return obj

    # --- models -------------------------------------------------------------------------------
    def models(self) -> list[ModelInfo]:
        """The models on the server (``GET /api/tags``), the same as ``client.list_models()``.

        Each :class:`~llmcore.ModelInfo` has the model's name as ``id`` (``llama3.2:latest``)
        and ``size``, ``digest``, ``modified_at`` and ``details`` in ``extra``.

        :raises LlmError: the typed error when the server cannot be reached or answers with one.
        """
        return self.client.list_models()

    def show_model(self, name: str, *, verbose: bool = False) -> ModelDetails:
        """One model's details (``POST /api/show``): capabilities, context length, template...

        :param name: the model, e.g. ``"llama3.2"`` or ``"qwen3:8b"``.
        :param verbose: ask for the full tokenizer data in ``model_info`` (large).
        :raises ModelNotFoundError: the server has no such model.
        :raises LlmError: any other typed error (unreachable server, malformed answer...).
        """
        response = self.client.send_request(show_request(self.provider, name, verbose=verbose))
        try:
            return parse_show(name, response)
        except (ValueError, TypeError, KeyError) as exc:
            raise Plugins.malformed(self.provider, response.body, exc) from exc

    def model_exists(self, name: str) -> bool:
        """True when the server has the model ``name`` (asked with ``POST /api/show``).

        :raises LlmError: errors other than "not found" (an unreachable server...).
        """
        try:
            self.show_model(name)
        except ModelNotFoundError:
            return False
        return True

    def delete_model(self, name: str) -> None:
        """Remove the model ``name`` from the server (``DELETE /api/delete``).

        :raises ModelNotFoundError: the server has no such model.
        :raises LlmError: any other typed error.
        """
        self.client.send_request(delete_request(self.provider, name))

    def pull_model(
        self,
        name: str,
        *,
        on_progress: ProgressCallback | None = None,
        progress_bar: bool | None = None,
        output: TextIO | None = None,
        insecure: bool = False,
        cancel: CancelHandle | None = None,
    ) -> PullProgress:
        """Download the model ``name`` (``POST /api/pull``), reporting progress as it streams.

        :param name: the model, e.g. ``"llama3.2"`` or ``"qwen3:8b"``.
        :param on_progress: called with each :class:`PullProgress` line, in order.
        :param progress_bar: draw a text progress bar on ``output``; ``None`` (the default)
            draws it when ``output`` is a terminal.
        :param output: where the bar goes (default ``sys.stderr``).
        :param insecure: allow a registry without TLS.
        :param cancel: a :class:`~llmcore.CancelHandle` that stops the pull from any thread;
            the last progress seen is then returned (its ``succeeded`` is False).
        :return: the last progress line, ``status == "success"`` for a completed pull.
        :raises ModelNotFoundError: the registry has no such model.
        :raises StreamInterruptedError: the stream ended before ``success`` (connection lost).
        :raises LlmError: any other typed error (an error line of the stream included).
        """
        out = output if output is not None else sys.stderr
        draw = progress_bar if progress_bar is not None else _is_terminal(out)
        bar = ProgressBar(out) if draw else None
        frames = self.client.send_request(
            pull_request(self.provider, name, insecure=insecure), stream=True, cancel=cancel
        )
        last: PullProgress | None = None
        try:
            for frame in frames:
                progress = PullProgress.from_wire(self._json(frame))
                if on_progress is not None:
                    on_progress(progress)
                if bar is not None:
                    bar.update(progress)
                last = progress
        finally:
            _close(frames)
            if bar is not None:
                bar.finish()
        if cancel is not None and cancel.cancelled:
            return last if last is not None else PullProgress("cancelled")
        if last is None or not last.succeeded:
            raise StreamInterruptedError(
                f"the pull of {name!r} ended before it succeeded (last status: "
                f"{last.status if last else 'none'!r})",
                provider=self.provider.name,
            )
        return last

    # --- /api/generate ----------------------------------------------------------------------
    def generate(self, model: str, prompt: str = "", **fields: Any) -> ChatCompletionResponse:
        """Complete ``prompt`` with ``model`` (``POST /api/generate``, not streamed).

        The answer is a unified :class:`~llmcore.ChatCompletionResponse`: ``text()`` is
        Ollama's ``response``, ``reasoning()`` its ``thinking``, ``finish_reason`` its
        ``done_reason``, ``usage`` its counts (timings in ``usage.provider_data``);
        ``provider_data`` holds ``context`` (pass it back as ``context=`` to continue) and
        ``created_at``.

        :param model: the model, e.g. ``"llama3.2"``.
        :param prompt: the prompt text.
        :param fields: the other fields of :class:`GenerateRequest` (``system``, ``images``,
            ``context``, ``raw``, ``format``, ``think``, ``max_tokens``, ``options``,
            ``keep_alive``, ``extra``...); an unknown name is a ``TypeError``.
        :raises InvalidInputError: a field fails its check (e.g. an image given by URL).
        :raises ModelNotFoundError: the server has no such model.
        :raises MalformedResponseError: an answer llmcore cannot read.
        :raises LlmError: any other typed error (unreachable server, an ``{"error": ...}``
            body...).
        """
        request = GenerateRequest(model, prompt, **fields)
        response = self.client.send_request(build_generate_request(self.provider, request, False))
        try:
            return parse_generate(self.provider, response, requested_model=model)
        except (ValueError, TypeError, KeyError) as exc:
            raise Plugins.malformed(self.provider, response.body, exc) from exc

    def generate_stream(
        self,
        model: str,
        prompt: str = "",
        *,
        cancel: CancelHandle | None = None,
        **fields: Any,
    ) -> GenerateStream:
        """Stream the completion of ``prompt`` (``POST /api/generate`` with NDJSON).

        The returned :class:`GenerateStream` reads like a chat stream: iterate it for unified
        chunks (``chunk.text()``), or call ``events()`` for block events; ``response`` is the
        accumulated answer (the ``done`` line's counts as usage, ``context`` and the timings
        as provider data, as :meth:`generate` gives them).

        :param model: the model, e.g. ``"llama3.2"``.
        :param prompt: the prompt text.
        :param cancel: a :class:`~llmcore.CancelHandle` that stops the stream from any thread
            (``None`` creates one: ``stream.cancel_handle``).
        :param fields: the other fields of :class:`GenerateRequest`.
        :raises InvalidInputError: a field fails its check.
        :raises LlmError: the typed error of an answer that fails before the stream starts
            (unknown model, unreachable server...); errors after it started are raised while
            iterating (see :class:`GenerateStream`).
        """
        request = GenerateRequest(model, prompt, **fields)
        handle = cancel or CancelHandle()
        frames = self.client.send_request(
            build_generate_request(self.provider, request, True), stream=True, cancel=handle
        )
        return GenerateStream(self.provider, model, frames, handle)

    # --- the native stream ----------------------------------------------------------------------
    def chat_stream_ollama(
        self, request: ChatCompletionRequest, *, cancel: CancelHandle | None = None
    ) -> Iterator[dict[str, Any]]:
        """Stream ``request`` and yield each NDJSON chunk as the Ollama JSON object the server
        sent (``{"model", "created_at", "message": {...}, "done": false}``, the last one with
        ``done: true``, ``done_reason`` and the counts), for tools that speak Ollama's format.

        The request is translated as for ``client.chat_completion_stream`` (same payload,
        hooks and headers). Errors before the first byte raise here; an ``{"error": ...}``
        line raises its typed error while iterating.

        :param request: the :class:`~llmcore.ChatCompletionRequest`.
        :param cancel: a :class:`~llmcore.CancelHandle`; cancelling ends the iteration early.
        :raises LlmError: typed errors (HTTP errors, error lines, broken connections).
        """
        adapted = adapt_request(request, self.provider)
        frames = self.client.send_request(
            build_chat_request(self.provider, adapted, True), stream=True, cancel=cancel
        )
        return self._objects(frames)

    def _objects(self, frames: Iterator[Frame]) -> Iterator[dict[str, Any]]:
        try:
            for frame in frames:
                yield self._json(frame)
        finally:
            _close(frames)


_Step = tuple[ChatCompletionChunk, list[ev.StreamEvent]]


class GenerateStream:
    """A streamed ``/api/generate`` answer: an iterator of unified chunks, or of events.

    It behaves as a chat :class:`~llmcore.ChatStream` does: use one view per stream;
    ``response`` is the answer so far (final after the end), ``error`` the error that ended
    it. An ``{"error": ...}`` line raises its typed error, a body that ends before its ``done``
    line (or a broken connection) a :class:`~llmcore.StreamInterruptedError`, a line llmcore
    cannot read a :class:`~llmcore.MalformedResponseError`; each carries the answer so far as
    ``partial``. A cancel (:meth:`cancel`, from any thread) ends the stream without an error,
    with stop reason ``aborted``. Leaving it early (:meth:`close`, or a ``with`` block) closes
    the connection.
    """

    def __init__(
        self, provider: Provider, model: str, frames: Iterator[Frame], cancel: CancelHandle
    ) -> None:
        self.provider = provider
        self.model = model
        self.cancel_handle = cancel
        self._frames = frames
        self._acc = StreamAccumulator(provider.name, provider.api, requested_model=model)
        self._final: ChatCompletionResponse | None = None
        self._error: LlmError | None = None
        self._tail: list[ev.StreamEvent] = []
        self._last = ""
        self._steps = self._run()

    @property
    def error(self) -> LlmError | None:
        """The error that ended the stream, if one did."""
        return self._error

    @property
    def response(self) -> ChatCompletionResponse:
        """The accumulated answer: final after the end, partial before."""
        return self._final if self._final is not None else self._acc.response()

    def __iter__(self) -> GenerateStream:
        return self

    @scrubbed
    def __next__(self) -> ChatCompletionChunk:
        return next(self._steps)[0]

    def events(self) -> Iterator[ev.StreamEvent]:
        """Typed block events (start, text/thinking start-delta-end, done or error); errors
        end the iteration with an :class:`~llmcore.events.ErrorEvent` instead of raising."""
        yield ev.StartEvent(Message(Role.ASSISTANT))
        try:
            for _chunk, events in self._steps:
                yield from events
        except LlmError as err:  # the ErrorEvent of the tail carries it
            scrub_chain(err)
        yield from self._tail

    @scrubbed
    def until_done(self) -> ChatCompletionResponse:
        """Read the rest of the stream and return the final answer.

        :raises LlmError: what iterating raises (see the class docstring).
        """
        for _ in self._steps:
            pass
        return self.response

    def text(self) -> str:
        """Read the rest of the stream and return the whole text.

        :raises LlmError: what iterating raises (see the class docstring).
        """
        return self.until_done().text()

    def cancel(self) -> None:
        """Stop the stream now, from any thread (``cancel_handle.cancel()``). Never raises."""
        self.cancel_handle.cancel()

    def close(self) -> None:
        """Stop reading and close the connection; the answer so far stays. Never raises."""
        if self._final is not None:
            return
        self.cancel_handle.cancel()
        try:
            self._steps.close()
        except ValueError:  # iterated in another thread: the cancel ends it there
            return
        if self._final is None:
            _close(self._frames)
            self._end(StopReason.ABORTED, None)

    def __enter__(self) -> GenerateStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._final is None else "finished"
        return f"<GenerateStream {self.provider.name} {self.model} {state}>"

    def _screen(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            self._last = frame.data
            yield frame

    def _run(self) -> Generator[_Step, None, None]:
        chunks = iter_generate_chunks(self.provider, self._screen(self._frames))
        complete = False
        try:
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration as stop:
                    complete = bool(stop.value)
                    break
                yield chunk, self._acc.feed(chunk)
        except GeneratorExit:
            self._end(StopReason.ABORTED, None)
            raise
        except LlmError as err:
            if self.cancel_handle.cancelled:
                self._end(StopReason.ABORTED, None)
                return
            if err.provider is None:
                err.provider = self.provider.name
            raise self._fail(err) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise self._fail(Plugins.malformed(self.provider, self._last, exc)) from exc
        finally:
            _close(self._frames)
        if self.cancel_handle.cancelled:
            self._end(StopReason.ABORTED, None)
            return
        if not complete:
            raise self._fail(
                StreamInterruptedError(
                    "the generate stream ended before its done line (truncated response)",
                    provider=self.provider.name,
                )
            )
        self._end(None, None)

    def _fail(self, err: LlmError) -> LlmError:
        self._end(StopReason.ERROR, err)
        err.partial = self._final
        return err

    def _end(self, reason: StopReason | None, err: LlmError | None) -> None:
        self._tail = self._acc.close_blocks()
        self._final = self._acc.response(stop_reason=reason)
        self._error = err
        first = self._final.choices[0] if self._final.choices else None
        message = first.message if first else Message(Role.ASSISTANT)
        if reason in (StopReason.ABORTED, StopReason.ERROR):
            assert reason is not None
            self._tail.append(ev.ErrorEvent(reason, err, message, self._final))
        else:
            done = (first.stop_reason if first else None) or StopReason.STOP
            self._tail.append(ev.DoneEvent(done, message, self._final))
