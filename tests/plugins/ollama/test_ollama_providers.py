"""The ``ollama`` provider: registration, the default base URL and ``OLLAMA_HOST``."""

from __future__ import annotations

import base64

import pytest
from loopback import LoopbackServer, Reply

import llmcore
import llmcore_ollama
from llmcore_ollama import OLLAMA, OllamaProvider, normalize_host, ollama_provider


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


@pytest.mark.parametrize(
    ("value", "reason"),
    [("bad host:port", "whitespace"), ("localhost:99999", "Port out of range"),
     ("http://user:s3cret-pw@host:99999", "Port out of range")],
)
def test_an_unusable_ollama_host_is_an_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    """Client() refuses it before anything is sent; the error names OLLAMA_HOST and the
    reason, never the value (it may hold a password)."""
    monkeypatch.setenv("OLLAMA_HOST", value)
    with pytest.raises(llmcore.InvalidInputError) as caught:
        _client()
    assert caught.value.field == "base_url"
    assert "OLLAMA_HOST" in str(caught.value) and reason in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)


_ANSWER = {"model": "m", "created_at": "2025-01-02T03:04:05Z", "done": True,
           "done_reason": "stop", "message": {"role": "assistant", "content": "Hi"}}


def test_a_scheme_less_ollama_host_reaches_the_server(
    monkeypatch: pytest.MonkeyPatch, server: LoopbackServer
) -> None:
    """The core's Client flow: env_base_url() -> the base-URL check -> requests there."""
    server.reset()
    server.add("POST", "/api/chat", Reply.json(_ANSWER))
    port = server.base_url.rsplit(":", 1)[1]
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{port}")
    client = _client()
    assert client.provider.base_url == f"http://127.0.0.1:{port}"
    assert isinstance(client.provider, OllamaProvider)
    assert client.quick_chat_text("m", "hi") == "Hi"
    assert server.requests[0].path == "/api/chat"


def test_credentials_in_ollama_host_become_basic_auth_and_leave_the_url(
    monkeypatch: pytest.MonkeyPatch, server: LoopbackServer
) -> None:
    server.reset()
    server.add("POST", "/api/chat", Reply.json(_ANSWER))
    port = server.base_url.rsplit(":", 1)[1]
    monkeypatch.setenv("OLLAMA_HOST", f"http://proxy-user:s3cret-pw@127.0.0.1:{port}")
    client = _client()
    assert client.provider.base_url == f"http://127.0.0.1:{port}"
    assert "s3cret-pw" not in repr(client)
    assert client.quick_chat_text("m", "hi") == "Hi"
    token = base64.b64encode(b"proxy-user:s3cret-pw").decode()
    assert server.requests[0].headers.get("authorization") == f"Basic {token}"


def test_env_base_url_reads_a_given_mapping_and_skips_empty_values() -> None:
    assert OLLAMA.env_base_url({"OLLAMA_HOST": ""}) is None
    assert OLLAMA.env_base_url({}) is None
    assert OLLAMA.env_base_url({"OLLAMA_HOST": "gpu-box"}) == "http://gpu-box:11434"


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
