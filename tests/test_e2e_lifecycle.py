"""The end of a session, every way it comes: shutdown and exit, exit alone, the editor dying
(stdin closed), a signal. The server goes, lets go of the backend's connections and writes the
metrics it has queued. Timeouts are generous limits, not measurements."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from infill.harness import LspClient, LspError
from infill.metrics import report
from tests.fake_llm import FakeLLM, Reply

URI = "file:///work/lifecycle.py"
EXIT_WITHIN = 30  # seconds: a limit for a hung process, not a timing goal


async def session(env: dict[str, str], fake: FakeLLM) -> LspClient:
    """A server that has counted 5 keystrokes and 2 requests, with a connection to the backend."""
    # No line end: each answer is read to its end, and its connection kept for the next.
    fake.default = Reply(chunks=["42"])
    client = await LspClient.start(env=env)
    await client.initialize(initialization_options={"backend": {"url": fake.url}})
    client.open(URI, "value = \n")
    position = (0, 8)
    for ch in "1 +":
        position = client.type_text(URI, position, ch)
    client.type_text(URI, position, " ")
    await client.inline_completion(URI, (0, 12))
    client.type_text(URI, (0, 12), "\nother = ")
    await client.inline_completion(URI, (1, 8))
    assert fake.open_connections >= 1
    return client


async def gone(client: LspClient) -> int:
    returncode = await asyncio.wait_for(client.process.wait(), EXIT_WITHIN)
    await asyncio.wait_for(client._reader, EXIT_WITHIN)
    return returncode


async def connections_closed(fake: FakeLLM) -> None:
    for _ in range(EXIT_WITHIN * 20):
        if fake.open_connections == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{fake.open_connections} backend connections still open")


def metrics_of(env: dict[str, str]) -> dict[str, int]:
    numbers = report(Path(env["XDG_STATE_HOME"]) / "infill" / "metrics.sqlite3")
    return {"keystrokes": numbers["keystrokes"], "requests": numbers["requests"]}


async def shutdown_and_exit(client: LspClient) -> None:
    assert await client.request("shutdown", None) is None
    with pytest.raises(LspError) as error:  # LSP: requests after shutdown are errors
        await client.inline_completion(URI, (1, 8))
    assert error.value.code == -32600
    client.notify("exit", None)


async def exit_alone(client: LspClient) -> None:
    client.notify("exit", None)


async def stdin_closed(client: LspClient) -> None:
    assert client.process.stdin is not None
    client.process.stdin.close()


async def sigterm(client: LspClient) -> None:
    client.process.send_signal(signal.SIGTERM)


async def sighup(client: LspClient) -> None:
    client.process.send_signal(signal.SIGHUP)


ENDINGS: list[tuple[Callable[[LspClient], Awaitable[None]], int]] = [
    (shutdown_and_exit, 0),
    (exit_alone, 1),  # LSP: exit without shutdown exits with 1
    (stdin_closed, 0),
    (sigterm, 0),
    (sighup, 0),
]


@pytest.mark.parametrize(("end", "returncode"), ENDINGS, ids=[e.__name__ for e, _ in ENDINGS])
async def test_the_server_goes_closes_its_connections_and_writes_its_metrics(
    end: Callable[[LspClient], Awaitable[None]],
    returncode: int,
    env: dict[str, str],
    fake: FakeLLM,
):
    client = await session(env, fake)
    await end(client)
    assert await gone(client) == returncode
    await connections_closed(fake)
    assert metrics_of(env) == {"keystrokes": 5, "requests": 2}
    assert not any("Traceback" in line for line in client.stderr_lines), client.stderr_lines


async def test_a_signal_in_the_middle_of_a_request(env: dict[str, str], fake: FakeLLM):
    client = await session(env, fake)
    fake.default = Reply(chunks=["4"], keep_open=True)  # a stream that never ends
    client.type_text(URI, (1, 8), "x + ")
    asked = len(fake.requests) + 1
    _, answer = client.start_inline_completion(URI, (1, 12))
    await fake.wait_for_requests(asked)  # the stream is open
    client.process.send_signal(signal.SIGTERM)
    assert await gone(client) == 0
    try:
        result = await answer
    except ConnectionError:  # the process went before its answer
        result = None
    assert result is None  # no suggestion, and no error
    await connections_closed(fake)
    assert metrics_of(env)["keystrokes"] == 6


async def test_the_answer_to_shutdown_comes_before_the_exit(env: dict[str, str], fake: FakeLLM):
    """A client that sends exit right behind shutdown, without waiting, still gets its answer."""
    client = await session(env, fake)
    _, answered = client.send_request("shutdown", None)
    client.notify("exit", None)
    assert await asyncio.wait_for(answered, EXIT_WITHIN) is None
    assert await gone(client) == 0
