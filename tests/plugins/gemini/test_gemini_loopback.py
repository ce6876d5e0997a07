"""llmcore-gemini through the real send path against the loopback server: what the corpus does
not record (error statuses, errors and cuts in the middle of a stream, blocked prompts,
keys and base URLs from the environment)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from loopback import LoopbackServer, Reply

import llmcore
from llmcore import ChatCompletionRequest, Message, StopReason

PATH = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
WHOLE = "/v1beta/models/gemini-2.5-flash:generateContent"
REQUEST = ChatCompletionRequest("gemini-2.5-flash", [Message.user("hi")])


def _client(server: LoopbackServer, **kwargs: Any) -> llmcore.Client:
    kwargs.setdefault("api_key", "k-123")
    return llmcore.Client("gemini", base_url=server.base_url + "/v1beta",
                          options=llmcore.ConnectionOptions(max_retries=0), **kwargs)


def _event(parts: list[dict[str, Any]], finish: str | None = None) -> str:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return json.dumps({"candidates": [candidate], "modelVersion": "gemini-2.5-flash",
                       "usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 1}})


def _google_error(code: int, status: str, message: str = "m") -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


@pytest.mark.parametrize(("code", "status", "cls"), [
    (400, "INVALID_ARGUMENT", llmcore.InvalidRequestError),
    (403, "PERMISSION_DENIED", llmcore.PermissionDeniedError),
    (429, "RESOURCE_EXHAUSTED", llmcore.RateLimitError),
    (500, "INTERNAL", llmcore.ServerError),
    (503, "UNAVAILABLE", llmcore.OverloadedError),
])
def test_error_statuses_are_typed(loopback: LoopbackServer, code: int, status: str,
                                  cls: type[llmcore.LlmError]) -> None:
    loopback.reset()
    loopback.add("POST", WHOLE, Reply.json(_google_error(code, status), status=code,
                                           headers={"x-request-id": "req-9"}))
    with _client(loopback) as client, pytest.raises(llmcore.LlmError) as caught:
        client.chat_completion(REQUEST)
    err = caught.value
    assert type(err) is cls
    assert (err.status, err.code, err.request_id, err.provider) == (code, status, "req-9",
                                                                     "gemini")


def test_a_rate_limit_with_retry_info_is_retried_after_the_delay(
        loopback: LoopbackServer) -> None:
    body = _google_error(429, "RESOURCE_EXHAUSTED", "quota")
    body["error"]["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                 "retryDelay": "0s"}]
    loopback.reset()
    loopback.add("POST", WHOLE, Reply.json(body, status=429),
                 Reply.json(json.loads(_event([{"text": "ok"}], "STOP"))))
    client = llmcore.Client("gemini", api_key="k", base_url=loopback.base_url + "/v1beta",
                            options=llmcore.ConnectionOptions(max_retries=1))
    with client:
        assert client.chat_completion(REQUEST).text() == "ok"
    assert len(loopback.requests) == 2


def test_context_overflow_is_its_own_error(loopback: LoopbackServer) -> None:
    loopback.reset()
    message = "The input token count (2000000) exceeds the maximum number of tokens allowed (1)."
    loopback.add("POST", PATH, Reply.json(_google_error(400, "INVALID_ARGUMENT", message),
                                          status=400))
    with _client(loopback) as client, pytest.raises(llmcore.ContextLengthExceededError):
        client.chat_completion_stream(REQUEST)


def test_an_error_event_mid_stream_keeps_the_partial(loopback: LoopbackServer) -> None:
    loopback.reset()
    loopback.add("POST", PATH, Reply.sse(
        [_event([{"text": "Hello"}]), json.dumps(_google_error(503, "UNAVAILABLE", "busy"))],
        fragment=3))
    with _client(loopback) as client:
        stream = client.chat_completion_stream(REQUEST)
        with pytest.raises(llmcore.OverloadedError) as caught:
            for _ in stream:
                pass
    err = caught.value
    assert err.message == "busy" and err.status == 503
    assert err.partial is not None and err.partial.text() == "Hello"
    assert err.partial.stop_reason is StopReason.ERROR


def test_a_stream_cut_before_any_finish_reason_is_truncated(loopback: LoopbackServer) -> None:
    loopback.reset()
    loopback.add("POST", PATH, Reply.sse([_event([{"text": "Hel"}]), _event([{"text": "lo"}])]))
    with _client(loopback) as client:
        stream = client.chat_completion_stream(REQUEST)
        with pytest.raises(llmcore.StreamInterruptedError) as caught:
            stream.until_done()
    assert caught.value.partial is not None and caught.value.partial.text() == "Hello"


def test_a_malformed_event_is_a_malformed_response(loopback: LoopbackServer) -> None:
    loopback.reset()
    loopback.add("POST", PATH, Reply.sse([_event([{"text": "a"}]), "{not json"]))
    with _client(loopback) as client:
        stream = client.chat_completion_stream(REQUEST)
        with pytest.raises(llmcore.MalformedResponseError):
            stream.until_done()


def test_a_blocked_prompt_in_a_stream_is_a_content_filter_error(
        loopback: LoopbackServer) -> None:
    loopback.reset()
    loopback.add("POST", PATH, Reply.sse([json.dumps(
        {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})]))
    with _client(loopback) as client:
        stream = client.chat_completion_stream(REQUEST)
        with pytest.raises(llmcore.ContentFilterError) as caught:
            stream.until_done()
    assert caught.value.code == "PROHIBITED_CONTENT"


def test_a_safety_finish_ends_the_stream_as_content_filter(loopback: LoopbackServer) -> None:
    loopback.reset()
    loopback.add("POST", PATH, Reply.sse([_event([{"text": "I"}]), _event([], "SAFETY")]))
    with _client(loopback) as client:
        response = client.chat_completion_stream(REQUEST).until_done()
    assert (response.finish_reason, response.stop_reason) == ("SAFETY",
                                                               StopReason.CONTENT_FILTER)


def test_keys_from_the_environment_travel_in_a_header(loopback: LoopbackServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key-1")
    loopback.reset()
    loopback.add("POST", WHOLE, Reply.json(json.loads(_event([{"text": "ok"}], "STOP"))))
    with llmcore.Client("gemini", base_url=loopback.base_url) as client:  # v1beta added
        assert client.chat_completion(REQUEST).text() == "ok"
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key-2")  # the official SDK prefers it
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", loopback.base_url)
    with llmcore.Client("gemini") as client:
        client.chat_completion(REQUEST)
    first, second = loopback.requests
    assert first.path == second.path == WHOLE
    assert first.headers["x-goog-api-key"] == "gemini-key-1"
    assert second.headers["x-goog-api-key"] == "google-key-2"
    assert "key" not in first.query + second.query


def test_no_key_is_a_configuration_error_naming_both_variables() -> None:
    with pytest.raises(llmcore.ConfigurationError) as caught:
        llmcore.Client("gemini")
    assert "GOOGLE_API_KEY" in str(caught.value) and "GEMINI_API_KEY" in str(caught.value)


def test_list_models_asks_the_largest_page_and_follows_the_next(loopback: LoopbackServer) -> None:
    """``nextPageToken`` is followed (``pageToken``, same page size) until a page has none."""
    loopback.reset()
    loopback.add("GET", "/v1beta/models",
                 Reply.json({"models": [{"name": "models/gemini-2.5-pro"}], "nextPageToken": "t"}),
                 Reply.json({"models": [{"name": "models/gemini-2.5-flash"}]}))
    with _client(loopback) as client:
        assert [m.id for m in client.list_models()] == ["gemini-2.5-pro", "gemini-2.5-flash"]
    assert [r.params for r in loopback.requests] == [
        {"pageSize": ["1000"]}, {"pageSize": ["1000"], "pageToken": ["t"]}]
    assert all(r.headers["x-goog-api-key"] == "k-123" for r in loopback.requests)


def test_a_tool_turn_continues_with_its_signature(loopback: LoopbackServer) -> None:
    """Call, result, follow-up: the signature and the function name go back as Gemini wants."""
    loopback.reset()
    call = {"functionCall": {"name": "get_time", "args": {}}, "thoughtSignature": "SIG=="}
    loopback.add("POST", PATH, Reply.sse([_event([call], "STOP")], fragment=1),
                 Reply.sse([_event([{"text": "It is noon."}], "STOP")]))
    tool = llmcore.Tool("get_time", "The time")
    with _client(loopback) as client:
        context = llmcore.Context(messages=[Message.user("time?")], tools=[tool])
        first = client.chat_completion_stream(context.to_request("gemini-2.5-flash")).until_done()
        assert first.stop_reason is StopReason.TOOL_USE
        context = llmcore.Context.loads(context.append_response(first).dumps())  # serialised
        context = context.append(Message.tool(first.tool_calls()[0].id, "12:00"))
        second = client.chat_completion_stream(context.to_request("gemini-2.5-flash"))
        second = second.until_done()
    assert second.text() == "It is noon."
    sent = loopback.requests[1].json()["contents"]
    assert sent[1] == {"role": "model", "parts": [call]}
    assert sent[2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "get_time", "response": {"output": "12:00"}}}]}
