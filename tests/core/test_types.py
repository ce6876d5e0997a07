"""Value types: construction, validation, media sniffing, and exact JSON round-trips (serde)."""

from __future__ import annotations

import base64
import json
import struct
import wave
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcore import (
    AudioPart,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    ChunkChoice,
    ConfigurationError,
    Content,
    Delta,
    DocumentPart,
    ImagePart,
    Message,
    MessageOrigin,
    ModelInfo,
    ReasoningEffort,
    Role,
    StopReason,
    TextPart,
    ThinkingBlock,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
    serde,
)
from llmcore.serde import SerializationError

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 8
GIF = b"GIF89a" + b"\x01\x00\x01\x00" + b"\x00" * 8
WEBP = b"RIFF" + struct.pack("<I", 20) + b"WEBPVP8 " + b"\x00" * 12


# --- construction and validation --------------------------------------------------------------


def test_role_from_its_wire_string() -> None:
    assert Role("user") is Role.USER
    assert Message("assistant").role is Role.ASSISTANT
    assert str(Role.TOOL) == "tool"
    with pytest.raises(ValueError):
        Role("bogus")
    with pytest.raises(ConfigurationError, match="role"):
        Message("narrator", "hi")


@pytest.mark.parametrize("model", ["", None, 3])
def test_request_needs_a_model(model: Any) -> None:
    with pytest.raises(ConfigurationError, match="model"):
        ChatCompletionRequest(model, [Message.user("hi")])


def test_request_messages_must_be_messages() -> None:
    with pytest.raises(ConfigurationError, match=r"messages\[1\]"):
        ChatCompletionRequest("m", [Message.user("hi"), {"role": "user"}])  # type: ignore[list-item]


def test_request_normalises_its_options() -> None:
    request = ChatCompletionRequest(
        "m",
        [Message.user("hi")],
        stop="END",
        tools=[Tool("f")],
        reasoning_effort="high",
        extra=None,  # type: ignore[arg-type]
    )
    assert request.messages == (Message.user("hi"),)
    assert request.stop == ("END",)
    assert request.tools == (Tool("f"),)
    assert request.reasoning_effort is ReasoningEffort.HIGH
    assert request.extra == {}
    assert ChatCompletionRequest.new("m", iter([Message.user("x")])).messages[0].text() == "x"
    with pytest.raises(ConfigurationError, match="reasoning_effort"):
        ChatCompletionRequest("m", [Message.user("hi")], reasoning_effort="extreme")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("auto", ToolChoice("auto")),
        ("none", ToolChoice("none")),
        ("required", ToolChoice("required")),
        ("get_weather", ToolChoice("tool", "get_weather")),
        (ToolChoice.tool("x"), ToolChoice("tool", "x")),
        (None, None),
    ],
)
def test_tool_choice_strings_convert(value: Any, expected: ToolChoice | None) -> None:
    request = ChatCompletionRequest("m", [Message.user("hi")], tool_choice=value)
    assert request.tool_choice == expected


def test_tool_choice_rejects_unknown_modes() -> None:
    with pytest.raises(ConfigurationError, match="mode"):
        ToolChoice("sometimes")


def test_message_constructors() -> None:
    assert Message.system("be brief") == Message(Role.SYSTEM, Content.from_text("be brief"))
    call = ToolCall("c1", "f", {"a": 1})
    assert Message.assistant("", [call]).tool_calls == (call,)
    result = Message.tool("c1", "42", name="f", is_error=True)
    assert (result.role, result.tool_call_id, result.name, result.is_error) == (
        Role.TOOL,
        "c1",
        "f",
        True,
    )
    assert Message(Role.USER).text() == ""
    assert Message(Role.USER, ["a", TextPart("b")]).text() == "ab"


def test_reasoning_any_prefers_reasoning_then_thinking_blocks() -> None:
    blocks = (ThinkingBlock("one"), ThinkingBlock(""), ThinkingBlock("two"))
    assert Message(Role.ASSISTANT, thinking=blocks).reasoning_any() == "one\n\ntwo"
    assert Message(Role.ASSISTANT, reasoning="r", thinking=blocks).reasoning_any() == "r"
    assert Message(Role.ASSISTANT).reasoning_any() is None


# --- content ----------------------------------------------------------------------------------


def test_text_content() -> None:
    content = Content.from_text("hello")
    assert content.as_text() == "hello" and str(content) == "hello"
    assert content.is_text() and not content.has_media()
    assert not Content.from_text("") and not Content()


def test_new_image_with_an_http_url() -> None:
    content = Content.new_image("https://example.com/cat.png", "image/png", "cat", detail="low")
    (part,) = content.parts
    assert isinstance(part, ImagePart)
    assert (part.url, part.data, part.mime_type, part.name, part.detail) == (
        "https://example.com/cat.png",
        None,
        "image/png",
        "cat",
        "low",
    )
    assert part.data_url() == "https://example.com/cat.png"
    assert content.has_media() and content.as_text() == ""
    with pytest.raises(ConfigurationError):
        part.raw_bytes()


def test_new_image_with_a_data_url_is_split_into_mime_and_data() -> None:
    data = base64.b64encode(PNG).decode()
    (part,) = Content.new_image(f"data:image/png;base64,{data}").parts
    assert isinstance(part, ImagePart)
    assert (part.url, part.data, part.mime_type) == (None, data, "image/png")
    assert part.raw_bytes() == PNG
    assert part.data_url() == f"data:image/png;base64,{data}"


@pytest.mark.parametrize(
    "url",
    ["data:image/png,rawtext", "data:image/png;base64,@@not base64@@", None],
)
def test_new_image_rejects_bad_urls(url: str | None) -> None:
    with pytest.raises(ConfigurationError):
        Content.new_image(url)


@pytest.mark.parametrize(
    ("data", "mime"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_image_bytes_are_sniffed(data: bytes, mime: str) -> None:
    (part,) = Content.from_image_bytes(data).parts
    assert isinstance(part, ImagePart)
    assert part.mime_type == mime
    assert part.raw_bytes() == data


def test_the_file_name_does_not_decide_the_mime_type(tmp_path: Path) -> None:
    misnamed = tmp_path / "photo.jpg"
    misnamed.write_bytes(PNG)
    (part,) = Content.from_image_file(misnamed).parts
    assert isinstance(part, ImagePart)
    assert part.mime_type == "image/png"
    assert part.name == "photo.jpg"
    assert part.data_url().startswith("data:image/png;base64,")


@pytest.mark.parametrize("data", [b"plain text, not an image", b"", b"%PDF-1.4\n", b"ID3\x03"])
def test_non_image_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(ConfigurationError, match="not a recognised image"):
        Content.from_image_bytes(data)


def test_missing_media_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        Content.from_image_file(tmp_path / "nope.png")


def test_wav_audio_file(tmp_path: Path) -> None:
    path = tmp_path / "sound.bin"  # the extension is irrelevant here too
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 80)
    (part,) = Content.from_audio_file(path).parts
    assert isinstance(part, AudioPart)
    assert (part.mime_type, part.format) == ("audio/wav", "wav")
    assert base64.b64decode(part.data or "") == path.read_bytes()
    with pytest.raises(ConfigurationError):
        Content.from_audio_bytes(PNG)


def test_audio_by_url_and_base64() -> None:
    (part,) = Content.new_audio("https://example.com/a.mp3", "audio/mpeg").parts
    assert isinstance(part, AudioPart) and part.format == "mp3"
    (inline,) = Content.from_audio_base64(base64.b64encode(b"abc").decode(), "wav").parts
    assert isinstance(inline, AudioPart) and inline.mime_type == "audio/wav"


@pytest.mark.parametrize("cls", [ImagePart, AudioPart, DocumentPart])
def test_media_parts_need_exactly_one_source(cls: type[Any]) -> None:
    with pytest.raises(ConfigurationError):
        cls()
    with pytest.raises(ConfigurationError):
        cls(url="https://x", data="eA==")


def test_plus_joins_contents_in_order() -> None:
    image = Content.from_image_bytes(PNG)
    joined = Content.from_text("What is this? ") + image + "Answer briefly."
    assert [type(p) for p in joined.parts] == [TextPart, ImagePart, TextPart]
    assert joined.as_text() == "What is this? Answer briefly."
    assert joined.images() == image.parts
    with pytest.raises(TypeError):
        _ = Content.from_text("x") + 3  # type: ignore[operator]
    with pytest.raises(ConfigurationError):
        Content.from_parts([3])  # type: ignore[list-item]


# --- usage and chunks -------------------------------------------------------------------------


def test_usage_of_computes_the_total_unless_given() -> None:
    assert Usage.of(10, 5) == Usage(10, 5, 15)
    assert Usage.of(10, 5, total_tokens=99).total_tokens == 99
    assert Usage.of(reasoning_tokens=3).reasoning_tokens == 3


def test_usage_adds_field_by_field() -> None:
    a = Usage.of(10, 5, cached_tokens=2, reasoning_tokens=1)
    b = Usage.of(1, 2, cache_write_tokens=4)
    assert a + b == Usage(11, 7, 18, 2, 4, 1)
    with pytest.raises(TypeError):
        _ = a + 1  # type: ignore[operator]


def test_chunk_shortcuts() -> None:
    first = ChatCompletionChunk("c", "m", [ChunkChoice(0, Delta(role=Role.ASSISTANT))])
    middle = ChatCompletionChunk("c", "m", [ChunkChoice(0, Delta(content="Hi", reasoning="r"))])
    last = ChatCompletionChunk("c", "m", [ChunkChoice(0, Delta(), "stop", StopReason.STOP)])
    usage_only = ChatCompletionChunk("c", "m", [], Usage.of(1, 1))
    assert (first.role(), first.text(), first.finish_reason()) == (Role.ASSISTANT, None, None)
    assert (middle.text(), middle.reasoning(), middle.role()) == ("Hi", "r", None)
    assert last.finish_reason() == "stop" and last.text() is None
    for shortcut in (usage_only.text, usage_only.role, usage_only.finish_reason):
        assert shortcut() is None


def test_response_shortcuts() -> None:
    call = ToolCall("c1", "f", {})
    message = Message(Role.ASSISTANT, "hi", tool_calls=[call], reasoning="why")
    response = ChatCompletionResponse("r", "m", [Choice(0, message, "stop", StopReason.STOP)])
    assert response.text() == "hi" and response.message is message
    assert response.tool_calls() == (call,) and response.reasoning() == "why"
    assert (response.finish_reason, response.stop_reason) == ("stop", StopReason.STOP)
    empty = ChatCompletionResponse(None, None, [])
    assert empty.text() == "" and empty.message.role is Role.ASSISTANT
    assert empty.finish_reason is None and empty.stop_reason is None


# --- exact JSON round-trips -------------------------------------------------------------------

text = st.text(max_size=12)
opt_text = st.none() | text
b64 = st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode("ascii"))
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=10,
)
json_objects = st.dictionaries(text, json_values, max_size=4)
counts = st.integers(min_value=0, max_value=2**40)


def _media(cls: type[Any], **fields: Any) -> Any:
    return st.one_of(
        st.builds(cls, url=text, data=st.none(), **fields),
        st.builds(cls, url=st.none(), data=b64, **fields),
    )


parts = st.one_of(
    st.builds(TextPart, text),
    _media(ImagePart, mime_type=opt_text, name=opt_text, detail=opt_text),
    _media(AudioPart, mime_type=opt_text, format=opt_text),
    _media(DocumentPart, mime_type=opt_text, name=opt_text),
)
contents = st.lists(parts, max_size=4).map(Content.from_parts)
tool_calls = st.builds(
    ToolCall,
    id=text,
    name=text,
    arguments=json_objects,
    raw_arguments=opt_text,
    extra=json_objects,
)
thinking_blocks = st.builds(
    ThinkingBlock, text=text, signature=opt_text, redacted=opt_text, provider=opt_text, api=opt_text
)
nonempty = st.text(min_size=1, max_size=12)
origins = st.builds(MessageOrigin, provider=nonempty, api=nonempty, model=opt_text)
messages = st.builds(
    Message,
    role=st.sampled_from(Role),
    content=contents,
    tool_calls=st.lists(tool_calls, max_size=2),
    tool_call_id=opt_text,
    name=opt_text,
    reasoning=opt_text,
    thinking=st.lists(thinking_blocks, max_size=2),
    is_error=st.booleans(),
    origin=st.none() | origins,
    provider_data=json_objects,
)
# Tools are checked on construction: a non-empty name and a valid object schema.
property_schemas = st.sampled_from(
    [{}, {"type": "string"}, {"type": "integer", "minimum": 0}, {"type": "array", "items": {}}]
)
object_schemas = st.builds(
    lambda props, extra: {**extra, "type": "object", "properties": props},
    st.dictionaries(text, property_schemas, max_size=3),
    st.dictionaries(st.sampled_from(["description", "title"]), text, max_size=2),
)
tools = st.builds(
    Tool,
    name=st.text(min_size=1, max_size=12),
    description=opt_text,
    parameters=object_schemas,
    strict=st.none() | st.booleans(),
)
tool_choices = st.one_of(
    st.sampled_from(["auto", "none", "required"]).map(ToolChoice),
    st.text(min_size=1, max_size=12).map(ToolChoice.tool),
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


requests = st.builds(
    ChatCompletionRequest,
    model=st.text(min_size=1, max_size=12),
    messages=st.lists(messages, min_size=1, max_size=3),
    temperature=maybe(st.floats(0, 2)),
    top_p=maybe(st.floats(0, 1)),
    max_tokens=maybe(st.integers(min_value=1, max_value=2**40)),
    stop=maybe(st.lists(text, max_size=3)),
    tools=maybe(st.lists(tools, max_size=2)),
    tool_choice=maybe(tool_choices),
    response_format=maybe(json_objects),
    seed=maybe(st.integers(-(2**63), 2**63 - 1)),
    user=opt_text,
    reasoning_effort=maybe(st.sampled_from(ReasoningEffort)),
    reasoning_budget=maybe(counts),
    # "n", "presence_penalty"... are checked like typed options; random values would not pass.
    extra=json_objects.filter(lambda d: "n" not in d),
)
usages = st.builds(
    Usage, counts, counts, counts, counts, counts, counts, provider_data=json_objects
)
stop_reasons = maybe(st.sampled_from(StopReason))
responses = st.builds(
    ChatCompletionResponse,
    id=opt_text,
    model=opt_text,
    choices=st.lists(
        st.builds(
            Choice,
            index=counts,
            message=messages,
            finish_reason=opt_text,
            stop_reason=stop_reasons,
            provider_data=json_objects,
        ),
        max_size=2,
    ),
    usage=maybe(usages),
    provider=opt_text,
    created=maybe(counts),
    provider_data=json_objects,
)
tool_call_deltas = st.builds(
    ToolCallDelta,
    index=counts,
    id=opt_text,
    name=opt_text,
    arguments=opt_text,
    extra=maybe(json_objects),
    end=st.booleans(),
)
deltas = st.builds(
    Delta,
    role=maybe(st.sampled_from(Role)),
    content=opt_text,
    reasoning=opt_text,
    tool_calls=st.lists(tool_call_deltas, max_size=2),
    reasoning_signature=opt_text,
    reasoning_redacted=opt_text,
    thinking_block_end=st.booleans(),
    block_end=st.booleans(),
    provider_data=json_objects,
)
chunks = st.builds(
    ChatCompletionChunk,
    id=opt_text,
    model=opt_text,
    choices=st.lists(
        st.builds(
            ChunkChoice,
            index=counts,
            delta=deltas,
            finish_reason=opt_text,
            stop_reason=stop_reasons,
            provider_data=json_objects,
        ),
        max_size=2,
    ),
    usage=maybe(usages),
    provider_data=json_objects,
)
model_infos = st.builds(
    ModelInfo, id=text, created=maybe(counts), owned_by=opt_text, extra=json_objects
)


def _round_trip(value: Any) -> None:
    cls = type(value)
    dumped = serde.dumps(value)
    json.loads(dumped)  # plain JSON
    loaded = serde.loads(dumped, cls)
    assert loaded == value
    assert type(loaded) is cls
    assert serde.dumps(loaded) == dumped
    assert serde.from_dict(serde.to_dict(value), cls) == value


@settings(max_examples=80, deadline=None)
@given(messages)
def test_messages_round_trip(message: Message) -> None:
    _round_trip(message)


@settings(max_examples=50, deadline=None)
@given(requests)
def test_requests_round_trip(request: ChatCompletionRequest) -> None:
    _round_trip(request)


@settings(max_examples=50, deadline=None)
@given(responses)
def test_responses_round_trip(response: ChatCompletionResponse) -> None:
    _round_trip(response)


@settings(max_examples=100, deadline=None)
@given(chunks)
def test_chunks_round_trip(chunk: ChatCompletionChunk) -> None:
    _round_trip(chunk)


@settings(max_examples=50, deadline=None)
@given(
    st.one_of(
        contents, tool_calls, thinking_blocks, tools, tool_choices, usages, model_infos, origins
    )
)
def test_smaller_values_round_trip(value: Any) -> None:
    _round_trip(value)


def test_content_parts_are_tagged_by_type() -> None:
    content = (
        Content.from_text("a")
        + Content.new_image("https://x/i.png")
        + Content.new_audio("https://x/a.wav", "audio/wav")
    )
    data = serde.to_dict(content)
    assert [p["type"] for p in data["parts"]] == ["text", "image", "audio"]
    assert serde.from_dict({"parts": [{"text": "untagged"}]}, Content) == Content.from_text(
        "untagged"
    )
    assert serde.to_dict(Message.user("x"))["role"] == "user"


# --- loading bad JSON -------------------------------------------------------------------------


def _request_json() -> dict[str, Any]:
    request = ChatCompletionRequest(
        "m", [Message.user("a"), Message.assistant("b", [ToolCall("c", "f", {"x": 1})])]
    )
    return json.loads(serde.dumps(request))  # type: ignore[no-any-return]


def _break(path: list[Any], value: Any) -> dict[str, Any]:
    data = _request_json()
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["messages", 1, "role"], "narrator", "$.messages[1].role"),
        (["model"], KeyError, "$.model"),
        (["max_tokens"], "ten", "$.max_tokens"),
        (["reasoning_effort"], "extreme", "$.reasoning_effort"),
        (["messages", 1, "tool_calls", 0, "name"], KeyError, "$.messages[1].tool_calls[0].name"),
        (["messages", 0, "content", "parts", 0, "type"], "video", "$.messages[0].content.parts[0]"),
        (
            ["messages", 0, "content", "parts", 0],
            {"type": "image"},
            "$.messages[0].content.parts[0]",
        ),
        (["messages", 0], 5, "$.messages[0]"),
    ],
)
def test_bad_json_names_the_bad_field(path: list[Any], value: Any, where: str) -> None:
    text = json.dumps(_break(path, value))
    with pytest.raises(SerializationError) as info:
        serde.loads(text, ChatCompletionRequest)
    assert any(p.endswith(f"@ {where}") for p in info.value.paths), info.value.paths
    assert where in str(info.value)
    assert isinstance(info.value, ConfigurationError)


@pytest.mark.parametrize("text", ["{", "", "not json", b"\xff\xfe"])
def test_text_that_is_not_json(text: str | bytes) -> None:
    with pytest.raises(SerializationError, match="not JSON") as info:
        serde.loads(text, Message)
    assert info.value.paths


@pytest.mark.parametrize("text", ["null", "[]", '"x"', "3"])
def test_json_of_the_wrong_shape(text: str) -> None:
    with pytest.raises(SerializationError) as info:
        serde.loads(text, ChatCompletionRequest)
    assert info.value.paths
