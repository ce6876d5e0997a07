"""Every recorded ``anthropic-messages`` exchange in the corpus, replayed through the kit.

:mod:`llmcore.conformance` sends each case through the real client path (payload building,
``on_payload`` hooks, ``x-api-key`` auth, transport, SSE framing, the plugin's parsing,
accumulation and error mapping) against an in-memory endpoint serving the recorded bytes:
streams in seeded random fragments and one byte at a time, each read as chunks and as events;
whole answers once; HTTP errors from ``chat_completion`` and from ``chat_completion_stream``.
Each result must equal the case's ``expected`` block, which the official SDK computed from the
same bytes: text, reasoning, tool calls, finish and stop reason, model, usage (converted to
llmcore's rule: the prompt counts cache reads and writes) and errors.

What stays here is specific to the Messages API. Each recorded request is rebuilt from llmcore
types (the options llmcore does not model go through ``extra``; cache marks become
``extra["cache_breakpoints"]``) and the payload that reaches the endpoint must equal the
recorded one, up to representation (a string content is one text block, ``is_error: false`` is
no flag, consecutive turns of one role are one turn), with ``anthropic-version`` and the key in
``x-api-key``. Every answer must also keep what the unified fields do not hold: thinking blocks
with their signatures or redacted data, the usage fields besides the counts (as the SDK read
them), the stop sequence, and the server-side tool blocks and citations of a web search (whole
content list in the message's provider data). The kit's contract checks run on a protocol
sample written in this wire format, and every stream is also replayed over a real socket (the
loopback server on 127.0.0.1), one byte per TCP send, in both views.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
from corpus import CORPUS, cases_by_wire, corpus_dir, load_case
from loopback import LoopbackServer, Reply

import llmcore
import llmcore_anthropic
from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Content,
    HttpRequest,
    ImagePart,
    Message,
    Role,
    TextPart,
    ThinkingBlock,
    Tool,
    ToolCall,
    ToolChoice,
)
from llmcore import conformance as kit
from llmcore import events as ev
from llmcore_anthropic.parse import STOP_REASONS

WIRE = "anthropic-messages"
CASES = cases_by_wire(WIRE)
KIT_CASES = kit.load_cases(CORPUS, wire=WIRE)
STREAM_CASES = [c.id for c in KIT_CASES if c.is_stream]

_MAPPED = {"model", "max_tokens", "messages", "system", "tools", "tool_choice", "thinking",
           "temperature", "top_p", "stop_sequences", "stream"}
_COUNTS = ("input_tokens", "output_tokens", "cache_read_input_tokens",
           "cache_creation_input_tokens")
_MODELLED_BLOCKS = ("text", "thinking", "redacted_thinking", "tool_use")


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


def llmcore_usage(normalised: dict[str, int]) -> dict[str, int]:
    """The corpus's direct field mapping, converted to llmcore's usage rule (the prompt
    counts cache reads and writes), in the kit's ``usage_normalised`` keys."""
    cached = normalised.get("cached_input_tokens", 0)
    written = normalised.get("cache_creation_input_tokens", 0)
    return {**normalised, "input_tokens": normalised["input_tokens"] + cached + written}


def kit_case(case: kit.RecordedCase) -> kit.RecordedCase:
    """The case with its expected usage under llmcore's rule (what the kit compares)."""
    normalised = case.expected.get("usage_normalised")
    if normalised is None:
        return case
    return case.with_expected(usage_normalised=llmcore_usage(dict(normalised)))


def _blocks_of(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The content blocks of the recorded answer (a stream's assembled from its events)."""
    body = case["response"]["body"]
    if "stream_sse" not in case["tags"]:
        return list(json.loads(body)["content"])
    blocks: dict[int, dict[str, Any]] = {}
    for line in body.splitlines():
        if not line.startswith("data:"):
            continue
        obj = json.loads(line[5:])
        if obj["type"] == "content_block_start":
            blocks[obj["index"]] = {**obj["content_block"], "_json": ""}
        elif obj["type"] == "content_block_delta":
            block, delta = blocks[obj["index"]], obj["delta"]
            if delta["type"] == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
            elif delta["type"] == "citations_delta":
                block["citations"] = [*(block.get("citations") or []), delta["citation"]]
            elif delta["type"] == "input_json_delta":
                block["_json"] += delta["partial_json"]
    out = []
    for _, block in sorted(blocks.items()):
        raw = block.pop("_json")
        if raw:
            block["input"] = json.loads(raw)
        out.append(block)
    return out


def check_response(case: kit.RecordedCase, response: ChatCompletionResponse) -> None:
    """What the Messages API has beyond the unified fields, kept on the answer (``case`` is
    a :func:`kit_case`: its usage already under llmcore's rule)."""
    data = dict(case.data)
    expected = data["expected"]
    message = response.message
    assert response.provider == "anthropic"
    assert response.usage is not None
    usage = attrs.asdict(response.usage)
    extras = usage.pop("provider_data")
    want = expected["usage_normalised"]
    assert usage == {
        "prompt_tokens": want["input_tokens"],
        "completion_tokens": want["output_tokens"],
        "total_tokens": want["input_tokens"] + want["output_tokens"],
        "cached_tokens": want.get("cached_input_tokens", 0),
        "cache_write_tokens": want.get("cache_creation_input_tokens", 0),
        "reasoning_tokens": 0,
    }
    # the usage's other fields as the SDK read them (service tier, cache TTLs, server tools)
    assert extras == {k: v for k, v in expected["usage"].items()
                      if k not in _COUNTS and v is not None}
    # thinking blocks kept for replay: signed ones carry their signature, redacted ones data
    redacted = [b for b in message.thinking if b.redacted]
    assert len(redacted) == expected.get("redacted_thinking_blocks", 0)
    signed = [b for b in message.thinking if b.signature]
    assert "\n\n".join(b.text for b in signed) == (expected["reasoning"] or "")
    assert all(b.provider == "anthropic" and b.api == WIRE for b in message.thinking)
    assert all(b.signature in data["response"]["body"] for b in signed if b.signature)
    if "stop_sequence" in expected:
        assert response.choices[0].provider_data == {"stop_sequence": expected["stop_sequence"]}
    check_content_data(data, message)


def check_content_data(case: dict[str, Any], message: Message) -> None:
    """Server-side tool blocks and citations: the whole content list, as the API sent it."""
    expected = case["expected"]
    recorded = _blocks_of(case)
    unmodelled = [b for b in recorded if b["type"] not in _MODELLED_BLOCKS or b.get("citations")]
    if not unmodelled:
        assert "content" not in message.provider_data
        return
    content = message.provider_data["content"]
    assert [b["type"] for b in content] == [b["type"] for b in recorded]
    texts = [b for b in content if b["type"] == "text"]
    assert "".join(b["text"] for b in texts) == expected["text"]
    assert [b for b in texts if b.get("citations")] == [
        b for b in recorded if b["type"] == "text" and b.get("citations")]
    if "text_blocks" in expected:
        assert len(texts) == expected["text_blocks"]
    server = [{"id": b["id"], "name": b["name"], "arguments": b["input"], "type": b["type"]}
              for b in content if b["type"] == "server_tool_use"]
    assert server == expected.get("server_tool_calls", [])
    others = {b["type"] for b in content} - {"text", "server_tool_use", *_MODELLED_BLOCKS}
    assert others == set(expected.get("other_content_blocks", []))
    for got, want in zip(content, recorded, strict=True):
        if got["type"] not in ("text", "thinking"):
            assert got == want, got["type"]


def check_error(case: kit.RecordedCase, err: llmcore.LlmError) -> None:
    """The Messages API's error type is the code; the body's request id is kept; no retry."""
    expected = case.expected["error"]
    assert err.code == expected["type"]
    assert err.request_id is not None and err.request_id.startswith("req_")
    assert not err.is_retryable()


# --- the kit's hooks for this protocol ----------------------------------------------------------
def request_for(case: kit.RecordedCase) -> ChatCompletionRequest:
    return rebuild_request(dict(case.data)).request


def check_request(case: kit.RecordedCase, sent: HttpRequest) -> None:
    """The payload that reached the endpoint is the recorded one; version header and key."""
    data = dict(case.data)
    body = dict(sent.json)
    assert sent.header("anthropic-version") == "2023-06-01"
    assert sent.header("x-api-key") == kit.CANARY_KEY
    assert data["request"]["json"].get("stream", False) is case.is_stream
    if case.is_stream:
        assert body["stream"] is True
    elif not case.is_http_error:
        assert "stream" not in body
    body.pop("stream", None)  # an error case is also sent as a stream call by the kit
    recorded = {k: v for k, v in data["request"]["json"].items() if k != "stream"}
    assert_same_payload({**data, "request": {**data["request"], "json": recorded}},
                        rebuild_request(data), body)


REPLAY = kit.Replay(
    llmcore_anthropic.ANTHROPIC,
    request_for=request_for,
    check_request=check_request,
    stop_reasons=STOP_REASONS,
    check_response=check_response,
    check_error=check_error,
)
CHECKS = REPLAY.checks([kit_case(c) for c in KIT_CASES])


# --- the contract checks, on bodies written in this wire format ---------------------------------
def _sse(obj: dict[str, Any]) -> str:
    return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n"


def stream_body(pieces: list[str], *, finished: bool = True) -> bytes:
    """A text stream without usage: the kit's round-trip check expects a sample stream to carry
    none (its expected result has no usage), though the API always sends it."""
    start = {"type": "message_start", "message": {
        "id": "msg_k", "type": "message", "role": "assistant", "model": "claude-kit",
        "content": [], "stop_reason": None}}
    events = [start, {"type": "content_block_start", "index": 0,
                      "content_block": {"type": "text", "text": ""}}, {"type": "ping"}]
    events += [{"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": p}} for p in pieces]
    if finished:
        events += [{"type": "content_block_stop", "index": 0},
                   {"type": "message_delta", "delta": {"stop_reason": "end_turn"}},
                   {"type": "message_stop"}]
    return "".join(_sse(e) for e in events).encode()


def response_body(text: str) -> bytes:
    return json.dumps({"id": "msg_k", "type": "message", "role": "assistant",
                       "model": "claude-kit", "content": [{"type": "text", "text": text}],
                       "stop_reason": "end_turn", "stop_sequence": None,
                       "usage": {"input_tokens": 5, "output_tokens": 2}}).encode()


def error_body(status: int, message: str) -> bytes:
    etype = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "api_error")
    return json.dumps({"type": "error", "error": {"type": etype, "message": message},
                       "request_id": f"req-conformance-{status}"}).encode()  # as the header


SAMPLE = kit.ProtocolSample(stream_body, response_body, error_body, model="claude-kit")
CONTRACT = kit.contract_checks(llmcore_anthropic.ANTHROPIC, SAMPLE)


# --- tests ------------------------------------------------------------------------------------
def test_corpus_lists_every_anthropic_case() -> None:
    """The index holds the 29 cases the README counts, so none is silently left out."""
    readme = (corpus_dir() / "README.md").read_text(encoding="utf-8")
    documented = re.search(r"\| anthropic \| (\d+) \|", readme)
    by_wire = re.search(r"anthropic-messages (\d+)", readme)
    assert documented is not None and by_wire is not None
    assert len(CASES) == int(documented.group(1)) == int(by_wire.group(1)) == 29
    assert len(STREAM_CASES) == 16


def test_every_case_goes_through_the_kit() -> None:
    """The kit reads the same cases as the index (a new case file of this wire, indexed or not,
    makes this fail until it is replayed), each in every mode that applies: streams in both
    fragmentings and both views, HTTP errors from both calls, whole answers once."""
    assert [c.id for c in KIT_CASES] == CASES
    names = {c.name for c in CHECKS}
    for case in KIT_CASES:
        raw = load_case(case.id)
        if raw["response"]["status"] >= 400:
            want = {"whole", "stream-call"}
        elif "stream_sse" in raw["tags"]:
            want = {"fragments-chunks", "fragments-events", "bytes-chunks", "bytes-events"}
        else:
            want = {"whole"}
        assert {n for n in names if n.startswith(case.id + "[")} == {
            f"{case.id}[{m}]" for m in want
        }
    assert len(CHECKS) == sum(len(c.modes) for c in KIT_CASES) == 16 * 4 + 2 * 2 + 11


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_case_reproduces_expected(check: kit.Check) -> None:
    """One case in one mode through the kit; the result equals ``expected``."""
    check()


@pytest.mark.parametrize("check", CONTRACT, ids=str)
def test_contract(check: kit.Check) -> None:
    """The kit's contract checks for the ``anthropic`` provider."""
    check()


# --- over a real socket -------------------------------------------------------------------------
@pytest.mark.parametrize("file", STREAM_CASES, ids=STREAM_CASES)
def test_stream_one_byte_per_tcp_send(file: str, loopback: LoopbackServer) -> None:
    """Each stream one byte per TCP send (and per HTTP chunk), read as chunks and as events;
    each block's events start with its ``content_block_start`` and end with its stop, so the
    event view has one text block per text block of the answer."""
    case = load_case(file)
    recorded = kit_case(kit.RecordedCase.from_dict(file, case))
    expected = recorded.expected
    loopback.reset()
    body = case["response"]["body"].encode("utf-8")
    path = urlsplit(case["request"]["url"]).path
    for _ in range(2):
        loopback.add("POST", path, Reply.sse([body], headers=case["response"]["headers"],
                                             fragment=1))
    rebuilt = rebuild_request(case)
    with llmcore.Client(llmcore_anthropic.ANTHROPIC, api_key=kit.CANARY_KEY,
                        base_url=loopback.base_url,
                        options=llmcore.ConnectionOptions(max_retries=0)) as client:
        stream = client.chat_completion_stream(rebuilt.request)
        texts = [chunk.text() or "" for chunk in stream]
        assert stream.error is None
        kit.assert_response_matches(stream.response, expected, stop_reasons=STOP_REASONS,
                                    where=file)
        check_response(recorded, stream.response)
        assert "".join(texts) == (expected["text"] or "")
        event_stream = client.chat_completion_stream(rebuilt.request)
        events = list(event_stream.events())
        kit.assert_events_match(events, event_stream, expected, stop_reasons=STOP_REASONS,
                                where=file)
        assert event_stream.response == stream.response
    starts = [(e.id, e.name) for e in events if isinstance(e, ev.ToolCallStartEvent)]
    assert starts == [(c["id"], c["name"]) for c in expected["tool_calls"]]
    text_blocks = [b for b in _blocks_of(case) if b["type"] == "text" and b.get("text")]
    ends = [e.content for e in events if isinstance(e, ev.TextEndEvent)]
    assert ends == [b["text"] for b in text_blocks]
    assert len(loopback.requests) == 2
    for sent in loopback.requests:
        check_request(recorded, HttpRequest("POST", "x", dict(sent.headers), json=sent.json()))
