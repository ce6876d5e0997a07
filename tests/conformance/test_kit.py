"""The conformance kit itself: the faux provider passes its contract checks, and each check
catches the plugin bug it is there for (a kit that passes everything proves nothing)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
import pytest

import llmcore
from llmcore import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChunkChoice,
    Delta,
    Frame,
    HttpRequest,
    HttpResponse,
    Message,
    Provider,
    Role,
    StopReason,
    serde,
)
from llmcore import conformance as kit
from llmcore.testing import register_faux_provider


# --- the faux provider ------------------------------------------------------------------------
def faux_stream_body(pieces: Sequence[str], *, finished: bool = True) -> bytes:
    """llmcore's own JSON chunks as SSE, the faux provider's wire format."""
    frames = [ChatCompletionChunk("f", "faux-1", (ChunkChoice(0, Delta(content=p)),))
              for p in pieces]
    if finished:
        frames.append(ChatCompletionChunk(
            "f", "faux-1", (ChunkChoice(0, Delta(), "stop", StopReason.STOP),)))
    out = "".join(f"data: {serde.dumps(f)}\n\n" for f in frames)
    return (out + ("data: [DONE]\n\n" if finished else "")).encode()


def faux_response_body(text: str) -> bytes:
    choice = Choice(0, Message(Role.ASSISTANT, text), "stop", StopReason.STOP)
    return serde.dumps(ChatCompletionResponse("f", "faux-1", (choice,), None, "faux")).encode()


FAUX_SAMPLE = kit.ProtocolSample(faux_stream_body, faux_response_body, model="faux-1")
FAUX_PLUGINS = llmcore.Plugins(load_entrypoints=False)
FAUX = register_faux_provider("faux", plugins=FAUX_PLUGINS)


@pytest.mark.parametrize(
    "check", kit.contract_checks(FAUX.provider, FAUX_SAMPLE, plugins=FAUX_PLUGINS), ids=str
)
def test_faux_provider_passes_the_contract_checks(check: kit.Check) -> None:
    check()


def test_contract_checks_cover_the_issue_list() -> None:
    names = [str(c) for c in kit.contract_checks(FAUX.provider, FAUX_SAMPLE)]
    assert names == [
        "check_build_payload", "check_sample_round_trip", "check_on_payload",
        "check_cancel_keeps_partial", "check_truncated_stream", "check_errors_typed_and_scrubbed",
    ]


# --- broken plugins the checks must catch ------------------------------------------------------
API = "kit-probe"
PROVIDER = Provider("probe", API, "https://probe.example/v1", auth="bearer",
                    api_key_env=("PROBE_KEY",))


def _lines(pieces: Sequence[str], *, finished: bool = True) -> bytes:
    lines = [{"t": p} for p in pieces] + ([{"end": "stop"}] if finished else [])
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


def _whole(text: str) -> bytes:
    return json.dumps({"t": text, "end": "stop"}).encode()


SAMPLE = kit.ProtocolSample(_lines, _whole, stream_content_type="application/x-ndjson")


class Probe:
    """A small correct plugin; tests break one method at a time."""

    LLMCORE_APIS = (API,)

    @llmcore.hookimpl
    def register_providers(self, register: Callable[[Provider], None]) -> None:
        register(PROVIDER)

    @llmcore.hookimpl
    def build_payload(self, provider: Provider, request: Any, stream: bool) -> HttpRequest:
        return HttpRequest("POST", provider.url("go"), {"content-type": "application/json"},
                           json={"model": request.model, "stream": stream},
                           stream_format="ndjson")

    @llmcore.hookimpl
    def parse_response(self, provider: Provider, response: HttpResponse) -> Any:
        body = response.json()
        choice = Choice(0, Message(Role.ASSISTANT, body["t"]), body["end"], StopReason.STOP)
        return ChatCompletionResponse("p", "m", (choice,), None, provider.name)

    @llmcore.hookimpl
    def iter_stream(self, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
        for frame in frames:
            line = frame.json()
            if "end" in line:
                yield ChatCompletionChunk(choices=(
                    ChunkChoice(0, Delta(), line["end"], StopReason.STOP),))
                return True  # type: ignore[return-value]
            yield ChatCompletionChunk(choices=(ChunkChoice(0, Delta(content=line["t"])),))
        return None


def _run(probe: object, check: Callable[..., None]) -> None:
    plugins = llmcore.Plugins(load_entrypoints=False)
    plugins.register(probe, name="probe")
    check(PROVIDER, SAMPLE, plugins=plugins)


def test_the_probe_passes_everything() -> None:
    plugins = llmcore.Plugins(load_entrypoints=False)
    plugins.register(Probe(), name="probe")
    kit.run_contract_checks(PROVIDER, SAMPLE, plugins=plugins)


class SetsAuthHeader(Probe):
    @llmcore.hookimpl
    def build_payload(self, provider: Provider, request: Any, stream: bool) -> HttpRequest:
        built = super().build_payload(provider, request, stream)
        return built.with_headers({"Authorization": "Bearer from-the-plugin"})


class RelativeUrl(Probe):
    @llmcore.hookimpl
    def build_payload(self, provider: Provider, request: Any, stream: bool) -> HttpRequest:
        return attrs.evolve(super().build_payload(provider, request, stream), url="/v1/go")


class ReadsAhead(Probe):
    """Reads every frame before yielding: a cancel can no longer stop the download."""

    @llmcore.hookimpl
    def iter_stream(self, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
        return iter(list(super().iter_stream(frames)))


class NeverTerminal(Probe):
    """Claims every stream ended properly, so truncation passes unnoticed."""

    @llmcore.hookimpl
    def iter_stream(self, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
        for frame in frames:
            line = frame.json()
            if "t" in line:
                yield ChatCompletionChunk(choices=(ChunkChoice(0, Delta(content=line["t"])),))
        return True  # type: ignore[return-value]


class LeakyError(Probe):
    """Maps every error to a plain LlmError chained to an exception holding the body."""

    @llmcore.hookimpl
    def parse_error(self, response: HttpResponse) -> llmcore.LlmError:
        err = llmcore.LlmError("failed")
        err.__cause__ = RuntimeError(response.text())
        return err


class WrongErrorClass(Probe):
    @llmcore.hookimpl
    def parse_error(self, response: HttpResponse) -> llmcore.LlmError:
        return llmcore.ServerError(response.json()["error"]["message"])


class DropsText(Probe):
    @llmcore.hookimpl
    def iter_stream(self, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
        for chunk in super().iter_stream(frames):
            if chunk.text() != "word1 ":
                yield chunk
        return True  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("probe", "check", "message"),
    [
        (SetsAuthHeader(), kit.check_build_payload, "credential headers"),
        (RelativeUrl(), kit.check_build_payload, "not absolute"),
        (ReadsAhead(), kit.check_cancel_keeps_partial, "cancel"),
        (NeverTerminal(), kit.check_truncated_stream, "expected a StreamInterruptedError"),
        (LeakyError(), kit.check_errors_typed_and_scrubbed, "expected AuthenticationError"),
        (WrongErrorClass(), kit.check_errors_typed_and_scrubbed, "expected AuthenticationError"),
        (DropsText(), kit.check_sample_round_trip, "text"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Probe) else "",
)
def test_a_broken_plugin_fails_its_check(probe: Probe, check: Callable[..., None],
                                         message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        _run(probe, check)


def test_a_leaked_key_in_a_chained_cause_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even with the right class, an unscrubbed chain fails (the core's scrubbing off)."""
    import llmcore.client as client_module

    class TypedLeak(Probe):
        @llmcore.hookimpl
        def parse_error(self, response: HttpResponse) -> llmcore.LlmError:
            message = response.json()["error"]["message"]
            err = llmcore.error_for_status(response.status, message)
            err.__cause__ = RuntimeError(response.text())
            return err

    monkeypatch.setattr(llmcore.Client, "chat_completion",
                        client_module.Client.chat_completion.__wrapped__)  # type: ignore[attr-defined]
    with pytest.raises(AssertionError, match="the API key shows in the error's chained"):
        _run(TypedLeak(), kit.check_errors_typed_and_scrubbed)


def test_replay_reports_the_case_and_mode(tmp_path: Any) -> None:
    case = {
        "request": {"method": "POST", "url": "https://probe.example/v1/go", "json": None},
        "response": {"status": 200, "headers": {"content-type": "application/x-ndjson"},
                     "body": _lines(["a", "b"]).decode()},
        "expected": {"text": "ab!", "reasoning": None, "tool_calls": [], "finish_reason": "stop",
                     "stop_reason": "stop"},
    }
    (tmp_path / "c.json").write_text(json.dumps(case))
    plugins = llmcore.Plugins(load_entrypoints=False)
    plugins.register(Probe(), name="probe")
    checks = kit.Replay(PROVIDER, plugins=plugins).checks(kit.load_cases(tmp_path))
    assert [str(c) for c in checks] == [f"c.json[{m}]" for m in kit.MODES]
    for check in checks:
        with pytest.raises(AssertionError, match=r"c\.json\[.*\]: text.*'ab'.*'ab!'"):
            check()


def test_a_case_file_without_expected_is_an_error(tmp_path: Any) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"request": {}, "response": {}}))
    with pytest.raises(AssertionError, match=r"bad\.json: the case has no expected"):
        kit.load_cases(tmp_path)
