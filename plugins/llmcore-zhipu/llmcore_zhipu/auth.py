"""The JWT that BigModel accepts in place of the raw key (pure functions, no clock).

A key ``<id>.<secret>`` becomes an HS256 JSON Web Token: header
``{"alg": "HS256", "sign_type": "SIGN", "typ": "JWT"}`` (keys sorted), payload
``{"api_key": <id>, "exp": <ms>, "timestamp": <ms>}`` with both times in **milliseconds**
since the epoch, signed with ``<secret>``. The same bytes as the vendor's own client produces.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from llmcore import ConfigurationError, HttpRequest, Provider, Secret

__all__ = ["jwt_token", "sign_request", "split_key"]

_HEADER = {"alg": "HS256", "sign_type": "SIGN", "typ": "JWT"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(obj: object, *, sort_keys: bool) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=sort_keys).encode("utf-8")


def split_key(key: str) -> tuple[str, str]:
    """``(id, secret)`` of a ``<id>.<secret>`` key.

    :raises llmcore.ConfigurationError: the key is not two non-empty parts joined by one dot
        (the message never shows the key).
    """
    parts = key.split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigurationError(
            "JWT authentication needs an API key of the form <id>.<secret> (one dot between "
            "two non-empty parts); use the plain provider to send other keys as they are"
        )
    return parts[0], parts[1]


def jwt_token(key: str, now: float, ttl_seconds: int) -> str:
    """The signed token for ``key`` at POSIX time ``now``, valid for ``ttl_seconds``.

    :raises llmcore.ConfigurationError: ``key`` is not ``<id>.<secret>``.
    """
    key_id, secret = split_key(key)
    now_ms = round(now * 1000)
    payload = {"api_key": key_id, "exp": now_ms + ttl_seconds * 1000, "timestamp": now_ms}
    signing_input = (
        _b64url(_compact(_HEADER, sort_keys=True))
        + "."
        + _b64url(_compact(payload, sort_keys=False))
    )
    signature = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256)
    return signing_input + "." + _b64url(signature.digest())


def sign_request(
    provider: Provider, http_request: HttpRequest, credential: Secret | None, now: float, ttl: int
) -> HttpRequest:
    """``http_request`` with ``Authorization: Bearer <jwt>`` for ``credential`` at ``now``.

    :raises llmcore.ConfigurationError: no key, or a key that is not ``<id>.<secret>``.
    """
    if credential is None or not credential:
        raise ConfigurationError(
            f"provider {provider.name!r} signs a JWT from the API key, but no key was given",
            provider=provider.name,
        )
    try:
        token = jwt_token(credential.reveal(), now, ttl)
    except ConfigurationError as exc:
        raise ConfigurationError(exc.message, provider=provider.name) from None
    return http_request.with_headers({"Authorization": f"Bearer {token}"})
