#!/usr/bin/env bash
# Build each distribution's wheel on its own, install both into an empty venv, and use them.
# The name `llmcore` on the public index belongs to an unrelated project: only local wheels are
# installed here (--no-index for our two, their dependencies from the index as usual).
set -euo pipefail
WORK=${1:?usage: check_wheels.sh WORKDIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK/dist" "$WORK/venv"
mkdir -p "$WORK/dist"
python -m build --wheel --outdir "$WORK/dist" "$ROOT"
python -m build --wheel --outdir "$WORK/dist" "$ROOT/plugins/llmcore-openai"
python -m build --wheel --outdir "$WORK/dist" "$ROOT/plugins/llmcore-anthropic"
ls "$WORK/dist"
python -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
# Dependencies first (from the index), then our wheels strictly from the local folder.
"$PY" -m pip install -q requests pluggy attrs cattrs tenacity jsonschema
"$PY" -m pip install -q --no-index --find-links "$WORK/dist" llmcore llmcore-openai
cd "$WORK"   # away from the source tree, so the installed wheels are what gets imported
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

# llmcore-anthropic alone: an empty venv gets only llmcore and llmcore-anthropic (pip brings what
# llmcore-anthropic declares), and Client("anthropic") answers from a one-shot loopback server.
rm -rf "$WORK/venv-anthropic"
python -m venv "$WORK/venv-anthropic"
APY="$WORK/venv-anthropic/bin/python"
"$APY" -m pip install -q requests pluggy attrs cattrs tenacity jsonschema
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
