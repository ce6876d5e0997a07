#!/usr/bin/env bash
# Build each distribution's wheel on its own, install them into an empty venv, and use them.
# The name `llmcore` on the public index belongs to an unrelated project: only local wheels are
# installed here (--no-index for our two, their dependencies from the index as usual).
set -euo pipefail
WORK=${1:?usage: check_wheels.sh WORKDIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK/dist" "$WORK/venv"
mkdir -p "$WORK/dist"
python -m build --wheel --outdir "$WORK/dist" "$ROOT"
python -m build --wheel --outdir "$WORK/dist" "$ROOT/plugins/llmcore-openai"
python -m build --wheel --outdir "$WORK/dist" "$ROOT/plugins/llmcore-gemini"
ls "$WORK/dist"
python -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
# Dependencies first (from the index), then our wheels strictly from the local folder.
"$PY" -m pip install -q requests pluggy attrs cattrs tenacity jsonschema
# llmcore-gemini alone first (llmcore + that one plugin), against a one-shot loopback answer
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
"$PY" -m pip install -q --no-index --find-links "$WORK/dist" llmcore llmcore-openai
cd "$WORK"   # away from the source tree, so the installed wheels are what gets imported
"$PY" - <<'PY'
import importlib.metadata as md
import llmcore, llmcore_openai, llmcore_gemini
assert "site-packages" in llmcore.__file__, llmcore.__file__
assert md.version("llmcore") == llmcore.__version__
providers = llmcore.supported_providers()
assert {"openai", "openai-compatible", "gemini"} <= set(providers), providers
import pathlib
assert (pathlib.Path(llmcore.__file__).parent / "py.typed").exists()
assert (pathlib.Path(llmcore_openai.__file__).parent / "py.typed").exists()
assert (pathlib.Path(llmcore_gemini.__file__).parent / "py.typed").exists()
for dist in ("llmcore", "llmcore-openai", "llmcore-gemini"):  # each wheel ships the MIT licence in its dist-info
    licences = [f for f in md.files(dist) or () if f.name == "LICENSE" and ".dist-info" in str(f)]
    assert licences and "MIT License" in licences[0].read_text(), (dist, md.files(dist))
from llmcore.testing import register_faux_provider
register_faux_provider(default="wheel install works")
print(llmcore.Client("faux").quick_chat_text("faux-1", "hi"))
print("installed from wheels:", providers)
PY
