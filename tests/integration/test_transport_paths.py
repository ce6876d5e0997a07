"""The transport's two ways out give the same requests and the same errors.

A request goes straight to requests' connection pool while ``HTTPAdapter.send`` is requests'
own; once something replaces it (the ``responses`` library, a test double, a wrapper) every
request goes through it. This module checks the switch, that both ways put the same bytes on
the wire, and (in ``test_transport_paths_adapter.py``) reruns the fault and hardening suites
through the adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import requests.adapters
import responses
from loopback import LoopbackServer, Reply
from test_faults import OPTIONS, completion

import llmcore.transport
from llmcore import ChatCompletionRequest, Client, Message
from llmcore_openai import openai_compatible

PATH = "/v1/chat/completions"


@pytest.fixture
def counted_adapter(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``HTTPAdapter.send`` wrapped by a pass-through that records each request's URL."""
    original = requests.adapters.HTTPAdapter.send
    seen: list[str] = []

    def send(self: requests.adapters.HTTPAdapter, request: Any, **kwargs: Any) -> Any:
        seen.append(request.url)
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    yield seen


def test_requests_own_send_is_recognised_and_a_replacement_is_not(
    counted_adapter: list[str],
) -> None:
    assert not llmcore.transport._genuine_send()


def test_the_direct_way_is_taken_while_send_is_requests_own() -> None:
    assert llmcore.transport._genuine_send()
    with responses.RequestsMock():
        assert not llmcore.transport._genuine_send()
    assert llmcore.transport._genuine_send()


def test_a_replaced_send_sees_every_request(
    loopback_server: LoopbackServer, counted_adapter: list[str]
) -> None:
    loopback_server.add("POST", PATH, Reply.json(completion("through the adapter")))
    with Client(openai_compatible(loopback_server.base_url + "/v1"), api_key="k") as client:
        request = ChatCompletionRequest("m", [Message.user("hi")])
        assert client.chat_completion(request).text() == "through the adapter"
        assert client.chat_completion(request).text() == "through the adapter"
    assert counted_adapter == [loopback_server.base_url + PATH] * 2


def test_responses_mocks_llmcore_calls() -> None:
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            "https://api.example.test/v1/chat/completions",
            json=completion("mocked"),
        )
        client = Client(openai_compatible("https://api.example.test/v1"), api_key="k")
        answer = client.chat_completion(ChatCompletionRequest("m", [Message.user("hi")]))
        assert answer.text() == "mocked"
        assert mock.calls[0].request.headers["Authorization"] == "Bearer k"


def _sent(
    server: LoopbackServer, client: Client
) -> list[tuple[str, str, list[tuple[str, str]], bytes]]:
    request = ChatCompletionRequest(
        "m", [Message.system("be brief"), Message.user("héllo \u2028 ✓")], temperature=0.5
    )
    client.chat_completion(request)
    client.list_models()
    out = []
    for r in server.requests:
        headers = sorted((k, v) for k, v in r.headers.items())
        out.append((r.method, r.path + ("?" + r.query if r.query else ""), headers, r.body))
    return out


def test_both_ways_put_the_same_bytes_on_the_wire(
    loopback_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run() -> list[tuple[str, str, list[tuple[str, str]], bytes]]:
        loopback_server.reset()
        loopback_server.add("POST", PATH, Reply.json(completion("same")))
        loopback_server.add("GET", "/v1/models", Reply.json({"object": "list", "data": []}))
        provider = openai_compatible(loopback_server.base_url + "/v1")
        with Client(provider, api_key="sk-same", options=OPTIONS) as client:
            return _sent(loopback_server, client)

    direct = run()
    original = requests.adapters.HTTPAdapter.send
    monkeypatch.setattr(
        requests.adapters.HTTPAdapter,
        "send",
        lambda self, request, **kw: original(self, request, **kw),
    )
    assert not llmcore.transport._genuine_send()
    through_adapter = run()
    assert direct == through_adapter
    assert [m for m, *_ in direct] == ["POST", "GET"]
