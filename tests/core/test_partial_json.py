"""Tests for llmcore.partial_json: best-effort parsing of truncated JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcore.partial_json import PartialJsonParser, _parse_partial, parse_partial_json

# Text biased towards characters json.dumps escapes, plus non-BMP characters that become a
# surrogate pair under ensure_ascii=True.
_text = st.text(
    alphabet=st.characters() | st.sampled_from('"\\/\b\f\n\r\t\x00\x1f\x7f\u2028é😀𝄞'),
    max_size=12,
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_json_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_text, children, max_size=5),
    max_leaves=15,
)
_small_json_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_text, children, max_size=3),
    max_leaves=4,
)
_dump_options = st.sampled_from(
    [
        {"ensure_ascii": True, "indent": None},
        {"ensure_ascii": False, "indent": None},
        {"ensure_ascii": True, "indent": 2},
        {"ensure_ascii": False, "indent": 2},
    ]
)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_partial_of(partial: Any, final: Any, *, top: bool = True) -> None:
    """Assert that ``partial`` is a plausible "parsed so far" view of ``final``.

    Strings are prefixes, arrays and objects hold a prefix of the final elements / keys (all but
    the last exactly equal), numbers are some number (``12`` is a prefix of ``123``), literals are
    equal. At the top level nothing parsed yet (``None``) is allowed.
    """
    if top and partial is None:
        return
    if final is None or isinstance(final, bool):
        assert partial is final
    elif _is_number(final):
        assert _is_number(partial)
    elif isinstance(final, str):
        assert isinstance(partial, str)
        assert final.startswith(partial)
    elif isinstance(final, list):
        assert isinstance(partial, list)
        assert len(partial) <= len(final)
        assert partial[:-1] == final[: max(len(partial) - 1, 0)]
        if partial:
            _check_partial_of(partial[-1], final[len(partial) - 1], top=False)
    else:
        assert isinstance(final, dict)
        assert isinstance(partial, dict)
        keys = list(partial)
        assert set(keys) <= set(final)
        assert keys == list(final)[: len(keys)]
        for key in keys[:-1]:
            assert partial[key] == final[key]
        if keys:
            _check_partial_of(partial[keys[-1]], final[keys[-1]], top=False)


def _depth(value: Any) -> int:
    """Nesting depth of a chain of single-element containers, walked without recursion."""
    depth = 0
    while isinstance(value, (list, dict)):
        depth += 1
        if not value:
            break
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
    return depth


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(value=_json_values, options=_dump_options)
def test_every_prefix_parses_and_full_text_round_trips(value: Any, options: dict[str, Any]) -> None:
    text = json.dumps(value, **options)
    for i in range(len(text) + 1):
        _check_partial_of(parse_partial_json(text[:i]), value)
    assert parse_partial_json(text) == value
    # The fallback parser alone also agrees with json.loads on complete documents.
    assert _parse_partial(text) == value
    assert _parse_partial("\n " + text + " \t") == value


@settings(max_examples=100, deadline=None)
@given(value=st.dictionaries(_text, _small_json_values, max_size=6), options=_dump_options)
def test_object_keys_only_grow_towards_the_final_keys(
    value: dict[str, Any], options: dict[str, Any]
) -> None:
    text = json.dumps(value, **options)
    previous: set[str] = set()
    for i in range(len(text) + 1):
        result = parse_partial_json(text[:i])
        if result is None:
            assert not previous
            continue
        assert isinstance(result, dict)
        keys = set(result)
        assert previous <= keys <= set(value)
        previous = keys
    assert parse_partial_json(text) == value


@settings(max_examples=100, deadline=None)
@given(value=_json_values, options=_dump_options, data=st.data())
def test_streaming_parser_converges(value: Any, options: dict[str, Any], data: Any) -> None:
    text = json.dumps(value, **options)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    parser = PartialJsonParser()
    start = 0
    for cut in [*cuts, len(text)]:
        result = parser.feed(text[start:cut])
        start = cut
        assert result is parser.value
        _check_partial_of(result, value)
    assert parser.text == text
    assert parser.value == value


@settings(max_examples=300, deadline=None)
@given(text=st.text() | st.text(alphabet='{}[]:,"\\ u0123456789abcdef.eE+-truefalsnl'))
def test_arbitrary_text_never_raises(text: str) -> None:
    parse_partial_json(text)
    _parse_partial(text)


# --- truncation rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # empty / whitespace
        ("", None),
        ("   \n\t", None),
        # strings
        ('"', ""),
        ('"hel', "hel"),
        ('"a\\', "a"),  # dangling backslash dropped
        ('"a\\n\\t\\"\\/', 'a\n\t"/'),
        ('"a\\u', "a"),  # partial \uXXXX dropped
        ('"\\u00', ""),
        ('"a\\u00e', "a"),
        ('"a\\u00e9', "aé"),
        ('"\\ud83d', ""),  # lone high surrogate dropped: its low half may follow
        ('"\\ud83d\\', ""),
        ('"\\ud83d\\u', ""),
        ('"\\ud83d\\ude0', ""),
        ('"\\ud83d\\ude00', "😀"),
        ('"\\ud83dx', "\ud83dx"),  # cannot become a pair any more: kept, like json.loads
        ('"\\ud83d\\n', "\ud83d\n"),
        ('"\\ud83d\\u0041', "\ud83dA"),
        ('"\\ude00', "\ude00"),  # a lone low surrogate is kept, like json.loads
        ('["\\ud83d"', ["\ud83d"]),  # a complete string keeps it too
        # arrays
        ("[", []),
        ("[1, 2", [1, 2]),
        ("[1, 2,", [1, 2]),
        ('[1, "ab', [1, "ab"]),
        ("[[1], [2", [[1], [2]]),
        ("[tru", []),
        ("[1, fals", [1]),
        ("[nul", []),
        ("[-", []),
        # objects
        ("{", {}),
        ('{"a', {}),
        ('{"a"', {}),
        ('{"a":', {}),
        ('{"a": ', {}),
        ('{"a": "', {"a": ""}),
        ('{"a": "hel', {"a": "hel"}),
        ('{"a": [', {"a": []}),
        ('{"a": {', {"a": {}}),
        ('{"a": {"b": [1, 2', {"a": {"b": [1, 2]}}),
        ('{"a": 1, "b', {"a": 1}),
        ('{"a": 1, "b": tr', {"a": 1}),
        ('{"a": nul', {}),
        ('{"a": -', {}),
        ('{"a\\', {}),
        # numbers: the longest prefix that is a valid number
        ("-", None),
        ("12", 12),
        ("-12", -12),
        ("0", 0),
        ("1.", 1),
        ("1.5", 1.5),
        ("1.5e", 1.5),
        ("1.5e+", 1.5),
        ("1e", 1),
        ("1e-", 1),
        ("1e-5", 1e-5),
        ("[0.", [0]),
        ('{"n": 2.5E', {"n": 2.5}),
        # literals
        ("t", None),
        ("tru", None),
        ("fals", None),
        ("nul", None),
        ("true", True),
        ("null", None),
        # complete documents, with surrounding whitespace
        ('  {"a": [1, {"b": null}], "c": "\\u00e9"}  \n', {"a": [1, {"b": None}], "c": "é"}),
        ("\n[]\n", []),
    ],
)
def test_truncation_rules(text: str, expected: Any) -> None:
    result = parse_partial_json(text)
    assert result == expected
    assert type(result) is type(expected)


def test_number_types() -> None:
    assert type(parse_partial_json("[12")[0]) is int
    assert type(parse_partial_json("[1.5e")[0]) is float
    assert type(parse_partial_json("[1e")[0]) is int


def test_complete_document_matches_json_loads_including_nan() -> None:
    # The json.loads fast path means its extensions are honoured for complete documents.
    assert math.isnan(parse_partial_json("NaN"))
    assert parse_partial_json('{"a": 1, "a": 2}') == {"a": 2}
    assert _parse_partial('{"a": 1, "b": 0, "a": 2}') == json.loads('{"a": 1, "b": 0, "a": 2}')


# --- input that is not a prefix of valid JSON ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": x}', {}),
        ('{"a": 1, "b": x}', {"a": 1}),
        ("]", None),
        ("}", None),
        ("x", None),
        ("[1, 2 x", [1, 2]),
        ("[1,]", [1]),
        ("[,", []),
        ('{"a" 1}', {}),
        ('{"a": 1,}', {"a": 1}),
        ("{1: 2}", {}),
        ('{"a": 1} trailing', {"a": 1}),
        ("[1] [2]", [1]),
        ('"a\\x"', "a"),  # invalid escape: the string so far
        ('"a\\u12zz"', "a"),
        ("01", 0),
        ("-x", None),
        ("[1.x", [1]),
        ("[trux", []),
        ("\ufeff[1]", None),  # a BOM is not JSON whitespace
        ("-Inf", None),
    ],
)
def test_garbage_returns_what_parsed_before_the_bad_character(text: str, expected: Any) -> None:
    assert parse_partial_json(text) == expected


def test_too_long_integer_does_not_raise() -> None:
    # Beyond the default limit of int <-> str conversion on Python 3.11+ (json.loads raises
    # ValueError there, not JSONDecodeError): no crash, whatever the interpreter's limit.
    digits = "1" * 10_000
    parse_partial_json(digits)
    result = parse_partial_json("[" + digits)
    assert isinstance(result, list)
    assert len(result) <= 1


# --- deep nesting --------------------------------------------------------------------------


def test_deeply_nested_truncated_arrays() -> None:
    assert _depth(parse_partial_json("[" * 5000)) == 5000


def test_deeply_nested_truncated_objects() -> None:
    assert _depth(parse_partial_json('{"a": ' * 5000 + "{")) == 5001


def test_deeply_nested_complete_document() -> None:
    # json.loads raises RecursionError here; the fallback parser is iterative.
    depth = 100_000
    assert _depth(parse_partial_json("[" * depth + "]" * depth)) == depth


# --- PartialJsonParser ---------------------------------------------------------------------


def test_parser_accumulates_fragments() -> None:
    parser = PartialJsonParser()
    assert parser.text == ""
    assert parser.value is None
    assert parser.feed("") is None
    assert parser.feed('{"city": "Par') == {"city": "Par"}
    assert parser.feed('is", "days": [1') == {"city": "Paris", "days": [1]}
    assert parser.value == {"city": "Paris", "days": [1]}
    assert parser.feed(", 2]}") == {"city": "Paris", "days": [1, 2]}
    assert parser.text == '{"city": "Paris", "days": [1, 2]}'
    assert parser.value == {"city": "Paris", "days": [1, 2]}
