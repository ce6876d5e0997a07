"""Bad input fails fast, typed, naming the field: requests, messages, parts, tools, options."""

from __future__ import annotations

import base64
import math
import pickle
import traceback
from typing import Any

import pytest

import llmcore
import llmcore_openai
from llmcore import (
    AudioPart,
    ChatCompletionRequest,
    Client,
    ConfigurationError,
    ConnectionOptions,
    Content,
    HttpRequest,
    InvalidInputError,
    Message,
    Plugins,
    Provider,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    hookimpl,
    serde,
)
from llmcore.testing import register_faux_provider
from llmcore_openai import openai_compatible

HI = Message.user("hi")
NAN = float("nan")
INF = float("inf")


def raises_at(field: str, call: Any, *args: Any, **kwargs: Any) -> InvalidInputError:
    """``call(...)`` raises an InvalidInputError whose path is ``field``."""
    with pytest.raises(InvalidInputError) as info:
        call(*args, **kwargs)
    err = info.value
    assert isinstance(err, ConfigurationError) and not err.is_retryable()
    assert err.field == field, str(err)
    assert str(err).startswith(f"{field}: "), str(err)
    return err


# --- the error class ------------------------------------------------------------------------


def test_invalid_input_error_is_an_exported_configuration_error() -> None:
    assert llmcore.InvalidInputError is InvalidInputError
    assert issubclass(InvalidInputError, ConfigurationError)
    err = InvalidInputError.at("messages[2].content", "expected a str")
    assert (err.field, err.reason, str(err)) == (
        "messages[2].content",
        "expected a str",
        "messages[2].content: expected a str",
    )
    clone = pickle.loads(pickle.dumps(err))
    assert (type(clone), clone.field, clone.reason) == (InvalidInputError, err.field, err.reason)
    assert str(err.within("x")) == "x.messages[2].content: expected a str"
    assert InvalidInputError.at("[1]", "bad").within("stop").field == "stop[1]"


# --- messages of a request ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        (None, "messages"),
        ([], "messages"),
        ((), "messages"),
        ("hi", "messages"),
        ({"role": "user", "content": "hi"}, "messages"),
        (["hi"], "messages[0]"),
        ([{"role": "user"}], "messages[0]"),
        ([HI, HI, 3], "messages[2]"),
    ],
)
def test_messages_must_be_a_non_empty_list_of_messages(messages: Any, field: str) -> None:
    raises_at(field, ChatCompletionRequest, "m", messages)


def test_new_reports_the_same_errors() -> None:
    raises_at("messages", ChatCompletionRequest.new, "m", None)
    raises_at("messages[1]", ChatCompletionRequest.new, "m", iter([HI, "x"]))


def test_a_large_offending_value_is_described_not_shown() -> None:
    err = raises_at("messages", ChatCompletionRequest, "m", "y" * 10_000)
    assert "yyyy" not in str(err) and "10000 characters" in str(err)
    short = raises_at("messages[0]", ChatCompletionRequest, "m", ["hello"])
    assert "'hello'" in str(short)


@pytest.mark.parametrize("model", [None, "", 3, b"m"])
def test_model_must_be_a_non_empty_string(model: Any) -> None:
    raises_at("model", ChatCompletionRequest, model, [HI])


# --- messages and content -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["usr", "USER", "", None, 1])
def test_unknown_roles_are_refused(role: Any) -> None:
    err = raises_at("role", Message, role, "x")
    assert "user" in str(err)  # lists the valid roles
    assert Message("user", "x").role is Role.USER


@pytest.mark.parametrize(
    "content",
    [{"text": "x"}, {"type": "text", "text": "x"}, 3, 1.5, b"bytes", {"a", "b"}, object()],
)
def test_content_of_the_wrong_type_is_refused(content: Any) -> None:
    raises_at("content", Message.user, content)
    raises_at("content", Message, Role.ASSISTANT, content)


def test_a_dict_is_never_read_as_parts() -> None:
    raises_at("content", Message.user, {"text": "x"})
    raises_at("parts", Content, {"text": "x"})
    raises_at("parts", Content.from_parts, {"text": "x"})


def test_parts_that_are_not_parts_name_their_index() -> None:
    raises_at("content[1]", Message.user, ["ok", 3])
    raises_at("content[0]", Message.user, [{"type": "text", "text": "x"}])
    raises_at("parts[2]", Content, ("a", "b", None))


def test_none_content_where_a_turn_needs_content() -> None:
    raises_at("content", Message.user, None)
    raises_at("content", Message.system, None)
    raises_at("content", Message.tool, "call_1", None)
    assert Message(Role.ASSISTANT, None).content == Content()  # no content is fine here


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: TextPart(3), "text"),
        (lambda: TextPart("x", type="image"), "type"),
        (lambda: AudioPart(url=5), "url"),
        (lambda: Message(Role.USER, "x", name=3), "name"),
        (lambda: Message(Role.TOOL, "x", tool_call_id=7), "tool_call_id"),
        (lambda: Message(Role.USER, "x", is_error=1), "is_error"),
        (lambda: Message(Role.ASSISTANT, "x", tool_calls=[{"id": "c"}]), "tool_calls[0]"),
        (lambda: Message(Role.ASSISTANT, "x", tool_calls="call"), "tool_calls"),
        (lambda: Message(Role.ASSISTANT, "x", thinking=["t"]), "thinking[0]"),
        (lambda: Message.tool(None, "x"), "tool_call_id"),
    ],
)
def test_message_and_part_fields_are_typed(build: Any, field: str) -> None:
    raises_at(field, build)


# --- request options ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("temperature", NAN),
        ("temperature", INF),
        ("temperature", -0.1),
        ("temperature", "0.5"),
        ("temperature", True),
        ("top_p", 1.5),
        ("top_p", -INF),
        ("top_p", NAN),
        ("max_tokens", True),
        ("max_tokens", 0),
        ("max_tokens", 1.0),
        ("max_tokens", "100"),
        ("seed", 1.5),
        ("seed", False),
        ("seed", 2**64),
        ("user", 5),
        ("reasoning_budget", -1),
        ("reasoning_budget", True),
        ("response_format", "json"),
        ("reasoning_effort", "extreme"),
        ("tool_choice", 5),
        ("tool_choice", ""),
        ("tools", "f"),
        ("stop", 5),
        ("extra", ["a"]),
    ],
)
def test_typed_options_check_type_and_range(option: str, value: Any) -> None:
    err = raises_at(option, ChatCompletionRequest, "m", [HI], **{option: value})
    assert option in str(err)


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("stop", [1], "stop[0]"),
        ("stop", ["a", None], "stop[1]"),
        ("tools", [Tool("f"), {"name": "g"}], "tools[1]"),
        ("response_format", {"schema": {1, 2}}, "response_format['schema']"),
        ("extra", {"n": True}, "extra['n']"),
        ("extra", {"n": 0}, "extra['n']"),
        ("extra", {"presence_penalty": 2.5}, "extra['presence_penalty']"),
        ("extra", {"frequency_penalty": NAN}, "extra['frequency_penalty']"),
        ("extra", {"logit_bias": {"50256": INF}}, "extra['logit_bias']['50256']"),
        ("extra", {"metadata": object()}, "extra['metadata']"),
        ("extra", {"tags": {"a"}}, "extra['tags']"),
        ("extra", {1: "x"}, "extra"),
    ],
)
def test_nested_option_values_name_their_path(option: str, value: Any, field: str) -> None:
    raises_at(field, ChatCompletionRequest, "m", [HI], **{option: value})


def test_with_options_checks_too() -> None:
    request = ChatCompletionRequest("m", [HI])
    raises_at("temperature", request.with_options, temperature=NAN)
    raises_at("messages", request.with_options, messages=[])


def test_valid_options_are_kept() -> None:
    request = ChatCompletionRequest(
        "m",
        [HI],
        temperature=0,
        top_p=1,
        max_tokens=1,
        seed=-(2**63),
        stop=["a", ""],
        tool_choice="get_weather",
        response_format={"type": "json_object"},
        reasoning_budget=0,
        extra={"n": 2, "presence_penalty": -2.0, "logit_bias": {"1": 5}, "x": (1, None)},
    )
    assert request.temperature == 0 and request.stop == ("a", "")
    assert request.tool_choice == ToolChoice.tool("get_weather")


def test_tool_choice_itself() -> None:
    raises_at("mode", ToolChoice, "sometimes")
    raises_at("name", ToolChoice, "tool")
    raises_at("name", ToolChoice.tool, "")
    raises_at("name", ToolChoice, "auto", "f")


# --- tool calls and tools -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"x": {1, 2}}, "arguments['x']"),
        ({"x": object()}, "arguments['x']"),
        ({"x": [1, NAN]}, "arguments['x'][1]"),
        ({"x": {"y": INF}}, "arguments['x']['y']"),
        ({2: "x"}, "arguments"),
        ([("x", 1)], "arguments"),
        ("{}", "arguments"),
    ],
)
def test_tool_call_arguments_must_be_json(arguments: Any, field: str) -> None:
    raises_at(field, ToolCall, "call_1", "f", arguments)


def test_tool_call_extra_and_fields() -> None:
    raises_at("extra['sig']", ToolCall, "c", "f", {}, extra={"sig": b"bytes"})
    raises_at("id", ToolCall, None, "f")
    raises_at("name", ToolCall, "c", 5)
    raises_at("raw_arguments", ToolCall, "c", "f", raw_arguments={"a": 1})
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    err = raises_at("arguments" + "['self']" * 200, ToolCall, "c", "f", cyclic)
    assert "contains itself" in str(err)


@pytest.mark.parametrize("text", ['{"x": NaN}', '{"x": [Infinity]}', '{"x": -Infinity}'])
def test_model_arguments_that_are_not_json_are_kept_raw(text: str) -> None:
    call = llmcore.finish_tool_call("call_1", "f", text)  # a model's output never raises
    assert (call.arguments, call.raw_arguments) == ({}, text)


@pytest.mark.parametrize("name", ["", None, 5])
def test_tool_names_must_be_non_empty_strings(name: Any) -> None:
    raises_at("name", Tool, name)


@pytest.mark.parametrize(
    "parameters",
    [
        {},
        {"type": "string"},
        {"type": ["object", "null"]},
        {"properties": {"a": {"type": "string"}}},
        "object",
        ["type", "object"],
        {"type": "object", "properties": {"a": {"type": "nope"}}},
        {"type": "object", "required": "a"},
    ],
)
def test_tool_parameters_must_be_a_valid_object_schema(parameters: Any) -> None:
    err = raises_at("parameters", Tool, "lookup", "d", parameters)
    if isinstance(parameters, dict) and parameters.get("type") == "object":
        assert "tool 'lookup'" in str(err)


def test_valid_tools_and_draft_specific_schemas_load() -> None:
    Tool("f")
    Tool("f", parameters={"type": "object", "properties": {"x": {"type": "integer"}}})
    draft7 = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"pair": {"type": "array", "items": [{"type": "integer"}]}},
    }
    Tool("pair", parameters=draft7)
    nan = {"type": "object", "properties": {"a": {"minimum": NAN}}}
    raises_at("parameters['properties']['a']['minimum']", Tool, "f", parameters=nan)
    raises_at(
        "parameters", Tool, "pair", parameters={k: v for k, v in draft7.items() if k[0] != "$"}
    )
    raises_at("strict", Tool, "f", strict="yes")
    raises_at("description", Tool, "f", 5)


# --- loading JSON gives the typed error ------------------------------------------------------


def test_loading_invalid_data_gives_a_configuration_error() -> None:
    good = serde.dumps(ChatCompletionRequest("m", [HI], temperature=0.5))
    assert serde.loads(good, ChatCompletionRequest) == ChatCompletionRequest(
        "m", [HI], temperature=0.5
    )
    bad_role = good.replace('"role": "user"', '"role": "usr"')
    for text in (
        bad_role,
        good.replace('"temperature": 0.5', '"temperature": NaN'),
        good.replace('"temperature": 0.5', '"temperature": -3'),
    ):
        with pytest.raises(ConfigurationError):
            serde.loads(text, ChatCompletionRequest)
    with pytest.raises(ConfigurationError, match="role"):
        serde.loads(serde.dumps(HI).replace('"user"', '"usr"'), Message)


# --- the client: configuration and quick_chat_text ------------------------------------------

LOCAL = "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    "base_url",
    [
        "",
        "localhost:8080",
        "127.0.0.1:8080/v1",
        "//localhost:8080",
        "ftp://host/v1",
        "http://",
        "https:///v1",
        "http://local host:8080",
        "http://localhost:8080/v1 ",
        " http://localhost:8080",
        "http://localhost:8080/v1\n",
        "http://localhost:99999",
        5,
    ],
)
def test_bad_base_urls_fail_at_client(base_url: Any) -> None:
    raises_at("base_url", Client, "openai-compatible", base_url=base_url, api_key="k")


def test_a_bad_provider_base_url_fails_at_client() -> None:
    provider = Provider(name="p", api="openai-chat", base_url="localhost:1234", key_required=False)
    err = raises_at("base_url (of provider 'p')", Client, provider)
    assert "http://" in str(err)


def test_memory_scheme_base_urls_stay_valid() -> None:
    plugins = Plugins(load_entrypoints=False)
    faux = register_faux_provider("validation-faux", plugins=plugins)
    faux.add_reply(text="hello")
    client = Client("validation-faux", plugins=plugins)
    assert client.provider.base_url == "faux-validation-faux://local"
    assert client.quick_chat_text("faux-1", "hi") == "hello"
    # An unregistered scheme is not one.
    raises_at("base_url", Client, "validation-faux", plugins=plugins, base_url="faux-nope://x")


KEY = "sk-validation-secret-123456"


@pytest.mark.parametrize(
    "key",
    [KEY + "\r\nX-Evil: 1", KEY + "\n", " " + KEY, KEY + "\x00", KEY + "é€", "ключ-" + KEY],
)
def test_bad_api_keys_fail_at_client_without_showing_the_key(key: str) -> None:
    err = raises_at("api_key", Client, "openai-compatible", base_url=LOCAL, api_key=key)
    text = "".join(traceback.format_exception(err)) + repr(err) + str(err)
    assert KEY not in text and key.strip() not in text


def test_a_bad_key_from_the_environment_names_the_variable(monkeypatch: Any) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY + "\n")
    err = raises_at("api_key (from OPENAI_API_KEY)", Client, "openai")
    assert KEY not in str(err)


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"X-Foo": "a\r\nb"}, "default_headers['X-Foo']"),
        ({"X-Foo": "a\x7f"}, "default_headers['X-Foo']"),
        ({"X-Foo": "€"}, "default_headers['X-Foo']"),
        ({"X-Foo": " lead"}, "default_headers['X-Foo']"),
        ({"X-Foo": 5}, "default_headers['X-Foo']"),
        ({"Bad Name": "x"}, "default_headers"),
        ({"X-Foo:": "x"}, "default_headers"),
        ({"": "x"}, "default_headers"),
        ("X-Foo: a", "default_headers"),
    ],
)
def test_bad_default_headers(headers: Any, field: str) -> None:
    raises_at(field, ConnectionOptions, default_headers=headers)


def test_bad_provider_headers() -> None:
    raises_at(
        "headers['X-Key']",
        Provider,
        name="p",
        api="openai-chat",
        base_url=LOCAL,
        headers={"X-Key": "v\nInjected: 1"},
    )
    ok = Provider(name="p", api="openai-chat", base_url=LOCAL, headers={"X-Tab": "a\tb"})
    assert ok.headers == {"X-Tab": "a\tb"}


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("pool_size", True),
        ("pool_size", 2.0),
        ("pool_size", 0),
        ("max_retries", True),
        ("max_retries", -1),
        ("max_retries", 1.5),
        ("connect_timeout", NAN),
        ("read_timeout", INF),
        ("read_timeout", -1),
        ("read_timeout", 0),
        ("idle_timeout", True),
        ("total_timeout", "5"),
        ("backoff_initial", NAN),
        ("backoff_max", -0.5),
        ("max_retry_after", INF),
        ("proxy", 8080),
        ("proxy", "proxy.local:3128"),
        ("proxy", "http://proxy .local:3128"),
    ],
)
def test_connection_options_are_checked(option: str, value: Any) -> None:
    raises_at(option, ConnectionOptions, **{option: value})


def test_a_proxy_url_is_never_shown() -> None:
    err = raises_at("proxy", ConnectionOptions, proxy="http://user:hunter22 @proxy:3128")
    assert "hunter22" not in str(err)


def test_client_rejects_options_that_are_not_options() -> None:
    raises_at("options", Client, "openai-compatible", base_url=LOCAL, options={"max_retries": 0})


@pytest.mark.parametrize(
    ("model", "prompt", "field"),
    [
        ("m", None, "content"),
        ("m", {"text": "x"}, "content"),
        (None, "hi", "model"),
        ("", "hi", "model"),
        (5, "hi", "model"),
    ],
)
def test_quick_chat_text_checks_its_arguments(model: Any, prompt: Any, field: str) -> None:
    client = Client("openai-compatible", base_url=LOCAL, options=ConnectionOptions(max_retries=0))
    raises_at(field, client.quick_chat_text, model, prompt)
    raises_at("temperature", client.quick_chat_text, "m", "hi", temperature=NAN)


# --- plugins: input the API cannot express ---------------------------------------------------

WAV = base64.b64encode(b"RIFF....WAVEfmt ").decode()


def _openai_request(*messages: Message) -> HttpRequest:
    provider = openai_compatible(LOCAL, capabilities=llmcore.Capabilities(audio=("*",)))
    plugins = Plugins(load_entrypoints=False)
    plugins.register(llmcore_openai, name="openai")
    return plugins.build_payload(provider, ChatCompletionRequest("m", messages), False)


def test_openai_plugin_names_the_part_it_cannot_send() -> None:
    by_url = Message.user(Content.from_text("listen") + Content.new_audio("https://a/b.wav"))
    err = raises_at("messages[1].content[1]", _openai_request, HI, by_url)
    assert "base64" in str(err)
    doc = Message.user(Content((llmcore.DocumentPart(url="https://a/b.pdf"),)))
    raises_at("messages[0].content[0]", _openai_request, doc)
    raises_at("messages[1].tool_call_id", _openai_request, HI, Message(Role.TOOL, "orphan"))
    assert _openai_request(Message.user(Content((AudioPart(data=WAV),)))).json is not None


class _Refuses:
    """A plugin that refuses input its API cannot express, as the hook contract asks."""

    LLMCORE_APIS = ("refuses",)
    error = InvalidInputError.at("messages[0].content", "this API takes text only")

    @hookimpl
    def build_payload(self, provider: Provider) -> None:
        raise self.error

    @hookimpl
    def authenticate(self, provider: Provider) -> None:
        raise self.error


def test_the_core_passes_a_plugins_configuration_error_through_unchanged() -> None:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(_Refuses(), name="refuses")
    provider = Provider(name="r", api="refuses", base_url=LOCAL)
    with pytest.raises(InvalidInputError) as info:
        plugins.build_payload(provider, ChatCompletionRequest("m", [HI]), False)
    assert info.value is _Refuses.error
    with pytest.raises(InvalidInputError) as auth:
        plugins.authenticate(provider, HttpRequest("POST", LOCAL, {}), None, 0.0)
    assert auth.value is _Refuses.error


def test_validation_does_not_copy_what_is_already_valid() -> None:
    messages = tuple(Message.user(str(i)) for i in range(100))
    request = ChatCompletionRequest("m", messages)
    assert request.messages is messages
    parts = (TextPart("a"), TextPart("b"))
    assert Content(parts).parts is parts
    assert math.isnan(NAN)  # (the NaN constant above is a real NaN)
