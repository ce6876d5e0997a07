"""Room in the core types for what non-OpenAI protocols carry: provider data and its
accumulation rule, announced block ends, message origins, paginated model lists, URLs beside the
base URL's prefix, and compat flags owned by the API's plugin."""

from __future__ import annotations

import logging
import math
from typing import Any

import attrs
import pytest
import responses

import llmcore
import llmcore.client
from llmcore import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    ChunkChoice,
    Client,
    Compat,
    Delta,
    HttpRequest,
    HttpResponse,
    InvalidInputError,
    MalformedResponseError,
    Message,
    MessageOrigin,
    ModelInfo,
    ModelPage,
    Plugins,
    Provider,
    Role,
    ToolCallDelta,
    Usage,
    merge_provider_data,
)
from llmcore import events as ev
from llmcore.accumulate import StreamAccumulator
from llmcore.chat import with_origin
from llmcore.testing import FauxReply, register_faux_provider


def chunk(delta: Delta, **choice: Any) -> ChatCompletionChunk:
    return ChatCompletionChunk("r", "m", [ChunkChoice(0, delta, **choice)])


def kinds(events: list[ev.StreamEvent]) -> list[str]:
    return [e.type for e in events]


# --- provider data: one accumulation rule ---------------------------------------------------------
def test_merge_appends_lists_and_replaces_everything_else() -> None:
    so_far = {"citations": [1], "fingerprint": "a", "meta": {"x": 1}, "n": [0]}
    new = {"citations": [2, 3], "fingerprint": "b", "meta": {"y": 2}, "n": None, "new": [9]}
    assert merge_provider_data(so_far, new) == {
        "citations": [1, 2, 3],
        "fingerprint": "b",
        "meta": {"y": 2},  # not merged deeply: later wins
        "n": None,
        "new": [9],
    }
    assert so_far["citations"] == [1]  # inputs unchanged
    assert merge_provider_data(so_far, None) == so_far


def test_stream_provider_data_accumulates_at_each_level() -> None:
    acc = StreamAccumulator("p", "api-x")
    acc.feed(
        ChatCompletionChunk(
            "r",
            "m",
            [
                ChunkChoice(
                    0,
                    Delta(content="a", provider_data={"citations": [{"n": 1}], "state": "open"}),
                    provider_data={"safety": ["ok"]},
                )
            ],
            usage=Usage(1, 1, 2, provider_data={"billed": 1}),
            provider_data={"fingerprint": "fp1"},
        )
    )
    acc.feed(
        ChatCompletionChunk(
            choices=[
                ChunkChoice(
                    0,
                    Delta(content="b", provider_data={"citations": [{"n": 2}], "state": "done"}),
                    finish_reason="stop",
                    provider_data={"safety": ["still ok"], "stop_sequence": "###"},
                )
            ],
            usage=Usage(1, 5, 6, provider_data={"billed": 5}),
            provider_data={"fingerprint": "fp2", "version": "v1"},
        )
    )
    response = acc.response()
    assert response.provider_data == {"fingerprint": "fp2", "version": "v1"}
    assert response.choices[0].provider_data == {
        "safety": ["ok", "still ok"],
        "stop_sequence": "###",
    }
    assert response.message.provider_data == {
        "citations": [{"n": 1}, {"n": 2}],
        "state": "done",
    }
    assert response.usage == Usage(1, 5, 6, provider_data={"billed": 5})  # replaced, not merged


@pytest.mark.parametrize(
    "build",
    [
        lambda pd: Message(Role.ASSISTANT, "x", provider_data=pd),
        lambda pd: Usage(provider_data=pd),
        lambda pd: Choice(0, Message.assistant("x"), provider_data=pd),
        lambda pd: ChatCompletionResponse("r", "m", (), provider_data=pd),
        lambda pd: ChatCompletionChunk(provider_data=pd),
        lambda pd: ChunkChoice(0, provider_data=pd),
        lambda pd: Delta(provider_data=pd),
    ],
)
@pytest.mark.parametrize("bad", [["a"], "text", {"x": math.nan}, {"x": object()}, {1: "a"}])
def test_provider_data_must_be_a_json_object(build: Any, bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="provider_data"):
        build(bad)
    assert build(None).provider_data == {}
    assert build({"a": [1, {"b": None}]}).provider_data == {"a": [1, {"b": None}]}


def test_usage_addition_keeps_provider_data() -> None:
    total = Usage(1, 2, 3, provider_data={"cost": 1, "runs": [1]}) + Usage(
        1, 1, 2, provider_data={"cost": 2, "runs": [2]}
    )
    assert total == Usage(2, 3, 5, provider_data={"cost": 2, "runs": [1, 2]})


# --- announced block ends -------------------------------------------------------------------------
def test_a_text_block_ends_when_the_plugin_says_so_not_at_the_next_block() -> None:
    acc = StreamAccumulator("p", "api-x")
    assert kinds(acc.feed(chunk(Delta(content="Hel")))) == ["text_start", "text_delta"]
    events = acc.feed(chunk(Delta(content="lo", block_end=True)))
    assert kinds(events) == ["text_delta", "text_end"]
    assert events[-1] == ev.TextEndEvent(0, "Hello")
    # the next text is a new block, and a tool call after it starts without another text end
    assert kinds(acc.feed(chunk(Delta(content="Again")))) == ["text_start", "text_delta"]
    acc.feed(chunk(Delta(block_end=True)))
    start = acc.feed(chunk(Delta(tool_calls=[ToolCallDelta(0, "t", "f", "{}")])))
    assert kinds(start) == ["tool_call_start", "tool_call_delta"]
    assert acc.response().text() == "HelloAgain"


def test_a_tool_call_ends_when_the_plugin_says_so_even_with_unfinished_json() -> None:
    acc = StreamAccumulator("p", "api-x")
    acc.feed(chunk(Delta(tool_calls=[ToolCallDelta(0, "t1", "f", '{"a": ')])))
    # the plugin knows the call is over (its JSON is broken): the end comes now, with raw text
    events = acc.feed(chunk(Delta(tool_calls=[ToolCallDelta(0, arguments="1", end=True)])))
    assert kinds(events) == ["tool_call_delta", "tool_call_end"]
    end = events[-1]
    assert isinstance(end, ev.ToolCallEndEvent)
    assert end.tool_call.raw_arguments == '{"a": 1'
    # the next call's arguments come after the first call's end, and the end is not repeated
    events = acc.feed(chunk(Delta(tool_calls=[ToolCallDelta(1, "t2", "g", '{"b": 2}')])))
    assert kinds(events) == ["tool_call_start", "tool_call_delta"]
    events = acc.feed(chunk(Delta(tool_calls=[ToolCallDelta(1, end=True)])))
    assert kinds(events) == ["tool_call_end"]
    assert kinds(acc.close_blocks()) == []
    calls = acc.response().tool_calls()
    assert [(c.id, c.arguments) for c in calls] == [("t1", {}), ("t2", {"b": 2})]


def test_block_end_on_a_delta_ends_an_open_tool_call_too() -> None:
    acc = StreamAccumulator("p", "api-x")
    acc.feed(chunk(Delta(tool_calls=[ToolCallDelta(0, "t1", "f", '{"a"')])))
    events = acc.feed(chunk(Delta(tool_calls=[ToolCallDelta(0, arguments=": 1}")], block_end=True)))
    assert kinds(events) == ["tool_call_delta", "tool_call_end"]


def test_fragments_after_an_announced_end_are_kept_without_events() -> None:
    acc = StreamAccumulator("p", "api-x")
    acc.feed(chunk(Delta(tool_calls=[ToolCallDelta(0, "t1", "f", '{"a": 1', end=True)])))
    assert acc.feed(chunk(Delta(tool_calls=[ToolCallDelta(0, arguments="}")]))) == []
    assert acc.response().tool_calls()[0].arguments == {"a": 1}


def test_a_thinking_block_ends_on_block_end_as_well() -> None:
    acc = StreamAccumulator("p", "api-x")
    events = acc.feed(chunk(Delta(reasoning="hm", reasoning_signature="sig", block_end=True)))
    assert kinds(events) == ["thinking_start", "thinking_delta", "thinking_end"]


# --- origins --------------------------------------------------------------------------------------
def test_the_accumulator_records_the_origin_of_the_answer() -> None:
    acc = StreamAccumulator("groq", "openai-chat", requested_model="asked")
    assert acc.response(stop_reason=llmcore.StopReason.ABORTED).message.origin == MessageOrigin(
        "groq", "openai-chat", "asked"
    )
    acc.feed(ChatCompletionChunk("r", "served-1", [ChunkChoice(0, Delta(content="x"))]))
    assert acc.response().message.origin == MessageOrigin("groq", "openai-chat", "served-1")
    assert StreamAccumulator().response().choices == ()
    unknown = StreamAccumulator()
    unknown.feed(chunk(Delta(content="x")))
    assert unknown.response().message.origin is None


def test_with_origin_fills_only_missing_origins() -> None:
    theirs = MessageOrigin("upstream", "other-api", "u-1")
    response = ChatCompletionResponse(
        "r",
        None,
        [
            Choice(0, Message.assistant("a")),
            Choice(1, Message(Role.ASSISTANT, "b", origin=theirs)),
        ],
    )
    stamped = with_origin(response, "p", "api-x", "asked")
    assert stamped.choices[0].message.origin == MessageOrigin("p", "api-x", "asked")
    assert stamped.choices[1].message.origin is theirs
    assert with_origin(stamped, "q", "api-y") is stamped


@pytest.fixture
def plugins() -> Plugins:
    return Plugins(load_entrypoints=False)


def test_calls_and_streams_return_messages_with_their_origin(plugins: Plugins) -> None:
    faux = register_faux_provider("origin", plugins=plugins, default="hi there")
    faux.add_reply(FauxReply(text="streamed"))
    client = Client("origin", plugins=plugins)
    request = ChatCompletionRequest("faux-1", [Message.user("q")])
    expected = MessageOrigin("origin", faux.api, "faux-1")
    assert client.chat_completion_stream(request).until_done().message.origin == expected
    assert client.chat_completion(request).message.origin == expected
    stream = client.chat_completion_stream(request)
    done = [e for e in stream.events() if isinstance(e, ev.DoneEvent)]
    assert done[0].message.origin == expected


def test_origin_must_be_a_message_origin() -> None:
    with pytest.raises(InvalidInputError, match="origin"):
        Message(Role.ASSISTANT, "x", origin=("openai", "openai-chat"))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="api"):
        MessageOrigin("openai", "")


# --- model listing across pages -------------------------------------------------------------------
class Pager:
    """``pages`` pages of two models, each pointing at the next by ``?page=n``."""

    LLMCORE_APIS = ("pager-api",)

    def __init__(self, pages: int | None) -> None:
        self.pages = pages  # None: always one more page

    @llmcore.hookimpl
    def build_list_models(self, provider: Provider) -> HttpRequest:
        return HttpRequest("GET", provider.url("models"), params={"page": "1"})

    @llmcore.hookimpl
    def parse_list_models(self, provider: Provider, response: HttpResponse) -> Any:
        page = response.json()["page"]
        models = [ModelInfo(f"m{page}a"), ModelInfo(f"m{page}b")]
        if self.pages is not None and page >= self.pages:
            return models  # a plain list is a last page
        nxt = HttpRequest("GET", provider.url("models"), params={"page": str(page + 1)})
        return ModelPage(models, nxt)


def _pager_client(plugins: Plugins, pages: int | None) -> Client:
    plugins.register(Pager(pages), name="pager")
    provider = Provider(
        name="pager", api="pager-api", base_url="https://pager.test/v1", key_required=False
    )

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        page = int(request.params["page"])
        return 200, {"content-type": "application/json"}, f'{{"page": {page}}}'

    responses.add_callback(responses.GET, "https://pager.test/v1/models", callback=answer)
    return Client(provider, plugins=plugins)


@responses.activate
def test_list_models_follows_the_pages_a_plugin_announces(plugins: Plugins) -> None:
    models = _pager_client(plugins, 3).list_models()
    assert [m.id for m in models] == ["m1a", "m1b", "m2a", "m2b", "m3a", "m3b"]
    assert len(responses.calls) == 3


@responses.activate
def test_list_models_stops_at_the_page_bound_with_a_warning(
    plugins: Plugins, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(llmcore.client, "MAX_MODEL_PAGES", 4)
    with caplog.at_level(logging.WARNING, logger="llmcore"):
        models = _pager_client(plugins, None).list_models()
    assert len(models) == 8 and len(responses.calls) == 4
    assert "4 pages" in caplog.text
    assert llmcore.client.MAX_MODEL_PAGES == 4 and attrs.has(ModelPage)


def test_a_model_page_holds_model_infos_and_an_http_request() -> None:
    with pytest.raises(InvalidInputError, match=r"models\[0\]"):
        ModelPage(["gpt-4o"])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="next_request"):
        ModelPage([], "https://next")  # type: ignore[arg-type]


def test_a_parse_list_models_result_of_the_wrong_type_is_malformed(plugins: Plugins) -> None:
    class Odd:
        LLMCORE_APIS = ("odd-api",)

        @llmcore.hookimpl
        def parse_list_models(self) -> Any:
            return {"data": []}

    plugins.register(Odd(), name="odd")
    provider = Provider(name="odd", api="odd-api", base_url="https://odd.test")
    with pytest.raises(MalformedResponseError, match="ModelPage"):
        plugins.parse_model_page(provider, HttpResponse(200, {}, b"{}"))


# --- URLs beside the base URL's prefix ------------------------------------------------------------
@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.example.com/v2", "https://api.example.com/v1/models"),
        ("https://api.example.com", "https://api.example.com/v1/models"),
        ("http://127.0.0.1:8080/api/v2/", "http://127.0.0.1:8080/v1/models"),
        ("https://u:p@api.example.com/v2?key=k", "https://api.example.com/v1/models"),
    ],
)
def test_origin_url_keeps_scheme_host_and_port_only(base_url: str, expected: str) -> None:
    provider = Provider(name="x", api="x-api", base_url=base_url)
    assert provider.origin_url("/v1/models") == expected
    assert provider.origin_url("v1/models") == expected


def test_url_still_joins_under_the_base_url() -> None:
    provider = Provider(name="x", api="x-api", base_url="https://gw.example/acme/v2")
    assert provider.url("chat") == "https://gw.example/acme/v2/chat"
    assert provider.origin_url("/v1/models") == "https://gw.example/v1/models"


# --- compat flags belong to the API ---------------------------------------------------------------
def test_the_core_compat_holds_only_what_the_core_reads() -> None:
    assert set(attrs.fields_dict(Compat)) == {
        "drop_foreign_thinking",
        "tool_call_id_max_length",
        "tool_call_id_min_length",
        "tool_call_id_chars",
        "extra",
    }
    with pytest.raises(TypeError):
        Compat(system_role="developer")  # type: ignore[call-arg]
    assert Compat().carries_reasoning() is False
    assert Compat(extra={"drop_foreign_thinking": True}).drops_foreign_thinking()
    with pytest.raises(InvalidInputError, match="tool_call_id_max_length"):
        Compat(tool_call_id_max_length=0)


def test_a_provider_compat_must_be_a_compat() -> None:
    with pytest.raises(InvalidInputError, match="compat"):
        Provider(
            name="x",
            api="x-api",
            base_url="https://x",
            compat={"system_role": "x"},  # type: ignore[arg-type]
        )
