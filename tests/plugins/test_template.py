"""plugins/_template stays a working starting point: its package imports and lints as a plugin,
and its own tests (the conformance kit on it) pass when run against it via sys.path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "plugins" / "_template"


def test_the_template_package_imports_and_registers() -> None:
    sys.path.insert(0, str(TEMPLATE))
    try:
        import llmcore_acme

        import llmcore

        plugins = llmcore.Plugins(load_entrypoints=False)
        plugins.register(llmcore_acme, name="acme")
        assert plugins.provider("acme").api == "acme-chat" == llmcore_acme.API
        assert llmcore_acme.LLMCORE_APIS == ("acme-chat",)
    finally:
        sys.path.remove(str(TEMPLATE))
        for name in [m for m in sys.modules if m.split(".")[0] == "llmcore_acme"]:
            del sys.modules[name]


def test_the_template_declares_its_entry_point() -> None:
    meta = (TEMPLATE / "pyproject.toml").read_text(encoding="utf-8")
    assert '[project.entry-points.llmcore]\nacme = "llmcore_acme"\n' in meta
    assert 'packages = ["llmcore_acme"]' in meta
    for name in ("README.md", "tox-env.ini", "llmcore_acme/py.typed"):
        assert (TEMPLATE / name).is_file(), name
    assert len(list((TEMPLATE / "tests" / "cases").glob("*.json"))) >= 2


def test_the_template_tests_pass() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TEMPLATE), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("LLMCORE_LOAD_PLUGINS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--rootdir={TEMPLATE}", "-c", str(TEMPLATE / "pyproject.toml"), str(TEMPLATE / "tests")],
        cwd=TEMPLATE, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
