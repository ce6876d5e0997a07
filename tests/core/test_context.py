"""Context: building requests, and the JSON round-trip (property-tested) with typed load errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcore import (
    AudioPart,
    ChatCompletionRequest,
    ConfigurationError,
    Content,
    Context,
    DocumentPart,
    ImagePart,
    Message,
    MessageOrigin,
    Role,
    TextPart,
    ThinkingBlock,
    Tool,
    ToolCall,
)
from llmcore.context import CONTEXT_VERSION
from llmcore.serde import SerializationError

# --- strategies ---------------------------------------------------------------------------------
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_maybe_text = st.none() | _text
_b64 = st.binary(max_size=24).map(lambda b: base64.b64encode(b).decode("ascii"))
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=12,
)
_json_object = st.dictionaries(_text, _json, max_size=4)


def _media(cls: Any, **fields: Any) -> st.SearchStrategy[Any]:
    by_url = st.builds(cls, url=_text, data=st.none(), **fields)
    by_data = st.builds(cls, url=st.none(), data=_b64, **fields)
    return by_url | by_data


_parts = st.one_of(
    st.builds(TextPart, _text),
    _media(ImagePart, mime_type=_maybe_text, name=_maybe_text, detail=_maybe_text),
    _media(AudioPart, mime_type=_maybe_text, format=_maybe_text),
    _media(DocumentPart, mime_type=_maybe_text, name=_maybe_text),
)
_tool_calls = st.builds(
    ToolCall,
    id=_text,
    name=_text,
    arguments=_json_object,
    raw_arguments=_maybe_text,
    extra=_json_object,
)
_thinking = st.builds(
    ThinkingBlock,
    text=_text,
    signature=_maybe_text,
    redacted=_maybe_text,
    provider=_maybe_text,
    api=_maybe_text,
)
messages = st.builds(
    Message,
    role=st.sampled_from(Role),
    content=st.lists(_parts, max_size=4).map(lambda ps: Content(tuple(ps))),
    tool_calls=st.lists(_tool_calls, max_size=3),
    tool_call_id=_maybe_text,
    name=_maybe_text,
    reasoning=_maybe_text,
    thinking=st.lists(_thinking, max_size=3),
    is_error=st.booleans(),
    origin=st.none()
    | st.builds(
        MessageOrigin,
        provider=_text.filter(bool),
        api=_text.filter(bool),
        model=_maybe_text,
    ),
    provider_data=_json_object,
)
# Tools are checked on construction: a non-empty name and a valid object schema.
_property_schemas = st.sampled_from(
    [{}, {"type": "string"}, {"type": "integer", "minimum": 0}, {"type": "array", "items": {}}]
)
_object_schemas = st.builds(
    lambda props, extra: {**extra, "type": "object", "properties": props},
    st.dictionaries(_text, _property_schemas, max_size=3),
    st.dictionaries(st.sampled_from(["description", "title"]), _text, max_size=2),
)
tools = st.builds(
    Tool,
    name=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
    description=_maybe_text,
    parameters=_object_schemas,
    strict=st.none() | st.booleans(),
)
contexts = st.builds(
    Context,
    system_prompt=_maybe_text,
    messages=st.lists(messages, max_size=5),
    tools=st.lists(tools, max_size=3),
)


# --- round trip ---------------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(contexts)
def test_every_context_round_trips_through_json(context: Context) -> None:
    text = context.dumps()
    assert Context.loads(text) == context
    assert Context.loads(text.encode("utf-8")) == context
    assert Context.loads(context.dumps(indent=2)) == context
    # plain JSON, with the version and stable role / type tags
    data = json.loads(text)
    assert Context.from_dict(data) == context
    assert data["version"] == CONTEXT_VERSION
    assert set(data) == {"version", "system_prompt", "messages", "tools"}
    for message, original in zip(data["messages"], context.messages, strict=True):
        assert message["role"] == original.role.value
        assert [p["type"] for p in message["content"]["parts"]] == [
            p.type for p in original.content.parts
        ]


def test_images_are_stored_as_base64() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(16))
    context = Context(messages=[Message.user(Content.from_image_bytes(png, name="x.png"))])
    data = json.loads(context.dumps())
    (part,) = data["messages"][0]["content"]["parts"]
    assert part == {
        "type": "image",
        "url": None,
        "data": base64.b64encode(png).decode(),
        "mime_type": "image/png",
        "name": "x.png",
        "detail": None,
    }
    restored = Context.loads(context.dumps())
    assert restored.messages[0].content.images()[0].raw_bytes() == png


def test_known_document_layout() -> None:
    context = Context(
        "Be brief.",
        [
            Message.user("hi"),
            Message.assistant("", [ToolCall("call_1", "f", {"a": 1})]),
            Message.tool("call_1", "ok"),
        ],
        [Tool("f", "does f")],
    )
    data = json.loads(context.dumps())
    assert data["version"] == 1
    assert data["system_prompt"] == "Be brief."
    assert data["messages"][0] == {
        "role": "user",
        "content": {"parts": [{"type": "text", "text": "hi"}]},
        "tool_calls": [],
        "tool_call_id": None,
        "name": None,
        "reasoning": None,
        "thinking": [],
        "is_error": False,
        "origin": None,
        "provider_data": {},
    }
    assert data["messages"][1]["tool_calls"] == [
        {"id": "call_1", "name": "f", "arguments": {"a": 1}, "raw_arguments": None, "extra": {}}
    ]
    assert data["messages"][2]["role"] == "tool"
    assert data["messages"][2]["tool_call_id"] == "call_1"
    assert data["tools"] == [
        {
            "name": "f",
            "description": "does f",
            "parameters": {"type": "object", "properties": {}},
            "strict": None,
        }
    ]


# --- bad JSON ----------------------------------------------------------------------------------
GOOD = Context(
    "sys",
    [
        Message.user(Content.from_text("look") + Content.new_image("https://x/cat.png")),
        Message(
            Role.ASSISTANT,
            "ok",
            tool_calls=[ToolCall("call_1", "f", {"a": 1})],
            thinking=[ThinkingBlock("t", "sig", None, "anthropic", "anthropic-messages")],
        ),
        Message.tool("call_1", "done"),
    ],
    [Tool("f")],
).to_dict()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting ``path`` (dotted, with integer list indexes) to ``value``."""

    def mutate(data: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = data
        for key in head:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = data
        for key in head:
            node = node[int(key)] if key.isdigit() else node[key]
        del node[last]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (_set("messages.1.role", "robot"), "$.messages[1].role"),
        (_set("messages.1.role", 3), "$.messages[1].role"),
        (_drop("messages.2.role"), "$.messages[2].role"),
        (_set("messages.0.is_error", "false"), "$.messages[0].is_error"),
        (_set("messages.0.name", 5), "$.messages[0].name"),
        (_set("messages.0.content", "hi"), "$.messages[0].content"),
        (_set("messages.0.content.parts.1.type", "video"), "$.messages[0].content.parts[1]"),
        (_set("messages.0.content.parts.1.url", None), "$.messages[0].content.parts[1]"),
        (_set("messages.0.content.parts.0.text", ["a"]), "$.messages[0].content.parts[0].text"),
        (_set("messages.1.tool_calls.0.arguments", [1]), "$.messages[1].tool_calls[0].arguments"),
        (_drop("messages.1.tool_calls.0.id"), "$.messages[1].tool_calls[0].id"),
        (_set("messages.1.thinking.0.signature", 7), "$.messages[1].thinking[0].signature"),
        (_set("messages.1.thinking", "none"), "$.messages[1].thinking"),
        (_set("messages.1.origin", "openai"), "$.messages[1].origin"),
        (_set("messages.1.origin", {"provider": "openai"}), "$.messages[1].origin.api"),
        (_set("messages.1.origin", {"provider": 1, "api": "a"}), "$.messages[1].origin.provider"),
        (_set("messages.1.provider_data", [1]), "$.messages[1].provider_data"),
        (_set("messages", {}), "$.messages"),
        (_set("messages.2", "tool"), "$.messages[2]"),
        (_drop("tools.0.name"), "$.tools[0].name"),
        (_set("tools.0.strict", "yes"), "$.tools[0].strict"),
        (_set("system_prompt", 1), "$.system_prompt"),
        (_set("version", 2), "$.version"),
        (_drop("version"), "$.version"),
    ],
)
def test_bad_json_names_the_path_of_the_bad_field(
    mutate: Callable[[dict[str, Any]], None], path: str
) -> None:
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    with pytest.raises(SerializationError) as info:
        Context.loads(json.dumps(data))
    assert any(p.endswith(f"@ {path}") for p in info.value.paths), info.value.paths
    assert path in str(info.value)
    assert isinstance(info.value, ConfigurationError)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", '"context"'])
def test_not_a_context_document(text: str) -> None:
    with pytest.raises(SerializationError) as info:
        Context.loads(text)
    assert info.value.paths and "$" in info.value.paths[0]


def test_unknown_keys_are_ignored() -> None:
    data = json.loads(json.dumps(GOOD))
    data["saved_by"] = "app 1.2"
    data["messages"][0]["future_field"] = True
    assert Context.from_dict(data) == Context.from_dict(GOOD)


# --- building requests and growing ---------------------------------------------------------------
def test_to_request_puts_the_system_prompt_first_and_passes_tools_and_options() -> None:
    context = Context("Be brief.", [Message.user("hi")], [Tool("f")])
    request = context.to_request("gpt-4o", temperature=0.2, max_tokens=10)
    assert isinstance(request, ChatCompletionRequest)
    assert request.messages == (Message.system("Be brief."), Message.user("hi"))
    assert request.tools == (Tool("f"),)
    assert (request.model, request.temperature, request.max_tokens) == ("gpt-4o", 0.2, 10)


def test_to_request_without_system_prompt_or_tools() -> None:
    request = Context(messages=[Message.user("hi")]).to_request("m")
    assert request.messages == (Message.user("hi"),)
    assert request.tools is None
    assert (
        Context(tools=[Tool("f")], messages=[Message.user("x")]).to_request("m", tools=None).tools
        is None
    )


def test_append_returns_a_new_context() -> None:
    empty = Context("s")
    one = empty.append(Message.user("a"))
    two = one.append(Message.assistant("b"), Message.user("c"))
    assert empty.messages == ()
    assert [m.text() for m in two.messages] == ["a", "b", "c"]
    assert two.system_prompt == "s"


def test_lists_become_tuples_and_wrong_items_are_rejected() -> None:
    context = Context(messages=[Message.user("a")], tools=[Tool("f")])
    assert isinstance(context.messages, tuple) and isinstance(context.tools, tuple)
    with pytest.raises(ConfigurationError, match=r"messages\[0\]"):
        Context(messages=["hi"])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match=r"tools\[0\]"):
        Context(tools=[{"name": "f"}])  # type: ignore[list-item]


# --- origin and provider data -------------------------------------------------------------------
def test_origin_and_provider_data_are_stored_and_loaded_back() -> None:
    answer = Message(
        Role.ASSISTANT,
        "ok",
        reasoning="because",
        origin=MessageOrigin("deepseek", "openai-chat", "deepseek-reasoner"),
        provider_data={"annotations": [{"type": "url_citation", "url": "https://a.example"}]},
    )
    context = Context(None, [Message.user("q"), answer])
    data = json.loads(context.dumps())
    assert data["messages"][1]["origin"] == {
        "provider": "deepseek",
        "api": "openai-chat",
        "model": "deepseek-reasoner",
    }
    assert data["messages"][1]["provider_data"] == answer.provider_data
    assert Context.loads(context.dumps()) == context


def test_a_context_saved_before_origins_loads_with_none_and_empty_data() -> None:
    data = json.loads(json.dumps(GOOD))
    for message in data["messages"]:
        del message["origin"], message["provider_data"]
    loaded = Context.from_dict(data)
    assert all(m.origin is None and m.provider_data == {} for m in loaded.messages)
