"""JWT signing for ``<id>.<secret>`` keys, with a fixed clock.

The expected tokens are built here independently, with hmac/hashlib over the exact header and
payload texts the vendor's own client signs (PyJWT's output: header keys sorted, payload in
insertion order, compact separators, times in milliseconds).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

import llmcore
import llmcore_zhipu
from llmcore import ConfigurationError, HttpRequest, InvalidInputError, Secret
from llmcore_zhipu import ZAI, ZHIPU, jwt_token, with_jwt

NOW = 1_700_000_000.123  # a fixed clock: 2023-11-14T22:13:20.123Z
KEY = "0123456789abcdef.SeCrEt-value_42"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _known_token(key_id: str, secret: str, exp_ms: int, ts_ms: int) -> str:
    header = b'{"alg":"HS256","sign_type":"SIGN","typ":"JWT"}'
    payload = f'{{"api_key":"{key_id}","exp":{exp_ms},"timestamp":{ts_ms}}}'.encode()
    signing_input = _b64(header) + "." + _b64(payload)
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


def _request() -> HttpRequest:
    return HttpRequest("POST", ZHIPU.url("chat/completions"), {}, json={"model": "glm-4.7"})


def test_token_equals_the_independently_signed_one() -> None:
    want = _known_token("0123456789abcdef", "SeCrEt-value_42", 1_700_000_210_123, 1_700_000_000_123)
    assert jwt_token(KEY, NOW, 210) == want


def test_token_header_and_payload_fields() -> None:
    head, body, _sig = jwt_token(KEY, NOW, 60).split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    assert json.loads(base64.urlsafe_b64decode(pad(head))) == {
        "alg": "HS256",
        "sign_type": "SIGN",
        "typ": "JWT",
    }
    assert json.loads(base64.urlsafe_b64decode(pad(body))) == {
        "api_key": "0123456789abcdef",
        "exp": 1_700_000_060_123,
        "timestamp": 1_700_000_000_123,
    }


def test_authenticate_hook_signs_with_the_given_now_not_the_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hook uses ``now``; a clock that explodes proves it is never read."""

    def no_clock() -> float:
        raise AssertionError("the plugin read the clock")

    monkeypatch.setattr(time, "time", no_clock)
    provider = with_jwt(ZHIPU)
    signed = llmcore_zhipu.authenticate(provider, _request(), Secret(KEY), NOW)
    assert signed is not None
    want = _known_token("0123456789abcdef", "SeCrEt-value_42", 1_700_000_210_123, 1_700_000_000_123)
    assert signed.header("Authorization") == f"Bearer {want}"


def test_ttl_is_configurable_per_provider() -> None:
    provider = with_jwt(ZAI, ttl_seconds=30)
    assert provider.name == "zai" and provider.auth == "custom"
    signed = llmcore_zhipu.authenticate(provider, _request(), Secret(KEY), NOW)
    assert signed is not None
    want = _known_token("0123456789abcdef", "SeCrEt-value_42", 1_700_000_030_123, 1_700_000_000_123)
    assert signed.header("Authorization") == f"Bearer {want}"


def test_plain_providers_leave_auth_to_the_core_bearer_default() -> None:
    """Without ``with_jwt`` the key goes as it is (the vendor's default)."""
    assert llmcore_zhipu.authenticate(ZHIPU, _request(), Secret(KEY), NOW) is None
    plugins = llmcore.get_plugins()
    sent = plugins.authenticate(ZHIPU, _request(), Secret(KEY), NOW)
    assert sent.header("Authorization") == f"Bearer {KEY}"


@pytest.mark.parametrize("key", ["no-dot-here", "a.b.c", ".secret", "id.", ""])
def test_a_key_that_is_not_id_dot_secret_is_a_configuration_error(key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        llmcore_zhipu.authenticate(with_jwt(), _request(), Secret(key), NOW)
    assert "<id>.<secret>" in caught.value.message or "no key" in caught.value.message
    if key:
        assert key not in str(caught.value)


def test_missing_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="no key"):
        llmcore_zhipu.authenticate(with_jwt(), _request(), None, NOW)


@pytest.mark.parametrize("ttl", [0, -5, 2.5, True, "210"])
def test_with_jwt_rejects_a_bad_ttl(ttl: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        with_jwt(ZHIPU, ttl_seconds=ttl)  # type: ignore[arg-type]
    assert caught.value.field == "ttl_seconds"


# --- the token lifetime lives in the zhipu-chat flags -------------------------------------------
def test_providers_carry_zhipu_compat_with_glm_defaults() -> None:
    for provider in (ZHIPU, ZAI):
        assert type(provider.compat) is llmcore_zhipu.ZhipuCompat
        assert provider.compat.reasoning_effort is False
        assert provider.compat.reasoning_field == "reasoning_content"
        assert provider.compat.jwt_ttl_seconds == llmcore_zhipu.DEFAULT_JWT_TTL_SECONDS
        assert provider.compat.extra == {}


def test_with_jwt_keeps_the_ttl_as_a_typed_flag() -> None:
    provider = with_jwt(ZAI, ttl_seconds=30)
    compat = provider.compat
    assert isinstance(compat, llmcore_zhipu.ZhipuCompat)
    assert compat.jwt_ttl_seconds == 30
    assert compat.extra == {}  # not a free-form key any more
    assert compat.reasoning_field == "reasoning_content"  # the other flags are kept
    assert ZAI.compat.jwt_ttl_seconds == llmcore_zhipu.DEFAULT_JWT_TTL_SECONDS  # a copy


def test_with_jwt_on_a_provider_with_plain_compat_keeps_its_flags() -> None:
    plain = ZHIPU.evolve(compat=llmcore.Compat(tool_call_id_max_length=40, extra={"x": 1}))
    compat = with_jwt(plain, ttl_seconds=45).compat
    assert isinstance(compat, llmcore_zhipu.ZhipuCompat)
    assert (compat.jwt_ttl_seconds, compat.tool_call_id_max_length) == (45, 40)
    assert compat.extra == {"x": 1}


def test_the_older_extra_key_still_sets_the_ttl() -> None:
    """A provider made before ``ZhipuCompat`` (lifetime in ``Compat.extra``) still signs with it."""
    older = ZHIPU.evolve(auth="custom", compat=llmcore.Compat(extra={"jwt_ttl_seconds": 30}))
    assert llmcore_zhipu.zhipu_compat(older).jwt_ttl_seconds == 30
    signed = llmcore_zhipu.authenticate(older, _request(), Secret(KEY), NOW)
    assert signed is not None
    want = _known_token("0123456789abcdef", "SeCrEt-value_42", 1_700_000_030_123, 1_700_000_000_123)
    assert signed.header("Authorization") == f"Bearer {want}"


@pytest.mark.parametrize("ttl", [0, -1, 1.5, True, "60", None])
def test_zhipu_compat_rejects_a_bad_ttl(ttl: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        llmcore_zhipu.ZhipuCompat(jwt_ttl_seconds=ttl)  # type: ignore[arg-type]
    assert caught.value.field == "jwt_ttl_seconds"
