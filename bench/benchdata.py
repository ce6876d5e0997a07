"""What the benchmark server sends and what every client must hand back.

Shared by the server (``bench_server.py``), the workers (``worker.py``) and the orchestrator
(``bench_client.py``). Deliberately import-free: the cold-start worker imports this module
before it starts its clock, and it must not preload anything a client library would import.

The model name selects the answer (so that every client, whatever it adds to the request,
gets the same bytes):

- ``bench-model``: a canned ``chat.completion`` (``REPLY_TEXT``), answered at once;
- ``bench-slow``: answered after ``SLOW_LATENCY_S``; its text echoes the prompt
  (``slow_reply(prompt)``), so a batch whose results come back out of order is caught;
- ``bench-s<N>`` with ``"stream": true``: an SSE stream of ``N`` text chunks
  (``stream_text(N)``), OpenAI chunks on ``/v1/chat/completions``, Anthropic events on
  ``/v1/messages``.
"""

from __future__ import annotations

MODEL = "bench-model"
SLOW_MODEL = "bench-slow"
SLOW_LATENCY_S = 0.05
API_KEY = "sk-bench-not-a-real-key"
PROMPT = "Say hello to the benchmark."
CREATED = 1_700_000_000

REPLY_TEXT = (
    "Hello! This is the loopback benchmark server answering with the same canned completion "
    "for every client, so that the only thing that differs between the rows is the work each "
    "client library does on its own side of the socket: building the request, sending it, "
    "reading the response and turning it into objects."
)

_WORDS = (  # noqa: SIM905
    "streaming hello from the loopback benchmark server every client receives exactly these "
    "bytes split into small server sent events the way a real model emits tokens and has to "
    "reassemble them into the same text before its timing counts"
).split()


def stream_model(chunks: int) -> str:
    """The model name that asks the server for a stream of ``chunks`` text chunks."""
    return f"bench-s{chunks}"


def chunks_of(model: str) -> int | None:
    """The chunk count a ``bench-s<N>`` model name asks for (``None`` for other names)."""
    if model.startswith("bench-s") and model[7:].isdigit():
        return int(model[7:])
    return None


def stream_pieces(chunks: int) -> list[str]:
    """The text of each chunk: a word (with its leading space) and, every 10th, its index."""
    pieces = []
    for i in range(chunks):
        word = _WORDS[i % len(_WORDS)]
        pieces.append(f" {word}{i}" if i % 10 == 0 else f" {word}")
    return pieces


def stream_text(chunks: int) -> str:
    return "".join(stream_pieces(chunks))


def slow_reply(prompt: str) -> str:
    return f"echo: {prompt}"


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
BLOCKED: list[str] = []


def install_loopback_guard() -> None:
    """Refuse (and record in ``BLOCKED``) every connect or DNS lookup not for 127.0.0.1.

    An audit hook cannot be removed: it stays for the life of the process. Install it once,
    before any client library is imported.
    """
    import sys

    if getattr(sys, "_bench_guard", False):
        return
    sys._bench_guard = True  # type: ignore[attr-defined]

    def host_of(value: object) -> str | None:
        if isinstance(value, bytes):
            return value.decode(errors="replace")
        return value if isinstance(value, str) else None

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event == "socket.getaddrinfo":
            host = host_of(args[0])
            if host is not None and host not in LOOPBACK:
                BLOCKED.append(f"DNS lookup of {host}")
                raise OSError(f"bench: refused DNS lookup of {host!r} (loopback only)")
        elif event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple) and host_of(address[0]) not in LOOPBACK:
                BLOCKED.append(f"connect to {address[0]}:{address[1]}")
                raise ConnectionRefusedError(f"bench: refused connect to {address!r}")

    sys.addaudithook(hook)
