"""The ``ollama`` provider: registration, the default base URL and ``OLLAMA_HOST``."""

from __future__ import annotations

import pytest

import llmcore
import llmcore_ollama
from llmcore_ollama import OLLAMA, normalize_host, ollama_provider


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://0.0.0.0:11434"),
        ("localhost:11434", "http://localhost:11434"),
        ("example.com", "http://example.com:11434"),
        ("example.com:56789/", "http://example.com:56789"),
        (":56789", "http://127.0.0.1:56789"),
        ("example.com/ollama/", "http://example.com:11434/ollama"),
        ("::1", "http://[::1]:11434"),
        ("[::1]:8080", "http://[::1]:8080"),
        ("http://10.0.0.5:11434/", "http://10.0.0.5:11434"),
        ("https://ollama.example.com", "https://ollama.example.com"),
        ("https://user:pw@proxy.example.com/ollama", "https://user:pw@proxy.example.com/ollama"),
    ],
)
def test_normalize_host_reads_values_as_ollamas_clients_do(value: str, url: str) -> None:
    assert normalize_host(value) == url


def _client() -> llmcore.Client:
    plugins = llmcore.Plugins(load_entrypoints=False)
    plugins.register(llmcore_ollama, name="ollama")
    return llmcore.Client("ollama", plugins=plugins)


def test_registered_provider_needs_no_key_and_defaults_to_localhost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    client = _client()
    assert client.provider.base_url == "http://localhost:11434"
    assert (client.provider.api, client.provider.auth) == ("ollama-chat", "none")
    assert not OLLAMA.key_required and OLLAMA.base_url_env == ("OLLAMA_HOST",)


@pytest.mark.parametrize(
    ("value", "url"),
    [("gpu-box:11500", "http://gpu-box:11500"), ("0.0.0.0", "http://0.0.0.0:11434"),
     ("https://ollama.example.com/", "https://ollama.example.com")],
)
def test_ollama_host_is_honoured_with_or_without_a_scheme(
    monkeypatch: pytest.MonkeyPatch, value: str, url: str
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", value)
    assert _client().provider.base_url == url


def test_an_explicit_base_url_wins_over_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "elsewhere:1")
    plugins = llmcore.Plugins(load_entrypoints=False)
    plugins.register(llmcore_ollama, name="ollama")
    client = llmcore.Client("ollama", plugins=plugins, base_url="http://127.0.0.1:9")
    assert client.provider.base_url == "http://127.0.0.1:9"


def test_an_unusable_ollama_host_is_an_error_naming_the_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "bad host:port")
    with pytest.raises(llmcore.InvalidInputError) as caught:
        _client()
    assert caught.value.field == "base_url"


def test_ollama_provider_factory_takes_a_host_and_ignores_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "elsewhere:1")
    provider = ollama_provider("gpu-box", name="gpu")
    assert (provider.name, provider.base_url, provider.base_url_env) == (
        "gpu", "http://gpu-box:11434", ())
    assert llmcore.Client(provider).provider.base_url == "http://gpu-box:11434"


def test_the_plugin_is_installed_through_its_entry_point() -> None:
    assert "ollama" in llmcore.Plugins().providers()
