"""Plain HTTP data that plugins produce and consume; no plugin ever sees ``requests``.

``HttpRequest`` is what ``build_payload`` returns; ``HttpResponse`` is what ``parse_response`` and
``parse_error`` receive; ``Frame`` is one decoded stream frame (an SSE event or an NDJSON line)
that ``iter_stream`` receives. Reprs mask credentials: header values by name, URLs and query
parameters through :func:`~llmcore.errors.redact`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from llmcore._repr import attrs_repr
from llmcore.errors import is_credential_param, redact

__all__ = ["Frame", "HttpRequest", "HttpResponse", "StreamFormat", "mask_headers"]

StreamFormat = Literal["sse", "ndjson"]

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
        "x-tc-authorization",
    }
)


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with credential values replaced by ``****``."""
    return {k: ("****" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def _headers_repr(headers: Mapping[str, str]) -> str:
    return repr(mask_headers(headers))


def _url_repr(url: str | None) -> str:
    return repr(url if url is None else redact(url))


def _params_repr(params: Mapping[str, str]) -> str:
    return repr({k: ("****" if is_credential_param(k) else redact(v)) for k, v in params.items()})


def _to_headers(value: Mapping[str, str] | None) -> dict[str, str]:
    return dict(value or {})


@attrs_repr
@attrs.frozen(repr=False)
class HttpRequest:
    """An HTTP request description: method, absolute URL, headers, and a JSON or raw body.

    ``stream_format`` says how the core decodes a streamed body (SSE or NDJSON); ``params`` are
    query parameters.
    """

    method: str
    url: str = attrs.field(repr=_url_repr)
    headers: dict[str, str] = attrs.field(factory=dict, converter=_to_headers, repr=_headers_repr)
    json: Any = None
    body: bytes | None = attrs.field(default=None, repr=False)
    params: dict[str, str] = attrs.field(factory=dict, converter=_to_headers, repr=_params_repr)
    stream_format: StreamFormat = "sse"

    def with_headers(self, headers: Mapping[str, str]) -> HttpRequest:
        """A copy with ``headers`` added (replacing same-named ones, case-insensitively)."""
        lowered = {k.lower() for k in headers}
        merged = {k: v for k, v in self.headers.items() if k.lower() not in lowered}
        merged.update(headers)
        return attrs.evolve(self, headers=merged)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive)."""
        lname = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lname), None)


def _lower_headers(value: Mapping[str, str] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (value or {}).items()}


@attrs_repr
@attrs.frozen(repr=False)
class HttpResponse:
    """A received response: status, headers (lower-cased names) and the body bytes."""

    status: int
    headers: dict[str, str] = attrs.field(
        factory=dict,
        converter=_lower_headers,
        repr=_headers_repr,
    )
    body: bytes = attrs.field(default=b"", repr=False)
    url: str | None = attrs.field(default=None, repr=_url_repr)

    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive)."""
        return self.headers.get(name.lower())

    @property
    def request_id(self) -> str | None:
        """The provider's request id header, if any."""
        for name in ("x-request-id", "request-id", "x-amzn-requestid", "x-tc-requestid"):
            if name in self.headers:
                return self.headers[name]
        return None


@attrs_repr
@attrs.frozen(repr=False)
class Frame:
    """One decoded stream frame: an SSE event (``event`` name + ``data``) or an NDJSON line."""

    data: str
    event: str | None = None
    id: str | None = None

    def json(self) -> Any:
        """``data`` parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.data)
