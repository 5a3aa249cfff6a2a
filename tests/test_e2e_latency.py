"""End to end: the latency engine — typeahead, the cache, requests in flight reused or aborted,
the debounce and what bypasses it, prefetch after an accept. Asserted by what the backend was
asked and what came back, through the real server and a fake backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

from infill.metrics import report
from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply

URI = "file:///work/latency.py"
DOC = "def area(width, height):\n    return \n"
CURSOR = (1, 11)


def settings(fake: FakeLLM, **completion: object) -> dict[str, object]:
    return {
        "backend": {"kind": "openai", "url": fake.url, "template": "qwen"},
        "completion": completion,
    }


def texts(items: list[dict[str, object]]) -> list[object]:
    return [item["insertText"] for item in items]


async def wait_until(condition, timeout: float = 10) -> None:
    """Poll a condition of the fake's state (the server works concurrently)."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - the fake's counters have no event to wait on
            await asyncio.sleep(0.01)


async def test_typing_what_is_shown_gets_the_rest_without_asking_the_model(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=["width * height"])
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, DOC)
    assert texts(await client.inline_completion(URI, CURSOR)) == ["width * height"]

    position = client.type_text(URI, CURSOR, "wid")
    assert texts(await client.inline_completion(URI, position)) == ["th * height"]
    position = client.type_text(URI, position, "th *")
    assert texts(await client.inline_completion(URI, position)) == [" height"]
    assert len(fake.requests) == 1


async def test_back_at_the_same_place_the_cache_answers(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["width * height"])
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, DOC)
    await client.inline_completion(URI, CURSOR)
    position = client.type_text(URI, CURSOR, "x")  # not what was shown: a new request
    fake.default = Reply(chunks=["x2"])
    assert texts(await client.inline_completion(URI, position)) == ["x2"]
    client.edit(URI, CURSOR, position, "")  # backspace

    assert texts(await client.inline_completion(URI, CURSOR)) == ["width * height"]
    assert len(fake.requests) == 2


async def test_a_request_in_flight_serves_the_keys_typed_meanwhile(
    fake: FakeLLM, start_client: StartClient
):
    gate = asyncio.Event()
    fake.default = Reply(chunks=["width * height"], hold=gate)
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, DOC)
    request_id, _ = client.start_inline_completion(URI, CURSOR)
    await wait_until(lambda: len(fake.requests) == 1)
    # The user types on; the editor drops its first request and asks again.
    position = client.type_text(URI, CURSOR, "wi")
    client.cancel(request_id)
    _, second = client.start_inline_completion(URI, position)
    gate.set()

    result = await asyncio.wait_for(second, 10)
    assert texts(result["items"]) == ["dth * height"]
    assert len(fake.requests) == 1  # the same request to the model served both
    assert fake.dropped_streams == 0


async def test_a_request_in_flight_is_aborted_once_the_document_leaves_it(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=["width"], keep_open=True)  # streams, then never ends
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, DOC)
    client.start_inline_completion(URI, CURSOR)
    await wait_until(lambda: len(fake.requests) == 1)

    client.type_text(URI, CURSOR, "h")  # the model is writing "width": not this

    await fake.wait_for_dropped(1)  # its HTTP stream was closed


async def test_typing_along_keeps_the_request_in_flight(fake: FakeLLM, start_client: StartClient):
    gate = asyncio.Event()
    fake.default = Reply(chunks=["width", " * height"], hold=gate)
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, DOC)
    client.start_inline_completion(URI, CURSOR)
    await wait_until(lambda: len(fake.requests) == 1)
    position = client.type_text(URI, CURSOR, "wid")
    gate.set()

    assert texts(await client.inline_completion(URI, position)) == ["th * height"]
    assert fake.dropped_streams == 0
    assert len(fake.requests) == 1


async def test_the_debounce_delays_requests_but_not_cache_hits_or_line_starts(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=["width * height"])
    # A debounce far longer than the waits below: what returns in time was not delayed.
    client = await start_client(initialization_options=settings(fake, debounce_ms=2000))
    client.open(URI, DOC + "\n")

    pending = asyncio.ensure_future(client.inline_completion(URI, CURSOR))
    await asyncio.sleep(0.3)
    assert not fake.requests  # mid-line: still waiting
    assert texts(await pending) == ["width * height"]

    position = client.type_text(URI, CURSOR, "w")
    hit = await asyncio.wait_for(client.inline_completion(URI, position), 1.0)
    assert texts(hit) == ["idth * height"]  # typeahead: no wait

    fake.default = Reply(chunks=["return 0"])
    line_start = await asyncio.wait_for(client.inline_completion(URI, (2, 0)), 1.0)
    assert texts(line_start) == ["return 0"]  # the start of a line: no wait
    assert len(fake.requests) == 2


async def test_after_an_accept_the_next_suggestion_is_ready(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=["width * height"])
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, DOC + "\n\ndef perimeter(width, height):\n")
    items = await client.inline_completion(URI, CURSOR)
    fake.default = Reply(chunks=["  # the area"])

    client.accept(URI, CURSOR, items[0])  # runs the item's command, as editors do
    await wait_until(lambda: len(fake.requests) == 2)  # asked before the editor asks

    after = (1, 11 + len("width * height"))
    assert texts(await client.inline_completion(URI, after)) == ["  # the area"]
    assert len(fake.requests) == 2


async def test_the_session_is_counted_in_local_metrics(
    fake: FakeLLM, start_client: StartClient, env: dict[str, str]
):
    fake.default = Reply(chunks=["width * height"])
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, DOC)
    items = await client.inline_completion(URI, CURSOR)  # the model
    position = client.type_text(URI, CURSOR, "wi")
    items = await client.inline_completion(URI, position)  # typeahead
    client.accept(URI, position, items[0])
    await wait_until(lambda: len(fake.requests) == 2)  # the prefetch after the accept
    await client.shutdown()  # writes what is pending

    numbers = report(Path(env["XDG_STATE_HOME"]) / "infill" / "metrics.sqlite3")
    assert numbers["requests"] == 2
    assert numbers["sources"]["backend"] == 1
    assert numbers["sources"]["typeahead"] == 1
    assert numbers["keystrokes"] == 2  # the typing and the accept
    assert numbers["backend_requests"] == 2
    assert numbers["accepted_whole"] == 1
    assert numbers["accepted_partly"] == 1
