"""Providers are data: a named endpoint speaking one API, with its auth, env vars and quirks.

An *API* (``openai-chat``, ``anthropic-messages``...) is behaviour, implemented by plugin hooks.
A :class:`Provider` names an endpoint that speaks one API: its base URL, how it authenticates,
which environment variables hold its key, default headers, what it can do (capabilities) and its
documented differences from the API's reference shape (compat flags).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from llmcore.errors import redact
from llmcore.http import mask_headers
from llmcore.validation import check_headers, check_str

__all__ = ["AuthScheme", "Capabilities", "Compat", "Provider", "Secret"]

AuthScheme = Literal["bearer", "x-api-key", "api-key", "query-key", "none", "custom"]


class Secret:
    """A credential whose ``repr``/``str`` never shows the value; ``reveal()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("Secret values are not picklable")


def _tuple(value: Iterable[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


def _url_repr(text: str) -> str:
    return repr(redact(text))


def _headers_repr(headers: Mapping[str, str]) -> str:
    return repr({k: redact(v) for k, v in mask_headers(headers).items()})


def _to_headers(value: Mapping[str, str] | None) -> dict[str, str]:
    if value is None:
        return {}
    check_headers("headers", value)
    return dict(value)


def _nonempty(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_str(attribute.name, value, nonempty=True)


def _string(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_str(attribute.name, value)


@attrs.frozen
class Compat:
    """Documented differences of an endpoint from its API's reference shape.

    - ``system_role``: role name for system prompts (``system``, or ``developer`` for OpenAI
      reasoning models);
    - ``max_tokens_field``: ``max_tokens`` or ``max_completion_tokens``;
    - ``stream_usage``: send ``stream_options.include_usage`` (not every server accepts it);
    - ``reasoning_effort``: the endpoint accepts a ``reasoning_effort`` field;
    - ``think_tags``: the model inlines its reasoning as ``<think>...</think>`` in the content,
      which llmcore then moves to ``reasoning``;
    - ``reasoning_field``: name of the field that carries reasoning text back in assistant
      history (``reasoning_content`` for DeepSeek/Moonshot/Zhipu), or None to drop it;
    - ``extra``: plugin-specific flags, read by the plugin that defines them.
    """

    system_role: str = "system"
    max_tokens_field: str = "max_tokens"
    stream_usage: bool = True
    reasoning_effort: bool = True
    think_tags: bool = False
    reasoning_field: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_dict)


@attrs.frozen
class Capabilities:
    """What a provider's models can take. Patterns are ``fnmatch`` globs over model ids.

    ``vision`` / ``audio`` are the models that accept images / audio (``("*",)``: all of them).
    """

    chat: bool = True
    streaming: bool = True
    tools: bool = True
    list_models: bool = True
    vision: tuple[str, ...] = attrs.field(default=("*",), converter=_tuple)
    audio: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    reasoning: tuple[str, ...] = attrs.field(default=(), converter=_tuple)

    def accepts_images(self, model: str) -> bool:
        """True when ``model`` accepts image input."""
        return any(fnmatch.fnmatchcase(model, p) for p in self.vision)

    def accepts_audio(self, model: str) -> bool:
        """True when ``model`` accepts audio input."""
        return any(fnmatch.fnmatchcase(model, p) for p in self.audio)


@attrs.frozen
class Provider:
    """A configured endpoint: ``name`` (``"openai"``), the ``api`` it speaks, where and how.

    ``api_key_env`` lists environment variables tried in order for the key; ``key_required``
    is False for local servers (Ollama, llama.cpp) that need none. ``headers`` go on every request.
    ``distribution`` names the package to install when its API has no plugin. ``base_url_env``
    lists environment variables tried in order for the base URL (``OPENAI_BASE_URL`` for OpenAI):
    a :class:`~llmcore.Client` built without ``base_url=`` uses the first non-empty one instead of
    ``base_url`` (see :meth:`env_base_url`).

    ``headers`` are checked here (token names, values without line breaks or control
    characters); the base URL is checked when a :class:`~llmcore.Client` is built for it.
    """

    name: str = attrs.field(validator=_nonempty)
    api: str = attrs.field(validator=_nonempty)
    base_url: str = attrs.field(validator=_string, repr=_url_repr)
    api_key_env: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    auth: AuthScheme = "bearer"
    key_required: bool = True
    headers: dict[str, str] = attrs.field(factory=dict, converter=_to_headers, repr=_headers_repr)
    compat: Compat = attrs.field(factory=Compat)
    capabilities: Capabilities = attrs.field(factory=Capabilities)
    distribution: str | None = None
    description: str = attrs.field(default="", repr=_url_repr)
    base_url_env: tuple[str, ...] = attrs.field(default=(), converter=_tuple)

    def env_base_url(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The first non-empty of the ``base_url_env`` variables, or None.

        ``environ`` defaults to ``os.environ``; an empty variable counts as unset. The value is
        returned as set (:meth:`with_base_url` strips a trailing slash).
        """
        env = os.environ if environ is None else environ
        for name in self.base_url_env:
            value = env.get(name)
            if value:
                return value
        return None

    def with_base_url(self, base_url: str | None) -> Provider:
        """A copy pointing at ``base_url`` (unchanged when None)."""
        return self if base_url is None else attrs.evolve(self, base_url=base_url.rstrip("/"))

    def evolve(self, **changes: Any) -> Provider:
        """A copy with some fields changed (e.g. ``compat=Compat(...)``)."""
        return attrs.evolve(self, **changes)

    def url(self, path: str) -> str:
        """``base_url`` joined with ``path``."""
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")
