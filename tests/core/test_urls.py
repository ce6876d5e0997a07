"""Base URLs: userinfo and query strings split off at ``Client(...)`` (llmcore.urls)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

import llmcore
from llmcore import (
    CancelHandle,
    ChatCompletionRequest,
    Client,
    ConfigurationError,
    ConnectionOptions,
    HttpRequest,
    Message,
    Provider,
)
from llmcore.errors import redact
from llmcore.testing import FauxProvider, register_faux_provider
from llmcore.transport import MemoryResponse, register_memory_scheme
from llmcore.urls import BaseUrl, apply_base_url, basic_auth_header, split_base_url

# --- split_base_url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h/v1", BaseUrl("https://h/v1")),
        ("https://h/v1/", BaseUrl("https://h/v1")),
        (
            "https://h/openai/v1?api-version=2024-10-21",
            BaseUrl("https://h/openai/v1", {"api-version": "2024-10-21"}),
        ),
        ("https://h/v1?a=1&b=&a=2#frag", BaseUrl("https://h/v1", {"a": "2", "b": ""})),
        ("https://u:p%40ss%3Aw@h:8443/v1", BaseUrl("https://h:8443/v1", {}, "u", "p@ss:w")),
        ("https://tok%2Fen@h/v1", BaseUrl("https://h/v1", {}, "tok/en", "")),
        ("http://u:@[::1]:8080/v1?x=1", BaseUrl("http://[::1]:8080/v1", {"x": "1"}, "u", "")),
    ],
)
def test_split_base_url(url: str, expected: BaseUrl) -> None:
    got = split_base_url(url)
    assert got == expected
    assert (got.username, got.password) == (expected.username, expected.password)
    assert got.has_userinfo == (expected.username is not None)


def test_base_url_repr_hides_the_password() -> None:
    assert "pw-123456" not in repr(split_base_url("https://u:pw-123456@h/v1"))


def test_basic_auth_header() -> None:
    value = basic_auth_header("user", "p:w")
    assert value == "Basic " + base64.b64encode(b"user:p:w").decode()


# --- apply_base_url ---------------------------------------------------------------------------

PLAIN = Provider(name="p", api="x", base_url="https://h/v1", auth="bearer")


def test_apply_base_url_leaves_a_plain_url_alone() -> None:
    assert apply_base_url(PLAIN, has_key=True) == (PLAIN, {}, {})


def test_apply_base_url_moves_the_query_into_params_and_registers_query_keys() -> None:
    provider = PLAIN.evolve(base_url="https://h/v1?api-version=7&key=QueryKey-4242")
    clean, params, headers = apply_base_url(provider, has_key=True)
    assert clean.base_url == "https://h/v1" and clean.url("chat") == "https://h/v1/chat"
    assert params == {"api-version": "7", "key": "QueryKey-4242"}
    assert headers == {}
    assert redact("it was QueryKey-4242") == "it was ****"  # registered: masked anywhere
    assert redact("api-version 7") == "api-version 7"  # not a credential


@pytest.mark.parametrize("auth", ["none", "bearer", "x-api-key"])
def test_userinfo_becomes_basic_auth_when_no_key_is_sent(auth: str) -> None:
    provider = PLAIN.evolve(
        base_url="https://proxy:PassWord-77@h/v1",
        auth=auth,
        description="at https://proxy:PassWord-77@h",
    )
    clean, params, headers = apply_base_url(provider, has_key=auth == "none")
    assert clean.base_url == "https://h/v1" and params == {}
    assert headers == {"Authorization": basic_auth_header("proxy", "PassWord-77")}
    assert "PassWord-77" not in clean.description
    assert redact("PassWord-77 " + headers["Authorization"]) == "**** Basic ****"


@pytest.mark.parametrize("auth", ["bearer", "x-api-key", "api-key", "query-key", "custom"])
def test_userinfo_next_to_an_api_key_is_refused(auth: str) -> None:
    provider = PLAIN.evolve(base_url="https://proxy:PassWord-88@h/v1", auth=auth)
    with pytest.raises(ConfigurationError, match="base_url") as info:
        apply_base_url(provider, has_key=True)
    text = str(info.value)
    assert "PassWord-88" not in text and "https://****@h/v1" in text
    assert repr(auth) in text


# --- wired into the client --------------------------------------------------------------------


@attrs.define
class Recorder:
    """Serves a faux provider's scheme and keeps every HttpRequest the transport sends."""

    faux: FauxProvider
    seen: list[HttpRequest] = attrs.field(factory=list)

    def __call__(self, request: HttpRequest, cancel: CancelHandle | None) -> MemoryResponse:
        self.seen.append(request)
        return self.faux._serve(request, cancel)


@pytest.fixture
def faux() -> Iterator[tuple[llmcore.Plugins, FauxProvider, Recorder]]:
    plugins = llmcore.Plugins(load_entrypoints=False)
    faux = register_faux_provider("urls", plugins=plugins, default="ok")
    recorder = Recorder(faux)
    register_memory_scheme(faux.scheme, recorder)
    yield plugins, faux, recorder
    register_memory_scheme(faux.scheme, faux._serve)


REQ = ChatCompletionRequest("faux-1", [Message.user("hi")])


def test_base_url_query_reaches_chat_stream_and_list_models(faux: Any) -> None:
    plugins, provider, rec = faux
    base = f"{provider.scheme}://local/v1?api-version=2024-10-21&x=1"
    client = Client("urls", base_url=base, plugins=plugins)
    assert client.provider.base_url == f"{provider.scheme}://local/v1"
    assert client.quick_chat_text("faux-1", "hi") == "ok"
    assert client.chat_completion_stream(REQ).text() == "ok"
    assert [m.id for m in client.list_models()] == ["faux-1"]
    assert [r.url for r in rec.seen] == [
        f"{provider.scheme}://local/v1/chat",
        f"{provider.scheme}://local/v1/chat",
        f"{provider.scheme}://local/v1/models",
    ]
    assert all(r.params == {"api-version": "2024-10-21", "x": "1"} for r in rec.seen)


class ParamPlugin:
    """Sets its own ``api-version`` on top of what the faux plugin builds."""

    def __init__(self, faux: FauxProvider) -> None:
        self.faux = faux
        self.LLMCORE_APIS = faux.LLMCORE_APIS

    @llmcore.hookimpl(tryfirst=True)
    def build_payload(
        self, provider: Provider, request: ChatCompletionRequest, stream: bool
    ) -> Any:
        built = self.faux.build_payload(provider, request, stream)
        return None if built is None else attrs.evolve(built, params={"api-version": "plugin"})


def test_a_param_the_plugin_sets_wins_over_the_base_url_query(faux: Any) -> None:
    plugins, provider, rec = faux
    plugins.register(ParamPlugin(provider), name="params")
    base = f"{provider.scheme}://local/v1?api-version=base&extra=1"
    Client("urls", base_url=base, plugins=plugins).chat_completion(REQ)
    assert rec.seen[0].params == {"api-version": "plugin", "extra": "1"}


def test_userinfo_is_sent_as_basic_auth_and_never_in_the_url(faux: Any) -> None:
    plugins, provider, rec = faux
    client = Client("urls", base_url=f"{provider.scheme}://bob:Secret-9@local/v1", plugins=plugins)
    client.chat_completion(REQ)
    sent = rec.seen[0]
    assert "bob" not in sent.url and "Secret-9" not in sent.url
    assert sent.header("Authorization") == basic_auth_header("bob", "Secret-9")
    assert "Secret-9" not in repr(client)


def test_an_explicit_authorization_header_wins_over_url_userinfo(faux: Any) -> None:
    plugins, provider, rec = faux
    options = ConnectionOptions(default_headers={"authorization": "Basic explicit"})
    base = f"{provider.scheme}://bob:Secret-9@local/v1"
    Client("urls", base_url=base, plugins=plugins, options=options).chat_completion(REQ)
    assert rec.seen[0].header("Authorization") == "Basic explicit"
    assert len([k for k in rec.seen[0].headers if k.lower() == "authorization"]) == 1


def test_client_refuses_userinfo_when_the_provider_sends_a_key(faux: Any) -> None:
    plugins, provider, _ = faux
    keyed = provider.provider.evolve(name="keyed", auth="bearer")
    with pytest.raises(ConfigurationError, match="base_url") as info:
        Client(keyed, base_url="https://bob:Secret-99@h/v1", api_key="sk-x-123456", plugins=plugins)
    assert "Secret-99" not in str(info.value)
    # The same provider without a key has no auth of its own to lose: Basic it is.
    client = Client(keyed, base_url="https://bob:Secret-99@h/v1", plugins=plugins)
    assert client.provider.base_url == "https://h/v1"


def test_client_reads_the_env_key_for_the_userinfo_rule(
    faux: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins, provider, _ = faux
    keyed = provider.provider.evolve(name="keyed", auth="bearer", api_key_env=("URLS_TEST_KEY",))
    monkeypatch.setenv("URLS_TEST_KEY", "env-key-123456")
    with pytest.raises(ConfigurationError, match="base_url"):
        Client(keyed, base_url="https://bob:Secret-99@h/v1", plugins=plugins)
