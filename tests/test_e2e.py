"""End to end: `infill serve` over stdio, a fake OpenAI-compatible server over real HTTP."""

from __future__ import annotations

import asyncio

import pytest

from infill.harness import CANCELLED, LspError
from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply

URI = "file:///work/example.py"


def settings(fake: FakeLLM, **backend: object) -> dict[str, object]:
    return {"backend": {"kind": "openai", "url": fake.url, "template": "qwen", **backend}}


async def test_mid_line_ghost_text_is_the_first_line(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["name", ")", "\n", "    return"])
    client = await start_client(initialization_options=settings(fake, model="qwen2.5-coder"))
    client.open(URI, "def greet(name):\n    print()\n    return name\n")

    items = await client.inline_completion(URI, (1, 10))

    assert [item["insertText"] for item in items] == ["name"]
    cursor = {"line": 1, "character": 10}
    assert items[0]["range"] == {"start": cursor, "end": cursor}
    assert client.accept(URI, (1, 10), items[0]) == (
        "def greet(name):\n    print(name)\n    return name\n"
    )
    body = fake.requests[0].body
    assert fake.requests[0].path == "/v1/completions"
    assert body["stream"] is True
    assert body["model"] == "qwen2.5-coder"
    assert body["prompt"] == (
        "<|fim_prefix|>def greet(name):\n    print(<|fim_suffix|>)\n    return name\n<|fim_middle|>"
    )
    assert "<|endoftext|>" in body["stop"]


async def test_end_of_line_stops_reading_at_the_line_end(fake: FakeLLM, start_client: StartClient):
    # The fake never ends this stream: the suggestion can only come from the early stop.
    fake.default = Reply(chunks=["a + b", "\n    return total"], keep_open=True)
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, "def add(a, b):\n    total = \n")

    items = await client.inline_completion(URI, (1, 12))

    assert [item["insertText"] for item in items] == ["a + b"]
    await fake.wait_for_dropped(1)


async def test_multi_line_at_an_empty_block(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["if a > b:\n        return a\n", "    return b\n\n\n"])
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, "def largest(a, b):\n    \n")

    items = await client.inline_completion(URI, (1, 4))

    assert [item["insertText"] for item in items] == ["if a > b:\n        return a\n    return b"]


async def test_completion_fallback_for_clients_without_inline_completion(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=["m(values)\n"])
    client = await start_client(initialization_options=settings(fake), inline_completion=False)
    assert client.capabilities["inlineCompletionProvider"] is not None
    assert client.capabilities["completionProvider"] is not None
    client.open(URI, "def total(values):\n    return su\n")

    items = await client.completion(URI, (1, 13))

    assert len(items) == 1
    edit = items[0]["textEdit"]
    assert edit["newText"] == "sum(values)"
    assert edit["range"] == {
        "start": {"line": 1, "character": 11},
        "end": {"line": 1, "character": 13},
    }
    assert client.accept(URI, (1, 13), items[0]) == "def total(values):\n    return sum(values)\n"


async def test_inline_clients_are_not_offered_the_completion_fallback(
    fake: FakeLLM, start_client: StartClient
):
    client = await start_client(initialization_options=settings(fake))
    assert client.capabilities["inlineCompletionProvider"] is not None
    assert "completionProvider" not in client.capabilities
    assert client.capabilities["textDocumentSync"]["change"] == 2  # incremental


async def test_cancel_request_closes_the_backend_stream(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["par"], keep_open=True)
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, "value = \n")

    request_id, answer = client.start_inline_completion(URI, (0, 8))
    await fake.wait_for_requests(1)
    client.cancel(request_id)

    with pytest.raises(LspError) as error:
        await asyncio.wait_for(answer, 10)
    assert error.value.code == CANCELLED
    await fake.wait_for_dropped(1)


async def test_a_newer_request_for_the_document_cancels_the_older(
    fake: FakeLLM, start_client: StartClient
):
    fake.replies = [Reply(chunks=["par"], keep_open=True), Reply(chunks=["42\n"])]
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, "value = \n")

    _, first = client.start_inline_completion(URI, (0, 8))
    await fake.wait_for_requests(1)
    items = await client.inline_completion(URI, (0, 8))

    assert [item["insertText"] for item in items] == ["42"]
    with pytest.raises(LspError) as error:
        await asyncio.wait_for(first, 10)
    assert error.value.code == CANCELLED
    await fake.wait_for_dropped(1)


async def test_backend_error_gives_no_suggestion_and_the_server_keeps_serving(
    fake: FakeLLM, start_client: StartClient
):
    fake.replies = [Reply(status=500, error_body='{"error": "model crashed"}')]
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, "value = \n")

    assert await client.inline_completion(URI, (0, 8)) == []
    assert any("HTTP 500" in line and "model crashed" in line for line in client.stderr_lines)
    assert [item["insertText"] for item in await client.inline_completion(URI, (0, 8))] == ["42"]


async def test_backend_hanging_past_the_timeout_gives_no_suggestion(
    fake: FakeLLM, start_client: StartClient
):
    fake.replies = [Reply(stall_before_headers=30)]
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(initialization_options=settings(fake, timeout_ms=300))
    client.open(URI, "value = \n")

    assert await client.inline_completion(URI, (0, 8), timeout=10) == []
    await fake.wait_for_dropped(1)
    assert any("timed out" in line or "within 300 ms" in line for line in client.stderr_lines)
    assert [item["insertText"] for item in await client.inline_completion(URI, (0, 8))] == ["42"]


async def test_backend_unreachable_gives_no_suggestion(start_client: StartClient):
    client = await start_client(
        initialization_options={"backend": {"url": "http://127.0.0.1:9/v1", "timeout_ms": 2000}}
    )
    client.open(URI, "value = \n")
    assert await client.inline_completion(URI, (0, 8)) == []
    assert any(
        "cannot connect to 127.0.0.1:9: Connection refused" in line for line in client.stderr_lines
    ), client.stderr_lines[-5:]


async def test_requests_reuse_one_keep_alive_connection(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["42"])  # ends with [DONE]: each stream is read to its end
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, "value = \n")
    for line in range(3):
        # A new line each time: the same place again would be answered from the cache.
        client.type_text(URI, (line, 8), "\nvalue = ")
        items = await client.inline_completion(URI, (line + 1, 8))
        assert [item["insertText"] for item in items] == ["42"]
    assert len(fake.requests) == 3
    assert fake.connections == 1


async def test_a_connection_closed_before_any_answer_is_asked_again(
    fake: FakeLLM, start_client: StartClient
):
    # As a kept-alive connection the server closes just as it is reused: the request was
    # not read, so sending it again is safe.
    fake.replies = [Reply(hang_up=True)]
    fake.default = Reply(chunks=["42"])
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, "value = \n")
    assert [item["insertText"] for item in await client.inline_completion(URI, (0, 8))] == ["42"]
    assert len(fake.requests) == 2


async def test_the_proxy_the_environment_names_is_used(
    fake: FakeLLM, start_client: StartClient, env: dict[str, str]
):
    fake.default = Reply(chunks=["42"])
    env["HTTP_PROXY"] = fake.root  # the fake answers as the proxy would, for the far server
    client = await start_client(
        initialization_options={"backend": {"url": "http://completions.invalid/v1"}}
    )
    client.open(URI, "value = \n")
    assert [item["insertText"] for item in await client.inline_completion(URI, (0, 8))] == ["42"]
    assert [r.target for r in fake.requests] == ["http://completions.invalid/v1/completions"]


async def test_a_first_line_that_opens_a_block_gets_its_body(
    fake: FakeLLM, start_client: StartClient
):
    # `def reset` mid-statement asks for one line; the answer's "(self):" opens a block, so the
    # request becomes multi-line and the block is shown, up to where the model moves on.
    fake.default = Reply(
        chunks=["(self):\n", "        self.count = 0\n\n", "    def other(self):\n        pass\n"]
    )
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, "class Counter:\n    def reset\n")

    items = await client.inline_completion(URI, (1, 13))

    assert [item["insertText"] for item in items] == ["(self):\n        self.count = 0"]
