"""The fast paths of the stream engine give exactly what the general paths give."""

from __future__ import annotations

import json
import pickle
from typing import Any

import attrs
import pytest

from llmcore import (
    ChatCompletionChunk,
    ChunkChoice,
    Delta,
    InvalidInputError,
    Role,
)
from llmcore.accumulate import StreamAccumulator
from llmcore.chat import text_chunk
from llmcore.http import Frame
from llmcore_openai import openai_compatible
from llmcore_openai.parse import iter_chunks

PROVIDER = openai_compatible("http://127.0.0.1:1/v1")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": "hi"},
        {"text": None},
        {"text": "", "role": Role.ASSISTANT},
        {"text": "x", "index": 2, "id": "c1", "model": "m"},
        {"text": "x", "provider_data": {"system_fingerprint": "fp"}},
    ],
)
def test_text_chunk_equals_the_general_constructors(kwargs: dict[str, Any]) -> None:
    fast = text_chunk(**kwargs)
    general = ChatCompletionChunk(
        kwargs.get("id"),
        kwargs.get("model"),
        (
            ChunkChoice(
                kwargs.get("index", 0), Delta(role=kwargs.get("role"), content=kwargs["text"])
            ),
        ),
        provider_data=kwargs.get("provider_data"),
    )
    assert fast == general
    assert repr(fast) == repr(general)
    assert pickle.loads(pickle.dumps(fast)) == general
    for obj in (fast, fast.choices[0], fast.choices[0].delta):  # every slot is set
        for field in attrs.fields(type(obj)):
            getattr(obj, field.name)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.id = "changed"  # type: ignore[misc]


def test_text_chunk_checks_its_provider_data() -> None:
    with pytest.raises(InvalidInputError) as caught:
        text_chunk("x", provider_data={"bad": float("nan")})
    assert "provider_data" in str(caught.value)


def test_text_chunk_does_not_share_its_provider_data() -> None:
    data = {"k": "v"}
    chunk = text_chunk("x", provider_data=data)
    data["k"] = "changed"
    assert chunk.provider_data == {"k": "v"}
    assert text_chunk("a").provider_data is not text_chunk("b").provider_data


def _frame(obj: Any) -> Frame:
    return Frame(data=json.dumps(obj))


BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
SHAPES = [
    {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"choices": [{"index": 0, "delta": {"content": "x"}, "logprobs": None}]},
    {"system_fingerprint": "fp", "choices": [{"index": 0, "delta": {"content": "y"}}]},
    {"choices": [{"index": 1, "delta": {"content": "z"}, "finish_reason": None}]},
    # not plain: the general path
    {"choices": [{"index": 0, "delta": {"content": "x", "refusal": None}}]},
    {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}]},
    {"choices": [{"index": 0, "delta": {"role": "user", "content": "x"}}]},
    {"choices": [{"index": 0, "delta": {"content": "x"}, "extra": 1}]},
    {"choices": [{"index": 0, "delta": {"content": "a"}}, {"index": 1, "delta": {"content": "b"}}]},
    {"choices": [{"index": 0, "delta": {"content": "x"}}], "usage": {"prompt_tokens": 1}},
]


@pytest.mark.parametrize("shape", SHAPES)
def test_the_plain_text_path_gives_the_general_paths_chunk(
    shape: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each shape parsed with the fast paths, and again with them disabled (the plain-key
    sets emptied, so nothing qualifies): the chunks are equal."""
    frames = [_frame({**BASE, **shape}), Frame(data="[DONE]")]
    fast = list(iter_chunks(PROVIDER, iter(frames)))
    import llmcore_openai.parse as parse

    monkeypatch.setattr(parse, "_PLAIN_CHOICE_KEYS", frozenset())
    general = list(iter_chunks(PROVIDER, iter(frames)))
    assert fast == general
    assert [repr(c) for c in fast] == [repr(c) for c in general]


def test_accumulating_without_events_gives_the_same_answer() -> None:
    chunks = [
        ChatCompletionChunk("c", "m", (ChunkChoice(0, Delta(role=Role.ASSISTANT, content="")),)),
        *(text_chunk(w) for w in ("Hel", "lo", " there")),
        ChatCompletionChunk(choices=(ChunkChoice(0, Delta(reasoning="hm")),)),
        ChatCompletionChunk(choices=(ChunkChoice(0, Delta(content="!"), "stop"),)),
    ]
    with_events, without = StreamAccumulator("p", "a"), StreamAccumulator("p", "a")
    emitted = [e for c in chunks for e in with_events.feed(c)]
    assert emitted  # events were built
    assert all(without.feed(c, events=False) == [] for c in chunks)
    assert without.response() == with_events.response()
    assert without.close_blocks() == with_events.close_blocks()


def test_repeated_chunk_provider_data_is_merged_once_with_the_same_result() -> None:
    def chunk(data: dict[str, Any]) -> ChatCompletionChunk:
        return text_chunk("x", provider_data=data)

    datas = [
        {"system_fingerprint": "fp"},
        {"system_fingerprint": "fp"},
        {"system_fingerprint": "fp2", "n": 1},
        {"notes": ["a"]},
        {"notes": ["a"]},  # a list appends, even when equal
        {"system_fingerprint": "fp2", "n": 1},
    ]
    acc = StreamAccumulator("p", "a")
    expected: dict[str, Any] = {}
    for data in datas:
        acc.feed(chunk(data), events=False)
        from llmcore.chat import merge_provider_data

        expected = merge_provider_data(expected, data)
    assert (
        acc.provider_data == expected == {"system_fingerprint": "fp2", "n": 1, "notes": ["a", "a"]}
    )
    assert acc.response().provider_data == expected


def test_text_chunk_still_checks_nested_and_float_provider_data() -> None:
    assert text_chunk("x", provider_data={"a": 1.5, "b": [1, "x"]}).provider_data["a"] == 1.5
    with pytest.raises(InvalidInputError):
        text_chunk("x", provider_data={"b": [float("inf")]})
    with pytest.raises(InvalidInputError):
        text_chunk("x", provider_data={1: "x"})  # type: ignore[dict-item]
