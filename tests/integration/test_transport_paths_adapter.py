"""The fault, framing and hardening suites again, every request through ``HTTPAdapter.send``
(replaced by a pass-through, as the ``responses`` library replaces it): the errors, cancels,
deadlines, leases and connection reuse must be the same on that way out as on the direct one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests.adapters
from test_faults import *  # noqa: F403  (their tests run again here, under the fixture below)
from test_framing_loopback import *  # noqa: F403
from test_hardening import *  # noqa: F403

import llmcore.transport


@pytest.fixture(autouse=True)
def through_the_adapter(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    original = requests.adapters.HTTPAdapter.send

    def send(self: requests.adapters.HTTPAdapter, request: Any, **kwargs: Any) -> Any:
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    assert not llmcore.transport._genuine_send()
    yield
