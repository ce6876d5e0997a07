"""llmcore-zhipu: Zhipu GLM (BigModel) and Z.ai for llmcore, as the ``zhipu-chat`` API.

GLM's chat API is an OpenAI Chat Completions dialect, so this plugin reuses llmcore-openai's
translation and overrides only what differs: the ``thinking`` control, built-in tools such as
``web_search``, the accepted ``tool_choice``/``stop`` values, GLM's business error codes, and
JWT signing for ``<id>.<secret>`` keys (:func:`with_jwt`). Its providers speak their own API
name, so these hooks run for them alone (``LLMCORE_APIS``) and never for ``openai-chat``.

Thin hook implementations only; the translation lives in :mod:`llmcore_zhipu.payload`,
:mod:`llmcore_zhipu.parse` and :mod:`llmcore_zhipu.auth`.
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
    ModelInfo,
    Provider,
    Secret,
)
from llmcore_openai.parse import parse_models
from llmcore_zhipu import parse
from llmcore_zhipu.auth import jwt_token, sign_request
from llmcore_zhipu.payload import build_request, thinking_for, web_search
from llmcore_zhipu.providers import (
    API,
    DEFAULT_JWT_TTL_SECONDS,
    ZAI,
    ZHIPU,
    ZhipuCompat,
    with_jwt,
    zhipu_compat,
)

__all__ = [
    "API",
    "DEFAULT_JWT_TTL_SECONDS",
    "ZAI",
    "ZHIPU",
    "ZhipuCompat",
    "jwt_token",
    "thinking_for",
    "web_search",
    "with_jwt",
    "zhipu_compat",
]

LLMCORE_APIS = (API,)


@llmcore.hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(ZHIPU)
    register(ZAI)


@llmcore.hookimpl
def build_payload(provider: Provider, request: ChatCompletionRequest, stream: bool) -> HttpRequest:
    return build_request(provider, request, stream)


@llmcore.hookimpl
def authenticate(
    provider: Provider, http_request: HttpRequest, credential: Secret | None, now: float
) -> HttpRequest | None:
    if provider.auth != "custom":
        return None  # bearer (the key as is): the core's default
    ttl = zhipu_compat(provider).jwt_ttl_seconds
    return sign_request(provider, http_request, credential, now, ttl)


@llmcore.hookimpl
def parse_response(provider: Provider, response: HttpResponse) -> ChatCompletionResponse:
    return parse.parse_glm(provider, response)


@llmcore.hookimpl
def iter_stream(provider: Provider, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
    return parse.iter_glm_chunks(provider, frames)


@llmcore.hookimpl
def parse_error(provider: Provider, response: HttpResponse) -> LlmError | None:
    return parse.parse_error(provider, response)


@llmcore.hookimpl
def build_list_models(provider: Provider) -> HttpRequest:
    return HttpRequest("GET", provider.url("models"), {"Accept": "application/json"})


@llmcore.hookimpl
def parse_list_models(provider: Provider, response: HttpResponse) -> list[ModelInfo]:
    return parse_models(response)
