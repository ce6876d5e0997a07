"""The faux provider: scripted replies, streams, tool calls and errors, in memory.

Opt-in: nothing is registered until :func:`register_faux_provider` runs. The faux provider goes
through the whole send path (payload, hooks, auth, transport, SSE framing, stream parsing,
cancellation), only the socket is replaced by an in-memory endpoint, so tests and demos exercise
real llmcore code::

    faux = register_faux_provider()
    faux.add_reply(text="Hello!")
    client = llmcore.Client("faux")
    assert client.quick_chat_text("faux-1", "hi") == "Hello!"

Its wire format is llmcore's own JSON (see :mod:`llmcore.serde`), served as SSE for streams.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from llmcore import serde
from llmcore._repr import attrs_repr
from llmcore.cancel import CancelHandle
from llmcore.chat import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    ChunkChoice,
    Delta,
    ModelInfo,
    StopReason,
    ToolCallDelta,
    Usage,
)
from llmcore.errors import ConfigurationError
from llmcore.formats import Shape, to_data
from llmcore.hookspecs import hookimpl
from llmcore.http import Frame, HttpRequest, HttpResponse
from llmcore.messages import Message, Role, ToolCall
from llmcore.plugins import Plugins, get_plugins
from llmcore.providers import Provider
from llmcore.transport import MemoryResponse, register_memory_scheme

__all__ = ["FauxError", "FauxProvider", "FauxReply", "register_faux_provider"]

FAUX_API = "faux"
_STOP_REASONS = {
    "stop": StopReason.STOP,
    "length": StopReason.LENGTH,
    "tool_calls": StopReason.TOOL_USE,
    "content_filter": StopReason.CONTENT_FILTER,
}


@attrs_repr
@attrs.frozen(repr=False)
class FauxReply:
    """One scripted answer.

    ``chunk_size`` splits the streamed text into pieces of that many characters (default: one
    piece per word); ``delay`` sleeps between stream chunks (cancellable); ``cut_after`` breaks
    the connection after that many chunks; ``truncate`` ends the stream without its terminal
    frame.
    """

    text: str = ""
    reasoning: str | None = None
    tool_calls: tuple[ToolCall, ...] = attrs.field(default=(), converter=tuple)
    finish_reason: str | None = None
    usage: Usage | None = None
    chunk_size: int | None = None
    delay: float = 0.0
    cut_after: int | None = None
    truncate: bool = False

    def finish(self) -> str:
        """The raw finish reason (``tool_calls`` when calls are scripted)."""
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")


@attrs_repr
@attrs.frozen(repr=False)
class FauxError:
    """A scripted HTTP error: status, OpenAI-style error body, optional headers."""

    status: int
    message: str = "faux error"
    code: str | None = None
    headers: dict[str, str] = attrs.field(factory=dict)


def _pieces(text: str, size: int | None) -> list[str]:
    if not text:
        return []
    if size:
        return [text[i : i + size] for i in range(0, len(text), size)]
    out, word = [], ""
    for ch in text:
        word += ch
        if ch == " ":
            out.append(word)
            word = ""
    return [*out, word] if word else out


class FauxProvider:
    """The in-memory endpoint and its plugin. Replies are served in the order they were added."""

    def __init__(self, name: str, models: Sequence[str], default: FauxReply | None = None) -> None:
        self.name = name
        self.default = default
        self.scheme = f"faux-{name}" if name != "faux" else "faux"
        self.models = tuple(models)
        # Each faux provider is its own little API, so its hooks answer for it alone.
        self.api = FAUX_API if name == "faux" else f"{FAUX_API}-{name}"
        self.LLMCORE_APIS = (self.api,)
        self.provider = Provider(
            name=name,
            api=self.api,
            base_url=f"{self.scheme}://local",
            key_required=False,
            auth="none",
            description="in-memory scripted provider for tests and demos",
        )
        self.requests: list[dict[str, Any]] = []
        self._replies: list[FauxReply | FauxError] = []
        self._lock = threading.Lock()
        self._counter = 0
        register_memory_scheme(self.scheme, self._serve)

    # --- scripting -----------------------------------------------------------------------------
    def add_reply(self, reply: FauxReply | FauxError | None = None, **fields: Any) -> FauxProvider:
        """Queue a reply (a :class:`FauxReply`, a :class:`FauxError`, or FauxReply fields).

        :param reply: the reply to queue; ``None`` builds a :class:`FauxReply` from ``fields``.
        :param fields: :class:`FauxReply` fields (``text=``, ``tool_calls=``, ``delay=``...).
        :returns: this provider, for chaining.
        :raises TypeError: a name in ``fields`` is no :class:`FauxReply` field.
        """
        with self._lock:
            self._replies.append(reply if reply is not None else FauxReply(**fields))
        return self

    def add_replies(self, *replies: FauxReply | FauxError | str) -> FauxProvider:
        """Queue several replies; plain strings are text replies.

        :param replies: :class:`FauxReply`, :class:`FauxError` or ``str`` values, served in order.
        :returns: this provider, for chaining. Never raises.
        """
        for r in replies:
            self.add_reply(FauxReply(text=r) if isinstance(r, str) else r)
        return self

    @property
    def pending(self) -> int:
        """How many scripted replies are left."""
        return len(self._replies)

    def _next(self) -> FauxReply | FauxError:
        with self._lock:
            self._counter += 1
            if self._replies:
                return self._replies.pop(0)
            if self.default is not None:
                return self.default
            return FauxError(500, "faux provider: no scripted reply left", "faux_empty")

    # --- the in-memory server -----------------------------------------------------------------
    def _serve(
        self, request: HttpRequest, cancel: CancelHandle | None, shape: Shape = "llmcore"
    ) -> MemoryResponse:
        """Answer ``request``; ``shape="openai"`` serves the OpenAI wire format instead of
        llmcore's own (used to fake an OpenAI-compatible server)."""
        if request.url.endswith("/models"):
            data = {"data": [{"id": m} for m in self.models]}
            return MemoryResponse(
                200, {"content-type": "application/json"}, [json.dumps(data).encode()]
            )
        payload = dict(request.json or {})
        with self._lock:
            self.requests.append(payload)
        reply = self._next()
        if isinstance(reply, FauxError):
            error = {"error": {"message": reply.message, "code": reply.code, "type": "faux"}}
            headers = {"content-type": "application/json", **reply.headers}
            return MemoryResponse(reply.status, headers, [json.dumps(error).encode()])
        rid = f"faux-{self._counter}"
        model = str(payload.get("model", "faux"))
        if not payload.get("stream"):
            data = to_data(self._response(reply, rid, model), shape=shape)
            return MemoryResponse(
                200, {"content-type": "application/json"}, [json.dumps(data).encode()]
            )
        return MemoryResponse(
            200, {"content-type": "text/event-stream"}, self._sse(reply, rid, model, cancel, shape)
        )

    def _response(self, reply: FauxReply, rid: str, model: str) -> ChatCompletionResponse:
        message = Message(
            Role.ASSISTANT, reply.text, tool_calls=reply.tool_calls, reasoning=reply.reasoning
        )
        finish = reply.finish()
        choice = Choice(0, message, finish, _STOP_REASONS.get(finish, StopReason.STOP))
        return ChatCompletionResponse(rid, model, (choice,), reply.usage, self.name)

    def _chunks(self, reply: FauxReply, rid: str, model: str) -> list[ChatCompletionChunk]:
        def chunk(delta: Delta, finish: str | None = None) -> ChatCompletionChunk:
            stop = _STOP_REASONS.get(finish, StopReason.STOP) if finish else None
            return ChatCompletionChunk(rid, model, (ChunkChoice(0, delta, finish, stop),))

        out = [chunk(Delta(role=Role.ASSISTANT))]
        out += [chunk(Delta(reasoning=p)) for p in _pieces(reply.reasoning or "", reply.chunk_size)]
        out += [chunk(Delta(content=p)) for p in _pieces(reply.text, reply.chunk_size)]
        for i, call in enumerate(reply.tool_calls):
            args = json.dumps(call.arguments)
            out.append(chunk(Delta(tool_calls=(ToolCallDelta(i, call.id, call.name, ""),))))
            for piece in _pieces(args, reply.chunk_size or 8):
                out.append(chunk(Delta(tool_calls=(ToolCallDelta(i, arguments=piece),))))
        out.append(chunk(Delta(), reply.finish()))
        if reply.usage is not None:
            out.append(ChatCompletionChunk(rid, model, (), reply.usage))
        return out

    def _sse(
        self,
        reply: FauxReply,
        rid: str,
        model: str,
        cancel: CancelHandle | None,
        shape: Shape = "llmcore",
    ) -> Iterator[bytes]:
        for n, chunk in enumerate(self._chunks(reply, rid, model)):
            if reply.cut_after is not None and n >= reply.cut_after:
                raise ConnectionResetError("faux provider: connection cut as scripted")
            if n and reply.delay:
                if cancel is not None:
                    cancel.sleep(reply.delay)
                else:
                    threading.Event().wait(reply.delay)
            yield f"data: {json.dumps(to_data(chunk, shape=shape))}\n\n".encode()
        if not reply.truncate:
            yield b"data: [DONE]\n\n"

    # --- the plugin hooks (pure translation of llmcore's own JSON) ----------------------------
    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(self.provider)

    @hookimpl
    def build_payload(
        self, provider: Provider, request: ChatCompletionRequest, stream: bool
    ) -> HttpRequest | None:
        body = serde.to_dict(request)
        body["stream"] = stream
        return HttpRequest(
            "POST", provider.url("chat"), {"content-type": "application/json"}, json=body
        )

    @hookimpl
    def parse_response(self, provider: Provider, response: HttpResponse) -> Any:
        return serde.loads(response.body, ChatCompletionResponse)

    @hookimpl
    def iter_stream(self, provider: Provider, frames: Iterator[Frame]) -> Any:
        return self._iter(frames)

    @staticmethod
    def _iter(frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
        for frame in frames:
            if frame.data == "[DONE]":
                return True  # type: ignore[return-value]
            yield serde.loads(frame.data, ChatCompletionChunk)
        return None

    @hookimpl
    def build_list_models(self, provider: Provider) -> HttpRequest | None:
        return HttpRequest("GET", provider.url("models"))

    @hookimpl
    def parse_list_models(self, provider: Provider, response: HttpResponse) -> Any:
        return [ModelInfo(m["id"]) for m in response.json()["data"]]


def register_faux_provider(
    name: str = "faux",
    *,
    models: Sequence[str] = ("faux-1",),
    plugins: Plugins | None = None,
    default: FauxReply | str | None = None,
) -> FauxProvider:
    """Register an in-memory provider called ``name`` and return it for scripting.

    ``default`` answers every request once the scripted replies are used up (without it, an
    unscripted request gets an HTTP 500 error saying so).

    :param name: the provider name (``Client(name)``); registering it again replaces it.
    :param models: the model names :meth:`Client.list_models` returns.
    :param plugins: the registry to register with (default: the process-wide one).
    :param default: the reply (or text) for requests beyond the scripted ones.
    :raises ConfigurationError: ``name`` is empty or holds a ``/``.
    """
    if not name or "/" in name:
        raise ConfigurationError(f"invalid faux provider name {name!r}")
    registry = plugins or get_plugins()
    if isinstance(default, str):
        default = FauxReply(text=default)
    faux = FauxProvider(name, models, default)
    plugin_name = f"llmcore.testing.{name}"
    if registry.pm.has_plugin(plugin_name):
        registry.unregister(plugin_name)
    registry.register(faux, name=plugin_name)
    return faux
