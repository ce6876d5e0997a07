"""Cross-provider handoffs: make a conversation from any provider acceptable to another one.

:func:`adapt_request` runs on every request (the client applies it before the payload is built),
so a conversation recorded with one provider can continue on another. The rules:

- user and tool-result messages pass through (only their media may be downgraded, below);
- an assistant message records where it came from (``Message.origin``: provider, API, model;
  the core sets it on every answer). Going back to the **same API**, the message is sent as it
  was: its plain ``reasoning``, its ``provider_data`` and its tool calls' ``extra`` stay, and so
  do its thinking blocks with their signatures when they also come from the target's own
  provider (a signature is checked by the provider that issued it, so another provider of the
  same API gets that block's text as foreign reasoning instead). A block without its own
  ``provider``/``api`` tags takes the message's origin;
- for a **different API** the message is converted: its ``provider_data`` and its tool calls'
  ``extra`` are dropped, and its reasoning is *foreign*: signatures and opaque payloads are
  dropped and the text becomes ``<thinking>...</thinking>`` text in front of the content, or
  goes to ``Message.reasoning`` when the target carries reasoning back in history
  (``compat.carries_reasoning()``), or disappears when the target's
  ``compat.drop_foreign_thinking`` is set;
- a message without an origin (built by hand, or loaded from a context saved before origins
  existed) is treated as coming from an unknown API: untagged blocks and plain ``reasoning`` are
  foreign, ``provider_data`` is dropped; tagged blocks follow their own tags;
- tool-call ids are rewritten, deterministically, when the target's API would reject them, and
  the tool results answering them get the same new ids;
- empty assistant turns (no text, media, tool calls or reasoning) are dropped; aborted and
  failed turns are dropped when they enter history (:func:`history_message`), since a
  :class:`~llmcore.messages.Message` does not record its stop reason;
- a tool call without a result gets a synthetic error result right after its turn;
- images and audio go to a text placeholder for models that cannot take them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from llmcore._repr import attrs_repr
from llmcore.chat import ChatCompletionRequest, ChatCompletionResponse, StopReason
from llmcore.content import AudioPart, Content, ImagePart, Part, TextPart
from llmcore.messages import Message, MessageOrigin, Role, ThinkingBlock, ToolCall
from llmcore.providers import Provider

__all__ = [
    "NO_RESULT",
    "TOOL_CALL_ID_RULES",
    "ToolCallIdRule",
    "adapt_request",
    "history_message",
    "tool_call_id_rule",
    "transform_messages",
]

NO_RESULT = "No result provided"
"""Text of the synthetic error result given to a tool call that has none."""


@attrs_repr
@attrs.frozen(repr=False)
class ToolCallIdRule:
    """Which tool-call ids an API accepts: ``chars`` (a regex character-class body) and length.

    :meth:`rewrite` keeps an accepted id and maps any other to an accepted one, deterministically
    (the same old id always gives the same new id, on every request), keeping a readable prefix
    and adding a short hash of the original so that distinct ids stay distinct.
    """

    max_length: int = 64
    chars: str = "a-zA-Z0-9_-"
    min_length: int = 1

    def accepts(self, tool_call_id: str) -> bool:
        """True when ``tool_call_id`` is valid as it is."""
        pattern = f"[{self.chars}]{{{self.min_length},{self.max_length}}}"
        return re.fullmatch(pattern, tool_call_id) is not None

    def rewrite(self, tool_call_id: str) -> str:
        """``tool_call_id`` if accepted, else ``<sanitised prefix>_<hash>`` within the limits."""
        if self.accepts(tool_call_id):
            return tool_call_id
        digest = hashlib.sha256(tool_call_id.encode("utf-8")).hexdigest()
        sep = "_" if re.fullmatch(f"[{self.chars}]", "_") else ""
        clean = re.sub(f"[^{self.chars}]", sep, tool_call_id)
        room = self.max_length - len(sep) - 10
        prefix = clean[:room] if room >= 4 else ""
        if prefix:
            return f"{prefix}{sep}{digest[:10]}"
        return digest[: max(self.min_length, min(self.max_length, 10))]


TOOL_CALL_ID_RULES: dict[str, ToolCallIdRule] = {
    # Anthropic documents tool_use ids as ^[a-zA-Z0-9_-]+$ and rejects ids over 64 characters.
    "anthropic-messages": ToolCallIdRule(max_length=64),
    # OpenAI Chat rejects tool_calls[].id longer than 40 characters; Responses-style
    # "call_...|fc_..." ids from gateways are both too long and carry '|', '+', '/', '='.
    "openai-chat": ToolCallIdRule(max_length=40),
}
"""Tool-call id rules per API; other APIs get :data:`DEFAULT_TOOL_CALL_ID_RULE`."""

DEFAULT_TOOL_CALL_ID_RULE = ToolCallIdRule()


def tool_call_id_rule(provider: Provider) -> ToolCallIdRule:
    """The rule for ``provider``: its API's, overridden by the compat fields
    ``tool_call_id_max_length``, ``tool_call_id_min_length`` and ``tool_call_id_chars`` (or, the
    older spelling, the same keys in ``compat.extra``)."""
    rule = TOOL_CALL_ID_RULES.get(provider.api, DEFAULT_TOOL_CALL_ID_RULE)
    compat = provider.compat
    extra = compat.extra
    changes: dict[str, Any] = {}
    for key, field in (
        ("tool_call_id_max_length", "max_length"),
        ("tool_call_id_min_length", "min_length"),
        ("tool_call_id_chars", "chars"),
    ):
        value = getattr(compat, key, None)
        if value is not None:
            changes[field] = value
        elif key in extra:
            changes[field] = extra[key]
    return attrs.evolve(rule, **changes) if changes else rule


def history_message(response: ChatCompletionResponse) -> Message | None:
    """The message to keep in history for ``response``, or None for a turn not to replay.

    A turn that was aborted (cancelled, cut) or failed is dropped before follow-up messages: its
    partial text and half-streamed tool calls would confuse the next model. A :class:`Message` does
    not record its stop reason, so this decision is taken here, when the answer enters history
    (:meth:`llmcore.Context.append_response`).

    :param response: an answer (complete, or the partial of a failed or cancelled stream).
    :returns: its first choice's message, or ``None``. Never raises.
    """
    if response.stop_reason in (StopReason.ABORTED, StopReason.ERROR):
        return None
    if not response.choices:
        return None
    return response.message


# --- media ------------------------------------------------------------------------------------
def _downgrade_media(message: Message, target: Provider, model: str) -> Message:
    images = target.capabilities.accepts_images(model)
    audio = target.capabilities.accepts_audio(model)
    if images and audio:
        return message
    parts: list[Part] = []
    changed = False
    for part in message.content.parts:
        if isinstance(part, ImagePart) and not images:
            parts.append(TextPart(f"[image omitted: {model} does not accept images]"))
            changed = True
        elif isinstance(part, AudioPart) and not audio:
            parts.append(TextPart(f"[audio omitted: {model} does not accept audio]"))
            changed = True
        else:
            parts.append(part)
    return attrs.evolve(message, content=Content(tuple(parts))) if changed else message


# --- assistant turns --------------------------------------------------------------------------
def _native(block: ThinkingBlock, origin: MessageOrigin | None, target: Provider) -> bool:
    """True when ``block`` comes from ``target``'s own provider and API (its tags, else the
    message's origin)."""
    if block.provider is None and block.api is None and origin is not None:
        return origin.provider == target.name and origin.api == target.api
    return block.provider == target.name and block.api == target.api


def _with_foreign_reasoning(message: Message, text: str | None, target: Provider) -> Message:
    """Put foreign reasoning ``text`` where ``target`` can take it (or nowhere)."""
    if not text or not text.strip() or target.compat.drops_foreign_thinking():
        return message
    if target.compat.carries_reasoning():
        joined = f"{message.reasoning}\n\n{text}" if message.reasoning else text
        return attrs.evolve(message, reasoning=joined)
    wrapped = f"<thinking>\n{text}\n</thinking>"
    if message.content:
        wrapped += "\n\n"
    return attrs.evolve(message, content=Content((TextPart(wrapped), *message.content.parts)))


def _without_call_extras(calls: tuple[ToolCall, ...]) -> tuple[ToolCall, ...]:
    return tuple(attrs.evolve(c, extra={}) if c.extra else c for c in calls)


def _assistant_reasoning(message: Message, target: Provider) -> Message:
    origin = message.origin
    same_api = origin is not None and origin.api == target.api
    other_api = origin is not None and not same_api
    if other_api and (message.provider_data or any(c.extra for c in message.tool_calls)):
        # what the source API sent for the message means nothing to another API
        message = attrs.evolve(
            message, provider_data={}, tool_calls=_without_call_extras(message.tool_calls)
        )
    elif origin is None and message.provider_data:
        message = attrs.evolve(message, provider_data={})  # unknown API: not sent anywhere
    native = tuple(b for b in message.thinking if _native(b, origin, target))
    if len(native) == len(message.thinking) and (native or not message.reasoning or same_api):
        return message  # everything native, no reasoning at all, or the same API's own
    foreign = [
        b.text for b in message.thinking if not _native(b, origin, target) and b.text.strip()
    ]
    if native:
        foreign_text = "\n\n".join(foreign)
        reasoning = "\n\n".join(b.text for b in native if b.text) or None
    else:
        foreign_text = "\n\n".join(foreign) or (message.reasoning or "")
        reasoning = None
    # a foreign turn's tool calls may carry the source provider's signatures in ``extra``
    foreign_turn = bool(message.thinking) and not native
    calls = _without_call_extras(message.tool_calls) if foreign_turn else message.tool_calls
    stripped = attrs.evolve(message, thinking=native, reasoning=reasoning, tool_calls=calls)
    return _with_foreign_reasoning(stripped, foreign_text, target)


def _is_empty(message: Message) -> bool:
    has_text = bool(message.content.as_text().strip()) or message.content.has_media()
    has_reasoning = bool(message.reasoning and message.reasoning.strip()) or bool(message.thinking)
    return not (has_text or message.tool_calls or has_reasoning)


def _rewrite_calls(message: Message, new_id: Callable[[str], str]) -> Message:
    calls = tuple(
        c if new_id(c.id) == c.id else attrs.evolve(c, id=new_id(c.id)) for c in message.tool_calls
    )
    if all(a is b for a, b in zip(calls, message.tool_calls, strict=True)):
        return message
    return attrs.evolve(message, tool_calls=calls)


def _missing_results(pending: Sequence[ToolCall], answered: set[str]) -> list[Message]:
    return [
        Message.tool(c.id, NO_RESULT, name=c.name, is_error=True)
        for c in pending
        if c.id not in answered
    ]


def transform_messages(
    messages: Iterable[Message], target: Provider, model: str
) -> tuple[Message, ...]:
    """``messages`` made acceptable to ``model`` on ``target`` (rules in the module docstring).

    Unchanged messages are returned as the same objects, so callers can detect "no change".

    :param messages: the conversation, in order.
    :param target: the provider the messages will be sent to (its name, API, compat flags and
        capabilities decide the rules).
    :param model: the model they will be sent to (for media capabilities).
    :returns: the adapted messages. Never raises for well-formed :class:`Message` values.
    """
    rule = tool_call_id_rule(target)
    ids: dict[str, str] = {}

    def new_id(old: str) -> str:
        if old not in ids:
            ids[old] = rule.rewrite(old)
        return ids[old]

    out: list[Message] = []
    pending: tuple[ToolCall, ...] = ()
    answered: set[str] = set()
    for message in messages:
        if message.role is Role.ASSISTANT:
            message = _rewrite_calls(_assistant_reasoning(message, target), new_id)
            if _is_empty(message):
                continue
            out.extend(_missing_results(pending, answered))
            pending, answered = message.tool_calls, set()
        elif message.role is Role.TOOL:
            if message.tool_call_id is not None and new_id(message.tool_call_id) != (
                message.tool_call_id
            ):
                message = attrs.evolve(message, tool_call_id=new_id(message.tool_call_id))
            message = _downgrade_media(message, target, model)
            if message.tool_call_id is not None:
                answered.add(message.tool_call_id)
        else:
            out.extend(_missing_results(pending, answered))
            pending, answered = (), set()
            if message.role is Role.USER:
                message = _downgrade_media(message, target, model)
        out.append(message)
    out.extend(_missing_results(pending, answered))
    return tuple(out)


def adapt_request(request: ChatCompletionRequest, provider: Provider) -> ChatCompletionRequest:
    """``request`` with its messages transformed for ``provider``; the same object if unchanged.

    :param request: the request to adapt (the client calls this before every send).
    :param provider: the provider it will be sent to.
    :returns: the adapted request (see :func:`transform_messages`). Never raises.
    """
    messages = transform_messages(request.messages, provider, request.model)
    if len(messages) == len(request.messages) and all(
        a is b for a, b in zip(messages, request.messages, strict=True)
    ):
        return request
    return attrs.evolve(request, messages=messages)
