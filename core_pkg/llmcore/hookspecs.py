"""The hook specifications: the whole contract between the core and provider plugins.

A plugin is a module (or object) with functions decorated ``@llmcore.hookimpl`` whose names match
the specs below; it may accept any subset of a spec's arguments. Plugins are *pure translators*:
they never open sockets, sleep, retry, or read the environment or the clock; everything they need
is passed in.

A plugin declares the APIs it translates, at module level (or as an attribute of a plugin
object): ``LLMCORE_APIS = ("my-api",)``. The core calls its *translation hooks*
(``build_payload``, ``authenticate``, ``parse_response``, ``iter_stream``, ``parse_error``,
``build_list_models``, ``parse_list_models``, ``client_extension``) only for providers whose
``api`` is one of them,
so no hook checks ``provider.api`` and ``iter_stream`` may be a generator function. A plugin
without ``LLMCORE_APIS`` that implements a translation hook gets a ``PluginLoadWarning`` and is
never called for it; ``LLMCORE_APIS = "*"`` opts in to every API (cross-cutting wrappers such as
tracing). ``register_providers`` is called on every plugin.

Single-answer hooks are ``firstresult``: among the plugins that serve an API, the first
implementation that returns something other than ``None`` wins. Vendor quirks are more specific
implementations marked ``tryfirst=True`` in a plugin that declares the same API; they return
``None`` for the providers they do not adjust. The core's defaults are ``trylast``.
"""

from __future__ import annotations

import pluggy

PROJECT = "llmcore"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_providers(register):
    """Register the providers a plugin offers.

    Called once when the plugin registry is first built (and again after plugins change).

    :param register: call ``register(provider)`` with a :class:`llmcore.Provider` for each
        provider. A later registration of the same name replaces the earlier one, and a
        plugin registered later (run-time plugins register after the installed ones) replaces
        the providers of earlier plugins. A plugin whose implementation raises is skipped with a
        :class:`llmcore.PluginLoadWarning`.
    :return: nothing; this is a collection hook, every plugin is called.
    """


@hookspec(firstresult=True)
def build_payload(provider, request, stream):
    """Turn a unified chat request into the HTTP request for ``provider``.

    Called for every chat call, before authentication and before the ``on_payload`` callbacks.

    :param provider: the :class:`llmcore.Provider` (its ``base_url`` already resolved).
    :param request: the :class:`llmcore.ChatCompletionRequest`.
    :param stream: True when the caller asked for a stream.
    :return: an :class:`llmcore.HttpRequest` (method, absolute URL, headers without credentials,
        JSON body, ``stream_format``); ``None`` leaves it to the next plugin of the same API.
        Raise :class:`llmcore.UnsupportedOperationError` or :class:`llmcore.ConfigurationError`
        for requests the API cannot express. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def authenticate(provider, http_request, credential, now):
    """Add credentials to an outgoing request (headers, query or a signature).

    Called after ``build_payload`` and after the ``on_payload`` callbacks, just before sending. The
    core's ``trylast`` default handles ``provider.auth`` schemes ``bearer``, ``x-api-key``,
    ``api-key``, ``query-key`` and ``none``; implement it for signing schemes (HMAC, JWT).

    :param provider: the :class:`llmcore.Provider`.
    :param http_request: the :class:`llmcore.HttpRequest` about to be sent.
    :param credential: a :class:`llmcore.Secret` holding the API key, or ``None``.
    :param now: the current time as a POSIX timestamp (for signatures; never read the clock).
    :return: the authenticated :class:`llmcore.HttpRequest`, or ``None`` to leave it to the next
        implementation. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def parse_response(provider, request, response):
    """Turn a successful (2xx) non-streamed HTTP response into a unified response.

    :param provider: the :class:`llmcore.Provider`.
    :param request: the :class:`llmcore.ChatCompletionRequest` that was sent.
    :param response: the :class:`llmcore.HttpResponse` (status, lower-cased headers, body bytes).
    :return: a :class:`llmcore.ChatCompletionResponse` (``None``: the next plugin answers).
        A ``KeyError``/``TypeError``/``ValueError`` raised here becomes a
        :class:`llmcore.MalformedResponseError` naming the provider. Raise an
        :class:`llmcore.LlmError` for errors reported inside a 2xx body. Stops at the first
        non-None result.
    """


@hookspec(firstresult=True)
def iter_stream(provider, request, frames):
    """Turn a stream's decoded frames into unified chunks.

    A generator function, or a plain function that returns an iterator.

    :param provider: the :class:`llmcore.Provider`.
    :param request: the :class:`llmcore.ChatCompletionRequest` that was sent.
    :param frames: an iterator of :class:`llmcore.Frame` (SSE events or NDJSON lines, as
        ``HttpRequest.stream_format`` asked), decoded by the core.
    :return: an iterator of :class:`llmcore.ChatCompletionChunk` (``None``: the next plugin
        answers). Each chunk's
        ``usage`` is the cumulative usage so far (it replaces earlier values). The iterator should
        *return* ``True`` (a generator's ``return True``) once it has seen the stream's terminal
        frame (``[DONE]``, ``message_stop``...); a stream whose frames run out before the terminal
        frame and before any ``finish_reason`` is reported as truncated. Raise an
        :class:`llmcore.LlmError` for error frames. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def parse_error(provider, response):
    """Turn a non-2xx HTTP response into a typed error.

    The core's ``trylast`` default understands ``{"error": {"message", "type", "code"}}`` bodies,
    plain-text and HTML pages, ``retry-after-ms``/``retry-after`` headers and the HTTP status.

    :param provider: the :class:`llmcore.Provider`.
    :param response: the :class:`llmcore.HttpResponse`.
    :return: an :class:`llmcore.LlmError` (not raised, returned), or ``None`` to fall back to the
        next implementation. Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def build_list_models(provider):
    """Build the HTTP request for the first page of a provider's models.

    :param provider: the :class:`llmcore.Provider`.
    :return: an :class:`llmcore.HttpRequest` (``None``: the next plugin answers). Raise
        :class:`llmcore.UnsupportedOperationError` when the API cannot list models.
        Stops at the first non-None result.

    URLs: ``provider.url("models")`` joins under the configured ``base_url`` (use it when every
    endpoint of the API shares one prefix); ``provider.origin_url("/v1/models")`` builds a path
    on the base URL's host alone, for an API whose model list sits under another prefix than
    its chat endpoint (``/v1/models`` beside ``/v2/chat``), so the user's ``base_url`` stays
    the conventional one. Query parameters go in ``HttpRequest.params``; the core adds those of
    the base URL's query string to every request, pages included.
    """


@hookspec(firstresult=True)
def parse_list_models(provider, response):
    """Parse one successful list-models response (one page).

    :param provider: the :class:`llmcore.Provider`.
    :param response: the :class:`llmcore.HttpResponse`.
    :return: a list of :class:`llmcore.ModelInfo` (the whole list, or the last page), or a
        :class:`llmcore.ModelPage` ``(models, next_request)`` whose ``next_request`` is the
        :class:`llmcore.HttpRequest` for the next page (built from the response's cursor:
        ``after_id``, ``nextPageToken``...) or ``None`` on the last page. ``None``: the next
        plugin answers. Stops at the first non-None result.

    Pagination stays pure: the plugin only says which request comes next, and
    :meth:`llmcore.Client.list_models` sends it through the usual path (headers, credentials,
    retries, the one ``total_timeout``), concatenating the pages' models, for at most
    :data:`llmcore.client.MAX_MODEL_PAGES` pages.
    """


@hookspec(firstresult=True)
def client_extension(name, client):
    """Offer an API-specific extension object for a client: ``client.extension(name)``.

    Called when the user asks a :class:`llmcore.Client` for an extension, by
    ``client.extension("ollama")`` or its shorthand ``client.as_ollama()``. Like the translation
    hooks it is scoped: only plugins that declare ``client.provider.api`` in ``LLMCORE_APIS``
    are asked. An extension holds operations of one API beyond chat and model listing (model
    management, native streams); it stays a translator: it builds :class:`llmcore.HttpRequest`
    objects, sends them with :meth:`llmcore.Client.send_request` (the core authenticates,
    retries, maps errors and decodes streams) and parses what comes back.

    :param name: the extension's name (``"ollama"`` for ``client.as_ollama()``).
    :param client: the :class:`llmcore.Client` asking; the extension sends through it.
    :return: the extension object, or ``None`` when this plugin offers no extension of that
        name (the client then raises :class:`llmcore.UnsupportedOperationError`). Stops at the
        first non-None result.
    """
