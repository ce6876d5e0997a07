#!/usr/bin/env bash
# Build each distribution's wheel on its own, install core + openai into an empty venv and use
# them; then install llmcore + llmcore-zhipu alone into a second empty venv (pip brings
# llmcore-openai, which llmcore-zhipu declares, from the same folder) and chat with
# Client("zhipu") over a loopback socket; then core + ollama, core + anthropic and core + gemini,
# each ALONE into an empty venv of its own.
# The name `llmcore` on the public index belongs to an unrelated project: only local wheels are
# installed here (--no-index for our two, their dependencies from the index as usual).
set -euo pipefail
WORK=${1:?usage: check_wheels.sh WORKDIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK/dist" "$WORK/venv" "$WORK/venv-zhipu" "$WORK/venv-ollama"
mkdir -p "$WORK/dist"
python -m build --wheel --outdir "$WORK/dist" "$ROOT"
python -m build --wheel --outdir "$WORK/dist" "$ROOT/plugins/llmcore-openai"
python -m build --wheel --outdir "$WORK/dist" "$ROOT/plugins/llmcore-zhipu"
python -m build --wheel --outdir "$WORK/dist" "$ROOT/plugins/llmcore-ollama"
python -m build --wheel --outdir "$WORK/dist" "$ROOT/plugins/llmcore-anthropic"
python -m build --wheel --outdir "$WORK/dist" "$ROOT/plugins/llmcore-gemini"
ls "$WORK/dist"
python -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
# Dependencies first (from the index), then our wheels strictly from the local folder.
"$PY" -m pip install -q requests pluggy attrs cattrs tenacity jsonschema click
"$PY" -m pip install -q --no-index --find-links "$WORK/dist" llmcore llmcore-openai
cd "$WORK"   # away from the source tree, so the installed wheels are what gets imported
"$WORK/venv/bin/llmcore" providers | grep -q '^openai-compatible '   # the console script
"$PY" - <<'PY'
import importlib.metadata as md
import llmcore, llmcore_openai
assert "site-packages" in llmcore.__file__, llmcore.__file__
assert md.version("llmcore") == llmcore.__version__
providers = llmcore.supported_providers()
assert {"openai", "openai-compatible"} <= set(providers), providers
import pathlib
assert (pathlib.Path(llmcore.__file__).parent / "py.typed").exists()
assert (pathlib.Path(llmcore_openai.__file__).parent / "py.typed").exists()
for dist in ("llmcore", "llmcore-openai"):  # each wheel ships the MIT licence in its dist-info
    licences = [f for f in md.files(dist) or () if f.name == "LICENSE" and ".dist-info" in str(f)]
    assert licences and "MIT License" in licences[0].read_text(), (dist, md.files(dist))
from llmcore.testing import register_faux_provider
register_faux_provider(default="wheel install works")
print(llmcore.Client("faux").quick_chat_text("faux-1", "hi"))
print("installed from wheels:", providers)
PY

# --- llmcore + llmcore-zhipu, nothing else named: the plugin's own dependency comes along -------
python -m venv "$WORK/venv-zhipu"
PYZ="$WORK/venv-zhipu/bin/python"
"$PYZ" -m pip install -q requests pluggy attrs cattrs tenacity jsonschema click
"$PYZ" -m pip install -q --no-index --find-links "$WORK/dist" llmcore llmcore-zhipu
"$PYZ" - <<'PY'
import http.server, importlib.metadata as md, json, threading
import llmcore, llmcore_openai, llmcore_zhipu
for mod in (llmcore, llmcore_openai, llmcore_zhipu):
    assert "site-packages" in mod.__file__, mod.__file__
assert "llmcore-openai" in " ".join(md.requires("llmcore-zhipu") or ()), md.requires("llmcore-zhipu")
assert {"zhipu", "zai"} <= set(llmcore.supported_providers()), llmcore.supported_providers()
import pathlib
assert (pathlib.Path(llmcore_zhipu.__file__).parent / "py.typed").exists()
licences = [f for f in md.files("llmcore-zhipu") or () if f.name == "LICENSE"]
assert licences and "MIT License" in licences[0].read_text()
seen = {}

class Answer(http.server.BaseHTTPRequestHandler):  # one loopback answer in GLM's shape
    def do_POST(self):
        seen["path"] = self.path
        seen["auth"] = self.headers["Authorization"]
        seen["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"id": "1", "model": "glm-4.7", "choices": [{"index": 0,
            "finish_reason": "stop", "message": {"role": "assistant", "content": "4",
            "reasoning_content": "2+2"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
threading.Thread(target=server.handle_request, daemon=True).start()
base = f"http://127.0.0.1:{server.server_port}/api/paas/v4"
client = llmcore.Client("zhipu", api_key="id.secret", base_url=base)
answer = client.chat_completion(llmcore.ChatCompletionRequest(
    "glm-4.7", [llmcore.Message.user("2+2?")], reasoning_effort="high"))
assert (answer.text(), answer.message.reasoning) == ("4", "2+2"), answer
assert seen["path"] == "/api/paas/v4/chat/completions", seen
assert seen["auth"] == "Bearer id.secret" and seen["body"]["thinking"] == {"type": "enabled"}, seen
server.server_close()
print("llmcore + llmcore-zhipu from wheels:", answer.text(), answer.stop_reason)
PY

# --- llmcore-ollama on its own: pip brings what it declares (llmcore), nothing else is installed.
python -m venv "$WORK/venv-ollama"
PY="$WORK/venv-ollama/bin/python"
"$PY" -m pip install -q requests pluggy attrs cattrs tenacity jsonschema click
"$PY" -m pip install -q --no-index --find-links "$WORK/dist" llmcore llmcore-ollama
"$PY" - <<'PY'
import importlib.metadata as md
import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import llmcore
import llmcore_ollama

assert "site-packages" in llmcore_ollama.__file__, llmcore_ollama.__file__
assert (pathlib.Path(llmcore_ollama.__file__).parent / "py.typed").exists()
installed = {d.metadata["Name"] for d in md.distributions()}
assert "llmcore-openai" not in installed, installed
licences = [f for f in md.files("llmcore-ollama") or () if f.name == "LICENSE"]
assert licences and "MIT License" in licences[0].read_text()
assert "ollama" in llmcore.supported_providers(), llmcore.supported_providers()


class Ollama(BaseHTTPRequestHandler):
    """A one-route Ollama: POST /api/chat answers one NDJSON stream or one JSON object."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert self.path == "/api/chat", self.path
        line = {"model": body["model"], "message": {"role": "assistant", "content": "hi"},
                "done": True, "done_reason": "stop", "prompt_eval_count": 3, "eval_count": 1}
        data = (json.dumps(line) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


server = HTTPServer(("127.0.0.1", 0), Ollama)
threading.Thread(target=server.serve_forever, daemon=True).start()
import os
os.environ["OLLAMA_HOST"] = f"127.0.0.1:{server.server_port}"  # as users set it, no scheme
client = llmcore.Client("ollama")
assert client.quick_chat_text("llama3.2", "hi") == "hi"
stream = client.chat_completion_stream(
    llmcore.ChatCompletionRequest("llama3.2", [llmcore.Message.user("hi")]))
assert stream.text() == "hi" and stream.response.usage.total_tokens == 4
server.shutdown()
print("llmcore-ollama installed alone from wheels: Client('ollama') works")
PY

# --- # llmcore-anthropic alone: an empty venv gets only llmcore and llmcore-anthropic (pip brings what
# llmcore-anthropic declares), and Client("anthropic") answers from a one-shot loopback server.
rm -rf "$WORK/venv-anthropic"
python -m venv "$WORK/venv-anthropic"
APY="$WORK/venv-anthropic/bin/python"
"$APY" -m pip install -q requests pluggy attrs cattrs tenacity jsonschema click
"$APY" -m pip install -q --no-index --find-links "$WORK/dist" llmcore llmcore-anthropic
"$APY" - <<'PY'
import importlib.metadata as md
import json, os, pathlib, threading
from http.server import BaseHTTPRequestHandler, HTTPServer
import llmcore, llmcore_anthropic
assert "site-packages" in llmcore_anthropic.__file__, llmcore_anthropic.__file__
assert (pathlib.Path(llmcore_anthropic.__file__).parent / "py.typed").exists()
try:
    md.version("llmcore-openai")
except md.PackageNotFoundError:
    pass
else:
    raise AssertionError("llmcore-openai must not be installed here")
licences = [f for f in md.files("llmcore-anthropic") or () if f.name == "LICENSE"]
assert licences and "MIT License" in licences[0].read_text()
assert {"anthropic", "anthropic-bearer"} <= set(llmcore.supported_providers())
seen = {}

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        seen["path"], seen["key"] = self.path, self.headers.get("x-api-key")
        seen["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"id": "msg_1", "type": "message", "role": "assistant",
                           "model": "claude-test", "content": [{"type": "text",
                           "text": "wheel install works"}], "stop_reason": "end_turn",
                           "usage": {"input_tokens": 3, "output_tokens": 3}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.handle_request, daemon=True).start()
os.environ["ANTHROPIC_API_KEY"] = "sk-ant-wheel-check"
os.environ["ANTHROPIC_BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
text = llmcore.Client("anthropic").quick_chat_text("claude-test", "hi")
assert text == "wheel install works", text
assert seen["path"] == "/v1/messages" and seen["key"] == "sk-ant-wheel-check", seen
assert seen["body"]["max_tokens"] == 4096, seen
server.server_close()
print(text, "(llmcore + llmcore-anthropic only)")
PY

# --- llmcore-gemini alone (llmcore + that one plugin), against a one-shot loopback answer -------
rm -rf "$WORK/venv-gemini"
python -m venv "$WORK/venv-gemini"
PY="$WORK/venv-gemini/bin/python"
"$PY" -m pip install -q requests pluggy attrs cattrs tenacity jsonschema click
"$PY" -m pip install -q --no-index --find-links "$WORK/dist" llmcore llmcore-gemini
(cd "$WORK" && "$PY" - <<'PY'
import http.server, json, threading
import llmcore, llmcore_gemini
assert "site-packages" in llmcore_gemini.__file__, llmcore_gemini.__file__
assert set(llmcore.supported_providers()) == {"gemini"}, llmcore.supported_providers()
seen = {}
class Once(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        seen["path"], seen["key"] = self.path, self.headers.get("x-goog-api-key")
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"candidates": [{"content": {"role": "model", "parts": [
            {"text": "gemini wheel works"}]}, "finishReason": "STOP"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Once)
threading.Thread(target=server.handle_request, daemon=True).start()
client = llmcore.Client("gemini", api_key="wheel-key",
                        base_url=f"http://127.0.0.1:{server.server_port}")
print(client.quick_chat_text("gemini-2.5-flash", "hi"))
assert seen == {"path": "/v1beta/models/gemini-2.5-flash:generateContent", "key": "wheel-key"}
PY
)
