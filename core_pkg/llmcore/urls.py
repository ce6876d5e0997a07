"""Base URLs: credentials (``user:password@``) and query strings split off once, at ``Client(...)``.

- A query string on a base URL (``https://host/openai/v1?api-version=2024-10-21``) is moved into
  the parameters of every request, so plugins can append paths to the base URL. A parameter a
  plugin sets itself wins over one from the base URL.
- ``user:password@`` in a base URL never replaces the provider's own authentication silently:
  when the provider sends an API key (its ``auth`` is not ``"none"`` and a key is configured) such
  a base URL is a :class:`~llmcore.errors.ConfigurationError`. Otherwise (a local server behind a
  basic-auth proxy) the userinfo becomes an explicit ``Authorization: Basic`` header and the URL
  used for requests has none.
- The password, the Basic token and the values of credential query parameters (``key=``...) are
  registered as secrets, so no error message or log line shows them.
"""

from __future__ import annotations

import base64
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import attrs

from llmcore._repr import attrs_repr
from llmcore.errors import ConfigurationError, is_credential_param, redact, register_secret
from llmcore.providers import Provider

__all__ = ["BaseUrl", "apply_base_url", "basic_auth_header", "split_base_url"]


@attrs_repr
@attrs.frozen(repr=False)
class BaseUrl:
    """A base URL taken apart: the ``url`` to build request URLs from (no userinfo, query or
    fragment), its query ``params`` and the ``username`` / ``password`` of its userinfo."""

    url: str
    params: dict[str, str] = attrs.field(factory=dict)
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)

    @property
    def has_userinfo(self) -> bool:
        """True when the URL carried ``user@`` or ``user:password@``."""
        return self.username is not None


def split_base_url(url: str) -> BaseUrl:
    """Split ``url`` into the URL without userinfo, query and fragment, its query parameters
    (last value wins for repeated names) and its percent-decoded username and password."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user)
        password = unquote(secret) if colon else ""
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    clean = urlunsplit((parts.scheme, hostport, parts.path, "", "")).rstrip("/")
    return BaseUrl(clean, params, username, password)


def basic_auth_header(username: str, password: str) -> str:
    """The ``Authorization`` value for HTTP Basic authentication."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def apply_base_url(
    provider: Provider, *, has_key: bool
) -> tuple[Provider, dict[str, str], dict[str, str]]:
    """``provider`` with a clean base URL, plus the query parameters and headers that every
    request must carry (see the module docstring for the rules). ``has_key`` says whether the
    client has an API key for the provider."""
    base = split_base_url(provider.base_url)
    if not base.params and not base.has_userinfo and base.url == provider.base_url:
        return provider, {}, {}
    for name, value in base.params.items():
        if is_credential_param(name):
            register_secret(value)
    headers: dict[str, str] = {}
    if base.has_userinfo:
        assert base.username is not None and base.password is not None
        register_secret(base.password)
        register_secret(base.username)
        authorization = basic_auth_header(base.username, base.password)
        register_secret(authorization.split(" ", 1)[1])
        if provider.auth != "none" and has_key:
            raise ConfigurationError(
                f"base_url {redact(provider.base_url)!r} of provider {provider.name!r} holds "
                f"user credentials (user:password@), which would replace its {provider.auth!r} "
                "API-key authentication; remove them from base_url (send other credentials "
                "with ConnectionOptions(default_headers=...))",
                provider=provider.name,
            )
        headers["Authorization"] = authorization
    # A description may quote the base URL (``"server at https://u:p@host"``).
    clean = provider.evolve(base_url=base.url, description=redact(provider.description))
    return clean, base.params, headers
