"""Every recorded ``ollama-native`` chat exchange in the corpus, replayed through the real client.

Non-streamed answers are served with ``responses`` (payload building, transport, error mapping
and parsing all run); NDJSON streams are served by the loopback server on 127.0.0.1, in random
fragments and one byte at a time, so line framing and UTF-8 reassembly run too. Each result must
equal the case's ``expected`` block, which the official Ollama SDK computed from the same bytes:
text, reasoning, tool calls, finish reason, model and usage, in the chunk view and the event
view. The recorded request is rebuilt from llmcore types and the payload llmcore sends must carry
the same model, messages and tools.

The two ``/api/generate`` cases of the wire are not chat: llmcore-ollama does not implement
``/api/generate``, and ``test_only_generate_cases_are_left_out`` pins that they are the only ones
left out.
"""

from __future__ import annotations

import json
import zlib
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses
from corpus import cases_by_wire, load_case
from loopback import LoopbackServer, Reply

import llmcore
import llmcore_ollama
from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Message,
    Role,
    StopReason,
    Tool,
    ToolCall,
)
from llmcore import events as ev

WIRE = "ollama-native"
ALL_CASES = cases_by_wire(WIRE)
CASES = [f for f in ALL_CASES if urlsplit(load_case(f)["request"]["url"]).path == "/api/chat"]
GENERATE = sorted(set(ALL_CASES) - set(CASES))

_STOP = {"stop": StopReason.STOP, "length": StopReason.LENGTH}
_USAGE = {"input_tokens": "prompt_tokens", "output_tokens": "completion_tokens"}
# Keys llmcore sends that the recording client (ollama-python) left out, with the values
# they may take: ids of tool calls and results, the tool name of a result.
_OURS = {"id", "tool_call_id", "tool_name"}


def _is_stream(case: dict[str, Any]) -> bool:
    return "ndjson" in case["response"]["headers"].get("content-type", "")


def _seed(file: str) -> int:
    return zlib.crc32(file.encode())


def _client(base_url: str) -> llmcore.Client:
    return llmcore.Client(
        llmcore_ollama.ollama_provider(base_url),
        options=llmcore.ConnectionOptions(max_retries=0),
    )


# --- recorded request -> llmcore request ------------------------------------------------------
def _message(raw: dict[str, Any], index: int) -> Message:
    role = raw["role"]
    if role == "system":
        return Message.system(raw["content"])
    if role == "user":
        assert not raw.get("images"), "no recorded case sends images"
        return Message.user(raw["content"])
    if role == "assistant":
        calls = [
            ToolCall(c.get("id") or f"call_{index}_{i}", c["function"]["name"],
                     c["function"]["arguments"])
            for i, c in enumerate(raw.get("tool_calls") or ())
        ]
        return Message(Role.ASSISTANT, raw.get("content") or "", tool_calls=calls,
                       reasoning=raw.get("thinking") or None)
    if role == "tool":
        return Message.tool(raw.get("tool_call_id") or f"call_{index - 1}_0", raw["content"],
                            name=raw.get("tool_name"))
    raise AssertionError(f"role {role!r}")


def rebuild_request(case: dict[str, Any]) -> ChatCompletionRequest:
    recorded = case["request"]["json"]
    messages = [_message(m, i) for i, m in enumerate(recorded["messages"])]
    tools = [Tool(t["function"]["name"], t["function"].get("description"),
                  t["function"]["parameters"]) for t in recorded.get("tools") or ()]
    return ChatCompletionRequest(recorded["model"], messages, tools=tools or None)


def _without_ours(sent: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """``sent`` without the keys llmcore adds where the recording had none."""
    out = {k: v for k, v in sent.items() if not (k in _OURS and k not in recorded)}
    if "tool_calls" in out:
        out["tool_calls"] = [
            _without_ours(c, r) for c, r in zip(out["tool_calls"], recorded["tool_calls"],
                                                strict=True)
        ]
    return out


def assert_same_payload(case: dict[str, Any], sent: dict[str, Any]) -> None:
    """Model, stream flag, messages and tools equal the recorded request's.

    The recording client sent defaults llmcore leaves out (``format: ""``, ``options: {}``,
    ``keep_alive: null``, ``tools: []``): absent and empty are the same to the server.
    """
    recorded = case["request"]["json"]
    assert sent["model"] == recorded["model"]
    assert sent["stream"] == recorded["stream"]
    messages = [_without_ours(s, r) for s, r in
                zip(sent["messages"], recorded["messages"], strict=True)]
    assert messages == recorded["messages"]
    assert sent.get("tools") == (recorded.get("tools") or None)
    for key in ("format", "options", "keep_alive"):
        assert sent.get(key) == (recorded.get(key) or None), key
    tool_names = [m.get("tool_name") for m in sent["messages"] if m["role"] == "tool"]
    calls = [c["function"]["name"] for m in recorded["messages"] for c in
             m.get("tool_calls") or ()]
    assert tool_names == calls[: len(tool_names)], "tool results name the call they answer"


# --- expected vs actual -----------------------------------------------------------------------
def _calls(calls: Any) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]


def assert_matches(response: ChatCompletionResponse, expected: dict[str, Any]) -> None:
    """``response`` reproduces the SDK's reading of the same bytes."""
    message = response.message
    assert (message.text() or None) == expected["text"]
    assert message.reasoning == expected["reasoning"]
    assert [(c["name"], c["arguments"]) for c in _calls(message.tool_calls)] == [
        (c["name"], c["arguments"]) for c in expected["tool_calls"]
    ]
    assert response.finish_reason == expected["finish_reason"]
    want = StopReason.TOOL_USE if expected["tool_calls"] else _STOP[expected["finish_reason"]]
    assert response.stop_reason is want
    assert response.model == expected["model"]
    assert response.usage is not None
    got = {key: getattr(response.usage, name) for key, name in _USAGE.items()}
    assert got == expected["usage_normalised"]
    assert response.usage.total_tokens == sum(expected["usage_normalised"].values())


# --- the runs ---------------------------------------------------------------------------------
def _serve_stream(server: LoopbackServer, case: dict[str, Any], **knobs: Any) -> None:
    server.reset()
    body = case["response"]["body"].encode("utf-8")
    headers = tuple(case["response"]["headers"].items())
    server.add("POST", "/api/chat",
               Reply(case["response"]["status"], headers, body, framing="chunked", **knobs))


def run_stream(server: LoopbackServer, file: str, **knobs: Any) -> None:
    case = load_case(file)
    request = rebuild_request(case)
    _serve_stream(server, case, **knobs)
    with _client(server.base_url) as client:
        stream = client.chat_completion_stream(request)
        texts = [chunk.text() or "" for chunk in stream]
    assert_matches(stream.response, case["expected"])
    assert "".join(texts) == case["expected"]["text"]
    assert len(server.requests) == 1
    assert_same_payload(case, server.requests[0].json())


def run_non_stream(file: str) -> None:
    case = load_case(file)
    recorded = case["response"]
    request = rebuild_request(case)
    base = "{0.scheme}://{0.netloc}".format(urlsplit(case["request"]["url"]))
    with responses.RequestsMock() as rsps, _client(base) as client:
        rsps.add("POST", case["request"]["url"], body=recorded["body"].encode("utf-8"),
                 status=recorded["status"], content_type=recorded["headers"]["content-type"])
        assert_matches(client.chat_completion(request), case["expected"])
        assert len(rsps.calls) == 1
        body = rsps.calls[0].request.body
        assert_same_payload(case, json.loads(body))


# --- tests ------------------------------------------------------------------------------------
def test_only_generate_cases_are_left_out() -> None:
    """Every ollama-native case is a chat case replayed here, except the /api/generate ones."""
    assert len(ALL_CASES) == 6
    assert len(CASES) == 4
    assert GENERATE == ["ollama/generate_basic.json", "ollama/stream_generate_ndjson.json"]
    for file in GENERATE:
        assert urlsplit(load_case(file)["request"]["url"]).path == "/api/generate"


@pytest.mark.parametrize("file", CASES, ids=CASES)
def test_case_reproduces_expected(file: str, loopback: LoopbackServer) -> None:
    """Streams through the loopback server in random fragments, the rest via responses."""
    if _is_stream(load_case(file)):
        run_stream(loopback, file, random_fragments=True, seed=_seed(file))
    else:
        run_non_stream(file)


STREAMS = [f for f in CASES if _is_stream(load_case(f))]


@pytest.mark.parametrize("file", STREAMS, ids=STREAMS)
def test_stream_one_byte_at_a_time(file: str, loopback: LoopbackServer) -> None:
    """The same streams sent one byte per TCP send (and per HTTP chunk)."""
    run_stream(loopback, file, fragment=1)


@pytest.mark.parametrize("file", STREAMS, ids=STREAMS)
def test_event_view(file: str, loopback: LoopbackServer) -> None:
    """Block events agree with the accumulated answer and with ``expected``."""
    case = load_case(file)
    _serve_stream(loopback, case, random_fragments=True, seed=_seed(file) + 1)
    with _client(loopback.base_url) as client:
        stream = client.chat_completion_stream(rebuild_request(case))
        events = list(stream.events())
    assert isinstance(events[0], ev.StartEvent)
    done = events[-1]
    assert isinstance(done, ev.DoneEvent)
    assert done.response == stream.response
    assert done.reason is StopReason.STOP
    text = "".join(e.delta for e in events if isinstance(e, ev.TextDeltaEvent))
    assert text == case["expected"]["text"]
    assert_matches(done.response, case["expected"])


@pytest.mark.parametrize("file", STREAMS, ids=STREAMS)
def test_native_chunks_are_the_recorded_lines(file: str, loopback: LoopbackServer) -> None:
    """``as_ollama().chat_stream_ollama`` yields every recorded line as its JSON object."""
    case = load_case(file)
    _serve_stream(loopback, case, random_fragments=True, seed=_seed(file) + 2)
    with _client(loopback.base_url) as client:
        chunks = list(client.as_ollama().chat_stream_ollama(rebuild_request(case)))
    lines = [json.loads(line) for line in case["response"]["body"].splitlines() if line.strip()]
    assert chunks == lines
    assert "".join(c["message"]["content"] for c in chunks) == case["expected"]["text"]
