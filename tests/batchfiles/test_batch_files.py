"""llmcore.batch: OpenAI batch JSONL in, OpenAI batch output lines out, resumable (127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import openai.types.chat
import pytest
from batchfile_support import CHAT_PATH, completion, openai_line, read_results, write_lines
from loopback import LoopbackServer, Reply

from llmcore import (
    ChatCompletionRequest,
    Client,
    ConnectionOptions,
    ImagePart,
    InvalidInputError,
    Message,
    Role,
    serde,
)
from llmcore.batch import (
    BatchFileError,
    BatchProgress,
    read_input,
    read_output,
    request_from_openai,
    run_file,
)
from llmcore_openai import openai_compatible

NO_RETRY = ConnectionOptions(max_retries=0)


@pytest.fixture
def client(loopback_server: LoopbackServer) -> Client:
    return Client(openai_compatible(loopback_server.base_url + "/v1"), options=NO_RETRY)


# --- the OpenAI request body ----------------------------------------------------------------------
def test_an_openai_body_becomes_a_request_with_messages_tools_and_options() -> None:
    body = {
        "model": "gpt-x",
        "messages": [
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "look", "arguments": '{"q": "cat"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "look",
                    "description": "look it up",
                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "look"}},
        "temperature": 0.2,
        "max_completion_tokens": 64,
        "stop": ["\n\n"],
        "seed": 7,
        "stream": True,
        "logit_bias": {"50256": -100},
    }
    request = request_from_openai(body)
    assert request.model == "gpt-x"
    roles = [m.role for m in request.messages]
    assert roles == [Role.DEVELOPER, Role.USER, Role.ASSISTANT, Role.TOOL]
    image = request.messages[1].content.parts[1]
    assert isinstance(image, ImagePart)
    assert (image.mime_type, image.data) == ("image/png", "iVBORw0K")
    call = request.messages[2].tool_calls[0]
    assert (call.id, call.name, call.arguments) == ("call_1", "look", {"q": "cat"})
    assert request.messages[3].tool_call_id == "call_1"
    assert request.tools is not None and request.tools[0].name == "look"
    assert request.tool_choice is not None and request.tool_choice.name == "look"
    assert (request.temperature, request.max_tokens, request.stop, request.seed) == (
        0.2,
        64,
        ("\n\n",),
        7,
    )
    assert request.extra == {"logit_bias": {"50256": -100}}  # "stream" is dropped


def test_a_bad_body_names_the_field() -> None:
    with pytest.raises(InvalidInputError, match=r"messages\[0\].content"):
        request_from_openai({"model": "m", "messages": [{"role": "user", "content": 5}]})
    messages = [{"role": "user", "content": "x"}, {"role": "bogus", "content": "x"}]
    with pytest.raises(InvalidInputError, match=r"^messages\[1\].role: unknown role"):
        request_from_openai({"model": "m", "messages": messages})
    with pytest.raises(InvalidInputError, match=r"^model: "):
        request_from_openai({"messages": messages[:1]})
    assert request_from_openai({"messages": messages[:1]}, model="given").model == "given"


# --- reading the input ----------------------------------------------------------------------------
def test_duplicate_custom_ids_are_an_error_naming_the_lines(
    tmp_path: Path, client: Client, loopback_server: LoopbackServer
) -> None:
    lines = [openai_line("a"), openai_line("b"), openai_line("a"), openai_line("c")]
    lines.append(openai_line("b"))
    source = write_lines(tmp_path / "in.jsonl", lines)
    with pytest.raises(BatchFileError, match=r"'a' on lines 1, 3; 'b' on lines 2, 5") as info:
        run_file(source, tmp_path / "out.jsonl", client=client)
    assert info.value.lines == (1, 2, 3, 5)
    assert not (tmp_path / "out.jsonl").exists()
    assert loopback_server.requests == []


def test_a_line_without_custom_id_or_not_json_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps(openai_line("a")) + "\n{not json\n")
    with pytest.raises(BatchFileError, match="line 2 is not JSON"):
        read_input(tmp_path / "a.jsonl")
    (tmp_path / "b.jsonl").write_text('\n{"body": {}}\n')
    with pytest.raises(BatchFileError, match="line 2 has no string custom_id"):
        read_input(tmp_path / "b.jsonl")


# --- running ----------------------------------------------------------------------------------
def test_every_line_gets_one_openai_batch_output_line(
    tmp_path: Path, client: Client, loopback_server: LoopbackServer
) -> None:
    loopback_server.add("POST", CHAT_PATH, Reply.json(completion("answer")))
    source = write_lines(tmp_path / "in.jsonl", [openai_line(f"q{i}", f"p{i}") for i in range(30)])
    seen: list[BatchProgress] = []
    summary = run_file(
        source, tmp_path / "out.jsonl", client=client, concurrency=4, progress=seen.append
    )
    assert (summary.done, summary.failed, summary.skipped, summary.total) == (30, 0, 0, 30)
    results = read_results(tmp_path / "out.jsonl")
    assert sorted(r["custom_id"] for r in results) == sorted(f"q{i}" for i in range(30))
    assert len({r["id"] for r in results}) == 30
    for result in results:
        assert result["id"].startswith("batch_req_")
        assert result["error"] is None
        assert result["response"]["status_code"] == 200
        body = openai.types.chat.ChatCompletion.model_validate(result["response"]["body"])
        assert body.choices[0].message.content == "answer"
    prompts = sorted(r.json()["messages"][0]["content"] for r in loopback_server.requests)
    assert prompts == sorted(f"p{i}" for i in range(30))
    assert seen[0].finished == 0 and seen[-1].finished == 30 and seen[-1].total == 30


def test_failures_are_error_lines_with_code_and_message(
    tmp_path: Path, client: Client, loopback_server: LoopbackServer
) -> None:
    bad = Reply.json({"error": {"message": "no such thing", "code": "bad_thing"}}, status=400)
    loopback_server.add("POST", CHAT_PATH, bad, bad, bad, Reply.json(completion()))
    lines = [openai_line(f"q{i}") for i in range(10)]
    lines.append({"custom_id": "broken", "body": {"model": "m", "messages": "nope"}})
    lines.append({"custom_id": "embeddings", "url": "/v1/embeddings", "body": {"input": "x"}})
    source = write_lines(tmp_path / "in.jsonl", lines)
    summary = run_file(source, tmp_path / "out.jsonl", client=client, concurrency=1)
    assert (summary.done, summary.failed) == (7, 5)
    results = {r["custom_id"]: r for r in read_results(tmp_path / "out.jsonl")}
    assert len(results) == 12
    failed = [r for r in results.values() if r["error"] is not None]
    assert len(failed) == 5
    http_failures = [r for r in failed if r["response"] is not None]
    assert len(http_failures) == 3
    for r in http_failures:
        assert r["response"]["status_code"] == 400
        assert r["error"]["code"] == "bad_thing"
        assert "no such thing" in r["error"]["message"]
    assert results["broken"]["response"] is None
    assert "messages" in results["broken"]["error"]["message"]
    assert "/v1/embeddings" in results["embeddings"]["error"]["message"]
    assert len(loopback_server.requests) == 10  # the two bad lines were never sent


def test_llmcore_request_json_lines_and_model_override(
    tmp_path: Path, client: Client, loopback_server: LoopbackServer
) -> None:
    loopback_server.add("POST", CHAT_PATH, Reply.json(completion()))
    request = ChatCompletionRequest("ignored", [Message.user("from serde")], max_tokens=5)
    lines = [{"custom_id": "own", "request": serde.to_dict(request)}, openai_line("oa")]
    source = write_lines(tmp_path / "in.jsonl", lines)
    summary = run_file(source, tmp_path / "out.jsonl", client=client, model="override-model")
    assert (summary.done, summary.failed) == (2, 0)
    sent = sorted(
        (r.json()["model"], r.json()["messages"][0]["content"]) for r in loopback_server.requests
    )
    assert sent == [("override-model", "from serde"), ("override-model", "hi")]


def test_a_rerun_skips_finished_ids_and_redoes_a_torn_last_line(
    tmp_path: Path, client: Client, loopback_server: LoopbackServer
) -> None:
    loopback_server.add("POST", CHAT_PATH, Reply.json(completion()))
    source = write_lines(tmp_path / "in.jsonl", [openai_line(f"q{i}", f"p{i}") for i in range(10)])
    out = tmp_path / "out.jsonl"
    run_file(source, out, client=client)
    kept = out.read_bytes().splitlines(keepends=True)[:4]
    torn = out.read_bytes().splitlines(keepends=True)[4][:25]  # a write cut off mid-line
    out.write_bytes(b"".join(kept) + torn)
    loopback_server.reset()
    loopback_server.add("POST", CHAT_PATH, Reply.json(completion()))
    summary = run_file(source, out, client=client)
    assert (summary.done, summary.failed, summary.skipped) == (6, 0, 4)
    results = read_results(out)
    assert sorted(r["custom_id"] for r in results) == sorted(f"q{i}" for i in range(10))
    assert len(loopback_server.requests) == 6
    again = run_file(source, out, client=client)
    assert (again.done, again.failed, again.skipped) == (0, 0, 10)
    assert len(loopback_server.requests) == 6
    assert len(read_results(out)) == 10


def test_read_output_leaves_a_torn_line_alone_unless_repairing(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"custom_id": "a"}\n{"custom_id": "b", "resp')
    assert list(read_output(out)) == ["a"]
    assert out.read_bytes().endswith(b'"resp')
    assert list(read_output(out, repair=True)) == ["a"]
    assert out.read_bytes() == b'{"custom_id": "a"}\n'


def test_a_corrupt_complete_output_line_is_an_error(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"custom_id": "a"}\ngarbage\n{"custom_id": "b"}\n')
    with pytest.raises(BatchFileError, match="output line 2 is not JSON") as info:
        read_output(out)
    assert info.value.lines == (2,)
