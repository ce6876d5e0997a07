"""The plugin on llmcore's conformance kit: contract checks and the recorded cases in cases/.

Run with ``pytest`` from the distribution's folder. The plugin is registered into a registry of
its own, so the tests do not depend on which plugins are installed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import llmcore_acme
import pytest
from llmcore_acme.parse import STOP_REASONS

import llmcore
from llmcore import HttpRequest
from llmcore import conformance as kit

PLUGINS = llmcore.Plugins(load_entrypoints=False)
PLUGINS.register(llmcore_acme, name="acme")
PROVIDER = PLUGINS.provider("acme")


# --- the protocol sample: how to write Acme bodies -----------------------------------------
def stream_body(pieces: Sequence[str], *, finished: bool = True) -> bytes:
    lines = [{"delta": piece} for piece in pieces]
    if finished:
        lines.append({"id": "s1", "model": "acme-1", "stop": "done"})
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def response_body(text: str) -> bytes:
    return json.dumps({"id": "r1", "model": "acme-1", "answer": text, "stop": "done"}).encode()


def error_body(status: int, message: str) -> bytes:
    return json.dumps({"failure": {"message": message, "kind": f"http_{status}"}}).encode()


SAMPLE = kit.ProtocolSample(
    stream_body=stream_body,
    response_body=response_body,
    error_body=error_body,
    model="acme-1",
    stream_content_type="application/x-ndjson",
)


# --- recorded cases ----------------------------------------------------------------------------
def check_request(case: kit.RecordedCase, sent: HttpRequest) -> None:
    """The body llmcore sent is the recorded one (``stream`` aside: error cases are also
    replayed as stream calls)."""
    if case.request["json"] is None:
        assert sent.json is None
        return
    drop = {"stream"}
    got = {k: v for k, v in sent.json.items() if k not in drop}
    assert got == {k: v for k, v in case.request["json"].items() if k not in drop}


CASES = kit.load_cases(Path(__file__).parent / "cases")
REPLAY = kit.Replay(
    PROVIDER, plugins=PLUGINS, check_request=check_request, stop_reasons=STOP_REASONS
)


@pytest.mark.parametrize("check", kit.contract_checks(PROVIDER, SAMPLE, plugins=PLUGINS), ids=str)
def test_contract(check: kit.Check) -> None:
    check()


@pytest.mark.parametrize("check", REPLAY.checks(CASES), ids=str)
def test_recorded_case(check: kit.Check) -> None:
    check()


def test_the_provider_is_registered() -> None:
    assert PROVIDER.api in llmcore_acme.LLMCORE_APIS
    assert PROVIDER == llmcore_acme.ACME


def test_the_metadata_declares_what_the_plugin_serves() -> None:
    """pyproject.toml's ``llmcore.providers`` and ``llmcore.apis`` tables name exactly the
    providers and APIs the plugin serves (llmcore imports it only when one of them is used).
    Needs the distribution installed (``pip install -e .``, as the tox env does)."""
    kit.check_declarations("llmcore-acme")
