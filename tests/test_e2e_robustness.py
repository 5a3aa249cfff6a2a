"""Bad input gets an error response or no suggestion, and the server keeps serving."""

from __future__ import annotations

import pytest

from infill.harness import LspError
from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply

URI = "file:///work/robust.py"


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
