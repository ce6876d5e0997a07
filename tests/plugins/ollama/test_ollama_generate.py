"""``/api/generate`` through ``client.as_ollama()``, and the provider data of Ollama's answers.

The payload and parsing are pure functions (checked directly); ``generate`` and
``generate_stream`` go through ``Client.send_request`` to an in-memory Ollama that serves
scripted bodies in small pieces, so the stream's error, truncation, cancel and malformed-line
paths run as they do against a server.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import llmcore
from llmcore import (
    ContextLengthExceededError,
    Frame,
    HttpRequest,
    HttpResponse,
    ImagePart,
    InvalidInputError,
    MalformedResponseError,
    ModelNotFoundError,
    ServerError,
    StopReason,
    StreamInterruptedError,
    Usage,
)
from llmcore import events as ev
from llmcore.accumulate import StreamAccumulator
from llmcore.cancel import CancelHandle
from llmcore.transport import MemoryResponse, register_memory_scheme
from llmcore_ollama import OLLAMA, GenerateRequest, GenerateStream, as_ollama
from llmcore_ollama.generate import (
    build_generate_request,
    generate_payload,
    iter_generate_chunks,
    parse_generate,
)
from llmcore_ollama.parse import iter_chunks, parse_chat

CREATED = "2025-01-02T03:04:05.123456789Z"
TIMINGS = {"total_duration": 4224430375, "load_duration": 2037300208,
           "prompt_eval_duration": 177983000, "eval_duration": 2007110000}
NDJSON = {"content-type": "application/x-ndjson"}
JSON = {"content-type": "application/json; charset=utf-8"}


def _final(**fields: Any) -> dict[str, Any]:
    return {"model": "llama3", "created_at": CREATED, "done": True, "done_reason": "stop",
            "prompt_eval_count": 17, "eval_count": 3, **TIMINGS, **fields}


def _lines(*objects: dict[str, Any]) -> bytes:
    return b"".join((json.dumps(o) + "\n").encode() for o in objects)


def _pieces(*objects: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"model": "llama3", "created_at": f"2025-01-02T03:04:0{i}Z", "response": text,
             "done": False} for i, text in enumerate(o["response"] for o in objects)]


HELLO = [*_pieces({"response": "Hel"}, {"response": "lo"}),
         _final(response="", context=[1, 2, 3])]


# --- an in-memory Ollama --------------------------------------------------------------------
class _Script:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, size: int) -> None:
        self.status, self.headers, self.body, self.size = status, headers, body, size
        self.requests: list[HttpRequest] = []
        self.served = 0

    def pieces(self) -> Iterator[bytes]:
        for i in range(0, len(self.body), self.size):
            self.served += 1
            yield self.body[i : i + self.size]


_SCHEME = "ollama-generate-test"
_hosts = itertools.count(1)
_scripts: dict[str, _Script] = {}
_lock = threading.Lock()


def _serve(request: HttpRequest, cancel: CancelHandle | None) -> MemoryResponse:
    with _lock:
        script = _scripts[request.url.split("://", 1)[1].split("/", 1)[0]]
    script.requests.append(request)
    return MemoryResponse(script.status, script.headers, script.pieces())


register_memory_scheme(_SCHEME, _serve)


def _client(body: bytes, *, status: int = 200, headers: dict[str, str] | None = None,
            size: int = 5, **kwargs: Any) -> tuple[llmcore.Client, _Script]:
    host = f"h{next(_hosts)}"
    script = _Script(status, headers or NDJSON, body, size)
    with _lock:
        _scripts[host] = script
    client = llmcore.Client(OLLAMA, base_url=f"{_SCHEME}://{host}",
                            options=llmcore.ConnectionOptions(max_retries=0), **kwargs)
    return client, script


# --- the payload ----------------------------------------------------------------------------
def test_a_bare_request_sends_model_prompt_and_stream_only() -> None:
    built = build_generate_request(OLLAMA, GenerateRequest("llama3", "Hi"), False)
    assert (built.method, built.url) == ("POST", "http://localhost:11434/api/generate")
    assert built.json == {"model": "llama3", "prompt": "Hi", "stream": False}
    assert built.stream_format == "ndjson"
    streamed = build_generate_request(OLLAMA, GenerateRequest("llama3", "Hi"), True)
    assert streamed.json == {"model": "llama3", "prompt": "Hi", "stream": True}
    assert streamed.header("Accept") == "application/x-ndjson"


def test_every_field_is_sent_in_ollamas_shape() -> None:
    request = GenerateRequest(
        "llava", "Describe", system="Be brief", suffix="END", template="{{ .Prompt }}",
        images=["QUJD", ImagePart(data="REVG", mime_type="image/png"),
                ImagePart(url="data:image/png;base64,R0hJ")],
        context=[5, 6], raw=True, format={"type": "json_object"}, think="low",
        temperature=0.2, top_p=0.9, seed=7, max_tokens=50, stop="\n\n",
        options={"num_ctx": 8192, "temperature": 0.0}, keep_alive="5m",
        extra={"truncate": False},
    )
    assert generate_payload(OLLAMA, request, True) == {
        "model": "llava", "prompt": "Describe", "stream": True, "system": "Be brief",
        "suffix": "END", "template": "{{ .Prompt }}", "images": ["QUJD", "REVG", "R0hJ"],
        "context": [5, 6], "raw": True, "format": "json", "think": "low",
        "options": {"temperature": 0.0, "top_p": 0.9, "seed": 7, "num_predict": 50,
                    "stop": ["\n\n"], "num_ctx": 8192},
        "keep_alive": "5m", "truncate": False,
    }


@pytest.mark.parametrize(("fmt", "sent"), [
    ("json", "json"),
    ({"type": "object", "properties": {}}, {"type": "object", "properties": {}}),
    ({"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}, {"type": "object"}),
    ({"type": "text"}, None),
])
def test_format_takes_json_a_schema_or_a_response_format(fmt: Any, sent: Any) -> None:
    body = generate_payload(OLLAMA, GenerateRequest("m", "p", format=fmt), False)
    assert body.get("format") == sent


def test_an_image_url_is_refused_naming_the_image() -> None:
    request = GenerateRequest("llava", "?", images=["QUJD", ImagePart(url="https://x/cat.png")])
    with pytest.raises(InvalidInputError) as caught:
        generate_payload(OLLAMA, request, False)
    assert caught.value.field == "images[1]"


@pytest.mark.parametrize(("fields", "field"), [
    ({"model": ""}, "model"),
    ({"prompt": 3}, "prompt"),
    ({"system": ["x"]}, "system"),
    ({"context": [1, "2"]}, "context[1]"),
    ({"images": [b"raw"]}, "images[0]"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"options": [("num_ctx", 1)]}, "options"),
])
def test_bad_fields_are_refused_when_the_request_is_built(
    fields: dict[str, Any], field: str
) -> None:
    args = {"model": "llama3", "prompt": "hi", **fields}
    with pytest.raises(InvalidInputError) as caught:
        GenerateRequest(**args)
    assert caught.value.field == field


# --- parsing --------------------------------------------------------------------------------
def _response(body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, JSON, json.dumps(body).encode())


def test_a_whole_answer_is_a_unified_response_with_its_provider_data() -> None:
    body = _final(response="A joke", thinking="Think of one", context=[1, 2, 3])
    response = parse_generate(OLLAMA, _response(body), requested_model="llama3")
    assert (response.text(), response.reasoning()) == ("A joke", "Think of one")
    assert (response.finish_reason, response.stop_reason) == ("stop", StopReason.STOP)
    assert response.usage == Usage.of(17, 3, provider_data=TIMINGS)
    assert response.provider_data == {"created_at": CREATED, "context": [1, 2, 3]}
    assert response.created == 1735787045
    assert response.message.origin == llmcore.MessageOrigin("ollama", "ollama-chat", "llama3")


def test_length_and_an_answer_without_counts() -> None:
    body = {"model": "m", "created_at": CREATED, "response": "", "done": True,
            "done_reason": "load", "total_duration": 9}
    response = parse_generate(OLLAMA, _response(body))
    assert response.usage is None
    assert response.provider_data == {"created_at": CREATED, "total_duration": 9}
    cut = parse_generate(OLLAMA, _response(_final(response="ab", done_reason="length")))
    assert cut.stop_reason is StopReason.LENGTH


def test_stream_lines_become_chunks_and_the_done_line_ends_them() -> None:
    frames = iter([Frame(json.dumps(o)) for o in HELLO])
    chunks = iter_generate_chunks(OLLAMA, frames)
    got = []
    with pytest.raises(StopIteration) as stop:
        while True:
            got.append(next(chunks))
    assert stop.value.value is True
    assert [c.text() for c in got] == ["Hel", "lo", None]
    assert got[0].provider_data == {"created_at": "2025-01-02T03:04:00Z"}
    assert got[-1].usage == Usage.of(17, 3, provider_data=TIMINGS)
    assert got[-1].provider_data == {"created_at": CREATED, "context": [1, 2, 3]}
    unfinished = iter_generate_chunks(OLLAMA, iter([Frame(json.dumps(HELLO[0]))]))
    assert len(list(unfinished)) == 1


# --- generate and generate_stream through the client -------------------------------------------
def test_generate_sends_through_the_client_and_reads_the_answer() -> None:
    seen: list[HttpRequest] = []
    client, script = _client(json.dumps(_final(response="Hi!", context=[9])).encode(),
                             headers=JSON, on_payload=lambda req, _p: seen.append(req))
    response = client.as_ollama().generate("llama3", "Say hi", system="Be kind", max_tokens=9)
    assert response.text() == "Hi!"
    assert response.provider_data["context"] == [9]
    assert len(seen) == 1 and seen[0].url.endswith("/api/generate")
    assert script.requests[0].json == {"model": "llama3", "prompt": "Say hi", "stream": False,
                                       "system": "Be kind", "options": {"num_predict": 9}}


@pytest.mark.parametrize(("body", "error"), [
    (b'{"error": "model \'nope\' not found"}', ModelNotFoundError),
    (b'{"model": "m", "done": true}', MalformedResponseError),
    (b"[1, 2]", MalformedResponseError),
    (b"not json", MalformedResponseError),
])
def test_generate_errors_are_typed(body: bytes, error: type[Exception]) -> None:
    client, _ = _client(body, headers=JSON)
    with pytest.raises(error):
        client.as_ollama().generate("nope", "hi")


def test_an_http_error_raises_before_the_stream() -> None:
    client, _ = _client(b'{"error": "model \'nope\' not found"}', status=404, headers=JSON)
    with pytest.raises(ModelNotFoundError) as caught:
        client.as_ollama().generate_stream("nope", "hi")
    assert caught.value.status == 404


def test_the_stream_reads_as_chunks_with_the_accumulated_answer() -> None:
    client, _ = _client(_lines(*HELLO), size=3)
    stream = as_ollama(client).generate_stream("llama3", "hi")
    assert isinstance(stream, GenerateStream)
    assert "".join(c.text() or "" for c in stream) == "Hello"
    response = stream.response
    assert (response.text(), response.stop_reason, stream.error) == ("Hello", StopReason.STOP,
                                                                     None)
    assert response.usage == Usage.of(17, 3, provider_data=TIMINGS)
    assert response.provider_data == {"created_at": CREATED, "context": [1, 2, 3]}
    assert response.message.origin == llmcore.MessageOrigin("ollama", "ollama-chat", "llama3")


def test_the_event_view_has_thinking_and_text_blocks() -> None:
    lines = [{"model": "m", "thinking": "Hmm", "response": "", "done": False},
             {"model": "m", "response": "Yes", "done": False}, _final(response="")]
    client, _ = _client(_lines(*lines), size=1)
    stream = client.as_ollama().generate_stream("m", "?", think=True)
    kinds = [type(e) for e in stream.events()]
    assert kinds == [ev.StartEvent, ev.ThinkingStartEvent, ev.ThinkingDeltaEvent,
                     ev.ThinkingEndEvent, ev.TextStartEvent, ev.TextDeltaEvent, ev.TextEndEvent,
                     ev.DoneEvent]
    assert (stream.response.reasoning(), stream.response.text()) == ("Hmm", "Yes")


def test_a_stream_cut_before_its_done_line_is_interrupted_with_the_partial() -> None:
    client, _ = _client(_lines(*HELLO[:2]))
    stream = client.as_ollama().generate_stream("llama3", "hi")
    with pytest.raises(StreamInterruptedError) as caught:
        list(stream)
    partial = caught.value.partial
    assert partial is not None and partial.text() == "Hello"
    assert partial.stop_reason is StopReason.ERROR
    assert stream.error is caught.value
    client2, _ = _client(_lines(*HELLO[:2]))
    events = list(client2.as_ollama().generate_stream("llama3", "hi").events())
    assert isinstance(events[-1], ev.ErrorEvent)
    assert isinstance(events[-1].error, StreamInterruptedError)


@pytest.mark.parametrize(("line", "error"), [
    ({"error": "something broke"}, ServerError),
    ({"error": "input exceeds the context length"}, ContextLengthExceededError),
])
def test_an_error_line_raises_its_typed_error_with_the_partial(
    line: dict[str, Any], error: type[Exception]
) -> None:
    client, _ = _client(_lines(HELLO[0], line))
    stream = client.as_ollama().generate_stream("llama3", "hi")
    with pytest.raises(error) as caught:
        stream.until_done()
    assert caught.value.partial.text() == "Hel"  # type: ignore[attr-defined]
    assert stream.response.stop_reason is StopReason.ERROR


def test_a_malformed_line_is_a_malformed_response_error() -> None:
    client, _ = _client(_lines(HELLO[0]) + b'{"response": 5, "done": false}\n')
    with pytest.raises(MalformedResponseError) as caught:
        client.as_ollama().generate_stream("llama3", "hi").text()
    assert caught.value.partial.text() == "Hel"  # type: ignore[attr-defined]


def test_a_cancel_keeps_the_partial_and_reads_no_further() -> None:
    body = _lines(*_pieces(*({"response": f"w{i} "} for i in range(30))), _final(response=""))
    client, script = _client(body, size=8)
    stream = client.as_ollama().generate_stream("llama3", "hi")
    for chunk in stream:
        if chunk.text():
            stream.cancel()
    assert stream.error is None
    assert stream.response.stop_reason is StopReason.ABORTED
    assert stream.response.text().startswith("w0")
    assert script.served < len(body) // 8


def test_closing_early_ends_the_stream_as_aborted() -> None:
    client, _ = _client(_lines(*HELLO), size=2)
    with client.as_ollama().generate_stream("llama3", "hi") as stream:
        next(stream)
    assert stream.response.stop_reason is StopReason.ABORTED
    assert "finished" in repr(stream)


# --- chat answers keep their unmodelled fields too ---------------------------------------------
def test_a_chat_answer_keeps_timings_created_at_and_message_fields() -> None:
    body = _final(message={"role": "assistant", "content": "Hi", "images": None,
                           "tool_name": "x"}, brand_new={"a": 1})
    response = parse_chat(OLLAMA, _response(body))
    assert response.usage is not None and response.usage.provider_data == TIMINGS
    assert response.provider_data == {"created_at": CREATED, "brand_new": {"a": 1}}
    assert response.message.provider_data == {"images": None, "tool_name": "x"}


def test_a_chat_stream_keeps_them_as_the_last_line_has_them() -> None:
    lines = [{"model": "m", "created_at": "2025-01-02T03:04:00Z",
              "message": {"role": "assistant", "content": "Hi"}, "done": False},
             _final(message={"role": "assistant", "content": ""})]
    client, _ = _client(_lines(*lines), size=4)
    stream = client.chat_completion_stream(
        llmcore.ChatCompletionRequest("m", [llmcore.Message.user("hi")]))
    assert stream.text() == "Hi"
    assert stream.response.provider_data == {"created_at": CREATED}
    assert stream.response.usage == Usage.of(17, 3, provider_data=TIMINGS)


def test_whole_tool_calls_are_announced_ended_at_once() -> None:
    call = {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    lines = [{"model": "m", "created_at": CREATED, "done": False,
              "message": {"role": "assistant", "content": "", "tool_calls": [call]}},
             {"model": "m", "created_at": CREATED, "done": False,
              "message": {"role": "assistant", "content": "", "tool_calls": [call]}},
             _final(message={"role": "assistant", "content": ""})]
    acc = StreamAccumulator("ollama", "ollama-chat")
    fed = [acc.feed(c) for c in iter_chunks(OLLAMA, iter(Frame(json.dumps(o)) for o in lines))]
    for index, events in enumerate(fed[:2]):
        ends = [e for e in events if isinstance(e, ev.ToolCallEndEvent)]
        assert [e.tool_call.arguments for e in ends] == [{"city": "Paris"}], index
