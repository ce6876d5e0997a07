"""The plugin contract is documented, complete and cannot drift from the guide.

- every hookspec's docstring documents each argument (``:param x:``) and the result
  (``:return:``);
- single-answer hooks are ``firstresult``; only collection hooks are not;
- ``docs/writing-plugins.md`` shows every hook with its exact signature, taken from
  :func:`inspect.signature`, and documents no hook that does not exist;
- the public API (``llmcore.__all__``, ``llmcore.testing.__all__``) is sorted and resolves.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy
import pytest

import llmcore
import llmcore.testing
from llmcore import _defaults, hookspecs

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "writing-plugins.md"

# Hooks where every plugin is called and contributes (no single answer).
COLLECTION_HOOKS = {"register_providers"}


def _specs() -> dict[str, Callable[..., Any]]:
    marker = f"{hookspecs.PROJECT}_spec"
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, marker)
    }


SPECS = _specs()


def _opts(fn: Callable[..., Any]) -> dict[str, Any]:
    return getattr(fn, f"{hookspecs.PROJECT}_spec")  # type: ignore[no-any-return]


def test_the_contract_has_the_design_hooks() -> None:
    assert {"register_providers", "build_payload", "parse_response", "iter_stream"} <= set(SPECS)
    assert {"authenticate", "parse_error", "build_list_models", "parse_list_models"} <= set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_argument_and_the_result_are_documented(name: str) -> None:
    fn = SPECS[name]
    doc = inspect.getdoc(fn)
    assert doc, f"hookspec {name} has no docstring"
    for arg in inspect.signature(fn).parameters:
        assert re.search(rf":param {arg}:", doc), f"{name}: no ':param {arg}:' in the docstring"
    assert ":return:" in doc, f"{name}: no ':return:' in the docstring"
    documented = set(re.findall(r":param (\w+):", doc))
    assert documented <= set(inspect.signature(fn).parameters), (
        f"{name} documents parameters it does not have: "
        f"{documented - set(inspect.signature(fn).parameters)}"
    )


@pytest.mark.parametrize("name", sorted(SPECS))
def test_single_answer_hooks_are_firstresult(name: str) -> None:
    opts = _opts(SPECS[name])
    doc = " ".join((inspect.getdoc(SPECS[name]) or "").split())
    if name in COLLECTION_HOOKS:
        assert not opts["firstresult"]
        assert "every plugin is called" in doc
    else:
        assert opts["firstresult"], f"{name} produces one answer and must be firstresult"
        assert "first non-None result" in doc, f"{name}: say 'Stops at the first non-None result'"
    assert not opts["historic"]


def test_the_plugin_manager_sees_exactly_these_specs() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    names = {n for n in dir(pm.hook) if not n.startswith("_")}
    assert names == set(SPECS)


def test_hookimpl_marker_is_reexported() -> None:
    assert llmcore.hookimpl is hookspecs.hookimpl
    assert hookspecs.PROJECT == "llmcore"


def test_core_defaults_are_trylast() -> None:
    marker = f"{hookspecs.PROJECT}_impl"
    impls = {
        name: getattr(fn, marker)
        for name, fn in inspect.getmembers(_defaults, inspect.isfunction)
        if hasattr(fn, marker)
    }
    assert impls, "the core registers default hook implementations"
    for name, opts in impls.items():
        assert name in SPECS
        assert opts["trylast"], f"core default {name} must be trylast so plugins override it"


# --- the guide --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(SPECS))
def test_guide_documents_every_hook_with_its_exact_signature(guide: str, name: str) -> None:
    signature = f"{name}{inspect.signature(SPECS[name])}"
    assert f"`{signature}`" in guide, f"docs/writing-plugins.md lacks `{signature}`"


def test_guide_documents_no_unknown_hooks(guide: str) -> None:
    # Hook reference headings look like: ### `build_payload(provider, request, stream)`
    headings = re.findall(r"^#{2,4} `(\w+)(\([^`]*\))`", guide, flags=re.MULTILINE)
    assert {name for name, _ in headings} == set(SPECS)
    for name, signature in headings:
        assert signature == str(inspect.signature(SPECS[name])), name


def test_guide_states_the_return_contract_of_each_hook(guide: str) -> None:
    # Each hook's section (up to the next heading) says when it returns None.
    sections = re.split(r"^#{2,4} ", guide, flags=re.MULTILINE)
    for name in SPECS:
        section = next(s for s in sections if s.startswith(f"`{name}("))
        if name in COLLECTION_HOOKS:
            assert "every plugin" in section.lower(), name
        else:
            assert "None" in section, f"{name}: the guide must say when to return None"


# --- the public API ---------------------------------------------------------------------------


@pytest.mark.parametrize("module", [llmcore, llmcore.testing], ids=lambda m: m.__name__)
def test_public_all_is_sorted_unique_and_resolves(module: types.ModuleType) -> None:
    names = getattr(module, "__all__", None)
    assert isinstance(names, list) and names, f"{module.__name__} has no __all__"
    assert names == sorted(names), f"{module.__name__}.__all__ is not sorted"
    assert len(names) == len(set(names)), f"{module.__name__}.__all__ has duplicates"
    for name in names:
        assert hasattr(module, name), f"{module.__name__}.{name} does not resolve"


def test_every_public_name_of_llmcore_is_exported() -> None:
    stray = {
        name
        for name, value in vars(llmcore).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__
    } - set(llmcore.__all__)
    assert not stray, f"public names missing from llmcore.__all__: {sorted(stray)}"


def test_plugin_authors_need_only_llmcore_and_testing() -> None:
    for name in (
        "hookimpl",
        "Provider",
        "Compat",
        "Capabilities",
        "HttpRequest",
        "HttpResponse",
        "Frame",
        "ChatCompletionRequest",
        "ChatCompletionResponse",
        "ChatCompletionChunk",
        "ChunkChoice",
        "Delta",
        "ToolCallDelta",
        "Choice",
        "Message",
        "Usage",
        "StopReason",
        "map_stop_reason",
        "ModelInfo",
        "LlmError",
        "PluginError",
        "Plugins",
    ):
        assert name in llmcore.__all__, name
    assert "register_faux_provider" in llmcore.testing.__all__
