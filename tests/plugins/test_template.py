"""plugins/_template stays a working starting point: its package imports and lints as a plugin,
and its own tests (the conformance kit on it) pass when run against it via sys.path."""

from __future__ import annotations

import os
import re
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


def entry_points_txt(pyproject: str) -> str:
    """The entry_points.txt an install of ``pyproject`` writes (its ``[project.entry-points.*]``
    tables are plain ``name = "module"`` lines; Python 3.10 has no tomllib)."""
    out: list[str] = []
    group = None
    for raw in pyproject.splitlines():
        line = raw.strip()
        if line.startswith("["):
            found = re.fullmatch(r'\[project\.entry-points\.("?)([\w.]+)\1\]', line)
            group = found[2] if found else None
            if group:
                out.append(f"[{group}]")
        elif group and "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            out.append(f"{name.strip()} = {value.strip().strip(chr(34))}")
    return "\n".join(out) + "\n"


def test_the_template_declares_what_it_serves() -> None:
    text = entry_points_txt((TEMPLATE / "pyproject.toml").read_text(encoding="utf-8"))
    assert text == (
        "[llmcore]\nacme = llmcore_acme\n[llmcore.providers]\nacme = llmcore_acme\n"
        "[llmcore.apis]\nacme-chat = llmcore_acme\n"
    )


def test_the_template_tests_pass(tmp_path: Path) -> None:
    # The template's tests check its installed metadata (kit.check_declarations): install
    # the metadata alone, as pip would write it, next to the package on the path.
    info = tmp_path / "llmcore_acme-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: llmcore-acme\nVersion: 0.1.0\n")
    pyproject = (TEMPLATE / "pyproject.toml").read_text(encoding="utf-8")
    (info / "entry_points.txt").write_text(entry_points_txt(pyproject))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(TEMPLATE), str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("LLMCORE_LOAD_PLUGINS", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--rootdir={TEMPLATE}", "-c", str(TEMPLATE / "pyproject.toml"), str(TEMPLATE / "tests")],
        cwd=TEMPLATE, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
