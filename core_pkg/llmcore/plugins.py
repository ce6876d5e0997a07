"""Plugin discovery and the one typed facade through which the core calls hooks.

Entry points in the group ``llmcore`` are loaded lazily, on first use, once. The installed
entry points are listed once per :class:`Plugins`, in one scan; a distribution that also
declares what it serves, in the groups ``llmcore.providers`` (one entry per provider name) and
``llmcore.apis`` (one entry per API name), is imported only when one of those names is needed:
``Client("openai")`` imports the plugins that declare ``openai`` (plus every plugin that
declares nothing, as before), not every installed plugin. Whatever needs the whole picture
(:meth:`Plugins.providers`, :meth:`Plugins.register`, :attr:`Plugins.pm`, a name nobody
declares) loads every plugin. Plugins are registered in entry-point order however they were
loaded, so "a later plugin wins" means the same in every case.

A plugin that fails to import or to validate is skipped with a :class:`PluginLoadWarning` naming
it; the others still load. ``LLMCORE_LOAD_PLUGINS`` limits which distributions (or entry-point
names) load: unset means all, an empty value means none, otherwise a comma-separated allow-list.
``LLMCORE_TRACE_HOOKS=1`` logs every hook call at DEBUG level on the ``llmcore.hooks`` logger.

Tests and applications may build their own :class:`Plugins` (``Plugins(load_entrypoints=False)``)
and register plugin objects at run time with :meth:`Plugins.register`.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import pluggy

from llmcore import _defaults, hookspecs
from llmcore.chat import ModelPage
from llmcore.errors import (
    ConfigurationError,
    LlmError,
    MalformedResponseError,
    PluginError,
    complete_error,
    redact,
)
from llmcore.providers import Provider

if TYPE_CHECKING:
    from llmcore.chat import (
        ChatCompletionChunk,
        ChatCompletionRequest,
        ChatCompletionResponse,
        ModelInfo,
    )
    from llmcore.client import Client
    from llmcore.http import Frame, HttpRequest, HttpResponse
    from llmcore.providers import Secret

__all__ = [
    "APIS_GROUP",
    "PROVIDERS_GROUP",
    "TRANSLATION_HOOKS",
    "PluginLoadWarning",
    "Plugins",
    "declared_apis",
    "get_plugins",
    "register_plugin",
    "serves",
]

log = logging.getLogger("llmcore")
_hook_log = logging.getLogger("llmcore.hooks")
_PARSE_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError)


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; llmcore goes on without it."""


PROVIDERS_GROUP = "llmcore.providers"
"""The entry-point group in which a distribution declares the providers its plugin registers
(entry name: the provider name; value: the plugin module, as in the ``llmcore`` group)."""

APIS_GROUP = "llmcore.apis"
"""The entry-point group in which a distribution declares the APIs its plugin serves
(entry name: the API name, as in ``LLMCORE_APIS``; value: the plugin module)."""


TRANSLATION_HOOKS = (
    "build_payload",
    "authenticate",
    "parse_response",
    "iter_stream",
    "parse_error",
    "build_list_models",
    "parse_list_models",
    "client_extension",
)
"""The hooks the core calls per API: only on plugins that declare that API."""


def declared_apis(plugin: object) -> frozenset[str] | None:
    """The APIs ``plugin`` declares in ``LLMCORE_APIS`` (``"*"``: every API), or None."""
    apis = getattr(plugin, "LLMCORE_APIS", None)
    if apis is None:
        return None
    if isinstance(apis, str):
        apis = (apis,)
    return frozenset(str(a) for a in apis)


def serves(plugin: object, api: str) -> bool:
    """True when the core calls ``plugin``'s translation hooks for ``api``."""
    apis = declared_apis(plugin)
    return apis is not None and ("*" in apis or api in apis)


def _allowed() -> set[str] | None:
    raw = os.environ.get("LLMCORE_LOAD_PLUGINS")
    if raw is None:
        return None
    return {x.strip().lower().replace("_", "-") for x in raw.split(",") if x.strip()}


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-")


def _dist_name(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else ep.name


def _dist_key(ep: importlib.metadata.EntryPoint) -> object:
    """What the entry points of one distribution share: the distribution object itself (its
    name would parse its METADATA file, for each entry point)."""
    dist = getattr(ep, "dist", None)
    return dist if dist is not None else ep.name


class _Entry(NamedTuple):
    """One ``llmcore`` entry point and what its distribution declares it serves."""

    rank: int  # the position in the scan: plugins are registered in this order
    ep: importlib.metadata.EntryPoint
    providers: frozenset[str] | None  # None: the distribution declares nothing
    apis: frozenset[str] | None


def _scan() -> list[_Entry]:
    """Every allowed ``llmcore`` entry point with its declarations, from one listing."""
    allowed = _allowed()
    eps = importlib.metadata.entry_points()
    declared: dict[object, tuple[set[str], set[str]]] = {}
    for index, group in enumerate((PROVIDERS_GROUP, APIS_GROUP)):
        for ep in eps.select(group=group):
            declared.setdefault(_dist_key(ep), (set(), set()))[index].add(ep.name)
    entries: list[_Entry] = []
    for rank, ep in enumerate(eps.select(group=hookspecs.PROJECT)):
        if allowed is not None:
            names = {_normalize(_dist_name(ep)), _normalize(ep.name)}
            if not names & allowed:
                continue
        found = declared.get(_dist_key(ep))
        if found is None:
            entries.append(_Entry(rank, ep, None, None))
        else:
            entries.append(_Entry(rank, ep, frozenset(found[0]), frozenset(found[1])))
    return entries


def _snippet(body: bytes) -> str:
    text = body[:200].decode("utf-8", errors="replace")
    return text + ("..." if len(body) > 200 else "")


class Plugins:
    """A pluggy manager for project ``llmcore`` plus a typed facade over its hooks."""

    def __init__(self, *, load_entrypoints: bool = True) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._pm.register(_defaults, name="llmcore.defaults")
        self._load_entrypoints = load_entrypoints
        self._loaded = False  # every entry point has been tried
        self._entries: list[_Entry] | None = None  # every allowed entry point (None: unscanned)
        self._pending: list[_Entry] = []  # the entry points not tried yet
        self._ranks: dict[str, int] = {}  # registered entry-point plugins: name -> rank
        self._lock = threading.RLock()
        self._providers: dict[str, Provider] | None = None
        self._callers: dict[tuple[str, str], Any] = {}
        self.failed: dict[str, str] = {}
        if os.environ.get("LLMCORE_TRACE_HOOKS"):
            self._pm.trace.root.setwriter(logging.getLogger("llmcore.hooks").debug)
            self._pm.enable_tracing()

    # --- loading ---------------------------------------------------------------------------
    @property
    def pm(self) -> pluggy.PluginManager:
        """The pluggy manager, with entry points loaded (once)."""
        self._ensure_loaded()
        return self._pm

    def _ensure_loaded(self) -> None:
        """Load every entry point not tried yet."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            if self._load_entrypoints:
                self._load(self._scanned())
            self._loaded = True

    def _scanned(self) -> list[_Entry]:
        """The entry points not tried yet (the first call lists them: once per instance)."""
        if self._entries is None:
            self._entries = _scan()
            self._pending = list(self._entries)
        return self._pending

    def _ensure_serving(self, *, provider: str | None = None, api: str | None = None) -> None:
        """Load what ``provider`` (or ``api``) needs: the plugins whose distribution declares
        it plus the plugins that declare nothing; then, if none of them registers that provider
        (serves that API), every plugin."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            if not self._load_entrypoints:
                self._loaded = True
                return
            pending = self._scanned()
            if provider is not None:
                self._load([e for e in pending if e.providers is None or provider in e.providers])
                found = provider in self._registered_providers()
            else:
                apis = {api, "*"}  # "*": a plugin serving every API
                self._load([e for e in pending if e.apis is None or apis & e.apis])
                found = any(  # an installed plugin naming the API ("*" aside, as the core's)
                    api in (declared_apis(self._pm.get_plugin(name)) or ()) for name in self._ranks
                )
            if not found:  # nobody declares it, or a declaration is wrong: look everywhere
                self._load(self._pending)
            if not self._pending:
                self._loaded = True

    def _load(self, entries: list[_Entry]) -> None:
        """Import and register ``entries``, keeping every entry-point plugin in scan order."""
        if not entries:
            return
        # Entry points sharing a name load together, so the first in the scan keeps the name.
        names = {e.ep.name for e in entries}
        entries = [e for e in self._pending if e in entries or e.ep.name in names]
        self._pending = [e for e in self._pending if e not in entries]
        first = entries[0].rank
        # Plugins loaded earlier that come later in the scan step aside and register again after
        # the new ones, so the registration order (which decides who wins) is the scan order.
        moved: list[tuple[int, str, object]] = []
        for name, rank in sorted(self._ranks.items(), key=lambda item: item[1]):
            plugin = self._pm.get_plugin(name) if rank > first else None
            if plugin is not None:
                self._pm.unregister(name=name)
                moved.append((rank, name, plugin))
        queue: list[tuple[int, _Entry | None, str, object]] = [
            (e.rank, e, e.ep.name, None) for e in entries
        ]
        queue += [(rank, None, name, plugin) for rank, name, plugin in moved]
        try:
            for _rank, entry, name, plugin in sorted(queue, key=lambda item: item[0]):
                if entry is not None:
                    self._load_one(entry)
                else:
                    self._pm.register(plugin, name=name)
        finally:
            for _rank, name, plugin in moved:  # even if an import was interrupted
                if not self._pm.has_plugin(name):
                    self._pm.register(plugin, name=name)
            self._providers = None
            self._callers = {}

    def _load_one(self, entry: _Entry) -> None:
        ep = entry.ep
        if self._pm.has_plugin(ep.name):
            return
        try:
            plugin = ep.load()
            self._pm.register(plugin, name=ep.name)
            self._pm.check_pending()
            self._check_scope(plugin, ep.name)
        except Exception as exc:  # a broken plugin must not break the others
            if self._pm.has_plugin(ep.name):
                self._pm.unregister(name=ep.name)
            dist = _dist_name(ep)
            self.failed[ep.name] = redact(f"{type(exc).__name__}: {exc}")
            warnings.warn(
                redact(
                    f"llmcore: plugin {ep.name!r} from distribution {dist!r} failed to load "
                    f"and is skipped: {type(exc).__name__}: {exc}"
                ),
                PluginLoadWarning,
                stacklevel=4,
            )
            return
        self._ranks[ep.name] = entry.rank

    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object or module at run time (tests, app-local plugins).

        Entry points load first, so a plugin registered at run time answers before the installed
        ones and its providers replace installed providers of the same name.

        :param plugin: a module or object with hook implementations; translation hooks are
            called only for the APIs it lists in ``LLMCORE_APIS``.
        :param name: the name to register it under (default: chosen by pluggy).
        :raises PluginError: the name or the object is already registered, or a hook
            implementation does not match its specification (the plugin is then not kept).
        A plugin with translation hooks but no ``LLMCORE_APIS`` is registered with a
        :class:`PluginLoadWarning`, since the core would never call them.
        """
        self._ensure_loaded()
        with self._lock:
            try:
                self._pm.register(plugin, name=name)
            except ValueError as exc:  # pluggy: name or object already registered
                raise PluginError(f"plugin {name or plugin!r} not registered: {exc}") from exc
            except pluggy.PluginValidationError as exc:
                # Some pluggy versions keep a plugin whose hookimpl arguments fail validation
                # half-registered; others do not.
                if self._pm.is_registered(plugin):
                    self._pm.unregister(plugin)
                raise PluginError(f"plugin {name or plugin!r} is invalid: {exc}") from exc
            try:
                self._pm.check_pending()
            except pluggy.PluginValidationError as exc:
                self._pm.unregister(plugin)
                raise PluginError(f"plugin {name or plugin!r} is invalid: {exc}") from exc
            self._check_scope(plugin, name or repr(plugin))
            self._providers = None
            self._callers = {}

    def unregister(self, name: str) -> None:
        """Remove a plugin registered under ``name``; an unknown name does nothing.

        :param name: the name the plugin was registered under. Never raises.
        """
        with self._lock:
            self._pm.unregister(name=name)
            self._providers = None
            self._callers = {}

    def _check_scope(self, plugin: object, name: str) -> None:
        """Warn about a plugin whose translation hooks could never be called."""
        if declared_apis(plugin) is not None:
            return
        hooks = [h for h in TRANSLATION_HOOKS if callable(getattr(plugin, h, None))]
        if hooks:
            warnings.warn(
                f"llmcore: plugin {name!r} implements {', '.join(hooks)} but declares no "
                "LLMCORE_APIS, so the core never calls them; add e.g. LLMCORE_APIS = "
                '("my-api",) to the plugin module',
                PluginLoadWarning,
                stacklevel=3,
            )

    def _hook(self, name: str, api: str) -> Any:
        """The hook ``name`` restricted to the plugins that serve ``api`` (cached)."""
        key = (name, api)
        caller = self._callers.get(key)
        if caller is None:
            self._ensure_serving(api=api)
            with self._lock:
                pm = self._pm
                others = [p for p in pm.get_plugins() if not serves(p, api)]
                caller = pm.subset_hook_caller(name, others)
                self._callers[key] = caller
        return caller

    # --- providers ---------------------------------------------------------------------------
    def providers(self) -> dict[str, Provider]:
        """Every registered provider by name (cached until plugins change); loads every plugin.

        Never raises: a plugin failing in ``register_providers`` (or registering something that
        is not a :class:`Provider`) is skipped with a :class:`PluginLoadWarning`.
        """
        self._ensure_loaded()
        return self._registered_providers()

    def _registered_providers(self) -> dict[str, Provider]:
        """The providers of the plugins registered so far (cached until plugins change)."""
        cached = self._providers
        if cached is not None:
            return cached
        with self._lock:
            found: dict[str, Provider] = {}

            def register(provider: Provider) -> None:
                if not isinstance(provider, Provider):
                    raise PluginError(f"register_providers got {provider!r}, not a Provider")
                found[provider.name] = provider

            # Called one by one, earliest-registered plugin first, so a later plugin (and a later
            # registration within one plugin) replaces a provider of the same name, and one
            # failing plugin is skipped with a warning instead of hiding every provider.
            for impl in self._pm.hook.register_providers.get_hookimpls():
                try:
                    impl.function(*[{"register": register}[a] for a in impl.argnames])
                    _hook_log.debug("register_providers: plugin %r called", impl.plugin_name)
                except Exception as exc:
                    warnings.warn(
                        redact(
                            f"llmcore: plugin {impl.plugin_name!r} failed in register_providers "
                            f"and its providers are skipped: {type(exc).__name__}: {exc}"
                        ),
                        PluginLoadWarning,
                        stacklevel=3,
                    )
            self._providers = found
            return found

    def provider(self, name: str) -> Provider:
        """The provider called ``name``.

        Loads only the plugins whose distribution declares ``name`` (and those that declare
        nothing); every plugin when none of those registers it.

        :param name: a registered provider name (``"openai"``).
        :raises ConfigurationError: no installed plugin registers ``name``; the message lists
            the installed providers.
        """
        self._ensure_serving(provider=name)
        providers = self._registered_providers()
        try:
            return providers[name]
        except KeyError:
            known = ", ".join(sorted(providers)) or "none"
            raise ConfigurationError(
                f"unknown provider {name!r}; installed providers: {known}. Install its plugin "
                f"(e.g. pip install ./plugins/llmcore-{name.split('-')[0]}) or pass a Provider."
            ) from None

    # --- the facade --------------------------------------------------------------------------
    def _missing(self, provider: Provider, what: str) -> PluginError:
        dist = provider.distribution or f"llmcore-{provider.api.split('-')[0]}"
        return PluginError(
            f"no plugin implements {what} for api {provider.api!r} (provider {provider.name!r});"
            f" install {dist}",
            provider=provider.name,
        )

    def build_payload(
        self, provider: Provider, request: ChatCompletionRequest, stream: bool
    ) -> HttpRequest:
        """The provider request for ``request`` (``PluginError`` if no plugin answers).

        An :class:`LlmError` the plugin raises, such as the ``InvalidInputError`` for input its
        API cannot express, passes through unchanged; only a crash (``KeyError``,
        ``TypeError``...) becomes a ``PluginError`` blaming the plugin.
        """
        try:
            result = self._hook("build_payload", provider.api)(
                provider=provider, request=request, stream=stream
            )
        except LlmError:
            raise
        except _PARSE_ERRORS as exc:
            raise PluginError(
                f"plugin failed to build the {provider.api} payload: {type(exc).__name__}: {exc}",
                provider=provider.name,
            ) from exc
        if result is None:
            raise self._missing(provider, "build_payload")
        return result  # type: ignore[no-any-return]

    def authenticate(
        self, provider: Provider, http_request: HttpRequest, credential: Secret | None, now: float
    ) -> HttpRequest:
        """``http_request`` with credentials added."""
        result = self._hook("authenticate", provider.api)(
            provider=provider, http_request=http_request, credential=credential, now=now
        )
        if result is None:
            raise ConfigurationError(
                f"no plugin can authenticate auth scheme {provider.auth!r} "
                f"of provider {provider.name!r}",
                provider=provider.name,
            )
        return result  # type: ignore[no-any-return]

    def parse_response(
        self, provider: Provider, request: ChatCompletionRequest, response: HttpResponse
    ) -> ChatCompletionResponse:
        """The unified response (``MalformedResponseError`` for bodies of the wrong shape)."""
        try:
            result = self._hook("parse_response", provider.api)(
                provider=provider, request=request, response=response
            )
        except LlmError:
            raise
        except _PARSE_ERRORS as exc:
            raise self.malformed(provider, response.body, exc) from exc
        if result is None:
            raise self._missing(provider, "parse_response")
        return result  # type: ignore[no-any-return]

    def iter_stream(
        self, provider: Provider, request: ChatCompletionRequest, frames: Iterator[Frame]
    ) -> Iterator[ChatCompletionChunk]:
        """The plugin's chunk iterator over ``frames``."""
        result = self._hook("iter_stream", provider.api)(
            provider=provider, request=request, frames=frames
        )
        if result is None:
            raise self._missing(provider, "iter_stream")
        return result  # type: ignore[no-any-return]

    def parse_error(self, provider: Provider, response: HttpResponse) -> LlmError:
        """The typed error for a non-2xx response."""
        try:
            result = self._hook("parse_error", provider.api)(provider=provider, response=response)
        except _PARSE_ERRORS as exc:
            log.debug("parse_error hook failed: %r", exc)
            result = None
        if not isinstance(result, LlmError):
            result = _defaults.parse_error(provider=provider, response=response)
        return complete_error(result, response, provider=provider.name)

    def build_list_models(self, provider: Provider) -> HttpRequest:
        """The list-models request."""
        result = self._hook("build_list_models", provider.api)(provider=provider)
        if result is None:
            raise self._missing(provider, "build_list_models")
        return result  # type: ignore[no-any-return]

    def parse_list_models(self, provider: Provider, response: HttpResponse) -> list[ModelInfo]:
        """The models of one list-models response (one page; see :meth:`parse_model_page`)."""
        return list(self.parse_model_page(provider, response).models)

    def parse_model_page(self, provider: Provider, response: HttpResponse) -> ModelPage:
        """One page of models and the request for the next page, if any.

        A plugin's ``parse_list_models`` may return a list (a single page) or a
        :class:`~llmcore.chat.ModelPage`; anything else is a ``MalformedResponseError``.
        """
        try:
            result = self._hook("parse_list_models", provider.api)(
                provider=provider, response=response
            )
            if result is None:
                raise self._missing(provider, "parse_list_models")
            if isinstance(result, ModelPage):
                return result
            if isinstance(result, str | bytes | dict) or not isinstance(result, Iterable):
                raise TypeError(
                    f"parse_list_models returned a {type(result).__name__}, not a list of "
                    "ModelInfo or a ModelPage"
                )
            return ModelPage(result)
        except LlmError:
            raise
        except _PARSE_ERRORS as exc:
            raise self.malformed(provider, response.body, exc) from exc

    def client_extension(self, name: str, client: Client) -> Any:
        """The extension ``name`` offered for ``client`` by a plugin of its provider's API, or
        None when none offers it. An :class:`LlmError` the plugin raises passes through; a crash
        becomes a ``PluginError``."""
        provider = client.provider
        try:
            return self._hook("client_extension", provider.api)(name=name, client=client)
        except LlmError:
            raise
        except _PARSE_ERRORS as exc:
            raise PluginError(
                f"plugin failed to build the {name!r} extension for api {provider.api!r}: "
                f"{type(exc).__name__}: {exc}",
                provider=provider.name,
            ) from exc

    @staticmethod
    def malformed(provider: Provider, body: bytes | str, exc: BaseException) -> LlmError:
        """A :class:`MalformedResponseError` describing ``exc`` on ``body``."""
        raw = body.encode() if isinstance(body, str) else body
        kind = (
            "not valid JSON" if isinstance(exc, json.JSONDecodeError) else "of an unexpected shape"
        )
        return MalformedResponseError(
            f"{provider.name} sent a response that is {kind} ({type(exc).__name__}: {exc}); "
            f"body starts with {_snippet(raw)!r}",
            provider=provider.name,
            body=_snippet(raw),
        )


_default: Plugins | None = None
_default_lock = threading.Lock()


def get_plugins() -> Plugins:
    """The process-wide plugin registry (entry points load on first use).

    Never raises: a plugin that fails to load is skipped later, with a
    :class:`PluginLoadWarning`, when the registry is first used.
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Plugins()
    return _default


def register_plugin(plugin: object, name: str | None = None) -> None:
    """Register ``plugin`` with the process-wide registry (see :meth:`Plugins.register`).

    :param plugin: a module or object with hook implementations (``@llmcore.hookimpl``) and,
        for translation hooks, ``LLMCORE_APIS``.
    :param name: the name to register it under (default: chosen by pluggy).
    :raises PluginError: the name or the object is already registered, or a hook
        implementation does not match its specification.
    """
    get_plugins().register(plugin, name=name)


def supported_providers() -> list[str]:
    """Names of every installed provider, sorted.

    Never raises: a plugin that fails to load, or fails in ``register_providers``, is skipped
    with a :class:`PluginLoadWarning`.
    """
    return sorted(get_plugins().providers())
