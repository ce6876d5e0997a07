"""What the core guarantees to every plugin, checked over real sockets on 127.0.0.1."""

from __future__ import annotations

import time
from typing import Any

import pytest
from loopback import LoopbackServer, Reply

import llmcore
from llmcore import (
    ChatCompletionRequest,
    Client,
    ConnectionOptions,
    HttpRequest,
    HttpResponse,
    Message,
    Plugins,
    Provider,
    RateLimitError,
)

REQ = ChatCompletionRequest("bare-1", [Message.user("hi")])


class BareErrors:
    """A plugin whose parse_error returns a bare error: no status, no retry hint."""

    LLMCORE_APIS = ("bare-api",)

    @llmcore.hookimpl
    def build_payload(self, provider: Provider, request: ChatCompletionRequest) -> HttpRequest:
        return HttpRequest("POST", provider.url("chat"), json={"model": request.model})

    @llmcore.hookimpl
    def parse_error(self, response: HttpResponse) -> llmcore.LlmError:
        return RateLimitError("slow down")


def _client(server: LoopbackServer, **options: Any) -> Client:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(BareErrors(), name="bare")
    provider = Provider(name="bare", api="bare-api", base_url=server.base_url, key_required=False)
    return Client(provider, plugins=plugins, options=ConnectionOptions(**options))


def test_a_bare_plugin_error_gets_the_cores_retry_fields(loopback_server: LoopbackServer) -> None:
    loopback_server.add(
        "POST",
        "/chat",
        Reply.status(429, headers={"Retry-After": "3600", "x-request-id": "req-42"}),
    )
    client = _client(loopback_server, max_retries=3, backoff_initial=0.001)
    started = time.monotonic()
    with pytest.raises(RateLimitError) as caught:
        client.chat_completion(REQ)
    assert time.monotonic() - started < 2.0  # raised at once, not after an hour
    err = caught.value
    assert err.retry_after == 3600
    assert (err.status, err.request_id, err.provider) == (429, "req-42", "bare")
    assert len(loopback_server.requests) == 1


def test_x_should_retry_false_stops_retries_of_a_plugin_error(
    loopback_server: LoopbackServer,
) -> None:
    loopback_server.add("POST", "/chat", Reply.status(429, headers={"x-should-retry": "false"}))
    client = _client(loopback_server, max_retries=3, backoff_initial=0.001)
    with pytest.raises(RateLimitError) as caught:
        client.chat_completion(REQ)
    assert caught.value.should_retry is False
    assert len(loopback_server.requests) == 1


def test_a_short_retry_after_on_a_plugin_error_is_honoured(
    loopback_server: LoopbackServer,
) -> None:
    loopback_server.add(
        "POST",
        "/chat",
        Reply.status(429, headers={"retry-after-ms": "50"}),
        Reply.status(429, headers={"retry-after-ms": "50"}),
    )
    client = _client(loopback_server, max_retries=1, backoff_initial=5.0)
    started = time.monotonic()
    with pytest.raises(RateLimitError):
        client.chat_completion(REQ)
    assert time.monotonic() - started < 2.0  # waited 50 ms, not the 5 s backoff
    assert len(loopback_server.requests) == 2


# --- capabilities are enforced before anything is sent --------------------------------------


def _limited(server: LoopbackServer, **caps: Any) -> Client:
    from llmcore_openai import openai_compatible

    provider = openai_compatible(server.base_url + "/v1").evolve(
        name="limited", capabilities=llmcore.Capabilities(**caps)
    )
    return Client(provider, options=ConnectionOptions(max_retries=0))


def _weather_tool() -> llmcore.Tool:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    return llmcore.Tool("get_weather", "weather for a city", schema)


@pytest.mark.parametrize(
    ("caps", "call", "needle"),
    [
        (
            {"tools": False},
            lambda c: c.chat_completion(REQ.with_options(tools=[_weather_tool()])),
            "tools",
        ),
        (
            {"tools": False},
            lambda c: c.chat_completion_stream(REQ.with_options(tools=[_weather_tool()])),
            "tools",
        ),
        ({"streaming": False}, lambda c: c.chat_completion_stream(REQ), "streaming"),
        ({"list_models": False}, lambda c: c.list_models(), "listing models"),
        ({"chat": False}, lambda c: c.chat_completion(REQ), "chat completions"),
    ],
)
def test_a_capability_the_provider_lacks_fails_before_any_request(
    loopback_server: LoopbackServer, caps: dict[str, bool], call: Any, needle: str
) -> None:
    client = _limited(loopback_server, **caps)
    with pytest.raises(llmcore.UnsupportedOperationError, match=needle) as caught:
        call(client)
    assert caught.value.provider == "limited" and not caught.value.is_retryable()
    assert loopback_server.requests == []
