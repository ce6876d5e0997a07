"""An in-memory Ollama server for the examples of docs/ollama.md (run by tests/test_docs.py).

``install()`` (called from the page's hidden ``test-setup`` comment) registers the real
llmcore-ollama plugin with the page's plugin registry, so ``Client("ollama")`` is the real
provider, and serves ``/api/...`` URLs of http(s) hosts from memory in Ollama's wire format:
``/api/chat`` (JSON or NDJSON, echoing tools as tool calls and thinking when ``think`` is on),
``/api/generate`` (JSON or NDJSON, with ``context`` and timings), ``/api/tags``,
``/api/show``, ``/api/pull`` (a progress stream) and ``/api/delete``. Every other URL goes to
the harness's own fake HTTP handler, unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import llmcore
import llmcore.transport
from llmcore.cancel import CancelHandle
from llmcore.http import HttpRequest
from llmcore.transport import MemoryResponse

MODELS = {"llama3.2:latest": 2019393189, "qwen3:8b": 5225388164}
ANSWER = "Hello from Ollama"
NDJSON = {"content-type": "application/x-ndjson"}
JSON = {"content-type": "application/json; charset=utf-8"}


def _json(status: int, obj: Any) -> MemoryResponse:
    return MemoryResponse(status, JSON, [json.dumps(obj).encode()])


def _lines(objects: list[dict[str, Any]]) -> Iterator[bytes]:
    for obj in objects:
        yield (json.dumps(obj) + "\n").encode()


class FakeOllama:
    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback
        self.models = dict(MODELS)

    def __call__(self, request: HttpRequest, cancel: CancelHandle | None) -> MemoryResponse:
        path = request.url.split("?", 1)[0].split("://", 1)[1].partition("/")[2]
        body = request.json or {}
        route = getattr(self, "_" + path.removeprefix("api/"), None)
        if not path.startswith("api/") or route is None:
            return self.fallback(request, cancel)  # type: ignore[no-any-return]
        return route(body)  # type: ignore[no-any-return]

    def _missing(self, name: str) -> MemoryResponse:
        return _json(404, {"error": f"model '{name}' not found"})

    def _chat(self, body: dict[str, Any]) -> MemoryResponse:
        model = body["model"]
        message: dict[str, Any] = {"role": "assistant", "content": ANSWER}
        if body.get("think"):
            message["thinking"] = "The user greets me; I greet back."
        if body.get("tools") and body["messages"][-1]["role"] == "user":
            tool = body["tools"][0]["function"]
            message = {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": tool["name"], "arguments": {"city": "Paris"}}}]}
        if body.get("format"):
            message["content"] = json.dumps({"name": "Ada", "age": 36})
        final = {"model": model, "created_at": "2025-05-04T17:37:44.123456Z", "done": True,
                 "done_reason": "stop", "prompt_eval_count": 12, "eval_count": 6,
                 "total_duration": 412000000, "eval_duration": 250000000}
        if not body.get("stream", True):
            return _json(200, {**final, "message": message})
        pieces: list[dict[str, Any]] = []
        if "thinking" in message:
            pieces.append({"role": "assistant", "content": "", "thinking": message["thinking"]})
        if message.get("tool_calls"):
            pieces.append(message)
        else:
            words = message["content"].split(" ")
            pieces += [{"role": "assistant", "content": w + (" " if i < len(words) - 1 else "")}
                       for i, w in enumerate(words)]
        objects = [{"model": model, "created_at": final["created_at"], "message": p,
                    "done": False} for p in pieces]
        objects.append({**final, "message": {"role": "assistant", "content": ""}})
        return MemoryResponse(200, NDJSON, _lines(objects))

    def _generate(self, body: dict[str, Any]) -> MemoryResponse:
        words = ["Why", " is", " the", " sky", " blue?"] if not body.get("suffix") else ["return a"]
        final = {"model": body["model"], "created_at": "2025-05-04T17:37:44.123456Z",
                 "response": "", "done": True, "done_reason": "stop",
                 "context": [*body.get("context", []), 1, 2, 3], "prompt_eval_count": 9,
                 "eval_count": len(words), "total_duration": 812000000,
                 "load_duration": 25000000, "prompt_eval_duration": 91000000,
                 "eval_duration": 650000000}
        if not body.get("stream", True):
            return _json(200, {**final, "response": "".join(words)})
        objects = [{"model": body["model"], "created_at": final["created_at"], "response": w,
                    "done": False} for w in words]
        return MemoryResponse(200, NDJSON, _lines([*objects, final]))

    def _tags(self, body: dict[str, Any]) -> MemoryResponse:
        return _json(200, {"models": [
            {"name": n, "model": n, "size": s, "digest": "0123456789ab",
             "modified_at": "2025-05-04T17:37:44Z", "details": {"format": "gguf"}}
            for n, s in self.models.items()]})

    def _show(self, body: dict[str, Any]) -> MemoryResponse:
        name = body["model"] if ":" in body["model"] else body["model"] + ":latest"
        if name not in self.models:
            return self._missing(body["model"])
        return _json(200, {"details": {"family": name.split(":")[0], "parameter_size": "8.0B",
                                       "quantization_level": "Q4_K_M"},
                           "model_info": {"general.architecture": "llama",
                                          "llama.context_length": 131072},
                           "capabilities": ["completion", "tools"]})

    def _pull(self, body: dict[str, Any]) -> MemoryResponse:
        name = body["model"] if ":" in body["model"] else body["model"] + ":latest"
        total = 3_000_000
        layers = [{"status": "pulling 6a0746a1ec1a", "digest": "sha256:6a0746a1ec1a",
                   "total": total, "completed": done} for done in (0, total // 2, total)]
        self.models[name] = total
        return MemoryResponse(200, NDJSON, _lines(
            [{"status": "pulling manifest"}, *layers, {"status": "verifying sha256 digest"},
             {"status": "writing manifest"}, {"status": "success"}]))

    def _delete(self, body: dict[str, Any]) -> MemoryResponse:
        name = body["model"] if ":" in body["model"] else body["model"] + ":latest"
        if self.models.pop(name, None) is None:
            return self._missing(body["model"])
        return MemoryResponse(200, {}, [b""])


def install() -> FakeOllama:
    """Serve Ollama's API from memory (see the module docstring); the docs harness has already
    registered the real llmcore-ollama plugin, like every plugin this repository ships."""
    schemes = llmcore.transport._memory_schemes
    fake = FakeOllama(schemes["http"])
    fallback_https = schemes["https"]
    llmcore.transport.register_memory_scheme("http", fake)
    llmcore.transport.register_memory_scheme("https", FakeOllama(fallback_https))
    return fake
