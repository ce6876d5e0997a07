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
