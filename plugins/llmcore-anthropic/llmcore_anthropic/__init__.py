"""llmcore-anthropic: the ``anthropic-messages`` API (Anthropic's Messages API) for llmcore.

Thin hook implementations only; the translation lives in :mod:`llmcore_anthropic.payload` and
:mod:`llmcore_anthropic.parse`. The plugin declares ``LLMCORE_APIS``, so the core calls these
hooks only for providers whose ``api`` is ``anthropic-messages``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import llmcore
from llmcore import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Frame,
    HttpRequest,
    HttpResponse,
    LlmError,
    ModelPage,
    Provider,
)
from llmcore_anthropic.parse import iter_chunks, parse_message, parse_models_page
from llmcore_anthropic.parse import parse_error as _parse_error
from llmcore_anthropic.payload import (
    EFFORT_BUDGETS,
    MODELS_PAGE_LIMIT,
    build_messages_request,
    messages_payload,
    models_request,
)
from llmcore_anthropic.providers import (
    ANTHROPIC,
    ANTHROPIC_BEARER,
    ANTHROPIC_VERSION,
    API,
    DEFAULT_MAX_TOKENS,
    anthropic_compatible,
)

__all__ = [
    "ANTHROPIC",
    "ANTHROPIC_BEARER",
    "ANTHROPIC_VERSION",
    "API",
    "DEFAULT_MAX_TOKENS",
    "EFFORT_BUDGETS",
    "MODELS_PAGE_LIMIT",
    "anthropic_compatible",
    "messages_payload",
]

LLMCORE_APIS = (API,)


@llmcore.hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(ANTHROPIC)
    register(ANTHROPIC_BEARER)


@llmcore.hookimpl
def build_payload(provider: Provider, request: ChatCompletionRequest, stream: bool) -> HttpRequest:
    return build_messages_request(provider, request, stream)


@llmcore.hookimpl
def parse_response(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    return parse_message(provider, response)


@llmcore.hookimpl
def iter_stream(provider: Provider, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
    return iter_chunks(provider, frames)


@llmcore.hookimpl
def parse_error(provider: Provider, response: HttpResponse) -> LlmError | None:
    return _parse_error(provider, response)


@llmcore.hookimpl
def build_list_models(provider: Provider) -> HttpRequest:
    return models_request(provider)


@llmcore.hookimpl
def parse_list_models(provider: Provider, response: HttpResponse) -> ModelPage:
    return parse_models_page(provider, response)
