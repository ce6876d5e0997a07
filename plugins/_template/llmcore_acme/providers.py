"""The providers this distribution registers: data only (see :class:`llmcore.Provider`)."""

from __future__ import annotations

from llmcore import Capabilities, Provider

__all__ = ["ACME", "API", "DISTRIBUTION"]

API = "acme-chat"
"""The API (wire protocol) this plugin translates; providers speaking it name it in ``api``."""

DISTRIBUTION = "llmcore-acme"

ACME = Provider(
    name="acme",
    api=API,
    base_url="https://api.acme.example/v1",
    api_key_env=("ACME_API_KEY",),
    base_url_env=("ACME_BASE_URL",),
    auth="bearer",
    capabilities=Capabilities(tools=False, vision=()),
    distribution=DISTRIBUTION,
    description="Acme chat",
)
