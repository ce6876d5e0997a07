"""Each plugin declares in its metadata exactly the providers and APIs it serves.

llmcore imports a plugin only when a provider or API its distribution declares (entry-point
groups ``llmcore.providers`` and ``llmcore.apis``) is used, so these declarations must match the
code: ``llmcore.conformance.check_declarations`` compares them with what the plugin registers.
It runs here over the five plugins of this repository, and over made-up distributions that
declare too little, too much, nothing, or the wrong module.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmcore import conformance as kit

DISTRIBUTIONS = [
    "llmcore-openai",
    "llmcore-anthropic",
    "llmcore-gemini",
    "llmcore-ollama",
    "llmcore-zhipu",
]


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_the_declarations_match_the_plugin(distribution: str) -> None:
    kit.check_declarations(distribution)


PLUGIN = """
import llmcore

LLMCORE_APIS = ("made-api",)


@llmcore.hookimpl
def register_providers(register):
    register(llmcore.Provider(name="made", api="made-api", base_url="https://made.invalid"))
    register(llmcore.Provider(name="made-too", api="made-api", base_url="https://m2.invalid"))
"""


class MadeUp:
    """Writes installed-looking distributions into a folder on ``sys.path``."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.tag = uuid.uuid4().hex[:8]
        self.modules: list[str] = []
        monkeypatch.syspath_prepend(str(root))

    def install(self, entry_points: str) -> str:
        """A distribution whose plugin is ``PLUGIN``; ``{module}`` in ``entry_points`` is
        replaced by the plugin module's name. Returns the distribution name."""
        name = f"llmcore-made-{self.tag}-{len(self.modules)}"
        module = name.replace("-", "_")
        (self.root / f"{module}.py").write_text(PLUGIN)
        info = self.root / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        text = "[llmcore]\nmade = {module}\n\n" + textwrap.dedent(entry_points)
        (info / "entry_points.txt").write_text(text.replace("{module}", module))
        self.modules.append(module)
        return name


@pytest.fixture
def made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MadeUp]:
    made = MadeUp(tmp_path, monkeypatch)
    yield made
    for module in made.modules:
        sys.modules.pop(module, None)


def test_exact_declarations_pass(made: MadeUp) -> None:
    kit.check_declarations(
        made.install(
            """
            [llmcore.providers]
            made = {module}
            made-too = {module}

            [llmcore.apis]
            made-api = {module}
            """
        )
    )


def test_a_missing_provider_is_named(made: MadeUp) -> None:
    name = made.install(
        """
        [llmcore.providers]
        made = {module}

        [llmcore.apis]
        made-api = {module}
        """
    )
    with pytest.raises(AssertionError, match=r"registers \['made-too'\].*lacks them"):
        kit.check_declarations(name)


def test_an_extra_api_is_named(made: MadeUp) -> None:
    name = made.install(
        """
        [llmcore.providers]
        made = {module}
        made-too = {module}

        [llmcore.apis]
        made-api = {module}
        other-api = {module}
        """
    )
    with pytest.raises(AssertionError, match=r"declares \['other-api'\] but its plugin does not"):
        kit.check_declarations(name)


def test_declaring_nothing_fails(made: MadeUp) -> None:
    with pytest.raises(AssertionError, match="declares no providers or APIs"):
        kit.check_declarations(made.install(""))


def test_a_declaration_naming_another_module_fails(made: MadeUp) -> None:
    name = made.install(
        """
        [llmcore.providers]
        made = {module}
        made-too = somewhere_else

        [llmcore.apis]
        made-api = {module}
        """
    )
    with pytest.raises(AssertionError, match="'somewhere_else', which is not the plugin"):
        kit.check_declarations(name)


def test_an_unknown_distribution_fails() -> None:
    with pytest.raises(AssertionError, match="is not installed"):
        kit.check_declarations("llmcore-no-such-distribution-xyz")
