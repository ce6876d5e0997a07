"""Access to the shared corpus of recorded provider exchanges (``<shared>/corpus``).

The corpus lives outside the repository: ``$LLMCORE_SHARED/corpus`` when that variable is set,
else ``<repo>/../shared/corpus``. A missing corpus is an error, never a skip: the conformance
tests are the proof that the parsers read what providers really send.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

__all__ = [
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
    """The shared corpus folder or its INDEX.json is not where it should be."""


def corpus_dir() -> Path:
    """The corpus folder; raises :class:`CorpusMissingError` (loudly) when it is absent."""
    shared = os.environ.get("LLMCORE_SHARED")
    base = Path(shared) if shared else REPO.parent / "shared"
    folder = base / "corpus"
    if not (folder / "INDEX.json").is_file():
        how = "LLMCORE_SHARED" if shared else "<repo>/../shared (LLMCORE_SHARED is unset)"
        raise CorpusMissingError(
            f"the recorded-exchange corpus is missing: no {folder / 'INDEX.json'} (from {how}). "
            "Set LLMCORE_SHARED to the folder that holds corpus/INDEX.json."
        )
    return folder


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
