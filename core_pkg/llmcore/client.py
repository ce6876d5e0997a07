"""The client: blocking calls, streams, cancellation, batches and model listing.

The send path is a chain of short steps: build the payload (plugin), run the payload hooks,
authenticate (plugin or core default), send with retries (transport + tenacity), map errors
(plugin), parse (plugin). Plugins only translate; every byte of I/O happens here and in
:mod:`llmcore.transport`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import attrs

from llmcore._lazy import lazy_module
from llmcore.cancel import CancelHandle, CancelledError
from llmcore.chat import ChatCompletionRequest, ChatCompletionResponse, ModelInfo, with_origin
from llmcore.errors import (
    ApiConnectionError,
    ConfigurationError,
    InvalidInputError,
    LlmError,
    MalformedResponseError,
    RequestTimeoutError,
    StreamInterruptedError,
    StreamTimeoutError,
    UnsupportedOperationError,
    redact,
    register_secret,
    scrub_chain,
    scrubbed,
)
from llmcore.frames import decode_frames
from llmcore.handoff import adapt_request
from llmcore.http import Frame, HttpRequest, HttpResponse
from llmcore.messages import Message
from llmcore.options import ConnectionOptions, RetryPolicy, check_retry_policy
from llmcore.plugins import Plugins, get_plugins
from llmcore.providers import Provider, Secret
from llmcore.retry import call_with_retries
from llmcore.stream import ChatStream
from llmcore.transport import OpenResponse, Transport
from llmcore.urls import apply_base_url
from llmcore.validation import check_api_key, check_client_settings

if TYPE_CHECKING:
    import concurrent.futures
    import concurrent.futures as futures

    from llmcore import batching
    from llmcore.batching import ClientSpec, ResultCallback
else:  # batches (and their thread pools) load with the first batch
    batching = lazy_module("llmcore.batching")
    futures = lazy_module("concurrent.futures")

__all__ = [
    "MAX_MODEL_PAGES",
    "Client",
    "PayloadHook",
    "ResponseHook",
    "get_env_api_key",
    "item_error",
]

log = logging.getLogger("llmcore")

MAX_MODEL_PAGES = 100
"""The most pages :meth:`Client.list_models` follows; past it, it logs a warning and returns the
models read so far (a server that keeps answering with a next page cannot loop it forever)."""

T = TypeVar("T")
_HTML = frozenset({"text/html", "application/xhtml+xml"})


def _not_a_stream(opened: OpenResponse, stream_format: str) -> bool:
    """True when a stream request got a whole JSON answer or an HTML page instead."""
    ctype = opened.content_type
    if ctype in _HTML:
        return True
    if stream_format == "ndjson":  # one JSON object is a valid NDJSON stream
        return False
    return ctype == "application/json" or ctype.endswith("+json")


def item_error(index: int, exc: BaseException | None) -> LlmError:
    """The error that holds a batch slot whose request raised something unexpected: an
    :class:`LlmError` naming the item and the exception (type and redacted message)."""
    if exc is None:
        return LlmError(f"requests[{index}] produced no result")
    err = LlmError(
        f"requests[{index}] failed unexpectedly: {type(exc).__name__}: {redact(str(exc))}"
    )
    err.__cause__ = exc
    return err


PayloadHook = Callable[[HttpRequest, Provider], "HttpRequest | None"]
"""``on_payload(http_request, provider)``: see the request before it is sent; return a
replacement (e.g. ``attrs.evolve(req, json={...})``) or ``None`` to keep it."""

ResponseHook = Callable[[HttpResponse, Provider], None]
"""``on_response(http_response, provider)``: see the raw status, headers and body. For streams
the body is empty: the hook runs once the headers arrive."""


def get_env_api_key(provider: Provider, environ: Mapping[str, str] | None = None) -> str | None:
    """The first non-empty of the provider's ``api_key_env`` variables, or None.

    :param provider: the provider whose ``api_key_env`` names are read, in order.
    :param environ: the environment to read (default ``os.environ``).
    :returns: the key, or ``None``. Never raises.
    """
    env = os.environ if environ is None else environ
    for name in provider.api_key_env:
        value = env.get(name)
        if value:
            return value
    return None


def _as_hooks(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if callable(value):
        return (value,)
    return tuple(value)


class Client:
    """A client for one provider. Thread-safe; reuse it, its connection pool is shared.

    ``provider`` is a registered provider name (``"openai"``) or a :class:`Provider`.
    The API key is ``api_key`` if given, else the first set variable of the provider's
    ``api_key_env`` (``OPENAI_API_KEY`` for OpenAI); a provider that needs one and has none
    raises :class:`ConfigurationError` naming the variable.

    :param provider: a registered provider name, or a :class:`Provider` value.
    :param api_key: the API key; ``None`` reads the provider's ``api_key_env`` variables.
    :param base_url: replaces the provider's base URL; ``None`` uses the provider's
        ``base_url_env`` variables, then its own ``base_url``. Its query string is sent with
        every request, and ``user:password@`` becomes HTTP Basic authentication.
    :param options: connection options (pool, timeouts, retries); ``None`` for the defaults.
    :param plugins: the plugin registry to use; ``None`` for the process default
        (:func:`get_plugins`).
    :param on_payload: a hook, or hooks, called as ``on_payload(http_request, provider)``
        before every request is sent; one may return a replacement request.
    :param on_response: a hook, or hooks, called as ``on_response(http_response, provider)``
        when a response arrives (for streams, once the headers are in).
    :raises ConfigurationError: ``provider`` is a name no installed plugin registers, the
        provider needs a key and none is found, or ``base_url`` holds user credentials beside
        an API key.
    :raises InvalidInputError: ``provider`` is neither a name nor a :class:`Provider`, the
        base URL is not an ``http(s)://`` URL with a host, ``options`` is not a
        :class:`ConnectionOptions`, or the key cannot be sent in a header.
    """

    def __init__(
        self,
        provider: str | Provider,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        options: ConnectionOptions | None = None,
        plugins: Plugins | None = None,
        on_payload: PayloadHook | Iterable[PayloadHook] | None = None,
        on_response: ResponseHook | Iterable[ResponseHook] | None = None,
    ) -> None:
        self.plugins = plugins or get_plugins()
        resolved = provider if isinstance(provider, Provider) else self.plugins.provider(provider)
        if base_url is None:  # explicit base_url= wins over the provider's base_url_env variables
            base_url = resolved.env_base_url()
        # What a worker process needs to build the same client (llmcore.batching.ClientSpec):
        # the base URL as resolved here, so that workers need no base-URL variable.
        self._spec_args = (provider, base_url, api_key, plugins is None)
        check_client_settings(resolved, base_url, options)
        self.provider = resolved.with_base_url(base_url)
        has_key = bool(api_key if api_key is not None else get_env_api_key(self.provider))
        self.provider, self._url_params, self._url_headers = apply_base_url(
            self.provider, has_key=has_key
        )
        self.options = options or ConnectionOptions()
        self._credential = self._resolve_key(api_key)
        self._transport = Transport(self.options)
        self._on_payload = _as_hooks(on_payload)
        self._on_response = _as_hooks(on_response)

    @classmethod
    def with_options(
        cls, provider: str | Provider, options: ConnectionOptions, **kwargs: Any
    ) -> Client:
        """A client with these connection options; the same as ``Client(provider, options=...)``.

        :param provider: a registered provider name, or a :class:`Provider` value.
        :param options: the connection options.
        :param kwargs: the other keyword arguments of :class:`Client` (``api_key``,
            ``base_url``, ``plugins``, ``on_payload``, ``on_response``).
        :raises ConfigurationError: as :class:`Client` does (unknown provider, missing key).
        :raises InvalidInputError: as :class:`Client` does (bad base URL, options or key).
        """
        return cls(provider, options=options, **kwargs)

    def _resolve_key(self, api_key: str | None) -> Secret | None:
        key = api_key if api_key is not None else get_env_api_key(self.provider)
        if key:
            names = " or ".join(self.provider.api_key_env)
            check_api_key("api_key" if api_key is not None else f"api_key (from {names})", key)
        if not key:
            if self.provider.key_required and self.provider.auth != "none":
                names = " or ".join(self.provider.api_key_env) or "an environment variable"
                raise ConfigurationError(
                    f"no API key for provider {self.provider.name!r}: pass api_key= or set {names}",
                    provider=self.provider.name,
                )
            return None
        register_secret(key)
        return Secret(key)

    def __repr__(self) -> str:
        key = "set" if self._credential else "none"
        return (
            f"Client(provider={self.provider.name!r}, base_url={self.provider.base_url!r}, "
            f"api_key={key})"
        )

    # --- capabilities ------------------------------------------------------------------------
    def _require(self, what: str, *, request: ChatCompletionRequest | None = None) -> None:
        """Refuse, before anything is built or sent, what the provider declares it cannot do."""
        caps = self.provider.capabilities
        missing = None
        if what == "list_models" and not caps.list_models:
            missing = "listing models"
        elif what in ("chat", "stream") and not caps.chat:
            missing = "chat completions"
        elif what == "stream" and not caps.streaming:
            missing = "streaming (use chat_completion)"
        elif request is not None and request.tools and not caps.tools:
            missing = "tools (the request has tools=...)"
        if missing is not None:
            raise UnsupportedOperationError(
                f"provider {self.provider.name!r} does not support {missing}",
                provider=self.provider.name,
            )

    # --- the send path -----------------------------------------------------------------------
    def _prepare(self, http_request: HttpRequest, hooks: Sequence[PayloadHook] = ()) -> HttpRequest:
        if self._url_params:  # the base URL's query string; the plugin's own params win
            params = {**self._url_params, **http_request.params}
            http_request = attrs.evolve(http_request, params=params)
        for hook in (*self._on_payload, *hooks):
            replaced = hook(http_request, self.provider)
            if replaced is not None:
                http_request = replaced
        defaults = {**self.provider.headers, **self.options.default_headers}
        if defaults:
            missing = {k: v for k, v in defaults.items() if http_request.header(k) is None}
            http_request = http_request.with_headers(missing)
        if self._url_headers:  # Basic auth from the base URL's userinfo; explicit headers win
            basic = {k: v for k, v in self._url_headers.items() if http_request.header(k) is None}
            http_request = http_request.with_headers(basic)
        return self.plugins.authenticate(self.provider, http_request, self._credential, time.time())

    def _parse_chat(
        self, request: ChatCompletionRequest, response: HttpResponse
    ) -> ChatCompletionResponse:
        parsed = self.plugins.parse_response(self.provider, request, response)
        # post-processing: every answer records where it came from (llmcore.handoff reads it)
        return with_origin(parsed, self.provider.name, self.provider.api, request.model)

    def _observe(self, response: HttpResponse, hooks: Sequence[ResponseHook] = ()) -> None:
        for hook in (*self._on_response, *hooks):
            hook(response, self.provider)

    def _deadline(self) -> float | None:
        total = self.options.total_timeout
        return None if total is None else time.monotonic() + total

    def _open(
        self,
        http_request: HttpRequest,
        parse: Callable[[HttpResponse], T] | None,
        *,
        stream: bool,
        cancel: CancelHandle | None = None,
        response_hooks: Sequence[ResponseHook] = (),
        deadline: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> tuple[OpenResponse, T | None]:
        """Send with retries; return the open response and, unless it is a stream to read,
        the parsed body.

        Parsing happens inside the attempt, so that a successful status whose body carries a
        retryable error (``{"error": {"code": 502}}`` with 200) is retried like that status.
        A stream request answered with a whole JSON body is parsed like a plain answer; one
        answered with an HTML page fails with a :class:`MalformedResponseError`.
        """

        def attempt() -> tuple[OpenResponse, T | None]:
            opened = self._transport.send(
                http_request, stream=stream, cancel=cancel, deadline=deadline
            )
            if opened.status >= 400:
                body = opened.read()
                response = HttpResponse(opened.status, opened.headers, body, opened.url)
                self._observe(response, response_hooks)
                raise self.plugins.parse_error(self.provider, response)
            whole = not stream or _not_a_stream(opened, http_request.stream_format)
            if not whole:
                self._observe(
                    HttpResponse(opened.status, opened.headers, b"", opened.url), response_hooks
                )
                return opened, None
            body = opened.read()
            response = HttpResponse(opened.status, opened.headers, body, opened.url)
            self._observe(response, response_hooks)
            if stream and opened.content_type in _HTML:
                raise MalformedResponseError(
                    f"{self.provider.name} answered a stream request with an HTML page "
                    f"(HTTP {opened.status}), not an event stream; body starts with "
                    f"{body[:200]!r}",
                    status=opened.status,
                    body=body[:200].decode("utf-8", errors="replace"),
                )
            return opened, (parse(response) if parse is not None else None)

        try:
            return call_with_retries(attempt, self.options, cancel, deadline, retry)
        except LlmError as err:
            if err.provider is None:
                err.provider = self.provider.name
            raise

    # --- public API ----------------------------------------------------------------------------
    @scrubbed
    def chat_completion(
        self,
        request: ChatCompletionRequest,
        *,
        on_payload: PayloadHook | None = None,
        on_response: ResponseHook | None = None,
        retry: RetryPolicy | None = None,
    ) -> ChatCompletionResponse:
        """Send ``request`` and wait for the whole answer.

        Retryable errors are retried with backoff: by ``retry`` when given, else by
        ``ConnectionOptions.retry_policy`` (``ConnectionOptions.max_retries`` and the
        ``backoff_*`` fields unless ``ConnectionOptions.retry`` is set).

        :param request: the request; its messages are adapted to this provider first
            (:func:`adapt_request`).
        :param on_payload: a hook for this call only, run after the client's own
            ``on_payload`` hooks: ``on_payload(http_request, provider)``, may return a
            replacement request.
        :param on_response: a hook for this call only: ``on_response(http_response, provider)``.
        :param retry: a :class:`~llmcore.RetryPolicy` for this call only.
        :returns: the parsed answer.
        :raises InvalidInputError: ``request`` (a message, tool or option) fails validation, or the
            plugin refuses input its API cannot express.
        :raises UnsupportedOperationError: the provider or its API cannot do what was asked.
        :raises PluginError: no installed plugin implements the provider's API, or a plugin
            returned the wrong thing.
        :raises LlmError: the provider's answer as a typed error, once the retries allowed by
            ``ConnectionOptions.max_retries`` are used up: ``AuthenticationError`` (401),
            ``PermissionDeniedError`` (403), ``ModelNotFoundError`` (404), ``RateLimitError`` (429),
            ``InvalidRequestError`` (400, 422), ``ServerError`` and ``OverloadedError`` (5xx),
            ``ApiConnectionError`` (no connection), ``RequestTimeoutError`` (a timeout or
            ``total_timeout``), ``RedirectError``, ``MalformedResponseError`` (a body llmcore
            cannot read). See ``docs/errors.md`` for the whole tree.
        """
        check_retry_policy(retry)
        return self._chat(request, on_payload=on_payload, on_response=on_response, retry=retry)

    def _chat(
        self,
        request: ChatCompletionRequest,
        *,
        on_payload: PayloadHook | None = None,
        on_response: ResponseHook | None = None,
        cancel: CancelHandle | None = None,
        retry: RetryPolicy | None = None,
    ) -> ChatCompletionResponse:
        deadline = self._deadline()
        self._require("chat", request=request)
        request = adapt_request(request, self.provider)
        payload = self.plugins.build_payload(self.provider, request, False)
        http_request = self._prepare(payload, _as_hooks(on_payload))
        _, parsed = self._open(
            http_request,
            lambda response: self._parse_chat(request, response),
            stream=False,
            cancel=cancel,
            response_hooks=_as_hooks(on_response),
            deadline=deadline,
            retry=retry,
        )
        assert parsed is not None
        return parsed

    @scrubbed
    def chat_completion_stream(
        self,
        request: ChatCompletionRequest,
        *,
        on_payload: PayloadHook | None = None,
        on_response: ResponseHook | None = None,
        cancel: CancelHandle | None = None,
        retry: RetryPolicy | None = None,
    ) -> ChatStream:
        """Start a stream; errors before the first byte (401, 404, 429...) raise here.

        Errors after the stream has started are raised while iterating the returned
        :class:`ChatStream` (see there); a stream is never retried once it has started.

        :param request: the request; its messages are adapted to this provider first.
        :param on_payload: a hook for this call only: ``on_payload(http_request, provider)``.
        :param on_response: a hook for this call only, called once the headers arrive.
        :param cancel: a :class:`CancelHandle` that stops the stream (and any retry wait) from
            any thread; ``None`` creates one (``stream.cancel_handle``). A cancel before the
            headers arrive returns a stream that ends at once with stop reason ``aborted``.
        :param retry: a :class:`~llmcore.RetryPolicy` for opening this stream only (the
            attempts before the first byte; a stream that has started is never retried).
        :returns: the open stream.
        :raises InvalidInputError: ``request`` (a message, tool or option) fails validation, or the
            plugin refuses input its API cannot express.
        :raises UnsupportedOperationError: the provider or its API cannot do what was asked.
        :raises PluginError: no installed plugin implements the provider's API, or a plugin
            returned the wrong thing.
        :raises LlmError: the provider's answer as a typed error, once the retries allowed by
            ``ConnectionOptions.max_retries`` are used up: ``AuthenticationError`` (401),
            ``PermissionDeniedError`` (403), ``ModelNotFoundError`` (404), ``RateLimitError`` (429),
            ``InvalidRequestError`` (400, 422), ``ServerError`` and ``OverloadedError`` (5xx),
            ``ApiConnectionError`` (no connection), ``RequestTimeoutError`` (a timeout or
            ``total_timeout``), ``RedirectError``, ``MalformedResponseError`` (a body llmcore
            cannot read). See ``docs/errors.md`` for the whole tree.
        """
        check_retry_policy(retry)
        deadline = self._deadline()
        self._require("stream", request=request)
        handle = cancel or CancelHandle()
        request = adapt_request(request, self.provider)
        payload = self.plugins.build_payload(self.provider, request, True)
        http_request = self._prepare(payload, _as_hooks(on_payload))
        opened: OpenResponse | None
        complete: ChatCompletionResponse | None = None
        try:
            opened, complete = self._open(
                http_request,
                lambda response: self._parse_chat(request, response),
                stream=True,
                cancel=handle,
                response_hooks=_as_hooks(on_response),
                deadline=deadline,
                retry=retry,
            )
        except CancelledError:
            opened = None
        return ChatStream(
            provider=self.provider,
            request=request,
            plugins=self.plugins,
            opened=opened,
            stream_format=http_request.stream_format,
            cancel=handle,
            complete=complete,
            finish_grace=self.options.finish_grace,
        )

    def chat_completion_stream_with_cancel(
        self, request: ChatCompletionRequest, **kwargs: Any
    ) -> tuple[ChatStream, CancelHandle]:
        """A stream and the handle that cancels it from any thread.

        :param request: the request, as for :meth:`chat_completion_stream`.
        :param kwargs: the keyword arguments of :meth:`chat_completion_stream`
            (``on_payload``, ``on_response``, ``cancel``).
        :returns: ``(stream, stream.cancel_handle)``.
        :raises LlmError: what :meth:`chat_completion_stream` raises (``InvalidInputError``,
            ``PluginError``, the provider's typed errors before the first byte...).
        """
        stream = self.chat_completion_stream(request, **kwargs)
        return stream, stream.cancel_handle

    @scrubbed
    def quick_chat_text(self, model: str, prompt: str, **options: Any) -> str:
        """One user prompt in, the answer's text out (``prompt`` is a str or a Content).

        :param model: the model name, sent as it is.
        :param prompt: the user message: a ``str`` or a :class:`Content`.
        :param options: request options (``temperature``, ``max_tokens``...), as the keyword
            arguments of :class:`ChatCompletionRequest`.
        :returns: the text of the first choice (``""`` when there is none).
        :raises InvalidInputError: ``model``, ``prompt`` or an option fails validation (an
            unknown option name is a ``TypeError``).
        :raises LlmError: what :meth:`chat_completion` raises.
        """
        request = ChatCompletionRequest(model, [Message.user(prompt)], **options)
        return self.chat_completion(request).text()

    @scrubbed
    def list_models(self) -> list[ModelInfo]:
        """The provider's models (items with ``id``), every page of them.

        When the plugin's ``parse_list_models`` returns a :class:`~llmcore.ModelPage` with a
        ``next_request``, that request is sent the same way (base-URL parameters, headers,
        authentication, retries, one ``total_timeout`` for all pages), up to
        :data:`MAX_MODEL_PAGES` pages. Raises the typed :class:`LlmError` of a failed page,
        :class:`~llmcore.UnsupportedOperationError` when the provider or its API cannot list
        models, :class:`~llmcore.PluginError` when no installed plugin implements it, and
        :class:`MalformedResponseError` for a body of the wrong shape.
        """
        deadline = self._deadline()
        self._require("list_models")
        http_request = self.plugins.build_list_models(self.provider)
        models: list[ModelInfo] = []
        for _ in range(MAX_MODEL_PAGES):
            _, page = self._open(
                self._prepare(http_request),
                lambda response: self.plugins.parse_model_page(self.provider, response),
                stream=False,
                deadline=deadline,
            )
            assert page is not None
            models.extend(page.models)
            if page.next_request is None:
                return models
            http_request = page.next_request
        log.warning(
            "llmcore: %s listed models on %d pages and still had more; stopped there",
            self.provider.name,
            MAX_MODEL_PAGES,
        )
        return models

    @scrubbed
    def chat_completion_batch(
        self,
        requests: Iterable[ChatCompletionRequest],
        concurrency: int | None = None,
        *,
        executor: concurrent.futures.Executor | None = None,
        on_result: ResultCallback | None = None,
        progress: bool = False,
        cancel: CancelHandle | None = None,
        send_key: bool = False,
        retry: RetryPolicy | None = None,
    ) -> list[ChatCompletionResponse | LlmError]:
        """Send many requests at once; results in input order, errors in place.

        No item is ever dropped, duplicated or reordered: each slot holds the response or the
        :class:`LlmError` of that request, whatever it raised (bad input, a hook's bug, an
        encoding error: see :func:`item_error`).

        On this client's own threads (no ``executor``, or a
        :class:`~concurrent.futures.ThreadPoolExecutor`), the connection pool grows to
        ``concurrency`` for the batch, so no connection is opened and dropped per request.
        Any other executor (a process pool, dask's ``client.get_executor()``, Ray's) gets
        picklable tasks: a :class:`~llmcore.batching.ClientSpec` (provider, base URL,
        options) and the request; each worker process builds its own client once and reuses
        it. The key is read from the workers' environment unless ``send_key=True``.

        :param requests: the requests; an item that is not a :class:`ChatCompletionRequest`
            gets a :class:`ConfigurationError` in its slot.
        :param concurrency: how many requests run at once (default: the executor's
            ``max_workers`` when it has one, else ``pool_size``).
        :param executor: where the requests run; ``None`` for a thread pool of
            ``concurrency`` threads started for this batch.
        :param on_result: ``on_result(index, result)``, called on the calling thread once per
            request as its result arrives (completion order). If it raises, nothing more is
            submitted and the exception propagates once the running requests end.
        :param progress: show a progress bar (tqdm when installed, see
            ``pip install llmcore[progress]``; else a text line on a terminal's stderr).
        :param cancel: a :class:`CancelHandle`; ``cancel()`` from any thread stops the batch:
            finished results are kept, every other slot gets a
            :class:`~llmcore.errors.CancelledRequestError`. Requests running on this
            client's threads are interrupted at once.
        :param send_key: with an executor elsewhere, send this client's API key with every
            task (in plain text) instead of letting workers read their environment.
        :param retry: a :class:`~llmcore.RetryPolicy` for every request of this batch
            (it travels with the tasks to an executor elsewhere).
        :returns: one :class:`ChatCompletionResponse` or :class:`LlmError` per request.
        :raises ConfigurationError: ``concurrency`` is not an int >= 1, or an executor
            elsewhere was given with a client whose hooks or plugins cannot travel.

        Never raises for a failing item: its error is returned in its slot.
        """
        check_retry_policy(retry)
        items = list(requests)
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            raise ConfigurationError(f"concurrency must be an int >= 1, got {concurrency!r}")
        if not items:
            return []
        local = executor is None or isinstance(executor, futures.ThreadPoolExecutor)
        default = getattr(executor, "_max_workers", None) or self.options.pool_size
        window = max(1, min(concurrency or default, len(items)))
        if local:
            return self._batch_local(items, window, executor, on_result, progress, cancel, retry)
        assert executor is not None
        spec = self.spec(send_key=send_key)
        remote = executor

        def submit(index: int) -> concurrent.futures.Future[ChatCompletionResponse | LlmError]:
            return remote.submit(batching.run_item, spec, index, items[index], retry)

        return batching.run_ordered(
            len(items),
            submit,
            window=window,
            on_result=on_result,
            progress=progress,
            cancel=cancel,
            wait_running=False,
        )

    def _batch_local(
        self,
        items: list[Any],
        window: int,
        executor: concurrent.futures.Executor | None,
        on_result: ResultCallback | None,
        progress: bool,
        cancel: CancelHandle | None,
        retry: RetryPolicy | None = None,
    ) -> list[ChatCompletionResponse | LlmError]:
        pool = (
            executor
            if executor is not None
            else futures.ThreadPoolExecutor(window, "llmcore-batch")
        )

        def submit(index: int) -> concurrent.futures.Future[ChatCompletionResponse | LlmError]:
            return pool.submit(self._batch_item, index, items[index], cancel=cancel, retry=retry)

        try:
            with self._transport.reserve(window):
                # On a pool of its own the batch queues every item at once (the pool's threads
                # bound the concurrency, and a thread that finishes picks the next item without
                # waiting for the collecting thread); a caller's pool gets a window of items.
                results = batching.run_ordered(
                    len(items),
                    submit,
                    window=len(items) if executor is None else window,
                    on_result=on_result,
                    progress=progress,
                    cancel=cancel,
                    wait_running=True,
                )
        except BaseException:
            if executor is None:  # an on_result that raised: the running requests end first
                pool.shutdown(wait=True)
            raise
        if executor is None:
            # Every item has finished: the pool's idle threads end on their own, the results
            # need not wait for them.
            pool.shutdown(wait=False)
        return results

    def spec(self, *, send_key: bool = False) -> ClientSpec:
        """What a worker process needs to build the same client: picklable, nothing live.

        :param send_key: include this client's API key (in plain text). By default workers
            read the key from their own environment (the provider's ``api_key_env``).
        :raises ConfigurationError: the client has hooks or a custom plugin registry (they
            stay in this process), or its ``base_url`` holds ``user:password@`` credentials
            and ``send_key`` is false.
        """
        provider, base_url, api_key, default_plugins = self._spec_args
        if self._on_payload or self._on_response or not default_plugins:
            raise ConfigurationError(
                "this client's hooks and plugin registry cannot travel to other processes:"
                " run the batch without an executor (or on a ThreadPoolExecutor), or build"
                " the client without on_payload/on_response/plugins",
                provider=self.provider.name,
            )
        if self._url_headers and not send_key:
            raise ConfigurationError(
                "this client's base_url holds user:password@ credentials; they travel to"
                " other processes only with send_key=True",
                provider=self.provider.name,
            )
        key = None
        if send_key and self._credential is not None:
            key = api_key if api_key is not None else self._credential.reveal()
        return batching.ClientSpec(provider, base_url, self.options, key)

    def _batch_item(
        self,
        index: int,
        request: Any,
        *,
        cancel: CancelHandle | None = None,
        on_response: ResponseHook | None = None,
        retry: RetryPolicy | None = None,
    ) -> ChatCompletionResponse | LlmError:
        try:
            if cancel is not None and cancel.cancelled:
                return batching.cancelled_error(index)
            if not isinstance(request, ChatCompletionRequest):
                raise ConfigurationError(
                    f"requests[{index}] is a {type(request).__name__}, not a ChatCompletionRequest"
                )
            return self._chat(request, cancel=cancel, on_response=on_response, retry=retry)
        except LlmError as err:
            return scrub_chain(err)
        except CancelledError:
            return batching.cancelled_error(index)
        except Exception as exc:
            return scrub_chain(item_error(index, exc))

    @scrubbed
    def chat_completion_batch_smart(
        self,
        requests: Iterable[ChatCompletionRequest],
        concurrency: int | None = None,
        *,
        on_result: ResultCallback | None = None,
        progress: bool = False,
        cancel: CancelHandle | None = None,
        retry: RetryPolicy | None = None,
    ) -> list[ChatCompletionResponse | LlmError]:
        """Like :meth:`chat_completion_batch`, with rate-limit backoff and tiny batches inline.

        The same as ``llmcore.batch_smart([(client, r) for r in requests], ...)``: at most
        two requests run one after the other on this thread (no pool start-up); larger
        batches run ``concurrency`` (default ``pool_size``) at a time, and a 429 or an
        exhausted ``x-ratelimit-remaining-*`` pauses every further request until the
        provider's reset. Results keep the input order.

        :param requests: the requests, as for :meth:`chat_completion_batch`.
        :param concurrency: how many requests run at once (default ``pool_size``).
        :param on_result: ``on_result(index, result)`` once per request, on the calling
            thread, as for :meth:`chat_completion_batch`.
        :param progress: show a progress bar, as for :meth:`chat_completion_batch`.
        :param cancel: a :class:`CancelHandle` that stops the batch, as for
            :meth:`chat_completion_batch`.
        :param retry: a :class:`~llmcore.RetryPolicy` for every request of this batch.
        :returns: one :class:`ChatCompletionResponse` or :class:`LlmError` per request.
        :raises ConfigurationError: ``concurrency`` is not an int >= 1.

        Never raises for a failing item: its error (an :class:`LlmError`) is returned in its
        slot.
        """
        return batching.batch_smart(
            [(self, request) for request in requests],
            concurrency,
            on_result=on_result,
            progress=progress,
            cancel=cancel,
            retry=retry,
        )

    # --- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection pool. Never raises."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- requests beyond chat: what plugin extensions send ------------------------------------
    @overload
    def send_request(
        self, http_request: HttpRequest, *, stream: Literal[False] = False
    ) -> HttpResponse: ...

    @overload
    def send_request(
        self,
        http_request: HttpRequest,
        *,
        stream: Literal[True],
        cancel: CancelHandle | None = None,
    ) -> Iterator[Frame]: ...

    @scrubbed
    def send_request(
        self,
        http_request: HttpRequest,
        *,
        stream: bool = False,
        cancel: CancelHandle | None = None,
    ) -> HttpResponse | Iterator[Frame]:
        """Send a request a plugin built (model management, native streams) on the chat path.

        ``http_request`` goes through the same steps as a chat call: the client's
        ``on_payload`` hooks and default headers, authentication, the transport with retries,
        ``total_timeout`` and the ``on_response`` hooks; a non-2xx answer raises the typed
        error the plugin's ``parse_error`` (or the core's default) makes of it.

        :param http_request: the request; its URL is absolute (``provider.url(...)``).
        :param stream: False: wait for the whole body and return the :class:`HttpResponse`
            (2xx). True: return an iterator of the body's :class:`Frame` objects, decoded as
            ``http_request.stream_format`` says (NDJSON lines or SSE events) as they arrive;
            an SSE request answered with one JSON body yields that body as a single frame.
            Closing the iterator (or leaving a ``for`` loop early and dropping it) closes the
            connection.
        :param cancel: streams only: a :class:`CancelHandle` that stops the stream from any
            thread. Cancelled before the answer arrives, the call returns an empty iterator;
            during the stream, the iterator ends early (``cancel.cancelled`` tells it from a
            complete body).
        :raises LlmError: the typed error of a non-2xx answer (after the retries the options
            allow), :class:`ApiConnectionError` / :class:`RequestTimeoutError` when no answer
            arrives, and, while a stream is read, :class:`StreamInterruptedError` (or its
            subclass :class:`StreamTimeoutError`) when the connection breaks or times out.
            :class:`InvalidInputError` for ``cancel=`` without ``stream=True``.
        """
        if cancel is not None and not stream:
            raise InvalidInputError.at("cancel", "only streams (stream=True) can be cancelled")
        deadline = self._deadline()
        prepared = self._prepare(http_request)
        if not stream:
            _, response = self._open(
                prepared, lambda answer: answer, stream=False, cancel=cancel, deadline=deadline
            )
            assert response is not None
            return response
        try:
            opened, whole = self._open(
                prepared, lambda answer: answer, stream=True, cancel=cancel, deadline=deadline
            )
        except CancelledError:
            return iter(())
        if whole is not None:  # one JSON body where a stream was asked for
            return iter((Frame(whole.text()),))
        return self._frames(opened, prepared.stream_format)

    def _frames(self, opened: OpenResponse, stream_format: Any) -> Iterator[Frame]:
        """The frames of an open stream; broken connections become stream errors."""
        count = 0
        try:
            for frame in decode_frames(opened.iter_bytes(), stream_format):
                count += 1
                yield frame
        except CancelledError:
            return
        except (ApiConnectionError, RequestTimeoutError) as exc:
            cls = StreamTimeoutError if isinstance(exc, RequestTimeoutError) else None
            err = (cls or StreamInterruptedError)(
                f"the stream broke after {count} frames: {exc.message}",
                provider=self.provider.name,
            )
            raise scrub_chain(err) from exc
        except LlmError as err:
            raise scrub_chain(err) from None
        finally:
            opened.close()

    # --- extensions: operations of one API beyond chat ----------------------------------------
    def extension(self, name: str) -> Any:
        """The extension ``name`` that the plugin of this client's API offers.

        Extensions hold what one API has beyond chat and model listing, such as Ollama's model
        management (``client.extension("ollama").pull_model("llama3.2")``). They are found
        through the ``client_extension`` hook, asked only of the plugins that serve
        ``self.provider.api``. ``client.as_<name>()`` is a shorthand for
        ``client.extension("<name>")``; type checkers do not know the shorthand (it is
        resolved at run time), so typed code calls :meth:`extension` or the plugin's own typed
        accessor (``llmcore_ollama.as_ollama(client)``).

        :param name: the extension's name, e.g. ``"ollama"``.
        :return: the extension object (a new one per call; it sends through this client).
        :raises UnsupportedOperationError: no installed plugin of this client's API offers an
            extension of that name.
        """
        found = self.plugins.client_extension(name, self)
        if found is None:
            raise UnsupportedOperationError(
                f"provider {self.provider.name!r} (api {self.provider.api!r}) has no "
                f"{name!r} extension: no installed plugin of that API offers one",
                provider=self.provider.name,
            )
        return found

    if not TYPE_CHECKING:  # ``as_<name>()``: resolved at run time only, see ``extension``

        def __getattr__(self, attribute: str) -> Callable[[], Any]:
            name = attribute[3:] if attribute.startswith("as_") else ""
            if not name or "plugins" not in self.__dict__:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {attribute!r}"
                )
            if self.plugins.client_extension(name, self) is None:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {attribute!r}: provider "
                    f"{self.provider.name!r} (api {self.provider.api!r}) has no {name!r} "
                    "extension"
                )
            return lambda: self.extension(name)
