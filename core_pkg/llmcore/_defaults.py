"""The core's own hook implementations (``trylast``): authentication schemes and error parsing.

They are registered like any plugin, so a provider plugin overrides them with a more specific
implementation that answers first.
"""

from __future__ import annotations

import re
from typing import Any

from llmcore.errors import LlmError, error_for_status, retry_after_seconds
from llmcore.hookspecs import hookimpl
from llmcore.http import HttpRequest, HttpResponse
from llmcore.providers import Provider, Secret

LLMCORE_APIS = "*"  # the defaults answer, last, for every API

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


@hookimpl(trylast=True)
def authenticate(
    provider: Provider, http_request: HttpRequest, credential: Secret | None
) -> HttpRequest | None:
    """Apply ``provider.auth``: bearer, x-api-key, api-key, query-key or none."""
    if credential is None or provider.auth == "none":
        return http_request
    key = credential.reveal()
    if provider.auth == "bearer":
        return http_request.with_headers({"Authorization": f"Bearer {key}"})
    if provider.auth == "x-api-key":
        return http_request.with_headers({"x-api-key": key})
    if provider.auth == "api-key":
        return http_request.with_headers({"api-key": key})
    if provider.auth == "query-key":
        return http_request.with_headers({"x-goog-api-key": key})
    return None


def _text_message(response: HttpResponse) -> str:
    body = response.body
    title = _TITLE.search(body)
    if title:
        text = title.group(1).decode("utf-8", errors="replace")
    else:
        text = _TAGS.sub(" ", body[:2000].decode("utf-8", errors="replace"))
    import html  # only for an HTML error page: not worth its import at start-up

    text = " ".join(html.unescape(text).split())
    return text[:300] or "(empty body)"


def error_fields(payload: Any) -> tuple[str | None, str | None, str | None]:
    """(message, type, code) from the common ``{"error": {...}}`` / ``{"message": ...}`` shapes."""
    if not isinstance(payload, dict):
        return None, None, None
    err = payload.get("error", payload)
    if isinstance(err, str):
        return err, None, None
    if not isinstance(err, dict):
        return None, None, None
    message = err.get("message") or err.get("msg") or err.get("detail")
    code = err.get("code")
    etype = err.get("type") or err.get("status")
    return (
        None if message is None else str(message),
        None if etype is None else str(etype),
        None if code is None else str(code),
    )


@hookimpl(trylast=True)
def parse_error(provider: Provider, response: HttpResponse) -> LlmError:
    """Map any non-2xx response to a typed error, whatever its body looks like."""
    payload: Any = None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    message, etype, code = error_fields(payload)
    if message is None:
        ctype = response.header("content-type") or "unknown content type"
        message = f"HTTP {response.status} ({ctype}): {_text_message(response)}"
    should_retry = response.header("x-should-retry")
    err = error_for_status(
        response.status,
        message,
        code=code or etype,
        error_type=etype,
        provider=provider.name,
        request_id=response.request_id,
        retry_after=retry_after_seconds(response),
        body=payload if payload is not None else response.text()[:500],
    )
    if should_retry in ("true", "false"):
        err.should_retry = should_retry == "true"
    return err
