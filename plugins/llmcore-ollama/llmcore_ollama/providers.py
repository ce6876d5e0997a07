"""The ``ollama`` provider, the ``OLLAMA_HOST`` normalisation and a factory for other hosts."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from llmcore import Compat, InvalidInputError, Provider
from llmcore.validation import check_base_url

__all__ = [
    "API",
    "DEFAULT_BASE_URL",
    "DEFAULT_PORT",
    "OLLAMA",
    "OllamaCompat",
    "OllamaProvider",
    "normalize_host",
    "ollama_provider",
]

API = "ollama-chat"
DISTRIBUTION = "llmcore-ollama"
DEFAULT_PORT = 11434
DEFAULT_BASE_URL = f"http://localhost:{DEFAULT_PORT}"


def normalize_host(host: str | None) -> str:
    """A base URL from an ``OLLAMA_HOST``-style value, read the way Ollama's own clients do.

    A value with a scheme (``http://...``, ``https://...``) is a URL and is kept as it is (a
    trailing slash removed). A value without one is ``host[:port][/path]``: the scheme is
    ``http``, the port defaults to 11434 and an empty host is ``127.0.0.1``, so
    ``"0.0.0.0"`` gives ``http://0.0.0.0:11434``, ``"example.com:8080"`` gives
    ``http://example.com:8080`` and ``":8080"`` gives ``http://127.0.0.1:8080``; a bare IPv6
    address gets its brackets. A value that is not a valid address (a port out of range...) is
    returned with the ``http://`` scheme and no other change, for the base-URL check to reject
    with its reason.
    """
    value = (host or "").strip()
    if "://" in value:
        return value.rstrip("/")
    try:
        if isinstance(ipaddress.ip_address(value), ipaddress.IPv6Address):
            return f"http://[{value}]:{DEFAULT_PORT}"
    except ValueError:
        pass
    try:
        split = urlsplit(f"http://{value}")
        port = split.port or DEFAULT_PORT
    except ValueError:
        return f"http://{value}"
    name = split.hostname or "127.0.0.1"
    try:
        if isinstance(ipaddress.ip_address(name), ipaddress.IPv6Address):
            name = f"[{name}]"
    except ValueError:
        pass
    path = split.path.strip("/")
    return f"http://{name}:{port}" + (f"/{path}" if path else "")


@attrs.frozen
class OllamaProvider(Provider):
    """A :class:`llmcore.Provider` whose ``base_url_env`` values are ``OLLAMA_HOST``-style.

    :class:`llmcore.Client` asks :meth:`env_base_url` for the base URL when it is given no
    ``base_url=``; this class reads the variables as the core does and turns a value such as
    ``localhost:11434`` or ``0.0.0.0`` into a URL (:func:`normalize_host`), since the core
    accepts base URLs with a scheme only. The client then checks and cleans that URL as any
    other (credentials in it become a Basic ``Authorization`` header).
    """

    def env_base_url(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The first non-empty ``base_url_env`` variable as a URL (:func:`normalize_host`), or
        None when none is set.

        :param environ: the variables to read (default ``os.environ``).
        :raises InvalidInputError: the value is no usable address; the error (field
            ``base_url``) names the variable and the reason, not the value (it may hold a
            password).
        """
        env = os.environ if environ is None else environ
        for name in self.base_url_env:
            value = env.get(name)
            if not value:
                continue
            url = normalize_host(value)
            try:
                check_base_url(name, url)
            except InvalidInputError as exc:
                raise InvalidInputError.at(
                    "base_url",
                    f"the value of {name} is not a usable Ollama address ({exc.reason}); set it "
                    "to host[:port] or a URL, e.g. 'localhost:11434' or 'http://gpu-box:11434'",
                    provider=self.name,
                ) from None
            return url
        return None


@attrs.frozen
class OllamaCompat(Compat):
    """The flags of the ``ollama-chat`` API. Ollama takes an assistant's reasoning back in its
    ``thinking`` field, so a handoff puts foreign reasoning there (as plain reasoning text)
    instead of in ``<thinking>`` tags."""

    def carries_reasoning(self) -> bool:
        """Always True: ``/api/chat`` reads ``thinking`` on assistant messages."""
        return True


OLLAMA = OllamaProvider(
    name="ollama",
    api=API,
    base_url=DEFAULT_BASE_URL,
    auth="none",
    key_required=False,
    base_url_env=("OLLAMA_HOST",),
    compat=OllamaCompat(),
    distribution=DISTRIBUTION,
    description="Ollama's native API (/api/chat); set OLLAMA_HOST for another host",
)


def ollama_provider(host: str, *, name: str = "ollama") -> OllamaProvider:
    """The ``ollama`` provider for the server at ``host`` (a URL, or ``host[:port]`` as in
    ``OLLAMA_HOST``); unlike the registered provider it ignores ``OLLAMA_HOST``.

    :param host: where the server listens, e.g. ``"gpu-box:11434"`` or ``"http://10.0.0.5:11434"``.
    :param name: the provider name reported in responses and errors.
    """
    return attrs.evolve(OLLAMA, name=name, base_url=normalize_host(host), base_url_env=())
