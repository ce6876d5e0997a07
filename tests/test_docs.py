"""Every ```python block of README.md and docs/**/*.md runs, offline, in the test suite.

Writing runnable examples (details in tests/docs_support.py):

- write them as user code, with the providers this repository ships: ``Client("openai")`` and
  ``Client(openai_compatible("http://localhost:8080/v1"))`` are llmcore-openai's real providers
  talking to an in-memory fake server that answers "Hello from the test server" (streamed word
  by word) unless scripted otherwise; the faux provider of ``llmcore.testing`` on pages about
  testing; providers the page defines itself. No page asks for a provider by a name that no
  plugin of this repository registers (``Client("anthropic")`` would fail for a user, so it
  fails here too);
- blocks of one page share one namespace and run in order, in a temp directory holding
  image.png, cat.png, photo.jpg, image.jpg, audio.wav, audio.mp3 and document.pdf;
- script special replies in a hidden comment just before the block::

      <!-- test-setup
      server.add_reply(text="a slow answer " * 20, delay=0.05)
      -->

- put ``<!-- skip-test -->`` on the line before a block that genuinely cannot run.
"""

from __future__ import annotations

import re
from pathlib import Path

import docs_support
import pytest
from docs_support import (
    ROOT,
    VENDOR_NAMES,
    BlockFailed,
    install_offline_world,
    nav_pages,
    page_id,
    pages,
    parse_markdown,
    provider_names_defined,
    provider_names_used,
    repository_plugins,
    run_page,
    shipped_provider_names,
)

import llmcore


@pytest.mark.parametrize("page", pages(), ids=page_id)
def test_page_examples_run(page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    world = install_offline_world(monkeypatch, tmp_path, page.read_text(encoding="utf-8"))
    try:
        run_page(page, world)
    except BlockFailed as exc:
        pytest.fail(str(exc), pytrace=False)


# --- docs claim only what exists -----------------------------------------------------------------
@pytest.mark.parametrize("page", pages(), ids=page_id)
def test_page_uses_only_providers_that_exist(page: Path) -> None:
    """Every provider a page asks for by name is registered by a plugin of this repository or
    defined by the page itself: no example works only because the harness fakes a vendor."""
    text = page.read_text(encoding="utf-8")
    unknown = provider_names_used(text) - shipped_provider_names() - provider_names_defined(text)
    assert not unknown, (
        f"{page_id(page)} asks for providers that no plugin of this repository registers and "
        f"the page does not define: {sorted(unknown)}"
    )


def _prose(text: str) -> list[tuple[int, str]]:
    """The numbered lines of a page outside fenced code blocks."""
    out, fence = [], ""
    for number, line in enumerate(text.splitlines(), 1):
        mark = re.match(r"\s*(`{3,}|~{3,})", line)
        if mark and (not fence or mark.group(1).startswith(fence)):
            fence = "" if fence else mark.group(1)
            continue
        if not fence:
            out.append((number, line))
    return out


def test_pages_describe_no_plugin_that_does_not_exist() -> None:
    """No page's prose presents a vendor plugin this repository does not ship as available
    (a roadmap line saying "planned" may name one), and nothing is installed from a registry
    under an llmcore- name: the plugins are installed from ./plugins/."""
    shipped = {p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml")}
    vendor = re.compile(r"\bllmcore-(?:" + "|".join(VENDOR_NAMES) + r")\b")
    found = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for number, line in _prose(text):
            for name in vendor.findall(line):
                if name not in shipped and "planned" not in line.lower():
                    found.append(f"{page_id(page)}:{number}: {name}")
        for number, line in enumerate(text.splitlines(), 1):
            if re.search(r"pip install\s+(?:-\S+\s+)*llmcore-", line):
                found.append(f"{page_id(page)}:{number}: {line.strip()}")
    assert not found, "pages describe plugins this repository does not ship:\n" + "\n".join(found)


def test_the_harness_registers_no_provider_of_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import llmcore_openai

    world = install_offline_world(monkeypatch, tmp_path, "")
    providers = world.plugins.providers()
    shipped = shipped_provider_names()
    assert set(providers) == shipped and {"openai", "openai-compatible"} <= shipped
    absent = set(VENDOR_NAMES) - shipped  # vendors this repository has no plugin for
    assert absent and not set(providers) & absent
    # the real llmcore-openai providers and hooks, not stand-ins
    assert providers["openai"] is llmcore_openai.OPENAI
    assert providers["openai-compatible"] is llmcore_openai.OPENAI_COMPATIBLE
    assert world.plugins.pm.get_plugin("openai") is llmcore_openai
    assert "openai" in [name for name, _ in repository_plugins()]
    assert dict(world.faux) == {}
    with pytest.raises(KeyError, match=r"server\.add_reply"):
        world.faux["anthropic"]
    for vendor in sorted(absent):
        with pytest.raises(llmcore.ConfigurationError, match="unknown provider"):
            llmcore.Client(vendor)


def test_client_openai_goes_through_the_real_plugin(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    world = install_offline_world(monkeypatch, tmp_path, "")
    world.server.add_reply(text="hi there", usage=llmcore.Usage(3, 2, 5))
    client = llmcore.Client("openai")
    request = llmcore.ChatCompletionRequest.new("gpt-4o", [llmcore.Message.user("hi")])
    response = client.chat_completion(request.with_options(max_tokens=7))
    assert response.text() == "hi there" and response.usage == llmcore.Usage(3, 2, 5)
    (sent,) = world.http.received
    assert sent.url == "https://api.openai.com/v1/chat/completions"
    assert sent.header("authorization") == f"Bearer {docs_support.DUMMY_KEY}"
    # llmcore-openai's own payload: OpenAI's max_completion_tokens, not llmcore's JSON
    assert world.server.requests[0]["max_completion_tokens"] == 7
    assert world.server.requests[0]["messages"] == [{"role": "user", "content": "hi"}]


def test_names_used_and_defined_are_found() -> None:
    text = """
```python
a = Client("openai")
b = llmcore.Client('flaky', options=o)
c = plugins.provider("acme")
register_faux_provider("flaky")
register_faux_provider(plugins=p)
Provider("mine", "openai-chat", "https://x.example")
openai_compatible("http://h/v1", name="groq", api_key_env="GROQ_API_KEY")
```
"""
    assert provider_names_used(text) == {"openai", "flaky", "acme"}
    # provider records are not registered providers...
    assert provider_names_defined(text) == {"flaky", "faux"}
    # ... unless the page defines a plugin that registers them
    plugin = "```python\n@llmcore.hookimpl\ndef register_providers(register):\n    pass\n```\n"
    assert provider_names_defined(text + plugin) == {"flaky", "faux", "mine", "groq"}


def test_every_nav_page_exists() -> None:
    listed = nav_pages(ROOT / "mkdocs.yml")
    assert listed, "mkdocs.yml has no nav pages"
    missing = [p for p in listed if not (ROOT / "docs" / p).is_file()]
    assert not missing, f"pages listed in mkdocs.yml nav but missing from docs/: {missing}"


# --- the harness itself --------------------------------------------------------------------------
SAMPLE = """\
# Title

```python
x = 1
```

<!-- skip-test -->
```python
raise SystemExit("must not run")
```

<!-- test-setup
server.add_reply(text="scripted")
-->

- a list item:

    ```py
    y = x + 1
    ```

````markdown
```python
not python: inside another fence
```
````

```bash
echo not python
```
"""


def test_parser_finds_blocks_lines_skips_and_setup() -> None:
    blocks = parse_markdown(SAMPLE)
    assert [(b.kind, b.line, b.skipped) for b in blocks] == [
        ("python", 4, False),
        ("python", 9, True),
        ("setup", 13, False),
        ("python", 19, False),
    ]
    assert blocks[3].code == "y = x + 1\n"


def test_pages_run_offline_with_scripted_replies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    page = tmp_path / "page.md"
    page.write_text(SAMPLE + """
<!-- test-setup
server.add_reply(text="scripted reply")
-->

```python
import os
from llmcore import ChatCompletionRequest, Client, Content, Message
from llmcore_openai import openai_compatible

assert y == 2
openai = Client("openai")
assert openai.quick_chat_text("gpt-4o", "hi") == "scripted"
assert openai.quick_chat_text("gpt-4o", "hi") == "scripted reply"
assert openai.quick_chat_text("gpt-4o", "hi") == "Hello from the test server"
local = Client(openai_compatible("http://localhost:8080/v1"))
assert local.quick_chat_text("m", "hi") == "Hello from the test server"
request = ChatCompletionRequest.new("m", [Message.user("x")])
pieces = [c.text() for c in local.chat_completion_stream(request) if c.text()]
assert pieces == ["Hello ", "from ", "the ", "test ", "server"]
assert [str(m) for m in local.list_models()][0] == "gpt-4o"
assert os.environ["OPENAI_API_KEY"].startswith("sk-docs")
Content.from_image_file("photo.jpg") + Content.from_audio_file("audio.wav")
```
""")
    work = tmp_path / "work"
    work.mkdir()
    world = install_offline_world(monkeypatch, work, page.read_text())
    assert run_page(page, world) == 3
    sent = world.server.requests
    assert [r["model"] for r in sent] == ["gpt-4o"] * 3 + ["m"] * 2
    assert sent[0]["messages"] == [{"role": "user", "content": "hi"}]  # OpenAI wire format


def test_a_failing_block_names_page_and_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    page = tmp_path / "broken.md"
    page.write_text("# Broken\n\n```python\nok = 1\n```\n\n```python\n\n1 / 0\n```\n")
    world = install_offline_world(monkeypatch, tmp_path, "")
    with pytest.raises(BlockFailed) as info:
        run_page(page, world)
    message = str(info.value)
    assert "broken.md: the python block at line 8 raised ZeroDivisionError" in message
    assert f'"{page}", line 9' in message


def test_a_hanging_block_times_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    page = tmp_path / "slow.md"
    page.write_text("```python\nimport time\ntime.sleep(5)\n```\n")
    world = install_offline_world(monkeypatch, tmp_path, "")
    with pytest.raises(BlockFailed, match=re.escape("slow.md: the python block at line 2")):
        run_page(page, world, timeout=0.2)


def test_media_files_are_real(tmp_path: Path) -> None:
    from llmcore import Content

    docs_support.write_media(tmp_path)
    for name in docs_support.MEDIA_FILES:
        assert (tmp_path / name).is_file()
    assert Content.from_image_file(tmp_path / "image.png").images()[0].mime_type == "image/png"
    assert Content.from_image_file(tmp_path / "photo.jpg").images()[0].mime_type == "image/jpeg"
    audio = Content.from_audio_file(tmp_path / "audio.wav").parts[0]
    assert audio.mime_type == "audio/wav"
    assert Content.from_audio_file(tmp_path / "audio.mp3").parts[0].mime_type == "audio/mpeg"
