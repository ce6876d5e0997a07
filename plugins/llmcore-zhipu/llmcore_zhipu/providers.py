"""The providers this plugin registers: Zhipu BigModel (China) and Z.ai (international).

Both speak the ``zhipu-chat`` API: GLM's ``POST /chat/completions`` under ``/api/paas/v4``,
an OpenAI Chat Completions dialect. A separate API name scopes this plugin's hooks to these
providers, so the ``openai-chat`` providers never see a Zhipu quirk.
"""

from __future__ import annotations

import attrs

from llmcore import Capabilities, InvalidInputError, Provider
from llmcore_openai import OpenAIChatCompat

__all__ = [
    "API",
    "DEFAULT_JWT_TTL_SECONDS",
    "JWT_TTL_FLAG",
    "ZAI",
    "ZHIPU",
    "with_jwt",
]

API = "zhipu-chat"
DISTRIBUTION = "llmcore-zhipu"

DEFAULT_JWT_TTL_SECONDS = 210
"""How long a signed token stays valid: 3.5 minutes, as the vendor's own client signs them."""

JWT_TTL_FLAG = "jwt_ttl_seconds"
"""The ``Compat.extra`` flag that holds a JWT provider's token lifetime in seconds."""

_CAPABILITIES = Capabilities(
    # The GLM vision models carry a "v" after the version: glm-4v, glm-4v-plus, glm-4.6v...
    vision=("glm-*v", "glm-*v-*"),
    reasoning=("glm-4.5*", "glm-4.6*", "glm-4.7*", "glm-5*", "glm-z1*", "glm-4.1v-thinking*"),
)

# Assistant reasoning goes back as ``reasoning_content`` (preserved thinking needs it); the
# ``thinking`` object replaces OpenAI's ``reasoning_effort`` field, which is never sent.
_COMPAT = OpenAIChatCompat(reasoning_effort=False, reasoning_field="reasoning_content")

ZHIPU = Provider(
    name="zhipu",
    api=API,
    base_url="https://open.bigmodel.cn/api/paas/v4",
    api_key_env=("ZHIPUAI_API_KEY",),
    base_url_env=("ZHIPUAI_BASE_URL",),
    compat=_COMPAT,
    capabilities=_CAPABILITIES,
    distribution=DISTRIBUTION,
    description="Zhipu GLM on BigModel (open.bigmodel.cn)",
)

ZAI = Provider(
    name="zai",
    api=API,
    base_url="https://api.z.ai/api/paas/v4",
    api_key_env=("ZAI_API_KEY",),
    base_url_env=("ZAI_BASE_URL",),
    headers={"Accept-Language": "en-US,en"},
    compat=_COMPAT,
    capabilities=_CAPABILITIES,
    distribution=DISTRIBUTION,
    description="GLM on Z.ai, the international endpoint (api.z.ai)",
)


def with_jwt(provider: Provider = ZHIPU, *, ttl_seconds: int = DEFAULT_JWT_TTL_SECONDS) -> Provider:
    """A copy of ``provider`` that signs each request with a short-lived JWT.

    The API key must have the form ``<id>.<secret>`` (every BigModel key does): each request
    then carries ``Authorization: Bearer <jwt>``, an HS256 token signed with the secret whose
    payload names the key id and its expiry, ``ttl_seconds`` after the moment of sending. The
    plain provider sends the key itself as the bearer token, which the API accepts as well.

    :param provider: a provider of this plugin (``ZHIPU`` or ``ZAI``), or one made from them.
    :param ttl_seconds: how long each token is valid, in seconds (an int >= 1).
    :raises llmcore.InvalidInputError: ``ttl_seconds`` is not an int >= 1.
    """
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 1:
        raise InvalidInputError.at("ttl_seconds", f"expected an int >= 1, got {ttl_seconds!r}")
    compat = attrs.evolve(
        provider.compat, extra={**provider.compat.extra, JWT_TTL_FLAG: ttl_seconds}
    )
    return provider.evolve(auth="custom", compat=compat)
