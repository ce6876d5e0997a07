"""StreamAccumulator (chunks -> final response + typed block events) and ThinkTagSplitter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcore import (
    ChatCompletionChunk,
    ChunkChoice,
    Delta,
    Role,
    StopReason,
    ThinkingBlock,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from llmcore import events as ev
from llmcore.accumulate import StreamAccumulator, finish_tool_call
from llmcore.thinktags import ThinkTagSplitter, split_think_tags

# --- helpers ----------------------------------------------------------------------------------


def chunk(*choices: ChunkChoice, usage: Usage | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk("chatcmpl-1", "model-1", choices, usage)


def delta(index: int = 0, finish: str | None = None, **fields: Any) -> ChunkChoice:
    stop = {"stop": StopReason.STOP, "tool_calls": StopReason.TOOL_USE}.get(finish or "")
    return ChunkChoice(index, Delta(**fields), finish, stop)


def tool(
    index: int,
    id: str | None = None,
    name: str | None = None,
    args: str | None = None,
    **extra: Any,
) -> ToolCallDelta:
    return ToolCallDelta(index, id, name, args, extra or None)


def run(
    chunks: Iterable[ChatCompletionChunk], acc: StreamAccumulator | None = None
) -> tuple[StreamAccumulator, list[Any]]:
    acc = acc or StreamAccumulator("prov", "prov-api")
    events: list[Any] = []
    for c in chunks:
        events += acc.feed(c)
    events += acc.close_blocks()
    return acc, events


def check_event_grammar(events: Sequence[Any]) -> None:
    """Blocks open with content_index 0, 1, 2...; deltas and the end refer to an open block;
    only tool-call blocks may be open together (interleaved fragments, PROTOCOLS.md 20.4);
    each end event carries exactly what its deltas said; nothing stays open."""
    expected_index = 0
    open_blocks: dict[int, tuple[str, list[str]]] = {}
    for event in events:
        kind, _, phase = event.type.rpartition("_")
        if phase == "start":
            assert event.content_index == expected_index, event
            if kind != "tool_call":
                assert not open_blocks, f"{event} starts while {open_blocks} are open"
            else:
                assert all(k == "tool_call" for k, _ in open_blocks.values()), event
            open_blocks[event.content_index] = (kind, [])
            expected_index += 1
        elif phase == "delta":
            assert open_blocks.get(event.content_index, ("",))[0] == kind, f"{event} outside"
            open_blocks[event.content_index][1].append(event.delta)
        elif phase == "end":
            assert event.content_index in open_blocks, f"{event} ends a closed block"
            block_kind, pieces = open_blocks.pop(event.content_index)
            assert block_kind == kind, event
            if kind == "tool_call":
                text = "".join(pieces)
                assert event.tool_call == finish_tool_call(
                    event.tool_call.id, event.tool_call.name, text, event.tool_call.extra
                )
            else:
                assert event.content == "".join(pieces), event
    assert not open_blocks, f"{open_blocks} never ended"


# --- tool calls -------------------------------------------------------------------------------


def test_tool_call_fragments_merge_by_index() -> None:
    acc, events = run(
        [
            chunk(delta(role=Role.ASSISTANT)),
            chunk(delta(tool_calls=[tool(0, "call_1", "get_weather", '{"ci')])),
            chunk(delta(tool_calls=[tool(0, args='ty": "Par')])),
            chunk(delta(tool_calls=[tool(0, args='is"}')])),
            chunk(delta(tool_calls=[tool(1, "call_2", "get_time", "")])),
            chunk(delta(tool_calls=[tool(1, args='{"tz": "CET"}')])),
            chunk(delta(finish="tool_calls")),
        ]
    )
    response = acc.response()
    assert response.tool_calls() == (
        ToolCall("call_1", "get_weather", {"city": "Paris"}),
        ToolCall("call_2", "get_time", {"tz": "CET"}),
    )
    assert response.stop_reason is StopReason.TOOL_USE
    assert response.finish_reason == "tool_calls"
    check_event_grammar(events)
    partials = [e.partial for e in events if isinstance(e, ev.ToolCallDeltaEvent)]
    assert partials == [{}, {"city": "Par"}, {"city": "Paris"}, {"tz": "CET"}]


def test_repeated_id_and_name_are_not_concatenated() -> None:
    # Some gateways repeat id and name on every fragment.
    acc, _ = run(
        [
            chunk(delta(tool_calls=[tool(0, "call_1", "lookup", '{"q":')])),
            chunk(delta(tool_calls=[tool(0, "call_1", "lookup", ' "x"')])),
            chunk(delta(tool_calls=[tool(0, "call_1", "lookup", "}")])),
        ]
    )
    assert acc.response().tool_calls() == (ToolCall("call_1", "lookup", {"q": "x"}),)


def test_arguments_before_the_name() -> None:
    acc, events = run(
        [
            chunk(delta(tool_calls=[tool(0, args='{"a": ')])),
            chunk(delta(tool_calls=[tool(0, "call_9", "late_name", "1}")])),
        ]
    )
    assert acc.response().tool_calls() == (ToolCall("call_9", "late_name", {"a": 1}),)
    start = events[0]
    assert isinstance(start, ev.ToolCallStartEvent) and (start.id, start.name) == (None, None)
    end = events[-1]
    assert isinstance(end, ev.ToolCallEndEvent) and end.tool_call.name == "late_name"
    check_event_grammar(events)


@pytest.mark.parametrize("raw", ['{"a": ', "not json", "[1, 2]", '"text"'])
def test_invalid_json_arguments_are_kept_raw(raw: str) -> None:
    acc, events = run([chunk(delta(tool_calls=[tool(0, "c", "f", raw)]))])
    (call,) = acc.response().tool_calls()
    assert call.arguments == {} and call.raw_arguments == raw
    assert events[-1].tool_call == call


@pytest.mark.parametrize("args", [None, "", "  "])
def test_empty_arguments_mean_an_empty_object(args: str | None) -> None:
    acc, _ = run([chunk(delta(tool_calls=[tool(0, "c", "f", args)]))])
    assert acc.response().tool_calls() == (ToolCall("c", "f", {}),)


def test_tool_call_extra_fields_are_kept() -> None:
    acc, _ = run(
        [
            chunk(delta(tool_calls=[tool(0, "c", "f", "{}", extra_content={"sig": "s1"})])),
            chunk(delta(tool_calls=[tool(0, args="", type="function")])),
        ]
    )
    (call,) = acc.response().tool_calls()
    assert call.extra == {"extra_content": {"sig": "s1"}, "type": "function"}


def test_interleaved_tool_fragments_give_well_formed_events() -> None:
    # PROTOCOLS.md 20.4 rule 1 allows fragments of two calls to interleave: a call whose JSON
    # is still incomplete when the next starts stays open and ends once its JSON is whole.
    acc, events = run(
        [
            chunk(delta(tool_calls=[tool(0, "c1", "f", '{"a"')])),
            chunk(delta(tool_calls=[tool(1, "c2", "g", '{"b"')])),
            chunk(delta(tool_calls=[tool(0, args=": 1}")])),
            chunk(delta(tool_calls=[tool(1, args=": 2}")])),
        ]
    )
    assert acc.response().tool_calls() == (
        ToolCall("c1", "f", {"a": 1}),
        ToolCall("c2", "g", {"b": 2}),
    )
    ends = [e.tool_call for e in events if isinstance(e, ev.ToolCallEndEvent)]
    assert ends == list(acc.response().tool_calls())
    ended: set[int] = set()
    for event in events:  # no delta for a call after its end
        if isinstance(event, ev.ToolCallEndEvent):
            ended.add(event.content_index)
        elif isinstance(event, ev.ToolCallDeltaEvent):
            assert event.content_index not in ended


# --- usage, ids, choices, stop reasons ----------------------------------------------------------


def test_usage_is_replaced_not_summed() -> None:
    acc, _ = run(
        [
            chunk(delta(content="a"), usage=Usage.of(10, 1)),
            chunk(delta(content="b"), usage=Usage.of(10, 2)),
            chunk(delta(content="c")),  # no usage: keeps the last one
            chunk(usage=Usage.of(10, 3, reasoning_tokens=1)),
        ]
    )
    assert acc.response().usage == Usage.of(10, 3, reasoning_tokens=1)


def test_id_and_model_come_from_the_first_chunk_that_has_them() -> None:
    acc = StreamAccumulator()
    acc.feed(ChatCompletionChunk(None, None, [delta(role=Role.ASSISTANT)]))
    acc.feed(ChatCompletionChunk("id-1", "m-1", [delta(content="x")]))
    acc.feed(ChatCompletionChunk("id-2", "m-2", [delta(content="y")]))
    response = acc.response()
    assert (response.id, response.model, response.text()) == ("id-1", "m-1", "xy")


def test_multiple_choices_accumulate_separately() -> None:
    acc, events = run(
        [
            chunk(delta(0, role=Role.ASSISTANT), delta(1, role=Role.ASSISTANT)),
            chunk(delta(0, content="Hel"), delta(1, content="Bon")),
            chunk(delta(1, content="jour", tool_calls=[tool(0, "c", "f", "{}")])),
            chunk(delta(0, content="lo")),
            chunk(delta(0, finish="stop"), delta(1, finish="tool_calls")),
        ]
    )
    response = acc.response()
    assert [c.index for c in response.choices] == [0, 1]
    assert [c.message.text() for c in response.choices] == ["Hello", "Bonjour"]
    assert response.choices[0].message.tool_calls == ()
    assert response.choices[1].message.tool_calls == (ToolCall("c", "f", {}),)
    assert [c.stop_reason for c in response.choices] == [StopReason.STOP, StopReason.TOOL_USE]
    # Events describe choice 0 only.
    assert [e.type for e in events] == ["text_start", "text_delta", "text_delta", "text_end"]
    assert acc.finished


def test_finished_needs_every_choice_to_finish() -> None:
    acc = StreamAccumulator()
    assert not acc.finished
    acc.feed(chunk(delta(0, content="a"), delta(1, content="b")))
    acc.feed(chunk(delta(0, finish="stop")))
    assert not acc.finished
    acc.feed(chunk(delta(1, finish="stop")))
    assert acc.finished


def test_stop_reason_defaults_and_overrides() -> None:
    acc, _ = run([chunk(delta(content="partial"))])
    assert acc.response().stop_reason is StopReason.STOP
    acc, _ = run([chunk(delta(tool_calls=[tool(0, "c", "f", "{}")]))])
    assert acc.response().stop_reason is StopReason.TOOL_USE
    aborted = acc.response(stop_reason=StopReason.ABORTED)
    assert aborted.stop_reason is StopReason.ABORTED and aborted.tool_calls()
    empty = StreamAccumulator("p").response(stop_reason=StopReason.ERROR)
    assert empty.stop_reason is StopReason.ERROR and empty.text() == ""
    assert empty.message.role is Role.ASSISTANT and empty.provider == "p"


# --- thinking ---------------------------------------------------------------------------------


def test_reasoning_without_signature_is_plain_reasoning() -> None:
    acc, events = run(
        [
            chunk(delta(reasoning="Let me ")),
            chunk(delta(reasoning="think.")),
            chunk(delta(content="42")),
        ]
    )
    message = acc.response().message
    assert (message.reasoning, message.text(), message.thinking) == ("Let me think.", "42", ())
    assert [e.type for e in events] == [
        "thinking_start",
        "thinking_delta",
        "thinking_delta",
        "thinking_end",
        "text_start",
        "text_delta",
        "text_end",
    ]
    check_event_grammar(events)


def test_thinking_blocks_with_signatures_are_kept_for_replay() -> None:
    acc, events = run(
        [
            chunk(delta(reasoning="first ")),
            chunk(delta(reasoning="block", reasoning_signature="sig-")),
            chunk(delta(reasoning_signature="one")),
            chunk(delta(thinking_block_end=True)),
            chunk(delta(reasoning_redacted="ENCRYPTED")),
            chunk(delta(thinking_block_end=True)),
            chunk(delta(reasoning="second", reasoning_signature="sig-two")),
            chunk(delta(content="answer")),
        ],
        StreamAccumulator("anthropic", "anthropic-messages"),
    )
    message = acc.response().message
    assert message.thinking == (
        ThinkingBlock("first block", "sig-one", None, "anthropic", "anthropic-messages"),
        ThinkingBlock("", None, "ENCRYPTED", "anthropic", "anthropic-messages"),
        ThinkingBlock("second", "sig-two", None, "anthropic", "anthropic-messages"),
    )
    assert message.reasoning == "first block\n\nsecond"
    assert message.text() == "answer"
    check_event_grammar(events)
    ends = [e for e in events if isinstance(e, ev.ThinkingEndEvent)]
    assert [(e.content_index, e.content, e.signature) for e in ends] == [
        (0, "first block", "sig-one"),
        (1, "", None),
        (2, "second", "sig-two"),
    ]


def test_content_indexes_increase_across_block_kinds() -> None:
    acc, events = run(
        [
            chunk(delta(role=Role.ASSISTANT)),
            chunk(delta(reasoning="hmm")),
            chunk(delta(content="Calling.", reasoning=None)),
            chunk(delta(tool_calls=[tool(0, "c1", "f", '{"x": 1}')])),
            chunk(delta(tool_calls=[tool(1, "c2", "g", "{}")])),
            chunk(delta(content="Done.")),
            chunk(delta(finish="stop")),
        ]
    )
    check_event_grammar(events)
    starts = [(e.type, e.content_index) for e in events if e.type.endswith("_start")]
    assert starts == [
        ("thinking_start", 0),
        ("text_start", 1),
        ("tool_call_start", 2),
        ("tool_call_start", 3),
        ("text_start", 4),
    ]
    text_ends = [e.content for e in events if isinstance(e, ev.TextEndEvent)]
    assert text_ends == ["Calling.", "Done."]
    assert acc.response().text() == "Calling.Done."


def test_reasoning_and_content_in_one_chunk() -> None:
    _, events = run([chunk(delta(reasoning="r", content="c"))])
    assert [e.type for e in events] == [
        "thinking_start",
        "thinking_delta",
        "thinking_end",
        "text_start",
        "text_delta",
        "text_end",
    ]


def test_the_partial_answer_is_available_at_every_point() -> None:
    acc = StreamAccumulator()
    acc.feed(chunk(delta(content="Hel")))
    assert acc.response().text() == "Hel"
    acc.feed(chunk(delta(tool_calls=[tool(0, "c", "f", '{"a": [1, ')])))
    (call,) = acc.response().tool_calls()
    assert call.raw_arguments == '{"a": [1, '
    assert acc.chunks_seen == 2


# Random streams: whatever the order of text, reasoning and tool calls (each tool call's
# fragments contiguous, as OpenAI-style APIs send them), the events are well formed and the final
# message is the concatenation of what arrived.
piece = st.text(alphabet='ab{}":, ', min_size=1, max_size=4)
steps = st.lists(
    st.tuples(st.sampled_from(["content", "reasoning", "tool", "new_tool"]), piece), max_size=12
)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_random_streams_give_well_formed_events(script: list[tuple[str, str]]) -> None:
    chunks: list[ChatCompletionChunk] = []
    args: list[str] = []
    previous = ""
    for kind, text in script:
        if kind in ("content", "reasoning"):
            chunks.append(chunk(delta(**{kind: text})))
        elif kind == "tool" and previous in ("tool", "new_tool"):
            chunks.append(chunk(delta(tool_calls=[tool(len(args) - 1, args=text)])))
            args[-1] += text
        else:
            index = len(args)
            chunks.append(chunk(delta(tool_calls=[tool(index, f"c{index}", "f", text)])))
            args.append(text)
        previous = kind
    acc, events = run(chunks)
    check_event_grammar(events)
    message = acc.response().message
    assert message.text() == "".join(t for k, t in script if k == "content")
    reasoning = "".join(t for k, t in script if k == "reasoning")
    assert (message.reasoning or "").replace("\n\n", "") == reasoning.replace("\n\n", "")
    assert message.tool_calls == tuple(
        finish_tool_call(f"c{i}", "f", text) for i, text in enumerate(args)
    )
    if not script:
        assert events == []


# --- ThinkTagSplitter -------------------------------------------------------------------------


def feed_all(pieces: Iterable[str]) -> tuple[str, str]:
    splitter = ThinkTagSplitter()
    content, reasoning = "", ""
    for p in pieces:
        c, r = splitter.feed(p)
        content, reasoning = content + c, reasoning + r
    c, r = splitter.flush()
    return content + c, reasoning + r


def every_split(text: str) -> Iterable[list[str]]:
    """``text`` as 1, 2 and 3 pieces, at every split point (empty pieces included)."""
    n = len(text)
    yield [text]
    for i in range(n + 1):
        yield [text[:i], text[i:]]
        for j in range(i, n + 1):
            yield [text[:i], text[i:j], text[j:]]


@pytest.mark.parametrize(
    ("text", "content", "reasoning"),
    [
        ("<think>abc</think>\n\nanswer", "answer", "abc"),
        ("\n <think>abc</think>answer", "answer", "abc"),
        ("<think></think>\nanswer\n\nmore", "answer\n\nmore", ""),
        ("<think>a</thin b</think>ok", "ok", "a</thin b"),
        ("<think>x</think>\n\n", "", "x"),
    ],
)
def test_every_split_gives_the_same_answer(text: str, content: str, reasoning: str) -> None:
    for pieces in every_split(text):
        assert feed_all(pieces) == (content, reasoning), pieces


@pytest.mark.parametrize(
    "text",
    [
        "plain answer",
        "  leading spaces stay",
        "mentions <think> in the middle",
        "<thinking> is another word",
        "<thin",
        "",
        "answer </think> stray close tag",
    ],
)
def test_text_without_a_leading_think_tag_passes_through(text: str) -> None:
    for pieces in every_split(text):
        assert feed_all(pieces) == (text, ""), pieces


@pytest.mark.parametrize(
    ("text", "reasoning"),
    [("<think>abc", "abc"), ("<think>abc</thi", "abc</thi"), ("<think>", "")],
)
def test_unterminated_think_goes_to_reasoning_at_flush(text: str, reasoning: str) -> None:
    for pieces in every_split(text):
        assert feed_all(pieces) == ("", reasoning), pieces


def test_text_that_may_be_a_tag_is_held_back_until_decided() -> None:
    splitter = ThinkTagSplitter()
    assert splitter.feed("<th") == ("", "")
    assert splitter.feed("ink>rea") == ("", "rea")
    assert splitter.feed("son</thi") == ("", "son")
    assert splitter.feed("nk>\n") == ("", "")
    assert splitter.feed("\nanswer") == ("answer", "")
    assert splitter.flush() == ("", "")


def test_split_think_tags_on_a_complete_text() -> None:
    assert split_think_tags("<think>why</think>\n\nbecause") == ("because", "why")
    assert split_think_tags("no reasoning") == ("no reasoning", None)
    assert split_think_tags("<think>only thinking") == ("", "only thinking")


reasonings = st.text(alphabet="ab<>/thinkx\n ", max_size=15).filter(lambda s: "</think>" not in s)
answers = st.text(alphabet="ab<>/thinkx\n ", max_size=15).filter(lambda s: not s.startswith("\n"))


@settings(max_examples=300, deadline=None)
@given(reasonings, answers, st.lists(st.integers(0, 50), max_size=4))
def test_random_texts_split_anywhere(reasoning: str, answer: str, cuts: list[int]) -> None:
    text = f"<think>{reasoning}</think>\n\n{answer}"
    points = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    assert feed_all(pieces) == (answer, reasoning), pieces
