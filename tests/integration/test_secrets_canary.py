"""Canary keys drive every error path over real sockets, with DEBUG logging on everywhere.

A canary (an ``sk-`` key, and one that looks like no key at all) is passed as ``api_key=``;
another one rides in the base URL's query (``?key=...``) and another as a base URL password. For
every failure the test collects every text a user could ever see: ``str``/``repr``/``args`` of
the error, its ``body``, every ``__cause__``/``__context__`` link, the whole
``traceback.format_exception`` output, every log record of every logger (message and formatted
traceback) and every warning. No canary may appear in any of them.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import string
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loopback import LoopbackServer, Reply

from llmcore import (
    ChatCompletionRequest,
    Client,
    ConfigurationError,
    ConnectionOptions,
    LlmError,
    Message,
)
from llmcore import events as ev
from llmcore_openai import openai_compatible

_ALNUM = string.ascii_letters + string.digits
_rng = random.Random()


def _random(n: int) -> str:
    return "".join(_rng.choice(_ALNUM) for _ in range(n))


KEY_CANARY = "sk-canary-" + _random(24)
PLAIN_CANARY = "CANARY" + _random(7).lower()  # looks like no key: only registration hides it
QUERY_CANARY = "QKEY" + _random(16)
PASSWORD_CANARY = "PW" + _random(14)
ALL_CANARIES = (KEY_CANARY, PLAIN_CANARY, QUERY_CANARY, PASSWORD_CANARY)

PATH = "/v1/chat/completions"
OPTIONS = ConnectionOptions(
    connect_timeout=1.0, read_timeout=2.0, max_retries=2, backoff_initial=0.001, backoff_max=0.01
)
REQ = ChatCompletionRequest("loop-model", [Message.user("hi")])


def chunk(text: str | None = None, finish: str | None = None) -> str:
    delta = {} if text is None else {"content": text}
    return json.dumps(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "loop-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def echo_error(status: int, secret: str) -> Reply:
    """An error body that echoes the credential, as some servers do."""
    body = {
        "error": {
            "message": f"Incorrect API key provided: {secret}. Sent: POST {PATH}?key={secret}",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "param": secret,
        }
    }
    return Reply.json(body, status=status, headers={"Retry-After": "0", "x-request-id": "r1"})


def closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


# --- capture of everything a user could see --------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def seen() -> Iterator[dict[str, Any]]:
    """DEBUG logging on the root logger (every propagating logger) and every warning, recorded."""
    root = logging.getLogger()
    handler = _Capture()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield {"records": handler.records, "warnings": caught}
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)


def _links(err: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    todo = [err]
    while todo:
        exc = todo.pop()
        if any(exc is e for e in out):
            continue
        out.append(exc)
        todo.extend(e for e in (exc.__cause__, exc.__context__) if e is not None)
    return out


def visible_texts(errors: list[BaseException], seen: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, text) for every text the errors, the log records and the warnings expose."""
    texts: list[tuple[str, str]] = []
    for err in errors:
        texts.append(("traceback", "".join(traceback.format_exception(err))))
        for i, link in enumerate(_links(err)):
            name = f"link {i} ({type(link).__name__})"
            texts += [(f"{name} str", str(link)), (f"{name} repr", repr(link))]
            texts.append((f"{name} args", repr(link.args)))
            if isinstance(link, LlmError):
                texts += [(f"{name} body", repr(link.body)), (f"{name} vars", repr(vars(link)))]
    formatter = logging.Formatter()
    for record in seen["records"]:
        where = f"log {record.name}"
        texts.append((where, record.getMessage()))
        if record.exc_info:
            texts.append((where + " exc_info", formatter.formatException(record.exc_info)))
        texts.append((where + " formatted", logging.Formatter("%(message)s").format(record)))
    for w in seen["warnings"]:
        texts.append(("warning", str(w.message)))
    return texts


def assert_clean(errors: list[BaseException], seen: dict[str, Any]) -> None:
    assert errors, "the scenario raised nothing"
    leaks = [
        (where, canary, text[max(0, text.find(canary) - 80) : text.find(canary) + 40])
        for where, text in visible_texts(errors, seen)
        for canary in ALL_CANARIES
        if canary in text
    ]
    assert not leaks, leaks


# --- the scenarios ---------------------------------------------------------------------------

Scenario = Callable[[LoopbackServer, Callable[..., Client], str], list[BaseException]]


def _raised(fn: Callable[[], object]) -> list[BaseException]:
    try:
        fn()
    except Exception as exc:
        return [exc]
    return []


def _stream_both_views(
    server: LoopbackServer, make: Callable[..., Client], *replies: Reply
) -> list[BaseException]:
    """The error as raised by iteration, and as carried by the events view's ErrorEvent."""
    server.add("POST", PATH, *replies, *replies)
    client = make()
    errors = _raised(lambda: list(client.chat_completion_stream(REQ)))
    stream = client.chat_completion_stream(REQ)
    last = list(stream.events())[-1]
    assert isinstance(last, ev.ErrorEvent) and last.error is not None
    return [*errors, last.error]


def s_401_echo(
    server: LoopbackServer, make: Callable[..., Client], key: str
) -> list[BaseException]:
    server.add("POST", PATH, echo_error(401, key))
    server.add("GET", "/v1/models", echo_error(401, key))
    client = make()
    return [
        *_raised(lambda: client.chat_completion(REQ)),
        *_raised(lambda: client.chat_completion_stream(REQ)),
        *_raised(client.list_models),
        *_raised(lambda: client.quick_chat_text("loop-model", "hi")),
    ]


def s_429_retries(
    server: LoopbackServer, make: Callable[..., Client], key: str
) -> list[BaseException]:
    server.add("POST", PATH, echo_error(429, key))
    return _raised(lambda: make().chat_completion(REQ))


def s_5xx_retries(
    server: LoopbackServer, make: Callable[..., Client], key: str
) -> list[BaseException]:
    server.add("POST", PATH, echo_error(500, key), echo_error(502, key), echo_error(503, key))
    return _raised(lambda: make().chat_completion(REQ))


def s_batch(server: LoopbackServer, make: Callable[..., Client], key: str) -> list[BaseException]:
    server.add("POST", PATH, echo_error(401, key))
    client = make()
    out = [*client.chat_completion_batch([REQ] * 3), *client.chat_completion_batch_smart([REQ])]
    return [r for r in out if isinstance(r, BaseException)]


def s_refused(server: LoopbackServer, make: Callable[..., Client], key: str) -> list[BaseException]:
    client = make(base=f"http://127.0.0.1:{closed_port()}/v1")
    return [
        *_raised(lambda: client.chat_completion(REQ)),
        *_raised(lambda: client.chat_completion_stream(REQ)),
        *_raised(client.list_models),
    ]


def s_read_timeout(
    server: LoopbackServer, make: Callable[..., Client], key: str
) -> list[BaseException]:
    server.add("POST", PATH, Reply.hang(send_headers=False))
    return _raised(
        lambda: make(OPTIONS.evolve(read_timeout=0.3, max_retries=0)).chat_completion(REQ)
    )


def s_cut_mid_stream(
    server: LoopbackServer, make: Callable[..., Client], key: str
) -> list[BaseException]:
    events = [chunk("Hello, "), chunk(f"world {key}"), chunk(finish="stop"), "[DONE]"]
    cut = len(Reply.sse_body(events[:1])) + 5
    return _stream_both_views(server, make, Reply.sse(events, cut_after=cut))


def s_malformed_json(
    server: LoopbackServer, make: Callable[..., Client], key: str
) -> list[BaseException]:
    body = '{"id": "x", "echo": "' + key + '", "choices": [{"message": '
    server.add("POST", PATH, Reply.raw(200, body, content_type="application/json"))
    return _raised(lambda: make().chat_completion(REQ))


def s_malformed_frame(
    server: LoopbackServer, make: Callable[..., Client], key: str
) -> list[BaseException]:
    bad = '{"choices": [{"delta": ' + json.dumps({"content": key}) + ", oops"
    return _stream_both_views(server, make, Reply.sse([chunk("a"), bad, "[DONE]"]))


def s_error_frame(
    server: LoopbackServer, make: Callable[..., Client], key: str
) -> list[BaseException]:
    frame = json.dumps({"error": {"message": f"key {key} revoked", "code": key, "type": "x"}})
    return _stream_both_views(server, make, Reply.sse([chunk("a"), frame, "[DONE]"]))


def s_bad_input(
    server: LoopbackServer, make: Callable[..., Client], key: str
) -> list[BaseException]:
    server.add("POST", PATH, echo_error(400, key))
    client = make()
    errors = _raised(lambda: client.quick_chat_text("loop-model", None))  # type: ignore[arg-type]
    errors += _raised(lambda: client.chat_completion(ChatCompletionRequest("m", [])))
    errors += _raised(lambda: client.chat_completion(REQ.evolve(temperature=float("nan"))))
    # A key pasted with a newline cannot travel in a header.
    errors += _raised(lambda: make(api_key=key + "\n").chat_completion(REQ))
    # Bad input is refused before any I/O (so before any log line): one real call that the
    # server refuses, echoing the key, makes the debug log part of the check.
    errors += _raised(lambda: client.chat_completion(REQ))
    return errors


SCENARIOS: dict[str, Scenario] = {
    "401-echo": s_401_echo,
    "429-retries": s_429_retries,
    "5xx-retries": s_5xx_retries,
    "batch": s_batch,
    "refused": s_refused,
    "read-timeout": s_read_timeout,
    "cut-mid-stream": s_cut_mid_stream,
    "malformed-json": s_malformed_json,
    "malformed-frame": s_malformed_frame,
    "error-frame": s_error_frame,
    "bad-input": s_bad_input,
}


@pytest.mark.parametrize("query_key", [False, True], ids=["plain-url", "query-key-url"])
@pytest.mark.parametrize("key", [KEY_CANARY, PLAIN_CANARY], ids=["sk-canary", "plain-canary"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_canary_anywhere(
    loopback_server: LoopbackServer,
    seen: dict[str, Any],
    name: str,
    key: str,
    query_key: bool,
) -> None:
    made: list[Client] = []

    def make(
        options: ConnectionOptions = OPTIONS, *, base: str | None = None, api_key: str = key
    ) -> Client:
        url = base or loopback_server.base_url + "/v1"
        if query_key:
            url += f"?key={QUERY_CANARY}"
        client = Client(openai_compatible(url), api_key=api_key, options=options)
        made.append(client)
        return client

    try:
        errors = SCENARIOS[name](loopback_server, make, key)
    finally:
        for client in made:
            client.close()
    assert seen["records"], "DEBUG logging captured nothing"
    assert_clean(errors, seen)


def test_the_key_and_query_key_travel_where_they_belong(
    loopback_server: LoopbackServer, seen: dict[str, Any]
) -> None:
    """The redaction hides the secrets from people, not from the server."""
    loopback_server.add("POST", PATH, echo_error(401, KEY_CANARY))
    url = loopback_server.base_url + f"/v1?key={QUERY_CANARY}"
    with Client(openai_compatible(url), api_key=KEY_CANARY, options=OPTIONS) as client:
        errors = _raised(lambda: client.chat_completion(REQ))
    sent = loopback_server.requests[0]
    assert sent.path == PATH and sent.params == {"key": [QUERY_CANARY]}
    assert sent.headers["authorization"] == f"Bearer {KEY_CANARY}"
    assert_clean(errors, seen)


def test_base_url_password_never_shows(
    loopback_server: LoopbackServer, seen: dict[str, Any]
) -> None:
    """A keyless local server behind a basic-auth proxy: the userinfo is sent as Basic auth and
    its password appears in no error, chain or log line."""
    host = loopback_server.base_url.split("://", 1)[1]
    url = f"http://proxyuser:{PASSWORD_CANARY}@{host}/v1"
    loopback_server.add("POST", PATH, echo_error(401, PASSWORD_CANARY))
    client = Client(openai_compatible(url).evolve(auth="none"), options=OPTIONS)
    assert PASSWORD_CANARY not in repr(client) and PASSWORD_CANARY not in repr(client.provider)
    errors = _raised(lambda: client.chat_completion(REQ))
    dead = Client(
        openai_compatible(f"http://proxyuser:{PASSWORD_CANARY}@127.0.0.1:{closed_port()}/v1"),
        options=OPTIONS,
    )
    errors += _raised(lambda: dead.chat_completion(REQ))
    client.close()
    dead.close()
    sent = loopback_server.requests[0]
    assert sent.headers["authorization"].startswith("Basic ")
    assert_clean(errors, seen)


def test_base_url_userinfo_with_a_key_is_refused_without_echoing_it(
    seen: dict[str, Any],
) -> None:
    url = f"https://proxyuser:{PASSWORD_CANARY}@api.example.invalid/v1"
    with pytest.raises(ConfigurationError, match="base_url") as info:
        Client(openai_compatible(url), api_key=KEY_CANARY)
    logging.getLogger("llmcore").debug("config failed", exc_info=info.value)
    assert_clean([info.value], seen)
