"""Unified request -> GLM chat payload: the openai-chat payload, adjusted where GLM differs.

What differs from OpenAI Chat Completions (everything else is llmcore-openai's translation):

- ``thinking: {"type": "enabled" | "disabled"}`` replaces ``reasoning_effort``: effort
  ``none`` or a ``reasoning_budget`` of 0 turns thinking off, any other effort or budget turns
  it on; without either the field is left out (the model's default). Keys given in
  ``extra["thinking"]`` (e.g. ``clear_thinking``) are merged over the computed ones.
- Built-in tools such as ``web_search`` are not functions: pass them as
  ``extra={"tools": [...]}`` (see :func:`web_search`); they are appended after the function
  tools built from ``request.tools`` instead of replacing them.
- ``tool_choice`` accepts only ``auto``; ``stop`` takes one sequence. Anything else raises
  :class:`llmcore.InvalidInputError` before a request is sent.
"""

from __future__ import annotations

from typing import Any

import attrs

from llmcore import (
    ChatCompletionRequest,
    HttpRequest,
    InvalidInputError,
    Provider,
    ReasoningEffort,
)
from llmcore_openai.payload import build_chat_request, tool_to_wire

__all__ = ["build_request", "thinking_for", "web_search"]


def web_search(*, search_result: bool = True, **options: Any) -> dict[str, Any]:
    """The built-in ``web_search`` tool, to pass as ``extra={"tools": [web_search()]}``.

    :param search_result: ask the API to return the search results with the answer.
    :param options: further ``web_search`` fields as the API documents them
        (``search_query``, ``search_engine``, ``count``...), sent unchanged.
    :return: ``{"type": "web_search", "web_search": {...}}``.
    """
    return {"type": "web_search", "web_search": {**options, "search_result": search_result}}


def thinking_for(request: ChatCompletionRequest) -> dict[str, Any] | None:
    """The ``thinking`` object for the request's reasoning settings, or None to leave it out."""
    effort = request.reasoning_effort
    budget = request.reasoning_budget
    if effort is None and budget is None:
        return None
    off = effort is ReasoningEffort.NONE or budget == 0
    return {"type": "disabled" if off else "enabled"}


def _check(provider: Provider, request: ChatCompletionRequest) -> None:
    choice = request.tool_choice
    if choice is not None and choice.mode != "auto":
        raise InvalidInputError.at(
            "tool_choice",
            f"{provider.name} accepts only tool_choice 'auto', not {choice.mode!r}",
            provider=provider.name,
        )
    if request.stop is not None and len(request.stop) > 1:
        raise InvalidInputError.at(
            "stop",
            f"{provider.name} accepts one stop sequence, got {len(request.stop)}",
            provider=provider.name,
        )


def build_request(provider: Provider, request: ChatCompletionRequest, stream: bool) -> HttpRequest:
    """The HTTP request for a GLM chat call.

    :raises llmcore.InvalidInputError: input GLM cannot express (tool choice other than
        ``auto``, several stop sequences, ``extra["tools"]`` or ``extra["thinking"]`` of the
        wrong type), or any the openai-chat translation rejects.
    """
    _check(provider, request)
    http_request = build_chat_request(provider, request, stream)
    body: dict[str, Any] = dict(http_request.json)
    extra = request.extra
    if "tools" in extra:
        builtin = extra["tools"]
        if not isinstance(builtin, list):
            raise InvalidInputError.at(
                "extra['tools']",
                "expected a list of tool objects (e.g. llmcore_zhipu.web_search())",
                provider=provider.name,
            )
        body["tools"] = [*(tool_to_wire(t) for t in request.tools or ()), *builtin]
    thinking = thinking_for(request)
    if "thinking" in extra:
        given = extra["thinking"]
        if not isinstance(given, dict):
            raise InvalidInputError.at(
                "extra['thinking']",
                'expected an object such as {"type": "enabled"}',
                provider=provider.name,
            )
        body["thinking"] = {**(thinking or {}), **given}
    elif thinking is not None:
        body["thinking"] = thinking
    return attrs.evolve(http_request, json=body)
