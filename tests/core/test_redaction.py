"""Redaction: URL credentials and query keys, exception chains, log records, warnings, reprs."""

from __future__ import annotations

import logging
import pickle
import traceback
import types
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import llmcore
from llmcore import (
    ApiConnectionError,
    AuthenticationError,
    CancelHandle,
    ChatCompletionRequest,
    ConnectionOptions,
    HttpRequest,
    HttpResponse,
    LlmError,
    Message,
    Provider,
)
from llmcore._logsafety import LOGGERS, RedactingFilter, install
from llmcore.errors import RedactedError, redact, register_secret, scrub_chain, scrubbed

SECRET = "s3cr3tPW9x"  # looks like nothing: only the URL rules can hide it


# --- redact: URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://user:s3cr3tPW9x@host/v1", "https://****@host/v1"),
        ("proxy http://u:s3cr3tPW9x@proxy:3128 failed", "proxy http://****@proxy:3128 failed"),
        ("socks5h://s3cr3tPW9x@p:1080", "socks5h://****@p:1080"),
        ("'https://a:s3cr3tPW9x@h'", "'https://****@h'"),
        ("mail me: a@b.example, see https://h/x", "mail me: a@b.example, see https://h/x"),
        ("https://h/path/user@x", "https://h/path/user@x"),
    ],
)
def test_redact_masks_url_userinfo(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /v1/models?key=s3cr3tPW9x HTTP/1.1", "GET /v1/models?key=**** HTTP/1.1"),
        (
            "https://h/x?api-version=1&api_key=s3cr3tPW9x#f",
            "https://h/x?api-version=1&api_key=****#f",
        ),
        ("https://h/x?api-key=s3cr3tPW9x&b=2", "https://h/x?api-key=****&b=2"),
        ("?token=s3cr3tPW9x", "?token=****"),
        ("?access_token=s3cr3tPW9x", "?access_token=****"),
        ("blob?sv=1&sig=s3cr3tPW9x&se=2", "blob?sv=1&sig=****&se=2"),
        ("?X-Amz-Signature=s3cr3tPW9x", "?X-Amz-Signature=****"),
        ("?KEY=s3cr3tPW9x", "?KEY=****"),
        ("url: '/x?key=s3cr3tPW9x'", "url: '/x?key=****'"),
        ("(url=/x?key=s3cr3tPW9x)", "(url=/x?key=****)"),
    ],
)
def test_redact_masks_credential_query_params(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=5 temperature=0.5 top_p=1",
        "monkey=1 tokens=3 keys=2 x_key=4 my-token=5",
        "?api-version=2024-10-21&model=gpt",
        "status=401, code=invalid_api_key",
        "a == b, key == value",
    ],
)
def test_redact_leaves_harmless_text_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_is_idempotent() -> None:
    text = (
        "https://u:s3cr3tPW9x@h/x?key=abcdef&sig=ghijkl Bearer abcdefghijkl sk-abcdefghijklmnopqr"
    )
    once = redact(text)
    assert redact(once) == once
    assert "s3cr3tPW9x" not in once and "abcdef" not in once and "ghijkl" not in once


def test_redact_is_linear_on_many_equal_signs() -> None:
    text = "key=" * 20000
    assert redact(text) == "key=****"  # the first value swallows the rest: still one pass
    text = "a=" * 50000
    assert redact(text) == text


def test_registered_secret_with_stray_whitespace_is_masked_without_it() -> None:
    register_secret("padded-Secret-42\n")
    assert redact("key 'padded-Secret-42' and 'padded-Secret-42\\n'") == "key '****' and '****\\n'"


# --- LlmError: str, repr, args -----------------------------------------------------------------


def test_llm_error_fields_set_later_are_redacted_in_str_and_repr() -> None:
    err = AuthenticationError("denied for https://u:s3cr3tPW9x@h/x?key=abcdefgh", status=401)
    err.code = "bad key sk-abcdefghijklmnopqrstuvwxyz"
    err.request_id = "https://u:s3cr3tPW9x@h"
    for text in (str(err), repr(err), repr(err.args), err.message):
        assert "s3cr3tPW9x" not in text and "abcdefgh" not in text
        assert "sk-abcdefghijklmnop" not in text


# --- scrub_chain -------------------------------------------------------------------------------


def _raise_chained() -> ApiConnectionError:
    """An llmcore error caused by a requests error that names a query key, raised while an
    OSError carrying a proxy password was being handled."""
    try:
        try:
            raise OSError(f"proxy http://u:{SECRET}@proxy:3128 refused")
        except OSError:
            raise requests.exceptions.ConnectionError(
                f"HTTPSConnectionPool(host='h', port=443): Max retries exceeded with url: "
                f"/v1/chat?key={SECRET}"
            ) from None
    except requests.exceptions.ConnectionError as exc:
        try:
            raise ApiConnectionError("connection failed") from exc
        except ApiConnectionError as err:
            return err


def test_scrub_chain_replaces_foreign_links_and_keeps_the_shape() -> None:
    err = _raise_chained()
    cause = err.__cause__
    assert isinstance(cause, requests.exceptions.ConnectionError)
    assert SECRET in "".join(traceback.format_exception(err))  # the problem being solved
    cause_tb = cause.__traceback__
    inner = cause.__context__
    assert isinstance(inner, OSError) and cause.__suppress_context__

    assert scrub_chain(err) is err
    text = "".join(traceback.format_exception(err))
    assert SECRET not in text
    new_cause = err.__cause__
    assert isinstance(new_cause, RedactedError)
    assert new_cause.original_type == "requests.exceptions.ConnectionError"
    assert str(new_cause).startswith("requests.exceptions.ConnectionError: HTTPSConnectionPool")
    assert "key=****" in str(new_cause)
    assert new_cause.__traceback__ is cause_tb
    assert new_cause.__suppress_context__ is True
    new_inner = new_cause.__context__
    assert isinstance(new_inner, RedactedError) and new_inner.original_type == "builtins.OSError"
    assert "http://****@proxy:3128" in str(new_inner)
    # The traceback shows the same structure: the suppressed context stays hidden.
    assert "During handling of the above exception" not in text
    assert "The above exception was the direct cause" in text
    assert err.__suppress_context__ is True  # "raise ... from exc"


def test_scrub_chain_is_idempotent_and_redacts_llm_links_in_place() -> None:
    inner = AuthenticationError("denied", status=401)
    inner.args = (f"denied https://u:{SECRET}@h",)  # args set behind the constructor's back
    inner.body = {"echo": f"?key={SECRET}"}
    try:
        try:
            raise inner
        except AuthenticationError as exc:
            raise LlmError("outer") from exc
    except LlmError as outer:
        err = outer
    scrub_chain(err)
    scrub_chain(err)
    assert err.__cause__ is inner  # llmcore errors are kept, not replaced
    assert SECRET not in repr(inner.args) and SECRET not in repr(inner.body)
    assert SECRET not in "".join(traceback.format_exception(err))


def test_scrub_chain_survives_cycles() -> None:
    a = ApiConnectionError("a")
    b = ValueError(f"?token={SECRET}")
    a.__context__ = b
    b.__context__ = a
    scrub_chain(a)
    stand_in = a.__context__
    assert isinstance(stand_in, RedactedError) and stand_in.__context__ is a
    assert SECRET not in "".join(traceback.format_exception(a))


def test_scrub_chain_survives_an_exception_whose_str_fails() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    err = ApiConnectionError("x")
    err.__cause__ = Broken()
    scrub_chain(err)
    assert isinstance(err.__cause__, RedactedError)
    assert "Broken" in str(err.__cause__)


def test_redacted_error_pickles() -> None:
    err = RedactedError("requests.exceptions.ConnectionError", "boom ?key=****")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.original_type == err.original_type


def test_scrubbed_scrubs_llm_errors_and_passes_others_untouched() -> None:
    @scrubbed
    def fails() -> None:
        try:
            raise OSError(f"?key={SECRET}")
        except OSError as exc:
            raise ApiConnectionError("down") from exc

    with pytest.raises(ApiConnectionError) as info:
        fails()
    assert isinstance(info.value.__cause__, RedactedError)

    original = OSError(f"?key={SECRET}")

    @scrubbed
    def foreign() -> None:
        raise KeyError("k") from original

    with pytest.raises(KeyError) as other:
        foreign()
    assert other.value.__cause__ is original  # not an llmcore error: not touched


def test_scrubbed_wraps_generators() -> None:
    @scrubbed
    def gen() -> Iterator[int]:
        yield 1
        try:
            raise OSError(f"?key={SECRET}")
        except OSError as exc:
            raise ApiConnectionError("down") from exc

    it = gen()
    assert next(it) == 1
    with pytest.raises(ApiConnectionError) as info:
        next(it)
    assert isinstance(info.value.__cause__, RedactedError)


def test_public_entry_points_are_scrubbed() -> None:
    for fn in (
        llmcore.Client.chat_completion,
        llmcore.Client.chat_completion_stream,
        llmcore.Client.list_models,
        llmcore.Client.quick_chat_text,
        llmcore.Client.chat_completion_batch,
        llmcore.Client.chat_completion_batch_smart,
        llmcore.ChatStream.until_done,
        llmcore.ChatStream.text,
    ):
        assert fn.__code__ is not getattr(fn, "__wrapped__", fn).__code__, fn.__qualname__


def test_iterating_a_stream_scrubs_the_chain() -> None:
    """``ChatStream.__next__`` scrubs inline (it runs once per chunk), not by the decorator."""
    stream = llmcore.ChatStream.__new__(llmcore.ChatStream)
    stream._engine = types.SimpleNamespace(want_events=True)  # type: ignore[assignment]

    def steps() -> Iterator[Any]:
        try:
            raise OSError(f"?key={SECRET}")
        except OSError as exc:
            raise ApiConnectionError("down") from exc
        yield

    stream._steps = steps()  # type: ignore[assignment]
    with pytest.raises(ApiConnectionError) as info:
        next(stream)
    assert isinstance(info.value.__cause__, RedactedError)
    assert SECRET not in str(info.value.__cause__)


# --- log records -------------------------------------------------------------------------------


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    root = logging.getLogger()
    handler, level = Keep(logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield got
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize("name", LOGGERS)
def test_every_llmcore_and_urllib3_logger_redacts(
    name: str, records: list[logging.LogRecord]
) -> None:
    logging.getLogger(name).debug(
        '%s://%s:%s "%s %s"', "https", "h", 443, "GET", f"/x?key={SECRET}"
    )
    logging.getLogger(name).info("proxy %s", f"http://u:{SECRET}@p:3128")
    assert [r.getMessage() for r in records] == [
        'https://h:443 "GET /x?key=****"',
        "proxy http://****@p:3128",
    ]
    assert all(r.args == () for r in records)


def test_log_filter_redacts_exc_info_and_scrubs_llm_errors(
    records: list[logging.LogRecord],
) -> None:
    err = _raise_chained()
    logging.getLogger("llmcore").warning("call failed", exc_info=err)
    try:
        raise ValueError(f"?token={SECRET}")
    except ValueError:
        logging.getLogger("llmcore").debug("tool raised", exc_info=True, stack_info=True)
    formatter = logging.Formatter("%(message)s")
    for record in records:
        assert SECRET not in formatter.format(record)
    assert isinstance(err.__cause__, RedactedError)


def test_log_filter_install_is_idempotent() -> None:
    install()
    install()
    for name in LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactingFilter) for f in filters) == 1


def test_log_filter_keeps_a_record_with_a_bad_format_string(
    records: list[logging.LogRecord],
) -> None:
    logging.getLogger("llmcore").debug("%d items ?key=" + SECRET, "not-a-number")
    assert len(records) == 1 and SECRET not in records[0].getMessage()


# --- warnings ----------------------------------------------------------------------------------


def test_plugin_load_warning_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken:
        @llmcore.hookimpl
        def register_providers(self, register: Any) -> None:
            raise RuntimeError(f"cannot reach https://u:{SECRET}@mirror/x?key={SECRET}")

    plugins = llmcore.Plugins(load_entrypoints=False)
    plugins.register(Broken(), name="broken")
    with pytest.warns(llmcore.PluginLoadWarning) as caught:
        plugins.providers()
    assert caught and all(SECRET not in str(w.message) for w in caught)


# --- reprs -------------------------------------------------------------------------------------


def test_reprs_show_no_secret() -> None:
    url = f"https://u:{SECRET}@h/v1?api-version=1&key={SECRET}"
    provider = Provider(
        name="p",
        api="none",
        base_url=url,
        headers={"Authorization": f"Basic {SECRET}", "X-Custom": f"token={SECRET}"},
        description=f"server at {url}",
    )
    options = ConnectionOptions(
        proxy=f"http://u:{SECRET}@proxy:3128",
        default_headers={"api-key": SECRET, "X-Trace": f"?sig={SECRET}"},
    )
    request = HttpRequest(
        "POST", url, {"Authorization": f"Bearer {SECRET}"}, params={"key": SECRET, "v": "1"}
    )
    response = HttpResponse(401, {"Set-Cookie": SECRET}, SECRET.encode(), url)
    texts = [repr(provider), repr(options), repr(request), repr(response), repr(CancelHandle())]
    for text in texts:
        assert SECRET not in text, text
    assert "'v': '1'" in repr(request) and "api-version=1" in repr(provider)


def test_client_and_stream_reprs_show_no_secret() -> None:
    from llmcore.testing import register_faux_provider

    plugins = llmcore.Plugins(load_entrypoints=False)
    faux = register_faux_provider(plugins=plugins, default="hello")
    provider = plugins.provider(faux.name)
    url = f"{provider.base_url}?key={SECRET}"
    client = llmcore.Client(provider, base_url=url, api_key=SECRET + "-api", plugins=plugins)
    stream = client.chat_completion_stream(
        ChatCompletionRequest(faux.models[0], [Message.user("hi")])
    )
    for text in (repr(client), repr(client.provider), repr(stream), repr(stream.cancel_handle)):
        assert SECRET not in text, text
    stream.close()
