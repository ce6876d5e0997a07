"""Best-effort parsing of truncated JSON, for tool-call arguments that are still streaming.

While a model streams a tool call, its arguments arrive as fragments of one JSON document
(``'{"city": "Par'``, ``'is", "days": 3'``, ``'}'``). A UI wants to show the arguments "parsed so
far" on every fragment, long before the document is complete and ``json.loads`` accepts it.
:func:`parse_partial_json` returns the most complete value a prefix of a JSON document describes,
and :class:`PartialJsonParser` accumulates fragments and re-parses on each :meth:`feed`::

    >>> parse_partial_json('{"city": "Par')
    {'city': 'Par'}
    >>> parser = PartialJsonParser()
    >>> parser.feed('{"days": [1, 2')
    {'days': [1, 2]}
    >>> parser.feed(', 3]}')
    {'days': [1, 2, 3]}

Rules for a truncated document (any prefix of valid JSON, with or without surrounding
whitespace):

* Empty or whitespace-only text gives ``None``.
* A complete document gives exactly what ``json.loads`` gives (it is tried first).
* A truncated **string** is the text decoded so far. A dangling backslash, a partial ``\\uXXXX``
  escape and a high surrogate whose low half may still follow are dropped, so the result is
  always a prefix of the final string.
* A truncated **array** holds its elements so far, the last one possibly partial itself.
* A truncated **object** holds the keys whose value has started. A key that is still truncated,
  or has no ``:`` or no value yet, is omitted; so is a key whose value is absent (see below).
* A truncated **number** becomes its longest prefix that is a valid JSON number: ``12`` is
  ``12``, ``1.5e`` is ``1.5`` and ``1.``, ``1e`` and ``1e-`` are ``1``. A lone ``-`` is absent.
* A truncated **literal** (``tru``, ``fals``, ``nul``) is absent.
* An absent value is left out of its array or object; at the top level the result is ``None``.

Text that is *not* a prefix of valid JSON never raises either: parsing stops at the first
character that cannot continue the document, and the result is what was parsed before it
(``'{"a": 1, "b": x}'`` gives ``{'a': 1}``, ``']'`` gives ``None``, trailing text after a
complete value is ignored). The fallback parser is lenient where leniency is harmless: raw control
characters inside strings are accepted, and a lone surrogate escape is kept as ``json`` does.

The fallback parser is a single left-to-right pass with an explicit stack (no recursion), so it is
linear in the length of the text and any nesting depth is fine. Re-parsing the whole accumulated
text on every fragment is quadratic over a stream, which is irrelevant at tool-argument sizes
(a few KB) and keeps the parser stateless and obviously correct.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["PartialJsonParser", "parse_partial_json"]

_WS_RE = re.compile(r"[ \t\n\r]*")
# The longest valid JSON number at a position; what json's own scanner matches, ASCII digits only.
_NUMBER_RE = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_STRING_CHUNK_RE = re.compile(r'[^"\\]*')
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_LITERALS: tuple[tuple[str, Any], ...] = (("true", True), ("false", False), ("null", None))

# Parser states: what the next significant character may be.
_VALUE = 0  # a value (top level, after "[" once "]" is ruled out, after "," in arrays, after ":")
_FIRST_ELEMENT = 1  # just after "[": a value or "]"
_FIRST_KEY = 2  # just after "{": a key or "}"
_KEY = 3  # after "," in an object: a key
_AFTER_VALUE = 4  # after a complete value: "," or the closing bracket, or the end at top level


def parse_partial_json(text: str) -> Any:
    """Best-effort parse of a possibly truncated JSON document.

    Never raises for any prefix of valid JSON, nor for any other string. A complete document
    gives what ``json.loads`` gives; a truncated one gives the most complete value described so
    far, following the rules in the module docstring. Empty or whitespace-only text gives
    ``None``, as does text in which no value has started yet.
    """
    if not text or text.isspace():
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        # JSONDecodeError is a ValueError; so is an int too long for str -> int conversion.
        # RecursionError: the C scanner recurses per nesting level; ours does not.
        return _parse_partial(text)


class PartialJsonParser:
    """Accumulates streamed fragments of one JSON document and parses what arrived so far."""

    def __init__(self) -> None:
        self._text = ""
        self._value: Any = None

    def feed(self, fragment: str) -> Any:
        """Append ``fragment`` and return :func:`parse_partial_json` of all text fed so far."""
        self._text += fragment
        self._value = parse_partial_json(self._text)
        return self._value

    @property
    def text(self) -> str:
        """All text fed so far."""
        return self._text

    @property
    def value(self) -> Any:
        """The result of the last :meth:`feed` (``None`` before the first)."""
        return self._value


def _parse_partial(s: str) -> Any:
    """The fallback parser: never raises, stops at the end of the text or at a bad character.

    Containers are attached to their parent as soon as they open, so ``root`` always reflects
    everything parsed so far and every exit can simply return it.
    """
    n = len(s)
    root: Any = None
    # Open containers, innermost last, and for objects the key whose value is being parsed.
    stack: list[list[Any] | dict[str, Any]] = []
    keys: list[str] = []
    i = _skip_ws(s, 0)
    state = _VALUE

    def attach(value: Any) -> None:
        nonlocal root
        if not stack:
            root = value
            return
        top = stack[-1]
        if isinstance(top, list):
            top.append(value)
        else:
            top[keys[-1]] = value

    while True:
        if i >= n:
            return root
        c = s[i]

        if state == _FIRST_ELEMENT:
            if c == "]":
                stack.pop()
                keys.pop()
                i = _skip_ws(s, i + 1)
                state = _AFTER_VALUE
                continue
            state = _VALUE

        if state == _VALUE:
            if c == "{" or c == "[":
                container: list[Any] | dict[str, Any] = {} if c == "{" else []
                attach(container)
                stack.append(container)
                keys.append("")
                i = _skip_ws(s, i + 1)
                state = _FIRST_KEY if c == "{" else _FIRST_ELEMENT
                continue
            if c == '"':
                string, i, complete = _scan_string(s, i + 1)
                attach(string)
                if not complete:
                    return root
            elif c == "-" or "0" <= c <= "9":
                match = _NUMBER_RE.match(s, i)
                if match is None:  # "-" alone or followed by a non-digit
                    return root
                integer, fraction, exponent = match.groups()
                try:
                    number: Any = float(match.group()) if fraction or exponent else int(integer)
                except ValueError:  # more digits than int() converts (sys.set_int_max_str_digits)
                    return root
                attach(number)
                # A truncated ".", "e", "e-" after the match is left for the next state to reject.
                i = match.end()
            else:
                for literal, literal_value in _LITERALS:
                    if s.startswith(literal, i):
                        attach(literal_value)
                        i += len(literal)
                        break
                else:  # a truncated literal, or garbage
                    return root
            i = _skip_ws(s, i)
            state = _AFTER_VALUE
            continue

        if state == _AFTER_VALUE:
            if not stack:  # the top-level value is complete; ignore whatever follows
                return root
            top = stack[-1]
            if c == ",":
                i = _skip_ws(s, i + 1)
                state = _VALUE if isinstance(top, list) else _KEY
            elif c == ("]" if isinstance(top, list) else "}"):
                stack.pop()
                keys.pop()
                i = _skip_ws(s, i + 1)
            else:
                return root
            continue

        # state is _FIRST_KEY or _KEY
        if c == "}" and state == _FIRST_KEY:
            stack.pop()
            keys.pop()
            i = _skip_ws(s, i + 1)
            state = _AFTER_VALUE
            continue
        if c != '"':
            return root
        key, i, complete = _scan_string(s, i + 1)
        if not complete:  # a truncated key is omitted
            return root
        i = _skip_ws(s, i)
        if i >= n or s[i] != ":":
            return root
        keys[-1] = key
        i = _skip_ws(s, i + 1)
        state = _VALUE


def _skip_ws(s: str, i: int) -> int:
    match = _WS_RE.match(s, i)
    return match.end() if match else i


def _scan_string(s: str, i: int) -> tuple[str, int, bool]:
    """Decode the string whose opening quote is just before ``i``.

    Returns ``(decoded, index after the closing quote, True)`` for a complete string, or
    ``(decoded so far, index, False)`` when the text ends (or turns invalid) inside it. An
    incomplete trailing escape, and a trailing high surrogate that could still be followed by
    its low half, are left out of the partial result.
    """
    n = len(s)
    parts: list[str] = []
    while True:
        chunk = _STRING_CHUNK_RE.match(s, i)
        end = chunk.end() if chunk else i
        if end > i:
            parts.append(s[i:end])
            i = end
        if i >= n:
            return "".join(parts), i, False
        if s[i] == '"':
            return "".join(parts), i + 1, True
        # A backslash escape.
        if i + 1 >= n:
            return "".join(parts), i, False
        escape = s[i + 1]
        if escape != "u":
            char = _SIMPLE_ESCAPES.get(escape)
            if char is None:  # invalid escape
                return "".join(parts), i, False
            parts.append(char)
            i += 2
            continue
        code = _hex4(s, i + 2)
        if code is None:  # truncated or invalid \uXXXX
            return "".join(parts), i, False
        i += 6
        if 0xD800 <= code <= 0xDBFF:
            # A high surrogate: combine with a following \uDC00-\uDFFF escape, as json does. If the
            # text ends before that can be told, drop it: the pair may complete in a later fragment.
            if i >= n or (s[i] == "\\" and i + 1 >= n):
                return "".join(parts), i, False
            if s[i : i + 2] == "\\u":
                low = _hex4(s, i + 2)
                if low is None:
                    return "".join(parts), i, False
                if 0xDC00 <= low <= 0xDFFF:
                    parts.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                    i += 6
                    continue
        parts.append(chr(code))


def _hex4(s: str, i: int) -> int | None:
    """The value of the four hex digits at ``i``, or None if they are truncated or invalid."""
    digits = s[i : i + 4]
    if len(digits) < 4 or not all(d in _HEX_DIGITS for d in digits):
        return None
    return int(digits, 16)
