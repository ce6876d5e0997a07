"""Suite-wide setup: the developer's own environment does not move the clients under test.

``OPENAI_BASE_URL`` (honoured by ``Client("openai")``, see ``docs/providers.md``) and
``OLLAMA_HOST`` (``Client("ollama")``, see ``docs/ollama.md``) are often set in a developer's
shell; tests that need them set them themselves with ``monkeypatch``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
