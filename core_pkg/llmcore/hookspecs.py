"""The hook specifications: the whole contract between the core and provider plugins.

A plugin is a module (or object) with functions decorated ``@llmcore.hookimpl`` whose names match
the specs below; it may accept any subset of a spec's arguments. Plugins are *pure translators*:
they never open sockets, sleep, retry, or read the environment or the clock; everything they need
is passed in. Single-answer hooks are ``firstresult``: the first implementation that returns
something other than ``None`` wins, so an implementation returns ``None`` for calls that are not
its own (typically ``if provider.api != "my-api": return None``). Vendor quirks are more specific
implementations marked ``tryfirst=True`` that return ``None`` for other providers; the core's
defaults are ``trylast``.
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
        JSON body, ``stream_format``), or ``None`` when ``provider.api`` is not this plugin's.
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
    :return: a :class:`llmcore.ChatCompletionResponse`, or ``None`` when not this plugin's API.
        A ``KeyError``/``TypeError``/``ValueError`` raised here becomes a
        :class:`llmcore.MalformedResponseError` naming the provider. Raise an
        :class:`llmcore.LlmError` for errors reported inside a 2xx body. Stops at the first
        non-None result.
    """


@hookspec(firstresult=True)
def iter_stream(provider, request, frames):
    """Turn a stream's decoded frames into unified chunks.

    Must be a *plain function* that returns ``None`` (not its API) or an iterator; a generator
    function would always return a generator, never ``None``.

    :param provider: the :class:`llmcore.Provider`.
    :param request: the :class:`llmcore.ChatCompletionRequest` that was sent.
    :param frames: an iterator of :class:`llmcore.Frame` (SSE events or NDJSON lines, as
        ``HttpRequest.stream_format`` asked), decoded by the core.
    :return: an iterator of :class:`llmcore.ChatCompletionChunk`, or ``None``. Each chunk's
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
    """Build the HTTP request that lists a provider's models.

    :param provider: the :class:`llmcore.Provider`.
    :return: an :class:`llmcore.HttpRequest`, or ``None`` when not this plugin's API. Raise
        :class:`llmcore.UnsupportedOperationError` when the API cannot list models.
        Stops at the first non-None result.
    """


@hookspec(firstresult=True)
def parse_list_models(provider, response):
    """Parse a successful list-models response.

    :param provider: the :class:`llmcore.Provider`.
    :param response: the :class:`llmcore.HttpResponse`.
    :return: a list of :class:`llmcore.ModelInfo`, or ``None`` when not this plugin's API.
        Stops at the first non-None result.
    """
