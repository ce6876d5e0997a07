"""The providers this plugin registers, and the factory for other Messages API servers.

Two providers, because the Messages API takes two kinds of credential and a
:class:`~llmcore.Provider` has one auth scheme:

- ``anthropic``: an API key from ``ANTHROPIC_API_KEY``, sent as ``x-api-key``;
- ``anthropic-bearer``: a token from ``ANTHROPIC_AUTH_TOKEN`` (gateways, OAuth), sent as
  ``Authorization: Bearer``.

Both honour ``ANTHROPIC_BASE_URL`` (the host, e.g. ``https://api.anthropic.com``; a base URL
that already ends in ``/v1`` works too) and send ``anthropic-version: 2023-06-01``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from llmcore import Capabilities, Compat, Provider
from llmcore.providers import AuthScheme

__all__ = [
    "ANTHROPIC",
    "ANTHROPIC_BEARER",
    "ANTHROPIC_VERSION",
    "API",
    "DEFAULT_MAX_TOKENS",
    "anthropic_compatible",
]

API = "anthropic-messages"
DISTRIBUTION = "llmcore-anthropic"

ANTHROPIC_VERSION = "2023-06-01"
"""The ``anthropic-version`` header sent with every request (a provider header replaces it)."""

DEFAULT_MAX_TOKENS = 4096
"""``max_tokens`` sent when a request sets none (the API requires it); a provider changes it
with ``compat=Compat(extra={"default_max_tokens": N})``."""

_REASONING_MODELS = (
    "claude-3-7-sonnet*",
    "claude-sonnet-4*",
    "claude-opus-4*",
    "claude-haiku-4*",
)

ANTHROPIC = Provider(
    name="anthropic",
    api=API,
    base_url="https://api.anthropic.com",
    api_key_env=("ANTHROPIC_API_KEY",),
    base_url_env=("ANTHROPIC_BASE_URL",),
    auth="x-api-key",
    capabilities=Capabilities(reasoning=_REASONING_MODELS),
    distribution=DISTRIBUTION,
    description="Anthropic Messages API (API key from ANTHROPIC_API_KEY, sent as x-api-key)",
)

ANTHROPIC_BEARER = Provider(
    name="anthropic-bearer",
    api=API,
    base_url="https://api.anthropic.com",
    api_key_env=("ANTHROPIC_AUTH_TOKEN",),
    base_url_env=("ANTHROPIC_BASE_URL",),
    auth="bearer",
    capabilities=Capabilities(reasoning=_REASONING_MODELS),
    distribution=DISTRIBUTION,
    description="Anthropic Messages API (token from ANTHROPIC_AUTH_TOKEN, sent as Bearer)",
)


def anthropic_compatible(
    base_url: str,
    *,
    name: str = "anthropic-compatible",
    api_key_env: Iterable[str] | str = (),
    base_url_env: Iterable[str] | str = (),
    auth: AuthScheme = "x-api-key",
    key_required: bool = False,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    headers: Mapping[str, str] | None = None,
    capabilities: Capabilities | None = None,
) -> Provider:
    """A provider for any server speaking the Anthropic Messages API at ``base_url``.

    :param base_url: the server's root (``http://127.0.0.1:8080``); requests go to
        ``<base_url>/v1/messages`` (or ``<base_url>/messages`` when it already ends in ``/v1``).
    :param name: the provider name reported on responses and errors.
    :param api_key_env: environment variables tried in order for the key.
    :param base_url_env: environment variables that replace ``base_url`` when set.
    :param auth: ``x-api-key`` (Anthropic's own scheme), ``bearer`` or ``none``.
    :param key_required: True to refuse to build a client without a key.
    :param default_max_tokens: ``max_tokens`` sent when a request sets none.
    :param headers: extra headers for every request (``anthropic-beta``, or an
        ``anthropic-version`` that replaces the default).
    :param capabilities: what the server's models can take (default: everything).
    :return: the :class:`~llmcore.Provider`; pass it to :class:`~llmcore.Client`.
    :raises llmcore.InvalidInputError: for headers that are not valid HTTP headers.
    """
    return Provider(
        name=name,
        api=API,
        base_url=base_url.rstrip("/"),
        api_key_env=api_key_env,
        base_url_env=base_url_env,
        auth=auth,
        key_required=key_required,
        headers=dict(headers or {}),
        compat=Compat(extra={"default_max_tokens": default_max_tokens}),
        capabilities=capabilities or Capabilities(),
        distribution=DISTRIBUTION,
        description=f"Anthropic Messages API server at {base_url}",
    )
