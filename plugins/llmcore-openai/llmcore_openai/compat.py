"""The compatibility flags of the ``openai-chat`` API, owned by this plugin."""

from __future__ import annotations

from typing import Any

import attrs

from llmcore import Compat, Provider
from llmcore.validation import check_bool, check_str, describe, fail

__all__ = ["SYSTEM_ROLES", "OpenAIChatCompat", "openai_compat"]

SYSTEM_ROLES = ("system", "developer", "auto")
MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens")


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            fail(
                attribute.name,
                f"expected one of {', '.join(choices)}, got {describe(value)}",
            )

    return check


def _bool(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_bool(attribute.name, value)


def _opt_name(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_str(attribute.name, value, optional=True, nonempty=True)


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    names = (value,) if isinstance(value, str) else tuple(value)
    for i, name in enumerate(names):
        check_str(f"replay_provider_data[{i}]", name, nonempty=True)
    return names


@attrs.frozen
class OpenAIChatCompat(Compat):
    """How an ``openai-chat`` server differs from OpenAI's reference Chat Completions.

    - ``system_role``: role name for system prompts: ``system``, ``developer``, or ``auto``
      (``developer`` for the provider's reasoning models, ``Capabilities.reasoning``);
    - ``max_tokens_field``: ``max_tokens`` or ``max_completion_tokens``;
    - ``stream_usage``: send ``stream_options.include_usage`` (not every server accepts it);
    - ``reasoning_effort``: the server accepts a ``reasoning_effort`` field;
    - ``think_tags``: the model inlines its reasoning as ``<think>...</think>`` in the content,
      which the plugin moves to ``reasoning``;
    - ``reasoning_field``: name of the field that carries reasoning text back in assistant
      history (``reasoning_content`` for DeepSeek, Moonshot, Zhipu), or None to send none;
      when set, handoffs put foreign reasoning there too (:meth:`carries_reasoning`);
    - ``replay_provider_data``: keys of an assistant message's ``provider_data`` that the server
      accepts back in history (e.g. OpenRouter's ``reasoning_details``); sent as message fields
      when the message goes back to this API. OpenAI's own Chat Completions accepts none of
      what it returns (``annotations``, ``refusal``...), so the default is none.

    The flags the core reads (``drop_foreign_thinking``, ``tool_call_id_*``, ``extra``) are
    inherited from :class:`llmcore.Compat`.
    """

    system_role: str = attrs.field(default="system", validator=_one_of(SYSTEM_ROLES))
    max_tokens_field: str = attrs.field(default="max_tokens", validator=_one_of(MAX_TOKENS_FIELDS))
    stream_usage: bool = attrs.field(default=True, validator=_bool)
    reasoning_effort: bool = attrs.field(default=True, validator=_bool)
    think_tags: bool = attrs.field(default=False, validator=_bool)
    reasoning_field: str | None = attrs.field(default=None, validator=_opt_name)
    replay_provider_data: tuple[str, ...] = attrs.field(default=(), converter=_names)

    def carries_reasoning(self) -> bool:
        """True when ``reasoning_field`` is set."""
        return self.reasoning_field is not None


def openai_compat(provider: Provider) -> OpenAIChatCompat:
    """The ``openai-chat`` flags of ``provider``: its compat when it is an
    :class:`OpenAIChatCompat`, else the defaults with the core flags of its plain
    :class:`llmcore.Compat` kept."""
    compat = provider.compat
    if isinstance(compat, OpenAIChatCompat):
        return compat
    return OpenAIChatCompat(
        drop_foreign_thinking=compat.drop_foreign_thinking,
        tool_call_id_max_length=compat.tool_call_id_max_length,
        tool_call_id_min_length=compat.tool_call_id_min_length,
        tool_call_id_chars=compat.tool_call_id_chars,
        extra=compat.extra,
    )
