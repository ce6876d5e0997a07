"""Gemini answers, stream events, errors and model lists -> unified objects: pure parsing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import llmcore
import llmcore_gemini
from llmcore import Frame, HttpResponse, StopReason
from llmcore.accumulate import StreamAccumulator
from llmcore_gemini.parse import (
    iter_chunks,
    parse_error,
    parse_generate,
    parse_models,
    parse_usage,
)

GEMINI = llmcore_gemini.GEMINI


def _answer(
    parts: list[dict[str, Any]], finish: str | None = "STOP", **more: Any
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-x", "responseId": "r1", **more}


def _whole(obj: Any) -> llmcore.ChatCompletionResponse:
    return parse_generate(GEMINI, HttpResponse(200, {}, json.dumps(obj).encode()))


def _stream(objs: list[Any]) -> tuple[list[llmcore.ChatCompletionChunk], bool]:
    frames: Iterator[Frame] = iter([Frame(json.dumps(o)) for o in objs])
    gen = iter_chunks(GEMINI, frames)
    chunks = []
    while True:
        try:
            chunks.append(next(gen))
        except StopIteration as stop:
            return chunks, bool(stop.value)


def test_usage_counts_thoughts_in_completion_and_cached_in_prompt() -> None:
    usage = parse_usage({"promptTokenCount": 100, "cachedContentTokenCount": 40,
                         "candidatesTokenCount": 10, "thoughtsTokenCount": 5,
                         "toolUsePromptTokenCount": 3, "totalTokenCount": 118})
    assert usage == llmcore.Usage(prompt_tokens=103, completion_tokens=15, total_tokens=118,
                                  cached_tokens=40, reasoning_tokens=5,
                                  provider_data={"toolUsePromptTokenCount": 3})
    assert parse_usage({"promptTokenCount": 2}) == llmcore.Usage(2, 0, 2)
    assert parse_usage(None) is None


@pytest.mark.parametrize(("raw", "stop"), [
    ("STOP", StopReason.STOP), ("MAX_TOKENS", StopReason.LENGTH),
    ("SAFETY", StopReason.CONTENT_FILTER), ("RECITATION", StopReason.CONTENT_FILTER),
    ("BLOCKLIST", StopReason.CONTENT_FILTER), ("PROHIBITED_CONTENT", StopReason.CONTENT_FILTER),
    ("SPII", StopReason.CONTENT_FILTER), ("MALFORMED_FUNCTION_CALL", StopReason.ERROR),
])
def test_finish_reasons(raw: str, stop: StopReason) -> None:
    response = _whole(_answer([{"text": "x"}], raw))
    assert (response.finish_reason, response.stop_reason) == (raw, stop)


def test_stop_with_function_calls_is_tool_use_and_ids_are_synthesised() -> None:
    obj = _answer([{"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "S"},
                   {"functionCall": {"name": "g", "args": {}, "id": "given"}}])
    response = _whole(obj)
    assert response.stop_reason is StopReason.TOOL_USE
    first, second = response.tool_calls()
    assert first.id == llmcore_gemini.synthetic_call_id("r1", 0, 0, "f", {"a": 1})
    assert (first.name, first.arguments, first.extra) == ("f", {"a": 1},
                                                          {"thoughtSignature": "S"})
    assert (second.id, second.extra) == ("given", {})


def test_thoughts_text_and_text_signature() -> None:
    obj = _answer([{"text": "hmm ", "thought": True}, {"text": "more", "thought": True},
                   {"text": "Answer", "thoughtSignature": "TSIG"}])
    message = _whole(obj).message
    assert (message.text(), message.reasoning) == ("Answer", "hmm more")
    assert [(b.text, b.signature, b.provider, b.api) for b in message.thinking] == [
        ("", "TSIG", "gemini", "gemini")]


def test_signed_thought_parts_keep_their_own_signatures() -> None:
    obj = _answer([{"text": "a", "thought": True, "thoughtSignature": "S1"},
                   {"text": "b", "thought": True, "thoughtSignature": "S2"}, {"text": "x"}])
    message = _whole(obj).message
    assert [(b.text, b.signature) for b in message.thinking] == [("a", "S1"), ("b", "S2")]


def test_a_conversation_round_trips_to_the_same_payload_parts() -> None:
    """What Gemini sent comes back as the same parts (signatures on their parts)."""
    parts = [{"text": "plan", "thought": True, "thoughtSignature": "S0"},
             {"text": "Sure.", "thoughtSignature": "S1"},
             {"functionCall": {"name": "f", "args": {"x": 1}, "id": "c1"},
              "thoughtSignature": "S2"}]
    message = _whole(_answer(parts)).message
    request = llmcore.ChatCompletionRequest("gemini-3-pro", [llmcore.Message.user("q"), message])
    sent = llmcore_gemini.generate_payload(GEMINI, llmcore.adapt_request(request, GEMINI))
    assert sent["contents"][1] == {"role": "model", "parts": parts}


def test_a_stream_returns_true_only_once_every_candidate_finished() -> None:
    chunks, complete = _stream([_answer([{"text": "Hel"}], None), _answer([{"text": "lo"}])])
    assert complete
    assert "".join(c.text() or "" for c in chunks) == "Hello"
    _, cut = _stream([_answer([{"text": "Hel"}], None)])
    assert not cut


def test_stream_chunks_accumulate_like_the_whole_answer() -> None:
    objs = [_answer([{"text": "think", "thought": True}], None),
            _answer([{"text": "Hi", "thoughtSignature": "T"}], None),
            _answer([{"functionCall": {"name": "f", "args": {}}}], "STOP",
                    usageMetadata={"promptTokenCount": 3, "candidatesTokenCount": 2})]
    chunks, complete = _stream(objs)
    acc = StreamAccumulator("gemini", "gemini")
    for chunk in chunks:
        acc.feed(chunk)
    assert complete
    whole = parse_generate(GEMINI, HttpResponse(200, {}, json.dumps(objs).encode()))
    assert acc.response().message == whole.message
    assert whole.usage == llmcore.Usage(3, 2, 5)


def test_blocked_prompt_is_a_content_filter_error() -> None:
    obj = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
        {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}]}}
    with pytest.raises(llmcore.ContentFilterError) as caught:
        _whole(obj)
    assert caught.value.code == "SAFETY"
    assert caught.value.body["safetyRatings"][0]["probability"] == "HIGH"
    with pytest.raises(llmcore.ContentFilterError):
        _stream([obj])


def test_an_error_object_in_a_stream_is_raised_typed() -> None:
    with pytest.raises(llmcore.OverloadedError) as caught:
        _stream([_answer([{"text": "a"}], None),
                 {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}])
    assert (caught.value.status, caught.value.code) == (503, "UNAVAILABLE")


def _error(status: int, body: Any, headers: dict[str, str] | None = None) -> llmcore.LlmError:
    result = parse_error(GEMINI, HttpResponse(status, headers or {}, json.dumps(body).encode()))
    assert result is not None
    return result


@pytest.mark.parametrize(("status", "rpc", "cls"), [
    (400, "INVALID_ARGUMENT", llmcore.InvalidRequestError),
    (400, "FAILED_PRECONDITION", llmcore.PermissionDeniedError),
    (401, "UNAUTHENTICATED", llmcore.AuthenticationError),
    (403, "PERMISSION_DENIED", llmcore.PermissionDeniedError),
    (404, "NOT_FOUND", llmcore.ModelNotFoundError),
    (429, "RESOURCE_EXHAUSTED", llmcore.RateLimitError),
    (500, "INTERNAL", llmcore.ServerError),
    (503, "UNAVAILABLE", llmcore.OverloadedError),
    (504, "DEADLINE_EXCEEDED", llmcore.RequestTimeoutError),
])
def test_error_statuses(status: int, rpc: str, cls: type[llmcore.LlmError]) -> None:
    err = _error(status, {"error": {"code": status, "message": "m", "status": rpc}})
    assert type(err) is cls
    assert (err.status, err.code, err.message) == (status, rpc, "m")


def test_bad_key_context_overflow_and_retry_delay() -> None:
    bad_key = _error(400, {"error": {"code": 400, "message": "API key not valid.",
                                     "status": "INVALID_ARGUMENT", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}})
    assert type(bad_key) is llmcore.AuthenticationError and bad_key.code == "API_KEY_INVALID"
    overflow = _error(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message":
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."}})
    assert type(overflow) is llmcore.ContextLengthExceededError
    limited = _error(429, {"error": {"code": 429, "message": "quota", "status":
                                     "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}})
    assert limited.retry_after == 37.0
    header = _error(429, {"error": {"code": 429, "message": "q", "status": "RESOURCE_EXHAUSTED"}},
                    {"Retry-After": "5"})
    assert header.retry_after == 5.0
    wrapped = _error(404, [{"error": {"code": 404, "message": "gone", "status": "NOT_FOUND"}}])
    assert type(wrapped) is llmcore.ModelNotFoundError


def test_non_google_error_bodies_fall_back_to_the_core() -> None:
    assert parse_error(GEMINI, HttpResponse(502, {}, b"<html>bad gateway</html>")) is None
    assert parse_error(GEMINI, HttpResponse(400, {}, b'{"detail": "x"}')) is None


def test_models_strip_the_prefix_and_keep_the_fields() -> None:
    body = {"models": [{"name": "models/gemini-2.5-flash", "displayName": "Flash",
                        "inputTokenLimit": 5}], "nextPageToken": "tok"}
    response = HttpResponse(200, {}, json.dumps(body).encode())
    [model] = parse_models(response)
    assert model.id == "gemini-2.5-flash"
    assert model.extra["displayName"] == "Flash" and model.extra["inputTokenLimit"] == 5
    assert llmcore_gemini.next_page_token(response) == "tok"
    request = llmcore_gemini.list_models_request(GEMINI, "tok")
    assert request.params == {"pageSize": "1000", "pageToken": "tok"}


def test_a_model_page_asks_for_the_next_one_with_its_token() -> None:
    """``parse_list_models`` returns a ModelPage whose next request carries ``pageToken``;
    the last page (no token) has none."""
    plugins = llmcore.get_plugins()
    first = {"models": [{"name": "models/a"}], "nextPageToken": "tok"}
    page = plugins.parse_model_page(GEMINI, HttpResponse(200, {}, json.dumps(first).encode()))
    assert [m.id for m in page.models] == ["a"]
    assert page.next_request is not None
    assert page.next_request.method == "GET"
    assert page.next_request.url == f"{GEMINI.base_url}/models"
    assert page.next_request.params == {"pageSize": "1000", "pageToken": "tok"}
    last = {"models": [{"name": "models/b"}]}
    page = plugins.parse_model_page(GEMINI, HttpResponse(200, {}, json.dumps(last).encode()))
    assert [m.id for m in page.models] == ["b"] and page.next_request is None


_HATE = {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}
_HARASS = {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}
_HARASS_LOW = {"category": "HARM_CATEGORY_HARASSMENT", "probability": "LOW"}
_CITATIONS = {"citationSources": [{"startIndex": 0, "endIndex": 4, "uri": "https://x.example"}]}
_GROUNDING = {"webSearchQueries": ["pelicans"], "groundingChunks": [{"web": {"uri": "u"}}]}


def _rated(parts: list[dict[str, Any]], finish: str | None, ratings: list[Any],
           **candidate: Any) -> dict[str, Any]:
    obj = _answer(parts, finish, promptFeedback={"safetyRatings": [_HATE]},
                  usageMetadata={"promptTokenCount": 3, "candidatesTokenCount": 1,
                                 "totalTokenCount": 4,
                                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3}]})
    obj["candidates"][0].update(safetyRatings=ratings, **candidate)
    return obj


def test_provider_data_at_each_level_of_a_whole_answer() -> None:
    """Response fields on the response, candidate fields on the choice, usage details on the
    usage, as Gemini spells them."""
    obj = _rated([{"text": "Hello"}], "STOP", [_HATE, _HARASS], citationMetadata=_CITATIONS,
                 groundingMetadata=_GROUNDING, finishMessage="done", avgLogprobs=-0.5)
    response = _whole(obj)
    assert response.provider_data == {
        "modelVersion": "gemini-x", "responseId": "r1",
        "promptFeedback": {"safetyRatings": [_HATE]}}
    assert response.choices[0].provider_data == {
        "safetyRatings": [_HATE, _HARASS], "citationMetadata": _CITATIONS,
        "groundingMetadata": _GROUNDING, "finishMessage": "done", "avgLogprobs": -0.5}
    assert response.usage is not None
    assert response.usage.provider_data == {
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 3}]}
    assert response.message.provider_data == {}  # nothing here is sent back to Gemini


def test_streamed_provider_data_ends_like_the_whole_answer() -> None:
    """Gemini repeats the ratings in every event: the chunks carry only what is new, so the
    accumulated stream holds each rating once (a changed one appended) and the latest value of
    every other field, the same as the objects read whole."""
    objs = [
        _rated([{"text": "He"}], None, [_HATE, _HARASS]),
        _rated([{"text": "ll"}], None, [_HATE, _HARASS], citationMetadata=_CITATIONS),
        _rated([{"text": "o"}], "STOP", [_HATE, _HARASS_LOW],
               groundingMetadata=_GROUNDING, finishMessage="done"),
    ]
    chunks, finished = _stream(objs)
    assert finished
    carried = [c.choices[0].provider_data for c in chunks if c.choices]
    assert carried == [
        {"safetyRatings": [_HATE, _HARASS]},
        {"citationMetadata": _CITATIONS},
        {"safetyRatings": [_HARASS_LOW], "groundingMetadata": _GROUNDING,
         "finishMessage": "done"},
    ]
    assert [c.provider_data for c in chunks][1:] == [{}, {}]  # the response fields, once
    acc = StreamAccumulator("gemini", "gemini")
    for chunk in chunks:
        acc.feed(chunk)
    streamed = acc.response()
    whole = _whole(objs)
    assert streamed.choices[0].provider_data == whole.choices[0].provider_data == {
        "safetyRatings": [_HATE, _HARASS, _HARASS_LOW], "citationMetadata": _CITATIONS,
        "groundingMetadata": _GROUNDING, "finishMessage": "done"}
    assert streamed.provider_data == whole.provider_data == {
        "modelVersion": "gemini-x", "responseId": "r1",
        "promptFeedback": {"safetyRatings": [_HATE]}}
    assert streamed.usage == whole.usage
    assert streamed.message == whole.message and streamed.text() == "Hello"

