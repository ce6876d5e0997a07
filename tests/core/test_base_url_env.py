"""Base URLs from the environment: ``Provider.base_url_env`` (``OPENAI_BASE_URL`` for ``openai``).

A client built without ``base_url=`` uses the first non-empty variable of its provider's
``base_url_env``; an explicit ``base_url=`` wins; the variable of one provider does not move
another. Requests are answered by ``responses`` (no socket, no real host).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses

from llmcore import ChatCompletionRequest, Client, ConnectionOptions, Message, Provider
from llmcore_openai import OPENAI, OPENAI_COMPATIBLE, openai_compatible

KEY = "sk-proj-Abc123SECRETkey4567890xyz"
FAST = ConnectionOptions(backoff_initial=0.001, backoff_max=0.01, max_retries=0)
REQ = ChatCompletionRequest("gpt-4o-mini", [Message.user("hi")])
PROXY = "https://llm-proxy.example.invalid/openai/v1"


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
    }


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as r:
        yield r


def test_openai_declares_openai_base_url() -> None:
    assert OPENAI.base_url_env == ("OPENAI_BASE_URL",)
    assert OPENAI_COMPATIBLE.base_url_env == ()


def test_openai_base_url_is_used_when_no_base_url_is_passed(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", PROXY + "/")
    rsps.add(responses.POST, PROXY + "/chat/completions", json=completion("via proxy"))
    client = Client("openai", api_key=KEY, options=FAST)
    assert client.provider.base_url == PROXY  # trailing slash stripped, like base_url=
    assert client.chat_completion(REQ).text() == "via proxy"
    assert rsps.calls[0].request.url == PROXY + "/chat/completions"


@pytest.mark.parametrize("value", [None, ""])
def test_unset_or_empty_variable_keeps_the_default(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    else:
        monkeypatch.setenv("OPENAI_BASE_URL", value)
    client = Client("openai", api_key=KEY)
    assert client.provider.env_base_url() is None
    assert client.provider.base_url == "https://api.openai.com/v1"


def test_explicit_base_url_wins_over_the_variable(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", PROXY)
    explicit = "https://explicit.example.invalid/v1"
    rsps.add(responses.POST, explicit + "/chat/completions", json=completion("explicit"))
    client = Client("openai", api_key=KEY, base_url=explicit, options=FAST)
    assert client.provider.env_base_url() == PROXY  # the environment offers one, unused
    assert client.provider.base_url == explicit
    assert client.chat_completion(REQ).text() == "explicit"


def test_the_variable_applies_to_the_openai_provider_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", PROXY)
    assert OPENAI.env_base_url() == PROXY
    assert OPENAI_COMPATIBLE.env_base_url() is None
    assert Client("openai-compatible").provider.base_url == OPENAI_COMPATIBLE.base_url
    local = openai_compatible("http://127.0.0.1:8080/v1")
    assert local.env_base_url() is None
    assert Client(local).provider.base_url == "http://127.0.0.1:8080/v1"


def test_a_provider_record_passed_directly_honours_its_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", PROXY)
    assert Client(OPENAI, api_key=KEY).provider.base_url == PROXY


def test_any_provider_can_declare_its_variables_first_non_empty_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    acme = Provider(
        name="acme",
        api="openai-chat",
        base_url="https://api.acme.invalid/v1",
        key_required=False,
        base_url_env=("ACME_BASE_URL", "ACME_HOST"),
    )
    monkeypatch.delenv("ACME_BASE_URL", raising=False)
    monkeypatch.delenv("ACME_HOST", raising=False)
    assert Client(acme).provider.base_url == "https://api.acme.invalid/v1"
    monkeypatch.setenv("ACME_HOST", "http://127.0.0.1:9000/v1")
    assert Client(acme).provider.base_url == "http://127.0.0.1:9000/v1"
    monkeypatch.setenv("ACME_BASE_URL", "")
    assert Client(acme).provider.base_url == "http://127.0.0.1:9000/v1"
    monkeypatch.setenv("ACME_BASE_URL", "https://gw.acme.invalid/v1")
    assert Client(acme).provider.base_url == "https://gw.acme.invalid/v1"
    # a single name is accepted like api_key_env, and an explicit mapping can be read
    single = acme.evolve(base_url_env="ACME_HOST")
    assert single.base_url_env == ("ACME_HOST",)
    assert single.env_base_url({"ACME_HOST": "http://h.invalid"}) == "http://h.invalid"
    assert single.env_base_url({}) is None


def test_openai_compatible_factory_takes_base_url_env(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = openai_compatible("https://api.vendor.invalid/v1", base_url_env="VENDOR_BASE_URL")
    assert gateway.base_url_env == ("VENDOR_BASE_URL",)
    monkeypatch.setenv("VENDOR_BASE_URL", "http://127.0.0.1:7000/v1")
    assert Client(gateway).provider.base_url == "http://127.0.0.1:7000/v1"
