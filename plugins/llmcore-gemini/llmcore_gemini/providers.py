"""The provider this plugin registers, and how its URLs and tool-call ids are formed."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import quote, urlsplit

from llmcore import Capabilities, Provider

__all__ = [
    "API",
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "GEMINI",
    "api_url",
    "is_synthetic_id",
    "model_path",
    "synthetic_call_id",
]

API = "gemini"
DISTRIBUTION = "llmcore-gemini"
API_VERSION = "v1beta"
"""The API version added to a base URL whose path names none (``https://proxy.example``)."""

DEFAULT_BASE_URL = f"https://generativelanguage.googleapis.com/{API_VERSION}"

GEMINI = Provider(
    name="gemini",
    api=API,
    base_url=DEFAULT_BASE_URL,
    # the official SDK reads both and prefers GOOGLE_API_KEY when both are set
    api_key_env=("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    base_url_env=("GOOGLE_GEMINI_BASE_URL",),
    auth="query-key",  # the core sends it as the ``x-goog-api-key`` header, never in the URL
    capabilities=Capabilities(
        vision=("*",),
        audio=("*",),
        reasoning=("gemini-2.5*", "gemini-3*", "gemini-flash*", "gemini-pro*"),
    ),
    distribution=DISTRIBUTION,
    description="Google Gemini API (generateContent / streamGenerateContent)",
)

_VERSION = re.compile(r"/v\d+(?:(?:alpha|beta)\d*)?$")


def api_url(provider: Provider, path: str) -> str:
    """``provider.base_url`` joined with ``path``; a base URL whose path does not end with an
    API version (``/v1beta``, ``/v1``...) gets ``/v1beta`` first, as the official SDK adds the
    version to its ``GOOGLE_GEMINI_BASE_URL``."""
    base = provider.base_url.rstrip("/")
    if not _VERSION.search(urlsplit(base).path):
        base = f"{base}/{API_VERSION}"
    return f"{base}/{path.lstrip('/')}"


def model_path(model: str) -> str:
    """The resource path of ``model``: ``models/<id>``, or the name as given when it already
    names a collection (``models/x``, ``tunedModels/y``)."""
    if "/" in model:
        collection, _, name = model.partition("/")
        return f"{quote(collection, safe='')}/{quote(name, safe='-._~')}"
    return f"models/{quote(model, safe='-._~')}"


_SYNTHETIC = re.compile(r"gemini_[0-9a-f]{24}")


def synthetic_call_id(
    response_id: str | None, candidate: int, ordinal: int, name: str, args: Any
) -> str:
    """The id given to a function call that arrived without one.

    Deterministic: the same answer (response id, candidate, position of the call, name and
    arguments) always gives the same id, streamed or not, so a replayed conversation is stable.
    The form ``gemini_<24 hex digits>`` is accepted by every API's tool-call id rule.
    """
    key = json.dumps(
        [response_id or "", candidate, ordinal, name, args],
        sort_keys=True,
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return "gemini_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def is_synthetic_id(call_id: str) -> bool:
    """True for ids made by :func:`synthetic_call_id` (they are not sent back to Gemini)."""
    return _SYNTHETIC.fullmatch(call_id) is not None
