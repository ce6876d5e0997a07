"""Client("zhipu") / Client("zai") over a real socket: what the corpus does not record.

Error codes on HTTP errors (typed, retried or not), error frames in the middle of a stream
(typed, partial kept), GLM's extra finish reasons in streams, JWT auth on the wire, the
base-URL variables, the Z.ai header and the built-in web search tool in the sent payload.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from loopback import LoopbackServer, Reply

import llmcore
import llmcore_openai
from llmcore import ChatCompletionRequest, Message, StopReason
from llmcore_zhipu import web_search, with_jwt

PATH = "/api/paas/v4/chat/completions"
KEY = "keyid123.s3cr3t"


def _client(server: LoopbackServer, provider: Any = "zhipu", retries: int = 0) -> llmcore.Client:
    return llmcore.Client(
        provider,
        api_key=KEY,
        base_url=server.base_url + "/api/paas/v4",
        options=llmcore.ConnectionOptions(max_retries=retries),
    )


def _req(**options: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest("glm-4.7", [Message.user("hi")], **options)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    return json.dumps(
        {
            "id": "c1",
            "model": "glm-4.7",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def _answer(text: str = "ok") -> dict[str, Any]:
    return {
        "id": "a1",
        "model": "glm-4.7",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
    }


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "1002", llmcore.AuthenticationError),
        (400, "1211", llmcore.ModelNotFoundError),
        (400, "1261", llmcore.ContextLengthExceededError),
        (400, "1301", llmcore.ContentFilterError),
        (429, "1113", llmcore.RateLimitError),
        (429, "1304", llmcore.RateLimitError),
    ],
)
def test_error_codes_raise_typed_errors_without_retrying(
    server: LoopbackServer, status: int, code: str, cls: type[llmcore.LlmError]
) -> None:
    body = {"error": {"code": code, "message": f"glm says {code}"}}
    server.add("POST", PATH, Reply.json(body, status=status, headers={"Retry-After": "0"}))
    with _client(server, retries=2) as client, pytest.raises(llmcore.LlmError) as caught:
        client.chat_completion(_req())
    err = caught.value
    assert type(err) is cls
    assert (err.status, err.code, err.message, err.provider) == (
        status,
        code,
        f"glm says {code}",
        "zhipu",
    )
    assert KEY not in str(err)
    assert len(server.requests) == 1  # auth, bad input and exhausted quotas are not retried


def test_concurrency_limit_is_retried_then_answers(server: LoopbackServer) -> None:
    busy = {"error": {"code": "1302", "message": "too many concurrent requests"}}
    server.add(
        "POST",
        PATH,
        Reply.json(busy, status=429, headers={"Retry-After": "0"}),
        Reply.json(_answer("after retry")),
    )
    with _client(server, retries=2) as client:
        assert client.chat_completion(_req()).text() == "after retry"
    assert len(server.requests) == 2


def test_mid_stream_error_frame_is_typed_and_keeps_the_partial(server: LoopbackServer) -> None:
    events = [
        _chunk({"role": "assistant", "reasoning_content": "let me"}),
        _chunk({"content": "Part"}),
        json.dumps({"error": {"code": "1301", "message": "unsafe content"}}),
    ]
    server.add("POST", PATH, Reply.sse(events, fragment=3))
    with _client(server) as client:
        stream = client.chat_completion_stream(_req())
        seen: list[str] = []
        with pytest.raises(llmcore.ContentFilterError) as caught:
            for chunk in stream:
                seen.append(chunk.text() or "")
    err = caught.value
    assert (err.code, err.message) == ("1301", "unsafe content")
    assert "".join(seen) == "Part"
    assert stream.error is err
    assert err.partial is not None
    assert err.partial.text() == "Part"
    assert err.partial.message.reasoning == "let me"
    assert err.partial.stop_reason is StopReason.ERROR


@pytest.mark.parametrize(
    ("finish", "unified"),
    [
        ("sensitive", StopReason.CONTENT_FILTER),
        ("network_error", StopReason.ERROR),
        ("model_context_window_exceeded", StopReason.LENGTH),
    ],
)
def test_extra_finish_reasons_in_a_stream(
    server: LoopbackServer, finish: str, unified: StopReason
) -> None:
    events = [_chunk({"role": "assistant", "content": "cut"}), _chunk({}, finish), "[DONE]"]
    server.add("POST", PATH, Reply.sse(events, fragment=1))
    with _client(server) as client:
        stream = client.chat_completion_stream(_req())
        assert stream.text() == "cut"
    assert stream.response.finish_reason == finish
    assert stream.response.stop_reason is unified


def test_streamed_tool_call_with_tool_stream(server: LoopbackServer) -> None:
    first = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"ci'},
    }
    rest = {"index": 0, "function": {"arguments": 'ty": "Beijing"}'}}
    events = [
        _chunk({"role": "assistant", "tool_calls": [first]}),
        _chunk({"tool_calls": [rest]}),
        _chunk({}, "tool_calls"),
        "[DONE]",
    ]
    server.add("POST", PATH, Reply.sse(events, random_fragments=True, seed=8))
    weather = llmcore.Tool("get_weather", None, {"type": "object", "properties": {}})
    with _client(server) as client:
        stream = client.chat_completion_stream(_req(tools=[weather], extra={"tool_stream": True}))
        list(stream)
    calls = stream.response.message.tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_1", "get_weather", {"city": "Beijing"})
    ]
    assert stream.response.stop_reason is StopReason.TOOL_USE
    assert server.requests[0].json()["tool_stream"] is True


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_jwt_on_the_wire_verifies_with_the_secret(server: LoopbackServer) -> None:
    server.add("POST", PATH, Reply.json(_answer()))
    before = time.time()
    with _client(server, with_jwt()) as client:
        assert client.chat_completion(_req()).text() == "ok"
    after = time.time()
    auth = server.requests[0].headers["authorization"]
    assert auth.startswith("Bearer ") and KEY not in auth
    head, body, sig = auth.removeprefix("Bearer ").split(".")
    mac = hmac.new(b"s3cr3t", f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert sig == _b64(mac)
    payload = json.loads(_unb64(body))
    assert payload["api_key"] == "keyid123"
    assert before * 1000 - 1 <= payload["timestamp"] <= after * 1000 + 1
    assert payload["exp"] - payload["timestamp"] == 210_000
    assert json.loads(_unb64(head)) == {"alg": "HS256", "sign_type": "SIGN", "typ": "JWT"}


def test_plain_key_is_sent_as_the_bearer_token(server: LoopbackServer) -> None:
    server.add("POST", PATH, Reply.json(_answer()))
    with _client(server) as client:
        client.chat_completion(_req())
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("name", "key_env", "url_env"),
    [("zhipu", "ZHIPUAI_API_KEY", "ZHIPUAI_BASE_URL"), ("zai", "ZAI_API_KEY", "ZAI_BASE_URL")],
)
def test_key_and_base_url_from_the_environment(
    server: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    key_env: str,
    url_env: str,
) -> None:
    for var in ("ZHIPUAI_API_KEY", "ZHIPUAI_BASE_URL", "ZAI_API_KEY", "ZAI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(key_env, "env.key")
    monkeypatch.setenv(url_env, server.base_url + "/api/paas/v4/")
    server.add("POST", PATH, Reply.json(_answer("from env")))
    with llmcore.Client(name, options=llmcore.ConnectionOptions(max_retries=0)) as client:
        assert client.chat_completion(_req()).text() == "from env"
    sent = server.requests[0]
    assert sent.headers["authorization"] == "Bearer env.key"
    assert ("accept-language" in sent.headers) is (name == "zai")


def test_web_search_tool_is_sent_beside_function_tools(server: LoopbackServer) -> None:
    server.add("POST", PATH, Reply.json(_answer()))
    weather = llmcore.Tool("get_weather", None, {"type": "object", "properties": {}})
    with _client(server, "zai") as client:
        client.chat_completion(_req(tools=[weather], extra={"tools": [web_search(count=2)]}))
    sent = server.requests[0]
    assert sent.headers["accept-language"] == "en-US,en"
    assert sent.json()["tools"][1] == {
        "type": "web_search",
        "web_search": {"count": 2, "search_result": True},
    }


def test_refused_input_sends_nothing(server: LoopbackServer) -> None:
    with _client(server) as client, pytest.raises(llmcore.InvalidInputError):
        client.chat_completion(_req(stop=["a", "b"]))
    assert server.requests == []


def test_openai_chat_providers_never_see_the_zhipu_hooks(server: LoopbackServer) -> None:
    """Scoped by API: an openai-chat provider keeps its own translation and auth."""
    server.add("POST", "/v1/chat/completions", Reply.json(_answer()))
    provider = llmcore_openai.openai_compatible(server.base_url + "/v1")
    client = llmcore.Client(provider, api_key=KEY, options=llmcore.ConnectionOptions(max_retries=0))
    with client:
        client.chat_completion(
            ChatCompletionRequest("m", [Message.user("hi")], stop=["a", "b"], reasoning_budget=0)
        )
    body = server.requests[0].json()
    assert body["stop"] == ["a", "b"] and "thinking" not in body


def test_list_models(server: LoopbackServer) -> None:
    server.add("GET", "/api/paas/v4/models", Reply.json({"data": [{"id": "glm-4.7"}]}))
    with _client(server) as client:
        assert [m.id for m in client.list_models()] == ["glm-4.7"]
