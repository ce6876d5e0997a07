"""llmcore-anthropic through real clients and a real socket (the loopback server on 127.0.0.1).

What the corpus does not cover: error answers of every kind (529 overloaded and its retry,
context overflow, HTML pages from a proxy), ``error`` events in the middle of a stream,
malformed and truncated bodies, both credentials and ``ANTHROPIC_BASE_URL``, model listing over
several pages, a paused server-tool turn whose blocks go back unchanged, and a signed-thinking
conversation whose signatures go back unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from loopback import LoopbackServer, Reply

import llmcore
from llmcore import ChatCompletionRequest, ConnectionOptions, Message, StopReason, Tool
from llmcore import events as ev
from llmcore_anthropic import ANTHROPIC, ANTHROPIC_BEARER

PATH = "/v1/messages"
NO_RETRY = ConnectionOptions(max_retries=0)


def client(server: LoopbackServer, provider: llmcore.Provider = ANTHROPIC, **kwargs: Any
           ) -> llmcore.Client:
    kwargs.setdefault("api_key", "sk-ant-test-key-123456")
    kwargs.setdefault("options", NO_RETRY)
    return llmcore.Client(provider, base_url=server.base_url, **kwargs)


def request(**options: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest("claude-test", [Message.user("hi")], **options)


def error_body(etype: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": etype, "message": message},
            "request_id": "req_body_1"}


def event(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode()


def message(text: str = "Hello", reason: str = "end_turn") -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
            "content": [{"type": "text", "text": text}], "stop_reason": reason,
            "usage": {"input_tokens": 3, "output_tokens": 2}}


START = {"type": "message_start", "message": {
    "id": "msg_s", "type": "message", "role": "assistant", "model": "claude-test", "content": [],
    "stop_reason": None, "usage": {"input_tokens": 3, "output_tokens": 1}}}
TEXT_START = {"type": "content_block_start", "index": 0,
              "content_block": {"type": "text", "text": ""}}


def text_delta(text: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": text}}


# --- HTTP errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "etype", "cls"),
    [(400, "invalid_request_error", llmcore.InvalidRequestError),
     (401, "authentication_error", llmcore.AuthenticationError),
     (403, "permission_error", llmcore.PermissionDeniedError),
     (404, "not_found_error", llmcore.ModelNotFoundError),
     (429, "rate_limit_error", llmcore.RateLimitError),
     (500, "api_error", llmcore.ServerError),
     (529, "overloaded_error", llmcore.OverloadedError)],
)
def test_error_answers_are_typed(server: LoopbackServer, status: int, etype: str,
                                 cls: type[llmcore.LlmError]) -> None:
    server.add("POST", PATH, Reply.json(error_body(etype, f"{etype} happened"), status=status,
                                        headers={"request-id": "req_hdr_9"}))
    with client(server) as c, pytest.raises(llmcore.LlmError) as caught:
        c.chat_completion(request())
    err = caught.value
    assert type(err) is cls
    assert (err.status, err.code, err.message) == (status, etype, f"{etype} happened")
    assert err.request_id == "req_body_1"
    assert err.provider == "anthropic"


def test_529_overloaded_is_retried_then_succeeds(server: LoopbackServer) -> None:
    server.add("POST", PATH,
               Reply.json(error_body("overloaded_error", "Overloaded"), status=529,
                          headers={"retry-after": "0"}),
               Reply.json(message("after the retry")))
    options = ConnectionOptions(max_retries=2, backoff_initial=0.01, backoff_max=0.05)
    with client(server, options=options) as c:
        assert c.chat_completion(request()).text() == "after the retry"
    assert len(server.requests) == 2


def test_429_carries_retry_after(server: LoopbackServer) -> None:
    server.add("POST", PATH, Reply.json(error_body("rate_limit_error", "slow down"), status=429,
                                        headers={"retry-after": "3600"}))
    options = ConnectionOptions(max_retries=3)
    with client(server, options=options) as c, pytest.raises(llmcore.RateLimitError) as caught:
        c.chat_completion(request())
    assert caught.value.retry_after == 3600
    assert len(server.requests) == 1  # a wait beyond the cap is not slept through


def test_prompt_too_long_is_context_length_exceeded(server: LoopbackServer) -> None:
    text = "prompt is too long: 215000 tokens > 200000 maximum"
    server.add("POST", PATH, Reply.json(error_body("invalid_request_error", text), status=400))
    with client(server) as c, pytest.raises(llmcore.ContextLengthExceededError) as caught:
        c.chat_completion(request())
    assert caught.value.message == text


def test_an_html_error_page_is_still_typed(server: LoopbackServer) -> None:
    server.add("POST", PATH, Reply.raw(502, "<html><title>502 Bad Gateway</title></html>"))
    with client(server) as c, pytest.raises(llmcore.ServerError) as caught:
        c.chat_completion(request())
    assert "502 Bad Gateway" in caught.value.message


def test_errors_never_show_the_key(server: LoopbackServer) -> None:
    key = "sk-ant-api03-secretsecretsecret"
    server.add("POST", PATH, Reply.json(error_body("authentication_error",
                                                   f"invalid x-api-key {key}"), status=401))
    with client(server, api_key=key) as c, pytest.raises(llmcore.AuthenticationError) as caught:
        c.chat_completion(request())
    assert key not in str(caught.value) and key not in repr(caught.value.body)


# --- malformed and truncated ------------------------------------------------------------------
def test_malformed_bodies(server: LoopbackServer) -> None:
    server.add("POST", PATH,
               Reply.raw(200, '{"type": "message", "content": [', content_type="application/json"),
               Reply.json({"type": "message", "id": "m"}))
    with client(server) as c:
        with pytest.raises(llmcore.MalformedResponseError) as caught:
            c.chat_completion(request())
        assert "not valid JSON" in caught.value.message
        with pytest.raises(llmcore.MalformedResponseError) as caught:
            c.chat_completion(request())
        assert "unexpected shape" in caught.value.message


def test_a_malformed_stream_event(server: LoopbackServer) -> None:
    server.add("POST", PATH, Reply.sse([event(START), b"event: content_block_start\n"
                                        b"data: {not json\n\n"]))
    with client(server) as c, pytest.raises(llmcore.MalformedResponseError):
        c.chat_completion_stream(request()).until_done()


def test_a_stream_cut_before_its_end_is_interrupted(server: LoopbackServer) -> None:
    server.add("POST", PATH, Reply.sse([event(START), event(TEXT_START),
                                        event(text_delta("Hel"))]))
    with client(server) as c:
        stream = c.chat_completion_stream(request())
        with pytest.raises(llmcore.StreamInterruptedError) as caught:
            stream.until_done()
    partial = caught.value.partial
    assert partial is not None and partial.text() == "Hel"
    assert partial.stop_reason is StopReason.ERROR


# --- error events in the middle of a stream ----------------------------------------------------
MIDSTREAM = [
    event(START), event(TEXT_START), event(text_delta("Par")), event({"type": "ping"}),
    event({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
]


@pytest.mark.parametrize("fragment", [None, 1], ids=["whole", "bytewise"])
def test_midstream_error_event_is_an_overloaded_error_with_the_partial(
    server: LoopbackServer, fragment: int | None
) -> None:
    server.add("POST", PATH, Reply.sse(MIDSTREAM, fragment=fragment))
    with client(server) as c:
        stream = c.chat_completion_stream(request())
        texts: list[str] = []
        with pytest.raises(llmcore.OverloadedError) as caught:
            for chunk in stream:
                texts.append(chunk.text() or "")
    err = caught.value
    assert err.message == "Overloaded" and err.code == "overloaded_error"
    assert err.is_retryable()
    assert "".join(texts) == "Par"
    assert err.partial is not None and err.partial.text() == "Par"
    assert err.partial.stop_reason is StopReason.ERROR
    assert stream.error is err


def test_midstream_error_in_the_event_view(server: LoopbackServer) -> None:
    server.add("POST", PATH, Reply.sse(MIDSTREAM))
    with client(server) as c:
        events = list(c.chat_completion_stream(request()).events())
    last = events[-1]
    assert isinstance(last, ev.ErrorEvent)
    assert isinstance(last.error, llmcore.OverloadedError)
    assert last.partial.text() == "Par"


def test_an_error_event_without_event_name(server: LoopbackServer) -> None:
    body = json.dumps({"type": "error", "error": {"type": "api_error", "message": "boom"}})
    server.add("POST", PATH, Reply.sse([event(START), body]))
    with client(server) as c, pytest.raises(llmcore.ServerError) as caught:
        c.chat_completion_stream(request()).until_done()
    assert caught.value.message == "boom"


# --- credentials, base URL, headers ------------------------------------------------------------
def test_api_key_from_the_environment_is_sent_as_x_api_key(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-0001")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    server.add("POST", PATH, Reply.json(message()))
    with llmcore.Client("anthropic", options=NO_RETRY) as c:
        assert c.chat_completion(request()).text() == "Hello"
    sent = server.requests[0]
    assert sent.headers["x-api-key"] == "sk-ant-from-env-0001"
    assert "authorization" not in {k.lower() for k in sent.headers}
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json()["max_tokens"] == 4096


def test_auth_token_from_the_environment_is_sent_as_bearer(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "oauth-token-0002")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url + "/v1")
    server.add("POST", PATH, Reply.json(message()))
    with llmcore.Client("anthropic-bearer", options=NO_RETRY) as c:
        assert c.chat_completion(request()).text() == "Hello"
    sent = server.requests[0]
    assert sent.headers["authorization"] == "Bearer oauth-token-0002"
    assert "x-api-key" not in {k.lower() for k in sent.headers}


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(llmcore.ConfigurationError, match="ANTHROPIC_API_KEY"):
        llmcore.Client("anthropic")
    with pytest.raises(llmcore.ConfigurationError, match="ANTHROPIC_AUTH_TOKEN"):
        llmcore.Client("anthropic-bearer")


def test_provider_headers_such_as_anthropic_beta_are_sent(server: LoopbackServer) -> None:
    provider = ANTHROPIC.evolve(headers={"anthropic-beta": "a,b", "anthropic-version": "2099"})
    server.add("POST", PATH, Reply.json(message()))
    with client(server, provider) as c:
        c.chat_completion(request())
    assert server.requests[0].headers["anthropic-beta"] == "a,b"
    assert server.requests[0].headers["anthropic-version"] == "2099"


# --- models -----------------------------------------------------------------------------------
def test_list_models_follows_the_pages(server: LoopbackServer) -> None:
    """``has_more`` pages are followed with ``after_id`` = the page's ``last_id``, each request
    authenticated like the first."""
    first = {"data": [{"type": "model", "id": "claude-a", "display_name": "A",
                       "created_at": "2025-01-01T00:00:00Z"},
                      {"type": "model", "id": "claude-b"}],
             "has_more": True, "first_id": "claude-a", "last_id": "claude-b"}
    last = {"data": [{"type": "model", "id": "claude-c"}],
            "has_more": False, "first_id": "claude-c", "last_id": "claude-c"}
    server.add("GET", "/v1/models", Reply.json(first), Reply.json(last))
    with client(server, ANTHROPIC_BEARER) as c:
        models = c.list_models()
    assert [m.id for m in models] == ["claude-a", "claude-b", "claude-c"]
    assert [r.params for r in server.requests] == [
        {"limit": ["1000"]}, {"limit": ["1000"], "after_id": ["claude-b"]}]
    for sent in server.requests:
        assert sent.headers["anthropic-version"] == "2023-06-01"
        assert sent.headers["authorization"] == "Bearer sk-ant-test-key-123456"


# --- a paused server-tool turn resumes --------------------------------------------------------
CITATION = {"type": "web_search_result_location", "url": "https://w.example/sf",
            "title": "SF", "cited_text": "Sunny.", "encrypted_index": "IDX=="}
RESULT = {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
    {"type": "web_search_result", "url": "https://w.example/sf", "title": "SF",
     "encrypted_content": "ENC==", "page_age": None}]}
PAUSED_STREAM = [
    event(START),
    event({"type": "content_block_start", "index": 0,
           "content_block": {"type": "server_tool_use", "id": "srvtoolu_1",
                             "name": "web_search", "input": {}}}),
    event({"type": "content_block_delta", "index": 0,
           "delta": {"type": "input_json_delta", "partial_json": '{"query": "SF"}'}}),
    event({"type": "content_block_stop", "index": 0}),
    event({"type": "content_block_start", "index": 1, "content_block": RESULT}),
    event({"type": "content_block_stop", "index": 1}),
    event({"type": "content_block_start", "index": 2,
           "content_block": {"type": "text", "text": "", "citations": []}}),
    event({"type": "content_block_delta", "index": 2,
           "delta": {"type": "citations_delta", "citation": CITATION}}),
    event({"type": "content_block_delta", "index": 2,
           "delta": {"type": "text_delta", "text": "Sunny so far."}}),
    event({"type": "content_block_stop", "index": 2}),
    event({"type": "message_delta", "delta": {"stop_reason": "pause_turn"},
           "usage": {"output_tokens": 12, "server_tool_use": {"web_search_requests": 1}}}),
    event({"type": "message_stop"}),
]
PAUSED_CONTENT = [
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search",
     "input": {"query": "SF"}},
    RESULT,
    {"type": "text", "text": "Sunny so far.", "citations": [CITATION]},
]


def test_a_paused_server_tool_turn_resumes_with_its_blocks(server: LoopbackServer) -> None:
    """A streamed ``pause_turn`` answer (web search, citations), saved as a Context and loaded
    again, goes back with its content blocks exactly as the API sent them."""
    server.add("POST", PATH, Reply.sse(PAUSED_STREAM, fragment=1), Reply.json(message("Done.")))
    first = ChatCompletionRequest("claude-test", [Message.user("Weather in SF?")],
                                  extra={"tools": [{"type": "web_search_20250305",
                                                    "name": "web_search"}]})
    with client(server) as c:
        answer = c.chat_completion_stream(first).until_done()
        assert answer.finish_reason == "pause_turn"
        assert answer.text() == "Sunny so far." and answer.tool_calls() == ()
        assert answer.message.provider_data == {"content": PAUSED_CONTENT}
        assert answer.usage is not None
        assert answer.usage.provider_data == {"server_tool_use": {"web_search_requests": 1}}
        saved = llmcore.Context(messages=first.messages).append_response(answer).dumps()
        resumed = llmcore.Context.loads(saved).to_request("claude-test", extra=first.extra)
        assert c.chat_completion(resumed).text() == "Done."
    replay = server.requests[1].json()["messages"]
    assert replay == [{"role": "user", "content": "Weather in SF?"},
                      {"role": "assistant", "content": PAUSED_CONTENT}]


# --- signed thinking round trip ----------------------------------------------------------------
SIGNATURE = "EuYBCkQYAiJAx+/sig=="
THINKING_STREAM = [
    event(START),
    event({"type": "content_block_start", "index": 0,
           "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
    event({"type": "content_block_delta", "index": 0,
           "delta": {"type": "thinking_delta", "thinking": "Need the weather."}}),
    event({"type": "content_block_delta", "index": 0,
           "delta": {"type": "signature_delta", "signature": SIGNATURE}}),
    event({"type": "content_block_stop", "index": 0}),
    event({"type": "content_block_start", "index": 1,
           "content_block": {"type": "redacted_thinking", "data": "REDACTED=="}}),
    event({"type": "content_block_stop", "index": 1}),
    event({"type": "content_block_start", "index": 2,
           "content_block": {"type": "tool_use", "id": "toolu_w", "name": "get_weather",
                             "input": {}}}),
    event({"type": "content_block_delta", "index": 2,
           "delta": {"type": "input_json_delta", "partial_json": '{"city": '}}),
    event({"type": "content_block_delta", "index": 2,
           "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}}),
    event({"type": "content_block_stop", "index": 2}),
    event({"type": "message_delta", "delta": {"stop_reason": "tool_use"},
           "usage": {"output_tokens": 40}}),
    event({"type": "message_stop"}),
]
WEATHER = Tool("get_weather", "Weather.", {"type": "object",
                                           "properties": {"city": {"type": "string"}}})


def test_signed_thinking_goes_back_unchanged(server: LoopbackServer) -> None:
    server.add("POST", PATH, Reply.sse(THINKING_STREAM, random_fragments=True, seed=5),
               Reply.json(message("It is sunny.")))
    first = ChatCompletionRequest("claude-test", [Message.user("Weather in Paris?")],
                                  tools=[WEATHER], reasoning_budget=2048)
    with client(server) as c:
        stream = c.chat_completion_stream(first)
        events = list(stream.events())
        answer = stream.response
        (call,) = answer.tool_calls()
        follow_up = first.with_options(messages=(
            *first.messages, answer.message, Message.tool(call.id, "sunny, 21 C")))
        assert c.chat_completion(follow_up).text() == "It is sunny."
    assert answer.stop_reason is StopReason.TOOL_USE
    assert answer.message.reasoning == "Need the weather."
    ends = [e for e in events if isinstance(e, ev.ThinkingEndEvent)]
    assert ends[0].signature == SIGNATURE
    sent = server.requests[0].json()
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent["max_tokens"] == 4096 + 2048
    replay = server.requests[1].json()["messages"]
    assert replay[1] == {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Need the weather.", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": "REDACTED=="},
        {"type": "tool_use", "id": "toolu_w", "name": "get_weather", "input": {"city": "Paris"}},
    ]}
    assert replay[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_w", "content": "sunny, 21 C"}]}


def test_another_providers_client_sends_the_thinking_as_text(server: LoopbackServer) -> None:
    """The same history sent through ``anthropic-bearer`` (another provider): the blocks are
    foreign there, so their signatures are dropped and the reasoning travels as text."""
    server.add("POST", PATH, Reply.sse(THINKING_STREAM), Reply.json(message("ok")))
    first = ChatCompletionRequest("claude-test", [Message.user("Weather?")], tools=[WEATHER])
    with client(server) as c:
        answer = c.chat_completion_stream(first).until_done()
    (call,) = answer.tool_calls()
    follow_up = first.with_options(messages=(
        *first.messages, answer.message, Message.tool(call.id, "sunny")))
    with client(server, ANTHROPIC_BEARER) as other:
        other.chat_completion(follow_up)
    replay = server.requests[1].json()["messages"][1]["content"]
    assert replay[0] == {"type": "text", "text": "<thinking>\nNeed the weather.\n</thinking>"}
    assert SIGNATURE not in json.dumps(replay) and "REDACTED==" not in json.dumps(replay)
