"""Split ``<think>...</think>`` reasoning out of content, also when tags are split across chunks.

Some models (DeepSeek-R1 distills on Groq, Hugging Face routers, GLM-Z1, some Ollama models)
inline their reasoning in the content. A plugin whose API has such a flag (``think_tags`` of
``llmcore_openai.OpenAIChatCompat``) uses these helpers to move it to ``reasoning``. Only a
``<think>`` at the start of the content (after whitespace) opens a reasoning section, so an
answer that merely mentions the tag is left alone.
"""

from __future__ import annotations

__all__ = ["ThinkTagSplitter", "split_think_tags"]

_OPEN = "<think>"
_CLOSE = "</think>"


class ThinkTagSplitter:
    """Feed content pieces in order; get ``(content, reasoning)`` pieces back."""

    def __init__(self) -> None:
        self._state = "start"  # start -> thinking -> after_think -> content
        self._pending = ""

    def feed(self, piece: str) -> tuple[str, str]:
        """Split one piece; text that might be the start of a tag is held back."""
        text = self._pending + piece
        self._pending = ""
        content, reasoning = "", ""
        while text:
            if self._state == "start":
                stripped = text.lstrip()
                if not stripped:
                    self._pending = text
                    return content, reasoning
                if stripped.startswith(_OPEN):
                    self._state = "thinking"
                    text = stripped[len(_OPEN) :]
                    continue
                if _OPEN.startswith(stripped):
                    self._pending = text
                    return content, reasoning
                self._state = "content"
            if self._state == "thinking":
                end = text.find(_CLOSE)
                if end >= 0:
                    reasoning += text[:end]
                    text = text[end + len(_CLOSE) :]
                    self._state = "after_think"
                    continue
                keep = _partial_suffix(text, _CLOSE)
                reasoning += text[: len(text) - keep]
                self._pending = text[len(text) - keep :]
                return content, reasoning
            if self._state == "after_think":
                # The newlines after ``</think>`` may arrive in later pieces: drop them all.
                text = text.lstrip("\n")
                if not text:
                    return content, reasoning
                self._state = "content"
            content += text
            text = ""
        return content, reasoning

    def flush(self) -> tuple[str, str]:
        """Whatever was held back, at the end of the stream."""
        text, self._pending = self._pending, ""
        if self._state == "thinking":
            return "", text
        return text, ""


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def split_think_tags(text: str) -> tuple[str, str | None]:
    """``(content, reasoning)`` of a complete text.

    :param text: a whole answer that may hold ``<think>...</think>`` reasoning.
    :returns: the text without its think tags, and the reasoning (``None`` when there is none).
        Never raises.
    """
    splitter = ThinkTagSplitter()
    content, reasoning = splitter.feed(text)
    tail_content, tail_reasoning = splitter.flush()
    reasoning += tail_reasoning
    return content + tail_content, (reasoning or None)
