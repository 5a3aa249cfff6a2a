"""Bad input gets an error response or no suggestion, and the server keeps serving."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from infill.context.cursor import normalize_newlines
from infill.harness import LspError, serve_command
from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply

URI = "file:///work/robust.py"


def span(start: tuple[int, int], end: tuple[int, int]) -> dict[str, dict[str, int]]:
    return {
        "start": {"line": start[0], "character": start[1]},
        "end": {"line": end[0], "character": end[1]},
    }


async def still_serving(client, fake: FakeLLM) -> None:
    items = await client.inline_completion(URI, (0, 9))
    assert [item["insertText"] for item in items] == ["42"]


@pytest.fixture
async def client(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(initialization_options={"backend": {"url": fake.url}})
    client.open(URI, "answer = \n")
    return client


async def test_negative_position_is_an_error_response(client, fake: FakeLLM):
    with pytest.raises(LspError):
        await client.inline_completion(URI, (-1, 3))
    await still_serving(client, fake)


async def test_malformed_params_are_an_error_response(client, fake: FakeLLM):
    with pytest.raises(LspError):
        await client.request("textDocument/inlineCompletion", {"textDocument": {"uri": URI}})
    with pytest.raises(LspError):
        await client.request("textDocument/inlineCompletion", [1, 2, 3])
    await still_serving(client, fake)


async def test_unknown_method_is_method_not_found(client, fake: FakeLLM):
    with pytest.raises(LspError) as error:
        await client.request("infill/noSuchThing", {})
    assert error.value.code == -32601
    await still_serving(client, fake)


async def test_edit_that_cannot_apply_leaves_the_document_as_it_was(client, fake: FakeLLM):
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": 2},
            "contentChanges": [
                {
                    "range": {
                        "start": {"line": 0, "character": 5},
                        "end": {"line": 0, "character": 1},
                    },
                    "text": "garbage",
                }
            ],
        },
    )
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": "file:///never/opened.py", "version": 2}, "contentChanges": []},
    )
    await still_serving(client, fake)
    assert fake.requests[-1].body["prompt"] == (
        "<|fim_prefix|>answer = <|fim_suffix|>\n<|fim_middle|>"
    )


async def test_malformed_explain_is_an_error_response(client, fake: FakeLLM):
    with pytest.raises(LspError) as error:
        await client.request("infill/explain", {"textDocument": {"uri": URI}})
    assert error.value.code == -32602
    assert (await client.explain(URI, (0, 9)))["mode"] == "single-line"


async def test_an_endless_header_line_is_skipped(client, fake: FakeLLM):
    assert client._out is not None
    client._out.write(b"X-Junk: " + b"j" * 200_000 + b"\r\n")
    await still_serving(client, fake)


def test_stdin_from_a_regular_file_is_read_too(tmp_path, env: dict[str, str]):
    """Pipes are read by the event loop; a file (`infill serve < requests`) the other way."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}},
        {"jsonrpc": "2.0", "id": 2, "method": "shutdown"},
        {"jsonrpc": "2.0", "method": "exit"},
    ]
    requests = tmp_path / "requests"
    requests.write_bytes(
        b"".join(
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            for body in (json.dumps(m).encode() for m in messages)
        )
    )
    with requests.open("rb") as stdin:
        done = subprocess.run(
            serve_command(), stdin=stdin, capture_output=True, env=env, timeout=60
        )
    assert done.returncode == 0, done.stderr.decode()
    bodies = re.split(rb"Content-Length: \d+\r\n(?:[^\r\n]+\r\n)*\r\n", done.stdout)[1:]
    answers = [json.loads(body) for body in bodies]
    assert [a["id"] for a in answers] == [1, 2]
    assert "capabilities" in answers[0]["result"]


async def test_a_change_list_with_one_bad_change_is_refused_whole(client, fake: FakeLLM):
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": 2},
            "contentChanges": [
                {"range": span((0, 0), (0, 0)), "text": "good = 1\n"},
                {"range": span((0, 5), (0, 1)), "text": "bad"},  # ends before it starts
            ],
        },
    )
    await still_serving(client, fake)
    assert (
        fake.requests[-1].body["prompt"] == "<|fim_prefix|>answer = <|fim_suffix|>\n<|fim_middle|>"
    )


async def test_a_ten_megabyte_document(client, fake: FakeLLM):
    uri = "file:///work/huge.py"
    line = "value_%07d = compute(value, 'some text to make the line longer')\n"
    text = "".join(line % n for n in range(10_000_000 // len(line % 0) + 1)) + "total = "
    assert len(text) > 10_000_000
    client.open(uri, text)
    last = text.count("\n")
    client.edit(uri, (last, 8), (last, 8), "sum(")
    client.edit(uri, (3, 0), (3, 0), "# an edit far from the cursor\n")
    items = await client.inline_completion(uri, (last + 1, 12))
    assert [item["insertText"] for item in items] == ["42"]
    # The prompt ends at the cursor and is cut to its budget, not sent whole.
    prompt = fake.requests[-1].body["prompt"]
    assert prompt.endswith("\ntotal = sum(<|fim_suffix|><|fim_middle|>")
    assert len(prompt) < 20_000
    await still_serving(client, fake)


async def test_binary_content_is_held_and_sent_as_it_is(client, fake: FakeLLM):
    uri = "file:///work/blob.py"
    noise = bytes(range(256)).decode("latin-1") * 4  # NUL, control characters, lone CRs
    client.open(uri, noise + "\nanswer = ")
    client.edit(uri, (0, 3), (0, 300), "\x00\x01\x02")
    text = client.documents[uri].text
    items = await client.inline_completion(uri, client.documents[uri].position_at(len(text)))
    assert [item["insertText"] for item in items] == ["42"]
    prompt = fake.requests[-1].body["prompt"]
    assert prompt.endswith(f"{normalize_newlines(text)}<|fim_suffix|><|fim_middle|>")
    await still_serving(client, fake)
