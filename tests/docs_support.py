"""Support for tests/test_docs.py: run the ```python blocks of the docs offline.

How a page runs (see ``run_page``):

- every fenced ``python`` / ``py`` block runs, in page order, in one namespace per page;
- a block whose previous non-blank line is ``<!-- skip-test -->`` is not run;
- a hidden ``<!-- test-setup ... -->`` HTML comment (invisible in the built site) holds Python
  that runs at that point of the page, in its own namespace with ``server`` (the script of the
  fake HTTP server, a :class:`~llmcore.testing.FauxProvider` that is *not* registered as a
  provider), ``faux`` (the faux providers the page registered itself with
  ``register_faux_provider``, by name), ``FauxReply``, ``FauxError``, ``llmcore`` and ``page``
  (the page's namespace). Use it to script replies: ``server.add_reply(text="...", delay=0.05)``;
- the working directory is a fresh temp dir holding small real media files (``MEDIA_FILES``);
- a fresh ``llmcore.Plugins(load_entrypoints=False)`` is the process default, holding exactly
  the plugins this repository ships (the ``llmcore`` entry points of ``plugins/*``, see
  ``repository_plugins``): ``Client("openai")`` and ``Client(openai_compatible(url))`` are
  llmcore-openai's real providers, with its real payload building and parsing. The harness
  registers no provider of its own, and none under a vendor's name (``VENDOR_NAMES``): a name a
  page uses must come from an installed plugin of this repository or be defined by the page;
- no request reaches the network: ``http://`` and ``https://`` are served in memory by
  ``FakeHttp`` (it fakes the server, not the plugin). Paths ending in ``/chat/completions`` get
  OpenAI-format answers, everything else llmcore's own JSON; both take their replies from
  ``server`` (default reply ``DEFAULT_REPLY``, streamed word by word);
- every ``XXX_API_KEY`` name written on the page, and every key variable of the registered
  providers, is set to a dummy value, their base-URL variables are unset; the environment and
  the working directory are restored afterwards;
- a block that raises fails the test with the page name and the block's line number; tracebacks
  point at the real lines of the Markdown file.
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import signal
import struct
import textwrap
import threading
import traceback
import wave
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

import llmcore
import llmcore.plugins
import llmcore.transport
from llmcore.cancel import CancelHandle
from llmcore.http import HttpRequest
from llmcore.testing import FauxError, FauxProvider, FauxReply
from llmcore.transport import MemoryResponse

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PLUGINS = ROOT / "plugins"

SKIP_MARKER = "<!-- skip-test -->"
SETUP_OPEN = "<!-- test-setup"
SETUP_CLOSE = "-->"
PYTHON_LANGS = {"python", "py", "python3"}
BLOCK_TIMEOUT = 60.0

DEFAULT_REPLY = "Hello from the test server"
SERVER_SCRIPT = "docs-server"
FAUX_MODELS = ("gpt-4o", "gpt-4o-mini", "llama3-8b-8192", "openai/gpt-4o-mini")
# Vendors this repository ships no plugin for: the harness registers nothing under their names,
# and a page may only use them for a provider it builds itself (e.g. openai_compatible(...)).
VENDOR_NAMES = (
    "anthropic",
    "claude",
    "cohere",
    "deepseek",
    "gemini",
    "google",
    "groq",
    "mistral",
    "moonshot",
    "ollama",
    "openrouter",
    "together",
    "xai",
    "zhipu",
)
DUMMY_KEY = "sk-docs-test-0000000000000000"
_KEY_NAME = re.compile(r"\b[A-Z][A-Z0-9_]*_API_KEY\b")


# --- media files ---------------------------------------------------------------------------------
def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)  # 2x2, 8-bit RGB
    pixels = b"".join(b"\x00" + b"\xff\x80\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b""))


# A 1x1 baseline JPEG (JFIF).
_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////"
    "////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgB"
    "AQABPxA="
)

_MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 413
_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def _wav(path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 800)  # 0.1 s of silence


MEDIA_FILES = ("image.png", "cat.png", "photo.jpg", "image.jpg", "audio.wav", "audio.mp3",
               "document.pdf")


def write_media(directory: Path) -> None:
    """Write the small media files the docs' examples read."""
    png = _png()
    (directory / "image.png").write_bytes(png)
    (directory / "cat.png").write_bytes(png)
    (directory / "photo.jpg").write_bytes(_JPEG)
    (directory / "image.jpg").write_bytes(_JPEG)
    _wav(directory / "audio.wav")
    (directory / "audio.mp3").write_bytes(_MP3)
    (directory / "document.pdf").write_bytes(_PDF)


# --- Markdown ------------------------------------------------------------------------------------
@attrs.frozen
class Block:
    """A runnable piece of a page. ``line`` is the 1-based line of its first code line."""

    line: int
    code: str
    kind: str = "python"  # or "setup"
    skipped: bool = False


_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def _lang(info: str) -> str:
    words = info.strip().strip("{}").split()
    return words[0].lstrip(".").lower() if words else ""


def _dedent(lines: list[str], indent: str) -> str:
    out = [ln[len(indent):] if ln.startswith(indent) else ln.lstrip() for ln in lines]
    return "\n".join(out) + "\n"


def parse_markdown(text: str) -> list[Block]:
    """The python blocks and hidden test-setup comments of a page, in order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    previous = ""  # last non-blank line outside code
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            mark, indent = fence.group("fence"), fence.group("indent")
            lang = _lang(fence.group("info"))
            body: list[str] = []
            j = i + 1
            while j < len(lines):
                stripped = lines[j].strip()
                if stripped.startswith(mark[0] * len(mark)) and not stripped.strip(mark[0]):
                    break
                body.append(lines[j])
                j += 1
            if lang in PYTHON_LANGS:
                blocks.append(Block(i + 2, _dedent(body, indent), "python",
                                    previous.strip() == SKIP_MARKER))
            previous = lines[j] if j < len(lines) else ""
            i = j + 1
            continue
        if line.strip().startswith(SETUP_OPEN):
            first = line.strip()[len(SETUP_OPEN):]
            body = [first] if first.strip() else []
            start = i + 2 if not first.strip() else i + 1
            j = i + 1
            while j < len(lines) and lines[j].strip() != SETUP_CLOSE:
                body.append(lines[j])
                j += 1
            blocks.append(Block(start, textwrap.dedent("\n".join(body)) + "\n", "setup"))
            previous = ""
            i = j + 1
            continue
        if line.strip():
            previous = line
        i += 1
    return blocks


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    found = sorted(DOCS.rglob("*.md")) if DOCS.is_dir() else []
    return ([README] if README.exists() else []) + found


def page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- the offline world ---------------------------------------------------------------------------
def _llmcore_entry_points(pyproject: Path) -> dict[str, str]:
    """The ``[project.entry-points.llmcore]`` table of a pyproject.toml (Python 3.10 has no
    tomllib, and the table is plain ``name = "module:attr"`` lines)."""
    table: dict[str, str] = {}
    inside = False
    for raw in pyproject.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("["):
            inside = line.replace(" ", "") == "[project.entry-points.llmcore]"
            continue
        if inside and "=" in line and not line.startswith("#"):
            name, _, target = line.partition("=")
            table[name.strip().strip('"')] = target.strip().strip('"').strip("'")
    return table


def repository_plugins() -> list[tuple[str, object]]:
    """``(entry point name, plugin object)`` for every plugin distribution in ``plugins/``.

    Read from each distribution's ``[project.entry-points.llmcore]``, so the docs run against
    exactly the plugins this repository ships (and nothing else installed beside them).
    """
    found: list[tuple[str, object]] = []
    for pyproject in sorted(PLUGINS.glob("*/pyproject.toml")):
        if pyproject.parent.name.startswith("_"):  # plugins/_template is not a shipped plugin
            continue
        for name, target in _llmcore_entry_points(pyproject).items():
            module_name, _, attr = str(target).partition(":")
            plugin: object = importlib.import_module(module_name.strip())
            for part in filter(None, attr.strip().split(".")):
                plugin = getattr(plugin, part)
            found.append((name, plugin))
    return found


class FauxProviders(Mapping[str, FauxProvider]):
    """The faux providers (:mod:`llmcore.testing`) a page registered itself, by provider name.

    Read-only: the harness creates none. ``faux["flaky"]`` after the page ran
    ``register_faux_provider("flaky")`` is that provider; any other name is a ``KeyError``.
    """

    def __init__(self, plugins: llmcore.Plugins) -> None:
        self.plugins = plugins

    def _all(self) -> dict[str, FauxProvider]:
        return {
            p.name: p for p in self.plugins.pm.get_plugins() if isinstance(p, FauxProvider)
        }

    def __getitem__(self, name: str) -> FauxProvider:
        try:
            return self._all()[name]
        except KeyError:
            raise KeyError(
                f"the page registered no faux provider named {name!r}; script the fake HTTP "
                "server (which answers Client('openai') and openai_compatible providers) with "
                "server.add_reply(...)"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


class FakeHttp:
    """In-memory answers for every http(s) URL, scripted by one faux provider (``server``):
    chat completions in the OpenAI wire format, everything else in llmcore's own JSON.

    It stands in for the *server*: the requests are built, sent and parsed by the real plugins.
    """

    def __init__(self, script: FauxProvider) -> None:
        self.script = script
        self.received: list[HttpRequest] = []  # every request, as the transport sent it

    def __call__(self, request: HttpRequest, cancel: CancelHandle | None) -> MemoryResponse:
        self.received.append(request)
        path = request.url.split("?", 1)[0].rstrip("/")
        shape = "openai" if path.endswith("/chat/completions") else "llmcore"
        return self.script._serve(request, cancel, shape)


@attrs.frozen
class OfflineWorld:
    """What a page runs with: its plugin registry, the fake server's script, its faux providers."""

    plugins: llmcore.Plugins
    server: FauxProvider
    faux: FauxProviders
    http: FakeHttp


def install_offline_world(monkeypatch: Any, tmp_path: Path, page_text: str) -> OfflineWorld:
    """Install the plugins, fake HTTP server, env and cwd a page runs with."""
    plugins = llmcore.Plugins(load_entrypoints=False)
    monkeypatch.setattr(llmcore.plugins, "_default", plugins)
    monkeypatch.setattr(llmcore.transport, "_memory_schemes",
                        dict(llmcore.transport._memory_schemes))
    for name, plugin in repository_plugins():
        plugins.register(plugin, name=name)
    # The script of the fake server is a faux provider that is never registered as a provider:
    # it only decides what the in-memory http(s) endpoint answers.
    server = FauxProvider(SERVER_SCRIPT, FAUX_MODELS, default=FauxReply(text=DEFAULT_REPLY))
    fake = FakeHttp(server)
    llmcore.transport.register_memory_scheme("http", fake)
    llmcore.transport.register_memory_scheme("https", fake)
    keys = set(_KEY_NAME.findall(page_text))
    for provider in plugins.providers().values():
        keys.update(provider.api_key_env)  # the user has their keys set
        for variable in provider.base_url_env:  # ... and no base-URL override from this host
            monkeypatch.delenv(variable, raising=False)
    for key in sorted(keys):
        monkeypatch.setenv(key, DUMMY_KEY)
    monkeypatch.delenv("LLMCORE_LOAD_PLUGINS", raising=False)
    write_media(tmp_path)
    monkeypatch.chdir(tmp_path)
    return OfflineWorld(plugins, server, FauxProviders(plugins), fake)


# --- provider names a page uses ----------------------------------------------------------------
_STR = r"""(?P<q>["'])(?P<name>[^"'\n]+)(?P=q)"""
_USED = (
    re.compile(r"\bClient\(\s*" + _STR),  # Client("name"), llmcore.Client("name", ...)
    re.compile(r"\.provider\(\s*" + _STR),  # plugins.provider("name")
)
_FAUX = re.compile(r"\bregister_faux_provider\(\s*" + _STR)
_RECORDS = (  # provider records; they are only reachable by name once a plugin registers them
    re.compile(r"\bProvider\(\s*" + _STR),  # Provider("name", api, base_url)
    re.compile(r"\bProvider\([^)]*?\bname\s*=\s*" + _STR, re.S),
    re.compile(r"\bopenai_compatible\([^)]*?\bname\s*=\s*" + _STR, re.S),
    re.compile(r"\.evolve\([^)]*?\bname\s*=\s*" + _STR, re.S),
)
_REGISTERS_PROVIDERS = re.compile(r"\bdef register_providers\(")


def _code(text: str) -> str:
    return "\n".join(b.code for b in parse_markdown(text))


def provider_names_used(text: str) -> set[str]:
    """The provider names a page's code asks for by name (``Client("name")``, ...)."""
    code = _code(text)
    return {m.group("name") for pattern in _USED for m in pattern.finditer(code)}


def provider_names_defined(text: str) -> set[str]:
    """The provider names a page's code registers itself: the faux providers it registers, and
    the provider records it builds when it also defines a plugin (``register_providers``) that
    can register them. A provider record alone is no registered provider: ``Client(record)``
    works, ``Client("its name")`` does not."""
    code = _code(text)
    names = {m.group("name") for m in _FAUX.finditer(code)}
    if re.search(r"\bregister_faux_provider\(\s*(\)|(plugins|models|default)\s*=)", code):
        names.add("faux")  # register_faux_provider() registers "faux"
    if _REGISTERS_PROVIDERS.search(code):
        names |= {m.group("name") for pattern in _RECORDS for m in pattern.finditer(code)}
    return names


def shipped_provider_names() -> set[str]:
    """The providers registered by the plugins this repository ships."""
    plugins = llmcore.Plugins(load_entrypoints=False)
    for name, plugin in repository_plugins():
        plugins.register(plugin, name=name)
    return set(plugins.providers())


# --- running -------------------------------------------------------------------------------------
class BlockFailed(Exception):
    """A block raised; the message names the page and line."""


class _Timeout(BaseException):
    pass


def _run_with_timeout(code: Any, namespace: dict[str, Any], seconds: float) -> None:
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        exec(code, namespace)
        return

    def expire(_signum: int, _frame: Any) -> None:
        raise _Timeout(f"the block ran longer than {seconds:.0f}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        exec(code, namespace)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_page(path: Path, world: OfflineWorld, *, timeout: float = BLOCK_TIMEOUT) -> int:
    """Run a page's blocks in order; return how many python blocks ran."""
    text = path.read_text(encoding="utf-8")
    label = page_id(path) if path.is_relative_to(ROOT) else str(path)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    ran = 0
    saved_env = dict(os.environ)
    try:
        for block in parse_markdown(text):
            if block.skipped:
                continue
            source = "\n" * (block.line - 1) + block.code
            if block.kind == "setup":
                scope = {"server": world.server, "faux": world.faux, "FauxReply": FauxReply,
                         "FauxError": FauxError, "llmcore": llmcore, "page": namespace,
                         "__name__": "__docs_setup__"}
            else:
                scope = namespace
                ran += 1
            what = "test-setup comment" if block.kind == "setup" else "python block"
            try:
                code = compile(source, str(path), "exec")
                _run_with_timeout(code, scope, timeout)
            except (Exception, _Timeout) as exc:
                trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                raise BlockFailed(
                    f"{label}: the {what} at line {block.line} raised "
                    f"{type(exc).__name__}: {exc}\n\n{trace}"
                ) from exc
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
    return ran


def nav_pages(mkdocs_yml: Path) -> list[str]:
    """The ``.md`` files named in the ``nav`` of mkdocs.yml (no YAML library needed)."""
    found: list[str] = []
    in_nav = False
    for line in mkdocs_yml.read_text(encoding="utf-8").splitlines():
        if re.match(r"^nav\s*:", line):
            in_nav = True
            continue
        if in_nav and line and not line[0].isspace() and not line.startswith("-"):
            in_nav = False
        if in_nav:
            found += re.findall(r"([^\s:'\"]+\.md)\b", line)
    return found
