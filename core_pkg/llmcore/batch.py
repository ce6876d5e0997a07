"""Batch files: run a JSONL file of chat requests, write one result line per request, resumably.

The input is the JSONL of the OpenAI Batch API, one request a line::

    {"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}}

or llmcore's own request JSON (:mod:`llmcore.serde`) under ``"request"``::

    {"custom_id": "q1", "request": {"model": "gpt-4o-mini", "messages": [...], ...}}

The output is one line per request in the OpenAI batch output shape::

    {"id": "batch_req_...", "custom_id": "q1",
     "response": {"status_code": 200, "request_id": "...", "body": {<chat.completion>}},
     "error": null}

A failed request gets ``"error": {"code": ..., "message": ...}`` and, when the provider answered
with an HTTP status, ``"response"`` holds that status and an ``{"error": ...}`` body.

Each line is appended and fsync'ed as its result completes (results that complete together share
one write and one fsync), so the runner can be killed at any moment, SIGKILL included: a rerun
reads the output, skips every ``custom_id`` already there (answered or failed), truncates a torn
last line (one without its newline) and runs the rest. No ``custom_id`` is ever written twice.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from llmcore import serde
from llmcore._repr import attrs_repr
from llmcore.chat import ChatCompletionRequest, ChatCompletionResponse, ToolChoice
from llmcore.content import AudioPart, Content, DocumentPart, ImagePart, Part, TextPart
from llmcore.errors import InvalidInputError, LlmError, redact
from llmcore.formats import openai_response_dict
from llmcore.messages import Message, Tool, ToolCall

if TYPE_CHECKING:
    from llmcore.client import Client

__all__ = [
    "BatchFileError",
    "BatchItem",
    "BatchProgress",
    "BatchSummary",
    "read_input",
    "read_output",
    "request_from_openai",
    "run_file",
]

CHAT_URLS = frozenset({"/v1/chat/completions", "/chat/completions"})
"""The ``url`` values of an OpenAI batch line that this runner serves."""

_OPTION_FIELDS = ("temperature", "top_p", "seed", "user", "response_format", "reasoning_effort")
_IGNORED = frozenset({"stream", "stream_options"})


class BatchFileError(InvalidInputError):
    """A batch input or output file that cannot be run: bad JSON, a line without a
    ``custom_id``, duplicate ``custom_id``s, a corrupt output line. ``lines`` are the 1-based
    line numbers at fault."""

    def __init__(self, message: str, *, lines: tuple[int, ...] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.lines = lines


@attrs_repr
@attrs.frozen(repr=False)
class BatchItem:
    """One input line: its ``custom_id``, its 1-based ``line``, and its request or the error
    that building the request raised (written as that item's failure)."""

    custom_id: str
    line: int
    request: ChatCompletionRequest | None
    error: LlmError | None = None


@attrs_repr
@attrs.frozen(repr=False)
class BatchProgress:
    """Where a run stands: ``finished`` of ``total`` (this run's items), ``failed`` among them,
    ``skipped`` (already in the output) and ``elapsed`` seconds."""

    finished: int
    total: int
    failed: int
    skipped: int
    elapsed: float


@attrs_repr
@attrs.frozen(repr=False)
class BatchSummary:
    """The end of a run: ``done`` answered, ``failed`` with an error line, ``skipped`` (already
    in the output before this run), ``elapsed`` seconds; ``done + failed + skipped`` is the
    number of input lines."""

    done: int
    failed: int
    skipped: int
    elapsed: float

    @property
    def total(self) -> int:
        """Every input line: ``done + failed + skipped``."""
        return self.done + self.failed + self.skipped


# --- the OpenAI request shape ---------------------------------------------------------------------
def _part(raw: Any, where: str) -> Part:
    if isinstance(raw, str):
        return TextPart(raw)
    if not isinstance(raw, Mapping):
        raise InvalidInputError.at(where, f"a content part must be an object, got {raw!r}")
    kind = raw.get("type")
    if kind in ("text", "input_text"):
        return TextPart(raw.get("text", ""))
    if kind == "image_url":
        image = raw.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        detail = image.get("detail") if isinstance(image, Mapping) else None
        if not isinstance(url, str):
            raise InvalidInputError.at(where, "image_url needs a url")
        if url.startswith("data:") and ";base64," in url:
            mime, data = url[5:].split(";base64,", 1)
            return ImagePart(data=data, mime_type=mime or None, detail=detail)
        return ImagePart(url=url, detail=detail)
    if kind == "input_audio":
        audio = raw.get("input_audio")
        if not isinstance(audio, Mapping):
            raise InvalidInputError.at(where, "input_audio needs an object")
        return AudioPart(data=audio.get("data"), format=audio.get("format"))
    if kind == "file":
        file = raw.get("file")
        if not isinstance(file, Mapping):
            raise InvalidInputError.at(where, "file needs an object")
        file_data: Any = file.get("file_data")
        file_mime: str | None = None
        if isinstance(file_data, str) and file_data.startswith("data:") and ";base64," in file_data:
            file_mime, file_data = file_data[5:].split(";base64,", 1)
        return DocumentPart(data=file_data, mime_type=file_mime or None, name=file.get("filename"))
    raise InvalidInputError.at(where, f"unknown content part type {kind!r}")


def _content(raw: Any, where: str) -> Content:
    if raw is None:
        return Content()
    if isinstance(raw, str):
        return Content.from_text(raw)
    if isinstance(raw, list):
        return Content.from_parts(_part(p, f"{where}[{i}]") for i, p in enumerate(raw))
    raise InvalidInputError.at(where, f"content must be a string or a list, got {raw!r}")


def _tool_call(raw: Any, where: str) -> ToolCall:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("function"), Mapping):
        raise InvalidInputError.at(where, "a tool call needs a function object")
    function = raw["function"]
    arguments = function.get("arguments") or "{}"
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return ToolCall(raw.get("id", ""), function.get("name", ""), parsed)
        return ToolCall(raw.get("id", ""), function.get("name", ""), {}, raw_arguments=arguments)
    return ToolCall(raw.get("id", ""), function.get("name", ""), arguments)


def _message(raw: Any, where: str) -> Message:
    if not isinstance(raw, Mapping):
        raise InvalidInputError.at(where, f"a message must be an object, got {raw!r}")
    calls = raw.get("tool_calls") or ()
    if not isinstance(calls, list | tuple):
        raise InvalidInputError.at(f"{where}.tool_calls", "must be a list")
    content = _content(raw.get("content"), f"{where}.content")
    tool_calls = [_tool_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(calls)]
    try:
        return Message(
            role=raw.get("role", ""),
            content=content,
            tool_calls=tool_calls,
            tool_call_id=raw.get("tool_call_id"),
            name=raw.get("name"),
            reasoning=raw.get("reasoning_content") or raw.get("reasoning"),
        )
    except InvalidInputError as exc:
        raise exc.within(where) from None


def _tool(raw: Any, where: str) -> Tool:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("function"), Mapping):
        raise InvalidInputError.at(where, "a tool needs {'type': 'function', 'function': {...}}")
    function = raw["function"]
    return Tool(
        name=function.get("name", ""),
        description=function.get("description"),
        parameters=function.get("parameters") or {"type": "object", "properties": {}},
        strict=function.get("strict"),
    )


def _tool_choice(raw: Any) -> ToolChoice | str | None:
    if isinstance(raw, Mapping):
        function = raw.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        return ToolChoice("tool", name)
    return raw  # type: ignore[no-any-return]


def request_from_openai(
    body: Mapping[str, Any], *, model: str | None = None
) -> ChatCompletionRequest:
    """A :class:`ChatCompletionRequest` from an OpenAI Chat Completions request body.

    Messages (text, image, audio and file parts; assistant tool calls; tool results), ``tools``,
    ``tool_choice``, ``temperature``, ``top_p``, ``max_tokens`` (or ``max_completion_tokens``),
    ``stop``, ``seed``, ``user``, ``response_format`` and ``reasoning_effort`` map to their
    fields; ``stream`` is ignored (batch lines are answered whole); any other key goes to
    ``extra`` and is sent as it is.

    :param body: the request body.
    :param model: replaces the body's ``model`` when given.
    :raises InvalidInputError: the body is not a chat request llmcore can express; ``field``
        names the bad part (``messages[2].content``).
    """
    if not isinstance(body, Mapping):  # JSON from a file: anything may come
        raise InvalidInputError.at("body", f"must be an object, got {type(body).__name__}")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidInputError.at("messages", "must be a list of messages")
    options: dict[str, Any] = {k: body[k] for k in _OPTION_FIELDS if body.get(k) is not None}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    if body.get("stop") is not None:
        options["stop"] = body["stop"]
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise InvalidInputError.at("tools", "must be a list")
        options["tools"] = [_tool(t, f"tools[{i}]") for i, t in enumerate(tools)]
    if body.get("tool_choice") is not None:
        options["tool_choice"] = _tool_choice(body["tool_choice"])
    known = {*_OPTION_FIELDS, *_IGNORED, "model", "messages", "max_tokens"}
    known |= {"max_completion_tokens", "stop", "tools", "tool_choice"}
    extra = {k: v for k, v in body.items() if k not in known}
    chosen = model if model is not None else body.get("model")
    return ChatCompletionRequest(
        chosen,  # type: ignore[arg-type]
        [_message(m, f"messages[{i}]") for i, m in enumerate(messages)],
        extra=extra,
        **options,
    )


# --- reading the files ----------------------------------------------------------------------------
def _item(data: Mapping[str, Any], line: int, model: str | None) -> BatchItem:
    custom_id = data["custom_id"]
    try:
        if "request" in data:
            request = serde.from_dict(data["request"], ChatCompletionRequest)
            if model is not None:
                request = request.with_options(model=model)
        else:
            url = data.get("url", "/v1/chat/completions")
            if url not in CHAT_URLS:
                raise InvalidInputError.at(
                    "url", f"{url!r} is not served: batch files run /v1/chat/completions"
                )
            method = str(data.get("method", "POST")).upper()
            if method != "POST":
                raise InvalidInputError.at("method", f"{method!r}: only POST is served")
            request = request_from_openai(data.get("body"), model=model)  # type: ignore[arg-type]
    except LlmError as exc:
        return BatchItem(custom_id, line, None, exc)
    except Exception as exc:  # JSON of an unexpected shape: that line fails, not the whole run
        error = InvalidInputError(redact(f"line {line}: {type(exc).__name__}: {exc}"))
        return BatchItem(custom_id, line, None, error)
    return BatchItem(custom_id, line, request)


def read_input(path: str | os.PathLike[str], *, model: str | None = None) -> list[BatchItem]:
    """Every request line of a batch input file, in file order (blank lines are ignored).

    A line whose request cannot be built keeps its error in :attr:`BatchItem.error` (the runner
    writes it as that item's failure).

    :param path: the JSONL file.
    :param model: replaces each request's model when given.
    :raises BatchFileError: a line is not a JSON object, has no string ``custom_id``, has
        neither ``body`` nor ``request``, or repeats a ``custom_id`` (the message names every
        line of each duplicate).
    """
    items: list[BatchItem] = []
    seen: dict[str, list[int]] = {}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except ValueError as exc:
                raise BatchFileError(
                    f"{path}: line {number} is not JSON: {exc}", lines=(number,)
                ) from None
            if not isinstance(data, dict) or not isinstance(data.get("custom_id"), str):
                raise BatchFileError(
                    f"{path}: line {number} has no string custom_id", lines=(number,)
                )
            if "body" not in data and "request" not in data:
                raise BatchFileError(
                    f"{path}: line {number} has neither 'body' (OpenAI batch line) nor "
                    "'request' (llmcore request JSON)",
                    lines=(number,),
                )
            seen.setdefault(data["custom_id"], []).append(number)
            items.append(_item(data, number, model))
    duplicates = {cid: lines for cid, lines in seen.items() if len(lines) > 1}
    if duplicates:
        shown = "; ".join(
            f"{cid!r} on lines {', '.join(map(str, lines))}"
            for cid, lines in list(duplicates.items())[:10]
        )
        more = f" (and {len(duplicates) - 10} more)" if len(duplicates) > 10 else ""
        bad = tuple(sorted(n for lines in duplicates.values() for n in lines))
        raise BatchFileError(f"{path}: duplicate custom_id: {shown}{more}", lines=bad)
    return items


def read_output(path: str | os.PathLike[str], *, repair: bool = False) -> dict[str, dict[str, Any]]:
    """The result lines of a batch output file, by ``custom_id``.

    A last line without its newline is a write that was cut off (the runner was killed): it is
    left out, and with ``repair=True`` truncated from the file so that the next append starts on
    a clean line.

    :param path: the output file (a missing file has no results).
    :param repair: truncate a torn last line.
    :raises BatchFileError: a complete line is not a JSON object with a string ``custom_id``.
    """
    target = Path(path)
    if not target.exists():
        return {}
    data = target.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data) and repair:
        with open(target, "r+b") as handle:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
    results: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(data[:end].splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError as exc:
            raise BatchFileError(
                f"{path}: output line {number} is not JSON ({exc}); the file was changed by "
                "something else than the batch runner",
                lines=(number,),
            ) from None
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            raise BatchFileError(f"{path}: output line {number} has no custom_id", lines=(number,))
        results.setdefault(line["custom_id"], line)
    return results


# --- the output lines -----------------------------------------------------------------------------
def _line(custom_id: str, response: dict[str, Any] | None, error: dict[str, Any] | None) -> bytes:
    out = {
        "id": f"batch_req_{uuid.uuid4().hex}",
        "custom_id": custom_id,
        "response": response,
        "error": error,
    }
    return (json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _success_line(custom_id: str, response: ChatCompletionResponse) -> bytes:
    body = openai_response_dict(response)
    return _line(
        custom_id, {"status_code": 200, "request_id": response.id or "", "body": body}, None
    )


def _error_line(custom_id: str, exc: BaseException) -> bytes:
    if isinstance(exc, LlmError):
        code = exc.code or type(exc).__name__
        message = str(exc)
        status = exc.status
        request_id = exc.request_id
    else:  # a bug in a hook or a plugin: still one line for this item, never a lost one
        code, message, status, request_id = (
            "internal_error",
            redact(f"{type(exc).__name__}: {exc}"),
            None,
            None,
        )
    error = {"code": code, "message": message}
    response = None
    if status is not None:
        body = {"error": {"message": message, "type": type(exc).__name__, "code": code}}
        response = {"status_code": status, "request_id": request_id or "", "body": body}
    return _line(custom_id, response, error)


def _run_one(client: Client, item: BatchItem) -> tuple[bytes, bool]:
    if item.request is None:
        assert item.error is not None
        return _error_line(item.custom_id, item.error), False
    try:
        response = client.chat_completion(item.request)
    except Exception as exc:
        return _error_line(item.custom_id, exc), False
    return _success_line(item.custom_id, response), True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# --- the runner -----------------------------------------------------------------------------------
def run_file(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    client: Client,
    model: str | None = None,
    concurrency: int | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
    fsync: bool = True,
) -> BatchSummary:
    """Run every request of ``in_path`` on ``client``, appending one result line per request to
    ``out_path`` as it completes; resumable after any kill.

    Before anything is sent the whole input is read (a duplicate ``custom_id`` stops the run
    there) and the output is read: a torn last line is truncated, and every ``custom_id`` already
    written is skipped. Requests then run on a thread pool of ``concurrency`` threads, each result
    line written (``os.write`` on an append-only descriptor) and fsync'ed as it completes;
    results that complete together share one write and one fsync.

    :param in_path: the input JSONL (OpenAI batch lines or llmcore request lines).
    :param out_path: the output JSONL, created if missing, appended to otherwise.
    :param client: the client that sends every request (thread-safe, shared by the pool).
    :param model: replaces every request's model when given.
    :param concurrency: requests in flight at once (default: the client's ``pool_size``).
    :param progress: called with a :class:`BatchProgress` after each group of results is
        written (and once at the start).
    :param fsync: fsync after each write (default); ``False`` leaves flushing to the OS: still
        safe against a killed process, not against a power cut.
    :returns: the :class:`BatchSummary` of this run.
    :raises BatchFileError: the input or output file cannot be run (see :func:`read_input`,
        :func:`read_output`). A failing request never raises: it becomes an error line.
    """
    started = time.monotonic()
    items = read_input(in_path, model=model)
    finished_ids = read_output(out_path, repair=True)
    todo = [item for item in items if item.custom_id not in finished_ids]
    skipped = len(items) - len(todo)
    workers = max(1, concurrency or client.options.pool_size)
    done = failed = 0

    def report() -> None:
        if progress is not None:
            progress(
                BatchProgress(done + failed, len(todo), failed, skipped, time.monotonic() - started)
            )

    report()
    if not todo:
        return BatchSummary(0, 0, skipped, time.monotonic() - started)
    fd = os.open(out_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    pool = concurrent.futures.ThreadPoolExecutor(min(workers, len(todo)), "llmcore-batchfile")
    try:
        pending: Iterator[BatchItem] = iter(todo)
        in_flight: set[concurrent.futures.Future[tuple[bytes, bool]]] = set()

        def refill() -> None:
            while len(in_flight) < 2 * workers:
                item = next(pending, None)
                if item is None:
                    return
                in_flight.add(pool.submit(_run_one, client, item))

        refill()
        while in_flight:
            ready, _ = concurrent.futures.wait(
                in_flight, return_when=concurrent.futures.FIRST_COMPLETED
            )
            in_flight.difference_update(ready)
            results = [future.result() for future in ready]
            _write_all(fd, b"".join(line for line, _ in results))
            if fsync:
                os.fsync(fd)
            ok = sum(1 for _, success in results if success)
            done += ok
            failed += len(results) - ok
            report()
            refill()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        os.close(fd)
    return BatchSummary(done, failed, skipped, time.monotonic() - started)
