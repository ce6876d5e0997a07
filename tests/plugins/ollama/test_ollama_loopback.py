"""llmcore-ollama against a loopback server that speaks the Ollama API (real sockets).

Model management (list, show, exists, pull with progress and a progress bar, delete) and what
the corpus does not record: HTTP error codes, error lines inside a stream, a stream cut before
its ``done`` line, cancelling a pull.
"""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import pytest
from loopback import LoopbackServer, Reply

import llmcore
import llmcore_ollama
from llmcore import CancelHandle, ChatCompletionRequest, Message
from llmcore_ollama import OllamaClient, PullProgress, as_ollama, ollama_provider

NDJSON = (("Content-Type", "application/x-ndjson"),)
PULL_LINES = [
    {"status": "pulling manifest"},
    {"status": "pulling 6a0746a1ec1a", "digest": "sha256:6a0746a1ec1a", "total": 2000},
    {"status": "pulling 6a0746a1ec1a", "digest": "sha256:6a0746a1ec1a", "total": 2000,
     "completed": 1000},
    {"status": "pulling 6a0746a1ec1a", "digest": "sha256:6a0746a1ec1a", "total": 2000,
     "completed": 2000},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]
TAGS = {"models": [
    {"name": "llama3.2:latest", "model": "llama3.2:latest", "modified_at": "2025-05-04T17:37:44Z",
     "size": 2019393189, "digest": "a80c4f17acd5", "details": {"family": "llama"}},
    {"name": "qwen3:8b", "model": "qwen3:8b", "size": 5225388164, "digest": "500a1f067a9f",
     "details": {"family": "qwen3"}},
]}
SHOW = {"details": {"family": "qwen3", "parameter_size": "8.2B"},
        "model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
        "capabilities": ["completion", "tools", "thinking"], "template": "{{ .Prompt }}"}
NOT_FOUND = {"error": "model 'nope' not found"}


def ndjson(*objects: Any, **knobs: Any) -> Reply:
    body = "".join(json.dumps(o) + "\n" for o in objects).encode()
    return Reply(200, NDJSON, body, framing="chunked", **knobs)


def client_for(server: LoopbackServer, **kwargs: Any) -> llmcore.Client:
    options = kwargs.pop("options", llmcore.ConnectionOptions(max_retries=0))
    return llmcore.Client(ollama_provider(server.base_url), options=options, **kwargs)


def _chat(model: str = "qwen3") -> ChatCompletionRequest:
    return ChatCompletionRequest(model, [Message.user("hi")])


# --- the extension --------------------------------------------------------------------------
def test_as_ollama_reaches_the_extension_in_three_ways(server: LoopbackServer) -> None:
    client = client_for(server)
    assert isinstance(client.as_ollama(), OllamaClient)
    assert isinstance(client.extension("ollama"), OllamaClient)
    assert as_ollama(client).client is client


def test_other_apis_have_no_ollama_extension() -> None:
    faux = llmcore.Provider("other", "other-api", "http://127.0.0.1:9", key_required=False)
    client = llmcore.Client(faux)
    with pytest.raises(llmcore.UnsupportedOperationError, match="no 'ollama' extension"):
        client.extension("ollama")
    with pytest.raises(llmcore.UnsupportedOperationError):
        as_ollama(client)
    assert not hasattr(client, "as_ollama")


# --- model management -----------------------------------------------------------------------
def test_models_lists_the_servers_tags(server: LoopbackServer) -> None:
    server.reset()
    server.add("GET", "/api/tags", Reply.json(TAGS))
    with client_for(server) as client:
        models = client.as_ollama().models()
        assert [m.id for m in models] == ["llama3.2:latest", "qwen3:8b"]
        assert models[1].extra["size"] == 5225388164
        assert [m.id for m in client.list_models()] == ["llama3.2:latest", "qwen3:8b"]
    assert [r.method + " " + r.path for r in server.requests] == ["GET /api/tags"] * 2


def test_show_model_and_model_exists(server: LoopbackServer) -> None:
    server.reset()
    server.add("POST", "/api/show", Reply.json(SHOW), Reply.json(SHOW),
               Reply.json(NOT_FOUND, status=404))
    with client_for(server) as client:
        ollama = client.as_ollama()
        details = ollama.show_model("qwen3:8b")
        assert details.capabilities == ("completion", "tools", "thinking")
        assert details.context_length == 40960
        assert ollama.model_exists("qwen3:8b") is True
        assert ollama.model_exists("nope") is False
    assert [r.json() for r in server.requests] == [
        {"model": "qwen3:8b"}, {"model": "qwen3:8b"}, {"model": "nope"}]


def test_show_model_of_an_unknown_model_raises_model_not_found(server: LoopbackServer) -> None:
    server.reset()
    server.add("POST", "/api/show", Reply.json(NOT_FOUND, status=404))
    with client_for(server) as client, pytest.raises(llmcore.ModelNotFoundError) as caught:
        client.as_ollama().show_model("nope")
    assert (caught.value.status, caught.value.message) == (404, "model 'nope' not found")


def test_model_exists_still_raises_other_errors(server: LoopbackServer) -> None:
    server.reset()
    server.add("POST", "/api/show", Reply.json({"error": "boom"}, status=500))
    with client_for(server) as client, pytest.raises(llmcore.ServerError):
        client.as_ollama().model_exists("qwen3")


def test_delete_model_sends_a_json_body_on_delete(server: LoopbackServer) -> None:
    server.reset()
    server.add("DELETE", "/api/delete", Reply.raw(200, b"", content_type=None),
               Reply.json(NOT_FOUND, status=404))
    with client_for(server) as client:
        client.as_ollama().delete_model("qwen3:8b")
        with pytest.raises(llmcore.ModelNotFoundError):
            client.as_ollama().delete_model("nope")
    assert server.requests[0].json() == {"model": "qwen3:8b"}
    assert server.requests[0].headers["content-type"] == "application/json"


def test_pull_model_reports_every_progress_line(server: LoopbackServer) -> None:
    server.reset()
    server.add("POST", "/api/pull", ndjson(*PULL_LINES, fragment=7))
    seen: list[PullProgress] = []
    with client_for(server) as client:
        final = client.as_ollama().pull_model("qwen3:8b", on_progress=seen.append,
                                              output=io.StringIO())
    assert final.succeeded
    assert [p.raw for p in seen] == PULL_LINES
    assert [p.fraction for p in seen if p.digest] == [0.0, 0.5, 1.0]
    assert server.requests[0].json() == {"model": "qwen3:8b", "stream": True}
    assert server.requests[0].headers["accept"] == "application/x-ndjson"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_pull_draws_a_progress_bar_on_a_terminal_and_nothing_elsewhere(
    server: LoopbackServer,
) -> None:
    server.reset()
    server.add("POST", "/api/pull", ndjson(*PULL_LINES))
    terminal, pipe = _Terminal(), io.StringIO()
    with client_for(server) as client:
        client.as_ollama().pull_model("qwen3:8b", output=terminal)
        client.as_ollama().pull_model("qwen3:8b", output=pipe)
    assert pipe.getvalue() == ""
    shown = terminal.getvalue()
    lines = shown.split("\n")
    assert lines[0] == "\rpulling manifest"
    assert lines[1].count("\r") == 3  # one redrawn line for the layer
    assert lines[1].rstrip().endswith("100% [############################] 2.0 KB/2.0 KB")
    assert " 50% [##############              ] 1.0 KB/2.0 KB" in lines[1]
    assert lines[-2] == "\rsuccess" and lines[-1] == ""
    forced = io.StringIO()
    server.add("POST", "/api/pull", ndjson(*PULL_LINES))
    with client_for(server) as client:
        client.as_ollama().pull_model("qwen3:8b", output=forced, progress_bar=True)
    assert forced.getvalue() == shown


def test_pull_of_an_unknown_model_raises_model_not_found(server: LoopbackServer) -> None:
    server.reset()
    server.add("POST", "/api/pull",
               ndjson({"status": "pulling manifest"},
                      {"error": "pull model manifest: file does not exist"}))
    seen: list[PullProgress] = []
    with client_for(server) as client, pytest.raises(llmcore.ModelNotFoundError) as caught:
        client.as_ollama().pull_model("nope", on_progress=seen.append)
    assert "file does not exist" in caught.value.message
    assert [p.status for p in seen] == ["pulling manifest"]


def test_pull_cut_before_success_is_an_interrupted_stream(server: LoopbackServer) -> None:
    server.reset()
    server.add("POST", "/api/pull", ndjson(*PULL_LINES[:3]))
    with client_for(server) as client, pytest.raises(llmcore.StreamInterruptedError):
        client.as_ollama().pull_model("qwen3:8b")
    server.reset()
    body = "".join(json.dumps(o) + "\n" for o in PULL_LINES).encode()
    server.add("POST", "/api/pull", Reply(200, NDJSON, body, framing="chunked", cut_after=60))
    with client_for(server) as client, pytest.raises(llmcore.StreamInterruptedError):
        client.as_ollama().pull_model("qwen3:8b")


def test_a_cancelled_pull_returns_the_last_progress(server: LoopbackServer) -> None:
    server.reset()
    server.add("POST", "/api/pull", ndjson(*PULL_LINES[:2], hang_after=True))
    handle = CancelHandle()
    seen: list[PullProgress] = []

    def progress(p: PullProgress) -> None:
        seen.append(p)
        if len(seen) == 2:
            threading.Timer(0.05, handle.cancel).start()

    with client_for(server) as client:
        last = client.as_ollama().pull_model("qwen3:8b", on_progress=progress, cancel=handle)
    assert last == seen[-1] and not last.succeeded
    assert server.wait_for_disconnect()


def test_management_goes_through_the_clients_hooks_and_headers(server: LoopbackServer) -> None:
    server.reset()
    server.add("GET", "/api/tags", Reply.json(TAGS))
    seen: list[str] = []
    options = llmcore.ConnectionOptions(max_retries=0, default_headers={"X-Team": "ml"})
    with client_for(server, options=options,
                    on_payload=lambda req, _p: seen.append(req.url) or None) as client:
        client.as_ollama().models()
    assert seen == [server.url("/api/tags")]
    assert server.requests[0].headers["x-team"] == "ml"


def test_management_retries_like_chat(server: LoopbackServer) -> None:
    server.reset()
    server.add("POST", "/api/show", Reply.json({"error": "busy"}, status=503,
                                               headers={"Retry-After": "0"}), Reply.json(SHOW))
    options = llmcore.ConnectionOptions(max_retries=2)
    with client_for(server, options=options) as client:
        assert client.as_ollama().show_model("qwen3").context_length == 40960
    assert len(server.requests) == 2


# --- chat errors the corpus does not record ---------------------------------------------------
@pytest.mark.parametrize(
    ("status", "message", "cls"),
    [
        (404, "model \"llama9\" not found, try pulling it first", llmcore.ModelNotFoundError),
        (400, "registry.ollama.ai/library/gemma:2b does not support tools",
         llmcore.InvalidRequestError),
        (500, "llama runner process has terminated: exit status 2", llmcore.ServerError),
        (429, "too many concurrent requests", llmcore.RateLimitError),
    ],
)
def test_http_errors_are_typed(server: LoopbackServer, status: int, message: str,
                               cls: type[llmcore.LlmError]) -> None:
    server.reset()
    server.add("POST", "/api/chat", Reply.json({"error": message}, status=status,
                                               headers={"Retry-After": "0"}))
    with client_for(server) as client:
        with pytest.raises(cls) as caught:
            client.chat_completion(_chat())
        assert (caught.value.status, caught.value.message) == (status, message)
        assert caught.value.provider == "ollama"
        with pytest.raises(cls):
            client.chat_completion_stream(_chat())
        with pytest.raises(cls):
            client.as_ollama().chat_stream_ollama(_chat())


def test_an_error_line_mid_stream_is_typed_and_keeps_the_partial(server: LoopbackServer) -> None:
    server.reset()
    lines = [{"model": "qwen3", "message": {"role": "assistant", "content": "Hel"}, "done": False},
             {"error": "an error was encountered while running the model: unexpected EOF"}]
    server.add("POST", "/api/chat", ndjson(*lines, fragment=1))
    with client_for(server) as client:
        stream = client.chat_completion_stream(_chat())
        with pytest.raises(llmcore.ServerError) as caught:
            for _ in stream:
                pass
        assert caught.value.message.endswith("unexpected EOF")
        assert caught.value.partial is not None and caught.value.partial.text() == "Hel"
        assert caught.value.partial.stop_reason is llmcore.StopReason.ERROR
        native = client.as_ollama().chat_stream_ollama(_chat())
        assert next(native) == lines[0]
        with pytest.raises(llmcore.ServerError):
            next(native)


def test_a_stream_cut_before_done_is_truncated(server: LoopbackServer) -> None:
    server.reset()
    line = {"model": "qwen3", "message": {"role": "assistant", "content": "Hel"}, "done": False}
    server.add("POST", "/api/chat", ndjson(line))
    with client_for(server) as client:
        stream = client.chat_completion_stream(_chat())
        with pytest.raises(llmcore.StreamInterruptedError) as caught:
            stream.until_done()
    assert caught.value.partial is not None and caught.value.partial.text() == "Hel"


def test_a_malformed_line_is_a_malformed_response(server: LoopbackServer) -> None:
    server.reset()
    server.add("POST", "/api/chat", Reply(200, NDJSON, b'{"model": "q", "mess\n',
                                          framing="chunked"))
    with client_for(server) as client:
        with pytest.raises(llmcore.MalformedResponseError):
            client.chat_completion_stream(_chat()).until_done()
        with pytest.raises(llmcore.MalformedResponseError):
            list(client.as_ollama().chat_stream_ollama(_chat()))


def test_a_stream_request_answered_with_one_json_object_is_read(server: LoopbackServer) -> None:
    """``stream: true`` ignored by a proxy: one JSON object is one NDJSON line."""
    server.reset()
    whole = {"model": "qwen3", "message": {"role": "assistant", "content": "whole"},
             "done": True, "done_reason": "stop", "prompt_eval_count": 1, "eval_count": 1}
    server.add("POST", "/api/chat", Reply.json(whole))
    with client_for(server) as client:
        assert client.chat_completion_stream(_chat()).text() == "whole"


def test_the_registered_provider_follows_ollama_host(server: LoopbackServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server.reset()
    server.add("POST", "/api/chat", Reply.json(
        {"model": "qwen3", "message": {"role": "assistant", "content": "from env"},
         "done": True, "done_reason": "stop"}))
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{server.port}")  # no scheme, as users set it
    plugins = llmcore.Plugins(load_entrypoints=False)
    plugins.register(llmcore_ollama, name="ollama")
    with llmcore.Client("ollama", plugins=plugins) as client:
        assert client.quick_chat_text("qwen3", "hi") == "from env"
