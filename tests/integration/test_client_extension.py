"""``Client.send_request`` and ``Client.extension`` / ``as_<name>()``: how a plugin sends requests
beyond chat through the core (auth, default headers, hooks, retries, typed errors, frames), over
real sockets on 127.0.0.1, with a made-up API."""

from __future__ import annotations

import threading
import warnings
from typing import Any

import pytest
from loopback import LoopbackServer, Reply

import llmcore
from llmcore import (
    CancelHandle,
    Client,
    ConnectionOptions,
    Frame,
    HttpRequest,
    HttpResponse,
    PluginLoadWarning,
    Plugins,
    Provider,
)


class Widgets:
    """The extension of the made-up API: it builds requests and parses answers only."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def count(self) -> int:
        answer = self.client.send_request(
            HttpRequest("GET", self.client.provider.url("widgets")))
        return len(answer.json()["widgets"])

    def watch(self, cancel: CancelHandle | None = None) -> list[str]:
        request = HttpRequest("POST", self.client.provider.url("watch"), stream_format="ndjson")
        return [f.data for f in self.client.send_request(request, stream=True, cancel=cancel)]


class WidgetPlugin:
    LLMCORE_APIS = ("widget-api",)

    @llmcore.hookimpl
    def client_extension(self, name: str, client: Client) -> Any:
        return Widgets(client) if name == "widgets" else None

    @llmcore.hookimpl
    def parse_error(self, response: HttpResponse) -> llmcore.LlmError | None:
        if response.status != 404:
            return None
        return llmcore.ModelNotFoundError(f"no such widget: {response.text()}")


class Greedy:
    """Another API's plugin: never asked for widget-api clients."""

    LLMCORE_APIS = ("other-api",)

    @llmcore.hookimpl
    def client_extension(self, name: str, client: Client) -> Any:
        raise AssertionError("asked for another API's client")


def _client(server: LoopbackServer, **options: Any) -> Client:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(Greedy(), name="greedy")
    plugins.register(WidgetPlugin(), name="widgets")
    provider = Provider(name="widgets", api="widget-api", base_url=server.base_url,
                        api_key_env=("WIDGET_KEY",), headers={"X-Provider": "w"})
    return Client(provider, plugins=plugins, api_key="sk-widget-secret-123",
                  options=ConnectionOptions(**{"max_retries": 0, **options}))


def test_send_request_authenticates_adds_headers_and_runs_payload_hooks(
    loopback_server: LoopbackServer,
) -> None:
    loopback_server.add("GET", "/widgets", Reply.json({"widgets": [1, 2, 3]}))
    client = _client(loopback_server)
    seen: list[str] = []
    client._on_payload = (lambda req, _p: seen.append(req.url) or None,)
    assert client.extension("widgets").count() == 3
    headers = loopback_server.requests[0].headers
    assert headers["authorization"] == "Bearer sk-widget-secret-123"
    assert headers["x-provider"] == "w"
    assert seen == [loopback_server.url("/widgets")]


def test_send_request_retries_and_returns_the_response(loopback_server: LoopbackServer) -> None:
    loopback_server.add("GET", "/widgets", Reply.status(503, headers={"Retry-After": "0"}),
                        Reply.json({"widgets": []}, headers={"X-Request-Id": "r1"}))
    client = _client(loopback_server, max_retries=2)
    response = client.send_request(HttpRequest("GET", client.provider.url("widgets")))
    assert (response.status, response.json(), response.request_id) == (200, {"widgets": []}, "r1")
    assert len(loopback_server.requests) == 2


def test_send_request_errors_are_the_plugins_typed_errors_completed_and_scrubbed(
    loopback_server: LoopbackServer,
) -> None:
    loopback_server.add("GET", "/widgets", Reply.status(
        404, "not here: sk-widget-secret-123", headers={"x-request-id": "req-9"}))
    client = _client(loopback_server)
    with pytest.raises(llmcore.ModelNotFoundError) as caught:
        client.send_request(HttpRequest("GET", client.provider.url("widgets")))
    err = caught.value
    assert (err.status, err.request_id, err.provider) == (404, "req-9", "widgets")
    assert err.message.startswith("no such widget: not here")
    assert "sk-widget-secret-123" not in str(err)


def test_send_request_streams_frames_and_closes_at_the_end(
    loopback_server: LoopbackServer,
) -> None:
    body = b'{"n": 1}\n{"n": 2}\r\n\n{"n": "\xc3\xa9"}'
    loopback_server.add("POST", "/watch", Reply(200, (("Content-Type", "application/x-ndjson"),),
                                                body, framing="chunked", fragment=1))
    client = _client(loopback_server)
    frames = client.send_request(
        HttpRequest("POST", client.provider.url("watch"), stream_format="ndjson"), stream=True)
    assert [f.json() for f in frames] == [{"n": 1}, {"n": 2}, {"n": "é"}]


def test_a_stream_request_answered_with_one_json_body_is_one_frame(
    loopback_server: LoopbackServer,
) -> None:
    loopback_server.add("POST", "/watch", Reply.json({"whole": True}))
    client = _client(loopback_server)
    frames = list(client.send_request(HttpRequest("POST", client.provider.url("watch")),
                                      stream=True))
    assert frames == [Frame('{"whole": true}')]


def test_a_broken_stream_is_an_interrupted_stream(loopback_server: LoopbackServer) -> None:
    body = b'{"n": 1}\n{"n": 2}\n{"n": 3}\n'
    loopback_server.add("POST", "/watch", Reply(200, (("Content-Type", "application/x-ndjson"),),
                                                body, framing="chunked", cut_after=12))
    with pytest.raises(llmcore.StreamInterruptedError, match="after 1 frames"):
        _client(loopback_server).extension("widgets").watch()


def test_a_stream_can_be_cancelled_from_another_thread(loopback_server: LoopbackServer) -> None:
    loopback_server.add("POST", "/watch", Reply(200, (("Content-Type", "application/x-ndjson"),),
                                                b'{"n": 1}\n', framing="chunked",
                                                hang_after=True))
    handle = CancelHandle()
    threading.Timer(0.2, handle.cancel).start()
    assert _client(loopback_server).extension("widgets").watch(cancel=handle) == ['{"n": 1}']
    assert handle.cancelled
    assert loopback_server.wait_for_disconnect()


def test_cancel_is_for_streams_only(loopback_server: LoopbackServer) -> None:
    client = _client(loopback_server)
    with pytest.raises(llmcore.InvalidInputError) as caught:
        client.send_request(HttpRequest("GET", client.provider.url("x")),
                            cancel=CancelHandle())  # type: ignore[call-overload]
    assert caught.value.field == "cancel"
    assert loopback_server.requests == []


def test_as_name_is_the_shorthand_of_extension(loopback_server: LoopbackServer) -> None:
    client = _client(loopback_server)
    assert isinstance(client.as_widgets(), Widgets)  # type: ignore[attr-defined]
    assert hasattr(client, "as_widgets")
    assert not hasattr(client, "as_gadgets")
    with pytest.raises(AttributeError, match="no 'gadgets' extension"):
        client.as_gadgets  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(AttributeError):
        client.nothing_like_it  # type: ignore[attr-defined]  # noqa: B018
    with pytest.raises(llmcore.UnsupportedOperationError, match="no 'gadgets' extension"):
        client.extension("gadgets")


def test_the_extension_hook_is_scoped_and_warned_about_without_apis() -> None:
    class Undeclared:
        @llmcore.hookimpl
        def client_extension(self, name: str) -> Any:
            return "never"

    plugins = Plugins(load_entrypoints=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugins.register(Undeclared(), name="undeclared")
    assert any(issubclass(w.category, PluginLoadWarning) and "client_extension" in str(w.message)
               for w in caught)
    provider = Provider(name="p", api="widget-api", base_url="http://127.0.0.1:9",
                        key_required=False)
    with pytest.raises(llmcore.UnsupportedOperationError):
        Client(provider, plugins=plugins).extension("anything")
