"""Support for tests/test_docs.py: run the ```python blocks of the docs offline.

How a page runs (see ``run_page``):

- every fenced ``python`` / ``py`` block runs, in page order, in one namespace per page;
- a block whose previous non-blank line is ``<!-- skip-test -->`` is not run;
- a hidden ``<!-- test-setup ... -->`` HTML comment (invisible in the built site) holds Python
  that runs at that point of the page, in its own namespace with ``faux`` (a dict of the page's
  :class:`~llmcore.testing.FauxProvider` objects by provider name, created on first use),
  ``FauxReply``, ``FauxError``, ``llmcore`` and ``page`` (the page's namespace). Use it to script
  replies: ``faux["openai"].add_reply(text="...", delay=0.05)``;
- the working directory is a fresh temp dir holding small real media files (``MEDIA_FILES``);
- a fresh ``llmcore.Plugins(load_entrypoints=False)`` is the process default, with faux
  providers under the names in ``FAUX_PROVIDERS`` (default reply ``DEFAULT_REPLY``, streamed
  word by word) plus the ``openai-chat`` API hooks of llmcore-openai (without its providers), so
  ``Client("openai")`` is a faux and ``Client(openai_compatible("http://..."))`` speaks the real
  OpenAI wire format;
- no request reaches the network: ``http://`` and ``https://`` are served in memory. Paths ending
  in ``/chat/completions`` get OpenAI-format answers, everything else the faux format; both take
  their replies from ``faux["openai-compatible"]``;
- every ``XXX_API_KEY`` name written on the page is set to a dummy value; the environment and
  the working directory are restored afterwards;
- a block that raises fails the test with the page name and the block's line number; tracebacks
  point at the real lines of the Markdown file.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import struct
import textwrap
import threading
import traceback
import wave
import zlib
from pathlib import Path
from typing import Any

import attrs

import llmcore
import llmcore.plugins
import llmcore.transport
from llmcore.cancel import CancelHandle
from llmcore.http import HttpRequest
from llmcore.testing import FauxError, FauxProvider, FauxReply, register_faux_provider
from llmcore.transport import MemoryResponse

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"

SKIP_MARKER = "<!-- skip-test -->"
SETUP_OPEN = "<!-- test-setup"
SETUP_CLOSE = "-->"
PYTHON_LANGS = {"python", "py", "python3"}
BLOCK_TIMEOUT = 60.0

DEFAULT_REPLY = "Hello from the faux provider"
FAUX_PROVIDERS = (
    "openai",
    "openai-compatible",
    "anthropic",
    "gemini",
    "groq",
    "openrouter",
    "deepseek",
    "mistral",
    "ollama",
    "together",
    "moonshot",
    "zhipu",
    "faux",
)
FAUX_MODELS = ("gpt-4o", "gpt-4o-mini", "llama3-8b-8192", "openai/gpt-4o-mini")
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
class FauxRegistry(dict[str, FauxProvider]):
    """Faux providers by name; a missing name is registered on first use."""

    def __init__(self, plugins: llmcore.Plugins) -> None:
        super().__init__()
        self.plugins = plugins

    def __missing__(self, name: str) -> FauxProvider:
        faux = register_faux_provider(
            name, models=FAUX_MODELS, plugins=self.plugins, default=FauxReply(text=DEFAULT_REPLY)
        )
        self[name] = faux
        return faux


class _OpenAIApi:
    """llmcore-openai's ``openai-chat`` hooks without its providers (faux ones take the names)."""

    def __init__(self, module: Any) -> None:
        self.LLMCORE_APIS = module.LLMCORE_APIS
        for name in dir(module):
            impl = getattr(module, name)
            if hasattr(impl, "llmcore_impl") and name != "register_providers":
                setattr(self, name, impl)


class FakeHttp:
    """In-memory answers for every http(s) URL, scripted by one faux provider: chat
    completions in the OpenAI wire format, everything else in the faux format."""

    def __init__(self, faux: FauxProvider) -> None:
        self.faux = faux

    def __call__(self, request: HttpRequest, cancel: CancelHandle | None) -> MemoryResponse:
        path = request.url.split("?", 1)[0].rstrip("/")
        shape = "openai" if path.endswith("/chat/completions") else "llmcore"
        return self.faux._serve(request, cancel, shape)


def install_offline_world(monkeypatch: Any, tmp_path: Path, page_text: str) -> FauxRegistry:
    """Install the plugins, faux providers, fake HTTP, env and cwd a page runs with."""
    plugins = llmcore.Plugins(load_entrypoints=False)
    monkeypatch.setattr(llmcore.plugins, "_default", plugins)
    monkeypatch.setattr(llmcore.transport, "_memory_schemes",
                        dict(llmcore.transport._memory_schemes))
    faux = FauxRegistry(plugins)
    for name in FAUX_PROVIDERS:
        faux[name]  # registers it
    try:
        import llmcore_openai
    except ImportError:  # pragma: no cover - the plugin is installed in every tox env
        pass
    else:
        plugins.register(_OpenAIApi(llmcore_openai), name="docs.openai-chat")
    fake = FakeHttp(faux["openai-compatible"])
    llmcore.transport.register_memory_scheme("http", fake)
    llmcore.transport.register_memory_scheme("https", fake)
    for key in sorted(set(_KEY_NAME.findall(page_text))):
        monkeypatch.setenv(key, DUMMY_KEY)
    monkeypatch.delenv("LLMCORE_LOAD_PLUGINS", raising=False)
    write_media(tmp_path)
    monkeypatch.chdir(tmp_path)
    return faux


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


def run_page(path: Path, faux: FauxRegistry, *, timeout: float = BLOCK_TIMEOUT) -> int:
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
                scope = {"faux": faux, "FauxReply": FauxReply, "FauxError": FauxError,
                         "llmcore": llmcore, "page": namespace, "__name__": "__docs_setup__"}
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
