"""A plugin for "madeup-lines", a made-up, non-OpenAI protocol, built from plugins/_template.

It exists to prove the plugin contract and the conformance kit on a protocol of its own: typed
JSON lines (``text``, ``think``, ``tool``, ``end``), errors as ``{"problem": {...}}``. It is
installed nowhere; tests register it with ``Plugins(load_entrypoints=False).register(...)``.
No hook checks ``provider.api``: ``LLMCORE_APIS`` scopes them.
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
from llmcore_madeup import parse
from llmcore_madeup.payload import build_converse_request
from llmcore_madeup.providers import API, MADEUP

__all__ = ["API", "LLMCORE_APIS", "MADEUP"]

LLMCORE_APIS = (API,)


@llmcore.hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(MADEUP)


@llmcore.hookimpl
def build_payload(provider: Provider, request: ChatCompletionRequest, stream: bool) -> HttpRequest:
    return build_converse_request(provider, request, stream)


@llmcore.hookimpl
def parse_response(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    return parse.parse_answer(provider, response)


@llmcore.hookimpl
def iter_stream(
    provider: Provider, frames: Iterator[Frame]
) -> Generator[ChatCompletionChunk, None, bool]:
    return (yield from parse.iter_lines(provider, frames))


@llmcore.hookimpl
def parse_error(provider: Provider, response: HttpResponse) -> LlmError | None:
    return parse.parse_problem(provider, response)


@llmcore.hookimpl
def build_list_models(provider: Provider) -> HttpRequest:
    return HttpRequest("GET", provider.url("catalogue"), {"accept": "application/json"})


@llmcore.hookimpl
def parse_list_models(provider: Provider, response: HttpResponse) -> list[ModelInfo]:
    return parse.parse_catalogue(response)
