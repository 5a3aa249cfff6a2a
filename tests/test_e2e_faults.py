"""Backend faults over real HTTP and TCP, one after another while the user types: no partial text
is ever shown, the user is told once (not once per keystroke) and once more when the backend
answers again, and suggestions come back by themselves.

Each case: requests while the backend is broken (all without a suggestion; the circuit breaker
opens and says so once), then the backend heals and the requests go on until a suggestion comes
(a bounded number of tries, a generous limit rather than a measured time)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from infill.harness import LspClient
from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply

URI = "file:///work/faults.py"
TEXT = "def answer():\n    value = \n"
CURSOR = (1, 12)
HEALTHY = Reply(chunks=["42\n"])
BROKEN_REQUESTS = 6  # more than the breaker's three failures
RECOVERY_TRIES = 150  # × 0.2 s: a limit for a server that never recovers, not a timing goal


def down(message: dict[str, str]) -> bool:
    return "backend unavailable" in message["message"]


def back(message: dict[str, str]) -> bool:
    return "answers again" in message["message"]


async def suggestions(client: LspClient, line: int) -> list[str]:
    """Type a new line and ask there (the same place twice would be answered from a cache)."""
    client.type_text(URI, (line, 12), f"\n    value{line} = ")
    items = await client.inline_completion(URI, (line + 1, 13 + len(str(line))), timeout=60)
    return [item["insertText"] for item in items]


async def break_and_heal(
    client: LspClient, heal: Callable[[], Awaitable[None]], automatic: bool = True
) -> None:
    client.open(URI, TEXT)
    for line in range(1, 1 + BROKEN_REQUESTS):
        assert await suggestions(client, line) == []  # nothing, not a piece of an answer
    assert len([m for m in client.messages if down(m)]) == 1, client.messages
    status = await client.wait_for_notification("infill/status")
    assert status["state"] == "backend-error" and status["message"]

    await heal()
    line = 1 + BROKEN_REQUESTS
    for _ in range(RECOVERY_TRIES):
        found = await suggestions(client, line)
        line += 1
        if found:
            break
        await asyncio.sleep(0.2)
    assert found == ["42"]
    assert len([m for m in client.messages if down(m)]) == 1
    if automatic:  # the same backend came back (not another one configured)
        assert len([m for m in client.messages if back(m)]) == 1
        await client.wait_for_notification("infill/status", lambda p: p["state"] == "ready")


def settings(url: str, kind: str = "openai") -> dict[str, object]:
    return {
        "backend": {"kind": kind, "url": url, "timeout_ms": 1000},
        "completion": {"debounce_ms": 0},
    }


# -- the backend's HTTP answers ------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    reply: Reply
    kind: str = "openai"
    logged: tuple[str, ...] = ()  # in the server's log, one of these: the reason is clear


TIMED_OUT = ("no first token within", "timed out", "stalled")
FAULTS = {
    "http-500": Fault(
        Reply(status=500, error_body='{"error": "model crashed"}'), logged=("HTTP 500",)
    ),
    # The read timeout and the whole request's come at the same time: either may say it.
    "stall-before-first-byte": Fault(Reply(stall_before_headers=60), logged=TIMED_OUT),
    "stall-mid-stream": Fault(Reply(chunks=["4"], keep_open=True), logged=TIMED_OUT),
    "reset-mid-stream": Fault(Reply(chunks=["4"], abort=True), logged=("broke",)),
    "malformed-sse": Fault(
        Reply(chunks=["4"], raw_events=["data: {not json\n\n"]), logged=("malformed event",)
    ),
    "malformed-ndjson": Fault(
        Reply(chunks=["4"], raw_events=['{"response": 4']), "ollama", ("malformed event",)
    ),
    "event-over-a-megabyte": Fault(Reply(chunks=["x" * 2_000_000]), logged=("oversized",)),
}


@pytest.mark.parametrize("name", FAULTS)
async def test_a_broken_answer_is_never_shown_reported_once_and_recovered_from(
    name: str, fake: FakeLLM, start_client: StartClient
):
    fault = FAULTS[name]
    fake.default = fault.reply
    url = fake.root if fault.kind == "ollama" else fake.url
    client = await start_client(initialization_options=settings(url, fault.kind))

    async def heal() -> None:
        fake.default = HEALTHY

    await break_and_heal(client, heal)
    log = "\n".join(client.stderr_lines)
    assert any(reason in log for reason in fault.logged), client.stderr_lines[-8:]


# A model on a CPU at 10 tokens per second: two lines, then one that never ends.
SLOW = Reply(chunks=["value = 1\n", "    total = 2\n", *["x"] * 100_000], delay=0.1)


async def test_a_slow_stream_shows_its_complete_lines_and_never_trips_the_breaker(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = SLOW
    options = settings(fake.url)
    options["backend"] = {**options["backend"], "answer_ms": 1000}  # type: ignore[dict-item]
    client = await start_client(initialization_options=options)
    client.open(URI, "def answer():\n    \n")
    for step in range(BROKEN_REQUESTS):
        line = 1 + 2 * step  # the cursor's, at the end of the last line typed
        client.type_text(URI, (line, 4), f"\n    # step {step}\n    ")
        items = await client.inline_completion(URI, (line + 2, 4), timeout=60)
        # Cut at the answer's deadline: the lines it completed, not the one it was writing.
        texts = [item["insertText"] for item in items]
        assert texts and texts[0].startswith("value = 1") and "total = 2" in texts[0], texts
        assert "x" not in texts[0]
    assert not [m for m in client.messages if down(m)], client.messages
    assert not [line for line in client.stderr_lines if "no first token" in line]


async def test_an_answer_longer_than_max_tokens_allows_is_an_error_and_not_shown(
    fake: FakeLLM, start_client: StartClient
):
    # Short lines in the function's body, never ending it: only the answer's length tells that
    # the server ignores max_tokens (one long line would be cut as a rambling one first).
    fake.default = Reply(chunks=["x = 1\n    "] * 100_000)
    client = await start_client(initialization_options=settings(fake.url))
    client.open(URI, "def answer():\n    \n")
    assert await client.inline_completion(URI, (1, 4), timeout=60) == []
    assert any("ignores max_tokens" in line for line in client.stderr_lines), client.stderr_lines


@pytest.mark.parametrize("kind", ["llamacpp", "openai"])
async def test_a_server_reading_a_long_prompt_is_waited_for_and_not_counted_dead(
    kind: str, fake: FakeLLM, start_client: StartClient
):
    # llama-server on a CPU, 1.5 s reading the prompt and saying so every 0.75 s (a batch
    # read), against a first-token deadline and a read timeout of 0.5 s (the openai kind
    # learns it is llama-server from /models).
    fake.owned_by = "llamacpp"
    fake.default = Reply(chunks=["42\n"], reading=1.5, progress_every=0.75)
    options = settings(fake.root if kind == "llamacpp" else fake.url, kind)
    options["backend"] = {**options["backend"], "timeout_ms": 500}  # type: ignore[dict-item]
    client = await start_client(initialization_options=options)
    client.open(URI, TEXT)
    items = await client.inline_completion(URI, CURSOR, timeout=30)
    assert [item["insertText"] for item in items] == ["42"]
    posted = [request for request in fake.requests if request.method == "POST"]
    assert posted[-1].body["return_progress"] is True
    # Without the server's word, the same silence is a dead server's.
    fake.default = Reply(chunks=["42\n"], ttft=1.5)
    client.type_text(URI, CURSOR, " ")
    assert await client.inline_completion(URI, (CURSOR[0], CURSOR[1] + 1), timeout=30) == []
    assert any("no first token within 500 ms" in line for line in client.stderr_lines)
    assert not [m for m in client.messages if down(m)], client.messages


async def test_429_waits_as_long_as_retry_after_says(fake: FakeLLM, start_client: StartClient):
    """Three 429s, then answers: a Retry-After longer than the request's timeout is not slept
    through (the next keystroke's request would go sooner than asked); the circuit breaker
    keeps the backend paused at least that long."""
    fake.replies = [Reply(status=429, headers={"Retry-After": "1"}, error_body="slow down")] * 3
    fake.default = HEALTHY
    client = await start_client(initialization_options=settings(fake.url))

    async def heal() -> None:  # it heals by itself, after its third 429
        pass

    await break_and_heal(client, heal)
    # Each request after a 429 came no sooner than the server asked (less the event loop's
    # timer resolution): a lower bound the server keeps, not a measured speed.
    refused = [r for r in fake.requests if r.reply is not None and r.reply.status == 429]
    after = fake.requests[1 : len(refused) + 1]
    assert len(refused) == 3 and len(after) == len(refused)
    assert all(b.arrived - a.arrived >= 0.95 for a, b in zip(refused, after, strict=True))


# -- the network ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_connection_refused_until_the_server_starts(start_client: StartClient):
    port = free_port()  # nothing listens there, until `heal`
    client = await start_client(initialization_options=settings(f"http://127.0.0.1:{port}/v1"))
    healed = FakeLLM()
    healed.default = HEALTHY

    async def heal() -> None:
        await healed.start(port)

    try:
        await break_and_heal(client, heal)
    finally:
        await healed.stop()
    refused = f"cannot connect to 127.0.0.1:{port}: Connection refused"
    assert any(refused in line for line in client.stderr_lines), client.stderr_lines[-5:]


async def test_a_backend_dead_at_start_is_reported_before_any_request(
    start_client: StartClient,
):
    # The start-up check (the request that opens the backend's connection) is refused: the
    # editor's status bar says so at once, not after the first requests have failed too.
    port = free_port()
    client = await start_client(initialization_options=settings(f"http://127.0.0.1:{port}/v1"))

    status = await client.wait_for_notification("infill/status")
    assert status["state"] == "backend-error"
    assert "Connection refused" in status["message"], status
    assert len([m for m in client.messages if down(m)]) == 1


@pytest.fixture
async def plain_tcp() -> AsyncIterator[int]:
    """A port that answers a TLS handshake with plain HTTP (a server without TLS)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


@pytest.mark.parametrize("broken", ["dns", "tls"])
async def test_a_host_that_cannot_be_reached_is_reported_once(
    broken: str, plain_tcp: int, fake: FakeLLM, start_client: StartClient
):
    urls = {
        "dns": "http://infill-backend.invalid/v1",  # .invalid never resolves (RFC 2606)
        "tls": f"https://127.0.0.1:{plain_tcp}/v1",
    }
    fake.default = HEALTHY
    client = await start_client(initialization_options=settings(urls[broken]))

    async def heal() -> None:  # the user points infill at a working server
        client.notify(
            "workspace/didChangeConfiguration", {"settings": {"infill": settings(fake.url)}}
        )

    await break_and_heal(client, heal, automatic=False)
    logged = {
        "dns": "DNS lookup of infill-backend.invalid failed",
        # The port answers the handshake in plain HTTP, which OpenSSL reads as a bad record.
        "tls": f"TLS handshake with 127.0.0.1:{plain_tcp} failed: [SSL",
    }[broken]
    assert any(logged in line for line in client.stderr_lines), client.stderr_lines[-5:]
