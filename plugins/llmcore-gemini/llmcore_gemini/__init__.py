"""llmcore-gemini: the Google Gemini API (``generateContent``) for llmcore.

Thin hook implementations only; the translation lives in :mod:`llmcore_gemini.payload` and
:mod:`llmcore_gemini.parse`. The plugin declares ``LLMCORE_APIS``, so the core calls these hooks
only for providers whose ``api`` is ``gemini``.
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
from llmcore_gemini.parse import (
    iter_chunks,
    next_page_token,
    parse_generate,
    parse_models,
)
from llmcore_gemini.parse import (
    parse_error as _parse_error,
)
from llmcore_gemini.payload import build_chat_request, generate_payload
from llmcore_gemini.providers import API, GEMINI, api_url, synthetic_call_id

__all__ = [
    "API",
    "GEMINI",
    "MODELS_PAGE_SIZE",
    "generate_payload",
    "list_models_request",
    "model_page",
    "next_page_token",
    "synthetic_call_id",
]

LLMCORE_APIS = (API,)

MODELS_PAGE_SIZE = 1000
"""Models asked for per page: the API's maximum (the server may send fewer and a
``nextPageToken``; :meth:`llmcore.Client.list_models` then follows the pages)."""


def list_models_request(provider: Provider, page_token: str | None = None) -> HttpRequest:
    """``GET models`` for one page: ``pageSize``, and for the pages after the first the
    ``pageToken`` the previous page ended with (see :func:`next_page_token`)."""
    params = {"pageSize": str(MODELS_PAGE_SIZE)}
    if page_token:
        params["pageToken"] = page_token
    return HttpRequest(
        "GET", api_url(provider, "models"), {"Accept": "application/json"}, params=params
    )


def model_page(provider: Provider, response: HttpResponse) -> ModelPage:
    """One page of ``GET models``: its models, and the request for the next page when the page
    carries a ``nextPageToken`` (the same ``pageSize``, that token as ``pageToken``)."""
    token = next_page_token(response)
    following = list_models_request(provider, token) if token else None
    return ModelPage(parse_models(response), following)


@llmcore.hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(GEMINI)


@llmcore.hookimpl
def build_payload(provider: Provider, request: ChatCompletionRequest, stream: bool) -> HttpRequest:
    return build_chat_request(provider, request, stream)


@llmcore.hookimpl
def parse_response(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    return parse_generate(provider, response)


@llmcore.hookimpl
def iter_stream(provider: Provider, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
    return iter_chunks(provider, frames)


@llmcore.hookimpl
def parse_error(provider: Provider, response: HttpResponse) -> LlmError | None:
    return _parse_error(provider, response)


@llmcore.hookimpl
def build_list_models(provider: Provider) -> HttpRequest:
    return list_models_request(provider)


@llmcore.hookimpl
def parse_list_models(provider: Provider, response: HttpResponse) -> ModelPage:
    return model_page(provider, response)
