"""Base URLs with a query string or userinfo, against the loopback server and llmcore-openai."""

from __future__ import annotations

import base64
import json

import pytest
from loopback import LoopbackServer, Reply

from llmcore import ChatCompletionRequest, Client, ConfigurationError, ConnectionOptions, Message
from llmcore_openai import openai_compatible

OPTIONS = ConnectionOptions(connect_timeout=1.0, read_timeout=2.0, max_retries=0)
REQ = ChatCompletionRequest("loop-model", [Message.user("hi")])
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "model": "loop-model",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}
CHUNKS = [
    json.dumps(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "loop-model",
            "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}],
        }
    ),
    "[DONE]",
]


def test_azure_style_query_is_kept_on_chat_stream_and_list_models(
    loopback_server: LoopbackServer,
) -> None:
    loopback_server.add(
        "POST", "/openai/v1/chat/completions", Reply.json(COMPLETION), Reply.sse(CHUNKS)
    )
    loopback_server.add("GET", "/openai/v1/models", Reply.json({"data": [{"id": "m1"}]}))
    base = loopback_server.base_url + "/openai/v1?api-version=2024-10-21"
    with Client(openai_compatible(base), api_key="az-key-123456", options=OPTIONS) as client:
        assert client.chat_completion(REQ).text() == "ok"
        assert client.chat_completion_stream(REQ).text() == "ok"
        assert [m.id for m in client.list_models()] == ["m1"]
    sent = loopback_server.requests
    assert [(r.method, r.path) for r in sent] == [
        ("POST", "/openai/v1/chat/completions"),
        ("POST", "/openai/v1/chat/completions"),
        ("GET", "/openai/v1/models"),
    ]
    assert all(r.params == {"api-version": ["2024-10-21"]} for r in sent)
    assert all(r.headers["authorization"] == "Bearer az-key-123456" for r in sent)


def test_userinfo_of_a_keyless_server_is_sent_as_basic_auth(
    loopback_server: LoopbackServer,
) -> None:
    loopback_server.add("POST", "/v1/chat/completions", Reply.json(COMPLETION))
    host = loopback_server.base_url.split("://", 1)[1]
    with Client(openai_compatible(f"http://ann:Pass-Word-1@{host}/v1"), options=OPTIONS) as client:
        assert client.chat_completion(REQ).text() == "ok"
    sent = loopback_server.requests[0]
    assert sent.path == "/v1/chat/completions"
    expected = base64.b64encode(b"ann:Pass-Word-1").decode()
    assert sent.headers["authorization"] == f"Basic {expected}"


def test_userinfo_never_replaces_the_bearer_key(loopback_server: LoopbackServer) -> None:
    host = loopback_server.base_url.split("://", 1)[1]
    with pytest.raises(ConfigurationError, match="base_url"):
        Client(openai_compatible(f"http://ann:Pass-Word-2@{host}/v1"), api_key="sk-key-1234567")
    assert loopback_server.requests == []
