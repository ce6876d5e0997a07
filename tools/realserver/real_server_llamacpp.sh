#!/usr/bin/env bash
# Build (once) and start llama.cpp's own `llama-server` on loopback with the tiny scripted GGUF.
# Serves OpenAI /v1/chat/completions (+SSE, tool calls), /v1/responses, /v1/completions,
# Anthropic /v1/messages (+SSE, tool_use), /v1/models, /health.
# llama.cpp source comes from the llama-cpp-python sdist on PyPI (it vendors llama.cpp).
# Idempotent. Usage: real_server_llamacpp.sh [start|stop]   env: ROOT, PORT (default 8014), PYTHON
# Part of llmcore's test tooling; `tox -e realserver` calls it (see README.md beside it).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${ROOT:-/tmp/llmcore-real-server}
PORT=${PORT:-8014}
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}  # only used to build/generate
LCP_VERSION=${LCP_VERSION:-0.3.36}          # llama-cpp-python version whose vendored llama.cpp we build
BIN=$ROOT/bin-$LCP_VERSION/llama-server     # cache this directory in CI (15 MB)
mkdir -p "$ROOT"

if [ "${1:-start}" = stop ]; then
  [ -f "$ROOT/llama.pid" ] && kill "$(cat "$ROOT/llama.pid")" 2>/dev/null || true
  rm -f "$ROOT/llama.pid"; exit 0
fi

# 1. llama-server binary (~11 min on 2 cores, 0 s when cached)
if [ ! -x "$BIN" ]; then
  mkdir -p "$ROOT/src"
  "$PY" -m pip download -q --no-deps --no-binary :all: -d "$ROOT/src" "llama-cpp-python==$LCP_VERSION"
  tar -xzf "$ROOT/src/llama_cpp_python-$LCP_VERSION.tar.gz" -C "$ROOT/src"
  GEN=(); command -v ninja >/dev/null && GEN=(-G Ninja)
  cmake -S "$ROOT/src/llama_cpp_python-$LCP_VERSION/vendor/llama.cpp" -B "$ROOT/build" "${GEN[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_OPENSSL=OFF
  cmake --build "$ROOT/build" --target llama-server -j"$(nproc)"
  mkdir -p "$(dirname "$BIN")" && cp "$ROOT/build/bin/llama-server" "$BIN"
  rm -rf "$ROOT/src" "$ROOT/build"           # 370 MB of sources/objects no longer needed
fi

# 2. tiny scripted model (needs only numpy, tokenizers, gguf: ~150 MB venv, no torch)
if [ ! -f "$ROOT/model/tiny.gguf" ]; then
  if [ ! -x "$ROOT/venv-gen/bin/python" ]; then
    "$PY" -m venv "$ROOT/venv-gen"
    "$ROOT/venv-gen/bin/pip" install -q numpy tokenizers gguf
  fi
  "$ROOT/venv-gen/bin/python" "$HERE/make_tiny_models.py" "$ROOT/model" --no-hf
fi

# 3. server (starts in < 1 s)
if ! curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; then
  nohup "$BIN" -m "$ROOT/model/tiny.gguf" -a tiny-scripted --jinja --host 127.0.0.1 --port "$PORT" \
    -c 4096 -np 1 -t 1 --no-cache-prompt > "$ROOT/llama.log" 2>&1 &
  echo $! > "$ROOT/llama.pid"
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
    kill -0 "$(cat "$ROOT/llama.pid")" 2>/dev/null || { cat "$ROOT/llama.log"; exit 1; }
    sleep 0.1
  done
fi
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null
echo "OPENAI_BASE_URL=http://127.0.0.1:$PORT/v1 ANTHROPIC_BASE_URL=http://127.0.0.1:$PORT MODEL=tiny-scripted"
