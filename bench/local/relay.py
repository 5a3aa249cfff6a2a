"""A recording relay in front of llama-server: every request a client sends passes through it
unchanged (but for the fields the benchmark adds), and is kept with its timing and, where the
answer carries them, the server's timings.

One request per connection: the relay asks llama-server to close after its answer and passes
its `Connection: close` on, so every exchange is a whole, ordered record. A client that closes
its connection (a cancelled completion) closes the relay's connection to llama-server too, which
is how llama-server learns of the cancellation without the relay.

It runs its own event loop in a thread, so a synchronous driver (Neovim over msgpack-RPC) can
block its own thread without holding the relay up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# The completion endpoints whose bodies are recorded (and replayed).
COMPLETION_PATHS = ("/infill", "/completion", "/completions", "/v1/completions")
READ_CHUNK = 65536


@dataclass
class Exchange:
    """One request through the relay, on the benchmark's clock (time.perf_counter)."""

    method: str
    path: str
    body: Any  # the JSON the client sent (None for no body)
    arrived: float
    first_data: float | None = None  # the first byte of the answer's body
    first_event: float | None = None  # the first SSE `data:` event with a token, of a stream
    ended: float | None = None
    closed_by_client: bool = False  # the client hung up before the answer ended
    status: int | None = None
    response: bytes = field(default=b"", repr=False)  # the answer's body (de-chunked)

    @property
    def completion(self) -> bool:
        return self.method == "POST" and self.path in COMPLETION_PATHS

    def answers(self) -> list[dict[str, Any]]:
        """The answer's JSON objects: each SSE event of a stream, or the one JSON."""
        found = []
        for line in self.response.split(b"\n"):
            line = line.strip()
            if line.startswith(b"data:"):
                line = line[5:].strip()
            if not line.startswith(b"{"):
                continue
            with contextlib.suppress(ValueError):
                found.append(json.loads(line))
        return found

    def timings(self) -> dict[str, float]:
        """The server's timings of the answer (its last event's), flattened from
        `response_fields`' "timings/x" keys where the client asked for those; {} if none."""
        for answer in reversed(self.answers()):
            nested = answer.get("timings")
            flat = {k[8:]: v for k, v in answer.items() if k.startswith("timings/")}
            if isinstance(nested, dict) or flat:
                return {**flat, **(nested if isinstance(nested, dict) else {})}
        return {}

    def time_to_first_token(self) -> float | None:
        """Seconds from the request to its first token: the first event of a stream; for an
        answer sent whole, its end less the server's own generation time. None if the
        answer never started (cancelled first), or asked for no token at all."""
        body = self.body if isinstance(self.body, dict) else {}
        if body.get("n_predict") == 0 or body.get("max_tokens") == 0:
            return None
        if body.get("stream"):
            return None if self.first_event is None else self.first_event - self.arrived
        predicted_ms = self.timings().get("predicted_ms")
        if self.ended is None or self.closed_by_client or predicted_ms is None:
            return None
        return self.ended - predicted_ms / 1000 - self.arrived


def has_token(body: bytes) -> bool:
    """Whether a streamed body holds a whole event other than llama-server's word of how far
    it has read the prompt (`prompt_progress`, asked for with `return_progress`)."""
    lines = body.split(b"\n")[:-1]
    return any(line.startswith(b"data:") and b'"prompt_progress"' not in line for line in lines)


def _dechunk(data: bytes) -> bytes:
    """A chunked transfer-coded body, decoded as far as it is whole."""
    out = bytearray()
    while True:
        size_end = data.find(b"\r\n")
        if size_end == -1:
            break
        try:
            size = int(data[:size_end].split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += data[size_end + 2 : size_end + 2 + size]
        data = data[size_end + 2 + size + 2 :]
    return bytes(out)


def _more_data(read: asyncio.Task[bytes]) -> bool:
    """Whether a finished read got bytes (a client sending on) rather than its end."""
    try:
        return bool(read.result())
    except ConnectionError:
        return False


class Relay:
    """`with Relay(upstream_url, add_fields) as url:` listens on 127.0.0.1 and forwards to
    llama-server at `upstream_url`; `exchanges` holds what passed, in arrival order.
    `add_fields` are set in every completion request's body on its way (not in the record)."""

    def __init__(self, upstream_url: str, add_fields: dict[str, Any] | None = None) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.add_fields = add_fields or {}
        self.exchanges: list[Exchange] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    def __enter__(self) -> str:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        port = started.result(timeout=10)
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def completions(self) -> list[Exchange]:
        return [e for e in list(self.exchanges) if e.completion]

    def answer_end(self, since: float) -> float | None:
        """When the first completion asked for tokens since `since` (not a cache prefill of
        `n_predict: 0`) was answered to its end; None if none has been yet."""
        for exchange in self.completions():
            body = exchange.body if isinstance(exchange.body, dict) else {}
            asks = body.get("n_predict", body.get("max_tokens")) != 0
            if exchange.arrived >= since and asks and not exchange.closed_by_client:
                if exchange.ended is not None:
                    return exchange.ended
        return None

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        """Stop listening and drop the connections still open (a request in flight at the end
        of a session, a client's idle kept-alive connection)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._relay_one(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # a client that went away between requests, or before sending one
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _relay_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        arrived = time.perf_counter()
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            # curl (llama.vim's client) waits a second for this before a body over 1 KiB.
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        body: Any = None
        if raw:
            with contextlib.suppress(ValueError):
                body = json.loads(raw)
        exchange = Exchange(method, target.split("?")[0], body, arrived)
        if exchange.completion:
            self.exchanges.append(exchange)
            if isinstance(body, dict) and self.add_fields:
                raw = json.dumps({**body, **self.add_fields}).encode("utf-8")
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        try:
            forwarded = [
                f"{method} {target} HTTP/1.1",
                f"Host: {self.upstream[0]}:{self.upstream[1]}",
                "Connection: close",
                f"Content-Length: {len(raw)}",
            ]
            for name in ("content-type", "authorization", "accept"):
                if name in headers:
                    forwarded.append(f"{name}: {headers[name]}")
            upstream_writer.write(("\r\n".join(forwarded) + "\r\n\r\n").encode("latin-1") + raw)
            await upstream_writer.drain()
            piping = asyncio.create_task(self._pipe(upstream_reader, writer, exchange))
            hang_up = asyncio.create_task(reader.read(1))  # b"": the client closed
            done, _ = await asyncio.wait({piping, hang_up}, return_when=asyncio.FIRST_COMPLETED)
            if piping not in done and not _more_data(hang_up):
                exchange.closed_by_client = True
                piping.cancel()
            hang_up.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await piping
            if exchange.ended is None:
                exchange.ended = time.perf_counter()
        finally:
            upstream_writer.close()
            with contextlib.suppress(Exception):
                await upstream_writer.wait_closed()

    async def _pipe(
        self,
        upstream: asyncio.StreamReader,
        client: asyncio.StreamWriter,
        exchange: Exchange,
    ) -> None:
        received = bytearray()
        body_at = -1
        while True:
            data = await upstream.read(READ_CHUNK)
            if not data:
                break
            now = time.perf_counter()
            client.write(data)
            received += data
            if body_at == -1 and b"\r\n\r\n" in received:
                body_at = received.index(b"\r\n\r\n") + 4
                status_line = bytes(received[: received.index(b"\r\n")])
                with contextlib.suppress(ValueError, IndexError):
                    exchange.status = int(status_line.split(b" ")[1])
            if body_at != -1 and len(received) > body_at:
                if exchange.first_data is None:
                    exchange.first_data = now
                if exchange.first_event is None and has_token(received[body_at:]):
                    exchange.first_event = now
            await client.drain()
        exchange.ended = time.perf_counter()
        if body_at != -1:
            head = bytes(received[:body_at]).lower()
            body = bytes(received[body_at:])
            chunked = b"transfer-encoding: chunked" in head
            exchange.response = _dechunk(body) if chunked else body
