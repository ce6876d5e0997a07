"""A conversation you can keep, send to any provider, save as JSON and load back.

``Context(system_prompt, messages, tools)`` holds a conversation: :meth:`Context.to_request`
turns it into a request for any model, :meth:`Context.append` grows it, and
:meth:`Context.dumps` / :meth:`Context.loads` round-trip it through JSON (images stay base64;
messages carry a stable ``role`` and content parts a stable ``type``)::

    {"version": 1, "system_prompt": "...", "messages": [{"role": "user", ...}], "tools": []}

Loading is strict: a value of the wrong JSON type is an error, never coerced (``"false"`` is not
a bool), and the :class:`~llmcore.serde.SerializationError` names the bad field's path, e.g.
``$.messages[1].role``. Unknown keys are ignored.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable
from typing import Any, get_args, get_origin

import attrs
import cattrs
import cattrs.cols
import cattrs.gen

from llmcore import serde
from llmcore._repr import attrs_repr
from llmcore.chat import ChatCompletionRequest, ChatCompletionResponse
from llmcore.content import Part
from llmcore.errors import ConfigurationError
from llmcore.handoff import history_message
from llmcore.messages import Message, Tool

__all__ = ["CONTEXT_VERSION", "Context"]

CONTEXT_VERSION = 1
"""Version written into every dumped context; :meth:`Context.loads` rejects other versions."""


def _to_messages(value: Iterable[Message]) -> tuple[Message, ...]:
    messages = tuple(value)
    for i, m in enumerate(messages):
        if not isinstance(m, Message):
            raise ConfigurationError(f"Context.messages[{i}] is {type(m).__name__}, not a Message")
    return messages


def _to_tools(value: Iterable[Tool] | None) -> tuple[Tool, ...]:
    tools = tuple(value or ())
    for i, t in enumerate(tools):
        if not isinstance(t, Tool):
            raise ConfigurationError(f"Context.tools[{i}] is {type(t).__name__}, not a Tool")
    return tools


@attrs_repr
@attrs.frozen(repr=False)
class Context:
    """A system prompt, the messages so far and the tools on offer. Immutable: ``append`` and
    ``append_response`` return a new context."""

    system_prompt: str | None = None
    messages: tuple[Message, ...] = attrs.field(default=(), converter=_to_messages)
    tools: tuple[Tool, ...] = attrs.field(default=(), converter=_to_tools)

    def to_request(self, model: str, **options: Any) -> ChatCompletionRequest:
        """A request for ``model``: the system prompt first, then the messages and tools.

        ``options`` are :class:`ChatCompletionRequest` fields (``temperature=``, ``tools=``...).
        """
        head = (Message.system(self.system_prompt),) if self.system_prompt else ()
        options.setdefault("tools", self.tools or None)
        return ChatCompletionRequest(model, head + self.messages, **options)

    def append(self, *messages: Message) -> Context:
        """A context with ``messages`` added at the end."""
        return attrs.evolve(self, messages=self.messages + messages)

    def append_response(self, response: ChatCompletionResponse) -> Context:
        """A context with the answer's message added, unless the turn was aborted or failed
        (those are not replayed; see :func:`llmcore.handoff.history_message`)."""
        message = history_message(response)
        return self if message is None else self.append(message)

    # --- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The context as JSON-compatible data, with its ``version``."""
        data: dict[str, Any] = serde.to_dict(self)
        return {"version": CONTEXT_VERSION, **data}

    def dumps(self, **kwargs: Any) -> str:
        """The context as a JSON string (``kwargs`` go to :func:`json.dumps`, e.g. ``indent``)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)

    @classmethod
    def from_dict(cls, data: Any) -> Context:
        """A context from JSON data; :class:`~llmcore.serde.SerializationError` naming bad paths."""
        if not isinstance(data, dict):
            _fail(f"expected a JSON object, got {type(data).__name__} @ $")
        version = data.get("version")
        if version != CONTEXT_VERSION:
            found = "missing" if "version" not in data else f"{version!r}"
            _fail(f"unsupported context version {found}, expected {CONTEXT_VERSION} @ $.version")
        body = {k: v for k, v in data.items() if k != "version"}
        try:
            context: Context = _STRICT.structure(body, cls)
        except cattrs.BaseValidationError as exc:
            paths = cattrs.transform_error(exc, path="$")
            raise serde.SerializationError("cannot load Context: " + "; ".join(paths), paths) from (
                exc
            )
        except (ValueError, TypeError, KeyError, ConfigurationError) as exc:
            _fail(f"{type(exc).__name__}: {exc} @ $", exc)
        return context

    @classmethod
    def loads(cls, text: str | bytes) -> Context:
        """A context from a JSON string written by :meth:`dumps`."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            _fail(f"not JSON: {exc} @ $", exc)
        return cls.from_dict(data)


def _fail(message: str, cause: BaseException | None = None) -> Any:
    raise serde.SerializationError(f"cannot load Context: {message}", [message]) from cause


# --- a strict copy of llmcore's converter -------------------------------------------------------
def _exact(expected: type | tuple[type, ...], name: str) -> Callable[[Any, Any], Any]:
    def hook(value: Any, t: Any) -> Any:
        if isinstance(value, bool) and expected is not bool:
            raise TypeError(f"expected {name}, got bool")
        if not isinstance(value, expected):
            raise TypeError(f"expected {name}, got {type(value).__name__}")
        if isinstance(t, type) and issubclass(t, enum.Enum):
            return t(value)  # str enums (Role) dispatch here too; ValueError names the field
        return value

    return hook


def _is_homogeneous_tuple(t: Any) -> bool:
    args = get_args(t)
    return get_origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis


def _needs(kind: type, name: str, inner: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def hook(value: Any, t: Any) -> Any:
        if not isinstance(value, kind):
            raise TypeError(f"expected a JSON {name}, got {type(value).__name__}")
        return inner(value, t)

    return hook


def _strict_converter() -> cattrs.Converter:
    """llmcore's converter, but a wrong JSON type raises instead of being coerced by ``str()`` or
    ``bool()``, and objects / arrays must be JSON objects / arrays."""
    conv = serde.converter.copy()
    conv.register_structure_hook(str, _exact(str, "a string"))
    conv.register_structure_hook(bool, _exact(bool, "a boolean"))
    conv.register_structure_hook(int, _exact(int, "an integer"))
    number = _exact((int, float), "a number")
    conv.register_structure_hook(float, lambda v, t: float(number(v, t)))

    def attrs_class(cls: type) -> Callable[[Any, Any], Any]:
        attrs.resolve_types(cls)  # string annotations (PEP 563) to types, as cattrs itself does
        return _needs(dict, "object", cattrs.gen.make_dict_structure_fn(cls, conv))

    conv.register_structure_hook_factory(attrs.has, attrs_class)
    conv.register_structure_hook_factory(
        _is_homogeneous_tuple,
        lambda t: _needs(list, "array", cattrs.cols.homogenous_tuple_structure_factory(t, conv)),
    )
    conv.register_structure_hook_factory(
        cattrs.cols.is_mapping,
        lambda t: _needs(dict, "object", cattrs.cols.mapping_structure_factory(t, conv)),
    )

    def part(value: Any, _type: Any) -> Part:
        if not isinstance(value, dict):
            raise TypeError(f"expected a JSON object, got {type(value).__name__}")
        tag = value.get("type")
        cls = serde._PARTS.get(tag) if isinstance(tag, str) else None  # serde's tag table
        if cls is None:
            raise ValueError(f"unknown content part type {tag!r}")
        structured: Part = conv.structure(value, cls)
        return structured

    conv.register_structure_hook(Part, part)
    return conv


_STRICT = _strict_converter()
