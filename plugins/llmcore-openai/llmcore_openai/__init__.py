"""llmcore-openai: the ``openai-chat`` API for llmcore.

Thin hook implementations only; the translation lives in :mod:`llmcore_openai.payload` and
:mod:`llmcore_openai.parse`. The plugin declares ``LLMCORE_APIS``, so the core calls these hooks
only for providers whose ``api`` is ``openai-chat`` (OpenAI itself, any compatible server, and
vendor plugins that reuse the API): no hook checks the API itself.
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
    ModelInfo,
    Provider,
)
from llmcore_openai.compat import OpenAIChatCompat, openai_compat
from llmcore_openai.parse import iter_chunks, parse_chat, parse_models
from llmcore_openai.payload import build_chat_request, chat_payload
from llmcore_openai.providers import API, OPENAI, OPENAI_COMPATIBLE, openai_compatible

__all__ = [
    "API",
    "OPENAI",
    "OPENAI_COMPATIBLE",
    "OpenAIChatCompat",
    "chat_payload",
    "openai_compat",
    "openai_compatible",
]

LLMCORE_APIS = (API,)


@llmcore.hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(OPENAI)
    register(OPENAI_COMPATIBLE)


@llmcore.hookimpl
def build_payload(provider: Provider, request: ChatCompletionRequest, stream: bool) -> HttpRequest:
    return build_chat_request(provider, request, stream)


@llmcore.hookimpl
def parse_response(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    return parse_chat(provider, response)


@llmcore.hookimpl
def iter_stream(provider: Provider, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
    return iter_chunks(provider, frames)


@llmcore.hookimpl
def build_list_models(provider: Provider) -> HttpRequest:
    return HttpRequest("GET", provider.url("models"), {"Accept": "application/json"})


@llmcore.hookimpl
def parse_list_models(provider: Provider, response: HttpResponse) -> list[ModelInfo]:
    return parse_models(response)
