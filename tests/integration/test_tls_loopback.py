"""HTTPS on 127.0.0.1: certificate checks on both of the transport's ways out.

``tls/cert.pem`` is a self-signed certificate for IP 127.0.0.1 made for these tests only
(``openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -subj "/CN=llmcore loopback test"
-addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:TRUE``); its key
guards nothing else. The server is the standard library's, wrapped in TLS.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests.adapters
from test_faults import completion

import llmcore.transport
from llmcore import ApiConnectionError, ChatCompletionRequest, Client, ConfigurationError, Message
from llmcore_openai import openai_compatible

TLS = Path(__file__).resolve().parent / "tls"
REQ = ChatCompletionRequest("m", [Message.user("hi")])


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(
            {"path": self.path, "body": json.loads(body), "auth": self.headers["Authorization"]}
        )
        answer = json.dumps(completion("over tls")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def tls_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(TLS / "cert.pem", TLS / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(params=["direct", "adapter"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "adapter":
        original = requests.adapters.HTTPAdapter.send
        monkeypatch.setattr(
            requests.adapters.HTTPAdapter, "send", lambda s, r, **kw: original(s, r, **kw)
        )
    assert llmcore.transport._genuine_send() == (request.param == "direct")
    return str(request.param)


def test_a_trusted_certificate_is_accepted(
    tls_server: tuple[str, list[dict[str, Any]]], way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(TLS / "cert.pem"))
    with Client(openai_compatible(url), api_key="sk-tls") as client:
        assert client.chat_completion(REQ).text() == "over tls"
        assert client.chat_completion(REQ).text() == "over tls"
    assert [s["auth"] for s in seen] == ["Bearer sk-tls"] * 2
    assert seen[0]["body"]["model"] == "m"


def test_an_untrusted_certificate_is_refused_before_anything_is_sent(
    tls_server: tuple[str, list[dict[str, Any]]], way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = tls_server
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    client = Client(openai_compatible(url), api_key="sk-tls-secret")
    with client, pytest.raises(ApiConnectionError) as caught:
        client.chat_completion(REQ)
    assert "certificate" in str(caught.value).lower()
    assert "sk-tls-secret" not in str(caught.value)
    assert seen == []


def test_a_ca_bundle_that_does_not_exist_is_a_configuration_error(
    tls_server: tuple[str, list[dict[str, Any]]],
    way: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    url, seen = tls_server
    missing = tmp_path / "no-such-bundle.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(missing))
    client = Client(openai_compatible(url), api_key="sk-tls-secret")
    with client, pytest.raises(ConfigurationError) as caught:
        client.chat_completion(REQ)
    assert str(missing) in str(caught.value)
    assert "REQUESTS_CA_BUNDLE" in str(caught.value)
    assert caught.value.retryable is False
    assert seen == []
