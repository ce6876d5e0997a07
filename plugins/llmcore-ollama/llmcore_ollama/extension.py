"""``client.as_ollama()``: model management and the native chunk stream.

The extension translates like the hooks do: it builds the requests (:mod:`.payload`) and parses
the answers (:mod:`.parse`, :mod:`.management`); :meth:`llmcore.Client.send_request` sends them,
so authentication, default headers, retries, timeouts and error mapping are the core's.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from llmcore import (
    CancelHandle,
    ChatCompletionRequest,
    Client,
    Frame,
    ModelInfo,
    ModelNotFoundError,
    Plugins,
    Provider,
    StreamInterruptedError,
    adapt_request,
)
from llmcore_ollama.management import ModelDetails, PullProgress, parse_show
from llmcore_ollama.parse import raise_line_error
from llmcore_ollama.payload import (
    build_chat_request,
    delete_request,
    pull_request,
    show_request,
)

__all__ = ["OllamaClient", "ProgressBar", "ProgressCallback"]

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
