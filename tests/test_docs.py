"""Every ```python block of README.md and docs/**/*.md runs, offline, in the test suite.

Writing runnable examples (details in tests/docs_support.py):

- write them as user code: ``Client("openai")``, ``Client("groq")``,
  ``Client(openai_compatible("http://localhost:8080/v1"))`` all work offline, every provider
  answers "Hello from the faux provider" (streamed word by word) unless scripted otherwise;
- blocks of one page share one namespace and run in order, in a temp directory holding
  image.png, cat.png, photo.jpg, image.jpg, audio.wav, audio.mp3 and document.pdf;
- script special replies in a hidden comment just before the block::

      <!-- test-setup
      faux["openai"].add_reply(text="a slow answer " * 20, delay=0.05)
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
    BlockFailed,
    install_offline_world,
    nav_pages,
    page_id,
    pages,
    parse_markdown,
    run_page,
)


@pytest.mark.parametrize("page", pages(), ids=page_id)
def test_page_examples_run(page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    faux = install_offline_world(monkeypatch, tmp_path, page.read_text(encoding="utf-8"))
    try:
        run_page(page, faux)
    except BlockFailed as exc:
        pytest.fail(str(exc), pytrace=False)


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
faux["openai"].add_reply(text="scripted")
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
faux["openai"].add_reply(text="scripted reply")
-->

```python
import os
from llmcore import ChatCompletionRequest, Client, Content, Message
from llmcore_openai import openai_compatible

assert y == 2
openai = Client("openai")
assert openai.quick_chat_text("gpt-4o", "hi") == "scripted"
assert openai.quick_chat_text("gpt-4o", "hi") == "scripted reply"
assert openai.quick_chat_text("gpt-4o", "hi") == "Hello from the faux provider"
assert Client("groq").quick_chat_text("llama3-8b-8192", "hi") == "Hello from the faux provider"
local = Client(openai_compatible("http://localhost:8080/v1"))
assert local.quick_chat_text("m", "hi") == "Hello from the faux provider"
request = ChatCompletionRequest.new("m", [Message.user("x")])
pieces = [c.text() for c in local.chat_completion_stream(request) if c.text()]
assert pieces == ["Hello ", "from ", "the ", "faux ", "provider"]
assert [str(m) for m in local.list_models()][0] == "gpt-4o"
assert os.environ["OPENAI_API_KEY"].startswith("sk-docs")
Content.from_image_file("photo.jpg") + Content.from_audio_file("audio.wav")
```
""")
    work = tmp_path / "work"
    work.mkdir()
    faux = install_offline_world(monkeypatch, work, page.read_text())
    assert run_page(page, faux) == 3


def test_a_failing_block_names_page_and_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    page = tmp_path / "broken.md"
    page.write_text("# Broken\n\n```python\nok = 1\n```\n\n```python\n\n1 / 0\n```\n")
    faux = install_offline_world(monkeypatch, tmp_path, "")
    with pytest.raises(BlockFailed) as info:
        run_page(page, faux)
    message = str(info.value)
    assert "broken.md: the python block at line 8 raised ZeroDivisionError" in message
    assert f'"{page}", line 9' in message


def test_a_hanging_block_times_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    page = tmp_path / "slow.md"
    page.write_text("```python\nimport time\ntime.sleep(5)\n```\n")
    faux = install_offline_world(monkeypatch, tmp_path, "")
    with pytest.raises(BlockFailed, match=re.escape("slow.md: the python block at line 2")):
        run_page(page, faux, timeout=0.2)


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
