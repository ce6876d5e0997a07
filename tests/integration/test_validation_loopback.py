"""Bad input never reaches the server: over a real socket, nothing at all arrives.

Each case points a client at the loopback server, makes the mistake, and checks three things:
the error is an :class:`InvalidInputError` (a ``ConfigurationError``) naming the field, it is
not retryable, and ``server.requests == []``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from loopback import LoopbackServer, Reply

from llmcore import (
    Capabilities,
    ChatCompletionRequest,
    Client,
    ConnectionOptions,
    Content,
    HttpRequest,
    InvalidInputError,
    Message,
    Provider,
    Role,
)
from llmcore_openai import openai_compatible

PATH = "/v1/chat/completions"
KEY = "sk-loopback-validation-0123456789"
OPTIONS = ConnectionOptions(
    connect_timeout=1.0, read_timeout=2.0, max_retries=3, backoff_initial=0.001, backoff_max=0.01
)
ANSWER = {
    "id": "c",
    "object": "chat.completion",
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
}


def client_for(server: LoopbackServer, **kwargs: Any) -> Client:
    provider = openai_compatible(server.url("/v1"), capabilities=Capabilities(audio=("*",)))
    return Client(provider, api_key=KEY, options=OPTIONS, **kwargs)


def nothing_sent(server: LoopbackServer, field: str, call: Callable[[], Any]) -> InvalidInputError:
    server.add("POST", PATH, Reply.json(ANSWER))
    with pytest.raises(InvalidInputError) as info:
        call()
    err = info.value
    assert err.field == field, str(err)
    assert not err.is_retryable()
    assert KEY not in str(err)
    assert server.requests == []
    return err


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("content", lambda c: c.quick_chat_text("m", None)),
        ("content", lambda c: c.quick_chat_text("m", {"text": "hi"})),
        ("model", lambda c: c.quick_chat_text(None, "hi")),
        ("model", lambda c: c.quick_chat_text("", "hi")),
        ("temperature", lambda c: c.quick_chat_text("m", "hi", temperature=float("nan"))),
        ("max_tokens", lambda c: c.quick_chat_text("m", "hi", max_tokens=True)),
        ("stop[1]", lambda c: c.quick_chat_text("m", "hi", stop=["a", 1])),
        ("extra['tags']", lambda c: c.quick_chat_text("m", "hi", extra={"tags": {"a"}})),
        ("extra['x']", lambda c: c.quick_chat_text("m", "hi", extra={"x": float("inf")})),
        ("tools[0]", lambda c: c.quick_chat_text("m", "hi", tools=[{"name": "f"}])),
    ],
)
def test_bad_arguments_send_nothing(
    loopback_server: LoopbackServer, field: str, call: Callable[[Client], Any]
) -> None:
    client = client_for(loopback_server)
    nothing_sent(loopback_server, field, lambda: call(client))


AUDIO_BY_URL = Message.user(Content.from_text("hear") + Content.new_audio("https://a/b.wav"))


@pytest.mark.parametrize("stream", [False, True])
def test_input_the_api_cannot_express_sends_nothing(
    loopback_server: LoopbackServer, stream: bool
) -> None:
    client = client_for(loopback_server)
    request = ChatCompletionRequest("m", [Message.user("hi"), AUDIO_BY_URL])
    send = client.chat_completion_stream if stream else client.chat_completion
    nothing_sent(loopback_server, "messages[1].content[1]", lambda: send(request))
    orphan = ChatCompletionRequest("m", [Message(Role.TOOL, "result")])
    nothing_sent(loopback_server, "messages[0].tool_call_id", lambda: send(orphan))
    # The same client still works for good input.
    wav = base64.b64encode(b"RIFF....WAVEfmt ").decode()
    good = ChatCompletionRequest("m", [Message.user(Content.from_audio_base64(wav, "wav"))])
    if not stream:
        loopback_server.add("POST", PATH, Reply.json(ANSWER))
        assert client.chat_completion(good).text() == "ok"
        assert len(loopback_server.requests) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"base_url": "127.0.0.1:{port}/v1"}, "base_url"),
        ({"base_url": "http://127.0.0.1:{port}/v1 "}, "base_url"),
        ({"base_url": ""}, "base_url"),
        ({"api_key": KEY + "\r\nX-Injected: 1"}, "api_key"),
        (
            {"options": {"default_headers": {"X-Trace": "a\r\nX-Injected: 1"}}},
            "default_headers['X-Trace']",
        ),
        ({"provider_headers": {"X-Key": "\x00"}}, "headers['X-Key']"),
    ],
)
def test_bad_configuration_fails_at_client(
    loopback_server: LoopbackServer, kwargs: dict[str, Any], field: str
) -> None:
    port = loopback_server.port

    def build() -> Client:
        args: dict[str, Any] = {"api_key": KEY, "options": OPTIONS}
        headers = kwargs.get("provider_headers")
        base = loopback_server.url("/v1")
        if headers is not None:
            provider = Provider(name="p", api="openai-chat", base_url=base, headers=headers)
        else:
            provider = openai_compatible(base)
        for name, value in kwargs.items():
            if name == "base_url":
                args["base_url"] = value.format(port=port)
            elif name == "options":
                args["options"] = ConnectionOptions(**value)
            elif name == "api_key":
                args["api_key"] = value
        client = Client(provider, **args)
        client.quick_chat_text("m", "hi")  # never reached
        return client

    err = nothing_sent(loopback_server, field, build)
    assert "X-Injected" not in str(err)


def test_a_hook_that_breaks_the_request_is_not_retried(loopback_server: LoopbackServer) -> None:
    """A header no HTTP request can carry is not a connection failure worth retrying."""

    def bad_header(request: HttpRequest, _provider: Provider) -> HttpRequest:
        return request.with_headers({"X-Bad": "a\r\nX-Injected: " + KEY})

    def bad_url(request: HttpRequest, _provider: Provider) -> HttpRequest:
        return attrs.evolve(request, url=request.url.replace("http://", ""))

    client = client_for(loopback_server, on_payload=bad_header)
    err = nothing_sent(loopback_server, "headers", lambda: client.quick_chat_text("m", "hi"))
    assert "X-Injected" not in str(err)  # the value (here holding the key) is not quoted
    client = client_for(loopback_server, on_payload=bad_url)
    nothing_sent(loopback_server, "url", lambda: client.quick_chat_text("m", "hi"))
