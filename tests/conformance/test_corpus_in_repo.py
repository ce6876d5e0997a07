"""The corpus is part of the repository, complete, and every case is credited in its NOTICE.

A fresh clone must run every test with nothing beside it: the corpus is read from
``tests/corpus/`` only (no environment variable, no folder outside the repository), a missing
corpus is an error (not a skip), and no test, tox env or CI script points outside the clone.
"""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path
from typing import Any

import corpus
import pytest

IN_REPO = corpus.REPO / "tests" / "corpus"
REQUIRED_SOURCE_FIELDS = ("repo", "path", "interaction_index", "commit", "license")
LICENCE_TEXTS = {"MIT", "Apache-2.0"}


def _case_files() -> list[str]:
    files = sorted(p.relative_to(IN_REPO).as_posix() for p in IN_REPO.glob("*/*.json"))
    assert files, f"no cases under {IN_REPO}"
    return files


def _source(file: str) -> dict[str, Any]:
    source: dict[str, Any] = json.loads((IN_REPO / file).read_text(encoding="utf-8"))["source"]
    return source


def test_corpus_is_inside_the_repository_whatever_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a decoy corpus beside the clone, named by the variable the old layout read
    decoy = tmp_path / "corpus"
    decoy.mkdir()
    (decoy / "INDEX.json").write_text("[]", encoding="utf-8")
    monkeypatch.setenv("LLMCORE_SHARED", str(tmp_path))
    folder = corpus.corpus_dir()
    assert folder == IN_REPO
    assert folder.resolve().is_relative_to(corpus.REPO.resolve())


def test_a_missing_corpus_is_an_error_naming_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(corpus, "CORPUS", tmp_path / "tests" / "corpus")
    with pytest.raises(corpus.CorpusMissingError, match=r"tests[/\\]corpus[/\\]INDEX\.json"):
        corpus.corpus_dir()


def test_index_lists_exactly_the_case_files() -> None:
    entries = json.loads((IN_REPO / "INDEX.json").read_text(encoding="utf-8"))
    assert sorted(e["file"] for e in entries) == _case_files()
    assert entries == list(corpus.index())


def test_every_case_keeps_its_source_and_licence_record() -> None:
    for file in _case_files():
        source = _source(file)
        missing = [k for k in REQUIRED_SOURCE_FIELDS if source.get(k) in (None, "")]
        assert not missing, f"{file}: source lacks {missing}"
        assert re.fullmatch(r"[0-9a-f]{40}", source["commit"]), file
        assert source["license"] in LICENCE_TEXTS, f"{file}: licence {source['license']!r}"


def test_notice_credits_every_source_repository_with_its_licence_and_count() -> None:
    notice = (IN_REPO / "NOTICE").read_text(encoding="utf-8")
    per_repo: dict[tuple[str, str, str], int] = collections.Counter()
    for file in _case_files():
        s = _source(file)
        per_repo[(s["repo"], s["license"], s["commit"])] += 1
    # one block per repository: its URL, its licence, the commit read and the number of cases
    blocks = {b.split("\n", 1)[0]: b for b in notice.split("\n\n") if b.startswith("https://")}
    assert set(blocks) == {f"https://github.com/{repo}" for repo, _, _ in per_repo}
    for (repo, licence, commit), count in per_repo.items():
        block = blocks[f"https://github.com/{repo}"]
        assert f"licence: {licence} " in block, repo
        assert f"commit:  {commit}" in block, repo
        assert f"taken:   {count} cases" in block, repo
    assert f"Total: {sum(per_repo.values())} cases from {len(per_repo)} repositories." in notice
    assert "third-party recordings" in notice
    for licence_file in re.findall(r"\(text: (LICENSES/[^)]+)\)", notice):
        assert (IN_REPO / licence_file).is_file(), licence_file


# --- nothing outside the clone ------------------------------------------------------------------
OUTSIDE = re.compile(r"LLMCORE_SHARED|\.\./shared|toxinidir\}/\.\.")


def _tracked_config_and_test_files() -> list[Path]:
    repo = corpus.REPO
    files = [repo / "tox.ini", repo / "setup.cfg", repo / "pyproject.toml", repo / "mkdocs.yml"]
    files += [p for p in (repo / ".ci").glob("*") if p.is_file()]
    for folder in ("tests", "tools", "bench", "docs", "examples"):
        for pattern in ("*.py", "*.sh", "*.ini", "*.toml", "*.md", "*.cfg", "*.yml"):
            files += (repo / folder).rglob(pattern)
    files.append(repo / "README.md")
    here = Path(__file__).resolve()
    return [f for f in files if f.resolve() != here and "corpus" not in f.parts]


def test_no_test_tox_env_or_ci_script_points_outside_the_repository() -> None:
    offenders = [
        f"{path.relative_to(corpus.REPO)}:{n}: {line.strip()}"
        for path in _tracked_config_and_test_files()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not offenders, "\n".join(offenders)
