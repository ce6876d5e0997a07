"""llmcore-openai keeps what the openai-chat wire carries and llmcore does not model, in
``provider_data``: checked on every recorded openai-chat answer of the corpus, then on the fields
the corpus lacks (logprobs, refusals), and for its compat flags."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

from llmcore import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Compat,
    Frame,
    HttpResponse,
    InvalidInputError,
    Message,
    Usage,
)
from llmcore.accumulate import StreamAccumulator
from llmcore.frames import decode_frames
from llmcore_openai import OPENAI, OpenAIChatCompat, openai_compat, openai_compatible
from llmcore_openai.parse import iter_chunks, parse_chat, parse_usage
from llmcore_openai.payload import chat_payload

_CONFORMANCE = str(Path(__file__).resolve().parents[2] / "conformance")
if _CONFORMANCE not in sys.path:
    sys.path.insert(0, _CONFORMANCE)

from corpus import cases_by_wire, load_case  # noqa: E402

MODELLED = {"id", "object", "created", "model", "choices", "usage", "error"}
PADDING = {"obfuscation", "p"}
PROVIDER = openai_compatible("http://127.0.0.1:9/v1", name="acme")


def _answers() -> list[str]:
    out = []
    for file in cases_by_wire("openai-chat"):
        case = load_case(file)
        response = case["response"]
        if response["status"] == 200 and "error" not in case["expected"] and (
            "choices" in response["body"]
        ):
            out.append(file)
    return out


def _stream(body: str) -> ChatCompletionResponse:
    acc = StreamAccumulator(PROVIDER.name, PROVIDER.api)
    frames = decode_frames(iter([body.encode()]), "sse")
    for chunk in iter_chunks(PROVIDER, frames):
        acc.feed(chunk)
    return acc.response()


def _frames_data(body: str) -> list[dict[str, Any]]:
    return [
        json.loads(f.data)
        for f in decode_frames(iter([body.encode()]), "sse")
        if f.data.strip() and f.data.strip() != "[DONE]"
    ]


@pytest.mark.parametrize("file", _answers())
def test_every_unmodelled_response_field_of_the_corpus_is_kept(file: str) -> None:
    case = load_case(file)
    body = case["response"]["body"]
    if "stream_sse" in case["tags"]:
        response = _stream(body)
        expected: dict[str, Any] = {}
        for obj in _frames_data(body):  # later wins
            expected.update(
                {k: v for k, v in obj.items() if k not in MODELLED | PADDING and v is not None}
            )
    else:
        raw = json.loads(body)
        response = parse_chat(PROVIDER, HttpResponse(200, {}, body.encode()))
        expected = {k: v for k, v in raw.items() if k not in MODELLED and v is not None}
        message = raw["choices"][0]["message"]
        for key in ("annotations", "refusal", "reasoning_details", "extra_content"):
            if message.get(key) is not None:
                assert response.message.provider_data[key] == message[key]
    assert response.provider_data == expected
    assert not PADDING & set(response.provider_data)
    json.dumps(response.provider_data)  # plain JSON


def test_openai_answers_keep_fingerprint_tier_and_annotations() -> None:
    case = load_case("openai/chat_basic")
    response = parse_chat(OPENAI, HttpResponse(200, {}, case["response"]["body"].encode()))
    raw = json.loads(case["response"]["body"])
    assert response.provider_data["system_fingerprint"] == raw["system_fingerprint"]
    assert response.provider_data["service_tier"] == raw["service_tier"]
    assert response.message.provider_data == {"annotations": []}  # refusal: null is not kept


def test_a_stream_ends_with_the_same_provider_data_as_the_whole_answer() -> None:
    logprobs = [{"token": "Hi", "logprob": -0.1}, {"token": "!", "logprob": -0.2}]
    whole = {
        "id": "c",
        "model": "m",
        "system_fingerprint": "fp_1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi!", "refusal": "No."},
                "finish_reason": "stop",
                "logprobs": {"content": logprobs, "refusal": None},
            }
        ],
    }
    answer = parse_chat(PROVIDER, HttpResponse(200, {}, json.dumps(whole).encode()))

    def frame(delta: dict[str, Any], lp: list[Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": {"content": lp}, "finish_reason": finish}
        obj = {"id": "c", "model": "m", "system_fingerprint": "fp_1", "obfuscation": "xx"}
        return json.dumps({**obj, "choices": [choice]})

    datas = [
        frame({"role": "assistant", "content": "Hi", "refusal": "No"}, logprobs[:1]),
        frame({"content": "!", "refusal": "."}, logprobs[1:], "stop"),
        "[DONE]",
    ]
    acc = StreamAccumulator(PROVIDER.name, PROVIDER.api)
    for chunk in iter_chunks(PROVIDER, iter(Frame(d) for d in datas)):
        acc.feed(chunk)
    streamed = acc.response()
    assert answer.choices[0].provider_data == {"logprobs": logprobs}
    assert streamed.choices[0].provider_data == answer.choices[0].provider_data
    assert streamed.message.provider_data == answer.message.provider_data == {"refusal": "No."}
    assert streamed.provider_data == answer.provider_data == {"system_fingerprint": "fp_1"}


def test_usage_keeps_what_its_counts_do_not_model() -> None:
    usage = parse_usage(
        {
            "prompt_tokens": 10,
            "completion_tokens": 4,
            "total_tokens": 14,
            "prompt_tokens_details": {"cached_tokens": 2, "audio_tokens": 1},
            "completion_tokens_details": {"reasoning_tokens": 1},
            "cost": 0.002,
        }
    )
    assert usage == Usage(
        10,
        4,
        14,
        cached_tokens=2,
        reasoning_tokens=1,
        provider_data={"prompt_tokens_details": {"audio_tokens": 1}, "cost": 0.002},
    )


# --- compat flags ------------------------------------------------------------------------------
def test_the_plugin_owns_the_openai_chat_flags() -> None:
    assert isinstance(OPENAI.compat, OpenAIChatCompat)
    assert isinstance(OPENAI.compat, Compat)  # the core flags are inherited
    assert isinstance(openai_compatible("http://x/v1").compat, OpenAIChatCompat)
    assert OpenAIChatCompat(reasoning_field="reasoning_content").carries_reasoning()
    assert not OpenAIChatCompat().carries_reasoning()
    with pytest.raises(InvalidInputError, match="system_role"):
        OpenAIChatCompat(system_role="admin")
    with pytest.raises(InvalidInputError, match="max_tokens_field"):
        OpenAIChatCompat(max_tokens_field="max_output_tokens")
    with pytest.raises(InvalidInputError, match="stream_usage"):
        OpenAIChatCompat(stream_usage="no")  # type: ignore[arg-type]


def test_a_provider_with_the_core_compat_gets_the_plugins_defaults() -> None:
    plain = OPENAI.evolve(compat=Compat(drop_foreign_thinking=True, extra={"x": 1}))
    flags = openai_compat(plain)
    assert flags == OpenAIChatCompat(drop_foreign_thinking=True, extra={"x": 1})
    request = ChatCompletionRequest("gpt-4o", [Message.system("s")], max_tokens=5)
    body = chat_payload(plain, request, True)
    assert body["max_tokens"] == 5 and body["stream_options"] == {"include_usage": True}
    assert body["messages"][0]["role"] == "system"
    assert openai_compat(OPENAI) is OPENAI.compat
    assert attrs.evolve(OPENAI.compat, stream_usage=False).max_tokens_field == (
        "max_completion_tokens"
    )
