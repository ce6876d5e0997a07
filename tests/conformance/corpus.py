"""Access to the corpus of recorded provider exchanges in ``tests/corpus/``.

The corpus is part of the repository: ``<repo>/tests/corpus`` holds ``INDEX.json``, a
``README.md`` describing the format, and one ``<provider>/<case>.json`` per exchange, each with
a ``source`` record (repository, path, commit, SPDX licence); ``tests/corpus/NOTICE`` lists the
sources. Nothing outside the repository is read and no environment variable moves it. A missing
corpus is an error, never a skip: the conformance tests are the proof that the parsers read what
providers really send.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

__all__ = [
    "CORPUS",
    "REPO",
    "CorpusMissingError",
    "cases_by_wire",
    "corpus_dir",
    "index",
    "load_case",
]

REPO = Path(__file__).resolve().parents[2]
"""The repository root (two levels above this file's folder)."""


class CorpusMissingError(RuntimeError):
    """``tests/corpus/INDEX.json`` is missing from the repository, or lists no case."""


CORPUS = REPO / "tests" / "corpus"
"""The corpus folder inside the repository."""


def corpus_dir() -> Path:
    """The corpus folder; raises :class:`CorpusMissingError` (loudly) when it is absent."""
    if not (CORPUS / "INDEX.json").is_file():
        raise CorpusMissingError(
            f"the recorded-exchange corpus is missing: no {CORPUS / 'INDEX.json'}. It is part of "
            "the repository (tests/corpus/); restore it from version control, e.g. "
            "`git checkout -- tests/corpus`."
        )
    return CORPUS


@functools.cache
def index() -> tuple[dict[str, Any], ...]:
    """The entries of INDEX.json (one per case: file, provider, wire, status, tags...)."""
    with open(corpus_dir() / "INDEX.json", encoding="utf-8") as fh:
        entries = json.load(fh)
    if not isinstance(entries, list) or not entries:
        raise CorpusMissingError(f"{corpus_dir() / 'INDEX.json'} holds no cases")
    return tuple(entries)


def cases_by_wire(wire: str) -> list[str]:
    """File names (``provider/case.json``) of every case with wire protocol ``wire``, sorted."""
    return sorted(e["file"] for e in index() if e["wire"] == wire)


@functools.cache
def _load(file: str) -> str:
    return (corpus_dir() / file).read_text(encoding="utf-8")


def load_case(file: str) -> dict[str, Any]:
    """One case as a fresh dict (``provider/case.json``, with or without ``.json``)."""
    if not file.endswith(".json"):
        file += ".json"
    case: dict[str, Any] = json.loads(_load(file))
    return case
