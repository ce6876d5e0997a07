"""llmcore-ollama: Ollama's native API (``ollama-chat``) for llmcore.

Thin hook implementations only; the translation lives in :mod:`llmcore_ollama.payload`,
:mod:`llmcore_ollama.parse` and :mod:`llmcore_ollama.management`. The plugin declares
``LLMCORE_APIS``, so the core calls these hooks only for providers whose ``api`` is
``ollama-chat``. ``client.as_ollama()`` (the ``client_extension`` hook) gives model management
``/api/generate`` (``generate`` / ``generate_stream``) and the native chunk stream
(:class:`OllamaClient`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import llmcore
from llmcore import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Client,
    Frame,
    HttpRequest,
    HttpResponse,
    LlmError,
    ModelInfo,
    Provider,
    UnsupportedOperationError,
)
from llmcore_ollama.extension import GenerateStream, OllamaClient, ProgressBar, ProgressCallback
from llmcore_ollama.generate import GenerateRequest
from llmcore_ollama.management import ModelDetails, PullProgress
from llmcore_ollama.parse import iter_chunks, parse_chat, parse_models
from llmcore_ollama.parse import parse_error as parse_ollama_error
from llmcore_ollama.payload import build_chat_request, chat_payload, list_request
from llmcore_ollama.providers import (
    API,
    DEFAULT_BASE_URL,
    OLLAMA,
    OllamaCompat,
    OllamaProvider,
    normalize_host,
    ollama_provider,
)

__all__ = [
    "API",
    "DEFAULT_BASE_URL",
    "EXTENSION",
    "OLLAMA",
    "GenerateRequest",
    "GenerateStream",
    "ModelDetails",
    "OllamaClient",
    "OllamaCompat",
    "OllamaProvider",
    "ProgressBar",
    "ProgressCallback",
    "PullProgress",
    "as_ollama",
    "chat_payload",
    "normalize_host",
    "ollama_provider",
]

LLMCORE_APIS = (API,)

EXTENSION = "ollama"
"""The extension name: ``client.extension("ollama")``, ``client.as_ollama()``."""


def as_ollama(client: Client) -> OllamaClient:
    """The typed form of ``client.as_ollama()``: the :class:`OllamaClient` of ``client``.

    :raises UnsupportedOperationError: ``client``'s provider does not speak ``ollama-chat``.
    """
    found = client.extension(EXTENSION)
    if not isinstance(found, OllamaClient):
        raise UnsupportedOperationError(
            f"the {EXTENSION!r} extension of provider {client.provider.name!r} is not an "
            f"OllamaClient but a {type(found).__name__}",
            provider=client.provider.name,
        )
    return found


@llmcore.hookimpl
def register_providers(register: Callable[[Provider], None]) -> None:
    register(OLLAMA)


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
def parse_error(provider: Provider, response: HttpResponse) -> LlmError | None:
    return parse_ollama_error(provider, response)


@llmcore.hookimpl
def build_list_models(provider: Provider) -> HttpRequest:
    return list_request(provider)


@llmcore.hookimpl
def parse_list_models(response: HttpResponse) -> list[ModelInfo]:
    return parse_models(response)


@llmcore.hookimpl
def client_extension(name: str, client: Client) -> OllamaClient | None:
    return OllamaClient(client) if name == EXTENSION else None
