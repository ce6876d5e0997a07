"""Every recorded ``gemini`` exchange in the corpus, replayed through the conformance kit.

:mod:`llmcore.conformance` sends each case through the real client path (payload building,
``on_payload`` hooks, auth, transport, SSE framing, the plugin's parsing, accumulation and error
mapping) against an in-memory endpoint serving the recorded bytes: streams in seeded random
fragments and one byte at a time, each read as chunks and as events; whole answers, the model
list and the HTTP error (from ``chat_completion`` and from ``chat_completion_stream``) once each.

How each case is replayed (``HOW`` lists every case; a new case fails the accounting test until
it is listed):

- ``sse``: ``streamGenerateContent?alt=sse`` bodies, the way llmcore always asks for a stream:
  the kit's four stream modes.
- ``json_array``: ``streamGenerateContent`` *without* ``alt=sse`` answers with one JSON array
  (``application/json``). The kit replays it as a stream case (``"stream": true``) in its four
  stream modes: llmcore's stream request gets the array, the core reads an ``application/json``
  answer whole and the plugin's ``parse_response`` accumulates the array's objects like a stream
  (``llmcore_gemini.parse.parse_generate``); and once more as a ``generateContent`` answer
  (``<case>@generateContent[whole]``), read by ``chat_completion``.
- ``whole``: ``generateContent`` answers.
- ``models``: the model list. The recorded page ends with a ``nextPageToken``, and llmcore
  follows it; the kit serves one reply per case, so it replays the page without its token, and
  :func:`test_model_list_follows_the_recorded_page_token` serves the recorded page as it is,
  then a last page.
- ``error``: the HTTP 404 answer.

Each result must equal the case's ``expected`` block, which the official SDK computed from the
same bytes, read under llmcore's conventions (:func:`prepared`): Gemini sends no id with most
function calls (``expected`` says ``null``) and llmcore gives each one the deterministic id of
:func:`llmcore_gemini.synthetic_call_id`; the corpus counts ``candidatesTokenCount`` as output
while llmcore's usage rule counts thoughts in ``completion_tokens`` too; ``STOP`` with function
calls is ``tool_use``; an error's ``code`` is the Google RPC status name (the recorded ``type``).

What stays here is specific to Gemini: the payload llmcore sends must carry the recorded
contents, system instruction, tool names and options, with the key in ``x-goog-api-key`` and
never in the URL (``check_request``); every ``thoughtSignature`` must be kept whole, the
response's, candidates' and usage's provider data must be what the bodies hold, and the total
token count Gemini's (``check_response``); and every SSE stream is replayed over a real socket
one byte per TCP send, where the streamed answer must equal the same objects read whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses
from corpus import CORPUS, cases_by_wire, load_case
from loopback import LoopbackServer, Reply

import llmcore
import llmcore_gemini
from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Content,
    HttpRequest,
    ImagePart,
    Message,
    MessageOrigin,
    StopReason,
    TextPart,
    Tool,
    ToolCall,
)
from llmcore import conformance as kit

WIRE = "gemini"
CASES = cases_by_wire(WIRE)
RECORDED = kit.load_cases(CORPUS, wire=WIRE)

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
WHOLE_SUFFIX = "@generateContent"
_STOP = {"STOP": StopReason.STOP, "MAX_TOKENS": StopReason.LENGTH}


def _of(how: str) -> list[str]:
    return [f for f in CASES if HOW.get(f) == how]


def _objects(case: dict[str, Any] | kit.RecordedCase) -> list[dict[str, Any]]:
    """The ``GenerateContentResponse`` objects of a recorded body (SSE events or JSON)."""
    data = case.data if isinstance(case, kit.RecordedCase) else case
    body = data["response"]["body"]
    if "event-stream" in data["response"]["headers"]["content-type"]:
        return [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]
    parsed = json.loads(body)
    return parsed if isinstance(parsed, list) else [parsed]


# --- the recorded expectations under llmcore's conventions ------------------------------------
def _expected_calls(case: kit.RecordedCase) -> list[dict[str, Any]]:
    response_id = _objects(case)[0].get("responseId")
    return [
        {**call, "id": call["id"] or llmcore_gemini.synthetic_call_id(
            response_id, 0, i, call["name"], call["arguments"])}
        for i, call in enumerate(case.expected["tool_calls"])
    ]


def prepared(case: kit.RecordedCase) -> kit.RecordedCase:
    """``case`` with its ``expected`` read under llmcore's conventions (module docstring); a
    JSON-array stream marked as a stream; the model page without its ``nextPageToken``."""
    expected = case.expected
    how = HOW[case.id]
    if how == "error":
        return case.with_expected(error={**expected["error"], "code": expected["error"]["type"]})
    if how == "models":
        body = json.loads(case.response["body"])
        assert body.pop("nextPageToken") == expected["next_page_token"]
        data = {**case.data, "response": {**case.response, "body": json.dumps(body)}}
        return kit.RecordedCase(case.id, data).with_expected(
            models=[m.removeprefix("models/") for m in expected["models"]])
    normal = dict(expected["usage_normalised"])
    normal["output_tokens"] = normal.get("output_tokens", 0) + normal.get("reasoning_tokens", 0)
    stop = _STOP[expected["finish_reason"]]
    if stop is StopReason.STOP and expected["tool_calls"]:
        stop = StopReason.TOOL_USE
    case = case.with_expected(
        tool_calls=_expected_calls(case), usage_normalised=normal, stop_reason=stop.value)
    if how == "json_array":
        case = kit.RecordedCase(case.id, {**case.data, "stream": True})
    return case


def read_whole(case: kit.RecordedCase) -> kit.RecordedCase:
    """A JSON-array case served as the answer of ``generateContent`` (read whole)."""
    request = {**case.request,
               "url": case.request["url"].replace(":streamGenerateContent", ":generateContent")}
    return kit.RecordedCase(case.id + WHOLE_SUFFIX,
                            {**case.data, "request": request, "stream": False})


def as_stream_call(case: kit.RecordedCase) -> kit.RecordedCase:
    """An error case recorded from ``generateContent`` as the answer of the stream request,
    whose path names ``streamGenerateContent`` (the kit compares the path it sent with the
    recorded one)."""
    url = case.request["url"].replace(":generateContent", ":streamGenerateContent")
    return kit.RecordedCase(case.id, {**case.data, "request": {**case.request, "url": url}})


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
    assert kit.CANARY_KEY not in url


# --- the kit's hooks for this protocol --------------------------------------------------------
def request_for(case: kit.RecordedCase) -> ChatCompletionRequest:
    """The recorded request rebuilt from llmcore types (the model list needs none)."""
    if case.request.get("json") is None:
        return ChatCompletionRequest("gemini-2.5-flash", [Message.user("hi")])
    return rebuild_request(dict(case.data))


def check_request(case: kit.RecordedCase, sent: HttpRequest) -> None:
    """The key travels in ``x-goog-api-key`` only; streams ask for ``alt=sse``; the payload
    carries the recorded contents, system instruction, tool names and options."""
    assert sent.header("x-goog-api-key") == kit.CANARY_KEY
    assert kit.CANARY_KEY not in sent.url and kit.CANARY_KEY not in repr(sent.params)
    path = urlsplit(sent.url).path
    if path.endswith(":streamGenerateContent"):
        assert sent.params == {"alt": "sse"}
    elif path.endswith("/models"):
        assert sent.params == {"pageSize": "1000"}
    else:
        assert "alt" not in sent.params
    if case.request.get("json") is not None:
        assert_same_payload(dict(case.data), sent.json, sent.url)


def _signatures(case: kit.RecordedCase) -> list[str]:
    return [p["thoughtSignature"] for o in _objects(case) for c in o.get("candidates", ())
            for p in (c.get("content") or {}).get("parts", ()) if "thoughtSignature" in p]


def _latest(fields: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Fields of successive objects under the accumulation rule: the latest value, and of a
    list each distinct item once."""
    out: dict[str, Any] = {}
    for obj in fields:
        for key, value in obj.items():
            if isinstance(value, list) and isinstance(out.get(key), list):
                out[key] += [item for item in value if item not in out[key]]
            else:
                out[key] = list(value) if isinstance(value, list) else value
    return out


def expected_provider_data(case: kit.RecordedCase) -> dict[str, Any]:
    """What the bodies hold that the unified objects have no field for, by level."""
    objects = _objects(case)
    candidates = [c for o in objects for c in o.get("candidates", ())]
    counts = {"promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
              "cachedContentTokenCount", "totalTokenCount"}
    usage = [o["usageMetadata"] for o in objects if "usageMetadata" in o][-1]
    return {
        "response": _latest({k: v for k, v in o.items()
                             if k not in ("candidates", "usageMetadata")} for o in objects),
        "choice": _latest({k: v for k, v in c.items()
                           if k not in ("content", "finishReason", "index")}
                          for c in candidates),
        "usage": {k: v for k, v in usage.items() if k not in counts},
    }


def check_response(case: kit.RecordedCase, response: ChatCompletionResponse) -> None:
    """Every ``thoughtSignature`` kept whole, on its call or in a thinking block tagged as
    Gemini's; the message's origin; the provider data of the bodies; Gemini's total count."""
    message = response.message
    calls = message.tool_calls
    kept = [c.extra["thoughtSignature"] for c in calls if "thoughtSignature" in c.extra]
    kept += [b.signature for b in message.thinking if b.signature]
    assert sorted(kept) == sorted(_signatures(case))
    assert len(kept) == case.expected.get("thought_signature_parts", 0)
    assert all(b.provider == "gemini" and b.api == "gemini" for b in message.thinking)
    assert message.origin == MessageOrigin("gemini", "gemini", case.expected["model"])
    data = expected_provider_data(case)
    assert response.provider_data == data["response"]
    assert response.choices[0].provider_data == data["choice"]
    assert response.usage is not None
    assert response.usage.provider_data == data["usage"]
    assert response.usage.total_tokens == case.expected["usage"]["totalTokenCount"]


REPLAY = kit.Replay(
    llmcore_gemini.GEMINI,
    request_for=request_for,
    check_request=check_request,
    check_response=check_response,
)
KIT_CASES = [prepared(c) for c in RECORDED] + [
    read_whole(prepared(c)) for c in RECORDED if HOW.get(c.id) == "json_array"]


def _checks(cases: list[kit.RecordedCase]) -> list[kit.Check]:
    """The kit's checks; an HTTP error's ``stream-call`` mode replays it as the answer of the
    stream request (:func:`as_stream_call`)."""
    out = []
    for check in REPLAY.checks(cases):
        case_id, _, mode = check.name.partition("[")
        case = next(c for c in cases if c.id == case_id)
        if mode == "stream-call]" and case.is_http_error:
            variant = as_stream_call(case)
            check = kit.Check(check.name, lambda v=variant: REPLAY.replay(v, "stream-call"))
        out.append(check)
    return out


CHECKS = _checks(KIT_CASES)
_MODES = {
    "sse": set(kit.MODES),
    "json_array": set(kit.MODES),
    "whole": {"whole"},
    "models": {"whole"},
    "error": {"whole", "stream-call"},
}


# --- tests ------------------------------------------------------------------------------------
def test_every_gemini_case_is_accounted_for() -> None:
    """Each corpus case of the wire says how it is replayed, and the kit replays it in every
    mode that applies (a JSON-array stream also read whole); a new case fails here."""
    assert len(CASES) == 19
    assert sorted(HOW) == CASES
    assert [c.id for c in RECORDED] == CASES
    want = {f"{file}[{mode}]" for file, how in HOW.items() for mode in _MODES[how]}
    want |= {f"{file}{WHOLE_SUFFIX}[whole]" for file in _of("json_array")}
    assert sorted(c.name for c in CHECKS) == sorted(want)
    for file in _of("sse"):
        assert "event-stream" in load_case(file)["response"]["headers"]["content-type"]
    for file in _of("json_array"):
        case = load_case(file)
        assert case["response"]["body"].lstrip().startswith("[")
        assert "alt=sse" not in case["request"]["url"]


@pytest.mark.parametrize("check", CHECKS, ids=str)
def test_case_reproduces_expected(check: kit.Check) -> None:
    """One case in one mode through the kit; the result equals ``expected``."""
    check()


def test_model_list_follows_the_recorded_page_token() -> None:
    """The recorded page as it is (with its ``nextPageToken``), then a last page: llmcore asks
    for the second page with that token as ``pageToken`` and returns both pages' models."""
    case = load_case("gemini/list_models.json")
    url = case["request"]["url"]
    last = {"models": [{"name": "models/gemini-last-page", "displayName": "Last"}]}
    with responses.RequestsMock() as rsps, llmcore.Client(
        llmcore_gemini.GEMINI, api_key="test-key", base_url=url.removesuffix("/models"),
        options=llmcore.ConnectionOptions(max_retries=0),
    ) as client:
        rsps.add("GET", url, body=case["response"]["body"].encode(), status=200,
                 content_type="application/json")
        rsps.add("GET", url, json=last, status=200)
        models = client.list_models()
        sent = [call.request for call in rsps.calls]
    names = case["expected"]["models"] + ["models/gemini-last-page"]
    assert [m.extra["name"] for m in models] == names
    assert [m.id for m in models] == [n.removeprefix("models/") for n in names]
    assert len(sent) == 2
    token = case["expected"]["next_page_token"]
    assert sent[0].params == {"pageSize": "1000"}
    assert sent[1].params == {"pageSize": "1000", "pageToken": token}
    assert all(r.headers["x-goog-api-key"] == "test-key" for r in sent)


# --- over a real socket -----------------------------------------------------------------------
def _serve(server: LoopbackServer, case: kit.RecordedCase) -> str:
    """Script the recorded SSE body, one byte per TCP send; return the provider base URL."""
    server.reset()
    path = urlsplit(case.request["url"]).path
    server.add("POST", path, Reply.sse([case.body()], headers=case.headers, fragment=1))
    return server.base_url + path[: path.index("/models")]


@pytest.mark.parametrize("file", _of("sse"), ids=_of("sse"))
def test_sse_stream_over_a_socket_equals_the_objects_read_whole(
    file: str, loopback: LoopbackServer
) -> None:
    """One byte per TCP send and per HTTP chunk; the streamed answer (message, usage, provider
    data at every level) equals the same objects read whole as a JSON array."""
    case = prepared(kit.RecordedCase.from_dict(file, load_case(file)))
    with llmcore.Client(llmcore_gemini.GEMINI, api_key=kit.CANARY_KEY,
                        base_url=_serve(loopback, case),
                        options=llmcore.ConnectionOptions(max_retries=0)) as client:
        stream = client.chat_completion_stream(request_for(case))
        texts = [chunk.text() or "" for chunk in stream]
    streamed = stream.response
    kit.assert_response_matches(streamed, case.expected, where=file)
    check_response(case, streamed)
    assert "".join(texts) == (case.expected["text"] or "")
    assert len(loopback.requests) == 1
    sent = loopback.requests[0]
    assert (sent.path.endswith(":streamGenerateContent"), sent.query) == (True, "alt=sse")
    whole = llmcore_gemini.parse.parse_generate(
        llmcore_gemini.GEMINI,
        llmcore.HttpResponse(200, {}, json.dumps(_objects(case)).encode()),
    )
    assert whole.message == streamed.message
    assert whole.usage == streamed.usage
    assert whole.provider_data == streamed.provider_data
    assert [c.provider_data for c in whole.choices] == [c.provider_data for c in streamed.choices]
