"""The one provider of the made-up protocol."""

from __future__ import annotations

from llmcore import Capabilities, Provider

__all__ = ["API", "MADEUP"]

API = "madeup-lines"

MADEUP = Provider(
    name="madeup",
    api=API,
    base_url="https://api.madeup.example/v2",
    api_key_env=("MADEUP_API_KEY",),
    auth="x-api-key",
    capabilities=Capabilities(vision=()),
    distribution="llmcore-madeup",
    description="a made-up protocol for the conformance tests",
)
