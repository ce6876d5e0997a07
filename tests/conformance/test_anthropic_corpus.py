"""Every recorded ``anthropic-messages`` exchange in the corpus, replayed through the real path.

Non-streamed answers and HTTP errors are served with ``responses`` (payload building, auth,
transport, error mapping and parsing all run); every stream is served by the loopback server on
127.0.0.1 twice: cut into random fragments, and one byte per TCP send (and per HTTP chunk), so
SSE framing and UTF-8 reassembly run too. Each result must equal the case's ``expected`` block,
which the official SDK computed from the same bytes: text, reasoning, tool calls, finish reason,
model, usage (converted to llmcore's rule: the prompt counts cache reads and writes) and errors.
The event view of every stream is checked against the same block.

Each recorded request is rebuilt from llmcore types (the options llmcore does not model go
through ``extra``; cache marks become ``extra["cache_breakpoints"]``) and the payload llmcore
sends must equal the recorded one, up to representation (a string content is one text block,
``is_error: false`` is no flag, consecutive turns of one role are one turn).
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
import responses
from corpus import cases_by_wire, corpus_dir, load_case
from loopback import LoopbackServer, Reply

import llmcore
import llmcore_anthropic
from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Content,
    ImagePart,
    Message,
    Role,
    StopReason,
    TextPart,
    ThinkingBlock,
    Tool,
    ToolCall,
    ToolChoice,
)
from llmcore import events as ev

WIRE = "anthropic-messages"
CASES = cases_by_wire(WIRE)
STREAM_CASES = [f for f in CASES if "stream_sse" in load_case(f)["tags"]]
OTHER_CASES = [f for f in CASES if f not in STREAM_CASES]

_STOP = {
    "end_turn": StopReason.STOP,
    "stop_sequence": StopReason.STOP,
    "max_tokens": StopReason.LENGTH,
    "tool_use": StopReason.TOOL_USE,
}
_ERRORS = {400: llmcore.InvalidRequestError, 404: llmcore.ModelNotFoundError}
_MAPPED = {"model", "max_tokens", "messages", "system", "tools", "tool_choice", "thinking",
           "temperature", "top_p", "stop_sequences", "stream"}


def _seed(file: str) -> int:
    return zlib.crc32(file.encode())


def _client(base_url: str) -> llmcore.Client:
    """The real ``anthropic`` provider (its thinking blocks are native) at ``base_url``."""
    return llmcore.Client(
        llmcore_anthropic.ANTHROPIC, api_key="test-key", base_url=base_url,
        options=llmcore.ConnectionOptions(max_retries=0),
    )


# --- recorded request -> llmcore request ------------------------------------------------------
class _Unclean(Exception):
    """The recorded messages use something llmcore does not model one-to-one."""


@attrs.frozen
class Rebuilt:
    request: ChatCompletionRequest
    messages_checked: bool


def _text(block: dict[str, Any]) -> str:
    if set(block) - {"type", "text", "cache_control"}:
        raise _Unclean(f"text block keys {sorted(block)}")
    return str(block["text"])


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _user(content: Any) -> list[Message]:
    out: list[Message] = []
    parts: list[TextPart | ImagePart] = []
    for block in _blocks(content):
        kind = block["type"]
        if kind == "text":
            parts.append(TextPart(_text(block)))
        elif kind == "image":
            source = block["source"]
            if source["type"] == "url":
                parts.append(ImagePart(url=source["url"]))
            else:
                parts.append(ImagePart(data=source["data"], mime_type=source["media_type"]))
        elif kind == "tool_result":
            if set(block) - {"type", "tool_use_id", "content", "is_error"}:
                raise _Unclean("tool_result keys")
            if not isinstance(block["content"], str):
                raise _Unclean("tool_result with blocks")
            out.append(Message.tool(block["tool_use_id"], block["content"],
                                    is_error=bool(block.get("is_error"))))
        else:
            raise _Unclean(f"user block {kind!r}")
    if parts:
        out.append(Message(Role.USER, Content.from_parts(parts)))
    return out


def _assistant(content: Any) -> Message:
    text: list[str] = []
    calls: list[ToolCall] = []
    thinking: list[ThinkingBlock] = []
    for block in _blocks(content):
        kind = block["type"]
        if kind == "text":
            text.append(_text(block))
        elif kind == "tool_use":
            calls.append(ToolCall(block["id"], block["name"], block["input"]))
        elif kind == "thinking":
            thinking.append(ThinkingBlock(block["thinking"], block["signature"],
                                          provider="anthropic", api=WIRE))
        else:
            raise _Unclean(f"assistant block {kind!r}")
    return Message(Role.ASSISTANT, "".join(text), tool_calls=calls, thinking=thinking)


def _cache_marks(recorded: dict[str, Any], messages: list[Message]) -> dict[str, Any]:
    """``cache_breakpoints`` (and ``cache_ttl``) for the recorded cache marks."""
    points: list[Any] = []
    controls: list[dict[str, Any]] = []
    system = recorded.get("system")
    if isinstance(system, list):
        marked = [i for i, b in enumerate(system) if "cache_control" in b]
        if marked and marked != [len(system) - 1]:
            raise _Unclean("a cache mark before the last system block")
        if marked:
            points.append("system")
            controls.append(system[-1]["cache_control"])
    offset = 1 if system else 0
    for i, raw in enumerate(recorded["messages"]):
        blocks = _blocks(raw["content"])
        marked = [j for j, b in enumerate(blocks) if "cache_control" in b]
        if not marked:
            continue
        if marked != [len(blocks) - 1] or raw["role"] != "user" or len(_user(blocks)) != 1:
            raise _Unclean("a cache mark llmcore cannot place")
        points.append(offset + i)
        controls.append(blocks[-1]["cache_control"])
    if not points:
        return {}
    ttl = {c.get("ttl") for c in controls}
    if len(ttl) != 1 or any(set(c) - {"type", "ttl"} for c in controls):
        raise _Unclean("different cache marks")
    (one,) = ttl
    return {"cache_breakpoints": points, **({"cache_ttl": one} if one else {})}


def _messages(recorded: dict[str, Any]) -> tuple[list[Message], dict[str, Any]]:
    messages: list[Message] = []
    system = recorded.get("system")
    if system is not None:
        messages.append(Message.system("".join(_text(b) for b in _blocks(system))))
    for raw in recorded["messages"]:
        if raw["role"] == "user":
            messages.extend(_user(raw["content"]))
        else:
            messages.append(_assistant(raw["content"]))
    return messages, _cache_marks(recorded, messages)


def _tools(recorded: dict[str, Any], extra: dict[str, Any]) -> list[Tool] | None:
    raw = recorded.get("tools")
    if not raw:
        return None
    if any(set(t) - {"name", "description", "input_schema"} for t in raw):
        extra["tools"] = raw  # server tools: sent as they are
        return None
    return [Tool(t["name"], t.get("description") or None, t["input_schema"]) for t in raw]


def _tool_choice(recorded: dict[str, Any], extra: dict[str, Any]) -> ToolChoice | None:
    raw = recorded.get("tool_choice")
    if raw is None:
        return None
    modes = {"auto": "auto", "any": "required", "none": "none"}
    if set(raw) == {"type"} and raw["type"] in modes:
        return ToolChoice(modes[raw["type"]])
    if set(raw) == {"type", "name"} and raw["type"] == "tool":
        return ToolChoice.tool(raw["name"])
    extra["tool_choice"] = raw
    return None


def _budget(recorded: dict[str, Any], extra: dict[str, Any]) -> int | None:
    raw = recorded.get("thinking")
    if raw is None:
        return None
    if raw.get("type") == "enabled" and set(raw) == {"type", "budget_tokens"}:
        return int(raw["budget_tokens"])
    extra["thinking"] = raw  # adaptive thinking, display options: sent as they are
    return None


def rebuild_request(case: dict[str, Any]) -> Rebuilt:
    """The recorded request in llmcore types (unmodelled options in ``extra``)."""
    recorded = case["request"]["json"]
    extra = {k: v for k, v in recorded.items() if k not in _MAPPED}
    try:
        messages, marks = _messages(recorded)
        checked = True
    except _Unclean:
        messages, marks, checked = [Message.user("hi")], {}, False
    extra.update(marks)
    request = ChatCompletionRequest(
        recorded["model"], messages,
        max_tokens=recorded["max_tokens"],
        temperature=recorded.get("temperature"),
        top_p=recorded.get("top_p"),
        stop=recorded.get("stop_sequences"),
        tools=_tools(recorded, extra),
        tool_choice=_tool_choice(recorded, extra),
        reasoning_budget=_budget(recorded, extra),
        extra=extra,
    )
    return Rebuilt(request, checked)


def _normal_block(block: dict[str, Any]) -> dict[str, Any]:
    out = dict(block)
    if out.get("type") == "tool_result":
        if out.get("is_error") is False:
            del out["is_error"]
        if isinstance(out.get("content"), list) and len(out["content"]) == 1 \
                and set(out["content"][0]) == {"type", "text"}:
            out["content"] = out["content"][0]["text"]
    return out


def _normal_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        blocks = [_normal_block(b) for b in _blocks(message["content"])]
        if out and out[-1]["role"] == message["role"]:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": message["role"], "content": blocks})
    return out


def _normal(body: dict[str, Any], messages_checked: bool) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if (k, v) != ("stream", False)}
    if messages_checked:
        out["messages"] = _normal_messages(out["messages"])
        if "system" in out:
            text = "".join(b["text"] for b in _blocks(out["system"]))
            marks = [b["cache_control"] for b in _blocks(out["system"]) if "cache_control" in b]
            out["system"] = {"text": text, "cache": marks}
    else:
        out.pop("messages")
        out.pop("system", None)
    if out.get("tools"):
        out["tools"] = [{k: v for k, v in t.items() if (k, v) != ("description", "")}
                        for t in out["tools"]]
    return out


def assert_same_payload(case: dict[str, Any], rebuilt: Rebuilt, sent: dict[str, Any]) -> None:
    """The body llmcore sent equals the recorded one (up to representation)."""
    recorded = case["request"]["json"]
    assert _normal(sent, rebuilt.messages_checked) == _normal(recorded, rebuilt.messages_checked)


# --- expected vs. actual ----------------------------------------------------------------------
def _calls(calls: Any) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]


def expected_usage(normalised: dict[str, int]) -> dict[str, int]:
    """The corpus's direct field mapping converted to llmcore's usage rule."""
    cached = normalised.get("cached_input_tokens", 0)
    written = normalised.get("cache_creation_input_tokens", 0)
    prompt = normalised["input_tokens"] + cached + written
    return {
        "prompt_tokens": prompt,
        "completion_tokens": normalised["output_tokens"],
        "total_tokens": prompt + normalised["output_tokens"],
        "cached_tokens": cached,
        "cache_write_tokens": written,
        "reasoning_tokens": 0,
    }


def assert_matches(response: ChatCompletionResponse, case: dict[str, Any]) -> None:
    """``response`` reproduces the SDK's reading of the same bytes."""
    expected = case["expected"]
    message = response.message
    assert (message.text() or None) == expected["text"]
    assert message.reasoning == expected["reasoning"]
    assert _calls(message.tool_calls) == expected["tool_calls"]
    assert response.finish_reason == expected["finish_reason"]
    assert response.stop_reason is _STOP[expected["finish_reason"]]
    assert response.model == expected["model"]
    assert response.provider == "anthropic"
    assert response.usage is not None
    usage = attrs.asdict(response.usage)
    usage.pop("provider_data", None)  # provider-specific extras are not part of the unified counts
    assert usage == expected_usage(expected["usage_normalised"])
    # thinking blocks kept for replay: signed ones carry their signature, redacted ones data
    redacted = [b for b in message.thinking if b.redacted]
    assert len(redacted) == expected.get("redacted_thinking_blocks", 0)
    signed = [b for b in message.thinking if b.signature]
    assert "\n\n".join(b.text for b in signed) == (expected["reasoning"] or "")
    assert all(b.provider == "anthropic" and b.api == WIRE for b in message.thinking)
    body = case["response"]["body"]
    assert all(b.signature in body for b in signed if b.signature)


def assert_http_error(err: llmcore.LlmError, expected: dict[str, Any]) -> None:
    assert type(err) is _ERRORS[expected["status"]], repr(err)
    assert err.status == expected["status"]
    assert err.code == expected["type"]
    assert err.message == expected["message"]
    assert err.request_id is not None and err.request_id.startswith("req_")
    assert not err.is_retryable()


# --- the runs ---------------------------------------------------------------------------------
def _path(case: dict[str, Any]) -> str:
    return urlsplit(case["request"]["url"]).path


def run_stream(server: LoopbackServer, file: str, **knobs: Any) -> list[ev.StreamEvent]:
    """Serve a recorded stream; check chunks, the accumulated answer and the payload."""
    case = load_case(file)
    server.reset()
    body = case["response"]["body"].encode("utf-8")
    for _ in range(2):
        server.add("POST", _path(case), Reply.sse([body], headers=case["response"]["headers"],
                                                   **knobs))
    rebuilt = rebuild_request(case)
    with _client(server.base_url) as client:
        stream = client.chat_completion_stream(rebuilt.request)
        texts = [chunk.text() or "" for chunk in stream]
        assert stream.error is None
        assert_matches(stream.response, case)
        assert "".join(texts) == (case["expected"]["text"] or "")
        event_stream = client.chat_completion_stream(rebuilt.request)
        events = list(event_stream.events())
        assert event_stream.response == stream.response
    assert len(server.requests) == 2
    sent = server.requests[0].json()
    assert sent["stream"] is True
    assert server.requests[0].headers["anthropic-version"] == "2023-06-01"
    assert server.requests[0].headers["x-api-key"] == "test-key"
    assert_same_payload(case, rebuilt, sent)
    return events


def _request_body(call: Any) -> dict[str, Any]:
    body = call.request.body
    return json.loads(body.decode() if isinstance(body, bytes) else body)


def run_non_stream(file: str) -> None:
    case = load_case(file)
    expected = case["expected"]
    recorded = case["response"]
    headers = {k: v for k, v in recorded["headers"].items() if k != "content-type"}
    if recorded["status"] >= 400 and "request-id" not in headers:
        headers["request-id"] = json.loads(recorded["body"]).get("request_id", "req_x")
    rebuilt = rebuild_request(case)
    with responses.RequestsMock() as rsps, _client("https://api.anthropic.com") as client:
        rsps.add("POST", "https://api.anthropic.com/v1/messages",
                 body=recorded["body"].encode("utf-8"), status=recorded["status"],
                 headers=headers, content_type=recorded["headers"].get("content-type"))
        if recorded["status"] >= 400:
            with pytest.raises(llmcore.LlmError) as caught:
                client.chat_completion(rebuilt.request)
            assert_http_error(caught.value, expected["error"])
        else:
            assert_matches(client.chat_completion(rebuilt.request), case)
        assert len(rsps.calls) == 1
        call = rsps.calls[0]
        assert call.request.headers["anthropic-version"] == "2023-06-01"
        assert_same_payload(case, rebuilt, _request_body(call))


def check_events(events: list[ev.StreamEvent], case: dict[str, Any]) -> None:
    """Block events agree with the accumulated answer and with ``expected``."""
    expected = case["expected"]
    assert isinstance(events[0], ev.StartEvent)
    done = events[-1]
    assert isinstance(done, ev.DoneEvent), done
    assert_matches(done.response, case)
    assert done.reason is _STOP[expected["finish_reason"]]
    text = "".join(e.delta for e in events if isinstance(e, ev.TextDeltaEvent))
    assert (text or None) == expected["text"]
    thinking = [e for e in events if isinstance(e, ev.ThinkingEndEvent)]
    assert "\n\n".join(e.content for e in thinking if e.content) == (expected["reasoning"] or "")
    ends = [e.tool_call for e in events if isinstance(e, ev.ToolCallEndEvent)]
    assert _calls(ends) == expected["tool_calls"]
    starts = [e for e in events if isinstance(e, ev.ToolCallStartEvent)]
    want = [(c["id"], c["name"]) for c in expected["tool_calls"]]
    assert [(s.id, s.name) for s in starts] == want


# --- tests ------------------------------------------------------------------------------------
def test_corpus_lists_every_anthropic_case() -> None:
    """The index holds the 29 cases the README counts, so none is silently left out."""
    readme = (corpus_dir() / "README.md").read_text(encoding="utf-8")
    documented = re.search(r"\| anthropic \| (\d+) \|", readme)
    assert documented is not None
    assert len(CASES) == int(documented.group(1)) == 29
    assert len(STREAM_CASES) == 16


@pytest.mark.parametrize("file", OTHER_CASES, ids=OTHER_CASES)
def test_non_streamed_case(file: str) -> None:
    """Whole JSON answers and HTTP errors, through ``responses``."""
    run_non_stream(file)


@pytest.mark.parametrize("file", STREAM_CASES, ids=STREAM_CASES)
def test_stream_in_random_fragments(file: str, loopback: LoopbackServer) -> None:
    """Each stream in random fragments: chunks, answer, events and payload."""
    events = run_stream(loopback, file, random_fragments=True, seed=_seed(file))
    check_events(events, load_case(file))


@pytest.mark.parametrize("file", STREAM_CASES, ids=STREAM_CASES)
def test_stream_one_byte_at_a_time(file: str, loopback: LoopbackServer) -> None:
    """Each stream one byte per TCP send and per HTTP chunk."""
    events = run_stream(loopback, file, fragment=1)
    check_events(events, load_case(file))
