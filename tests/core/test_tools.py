"""Tests for llmcore.tools and llmcore.tool_schema: schemas from functions, validation, results."""

from __future__ import annotations

import enum
import functools
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Optional, TypedDict, Union

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import llmcore
from llmcore import (
    ChatCompletionRequest,
    ConfigurationError,
    Content,
    InvalidRequestError,
    LlmError,
    Message,
    Role,
    Tool,
    ToolCall,
    ToolValidationError,
    run_tool_call,
    tool_from_function,
    tool_result,
    validate_tool_arguments,
    validate_tool_call,
)
from llmcore.tool_schema import convert_arguments, parse_docstring
from llmcore_openai.payload import chat_payload
from llmcore_openai.providers import OPENAI

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover
    from typing_extensions import NotRequired

# --- types used in annotations (module level, so string annotations resolve) -----------------


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class Item:
    sku: str
    qty: int = attrs.field(default=1, metadata={"description": "How many."})
    tags: list[str] = attrs.field(factory=list)


@attrs.frozen
class Order:
    items: list[Item]
    _note: str | None = None


@attrs.define
class Node:
    children: list[Node]


class Address(TypedDict):
    street: str
    zip: NotRequired[str]


class Options(TypedDict, total=False):
    verbose: bool


def _params(fn: Any, **kwargs: Any) -> dict[str, Any]:
    return tool_from_function(fn, **kwargs).parameters


def _prop(annotation_fn: Any) -> dict[str, Any]:
    """The schema of the single parameter ``x`` of ``annotation_fn``."""
    return _params(annotation_fn)["properties"]["x"]


# --- schema generation -----------------------------------------------------------------------


def test_simple_function_exact_schema() -> None:
    def get_weather(city: str, days: int, ratio: float, metric: bool, nothing: None) -> str:
        """Get the weather."""
        return ""

    tool = tool_from_function(get_weather)
    assert tool == Tool(
        "get_weather",
        "Get the weather.",
        {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "ratio": {"type": "number"},
                "metric": {"type": "boolean"},
                "nothing": {"type": "null"},
            },
            "required": ["city", "days", "ratio", "metric", "nothing"],
            "additionalProperties": False,
        },
    )


def test_defaults_are_optional_and_shown() -> None:
    def f(a: str, b: int = 3, c: Unit = Unit.FAHRENHEIT, d: str | None = None) -> None:
        pass

    assert _params(f) == {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "integer", "default": 3},
            "c": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "fahrenheit"},
            "d": {"type": ["string", "null"], "default": None},
        },
        "required": ["a"],
        "additionalProperties": False,
    }


def test_non_json_default_is_optional_but_not_shown() -> None:
    sentinel = object()

    def f(x: Any = sentinel) -> None:
        pass

    assert _params(f) == {
        "type": "object",
        "properties": {"x": {}},
        "additionalProperties": False,
    }


def test_no_parameters() -> None:
    def now() -> str:
        return "noon"

    assert _params(now) == {"type": "object", "properties": {}, "additionalProperties": False}


def test_unannotated_is_any() -> None:
    assert tool_from_function(lambda x: None, name="f").parameters["properties"] == {"x": {}}


def _any(x: Any) -> None: ...
def _optional(x: Optional[int]) -> None: ...  # noqa: UP045
def _pipe_optional(x: int | None) -> None: ...
def _union(x: Union[int, str]) -> None: ...
def _union_dupes(x: Union[int, str, int, None]) -> None: ...
def _optional_list(x: list[int] | None) -> None: ...
def _list(x: list[str]) -> None: ...
def _bare_list(x: list) -> None: ...  # type: ignore[type-arg]
def _sequence(x: Sequence[int]) -> None: ...
def _tuple_var(x: tuple[int, ...]) -> None: ...
def _tuple_fixed(x: tuple[int, str]) -> None: ...
def _set(x: set[str]) -> None: ...
def _dict(x: dict[str, float]) -> None: ...
def _bare_dict(x: dict) -> None: ...  # type: ignore[type-arg]
def _mapping(x: Mapping[str, int]) -> None: ...
def _dict_any(x: dict[str, Any]) -> None: ...
def _literal_str(x: Literal["a", "b"]) -> None: ...
def _literal_int(x: Literal[1, 2]) -> None: ...
def _literal_mixed(x: Literal["a", 1, None]) -> None: ...
def _enum(x: Unit) -> None: ...
def _int_enum(x: Level) -> None: ...
def _annotated(x: Annotated[str, "The city name."]) -> None: ...
def _annotated_optional(x: Annotated[int | None, "Days ahead."]) -> None: ...
def _list_of_enum(x: list[Unit]) -> None: ...


_ITEM_SCHEMA = {
    "type": "object",
    "properties": {
        "sku": {"type": "string"},
        "qty": {"type": "integer", "description": "How many.", "default": 1},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["sku"],
    "additionalProperties": False,
}


def _attrs(x: Item) -> None: ...
def _attrs_nested(x: Order) -> None: ...
def _typeddict(x: Address) -> None: ...
def _typeddict_total_false(x: Options) -> None: ...
def _optional_attrs(x: Item | None) -> None: ...


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (_any, {}),
        (_optional, {"type": ["integer", "null"]}),
        (_pipe_optional, {"type": ["integer", "null"]}),
        (_union, {"type": ["integer", "string"]}),
        (_union_dupes, {"type": ["integer", "string", "null"]}),
        (
            _optional_list,
            {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]},
        ),
        (_list, {"type": "array", "items": {"type": "string"}}),
        (_bare_list, {"type": "array"}),
        (_sequence, {"type": "array", "items": {"type": "integer"}}),
        (_tuple_var, {"type": "array", "items": {"type": "integer"}}),
        (
            _tuple_fixed,
            {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "minItems": 2,
                "maxItems": 2,
            },
        ),
        (_set, {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
        (_dict, {"type": "object", "additionalProperties": {"type": "number"}}),
        (_bare_dict, {"type": "object"}),
        (_mapping, {"type": "object", "additionalProperties": {"type": "integer"}}),
        (_dict_any, {"type": "object"}),
        (_literal_str, {"type": "string", "enum": ["a", "b"]}),
        (_literal_int, {"type": "integer", "enum": [1, 2]}),
        (_literal_mixed, {"enum": ["a", 1, None]}),
        (_enum, {"type": "string", "enum": ["celsius", "fahrenheit"]}),
        (_int_enum, {"type": "integer", "enum": [1, 2]}),
        (_annotated, {"type": "string", "description": "The city name."}),
        (_annotated_optional, {"type": ["integer", "null"], "description": "Days ahead."}),
        (
            _list_of_enum,
            {"type": "array", "items": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        ),
        (_attrs, _ITEM_SCHEMA),
        (
            _attrs_nested,
            {
                "type": "object",
                "properties": {
                    "items": {"type": "array", "items": _ITEM_SCHEMA},
                    "note": {"type": ["string", "null"], "default": None},
                },
                "required": ["items"],
                "additionalProperties": False,
            },
        ),
        (
            _typeddict,
            {
                "type": "object",
                "properties": {"street": {"type": "string"}, "zip": {"type": "string"}},
                "required": ["street"],
                "additionalProperties": False,
            },
        ),
        (
            _typeddict_total_false,
            {
                "type": "object",
                "properties": {"verbose": {"type": "boolean"}},
                "additionalProperties": False,
            },
        ),
        (_optional_attrs, {"anyOf": [_ITEM_SCHEMA, {"type": "null"}]}),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else "",
)
def test_annotation_schemas(fn: Any, expected: dict[str, Any]) -> None:
    assert _prop(fn) == expected


def test_generated_schemas_are_valid_draft_2020_12() -> None:
    from jsonschema import Draft202012Validator

    def everything(a: Order, b: Address, c: Item | None = None, d: Level = Level.LOW) -> None:
        pass

    Draft202012Validator.check_schema(_params(everything))


def _star_args(*xs: int) -> None: ...
def _star_kwargs(**kw: int) -> None: ...
def _positional_only(x: int, /) -> None: ...
def _bytes(x: bytes) -> None: ...
def _int_keys(x: dict[int, str]) -> None: ...
def _recursive(x: Node) -> None: ...
def _unresolvable(x: DoesNotExist) -> None: ...  # type: ignore[name-defined]  # noqa: F821


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (_star_args, r"\*args and \*\*kwargs"),
        (_star_kwargs, r"\*args and \*\*kwargs"),
        (_positional_only, "positional-only"),
        (_bytes, "no JSON Schema for type <class 'bytes'>"),
        (_int_keys, "JSON object keys are strings"),
        (_recursive, "recursive type Node"),
        (_unresolvable, "cannot resolve the type hints.*DoesNotExist"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else "",
)
def test_unsupported_signatures_raise_configuration_error(fn: Any, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        tool_from_function(fn)
    assert "x" in str(info.value) or "args" in str(info.value) or "kw" in str(info.value)


def test_errors_name_the_parameter() -> None:
    with pytest.raises(ConfigurationError, match="tool '_bytes', parameter 'x'"):
        tool_from_function(_bytes)


def test_names() -> None:
    with pytest.raises(ConfigurationError, match="pass name="):
        tool_from_function(lambda: None)
    assert tool_from_function(lambda: None, name="noop").name == "noop"
    assert tool_from_function(_any, name="any-thing").name == "any-thing"
    with pytest.raises(ConfigurationError, match="1-64 letters"):
        tool_from_function(_any, name="has space")
    assert tool_from_function(_any, description="Custom.", strict=True).description == "Custom."
    assert tool_from_function(_any, strict=True).strict is True


class Weather:
    def lookup(self, city: str) -> str:
        """Look up the weather."""
        return city

    def __call__(self, city: str, days: int = 1) -> str:
        return city * days


def test_methods_callables_and_partials() -> None:
    bound = tool_from_function(Weather().lookup)
    assert bound.name == "lookup"
    assert bound.description == "Look up the weather."
    assert list(bound.parameters["properties"]) == ["city"]

    instance = tool_from_function(Weather(), name="weather")
    assert instance.parameters["properties"] == {
        "city": {"type": "string"},
        "days": {"type": "integer", "default": 1},
    }

    def forecast(city: str, days: int, unit: Unit) -> str:
        return city

    partial = tool_from_function(functools.partial(forecast, days=2), name="forecast")
    assert partial.parameters["required"] == ["city", "unit"]
    assert partial.parameters["properties"]["days"] == {"type": "integer", "default": 2}


# --- docstrings ------------------------------------------------------------------------------


def test_google_docstring() -> None:
    def search(query: str, limit: int = 10, unit: Unit = Unit.CELSIUS) -> list[str]:
        """Search the catalogue for products
        matching a query.

        Longer explanation that is not part of the description.

        Args:
            query (str): What to look for;
                free text.
            limit: At most this many results.
            unit:
                Temperature unit.

        Returns:
            list: the matches.
            query: not a parameter description.
        """
        return []

    tool = tool_from_function(search)
    assert tool.description == "Search the catalogue for products matching a query."
    props = tool.parameters["properties"]
    assert props["query"] == {"type": "string", "description": "What to look for; free text."}
    assert props["limit"]["description"] == "At most this many results."
    assert props["unit"]["description"] == "Temperature unit."


def test_rest_docstring() -> None:
    def convert(amount: float, currency: str) -> float:
        """Convert money.

        :param amount: The amount,
            in cents.
        :param str currency: ISO 4217 code.
        :type amount: float
        :returns: the converted amount.
        """
        return amount

    tool = tool_from_function(convert)
    assert tool.description == "Convert money."
    assert tool.parameters["properties"] == {
        "amount": {"type": "number", "description": "The amount, in cents."},
        "currency": {"type": "string", "description": "ISO 4217 code."},
    }


def test_docstring_edge_cases() -> None:
    assert parse_docstring("") == ("", {})
    assert parse_docstring("Args:\n    x: An x.") == ("", {"x": "An x."})
    assert parse_docstring("Do it.\n:param x: An x.") == ("Do it.", {"x": "An x."})
    assert parse_docstring("Do it.\n\nArgs:\n    x:\n") == ("Do it.", {})

    def undocumented(x: int) -> None:
        pass

    tool = tool_from_function(undocumented)
    assert tool.description is None
    assert tool.parameters["properties"]["x"] == {"type": "integer"}


def test_annotated_description_wins_over_docstring() -> None:
    def f(x: Annotated[str, "From Annotated."]) -> None:
        """F.

        Args:
            x: From the docstring.
        """

    assert _prop(f) == {"type": "string", "description": "From Annotated."}


# --- validation ------------------------------------------------------------------------------


def place_order(customer: str, items: list[Item], express: bool = False) -> dict[str, Any]:
    """Place an order."""
    return {"customer": customer, "count": sum(i.qty for i in items), "express": express}


ORDER_TOOL = tool_from_function(place_order)
WEATHER_TOOL = Tool(
    "get_weather",
    "Current weather",
    {
        "type": "object",
        "properties": {
            "location": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
)


def test_valid_arguments_pass_and_come_back_as_a_new_dict() -> None:
    args = {"customer": "ada", "items": [{"sku": "a", "qty": 2}]}
    out = validate_tool_arguments(ORDER_TOOL, args)
    assert out == args
    assert out is not args
    assert validate_tool_arguments(ORDER_TOOL, json.dumps(args)) == args
    assert (
        validate_tool_call([WEATHER_TOOL, ORDER_TOOL], ToolCall("c1", "place_order", args)) == args
    )


def test_empty_argument_text_means_no_arguments() -> None:
    tool = tool_from_function(lambda: None, name="noop")
    assert validate_tool_arguments(tool, "") == {}
    assert validate_tool_arguments(tool, "  ") == {}


def test_errors_name_tool_and_every_path() -> None:
    args = {
        "items": [{"sku": "a"}, {"qty": 2}, {"sku": "c", "qty": "three"}],
        "express": "yes",
        "coupon": "X",
    }
    with pytest.raises(ToolValidationError) as info:
        validate_tool_arguments(ORDER_TOOL, args)
    err = info.value
    assert err.tool_name == "place_order"
    assert err.errors == [
        ("$.coupon", "unexpected property (not in the schema)"),
        ("$.customer", "required property is missing"),
        ("$.express", "'yes' is not of type 'boolean'"),
        ("$.items[1].sku", "required property is missing"),
        ("$.items[2].qty", "'three' is not of type 'integer'"),
    ]
    assert str(err) == (
        "invalid arguments for tool 'place_order':\n"
        "  $.coupon: unexpected property (not in the schema)\n"
        "  $.customer: required property is missing\n"
        "  $.express: 'yes' is not of type 'boolean'\n"
        "  $.items[1].sku: required property is missing\n"
        "  $.items[2].qty: 'three' is not of type 'integer'"
    )


def test_error_paths_quote_odd_keys_and_descend_into_any_of() -> None:
    tool = Tool(
        "t",
        parameters={
            "type": "object",
            "properties": {
                "odd key": {"type": "integer"},
                "maybe": {"anyOf": [{"$ref": "#/$defs/item"}, {"type": "null"}]},
                "matrix": {"type": "array", "items": {"type": "array", "items": {"minimum": 0}}},
            },
            "$defs": {"item": {"type": "object", "properties": {"qty": {"type": "integer"}}}},
        },
    )
    with pytest.raises(ToolValidationError) as info:
        validate_tool_arguments(tool, {"odd key": "x", "maybe": {"qty": 1.5}, "matrix": [[0, -1]]})
    assert [p for p, _ in info.value.errors] == ["$.matrix[0][1]", "$.maybe.qty", '$["odd key"]']


def test_not_an_object_or_not_json() -> None:
    with pytest.raises(ToolValidationError) as info:
        validate_tool_arguments(WEATHER_TOOL, "[1, 2]")
    assert info.value.errors == [("$", "arguments must be a JSON object, got array")]

    with pytest.raises(ToolValidationError, match="get_weather") as info:
        validate_tool_arguments(WEATHER_TOOL, '{"location": "Par')
    ((path, reason),) = info.value.errors
    assert path == "$"
    assert reason.startswith("arguments are not valid JSON: ")


def test_validate_tool_call_uses_raw_arguments_and_knows_the_tools() -> None:
    bad = ToolCall("c1", "get_weather", {}, raw_arguments='{"location": ')
    with pytest.raises(ToolValidationError, match="not valid JSON"):
        validate_tool_call([WEATHER_TOOL], bad)

    with pytest.raises(ToolValidationError) as info:
        validate_tool_call([WEATHER_TOOL, ORDER_TOOL], ToolCall("c2", "get_wether", {}))
    assert str(info.value) == "unknown tool 'get_wether'; known tools: 'get_weather', 'place_order'"
    assert info.value.tool_name == "get_wether"
    assert info.value.errors == []
    with pytest.raises(ToolValidationError, match="known tools: none"):
        validate_tool_call([], ToolCall("c3", "x", {}))

    with pytest.raises(ToolValidationError) as info:
        validate_tool_call([WEATHER_TOOL], ToolCall("c4", "get_weather", {"unit": "kelvin"}))
    assert info.value.errors == [
        ("$.location", "required property is missing"),
        ("$.unit", "'kelvin' is not one of ['celsius', 'fahrenheit']"),
    ]


def test_schema_draft_follows_dollar_schema() -> None:
    # Draft 7's array form of "items" is a schema error under Draft 2020-12.
    parameters = {
        "type": "object",
        "properties": {"pair": {"type": "array", "items": [{"type": "integer"}]}},
    }
    draft7 = Tool(
        "pair", parameters={"$schema": "http://json-schema.org/draft-07/schema#", **parameters}
    )
    assert validate_tool_arguments(draft7, {"pair": [1, "x"]}) == {"pair": [1, "x"]}
    with pytest.raises(ToolValidationError, match=r"\$.pair\[0\]"):
        validate_tool_arguments(draft7, {"pair": ["x"]})
    with pytest.raises(ConfigurationError, match="parameters: is not a valid JSON Schema"):
        validate_tool_arguments(Tool("pair", parameters=parameters), {"pair": [1]})


def test_long_reasons_are_shortened() -> None:
    tool = Tool("t", parameters={"type": "object", "properties": {"s": {"maxLength": 3}}})
    with pytest.raises(ToolValidationError) as info:
        validate_tool_arguments(tool, {"s": "x" * 5000})
    ((_, reason),) = info.value.errors
    assert len(reason) == 300
    assert reason.endswith("...")


def test_error_class() -> None:
    err = ToolValidationError("bad", tool_name="t", errors=[("$.a", "no")])
    assert isinstance(err, LlmError)
    assert not isinstance(err, InvalidRequestError)
    assert not err.is_retryable()
    assert err.status is None
    assert "ToolValidationError" in llmcore.__all__


@given(
    st.lists(
        st.fixed_dictionaries({"sku": st.text(max_size=5), "qty": st.integers()}),
        min_size=1,
        max_size=6,
    ),
    st.data(),
)
def test_property_bad_item_is_reported_at_its_index(items: list[dict[str, Any]], data: Any) -> None:
    args = {"customer": "ada", "items": items}
    assert validate_tool_arguments(ORDER_TOOL, args) == args
    index = data.draw(st.integers(0, len(items) - 1))
    broken = [dict(i) for i in items]
    broken[index]["qty"] = str(broken[index]["qty"])
    with pytest.raises(ToolValidationError) as info:
        validate_tool_arguments(ORDER_TOOL, {**args, "items": broken})
    assert [p for p, _ in info.value.errors] == [f"$.items[{index}].qty"]


# --- results and running ---------------------------------------------------------------------


def test_tool_result_fills_id_and_name() -> None:
    call = ToolCall("call_7", "get_weather", {"location": "Paris"})
    msg = tool_result(call, "18C")
    assert msg == Message(Role.TOOL, "18C", tool_call_id="call_7", name="get_weather")
    image = Content.from_text("chart:") + Content.new_image("https://example.com/c.png")
    with_image = tool_result(call, image, is_error=True)
    assert with_image.content == image
    assert with_image.is_error
    assert with_image.tool_call_id == "call_7"


def describe(
    order: Order, unit: Unit, level: Level = Level.LOW, pair: tuple[int, str] = (0, "")
) -> str:
    """Describe an order."""
    assert isinstance(order, Order)
    assert all(isinstance(i, Item) for i in order.items)
    assert isinstance(unit, Unit)
    assert isinstance(level, Level)
    assert isinstance(pair, tuple)
    return f"{len(order.items)} items, {unit.value}, {level.name}, {pair}"


def test_run_tool_call_converts_arguments_to_annotated_types() -> None:
    tools = [tool_from_function(describe)]
    call = ToolCall(
        "c1",
        "describe",
        {
            "order": {"items": [{"sku": "a"}], "note": "hi"},
            "unit": "celsius",
            "level": 2,
            "pair": [1, "x"],
        },
    )
    msg = run_tool_call({"describe": describe}, tools, call)
    assert not msg.is_error, msg.text()
    assert msg.text() == "1 items, celsius, HIGH, (1, 'x')"
    assert msg.tool_call_id == "c1"
    assert msg.name == "describe"


def test_convert_arguments_leaves_unfitting_values_alone() -> None:
    def f(a: Unit | None, b: Union[int, Item], c: list[Item], d: Any, e: set[int]) -> None:
        pass

    out = convert_arguments(
        f, {"a": None, "b": {"sku": "s"}, "c": [{"sku": "t"}], "d": [1], "e": [1, 1]}
    )
    assert out == {"a": None, "b": Item("s"), "c": [Item("t")], "d": [1], "e": {1}}
    assert convert_arguments(f, {"a": "kelvin", "b": 3, "z": 1}) == {"a": "kelvin", "b": 3, "z": 1}


def test_run_tool_call_json_encodes_non_text_results() -> None:
    tools = [ORDER_TOOL]
    call = ToolCall("c1", "place_order", {"customer": "ada", "items": [{"sku": "a", "qty": 2}]})
    msg = run_tool_call({"place_order": place_order}, tools, call)
    assert json.loads(msg.text()) == {"customer": "ada", "count": 2, "express": False}

    def returns_attrs() -> Item:
        return Item("z", tags=["t"])

    def returns_content() -> Content:
        return Content.from_text("see") + Content.new_image("https://example.com/x.png")

    def returns_none() -> None:
        return None

    registry = {f.__name__: f for f in (returns_attrs, returns_content, returns_none)}
    tools = [tool_from_function(f) for f in registry.values()]
    out = {name: run_tool_call(registry, tools, ToolCall("id", name, {})) for name in registry}
    assert json.loads(out["returns_attrs"].text()) == {"sku": "z", "qty": 1, "tags": ["t"]}
    assert out["returns_content"].content.images()[0].url == "https://example.com/x.png"
    assert out["returns_none"].text() == "null"


def test_run_tool_call_error_paths() -> None:
    def explode(city: str) -> str:
        raise ValueError(f"no weather for {city}")

    tools = [tool_from_function(explode), WEATHER_TOOL]
    functions = {"explode": explode}

    raised = run_tool_call(functions, tools, ToolCall("c1", "explode", {"city": "Atlantis"}))
    assert raised.is_error
    assert raised.text() == "ValueError: no weather for Atlantis"
    assert (raised.tool_call_id, raised.name) == ("c1", "explode")

    invalid = run_tool_call(functions, tools, ToolCall("c2", "explode", {"city": 3}))
    assert invalid.is_error
    assert (
        invalid.text()
        == "invalid arguments for tool 'explode':\n  $.city: 3 is not of type 'string'"
    )

    unknown = run_tool_call(functions, tools, ToolCall("c3", "nope", {}))
    assert unknown.is_error
    assert unknown.text().startswith("unknown tool 'nope'; known tools: 'explode', 'get_weather'")

    missing = run_tool_call(functions, tools, ToolCall("c4", "get_weather", {"location": "x"}))
    assert missing.is_error
    assert missing.text() == "tool 'get_weather' has no implementation"


def test_run_tool_call_works_with_hand_written_schemas() -> None:
    def get_weather(location, unit="celsius"):  # type: ignore[no-untyped-def]
        return f"{location}: 18 {unit}"

    msg = run_tool_call(
        {"get_weather": get_weather},
        [WEATHER_TOOL],
        ToolCall("c1", "get_weather", {"location": "Oslo"}),
    )
    assert msg.text() == "Oslo: 18 celsius"
    assert not msg.is_error


# --- on the wire -----------------------------------------------------------------------------


def test_openai_payload_carries_a_tool_built_from_a_function() -> None:
    def get_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
        """Get the current weather.

        Args:
            location: City and country, e.g. "Paris, France".
            unit: Temperature unit.
        """
        return ""

    request = ChatCompletionRequest(
        "gpt-4o",
        [Message.user("Weather in Paris?")],
        tools=[tool_from_function(get_weather), tool_from_function(place_order, strict=True)],
        tool_choice="get_weather",
    )
    body = chat_payload(OPENAI, request, False)
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather.",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": 'City and country, e.g. "Paris, France".',
                    },
                    "unit": {
                        "type": "string",
                        "enum": ["celsius", "fahrenheit"],
                        "description": "Temperature unit.",
                        "default": "celsius",
                    },
                },
                "required": ["location"],
                "additionalProperties": False,
            },
        },
    }
    assert body["tools"][1]["function"]["strict"] is True
    assert body["tools"][1]["function"]["parameters"] == ORDER_TOOL.parameters
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    json.dumps(body)  # the schema is plain JSON


def test_any_of_reports_the_branch_that_got_furthest() -> None:
    a = {"type": "object", "properties": {"kind": {"const": "a"}, "n": {"type": "integer"}}}
    b = {"type": "object", "properties": {"kind": {"const": "b"}, "s": {"type": "string"}}}
    tool = Tool("t", parameters={"type": "object", "properties": {"x": {"anyOf": [a, b]}}})
    with pytest.raises(ToolValidationError) as info:
        validate_tool_arguments(tool, {"x": {"kind": "b", "s": 1}})
    # both branches fail one level down; the one whose tag matched is the one meant
    assert info.value.errors == [("$.x.s", "1 is not of type 'string'")]

    with pytest.raises(ToolValidationError) as info:
        validate_tool_arguments(tool, {"x": "flat"})
    assert info.value.errors == [("$.x", "'flat' is not valid under any of the given schemas")]
