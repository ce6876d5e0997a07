"""llmcore demo: chat, streaming, streaming + cancel, list models.

With OPENAI_API_KEY set it talks to OpenAI (model: LLMCORE_DEMO_MODEL, default gpt-4o-mini).
Without it, it uses llmcore's in-memory faux provider with scripted replies, so it runs anywhere,
offline, in a few seconds:

    python examples/demo.py        # or: tox -e demo
"""

from __future__ import annotations

import os
import sys
import threading
import time

from llmcore import (
    ChatCompletionRequest,
    Client,
    Content,
    LlmError,
    Message,
    Role,
)

CANCEL_AFTER = 0.4  # seconds into the stream at which the cancel example cancels it


def faux_client() -> tuple[Client, str]:
    """A client for the faux provider, scripted with one reply per example below."""
    from llmcore.testing import FauxReply, register_faux_provider

    faux = register_faux_provider(
        "faux",
        models=("faux-1", "faux-mini", "faux-reasoner"),
        default="Hello from the faux provider.",
    )
    faux.add_reply(text="Every value has one owner; when the owner goes out of scope, the "
                        "value is dropped, and borrows let others use it meanwhile.")
    faux.add_reply(FauxReply(
        text="Threads weave at once,\nlocks hold the shared thread still,\nall joins, then "
             "silence.",
        delay=0.04,
    ))
    faux.add_reply(FauxReply(
        text="The borrow checker looks at every reference in your program and asks two "
             "questions: how long does this reference live, and does anything change the "
             "value while it is borrowed? If a mutable borrow overlaps any other borrow, the "
             "program does not compile. This is how Rust rules out data races at compile "
             "time, without a garbage collector and without locks.",
        delay=0.05,
    ))
    return Client("faux"), "faux-1"


def openai_client() -> tuple[Client, str]:
    return Client("openai"), os.environ.get("LLMCORE_DEMO_MODEL", "gpt-4o-mini")


def ask(model: str, text: str) -> ChatCompletionRequest:
    return ChatCompletionRequest.new(model, [Message(Role.USER, Content.from_text(text))])


def chat(client: Client, model: str) -> None:
    print("\n== Chat ==")
    response = client.chat_completion(ask(model, "Summarize Rust ownership succinctly."))
    if response.choices:
        print("Answer:", response.choices[0].message.content.as_text())


def stream(client: Client, model: str) -> None:
    print("\n== Streaming ==")
    for chunk in client.chat_completion_stream(ask(model, "Stream a haiku about concurrency.")):
        if chunk.text():
            print(chunk.text(), end="", flush=True)
    print()


def stream_with_cancel(client: Client, model: str) -> None:
    print(f"\n== Streaming + cancel after {CANCEL_AFTER * 1000:.0f} ms ==")
    request = ask(model, "Explain the borrow checker slowly.")
    stream, handle = client.chat_completion_stream_with_cancel(request)
    timer = threading.Timer(CANCEL_AFTER, handle.cancel)  # cancel() works from any thread
    started = time.monotonic()
    timer.start()
    try:
        for chunk in stream:
            if chunk.text():
                print(chunk.text(), end="", flush=True)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    print()
    if handle.cancelled:
        print(f"Cancelled after {elapsed * 1000:.0f} ms "
              f"(stop reason: {stream.response.stop_reason}, "
              f"kept {len(stream.response.text())} characters)")
    else:
        print(f"The answer finished in {elapsed * 1000:.0f} ms, before the cancel.")


def list_models(client: Client) -> None:
    print("\n== List models ==")
    models = client.list_models()
    for model in models[:10]:
        print(" -", model)
    if len(models) > 10:
        print(f"   ... and {len(models) - 10} more")


def main() -> int:
    if os.environ.get("OPENAI_API_KEY"):
        client, model = openai_client()
        print(f"using the OpenAI provider (OPENAI_API_KEY is set), model {model}")
    else:
        client, model = faux_client()
        print("using the faux provider (no OPENAI_API_KEY set)")
    try:
        with client:
            chat(client, model)
            stream(client, model)
            stream_with_cancel(client, model)
            list_models(client)
    except LlmError as err:
        kind = "retryable" if err.is_retryable() else "permanent"
        print(f"\n{kind} error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
