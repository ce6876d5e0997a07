"""Every recorded ``openai-chat`` exchange in the corpus, replayed through the conformance kit.

:mod:`llmcore.conformance` sends each case through the real client path (payload building,
``on_payload`` hooks, auth, transport, SSE framing, the plugin's parsing, accumulation and error
mapping) against an in-memory endpoint that serves the recorded bytes: streams in seeded random
fragments and one byte at a time, each read as chunks and as events; whole answers, model lists
and HTTP errors (from ``chat_completion`` and from ``chat_completion_stream``) once each. Each
result must equal the case's ``expected`` block, which the official SDK computed from the same
bytes.

What stays here is specific to OpenAI's protocol: where a case's recorded request is plain (text
messages, URL/data-URL images, function tool calls and results, function tools), the request
is rebuilt from llmcore types and the payload llmcore sends must carry the same messages, tools
and tool choice as the recorded one; in-stream error frames must carry their status; think-tag
handling; and a few streams replayed over a real socket (the loopback server), one byte per TCP
send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import attrs
import pytest
import responses
from corpus import CORPUS, cases_by_wire, corpus_dir, index, load_case
from loopback import LoopbackServer, Reply

import llmcore
import llmcore_openai
from llmcore import (
    ChatCompletionRequest,
    Content,
    HttpRequest,
    ImagePart,
    Message,
    Provider,
    Role,
    StopReason,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from llmcore import conformance as kit
from llmcore import events as ev

WIRE = "openai-chat"
CASES = cases_by_wire(WIRE)
KIT_CASES = kit.load_cases(CORPUS, wire=WIRE)

_SUFFIXES = ("/chat/completions", "/models")
_STOP = {
    "stop": StopReason.STOP,
    "length": StopReason.LENGTH,
    "tool_calls": StopReason.TOOL_USE,
    "content_filter": StopReason.CONTENT_FILTER,
}
# Streams also replayed over a real socket, one byte per TCP send and per HTTP chunk (small,
# but every shape: text, parallel tool calls, repeated id/name, reasoning field, error frame).
_BYTEWISE = (
    "openai/stream_parallel_tool_calls.json",
    "openrouter/stream_tool_call_repeated_id_name_a.json",
    "openrouter/stream_reasoning.json",
    "openrouter/stream_error_midstream.json",
    "openai/stream_text.json",
)
# Providers that want the reasoning text echoed back in assistant history.
_REASONING_FIELD = {"deepseek": "reasoning_content"}
# Cases whose reasoning is inlined as <think>...</think> in the content.
_THINK_TAG_CASES = ("groq/reasoning.json", "huggingface/chat_basic.json",
                    "huggingface/reasoning.json")


def _split_url(url: str) -> tuple[str, str]:
    """(base URL for the provider, path) of a recorded URL (fragments like ``#stream`` dropped)."""
    parts = urlsplit(url)
    path = parts.path
    for suffix in _SUFFIXES:
        if path.endswith(suffix):
            return f"{parts.scheme}://{parts.netloc}{path[: -len(suffix)]}", path
    raise AssertionError(f"unexpected recorded URL {url!r}")


def _provider(case: dict[str, Any], base_url: str, *, think_tags: bool = False) -> Provider:
    return llmcore_openai.openai_compatible(
        base_url=base_url, name=case["provider"], think_tags=think_tags,
        reasoning_field=_REASONING_FIELD.get(case["provider"]),
    )


def _client(case: dict[str, Any], base_url: str, *, think_tags: bool = False) -> llmcore.Client:
    return llmcore.Client(
        _provider(case, base_url, think_tags=think_tags), api_key="test-key",
        options=llmcore.ConnectionOptions(max_retries=0),
    )


# --- recorded request -> llmcore request ------------------------------------------------------
class _Unclean(Exception):
    """The recorded request uses something llmcore does not model one-to-one."""


def _only(obj: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    present = {k: v for k, v in obj.items() if v is not None}
    if set(present) - allowed:
        raise _Unclean(f"keys {sorted(set(present) - allowed)}")
    return present


def _image(part: dict[str, Any]) -> ImagePart:
    image = _only(part["image_url"], {"url", "detail"})
    return ImagePart(url=image["url"], detail=image.get("detail"))


def _user_content(raw: Any) -> Content | str:
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, list):
        raise _Unclean("user content")
    parts: list[TextPart | ImagePart] = []
    for part in raw:
        kind = part.get("type")
        if kind == "text":
            parts.append(TextPart(_only(part, {"type", "text"})["text"]))
        elif kind == "image_url":
            _only(part, {"type", "image_url"})
            parts.append(_image(part))
        else:
            raise _Unclean(f"content part {kind!r}")
    if all(isinstance(p, TextPart) for p in parts):
        raise _Unclean("a text-only part list (llmcore sends a plain string)")
    return Content.from_parts(parts)


def _tool_call(raw: dict[str, Any]) -> ToolCall:
    _only(raw, {"id", "type", "function"})
    function = _only(raw["function"], {"name", "arguments"})
    arguments = json.loads(function.get("arguments") or "{}")
    if not isinstance(arguments, dict):
        raise _Unclean("non-object tool arguments")
    return ToolCall(raw["id"], function["name"], arguments)


def _message(raw: dict[str, Any], reasoning_field: str | None) -> Message:
    role = raw.get("role")
    if role == "system":
        m = _only(raw, {"role", "content"})
        if not isinstance(m.get("content"), str):
            raise _Unclean("system content")
        return Message.system(m["content"])
    if role == "user":
        m = _only(raw, {"role", "content", "name"})
        return Message(Role.USER, _user_content(m.get("content")), name=m.get("name"))
    if role == "assistant":
        allowed = {"role", "content", "tool_calls"}
        m = _only(raw, allowed | ({reasoning_field} if reasoning_field else set()))
        content = m.get("content", "")
        if not isinstance(content, str) or (content == "" and "content" in m and
                                            m.get("tool_calls")):
            raise _Unclean("assistant content")
        calls = [_tool_call(c) for c in m.get("tool_calls", ())]
        reasoning = m.get(reasoning_field) if reasoning_field else None
        return Message(Role.ASSISTANT, content, tool_calls=calls, reasoning=reasoning or None)
    if role == "tool":
        m = _only(raw, {"role", "content", "tool_call_id"})
        if not isinstance(m.get("content"), str):
            raise _Unclean("tool content")
        return Message.tool(m["tool_call_id"], m["content"])
    raise _Unclean(f"role {role!r}")


def _tool(raw: dict[str, Any]) -> Tool:
    _only(raw, {"type", "function"})
    if raw["type"] != "function":
        raise _Unclean("non-function tool")
    f = _only(raw["function"], {"name", "description", "parameters", "strict"})
    if "parameters" not in f:
        raise _Unclean("tool without parameters")
    return Tool(f["name"], f.get("description") or None, f["parameters"], f.get("strict"))


def _tool_choice(raw: Any) -> ToolChoice:
    if raw in ("auto", "none", "required"):
        return ToolChoice(raw)
    if isinstance(raw, dict) and raw.get("type") == "function":
        return ToolChoice.tool(raw["function"]["name"])
    raise _Unclean(f"tool_choice {raw!r}")


@attrs.frozen
class _Rebuilt:
    request: ChatCompletionRequest
    messages_checked: bool
    tools_checked: bool


def rebuild_request(case: dict[str, Any]) -> _Rebuilt:
    """The recorded request in llmcore types, as far as it is plain; else model + "hi"."""
    recorded = case["request"]["json"] or {}
    model = recorded.get("model") or "unknown-model"
    field = _REASONING_FIELD.get(case["provider"])
    try:
        messages = [_message(m, field) for m in recorded["messages"]]
    except (_Unclean, KeyError):
        messages = None
    try:
        tools = [_tool(t) for t in recorded["tools"]] if recorded.get("tools") else None
        choice = _tool_choice(recorded["tool_choice"]) if "tool_choice" in recorded else None
        tools_ok = True
    except (_Unclean, KeyError):
        tools, choice, tools_ok = None, None, False
    request = ChatCompletionRequest(
        model, messages or [Message.user("hi")], tools=tools, tool_choice=choice
    )
    return _Rebuilt(request, messages is not None, tools_ok)


def _normal_message(wire: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in wire.items() if v is not None and (k, v) != ("reasoning_content", "")}
    if out.get("tool_calls"):
        out["tool_calls"] = [
            {**c, "function": {**c["function"],
                               "arguments": json.loads(c["function"]["arguments"])}}
            for c in out["tool_calls"]
        ]
    return out


def _normal_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages without empty assistant turns (llmcore drops those before sending)."""
    normal = [_normal_message(m) for m in messages]
    return [m for m in normal if m != {"role": "assistant", "content": ""}
            and m != {"role": "assistant"}]


def _normal_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not tools:
        return None
    return [{**t, "function": {k: v for k, v in t["function"].items()
                               if (k, v) != ("description", "")}} for t in tools]


def assert_same_payload(case: dict[str, Any], rebuilt: _Rebuilt, sent: dict[str, Any]) -> None:
    """The messages/tools llmcore sent equal the recorded ones.

    Equal up to representation: None-valued keys dropped, tool-call arguments compared as parsed
    JSON, an empty ``reasoning_content`` / tool ``description`` / tool list same as none, empty
    assistant turns ignored.
    """
    recorded = case["request"]["json"]
    assert sent["model"] == recorded["model"]
    if rebuilt.messages_checked:
        assert _normal_messages(sent["messages"]) == _normal_messages(recorded["messages"])
    if rebuilt.tools_checked:
        assert _normal_tools(sent.get("tools")) == _normal_tools(recorded.get("tools"))
        assert sent.get("tool_choice") == recorded.get("tool_choice")


# --- the kit's hooks for this protocol --------------------------------------------------------
def provider_for(case: kit.RecordedCase) -> Provider:
    """An OpenAI-compatible provider at the recorded host and base path."""
    return _provider(dict(case.data), _split_url(case.request["url"])[0])


def request_for(case: kit.RecordedCase) -> ChatCompletionRequest:
    return rebuild_request(dict(case.data)).request


def check_request(case: kit.RecordedCase, sent: HttpRequest) -> None:
    """The payload that reached the endpoint carries the recorded messages, tools and choice."""
    data = dict(case.data)
    if data["request"]["json"] is not None:
        assert_same_payload(data, rebuild_request(data), sent.json)


def _frame_status(body: dict[str, Any]) -> int | None:
    status = body.get("status_code")
    if status is None and isinstance(body.get("code"), int):
        status = body["code"]
    return status if isinstance(status, int) else None


def check_error(case: kit.RecordedCase, err: llmcore.LlmError) -> None:
    """An error frame inside a 200 stream carries the status written in the frame."""
    expected = case.expected["error"]
    if expected.get("in_stream"):
        assert err.status == _frame_status(expected["body"]), repr(err)


REPLAY = kit.Replay(
    provider_for,
    request_for=request_for,
    check_request=check_request,
    stop_reasons=_STOP,
    check_error=check_error,
)
CHECKS = REPLAY.checks(KIT_CASES)


# --- tests ------------------------------------------------------------------------------------
def test_corpus_lists_every_openai_chat_case() -> None:
    """The index is complete and matches the README's count, so no case is silently skipped."""
    readme = (corpus_dir() / "README.md").read_text(encoding="utf-8")
    documented = re.search(r"openai-chat (\d+)", readme)
    assert documented is not None
    assert len(CASES) == int(documented.group(1))
    for entry in index():
        assert (corpus_dir() / entry["file"]).is_file(), entry["file"]


def test_every_case_goes_through_the_kit() -> None:
    """The kit reads the same cases as the index, and replays each in every mode that applies:
    streams in both fragmentings and both views, HTTP errors from both calls."""
    assert [c.id for c in KIT_CASES] == CASES
    names = {c.name for c in CHECKS}
    for case in KIT_CASES:
        raw = load_case(case.id)
        streamed = "text/event-stream" in raw["response"]["headers"].get("content-type", "")
        if raw["response"]["status"] >= 400:
            want = {"whole", "stream-call"}
        elif streamed:
            want = {"fragments-chunks", "fragments-events", "bytes-chunks", "bytes-events"}
        else:
            want = {"whole"}
        assert {n for n in names if n.startswith(case.id + "[")} == {
            f"{case.id}[{m}]" for m in want
        }
    assert len(CHECKS) == sum(len(c.modes) for c in KIT_CASES)


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_case_reproduces_expected(check: kit.Check) -> None:
    """One case in one mode through the kit; the result equals ``expected``."""
    check()


# --- over a real socket -----------------------------------------------------------------------
def _serve_stream(server: LoopbackServer, case: dict[str, Any], **knobs: Any) -> str:
    """Script the recorded stream body on the loopback server; return the provider base URL."""
    server.reset()
    base, path = _split_url(case["request"]["url"])
    headers = dict(case["response"]["headers"])
    body = case["response"]["body"].encode("utf-8")
    server.add(case["request"]["method"], path,
               Reply.sse([body], status=case["response"]["status"], headers=headers, **knobs))
    return server.base_url + urlsplit(base).path


@pytest.mark.parametrize("file", _BYTEWISE, ids=_BYTEWISE)
def test_stream_one_byte_at_a_time_over_a_socket(file: str, loopback: LoopbackServer) -> None:
    """The same streams sent one byte per TCP send (and per HTTP chunk), chunk view."""
    case = load_case(file)
    kit_case = kit.RecordedCase.from_dict(file, case)
    expected = case["expected"]
    rebuilt = rebuild_request(case)
    with _client(case, _serve_stream(loopback, case, fragment=1)) as client:
        stream = client.chat_completion_stream(rebuilt.request)
        if kit_case.in_stream_error:
            with pytest.raises(llmcore.LlmError) as caught:
                for _chunk in stream:
                    pass
            kit.assert_error_matches(caught.value, expected["error"], where=file)
            check_error(kit_case, caught.value)
            assert caught.value.partial is not None and stream.error is caught.value
        else:
            texts = [chunk.text() or "" for chunk in stream]
            kit.assert_response_matches(stream.response, expected, stop_reasons=_STOP, where=file)
            assert "".join(texts) == (expected["text"] or "")
    assert len(loopback.requests) == 1
    check_request(kit_case, HttpRequest("POST", "x", json=loopback.requests[0].json()))


def test_event_view_of_an_error_stream(loopback: LoopbackServer) -> None:
    """An in-stream error ends the event view with an ErrorEvent, not an exception."""
    file = "openrouter/stream_error_midstream.json"
    case = load_case(file)
    client = _client(case, _serve_stream(loopback, case, random_fragments=True, seed=7))
    with client:
        stream = client.chat_completion_stream(rebuild_request(case).request)
        events = list(stream.events())
    last = events[-1]
    assert isinstance(last, ev.ErrorEvent)
    assert last.reason is StopReason.ERROR
    assert last.error is stream.error
    assert last.error is not None and last.error.message == "Token limit reached"
    assert last.error.status == 400


# --- think tags -------------------------------------------------------------------------------
def _split_think(text: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*<think>(.*?)</think>(.*)", text, re.DOTALL)
    assert match is not None, "expected text has no leading <think> section"
    return match.group(2).lstrip("\n"), match.group(1)


@pytest.mark.parametrize("file", _THINK_TAG_CASES, ids=_THINK_TAG_CASES)
def test_think_tags_move_reasoning_out_of_the_text(file: str) -> None:
    """With ``think_tags`` on, the inlined ``<think>`` section becomes ``reasoning``."""
    case = load_case(file)
    expected = case["expected"]
    assert expected["reasoning"] is None and "<think>" in expected["text"]
    want_text, want_reasoning = _split_think(expected["text"])
    base, _path = _split_url(case["request"]["url"])
    with responses.RequestsMock() as rsps, _client(case, base, think_tags=True) as client:
        rsps.add("POST", case["request"]["url"], body=case["response"]["body"].encode(),
                 status=200, content_type="application/json")
        response = client.chat_completion(rebuild_request(case).request)
    assert response.text() == want_text
    assert response.message.reasoning == want_reasoning
    assert response.finish_reason == expected["finish_reason"]


def _think_stream_body(file: str) -> Iterator[str]:
    """The non-streamed think-tag answer re-served as an SSE stream of small content deltas."""
    body = json.loads(load_case(file)["response"]["body"])
    text = body["choices"][0]["message"]["content"]
    for i in range(0, len(text), 7):
        yield json.dumps({"id": "x", "model": body["model"],
                          "choices": [{"index": 0, "delta": {"content": text[i:i + 7]}}]})
    yield json.dumps({"id": "x", "choices": [{"index": 0, "delta": {},
                                              "finish_reason": "stop"}]})
    yield "[DONE]"


def test_think_tags_split_across_stream_chunks(loopback: LoopbackServer) -> None:
    """Tags cut across chunks (7-character deltas) are still recognised in a stream."""
    file = "groq/reasoning.json"
    case = load_case(file)
    want_text, want_reasoning = _split_think(case["expected"]["text"])
    loopback.reset()
    loopback.add("POST", "/v1/chat/completions",
                 Reply.sse(list(_think_stream_body(file)), random_fragments=True, seed=3))
    with _client(case, loopback.base_url + "/v1", think_tags=True) as client:
        stream = client.chat_completion_stream(rebuild_request(case).request)
        assert stream.text() == want_text
    assert stream.response.message.reasoning == want_reasoning
