"""Room for non-OpenAI protocols, over real sockets on 127.0.0.1: a plugin for a made-up API
whose chat lives under ``/v2`` and whose model list lives under ``/v1`` of the same host, with a
cursor-paginated model list, announced block ends and provider data in its stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from loopback import LoopbackServer, Reply

import llmcore
from llmcore import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChunkChoice,
    Client,
    Delta,
    Frame,
    HttpRequest,
    HttpResponse,
    Message,
    MessageOrigin,
    ModelInfo,
    ModelPage,
    Plugins,
    Provider,
    StopReason,
    ToolCallDelta,
)
from llmcore import events as ev

API = "paged-api"


class PagedPlugin:
    """Chat at ``base_url + /chat`` (base ``.../v2``), models at the host's ``/v1/models``
    with an ``after`` cursor; stream frames are ``event: <kind>`` SSE events."""

    LLMCORE_APIS = (API,)

    @llmcore.hookimpl
    def build_payload(self, provider: Provider, request: ChatCompletionRequest) -> HttpRequest:
        return HttpRequest(
            "POST", provider.url("chat"), json={"model": request.model}, stream_format="sse"
        )

    @llmcore.hookimpl
    def iter_stream(self, frames: Iterator[Frame]) -> Iterator[ChatCompletionChunk]:
        tool = -1
        for frame in frames:
            data: dict[str, Any] = json.loads(frame.data)
            kind = frame.event
            if kind == "text":
                yield _chunk(Delta(content=data["text"]))
            elif kind == "cite":
                yield _chunk(Delta(provider_data={"citations": [data]}))
            elif kind == "text_stop":
                yield _chunk(Delta(block_end=True))
            elif kind == "tool_start":
                tool += 1
                yield _chunk(Delta(tool_calls=[ToolCallDelta(tool, data["id"], data["name"])]))
            elif kind == "tool_args":
                yield _chunk(Delta(tool_calls=[ToolCallDelta(tool, arguments=data["json"])]))
            elif kind == "tool_stop":
                yield _chunk(Delta(tool_calls=[ToolCallDelta(tool, end=True)]))
            elif kind == "stop":
                yield ChatCompletionChunk(
                    choices=[
                        ChunkChoice(
                            0,
                            finish_reason="tool_use",
                            stop_reason=StopReason.TOOL_USE,
                            provider_data={"stop_sequence": None},
                        )
                    ],
                    provider_data={"model_version": data["version"]},
                )
                return True  # type: ignore[return-value]
        return None

    @llmcore.hookimpl
    def build_list_models(self, provider: Provider) -> HttpRequest:
        return HttpRequest("GET", provider.origin_url("/v1/models"), params={"limit": "2"})

    @llmcore.hookimpl
    def parse_list_models(self, provider: Provider, response: HttpResponse) -> ModelPage:
        body = response.json()
        models = [ModelInfo(m["id"]) for m in body["data"]]
        if not body["has_more"]:
            return ModelPage(models)
        cursor = {"limit": "2", "after": body["last_id"]}
        nxt = HttpRequest("GET", provider.origin_url("/v1/models"), params=cursor)
        return ModelPage(models, nxt)


def _chunk(delta: Delta) -> ChatCompletionChunk:
    return ChatCompletionChunk("r1", "paged-1", [ChunkChoice(0, delta)])


def _client(server: LoopbackServer) -> Client:
    plugins = Plugins(load_entrypoints=False)
    plugins.register(PagedPlugin(), name="paged")
    provider = Provider(
        name="paged",
        api=API,
        base_url=server.url("/v2") + "?region=eu",
        key_required=False,
    )
    return Client(provider, plugins=plugins)


def _page(ids: list[str], more: bool) -> Reply:
    return Reply.json({"data": [{"id": i} for i in ids], "has_more": more, "last_id": ids[-1]})


def test_list_models_follows_three_pages_beside_the_chat_prefix(
    loopback_server: LoopbackServer,
) -> None:
    loopback_server.add(
        "GET",
        "/v1/models",
        _page(["m1", "m2"], True),
        _page(["m3", "m4"], True),
        _page(["m5"], False),
    )
    models = _client(loopback_server).list_models()
    assert [m.id for m in models] == ["m1", "m2", "m3", "m4", "m5"]
    requests = loopback_server.requests
    assert [r.path for r in requests] == ["/v1/models"] * 3
    # the cursor of each page, and the base URL's query string on every page
    assert [r.params.get("after") for r in requests] == [None, ["m2"], ["m4"]]
    assert all(r.params["region"] == ["eu"] for r in requests)


def _event(kind: str, **data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def test_announced_block_ends_and_provider_data_over_a_real_stream(
    loopback_server: LoopbackServer,
) -> None:
    loopback_server.add(
        "POST",
        "/v2/chat",
        Reply.sse(
            [
                _event("text", text="Looking "),
                _event("cite", url="https://a.example"),
                _event("text", text="it up."),
                _event("cite", url="https://b.example"),
                _event("text_stop"),
                _event("tool_start", id="t1", name="search"),
                _event("tool_args", json='{"q": "a"'),  # not JSON yet...
                _event("tool_args", json="}"),
                _event("tool_stop"),
                _event("tool_start", id="t2", name="search"),
                _event("tool_args", json='{"q": "b"}'),
                _event("tool_stop"),
                _event("stop", version="2026-01"),
            ],
            fragment=7,
        ),
    )
    request = ChatCompletionRequest("paged-1", [Message.user("hi")])
    stream = _client(loopback_server).chat_completion_stream(request)
    events = list(stream.events())
    kinds = [e.type for e in events]
    assert kinds == [
        "start",
        "text_start",
        "text_delta",
        "text_delta",
        "text_end",
        "tool_call_start",
        "tool_call_delta",
        "tool_call_delta",
        "tool_call_end",
        "tool_call_start",
        "tool_call_delta",
        "tool_call_end",
        "done",
    ]
    ends = [e for e in events if isinstance(e, ev.ToolCallEndEvent)]
    assert [(e.tool_call.id, e.tool_call.arguments) for e in ends] == [
        ("t1", {"q": "a"}),
        ("t2", {"q": "b"}),
    ]
    response = stream.response
    assert response.provider_data == {"model_version": "2026-01"}
    assert response.choices[0].provider_data == {"stop_sequence": None}
    message = response.message
    assert message.provider_data == {
        "citations": [{"url": "https://a.example"}, {"url": "https://b.example"}]
    }
    assert message.origin == MessageOrigin("paged", API, "paged-1")
