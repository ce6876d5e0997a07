"""Every recorded Zhipu/Z.ai exchange in the corpus, replayed through ``Client("zhipu")``.

The cases are the corpus's ``openai-chat``-wire cases recorded against Zhipu (GLM speaks an
OpenAI Chat dialect). Each goes through the real send path of the installed ``zhipu`` provider
(payload hooks, auth, transport, parsing) against the loopback server on 127.0.0.1: answers
byte for byte, streams in random fragments and one byte at a time. The result must equal the
case's ``expected`` block (computed by the official SDK from the same bytes): text,
reasoning, tool calls, finish reason (raw and unified), model and usage. The payload llmcore
sends must carry the recorded messages, model and ``thinking`` object.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Any
from urllib.parse import urlsplit

import pytest
from corpus import cases_by_wire, load_case
from loopback import LoopbackServer, Reply

import llmcore
from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Content,
    ImagePart,
    Message,
    ReasoningEffort,
    StopReason,
    TextPart,
)
from llmcore import events as ev

CASES = [f for f in cases_by_wire("openai-chat") if load_case(f)["provider"] == "zhipu"]
STREAMS = [f for f in CASES if "stream_sse" in load_case(f)["tags"]]

_STOP = {
    "stop": StopReason.STOP,
    "length": StopReason.LENGTH,
    "tool_calls": StopReason.TOOL_USE,
    "sensitive": StopReason.CONTENT_FILTER,
    "network_error": StopReason.ERROR,
    "model_context_window_exceeded": StopReason.LENGTH,
}
_USAGE = {
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "cached_input_tokens": "cached_tokens",
    "reasoning_tokens": "reasoning_tokens",
}
_PATH = "/api/paas/v4"


def _seed(file: str) -> int:
    return zlib.crc32(file.encode())


def _content(raw: Any) -> Content | str:
    if isinstance(raw, str):
        return raw
    parts: list[TextPart | ImagePart] = []
    for part in raw:
        if part["type"] == "text":
            parts.append(TextPart(part["text"]))
        else:
            assert part["type"] == "image_url", part
            parts.append(ImagePart(url=part["image_url"]["url"]))
    return Content.from_parts(parts)


def rebuild(case: dict[str, Any]) -> ChatCompletionRequest:
    """The recorded request in llmcore terms: messages, and ``thinking`` as reasoning settings.

    ``thinking.type == "enabled"`` is asked for with a reasoning effort (the plugin maps it);
    the other recorded ``thinking`` keys (``clear_thinking``) pass through ``extra``.
    """
    recorded = case["request"]["json"]
    messages = []
    for m in recorded["messages"]:
        assert m["role"] == "user" and set(m) == {"role", "content"}, m
        messages.append(Message.user(_content(m["content"])))
    thinking = dict(recorded.get("thinking") or {})
    kind = thinking.pop("type", None)
    effort = {None: None, "enabled": ReasoningEffort.HIGH, "disabled": ReasoningEffort.NONE}[kind]
    return ChatCompletionRequest(
        recorded["model"],
        messages,
        reasoning_effort=effort,
        extra={"thinking": thinking} if thinking else {},
    )


def assert_payload(case: dict[str, Any], sent: dict[str, Any]) -> None:
    """What llmcore sent equals the recorded request (``reasoning_effort`` is never sent)."""
    recorded = case["request"]["json"]
    assert sent["model"] == recorded["model"]
    assert sent["messages"] == recorded["messages"]
    assert sent.get("thinking") == recorded.get("thinking")
    assert sent.get("stream", False) == recorded["stream"]
    assert sent.get("stream_options") == recorded.get("stream_options")
    assert "reasoning_effort" not in sent


def assert_matches(response: ChatCompletionResponse, expected: dict[str, Any]) -> None:
    """``response`` reproduces the SDK's reading of the same bytes."""
    message = response.message
    assert (message.text() or None) == expected["text"]
    assert message.reasoning == expected["reasoning"]
    calls = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls]
    assert calls == expected["tool_calls"]
    assert response.finish_reason == expected["finish_reason"]
    assert response.stop_reason is _STOP[expected["finish_reason"]]
    assert response.model == expected["model"]
    assert response.provider == "zhipu"
    assert response.usage is not None
    normalised = expected["usage_normalised"]
    got = {k: getattr(response.usage, name) for k, name in _USAGE.items() if k in normalised}
    assert got == normalised
    assert response.usage.total_tokens == expected["usage"]["total_tokens"]


def _client(server: LoopbackServer) -> llmcore.Client:
    return llmcore.Client(
        "zhipu",
        api_key="test-key",
        base_url=server.base_url + _PATH,
        options=llmcore.ConnectionOptions(max_retries=0),
    )


def _serve(server: LoopbackServer, case: dict[str, Any], **knobs: Any) -> None:
    server.reset()
    path = urlsplit(case["request"]["url"]).path
    assert path == _PATH + "/chat/completions"
    recorded = case["response"]
    body = recorded["body"].encode("utf-8")
    headers = dict(recorded["headers"])
    if "stream_sse" in case["tags"]:
        reply = Reply.sse([body], status=recorded["status"], headers=headers, **knobs)
    else:
        ctype = headers.pop("content-type")
        reply = Reply.raw(recorded["status"], body, headers=headers, content_type=ctype)
        reply = dataclasses.replace(reply, **knobs)  # fragment / random_fragments / seed
    server.add("POST", path, reply)


def run_case(server: LoopbackServer, file: str, **knobs: Any) -> None:
    case = load_case(file)
    expected = case["expected"]
    _serve(server, case, **knobs)
    with _client(server) as client:
        request = rebuild(case)
        if "stream_sse" in case["tags"]:
            stream = client.chat_completion_stream(request)
            texts = [chunk.text() or "" for chunk in stream]
            assert "".join(texts) == (expected["text"] or "")
            assert_matches(stream.response, expected)
        else:
            assert_matches(client.chat_completion(request), expected)
    assert len(server.requests) == 1
    sent = server.requests[0]
    assert sent.headers["authorization"] == "Bearer test-key"
    assert_payload(case, sent.json())


def test_the_corpus_holds_the_six_zhipu_cases() -> None:
    """Issue 8 counts six Zhipu recordings; none may be dropped silently."""
    assert len(CASES) == 6, CASES
    assert STREAMS == ["zhipu/stream_thinking.json"]


@pytest.mark.parametrize("file", CASES, ids=CASES)
def test_case_reproduces_expected(file: str, loopback: LoopbackServer) -> None:
    """Each case through Client("zhipu"); bodies and streams in random fragments."""
    run_case(loopback, file, random_fragments=True, seed=_seed(file))


@pytest.mark.parametrize("file", CASES, ids=CASES)
def test_case_one_byte_at_a_time(file: str, loopback: LoopbackServer) -> None:
    """The same bytes sent one byte per TCP send (and per HTTP chunk for streams)."""
    run_case(loopback, file, fragment=1)


@pytest.mark.parametrize("file", STREAMS, ids=STREAMS)
def test_event_view(file: str, loopback: LoopbackServer) -> None:
    """The event view of a stream agrees with the accumulated answer and with ``expected``."""
    case = load_case(file)
    _serve(loopback, case, random_fragments=True, seed=_seed(file) + 1)
    with _client(loopback) as client:
        stream = client.chat_completion_stream(rebuild(case))
        events = list(stream.events())
    assert isinstance(events[0], ev.StartEvent)
    done = events[-1]
    assert isinstance(done, ev.DoneEvent)
    assert done.response == stream.response
    assert done.reason is StopReason.STOP
    thinking = "".join(e.delta for e in events if isinstance(e, ev.ThinkingDeltaEvent))
    assert thinking == case["expected"]["reasoning"]
    text = "".join(e.delta for e in events if isinstance(e, ev.TextDeltaEvent))
    assert text == case["expected"]["text"]
