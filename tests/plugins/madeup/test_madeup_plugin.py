"""The done-when test of the plugin contract: a plugin for a made-up, non-OpenAI protocol,
built from plugins/_template, passes the whole conformance kit (contract checks and every
hand-written case in cases/, in every replay mode) with no dispatch code of its own."""

from __future__ import annotations

import ast
import inspect
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import llmcore_madeup  # noqa: E402
from llmcore_madeup import parse, payload, providers  # noqa: E402

import llmcore  # noqa: E402
from llmcore import ChatCompletionRequest, HttpRequest, Message, Tool  # noqa: E402
from llmcore import conformance as kit  # noqa: E402

PLUGINS = llmcore.Plugins(load_entrypoints=False)
PLUGINS.register(llmcore_madeup, name="madeup")
PROVIDER = PLUGINS.provider("madeup")


# --- the protocol sample ----------------------------------------------------------------------
def _lines(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def stream_body(pieces: Sequence[str], *, finished: bool = True) -> bytes:
    lines: list[dict[str, Any]] = [{"type": "begin", "id": "k1", "model": "mu-large"}]
    lines += [{"type": "text", "text": piece} for piece in pieces]
    if finished:
        lines.append({"type": "end", "reason": "complete"})
    return _lines(lines)


def response_body(text: str) -> bytes:
    body = {"id": "k2", "model": "mu-large", "items": [{"type": "text", "text": text}],
            "end": {"reason": "complete"}}
    return json.dumps(body).encode()


def error_body(status: int, message: str) -> bytes:
    return json.dumps({"problem": {"title": message, "kind": f"http_{status}"}}).encode()


SAMPLE = kit.ProtocolSample(stream_body, response_body, error_body, model="mu-large",
                            stream_content_type="application/x-ndjson")


# --- recorded cases ---------------------------------------------------------------------------
_ROLES = {"rules": Message.system, "human": Message.user}


def request_for(case: kit.RecordedCase) -> ChatCompletionRequest:
    """The recorded request in llmcore types (these cases only hold rules and human turns)."""
    recorded = case.request["json"]
    if recorded is None:
        return ChatCompletionRequest("mu-large", [Message.user("hi")])
    messages = [_ROLES[t["speaker"]](t["say"]) for t in recorded["turns"]]
    tools = [Tool(t["tool"], t["about"] or None, t["input_schema"])
             for t in recorded.get("tools", ())] or None
    return ChatCompletionRequest(recorded["model"], messages, tools=tools)


def check_request(case: kit.RecordedCase, sent: HttpRequest) -> None:
    """What was sent is the recorded body (``stream`` aside: error cases also go out as
    stream calls)."""
    recorded = case.request["json"]
    if recorded is None:
        assert sent.json is None
        return
    assert {k: v for k, v in sent.json.items() if k != "stream"} == {
        k: v for k, v in recorded.items() if k != "stream"
    }


def check_error(case: kit.RecordedCase, err: llmcore.LlmError) -> None:
    """An in-stream problem carries the status written in it."""
    expected = case.expected["error"]
    if expected.get("in_stream"):
        assert err.status == 503, repr(err)
    assert err.provider == "madeup"


CASES = kit.load_cases(HERE / "cases", wire="madeup-lines")
REPLAY = kit.Replay(PROVIDER, plugins=PLUGINS, request_for=request_for,
                    check_request=check_request, check_error=check_error,
                    stop_reasons=parse.STOP_REASONS)


@pytest.mark.parametrize("check", kit.contract_checks(PROVIDER, SAMPLE, plugins=PLUGINS), ids=str)
def test_contract(check: kit.Check) -> None:
    check()


@pytest.mark.parametrize("check", REPLAY.checks(CASES), ids=str)
def test_recorded_case(check: kit.Check) -> None:
    check()


def test_every_case_file_is_replayed_in_every_mode() -> None:
    files = sorted(p.name for p in (HERE / "cases").glob("*.json"))
    assert [c.id for c in CASES] == files
    streams = [c for c in CASES if c.is_stream and not c.is_http_error]
    assert len(streams) == 3
    assert all(c.modes == kit.MODES for c in streams)


def test_no_dispatch_code() -> None:
    """No hook looks at ``provider.api``: LLMCORE_APIS scopes them."""
    for module in (llmcore_madeup, parse, payload):
        tree = ast.parse(inspect.getsource(module))
        nodes = ast.walk(tree)
        reads = [n.lineno for n in nodes if isinstance(n, ast.Attribute) and n.attr == "api"]
        assert reads == [], f"{module.__name__} reads .api at lines {reads}"
    assert llmcore_madeup.LLMCORE_APIS == (providers.API,)
    assert inspect.isgeneratorfunction(llmcore_madeup.iter_stream)


def test_the_hooks_answer_only_for_their_api() -> None:
    """With the openai plugin in the same registry, each API's requests go to its own plugin."""
    import llmcore_openai

    both = llmcore.Plugins(load_entrypoints=False)
    both.register(llmcore_openai, name="openai")
    both.register(llmcore_madeup, name="madeup")
    request = ChatCompletionRequest("m", [Message.user("hi")])
    mine = both.build_payload(both.provider("madeup"), request, False)
    theirs = both.build_payload(both.provider("openai"), request, False)
    assert mine.url.endswith("/converse") and "turns" in mine.json
    assert theirs.url.endswith("/chat/completions") and "messages" in theirs.json
