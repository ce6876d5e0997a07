"""The providers this plugin registers: Zhipu BigModel (China) and Z.ai (international).

Both speak the ``zhipu-chat`` API: GLM's ``POST /chat/completions`` under ``/api/paas/v4``,
an OpenAI Chat Completions dialect. A separate API name scopes this plugin's hooks to these
providers, so the ``openai-chat`` providers never see a Zhipu quirk.
"""

from __future__ import annotations

from typing import Any

import attrs

from llmcore import Capabilities, InvalidInputError, Provider
from llmcore.validation import check_bool, check_str, fail
from llmcore_openai import OpenAIChatCompat
from llmcore_openai.compat import openai_compat

__all__ = [
    "API",
    "DEFAULT_JWT_TTL_SECONDS",
    "JWT_TTL_FLAG",
    "ZAI",
    "ZHIPU",
    "ZhipuCompat",
    "with_jwt",
    "zhipu_compat",
]

API = "zhipu-chat"
DISTRIBUTION = "llmcore-zhipu"

DEFAULT_JWT_TTL_SECONDS = 210
"""How long a signed token stays valid: 3.5 minutes, as the vendor's own client signs them."""

JWT_TTL_FLAG = "jwt_ttl_seconds"
"""The older place of the token lifetime: a ``Compat.extra`` key, still read when a provider's
compat is not a :class:`ZhipuCompat` (see :func:`zhipu_compat`)."""


def _bool(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_bool(attribute.name, value)


def _opt_name(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_str(attribute.name, value, optional=True, nonempty=True)


def _ttl(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail(attribute.name, f"expected an int >= 1, got {value!r}")


@attrs.frozen
class ZhipuCompat(OpenAIChatCompat):
    """The flags of the ``zhipu-chat`` API: the ``openai-chat`` ones (GLM's answers and streams
    are read by that translation) plus what only GLM needs.

    - ``jwt_ttl_seconds``: how long each signed token is valid, for a provider made with
      :func:`with_jwt` (``auth="custom"``); unused by providers that send the key as it is.

    The defaults of this plugin's providers: ``reasoning_effort=False`` (GLM's ``thinking``
    object replaces OpenAI's field, which is never sent) and
    ``reasoning_field="reasoning_content"`` (assistant reasoning goes back there, as GLM's
    preserved thinking needs).
    """

    reasoning_effort: bool = attrs.field(default=False, validator=_bool)
    reasoning_field: str | None = attrs.field(default="reasoning_content", validator=_opt_name)
    jwt_ttl_seconds: int = attrs.field(default=DEFAULT_JWT_TTL_SECONDS, validator=_ttl)


def zhipu_compat(provider: Provider) -> ZhipuCompat:
    """The ``zhipu-chat`` flags of ``provider``: its compat when it is a :class:`ZhipuCompat`;
    else one built from its ``openai-chat`` flags (:func:`llmcore_openai.compat.openai_compat`),
    with the token lifetime of an older ``extra["jwt_ttl_seconds"]`` kept when valid."""
    compat = provider.compat
    if isinstance(compat, ZhipuCompat):
        return compat
    fields = attrs.asdict(openai_compat(provider), recurse=False)
    ttl = DEFAULT_JWT_TTL_SECONDS
    older = compat.extra.get(JWT_TTL_FLAG)
    if isinstance(older, int) and not isinstance(older, bool) and older >= 1:
        ttl = older
    return ZhipuCompat(**fields, jwt_ttl_seconds=ttl)


_CAPABILITIES = Capabilities(
    # The GLM vision models carry a "v" after the version: glm-4v, glm-4v-plus, glm-4.6v...
    vision=("glm-*v", "glm-*v-*"),
    reasoning=("glm-4.5*", "glm-4.6*", "glm-4.7*", "glm-5*", "glm-z1*", "glm-4.1v-thinking*"),
)

_COMPAT = ZhipuCompat()

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
    The lifetime is kept in the copy's :class:`ZhipuCompat` (``jwt_ttl_seconds``); a provider
    whose compat is another :class:`llmcore.Compat` gets a ``ZhipuCompat`` with its flags.

    :raises llmcore.InvalidInputError: ``ttl_seconds`` is not an int >= 1.
    """
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds < 1:
        raise InvalidInputError.at("ttl_seconds", f"expected an int >= 1, got {ttl_seconds!r}")
    compat = attrs.evolve(zhipu_compat(provider), jwt_ttl_seconds=ttl_seconds)
    return provider.evolve(auth="custom", compat=compat)
