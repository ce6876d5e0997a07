"""Providers are data: a named endpoint speaking one API, with its auth, env vars and quirks.

An *API* (``openai-chat``, ``anthropic-messages``...) is behaviour, implemented by plugin hooks.
A :class:`Provider` names an endpoint that speaks one API: its base URL, how it authenticates,
which environment variables hold its key, default headers, what it can do (capabilities) and its
documented differences from the API's reference shape (compat flags).

Compat flags belong to the API that uses them. :class:`Compat` holds only the flags the core
reads itself (handoffs); the plugin that owns an API subclasses it with that API's typed flags
(``llmcore_openai.OpenAIChatCompat`` for ``openai-chat``) and its providers carry an instance
(``Provider(..., compat=OpenAIChatCompat(system_role="developer"))``).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs

from llmcore._repr import attrs_repr
from llmcore.errors import redact
from llmcore.http import mask_headers
from llmcore.validation import check_headers, check_int, check_str, describe, fail

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


def _opt_count(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_int(attribute.name, value, optional=True, minimum=1)


def _opt_chars(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_str(attribute.name, value, optional=True, nonempty=True)


@attrs_repr
@attrs.frozen(repr=False)
class Compat:
    """The compatibility flags the core reads itself; the base class of every API's own flags.

    The plugin that owns an API declares that API's flags in a subclass (typed and documented
    there: ``llmcore_openai.OpenAIChatCompat`` for ``openai-chat``), and its providers carry an
    instance. The core reads only what is defined here, in :mod:`llmcore.handoff`:

    - ``drop_foreign_thinking``: reasoning from another provider or API is dropped instead of
      being sent as ``<thinking>`` text;
    - ``tool_call_id_max_length`` / ``tool_call_id_min_length`` / ``tool_call_id_chars``:
      override the API's tool-call id rule (:data:`llmcore.handoff.TOOL_CALL_ID_RULES`), for a
      provider stricter than its API (``chars`` is a regex character-class body);
    - :meth:`carries_reasoning`: whether the API takes plain reasoning text back in assistant
      history (a subclass answers for its wire);
    - ``extra``: free-form flags, read by the plugin that defines them. For backward
      compatibility the core also honours the keys ``drop_foreign_thinking`` and
      ``tool_call_id_max_length`` / ``_min_length`` / ``_chars`` there.
    """

    drop_foreign_thinking: bool = False
    tool_call_id_max_length: int | None = attrs.field(default=None, validator=_opt_count)
    tool_call_id_min_length: int | None = attrs.field(default=None, validator=_opt_count)
    tool_call_id_chars: str | None = attrs.field(default=None, validator=_opt_chars)
    extra: dict[str, Any] = attrs.field(factory=dict, converter=_dict)

    def carries_reasoning(self) -> bool:
        """True when the API sends plain reasoning text back in assistant history, so that a
        handoff puts foreign reasoning in ``Message.reasoning`` rather than ``<thinking>`` text.

        False here; an API's subclass answers for its wire (``OpenAIChatCompat`` does when its
        ``reasoning_field`` is set).
        """
        return False

    def drops_foreign_thinking(self) -> bool:
        """``drop_foreign_thinking``, or the same key in ``extra`` (the older spelling)."""
        return self.drop_foreign_thinking or bool(self.extra.get("drop_foreign_thinking"))


def _check_compat(_inst: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, Compat):
        fail(
            "compat",
            f"expected a Compat (or a plugin's subclass, such as OpenAIChatCompat), got "
            f"{describe(value)}",
        )


@attrs_repr
@attrs.frozen(repr=False)
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


@attrs_repr
@attrs.frozen(repr=False)
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
    compat: Compat = attrs.field(factory=Compat, validator=_check_compat)
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
        """A copy with some fields changed (e.g. ``compat=OpenAIChatCompat(...)``)."""
        return attrs.evolve(self, **changes)

    def url(self, path: str) -> str:
        """``base_url`` joined with ``path``: the URL of an endpoint under the API root the user
        configured (``https://api.openai.com/v1`` + ``chat/completions``).

        Use it for every path of an API that lives under one prefix; a user's proxy prefix in
        ``base_url`` (``https://gateway/openai/v1``) is then kept.
        """
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def origin_url(self, path: str) -> str:
        """The scheme, host and port of ``base_url`` joined with the absolute ``path``; the
        path of ``base_url`` is ignored.

        For an API whose endpoints sit under several prefixes of one host (``/v2/chat`` beside
        ``/v1/models``): the user configures the conventional ``base_url``
        (``https://api.example.com/v2``) and the plugin builds ``url("chat")`` for one and
        ``origin_url("/v1/models")`` for the other. Prefer :meth:`url` where it suffices, since
        ``origin_url`` also drops a proxy prefix from ``base_url``. Userinfo is dropped, and the
        base URL's query string is not part of the result (a :class:`~llmcore.Client` already
        sends it as the parameters of every request, see :mod:`llmcore.urls`).
        """
        parts = urlsplit(self.base_url)
        host = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme}://{host}/{path.lstrip('/')}"
