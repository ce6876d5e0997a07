"""GLM's own answer fields (web search results, content filter levels, request id) kept in
``provider_data``, the same from a stream as from a whole answer, through ``Client("zhipu")``
against the loopback server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from loopback import LoopbackServer, Reply

import llmcore
from llmcore import ChatCompletionRequest, Message

PATH = "/api/paas/v4/chat/completions"
RESULTS = [
    {
        "title": "Beijing weather",
        "link": "https://weather.example/beijing",
        "content": "Sunny, 25 C",
        "media": "Weather Example",
        "icon": "https://weather.example/icon.png",
        "refer": "ref_1",
        "publish_date": "2026-07-01",
    },
    {"title": "Beijing news", "link": "https://news.example/bj", "refer": "ref_2"},
]
FILTER = [{"role": "assistant", "level": 1}]


def _client(server: LoopbackServer) -> llmcore.Client:
    return llmcore.Client(
        "zhipu",
        api_key="k",
        base_url=server.base_url + "/api/paas/v4",
        options=llmcore.ConnectionOptions(max_retries=0),
    )


def _request() -> ChatCompletionRequest:
    return ChatCompletionRequest("glm-4.7", [Message.user("Weather in Beijing?")])


def _chunk(content: str | None, finish: str | None = None, **top: Any) -> str:
    delta = {"role": "assistant"} | ({"content": content} if content is not None else {})
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return json.dumps({"id": "c1", "model": "glm-4.7", "choices": [choice], **top})


def _whole() -> dict[str, Any]:
    return {
        "id": "c1",
        "request_id": "req-1",
        "model": "glm-4.7",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Sunny, 25 C [ref_1]"},
            }
        ],
        "web_search": RESULTS,
        "content_filter": FILTER,
    }


# How a stream may carry the results: once, whole in every chunk, growing, or item by item.
SHAPES: dict[str, list[dict[str, Any]]] = {
    "once": [{"web_search": RESULTS}, {}, {}],
    "whole in every chunk": [{"web_search": RESULTS}] * 3,
    "growing": [{"web_search": RESULTS[:1]}, {"web_search": RESULTS}, {"web_search": RESULTS}],
    "item by item": [{"web_search": RESULTS[:1]}, {"web_search": RESULTS[1:]}, {}],
}


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_streamed_web_search_results_are_kept_once_as_in_a_whole_answer(
    shape: str, server: LoopbackServer
) -> None:
    tops = SHAPES[shape]
    frames = [
        _chunk("Sunny, ", request_id="req-1", **tops[0]),
        _chunk("25 C [ref_1]", **tops[1]),
        _chunk(None, "stop", content_filter=FILTER, **tops[2]),
        "[DONE]",
    ]
    server.add("POST", PATH, Reply.sse(frames, random_fragments=True, seed=11))
    server.add("POST", PATH, Reply.json(_whole()))
    with _client(server) as client:
        stream = client.chat_completion_stream(_request())
        assert stream.text() == "Sunny, 25 C [ref_1]"
        whole = client.chat_completion(_request())
    want = {"request_id": "req-1", "web_search": RESULTS, "content_filter": FILTER}
    assert whole.provider_data == want
    assert stream.response.provider_data == want


def test_a_content_filter_level_repeated_in_each_chunk_is_kept_once(
    server: LoopbackServer,
) -> None:
    frames = [
        _chunk("a", content_filter=FILTER),
        _chunk("b", content_filter=FILTER),
        _chunk(None, "sensitive", content_filter=FILTER),
        "[DONE]",
    ]
    server.add("POST", PATH, Reply.sse(frames))
    with _client(server) as client:
        stream = client.chat_completion_stream(_request())
        chunks = list(stream)
    assert [c.provider_data.get("content_filter") for c in chunks] == [FILTER, None, None]
    assert stream.response.provider_data == {"content_filter": FILTER}
    assert stream.response.stop_reason is llmcore.StopReason.CONTENT_FILTER
