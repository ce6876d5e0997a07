"""Plugin loading and the typed facade (llmcore.plugins).

Entry points are faked with real ``importlib.metadata`` distributions written to ``tmp_path``
(a ``*.dist-info`` folder with METADATA and entry_points.txt next to the plugin module), and
``importlib.metadata.entry_points`` is patched to return only them, so the tests control exactly
which plugins exist and can see when each module is imported.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap
import threading
import types
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import llmcore
import llmcore_openai
from llmcore import (
    ChatCompletionRequest,
    HttpRequest,
    HttpResponse,
    MalformedResponseError,
    Message,
    PluginError,
    PluginLoadWarning,
    Plugins,
    Provider,
)
from llmcore.testing import register_faux_provider

TRACE = "_llmcore_test_plugin_trace"

# A complete little plugin: one provider speaking its own API. ``{prov}`` and ``{api}`` are
# filled in per plugin; importing the module is recorded in the trace module.
PLUGIN_SOURCE = """
import llmcore
import {trace}

{trace}.loaded.append(__name__)

LLMCORE_APIS = ("{api}",)

PROVIDER = llmcore.Provider(
    name="{prov}", api="{api}", base_url="https://{prov}.invalid/v1", key_required=False
)


@llmcore.hookimpl
def register_providers(register):
    register(PROVIDER)


@llmcore.hookimpl
def build_payload(provider, request, stream):
    return llmcore.HttpRequest(
        "POST", provider.url("chat"), json={{"model": request.model, "plugin": __name__}}
    )
"""

REQUEST = ChatCompletionRequest("m-1", [Message.user("hi")])


class FakeSite:
    """A folder of fake installed distributions plus the patched ``entry_points``."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.root.mkdir()
        self.dists: list[importlib.metadata.Distribution] = []
        self.calls = 0
        self.tag = uuid.uuid4().hex[:8]
        self.modules: list[str] = []
        monkeypatch.syspath_prepend(str(root))
        monkeypatch.setattr(importlib.metadata, "entry_points", self.entry_points)

    def entry_points(self, **selection: Any) -> importlib.metadata.EntryPoints:
        self.calls += 1
        eps = [ep for dist in self.dists for ep in dist.entry_points]
        return importlib.metadata.EntryPoints(eps).select(**selection)

    def module_name(self, stem: str) -> str:
        return f"llmcore_fake_{stem}_{self.tag}"

    def add(
        self,
        dist_name: str,
        *,
        source: str | None = None,
        ep_name: str | None = None,
        module: str | None = None,
        prov: str | None = None,
        api: str | None = None,
        declares: tuple[Sequence[str], Sequence[str]] | None = None,
    ) -> str:
        """Install ``dist_name`` with one entry point; return the plugin's module name.

        ``declares`` (provider names, API names) writes the ``llmcore.providers`` and
        ``llmcore.apis`` groups into its metadata; None: the distribution declares nothing.
        """
        stem = dist_name.replace("-", "_")
        module = module or self.module_name(stem)
        prov = prov or dist_name.removeprefix("llmcore-")
        api = api or f"{prov}-api"
        if source is None:
            source = PLUGIN_SOURCE.format(trace=TRACE, prov=prov, api=api)
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{stem}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.0\n")
        text = f"[llmcore]\n{ep_name or prov} = {module}\n"
        if declares is not None:
            for group, names in zip(("llmcore.providers", "llmcore.apis"), declares, strict=True):
                text += f"\n[{group}]\n" + "".join(f"{name} = {module}\n" for name in names)
        (info / "entry_points.txt").write_text(text)
        self.dists.append(importlib.metadata.PathDistribution(info))
        self.modules.append(module)
        return module

    def add_real(self, dist_name: str) -> None:
        """Also offer a really installed distribution's entry points."""
        self.dists.append(importlib.metadata.distribution(dist_name))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMCORE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("LLMCORE_TRACE_HOOKS", raising=False)


@pytest.fixture
def trace(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType(TRACE)
    module.loaded = []  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, TRACE, module)
    return module


@pytest.fixture
def site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trace: types.ModuleType
) -> Iterator[FakeSite]:
    fake = FakeSite(tmp_path / "site", monkeypatch)
    yield fake
    for name in fake.modules:
        sys.modules.pop(name, None)


# --- lazy loading -----------------------------------------------------------------------------


def test_entry_points_load_on_first_use_and_only_once(
    site: FakeSite, trace: types.ModuleType
) -> None:
    alpha = site.add("llmcore-alpha")
    beta = site.add("llmcore-beta")
    plugins = Plugins()

    assert site.calls == 0, "entry points were listed before first use"
    assert trace.loaded == []
    assert alpha not in sys.modules and beta not in sys.modules

    providers = plugins.providers()
    assert set(providers) == {"alpha", "beta"}
    assert site.calls == 1
    assert sorted(trace.loaded) == sorted([alpha, beta])

    # Cached: the same dict, no new listing, no re-import, and hooks answer.
    assert plugins.providers() is providers
    http = plugins.build_payload(providers["beta"], REQUEST, stream=False)
    assert http.json == {"model": "m-1", "plugin": beta}
    assert plugins.pm.has_plugin("alpha")
    assert site.calls == 1
    assert sorted(trace.loaded) == sorted([alpha, beta])


def test_facade_calls_load_entry_points_too(site: FakeSite, trace: types.ModuleType) -> None:
    alpha = site.add("llmcore-alpha")
    plugins = Plugins()
    provider = Provider(name="alpha", api="alpha-api", base_url="https://x.invalid")
    assert plugins.build_payload(provider, REQUEST, stream=True).json["plugin"] == alpha
    plugins.providers()
    assert site.calls == 1
    assert trace.loaded == [alpha]


def test_plugins_without_entry_points_never_lists_them(site: FakeSite) -> None:
    site.add("llmcore-alpha")
    plugins = Plugins(load_entrypoints=False)
    assert plugins.providers() == {}
    assert site.calls == 0


def test_importing_llmcore_imports_no_plugin() -> None:
    code = (
        "import sys, llmcore\n"
        "assert 'llmcore_openai' not in sys.modules, 'plugin imported at import time'\n"
        "llmcore.Plugins()\n"
        "assert 'llmcore_openai' not in sys.modules, 'plugin imported by Plugins()'\n"
        "print(sorted(llmcore.supported_providers()))\n"
        "assert 'llmcore_openai' in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LLMCORE_LOAD_PLUGINS"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "'openai'" in out.stdout


# --- broken plugins ---------------------------------------------------------------------------


def test_plugin_that_fails_to_import_is_skipped_with_a_warning(
    site: FakeSite, trace: types.ModuleType
) -> None:
    good = site.add("llmcore-good")
    site.add("llmcore-broken", source="import llmcore_no_such_dependency_xyz\n")
    plugins = Plugins()

    with pytest.warns(PluginLoadWarning, match=r"'broken'.*'llmcore-broken'") as caught:
        providers = plugins.providers()
    assert "llmcore_no_such_dependency_xyz" in str(caught[0].message)

    assert set(providers) == {"good"}
    assert "broken" in plugins.failed and "ModuleNotFoundError" in plugins.failed["broken"]
    assert plugins.build_payload(providers["good"], REQUEST, False).json["plugin"] == good
    assert not plugins.pm.has_plugin("broken")


def test_plugin_with_a_misspelt_hook_is_skipped_by_check_pending(site: FakeSite) -> None:
    site.add("llmcore-good")
    site.add(
        "llmcore-typo",
        source="""
        import llmcore

        @llmcore.hookimpl
        def register_providers(register):
            register(llmcore.Provider(name="typo", api="typo-api", base_url="https://t.invalid"))

        @llmcore.hookimpl
        def build_paylaod(provider, request, stream):
            return None
        """,
    )
    plugins = Plugins()
    with pytest.warns(PluginLoadWarning, match=r"(?s)'typo'.*build_paylaod"):
        providers = plugins.providers()
    # The half-valid plugin is removed entirely: its provider is not offered either.
    assert set(providers) == {"good"}
    assert not plugins.pm.has_plugin("typo")
    assert "typo" in plugins.failed


def test_plugin_with_wrong_hook_arguments_is_skipped(site: FakeSite) -> None:
    site.add("llmcore-good")
    site.add(
        "llmcore-args",
        source="""
        import llmcore

        @llmcore.hookimpl
        def build_payload(provider, req):
            return None
        """,
    )
    plugins = Plugins()
    with pytest.warns(PluginLoadWarning, match=r"(?s)'args'.*req"):
        assert set(plugins.providers()) == {"good"}
    assert not plugins.pm.has_plugin("args")


def test_several_broken_plugins_each_warn(site: FakeSite) -> None:
    site.add("llmcore-good")
    site.add("llmcore-bad1", source="raise RuntimeError('boom one')\n")
    site.add("llmcore-bad2", source="raise SyntaxError('boom two')\n")
    plugins = Plugins()
    with pytest.warns(PluginLoadWarning) as caught:
        assert set(plugins.providers()) == {"good"}
    messages = sorted(str(w.message) for w in caught if w.category is PluginLoadWarning)
    assert len(messages) == 2
    assert "'bad1'" in messages[0] and "boom one" in messages[0]
    assert "'bad2'" in messages[1] and "boom two" in messages[1]


# --- LLMCORE_LOAD_PLUGINS ---------------------------------------------------------------------


@pytest.fixture
def three(site: FakeSite) -> dict[str, str]:
    site.add_real("llmcore-openai")
    return {"alpha": site.add("llmcore-alpha"), "beta": site.add("llmcore-beta")}


def test_load_plugins_unset_loads_all(three: dict[str, str]) -> None:
    assert set(Plugins().providers()) == {"alpha", "beta", "openai", "openai-compatible"}


def test_load_plugins_empty_loads_none(
    three: dict[str, str], trace: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMCORE_LOAD_PLUGINS", "")
    plugins = Plugins()
    assert plugins.providers() == {}
    assert trace.loaded == []
    assert list(plugins.pm.list_name_plugin()) == [("llmcore.defaults", llmcore._defaults)]


def test_load_plugins_names_one_distribution(
    three: dict[str, str], trace: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMCORE_LOAD_PLUGINS", "llmcore-openai")
    plugins = Plugins()
    assert set(plugins.providers()) == {"openai", "openai-compatible"}
    assert trace.loaded == []
    assert not plugins.pm.has_plugin("alpha")


@pytest.mark.parametrize(
    "value",
    [
        "llmcore-alpha, llmcore-beta",
        "LLMCORE_ALPHA,llmcore-beta",  # case and _/- do not matter
        "alpha,beta",  # entry-point names work too
        " alpha , , beta ,",
    ],
)
def test_load_plugins_allow_list(
    three: dict[str, str],
    trace: types.ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    monkeypatch.setenv("LLMCORE_LOAD_PLUGINS", value)
    assert set(Plugins().providers()) == {"alpha", "beta"}
    assert sorted(trace.loaded) == sorted(three.values())


def test_load_plugins_does_not_import_skipped_plugins(
    site: FakeSite, trace: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = site.add("llmcore-good")
    site.add("llmcore-broken", source="raise RuntimeError('must not be imported')\n")
    monkeypatch.setenv("LLMCORE_LOAD_PLUGINS", "llmcore-good")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginLoadWarning)
        assert set(Plugins().providers()) == {"good"}
    assert trace.loaded == [good]


# --- run-time registration --------------------------------------------------------------------


class ExtraProvider:
    """A plugin object (not a module) registering one provider."""

    def __init__(self, name: str = "extra") -> None:
        self.provider = Provider(name=name, api="extra-api", base_url="https://e.invalid")

    @llmcore.hookimpl
    def register_providers(self, register: Any) -> None:
        register(self.provider)


def test_register_at_run_time_invalidates_the_provider_cache() -> None:
    plugins = Plugins(load_entrypoints=False)
    assert plugins.providers() == {}

    plugins.register(ExtraProvider(), name="extra")
    assert set(plugins.providers()) == {"extra"}
    cached = plugins.providers()

    plugins.register(ExtraProvider("more"), name="more")
    assert plugins.providers() is not cached
    assert set(plugins.providers()) == {"extra", "more"}

    plugins.unregister("extra")
    assert set(plugins.providers()) == {"more"}


def test_register_before_first_use_still_loads_entry_points(site: FakeSite) -> None:
    site.add("llmcore-alpha")
    plugins = Plugins()
    plugins.register(ExtraProvider(), name="extra")
    assert set(plugins.providers()) == {"alpha", "extra"}


def test_later_registration_of_a_provider_name_replaces_the_earlier() -> None:
    class Twice:
        @llmcore.hookimpl
        def register_providers(self, register: Any) -> None:
            register(Provider(name="dup", api="a", base_url="https://first.invalid"))
            register(Provider(name="dup", api="a", base_url="https://second.invalid"))

    plugins = Plugins(load_entrypoints=False)
    plugins.register(Twice(), name="twice")
    assert plugins.provider("dup").base_url == "https://second.invalid"


class MisspeltHook:
    @llmcore.hookimpl
    def parse_respones(self, provider: Any, response: Any) -> None:
        return None


class WrongArguments:
    @llmcore.hookimpl
    def parse_response(self, provider: Any, body: Any) -> None:
        return None


@pytest.mark.parametrize(
    ("plugin", "needle"),
    [(MisspeltHook(), "parse_respones"), (WrongArguments(), "body")],
    ids=["misspelt-hook", "unknown-argument"],
)
def test_registering_an_invalid_plugin_raises_plugin_error(plugin: object, needle: str) -> None:
    plugins = Plugins(load_entrypoints=False)
    with pytest.raises(PluginError, match=needle):
        plugins.register(plugin, name="invalid")
    assert not plugins.pm.has_plugin("invalid")
    # The registry is still usable afterwards.
    plugins.register(ExtraProvider(), name="extra")
    assert set(plugins.providers()) == {"extra"}


def test_registering_a_name_twice_raises_plugin_error() -> None:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(ExtraProvider(), name="extra")
    with pytest.raises(PluginError, match="extra"):
        plugins.register(ExtraProvider("other"), name="extra")
    assert set(plugins.providers()) == {"extra"}


def test_register_providers_rejects_non_providers() -> None:
    class Wrong:
        @llmcore.hookimpl
        def register_providers(self, register: Any) -> None:
            register({"name": "dict"})

    plugins = Plugins(load_entrypoints=False)
    plugins.register(Wrong(), name="wrong")
    plugins.register(ExtraProvider(), name="extra")
    with pytest.warns(llmcore.PluginLoadWarning, match=r"'wrong'.*not a Provider"):
        providers = plugins.providers()
    assert set(providers) == {"extra"}  # the broken plugin is skipped, the others still answer


# --- the facade -------------------------------------------------------------------------------

ZHIPU = Provider(name="zhipu", api="zhipu-chat", base_url="https://z.invalid")
ACME = Provider(
    name="acme", api="acme-chat", base_url="https://a.invalid", distribution="acme-llmcore"
)
RESPONSE = HttpResponse(200, {"content-type": "application/json"}, b"{}")


@pytest.mark.parametrize(
    "call",
    [
        lambda p, prov: p.build_payload(prov, REQUEST, False),
        lambda p, prov: p.parse_response(prov, REQUEST, RESPONSE),
        lambda p, prov: p.iter_stream(prov, REQUEST, iter(())),
        lambda p, prov: p.build_list_models(prov),
        lambda p, prov: p.parse_list_models(prov, RESPONSE),
    ],
    ids=[
        "build_payload",
        "parse_response",
        "iter_stream",
        "build_list_models",
        "parse_list_models",
    ],
)
@pytest.mark.parametrize(
    ("provider", "install"), [(ZHIPU, "llmcore-zhipu"), (ACME, "acme-llmcore")]
)
def test_no_plugin_answered_names_the_distribution_to_install(
    call: Any, provider: Provider, install: str
) -> None:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(llmcore_openai, name="openai")  # answers, but only for openai-chat
    with pytest.raises(PluginError) as info:
        call(plugins, provider)
    message = str(info.value)
    assert f"install {install}" in message
    assert repr(provider.api) in message and repr(provider.name) in message
    assert info.value.provider == provider.name
    assert not info.value.is_retryable()


def test_unknown_provider_names_the_installed_ones() -> None:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(llmcore_openai, name="openai")
    with pytest.raises(llmcore.ConfigurationError, match="openai, openai-compatible"):
        plugins.provider("gemini")


def test_parse_error_falls_back_to_the_core_default() -> None:
    plugins = Plugins(load_entrypoints=False)
    err = plugins.parse_error(ZHIPU, HttpResponse(429, {}, b'{"error": {"message": "slow"}}'))
    assert isinstance(err, llmcore.RateLimitError) and err.provider == "zhipu"


class Fragile:
    """A plugin whose translation functions crash like careless parsing code does."""

    LLMCORE_APIS = ("fragile",)

    @llmcore.hookimpl
    def build_payload(self, provider: Provider) -> None:
        raise KeyError("model")

    @llmcore.hookimpl
    def parse_response(self, provider: Provider, response: HttpResponse) -> None:
        response.json()["choices"]


def test_crashing_hooks_become_typed_errors() -> None:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(Fragile(), name="fragile")
    provider = Provider(name="frag", api="fragile", base_url="https://f.invalid")
    with pytest.raises(PluginError, match="KeyError") as info:
        plugins.build_payload(provider, REQUEST, False)
    assert isinstance(info.value.__cause__, KeyError)
    with pytest.raises(MalformedResponseError, match="frag") as bad:
        plugins.parse_response(provider, REQUEST, HttpResponse(200, {}, b"<html>oops</html>"))
    assert "not valid JSON" in str(bad.value) and "<html>oops" in str(bad.value)


def test_hook_tracing_logs_calls(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    monkeypatch.setenv("LLMCORE_TRACE_HOOKS", "1")
    plugins = Plugins(load_entrypoints=False)
    plugins.register(ExtraProvider(), name="extra")
    with caplog.at_level("DEBUG", logger="llmcore.hooks"):
        plugins.providers()
    assert any("register_providers" in r.getMessage() for r in caplog.records)


# --- quirks with tryfirst, cross-cutting with wrapper=True --------------------------------------

ACME_OPENAI = Provider(
    name="acme-openai",
    api=llmcore_openai.API,
    base_url="https://acme.invalid/v1",
    key_required=False,
)


class AcmeQuirks:
    """A vendor plugin: its provider speaks openai-chat but wants ``max_output`` instead."""

    LLMCORE_APIS = (llmcore_openai.API,)

    @llmcore.hookimpl
    def register_providers(self, register: Any) -> None:
        register(ACME_OPENAI)

    @llmcore.hookimpl(tryfirst=True)
    def build_payload(
        self, provider: Provider, request: ChatCompletionRequest, stream: bool
    ) -> HttpRequest | None:
        if provider.name != ACME_OPENAI.name:
            return None
        http = llmcore_openai.payload.build_chat_request(provider, request, stream)
        body = dict(http.json)
        body["max_output"] = body.pop("max_tokens", None)
        return HttpRequest(http.method, http.url, http.headers, json=body)


class AcmeQuirksWithoutTryfirst(AcmeQuirks):
    @llmcore.hookimpl
    def build_payload(
        self, provider: Provider, request: ChatCompletionRequest, stream: bool
    ) -> HttpRequest | None:
        return AcmeQuirks.build_payload(self, provider, request, stream)


def test_tryfirst_vendor_hook_overrides_one_provider_only() -> None:
    plugins = Plugins(load_entrypoints=False)
    # Registered *before* the openai plugin: without tryfirst, openai (registered later, so
    # called first) would answer; tryfirst is what makes the quirk win.
    plugins.register(AcmeQuirks(), name="acme")
    plugins.register(llmcore_openai, name="openai")
    request = REQUEST.with_options(max_tokens=7)

    acme = plugins.build_payload(plugins.provider("acme-openai"), request, False)
    assert acme.url == "https://acme.invalid/v1/chat/completions"
    assert acme.json["max_output"] == 7 and "max_tokens" not in acme.json

    for name in ("openai", "openai-compatible"):
        http = plugins.build_payload(plugins.provider(name), request, False)
        assert "max_output" not in http.json
        assert http == llmcore_openai.payload.build_chat_request(
            plugins.provider(name), request, False
        )


def test_without_tryfirst_the_vendor_hook_is_shadowed() -> None:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(AcmeQuirksWithoutTryfirst(), name="acme")
    plugins.register(llmcore_openai, name="openai")
    http = plugins.build_payload(plugins.provider("acme-openai"), REQUEST, False)
    assert "max_output" not in http.json


class TraceHeader:
    """Cross-cutting behaviour: a header on every request, whichever plugin built it."""

    LLMCORE_APIS = "*"

    @llmcore.hookimpl(wrapper=True)
    def build_payload(self) -> Iterator[None]:
        http = yield
        if http is None:
            return None
        return http.with_headers({"X-Trace": "t-1"})


def test_wrapper_adds_a_header_to_every_build_payload() -> None:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(llmcore_openai, name="openai")
    plugins.register(TraceHeader(), name="trace")
    plugins.register(AcmeQuirks(), name="acme")
    faux = register_faux_provider("faux-wrap", plugins=plugins)

    for name in ("openai", "openai-compatible", "acme-openai", faux.name):
        http = plugins.build_payload(plugins.provider(name), REQUEST, True)
        assert http.header("x-trace") == "t-1", name
    # A provider no plugin answers for still gets the "install ..." error, not a wrapper crash.
    with pytest.raises(PluginError, match="install llmcore-zhipu"):
        plugins.build_payload(ZHIPU, REQUEST, False)


def test_wrapper_header_reaches_the_wire_through_the_client() -> None:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(TraceHeader(), name="trace")
    faux = register_faux_provider("faux-wire", plugins=plugins, default="hello")
    seen: list[HttpRequest] = []
    client = llmcore.Client(
        faux.name, plugins=plugins, on_payload=lambda req, prov: seen.append(req)
    )
    assert client.quick_chat_text("faux-1", "hi") == "hello"
    assert seen[0].header("X-Trace") == "t-1"


# --- scoped hooks: a plugin answers only for the APIs it declares -----------------------------


class Greedy:
    """Hooks with no API checks at all, and a generator-function iter_stream."""

    LLMCORE_APIS = ("greedy-api",)

    @llmcore.hookimpl
    def register_providers(self, register: Any) -> None:
        register(Provider(name="greedy", api="greedy-api", base_url="https://g.invalid"))

    @llmcore.hookimpl
    def build_payload(self, provider: Provider) -> HttpRequest:
        return HttpRequest("POST", provider.url("greedy"), json={})

    @llmcore.hookimpl
    def iter_stream(self, frames: Iterator[Any]) -> Iterator[llmcore.ChatCompletionChunk]:
        for frame in frames:
            yield llmcore.ChatCompletionChunk(
                choices=(llmcore.ChunkChoice(0, llmcore.Delta(content=frame.data)),)
            )
        return True  # type: ignore[misc]


def test_a_plugin_without_api_checks_answers_only_for_its_own_api() -> None:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(llmcore_openai, name="openai")
    plugins.register(Greedy(), name="greedy")  # registered last: pluggy calls it first
    openai = plugins.provider("openai")
    assert plugins.build_payload(openai, REQUEST, False).url.endswith("/chat/completions")
    assert plugins.build_payload(plugins.provider("greedy"), REQUEST, False).url.endswith("/greedy")
    frames = iter([llmcore.Frame(data='{"choices": []}'), llmcore.Frame(data="[DONE]")])
    chunks = list(plugins.iter_stream(openai, REQUEST, frames))  # not the generator's
    assert all(not c.choices for c in chunks)
    greedy = plugins.iter_stream(plugins.provider("greedy"), REQUEST, iter([llmcore.Frame("x")]))
    assert [c.text() for c in greedy] == ["x"]


def test_a_plugin_that_declares_no_apis_is_warned_about_and_never_called() -> None:
    class Undeclared:
        @llmcore.hookimpl
        def build_payload(self, provider: Provider) -> HttpRequest:
            raise AssertionError("must never be called")

    plugins = Plugins(load_entrypoints=False)
    with pytest.warns(llmcore.PluginLoadWarning, match="declares no LLMCORE_APIS"):
        plugins.register(Undeclared(), name="undeclared")
    plugins.register(llmcore_openai, name="openai")
    assert plugins.build_payload(plugins.provider("openai"), REQUEST, False).json is not None


# --- declared providers and APIs: load only what is needed -----------------------------------
# A plugin registering two providers of its own API; with ``{shared}`` it also serves
# ``shared-api`` and registers ``dup`` (a name another plugin registers too).
TWO_PROVIDERS = """
import llmcore
import {trace}

{trace}.loaded.append(__name__)

LLMCORE_APIS = ("{api}", "shared-api")


@llmcore.hookimpl
def register_providers(register):
    for name in {names!r}:
        register(llmcore.Provider(name=name, api="{api}", base_url="https://" + name + ".invalid"))


@llmcore.hookimpl
def build_payload(provider, request, stream):
    return llmcore.HttpRequest("POST", provider.url("chat"), json={{"plugin": __name__}})
"""


def two_providers(names: Sequence[str], api: str) -> str:
    return TWO_PROVIDERS.format(trace=TRACE, names=tuple(names), api=api)


def declaring(site: FakeSite, dist: str) -> str:
    """Install ``dist`` declaring exactly the provider and API its plugin registers."""
    prov = dist.removeprefix("llmcore-")
    return site.add(dist, declares=([prov], [f"{prov}-api"]))


def test_a_provider_loads_only_its_declaring_plugin_and_the_undeclared(
    site: FakeSite, trace: types.ModuleType
) -> None:
    alpha = declaring(site, "llmcore-alpha")
    legacy = site.add("llmcore-legacy")  # declares nothing: loaded as before, with the first
    beta = declaring(site, "llmcore-beta")
    plugins = Plugins()

    assert plugins.provider("alpha").name == "alpha"
    assert trace.loaded == [alpha, legacy]
    assert beta not in sys.modules
    assert plugins.provider("legacy").name == "legacy"  # an undeclared plugin's provider
    assert trace.loaded == [alpha, legacy]

    assert plugins.provider("beta").name == "beta"  # the cache saw the new plugin
    assert trace.loaded == [alpha, legacy, beta]
    assert set(plugins.providers()) == {"alpha", "beta", "legacy"}
    assert site.calls == 1  # one listing of the entry points for the whole life
    assert trace.loaded == [alpha, legacy, beta]


def test_a_hook_loads_only_the_plugins_declaring_the_api(
    site: FakeSite, trace: types.ModuleType
) -> None:
    declaring(site, "llmcore-alpha")
    beta = declaring(site, "llmcore-beta")
    plugins = Plugins()
    provider = Provider(name="custom", api="beta-api", base_url="https://custom.invalid")
    assert plugins.build_payload(provider, REQUEST, stream=False).json["plugin"] == beta
    assert trace.loaded == [beta]


def test_a_client_for_a_declared_provider_imports_no_other_plugin(
    site: FakeSite, trace: types.ModuleType
) -> None:
    alpha = declaring(site, "llmcore-alpha")
    declaring(site, "llmcore-beta")
    client = llmcore.Client("alpha", plugins=Plugins())
    assert client.plugins.build_payload(client.provider, REQUEST, False).json["plugin"] == alpha
    assert trace.loaded == [alpha]


def test_an_undeclared_provider_loads_every_plugin(site: FakeSite, trace: types.ModuleType) -> None:
    declaring(site, "llmcore-alpha")
    declaring(site, "llmcore-beta")
    with pytest.raises(llmcore.ConfigurationError, match="installed providers: alpha, beta"):
        Plugins().provider("nope")
    assert len(trace.loaded) == 2


def test_an_undeclared_api_loads_every_plugin(site: FakeSite, trace: types.ModuleType) -> None:
    declaring(site, "llmcore-alpha")
    declaring(site, "llmcore-beta")
    provider = Provider(name="x", api="nobody-api", base_url="https://x.invalid")
    with pytest.raises(PluginError, match="no plugin implements build_payload"):
        Plugins().build_payload(provider, REQUEST, False)
    assert len(trace.loaded) == 2


def test_a_wrong_declaration_falls_back_to_every_plugin(
    site: FakeSite, trace: types.ModuleType
) -> None:
    # Declares "ghost" but registers "real": asking for either still finds the truth.
    site.add("llmcore-liar", prov="real", declares=(["ghost"], ["real-api"]))
    declaring(site, "llmcore-alpha")
    with pytest.raises(llmcore.ConfigurationError, match="installed providers: alpha, real"):
        Plugins().provider("ghost")
    assert Plugins().provider("real").name == "real"


def test_registration_order_is_the_scan_order_however_plugins_load(
    site: FakeSite, trace: types.ModuleType
) -> None:
    # Scan order: first (declares first, dup), legacy (undeclared: registers dup), last.
    first = site.add(
        "llmcore-first",
        source=two_providers(["first", "dup"], "first-api"),
        declares=(["first", "dup"], ["first-api", "shared-api"]),
    )
    legacy = site.add("llmcore-legacy", source=two_providers(["legacy", "dup"], "legacy-api"))
    declaring(site, "llmcore-last")
    shared = Provider(name="s", api="shared-api", base_url="https://s.invalid")

    piecemeal = Plugins()
    piecemeal.provider("last")  # loads legacy and last; first comes in later, before them
    assert first not in sys.modules
    everything = Plugins()
    whole = everything.providers()
    # Later plugins win: legacy registered after first, so its "dup" and its build_payload.
    assert piecemeal.build_payload(shared, REQUEST, False).json["plugin"] == legacy
    assert piecemeal.providers()["dup"] == whole["dup"]
    assert whole["dup"].base_url == "https://dup.invalid"
    assert everything.build_payload(shared, REQUEST, False).json["plugin"] == legacy
    names = [name for name, _ in piecemeal.pm.list_name_plugin()]
    assert names == [name for name, _ in everything.pm.list_name_plugin()]
    assert names == ["llmcore.defaults", "first", "legacy", "last"]


def test_load_plugins_env_still_limits_declared_plugins(
    site: FakeSite, trace: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    declaring(site, "llmcore-alpha")
    beta = declaring(site, "llmcore-beta")
    monkeypatch.setenv("LLMCORE_LOAD_PLUGINS", "llmcore-beta")
    plugins = Plugins()
    with pytest.raises(llmcore.ConfigurationError, match="installed providers: beta"):
        plugins.provider("alpha")
    assert trace.loaded == [beta]


def test_a_broken_declared_plugin_warns_only_when_needed(
    site: FakeSite, trace: types.ModuleType
) -> None:
    alpha = declaring(site, "llmcore-alpha")
    site.add("llmcore-broken", source="raise RuntimeError('boom')\n", declares=(["broken"], []))
    plugins = Plugins()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginLoadWarning)
        assert plugins.provider("alpha").name == "alpha"
    assert trace.loaded == [alpha]
    with (
        pytest.warns(PluginLoadWarning, match=r"'broken'.*boom"),
        pytest.raises(llmcore.ConfigurationError, match="unknown provider 'broken'"),
    ):
        plugins.provider("broken")
    assert "broken" in plugins.failed


def test_run_time_registration_after_a_partial_load_still_answers_first(
    site: FakeSite, trace: types.ModuleType
) -> None:
    declaring(site, "llmcore-alpha")
    declaring(site, "llmcore-beta")
    plugins = Plugins()
    plugins.provider("alpha")
    plugins.register(ExtraProvider("beta"), name="extra")  # loads everything first
    assert len(trace.loaded) == 2
    assert plugins.provider("beta").base_url == "https://e.invalid"
    assert [name for name, _ in plugins.pm.list_name_plugin()][-1] == "extra"


def test_concurrent_first_use_imports_each_plugin_once(
    site: FakeSite, trace: types.ModuleType
) -> None:
    alpha = declaring(site, "llmcore-alpha")
    beta = declaring(site, "llmcore-beta")
    plugins = Plugins()
    found: list[Provider] = []
    barrier = threading.Barrier(8)

    def use(index: int) -> None:
        barrier.wait()
        name = ("alpha", "beta")[index % 2]
        found.append(plugins.provider(name))
        plugins.build_payload(found[-1], REQUEST, False)

    threads = [threading.Thread(target=use, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(trace.loaded) == sorted([alpha, beta])
    assert len(found) == 8 and {p.name for p in found} == {"alpha", "beta"}
    assert site.calls == 1
