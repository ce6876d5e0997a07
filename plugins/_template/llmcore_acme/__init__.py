"""llmcore-acme: the ``acme-chat`` API for llmcore.

The hooks are thin; the translation lives in :mod:`llmcore_acme.payload` and
:mod:`llmcore_acme.parse`. ``LLMCORE_APIS`` makes the core call these hooks only for providers
whose ``api`` is ``acme-chat``, so no hook checks the API itself.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

import llmcore
from llmcore import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Frame,
    HttpRequest,
    HttpResponse,
    LlmError,
    ModelInfo,
    Provider,
)
from llmcore_acme import parse
from llmcore_acme.payload import build_chat_request
from llmcore_acme.providers import ACME, API

__all__ = ["ACME", "API", "LLMCORE_APIS"]

LLMCORE_APIS = (API,)


@llmcore.hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(ACME)


@llmcore.hookimpl
def build_payload(provider: Provider, request: ChatCompletionRequest, stream: bool) -> HttpRequest:
    return build_chat_request(provider, request, stream)


@llmcore.hookimpl
def parse_response(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    return parse.parse_chat(provider, response)


@llmcore.hookimpl
def iter_stream(
    provider: Provider, frames: Iterator[Frame]
) -> Generator[ChatCompletionChunk, None, bool]:
    # A generator function is a valid iter_stream: its return value says "terminal frame seen".
    return (yield from parse.iter_chunks(provider, frames))


@llmcore.hookimpl
def parse_error(provider: Provider, response: HttpResponse) -> LlmError | None:
    return parse.parse_error(provider, response)


@llmcore.hookimpl
def build_list_models(provider: Provider) -> HttpRequest:
    return HttpRequest("GET", provider.url("models"), {"accept": "application/json"})


@llmcore.hookimpl
def parse_list_models(provider: Provider, response: HttpResponse) -> list[ModelInfo]:
    return parse.parse_models(response)
