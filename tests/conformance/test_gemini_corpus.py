"""Every recorded ``gemini`` exchange in the corpus, replayed through the real client path.

How each case is replayed (``HOW`` lists every case; a new case fails the accounting test until
it is listed):

- ``sse``: ``streamGenerateContent?alt=sse`` bodies, the way llmcore always asks for a stream.
  Served by the loopback server on 127.0.0.1 in random fragments and one byte per TCP send and
  HTTP chunk, through ``chat_completion_stream`` (chunk view and event view).
- ``json_array``: ``streamGenerateContent`` *without* ``alt=sse`` answers with one JSON array
  (``application/json``). Those bodies cannot be SSE-decoded, so they are not replayed as event
  streams; they are served (random fragments and one byte at a time) to a stream request, where
  the core reads an ``application/json`` answer whole and the plugin's ``parse_response``
  accumulates the array's objects like a stream (``llmcore_gemini.parse.parse_generate``), and
  to a plain ``chat_completion``.
- ``whole``: ``generateContent`` answers, served with ``responses`` (payload building, auth,
  transport and parsing all run).
- ``models``: the model list (first page), served with ``responses``.
- ``error``: HTTP error answers, served with ``responses``.

Each result must equal the case's ``expected`` block, which the official SDK computed from the
same bytes. Gemini sends no id with most function calls (``expected`` says ``null``): llmcore
gives each one the deterministic id of :func:`llmcore_gemini.synthetic_call_id`.
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
import llmcore_gemini
from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Content,
    ImagePart,
    Message,
    StopReason,
    TextPart,
    Tool,
    ToolCall,
)
from llmcore import events as ev

WIRE = "gemini"
CASES = cases_by_wire(WIRE)
KEY = "test-gemini-key-0123456789"

HOW: dict[str, str] = {
    "gemini/chat_basic.json": "whole",
    "gemini/error_404_model_not_found.json": "error",
    "gemini/finish_max_tokens.json": "whole",
    "gemini/image_input.json": "whole",
    "gemini/list_models.json": "models",
    "gemini/max_tokens_empty_thinking.json": "whole",
    "gemini/stream_after_tool_sse.json": "sse",
    "gemini/stream_json_array_after_tool.json": "json_array",
    "gemini/stream_json_array_gemini3_tool.json": "json_array",
    "gemini/stream_json_array_text.json": "json_array",
    "gemini/stream_json_array_tool_call.json": "json_array",
    "gemini/stream_text_sse.json": "sse",
    "gemini/stream_thinking_sse.json": "sse",
    "gemini/stream_tool_call_sse.json": "sse",
    "gemini/stream_tool_call_thought_signature.json": "sse",
    "gemini/stream_usage.json": "sse",
    "gemini/thinking.json": "whole",
    "gemini/tool_call.json": "whole",
    "gemini/tool_calls_gemini3.json": "whole",
}
NOT_REPLAYED_AS_SSE = {
    file: "a JSON-array body (streamGenerateContent without alt=sse) is not an event stream; "
    "llmcore always asks for alt=sse, so the array is read whole and accumulated"
    for file, how in HOW.items()
    if how == "json_array"
}
_STOP = {"STOP": StopReason.STOP, "MAX_TOKENS": StopReason.LENGTH}


def _of(how: str) -> list[str]:
    return [f for f in CASES if HOW.get(f) == how]


def _seed(file: str) -> int:
    return zlib.crc32(file.encode())


def _base(url: str) -> str:
    """The provider base URL of a recorded URL (``.../v1beta``)."""
    parts = urlsplit(url)
    path = parts.path[: parts.path.index("/models")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _client(base_url: str) -> llmcore.Client:
    return llmcore.Client(
        llmcore_gemini.GEMINI, api_key=KEY, base_url=base_url,
        options=llmcore.ConnectionOptions(max_retries=0),
    )


def _objects(case: dict[str, Any]) -> list[dict[str, Any]]:
    body = case["response"]["body"]
    if "event-stream" in case["response"]["headers"]["content-type"]:
        return [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]
    parsed = json.loads(body)
    return parsed if isinstance(parsed, list) else [parsed]


# --- recorded request -> llmcore request ------------------------------------------------------
def _camel(part: dict[str, Any]) -> dict[str, Any]:
    names = {"function_call": "functionCall", "function_response": "functionResponse",
             "inline_data": "inlineData"}
    return {names.get(k, k): v for k, v in part.items()}


def _messages(recorded: dict[str, Any]) -> list[Message]:
    """The recorded contents as llmcore messages (every recorded request is plain enough)."""
    messages = [Message.system(p["text"])
                for p in (recorded.get("systemInstruction") or {}).get("parts", ())]
    for content in recorded["contents"]:
        parts = [_camel(p) for p in content["parts"]]
        if content["role"] == "model":
            calls = [ToolCall(p["functionCall"]["id"], p["functionCall"]["name"],
                              p["functionCall"]["args"],
                              extra={"thoughtSignature": p["thoughtSignature"]}
                              if "thoughtSignature" in p else {})
                     for p in parts]
            messages.append(Message.assistant("", calls))
        elif "functionResponse" in parts[0]:
            for p in parts:
                response = p["functionResponse"]
                text = next(iter(response["response"].values()))
                messages.append(Message.tool(response["id"], str(text)))
        else:
            out: list[TextPart | ImagePart] = []
            for p in parts:
                if "inlineData" in p:
                    out.append(ImagePart(data=p["inlineData"]["data"],
                                         mime_type=p["inlineData"]["mimeType"]))
                else:
                    out.append(TextPart(p["text"]))
            messages.append(Message.user(Content.from_parts(out)))
    return messages


def rebuild_request(case: dict[str, Any]) -> ChatCompletionRequest:
    recorded = case["request"]["json"]
    model = urlsplit(case["request"]["url"]).path.rsplit("/", 1)[1].split(":")[0]
    tools = [Tool(d["name"], d.get("description") or None)
             for t in recorded.get("tools") or () for d in t["functionDeclarations"]]
    config = recorded.get("generationConfig") or {}
    thinking = config.get("thinkingConfig") or {}
    return ChatCompletionRequest(
        model, _messages(recorded), tools=tools or None,
        temperature=config.get("temperature"), max_tokens=config.get("maxOutputTokens"),
        reasoning_budget=thinking.get("thinking_budget"),
        extra={"safetySettings": recorded["safetySettings"]}
        if "safetySettings" in recorded else {},
    )


def _normal_contents(contents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Contents up to representation: camelCase keys, function responses without their
    ``response`` object (llmcore sends ``{"output": text}``, the recorders used other keys)."""
    out = []
    for content in contents:
        parts = []
        for part in map(_camel, content["parts"]):
            if "functionResponse" in part:
                part = {"functionResponse": {k: v for k, v in part["functionResponse"].items()
                                             if k != "response"}}
            parts.append(part)
        out.append({"role": content["role"], "parts": parts})
    return out


def assert_same_payload(case: dict[str, Any], sent: dict[str, Any], url: str) -> None:
    """What llmcore sent carries the recorded contents, system instruction, tool names and the
    options the recorded request set; the key travels in a header, never in the URL."""
    recorded = case["request"]["json"]
    assert _normal_contents(sent["contents"]) == _normal_contents(recorded["contents"])
    if "systemInstruction" in recorded:
        assert sent["systemInstruction"]["parts"] == recorded["systemInstruction"]["parts"]
    else:
        assert "systemInstruction" not in sent
    names = [d["name"] for t in recorded.get("tools") or () for d in t["functionDeclarations"]]
    assert [d["name"] for t in sent.get("tools", ()) for d in t["functionDeclarations"]] == names
    config = recorded.get("generationConfig") or {}
    for key in ("temperature", "maxOutputTokens"):
        assert sent.get("generationConfig", {}).get(key) == config.get(key)
    if "safetySettings" in recorded:
        assert sent["safetySettings"] == recorded["safetySettings"]
    assert KEY not in url


# --- expected vs. actual ----------------------------------------------------------------------
def _signatures(case: dict[str, Any]) -> list[str]:
    return [p["thoughtSignature"] for o in _objects(case) for c in o.get("candidates", ())
            for p in (c.get("content") or {}).get("parts", ()) if "thoughtSignature" in p]


def assert_matches(response: ChatCompletionResponse, case: dict[str, Any]) -> None:
    """``response`` reproduces the SDK's reading of the same bytes."""
    expected = case["expected"]
    message = response.message
    assert (message.text() or None) == expected["text"]
    assert message.reasoning == expected["reasoning"]
    calls = message.tool_calls
    assert [(c.name, c.arguments) for c in calls] == [
        (c["name"], c["arguments"]) for c in expected["tool_calls"]]
    response_id = _objects(case)[0].get("responseId")
    for i, (call, want) in enumerate(zip(calls, expected["tool_calls"], strict=True)):
        assert call.id == (want["id"] or llmcore_gemini.synthetic_call_id(
            response_id, 0, i, want["name"], want["arguments"]))
    assert response.finish_reason == expected["finish_reason"]
    want_stop = _STOP[expected["finish_reason"]]
    if want_stop is StopReason.STOP and expected["tool_calls"]:
        want_stop = StopReason.TOOL_USE
    assert response.stop_reason is want_stop
    assert response.model == expected["model"]
    # every thoughtSignature is kept, whole, on its call or in a thinking block
    kept = [c.extra["thoughtSignature"] for c in calls if "thoughtSignature" in c.extra]
    kept += [b.signature for b in message.thinking if b.signature]
    assert sorted(kept) == sorted(_signatures(case))
    assert len(kept) == expected.get("thought_signature_parts", 0)
    assert all(b.provider == "gemini" and b.api == "gemini" for b in message.thinking)
    usage = response.usage
    normal = expected["usage_normalised"]
    assert usage is not None
    reasoning = normal.get("reasoning_tokens", 0)
    assert usage.prompt_tokens == normal["input_tokens"]
    assert usage.completion_tokens == normal.get("output_tokens", 0) + reasoning
    assert usage.reasoning_tokens == reasoning
    assert usage.cached_tokens == normal.get("cached_input_tokens", 0)
    assert usage.total_tokens == expected["usage"]["totalTokenCount"]


# --- the runs ---------------------------------------------------------------------------------
def _serve(server: LoopbackServer, case: dict[str, Any], **knobs: Any) -> str:
    """Script the recorded body on the loopback server; return the provider base URL."""
    server.reset()
    recorded = case["response"]
    path = urlsplit(case["request"]["url"]).path
    if "event-stream" in recorded["headers"]["content-type"]:
        reply = Reply.sse([recorded["body"].encode("utf-8")], headers=recorded["headers"],
                          **knobs)
    else:
        reply = Reply(200, tuple(recorded["headers"].items()),
                      recorded["body"].encode("utf-8"), framing="chunked", **knobs)
    server.add("POST", path, reply)
    return server.base_url + _base(case["request"]["url"])[len("https://generativelanguage"
                                                              ".googleapis.com"):]


def run_stream(server: LoopbackServer, file: str, **knobs: Any) -> llmcore.ChatStream:
    case = load_case(file)
    with _client(_serve(server, case, **knobs)) as client:
        stream = client.chat_completion_stream(rebuild_request(case))
        texts = [chunk.text() or "" for chunk in stream]
    assert_matches(stream.response, case)
    assert "".join(texts) == (case["expected"]["text"] or "")
    assert len(server.requests) == 1
    sent = server.requests[0]
    assert sent.path.endswith(":streamGenerateContent")
    assert sent.query == "alt=sse"
    assert sent.headers["x-goog-api-key"] == KEY
    assert_same_payload(case, sent.json(), f"{sent.path}?{sent.query}")
    return stream


def _body(call: Any) -> dict[str, Any]:
    body = call.request.body
    return json.loads(body.decode() if isinstance(body, bytes) else body)


def run_whole(file: str) -> None:
    case = load_case(file)
    recorded = case["response"]
    how = HOW[file]
    url = case["request"]["url"]
    if how == "json_array":  # a plain chat_completion asks :generateContent
        url = url.replace(":streamGenerateContent", ":generateContent")
    with responses.RequestsMock() as rsps, _client(_base(url)) as client:
        rsps.add(
            case["request"]["method"], url, body=recorded["body"].encode("utf-8"),
            status=recorded["status"], content_type=recorded["headers"]["content-type"],
        )
        if how == "models":
            models = client.list_models()
            assert [m.extra["name"] for m in models] == case["expected"]["models"]
            assert [m.id for m in models] == [
                m.removeprefix("models/") for m in case["expected"]["models"]]
            assert "pageSize=1000" in (rsps.calls[0].request.url or "")
        elif how == "error":
            with pytest.raises(llmcore.LlmError) as caught:
                client.chat_completion(rebuild_request(case))
            err, want = caught.value, case["expected"]["error"]
            assert type(err) is llmcore.ModelNotFoundError, repr(err)
            assert err.status == want["status"]
            assert err.code == want["type"]
            assert err.message == want["message"]
        else:
            assert_matches(client.chat_completion(rebuild_request(case)), case)
        assert len(rsps.calls) == 1
        sent = rsps.calls[0].request
        assert sent.headers["x-goog-api-key"] == KEY
        assert KEY not in (sent.url or "")
        if case["request"]["json"] is not None:
            assert_same_payload(case, _body(rsps.calls[0]), sent.url or "")


# --- tests ------------------------------------------------------------------------------------
def test_every_gemini_case_is_accounted_for() -> None:
    """Each corpus case of the wire says how it is replayed; a new case fails here."""
    assert len(CASES) == 19
    assert sorted(HOW) == CASES
    assert set(NOT_REPLAYED_AS_SSE) == set(_of("json_array"))
    for file in _of("sse"):
        assert "event-stream" in load_case(file)["response"]["headers"]["content-type"]
    for file in NOT_REPLAYED_AS_SSE:
        case = load_case(file)
        assert case["response"]["body"].lstrip().startswith("[")
        assert "alt=sse" not in case["request"]["url"]


@pytest.mark.parametrize("file", _of("sse"), ids=_of("sse"))
def test_sse_stream_in_random_fragments(file: str, loopback: LoopbackServer) -> None:
    run_stream(loopback, file, random_fragments=True, seed=_seed(file))


@pytest.mark.parametrize("file", _of("sse"), ids=_of("sse"))
def test_sse_stream_one_byte_at_a_time(file: str, loopback: LoopbackServer) -> None:
    run_stream(loopback, file, fragment=1)


@pytest.mark.parametrize("file", _of("json_array"), ids=_of("json_array"))
def test_json_array_to_a_stream_request(file: str, loopback: LoopbackServer) -> None:
    """Random fragments, then one byte at a time: read whole, accumulated like a stream."""
    run_stream(loopback, file, random_fragments=True, seed=_seed(file))
    run_stream(loopback, file, fragment=1)


NON_STREAM = _of("whole") + _of("models") + _of("error") + _of("json_array")


@pytest.mark.parametrize("file", NON_STREAM, ids=NON_STREAM)
def test_whole_answer(file: str) -> None:
    run_whole(file)


EVENT_CASES = [f for f in _of("sse") if load_case(f)["expected"]["tool_calls"]
               or load_case(f)["expected"]["reasoning"]]


@pytest.mark.parametrize("file", EVENT_CASES, ids=EVENT_CASES)
def test_event_view(file: str, loopback: LoopbackServer) -> None:
    """Block events agree with the accumulated answer and with ``expected``."""
    case = load_case(file)
    expected = case["expected"]
    with _client(_serve(loopback, case, random_fragments=True, seed=_seed(file) + 1)) as client:
        stream = client.chat_completion_stream(rebuild_request(case))
        events = list(stream.events())
    assert isinstance(events[0], ev.StartEvent)
    done = events[-1]
    assert isinstance(done, ev.DoneEvent)
    assert done.message == stream.response.message
    assert done.reason is stream.response.stop_reason
    ends = [e.tool_call for e in events if isinstance(e, ev.ToolCallEndEvent)]
    assert [(c.name, c.arguments) for c in ends] == [
        (c["name"], c["arguments"]) for c in expected["tool_calls"]]
    thinking = "".join(e.delta for e in events if isinstance(e, ev.ThinkingDeltaEvent))
    assert (thinking or None) == expected["reasoning"]


def test_stream_and_whole_answer_agree(loopback: LoopbackServer) -> None:
    """The same objects streamed (SSE) or read whole (JSON array) give the same message."""
    for file in _of("sse"):
        case = load_case(file)
        streamed = run_stream(loopback, file).response
        whole = llmcore_gemini.parse.parse_generate(
            llmcore_gemini.GEMINI,
            llmcore.HttpResponse(200, {}, json.dumps(_objects(case)).encode()),
        )
        assert whole.message == streamed.message
        assert whole.usage == streamed.usage
