"""The providers this plugin registers, and the factory for any OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from llmcore import Capabilities, Provider
from llmcore_openai.compat import OpenAIChatCompat

__all__ = ["API", "OPENAI", "OPENAI_COMPATIBLE", "openai_compatible"]

API = "openai-chat"
DISTRIBUTION = "llmcore-openai"

OPENAI = Provider(
    name="openai",
    api=API,
    base_url="https://api.openai.com/v1",
    api_key_env=("OPENAI_API_KEY",),
    base_url_env=("OPENAI_BASE_URL",),
    compat=OpenAIChatCompat(system_role="auto", max_tokens_field="max_completion_tokens"),
    capabilities=Capabilities(
        vision=("gpt-4o*", "gpt-4.1*", "gpt-4-turbo*", "gpt-5*", "o1*", "o3*", "o4*", "chatgpt-*"),
        audio=("gpt-4o-audio*", "gpt-4o-mini-audio*"),
        reasoning=("o1*", "o3*", "o4*", "gpt-5*"),
    ),
    distribution=DISTRIBUTION,
    description="OpenAI Chat Completions",
)

OPENAI_COMPATIBLE = Provider(
    name="openai-compatible",
    api=API,
    base_url="http://127.0.0.1:8000/v1",
    api_key_env=("OPENAI_COMPATIBLE_API_KEY",),
    key_required=False,
    compat=OpenAIChatCompat(reasoning_effort=False),
    distribution=DISTRIBUTION,
    description="any OpenAI-compatible server; pass base_url= to Client",
)


def openai_compatible(
    base_url: str,
    *,
    name: str = "openai-compatible",
    api_key_env: Iterable[str] | str = (),
    base_url_env: Iterable[str] | str = (),
    key_required: bool = False,
    system_role: str = "system",
    max_tokens_field: str = "max_tokens",
    stream_usage: bool = True,
    reasoning_effort: bool = False,
    think_tags: bool = False,
    reasoning_field: str | None = None,
    replay_provider_data: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
    capabilities: Capabilities | None = None,
) -> Provider:
    """A provider for any server speaking OpenAI Chat Completions at ``base_url``.

    The flags are the usual differences between such servers: ``system_role`` (``system``,
    ``developer`` or ``auto``), ``max_tokens_field`` (``max_tokens`` or
    ``max_completion_tokens``), ``stream_usage`` (send ``stream_options.include_usage``),
    ``reasoning_effort`` (accepts that field), ``think_tags`` (reasoning inlined as
    ``<think>``), ``reasoning_field`` (field that carries reasoning back in history),
    ``replay_provider_data`` (message ``provider_data`` keys the server accepts back): see
    :class:`~llmcore_openai.OpenAIChatCompat`.
    ``api_key_env`` and ``base_url_env`` name the environment variables for the key and for a
    base URL that replaces ``base_url`` when the client gets no ``base_url=``.

    :param base_url: the server's base URL (``http://localhost:8080/v1``); a trailing ``/`` is
        dropped.
    :param name: the provider name (shown in errors and in ``response.provider``).
    :param key_required: ``Client(...)`` raises :class:`~llmcore.ConfigurationError` when no
        key is found.
    :param headers: headers sent with every request.
    :param capabilities: what its models take (default: every model takes images and audio).
    :raises InvalidInputError: a value fails the :class:`~llmcore.Provider` checks (an empty
        ``name``, a header that HTTP cannot carry...). The URL itself is checked when a
        :class:`~llmcore.Client` is built.
    """
    return Provider(
        name=name,
        api=API,
        base_url=base_url.rstrip("/"),
        api_key_env=api_key_env,
        base_url_env=base_url_env,
        key_required=key_required,
        headers=dict(headers or {}),
        compat=OpenAIChatCompat(
            system_role=system_role,
            max_tokens_field=max_tokens_field,
            stream_usage=stream_usage,
            reasoning_effort=reasoning_effort,
            think_tags=think_tags,
            reasoning_field=reasoning_field,
            replay_provider_data=tuple(replay_provider_data),
        ),
        capabilities=capabilities or Capabilities(),
        distribution=DISTRIBUTION,
        description=f"OpenAI-compatible server at {base_url}",
    )
