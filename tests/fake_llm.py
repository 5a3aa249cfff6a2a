"""A fake LLM server: real HTTP/1.1 on 127.0.0.1, scripted answers in each API's own wire
format, chosen by path: OpenAI completions and chat completions (SSE), llama.cpp /infill and
/completion (SSE), Ollama /api/generate (NDJSON), Anthropic /v1/messages (SSE with event
types), Mistral /v1/fim/completions (SSE); and a Tabby server for tabby-agent (`GET /v1/health`,
`GET /v1beta/server_setting`, `POST /v1/completions` with `segments`, answered whole, not
streamed, and `POST /v1/events`).

It records every request and notices when a client drops a stream it had not finished, which
is how the tests see that cancellation really closes the connection. Each request also records
when it arrived and when each piece of the answer was sent (`time.perf_counter()`), so that a
benchmark in the same process can tell the backend's time from the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import ssl
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any


@dataclass
class Reply:
    """What the fake answers to one request."""

    chunks: list[str] = field(default_factory=lambda: ["hello"])  # text deltas, one event each
    status: int = 200
    error_body: str = '{"error": {"message": "fake failure"}}'
    delay: float = 0.0  # seconds before each chunk
    ttft: float | None = None  # seconds before the first chunk (time to first token); None: delay
    stall_before_headers: float = 0.0  # seconds of silence before the status line
    keep_open: bool = False  # after the chunks, neither [DONE] nor the end: wait for the client
    headers: dict[str, str] = field(default_factory=dict)  # extra headers (Retry-After)
    raw_events: list[str] = field(default_factory=list)  # sent as they are, before the chunks
    # llama.cpp reading a long prompt: this many seconds before the first chunk, and if the
    # request asks for `return_progress`, a `prompt_progress` event every `progress_every`
    # seconds (at 0 too: one per batch); /infill, /completion and /v1/completions only.
    reading: float = 0.0
    progress_every: float = 0.2
    # The generation speed llama-server's last event reports (its `timings`), in tokens/s.
    speed: float = 300.0
    abort: bool = False  # after the chunks, drop the connection mid-body
    hang_up: bool = False  # read the request, then close the connection without a word
    hold: asyncio.Event | None = None  # after the headers, wait for the test to set it
    interim: int = 0  # interim answers (103 Early Hints) before the status line
    gzip: bool = False  # the body gzip-encoded (Content-Encoding), each event flushed
    # Several candidates, as OpenAI streams `n` > 1 (its wires only): each one's text deltas,
    # by index, sent round-robin, one choice with its `index` per event; instead of `chunks`.
    choices: list[list[str]] = field(default_factory=list)

    def deltas(self) -> list[tuple[int, str]]:
        """(candidate index, text) per event, in the order they are sent."""
        if not self.choices:
            return [(0, text) for text in self.chunks]
        rounds = zip_longest(*self.choices)
        return [(i, text) for texts in rounds for i, text in enumerate(texts) if text is not None]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    method: str = "POST"
    target: str = ""  # the request line's target: the path, or the whole URL via a proxy
    # Timing, on time.perf_counter(): a benchmark in the same process compares it with its own.
    arrived: float = 0.0  # when the whole request had been read
    sent: list[float] = field(default_factory=list)  # when each piece of the answer was written
    ended: float | None = None  # when the answer was finished, or the client seen gone
    closed_early: bool = False  # the client went away before the end of the answer
    reply: Reply | None = None  # what was answered


class FakeLLM:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []  # consumed one per request; `default` after that
        self.default = Reply()
        self.on_request: Callable[[Received], Reply | None] | None = None
        self.dropped_streams = 0  # streams the client closed before their end
        self.connections = 0  # TCP connections accepted
        self.open_connections = 0  # of those, the ones the client has not closed yet
        self.gets: list[Received] = []  # GET requests (the client warming its connection)
        self.events: list[Received] = []  # Tabby's POST /v1/events (usage events, not requests)
        self.models = ["fake"]  # what the model listings answer
        self.owned_by = "fake"  # their owner in OpenAI's listing (llama-server: "llamacpp")
        # The model listings answer a body that never ends (until the client leaves).
        self.endless_listings = False
        self.listing_bytes_sent = 0  # of such bodies, written so far
        self._dropped = asyncio.Condition()
        self._received = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self.scheme = "http"
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL as OpenAI-style clients take it (with /v1)."""
        return f"{self.root}/v1"

    @property
    def root(self) -> str:
        """The server's root, as llama.cpp, Ollama and Anthropic clients take it."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def start(self, port: int = 0, tls: ssl.SSLContext | None = None) -> FakeLLM:
        """Listen on `port` (0: any free one); with `tls`, HTTPS."""
        self.scheme = "https" if tls else "http"
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", port, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def wait_for_requests(self, count: int, timeout: float = 10) -> None:
        async with self._received:
            await asyncio.wait_for(
                self._received.wait_for(lambda: len(self.requests) >= count), timeout
            )

    async def wait_for_dropped(self, count: int = 1, timeout: float = 10) -> None:
        async with self._dropped:
            await asyncio.wait_for(
                self._dropped.wait_for(lambda: self.dropped_streams >= count), timeout
            )

    # -- HTTP ------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_connections += 1
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                if request.method == "GET":
                    self.gets.append(request)
                    await self._respond_get(request.path, writer)
                    continue
                if request.path.partition("?")[0] == "/v1/events":
                    self.events.append(request)
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                reply = self._reply_for(request)
                request.reply = reply
                async with self._received:
                    self.requests.append(request)
                    self._received.notify_all()
                finished = await self._respond(reply, request.path, reader, writer, request)
                request.ended = time.perf_counter()
                request.closed_early = not finished
                if not finished:
                    async with self._dropped:
                        self.dropped_streams += 1
                        self._dropped.notify_all()
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.open_connections -= 1
            writer.close()

    def _reply_for(self, request: Received) -> Reply:
        if self.on_request is not None and (reply := self.on_request(request)) is not None:
            return reply
        return self.replies.pop(0) if self.replies else self.default

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> Received | None:
        request_line = await reader.readline()
        if not request_line:
            return None
        method, path, _ = request_line.decode("latin-1").split(" ", 2)
        target = path
        if "://" in path:  # absolute form: the client takes this server for its proxy
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Received(
            path, headers, json.loads(body or b"{}"), method, target, time.perf_counter()
        )

    async def _respond_get(self, path: str, writer: asyncio.StreamWriter) -> None:
        """The GETs clients warm their connection with or list models by, as each API answers."""
        if path == "/api/tags":
            body = json.dumps({"models": [{"name": name} for name in self.models]})
        elif path in ("/health", "/api/version"):
            body = json.dumps({"status": "ok", "version": "0.0.0"})
        elif path == "/v1/health":
            body = json.dumps(TABBY_HEALTH)
        elif path == "/v1beta/server_setting":
            body = json.dumps({"disable_client_side_telemetry": True})
        elif self.endless_listings:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
            _write_chunk(writer, b'{"object": "list", "data": [')
            entries = b'{"id": "fake", "object": "model"}, ' * 2000
            while True:  # until writing fails: the client has gone
                _write_chunk(writer, entries)
                await writer.drain()
                self.listing_bytes_sent += len(entries)
        else:
            data = [{"id": n, "object": "model", "owned_by": self.owned_by} for n in self.models]
            body = json.dumps({"object": "list", "data": data})
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body.encode())
        )
        await writer.drain()

    async def _respond(
        self,
        reply: Reply,
        path: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        received: Received | None = None,
    ) -> bool:
        """Send the reply; False if the client went away before its end."""
        sent = received.sent if received is not None else []
        if reply.hang_up:
            return False
        if reply.stall_before_headers:
            if await _client_gone_within(reader, reply.stall_before_headers):
                return False
        writer.write(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" * reply.interim
        )
        headers = {**reply.headers, **({"Content-Encoding": "gzip"} if reply.gzip else {})}
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
        if reply.status != 200:
            body = reply.error_body.encode()
            writer.write(
                b"HTTP/1.1 %d Error\r\nContent-Type: application/json\r\n%s"
                b"Content-Length: %d\r\n\r\n%s" % (reply.status, extra, len(body), body)
            )
            await writer.drain()
            return True
        if path == "/v1/completions" and received is not None and "segments" in received.body:
            return await _respond_tabby(reply, reader, writer, sent)
        wire = WIRES[path]
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\n%s"
            b"Transfer-Encoding: chunked\r\n\r\n" % (wire.content_type, extra)
        )
        gzip = zlib.compressobj(wbits=31) if reply.gzip else None

        def write(data: bytes, last: bool = False) -> None:
            if gzip is not None:
                data = gzip.compress(data) + gzip.flush(
                    zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH
                )
            _write_chunk(writer, data)

        for raw in reply.raw_events:
            write(raw.encode())
        # The events only for a request that asks for them, as llama-server sends them.
        reading = (
            reply.reading if received is not None and received.body.get("return_progress") else 0
        )
        steps = math.ceil(reading / reply.progress_every)
        for step in range(steps + 1 if reading else 0):
            if step and await _client_gone_within(reader, reading / steps):
                return False
            write(_prompt_progress(path, step / steps, reading * step / steps))
            await writer.drain()
        if reply.hold is not None:
            await writer.drain()
            await reply.hold.wait()
        for number, (index, text) in enumerate(reply.deltas()):
            wait = reply.ttft if number == 0 and reply.ttft is not None else reply.delay
            if wait and await _client_gone_within(reader, wait):
                return False
            if received is not None and received.body.get("timings_per_token"):
                write(_with_timings(path, text, index, _timings(reply.speed, number + 1)))
            else:
                write(wire.delta(text, index))
            await writer.drain()
            sent.append(time.perf_counter())
        if reply.keep_open:
            # Wait for the client to hang up (or the test to end).
            await reader.read()
            return False
        if reply.abort:
            writer.transport.abort()  # a stream that stops half-way: no last chunk
            return True
        if self.owned_by == "llamacpp" and path == "/v1/completions":
            # llama-server's OpenAI API adds its own timings to the last chunk.
            write(_sse({"choices": [], "timings": _timings(reply.speed)}))
        write(wire.end(reply.speed), last=True)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


def _prompt_progress(path: str, done: float, seconds: float) -> bytes:
    """llama-server's event while it reads the prompt: `done` of 1,000 tokens read, in
    `seconds`."""
    progress = {
        "total": 1000,
        "cache": 0,
        "processed": round(1000 * done),
        "time_ms": round(seconds * 1000),
    }
    if path == "/v1/completions":
        choice = {"text": "", "index": 0, "logprobs": None, "finish_reason": None}
        return _sse({"choices": [choice], "prompt_progress": progress})
    return _sse({"content": "", "stop": False, "prompt_progress": progress})


def _sse(event: dict[str, Any], name: str | None = None) -> bytes:
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(event)}\n\n".encode()


@dataclass(frozen=True)
class Wire:
    content_type: bytes
    delta: Callable[[str, int], bytes]  # (text, candidate index): one event
    end: Callable[[float], bytes]  # (the generation speed reported, where the API does)


def _openai_text(text: str, index: int) -> bytes:
    choice = {"index": index, "text": text, "finish_reason": None}
    return _sse({"id": "cmpl-fake", "object": "text_completion", "choices": [choice]})


def _openai_chat(text: str, index: int) -> bytes:
    choice = {"index": index, "delta": {"content": text}, "finish_reason": None}
    return _sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": [choice]})


def _timings(speed: float, written: int = 3) -> dict[str, Any]:
    return {"prompt_n": 12, "cache_n": 30, "predicted_n": written, "predicted_per_second": speed}


def _with_timings(path: str, text: str, index: int, timings: dict[str, Any]) -> bytes:
    """An event of llama-server's asked for `timings_per_token`: its timings in each."""
    if path == "/v1/completions":
        choice = {"index": index, "text": text, "finish_reason": None}
        return _sse({"object": "text_completion", "choices": [choice], "timings": timings})
    return _sse({"content": text, "stop": False, "timings": timings})


def _llamacpp_end(speed: float) -> bytes:
    return _sse({"content": "", "stop": True, "stop_type": "eos", "timings": _timings(speed)})


def _ollama_end(_speed: float) -> bytes:
    final = {"model": "fake", "response": "", "done": True, "done_reason": "stop", "eval_count": 3}
    return (json.dumps(final) + "\n").encode()


def _anthropic_delta(text: str) -> bytes:
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }
    return _sse(delta, "content_block_delta")


def _anthropic_end(_speed: float) -> bytes:
    return _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 3},
        },
        "message_delta",
    ) + _sse({"type": "message_stop"}, "message_stop")


SSE = b"text/event-stream"


def _done(_speed: float) -> bytes:
    return b"data: [DONE]\n\n"


WIRES = {
    "/v1/completions": Wire(SSE, _openai_text, _done),
    "/v1/chat/completions": Wire(SSE, _openai_chat, _done),
    "/v1/fim/completions": Wire(SSE, _openai_chat, _done),
    "/infill": Wire(SSE, lambda t, _: _sse({"content": t, "stop": False}), _llamacpp_end),
    "/completion": Wire(SSE, lambda t, _: _sse({"content": t, "stop": False}), _llamacpp_end),
    "/api/generate": Wire(
        b"application/x-ndjson",
        lambda t, _: (json.dumps({"model": "fake", "response": t, "done": False}) + "\n").encode(),
        _ollama_end,
    ),
    "/v1/messages": Wire(SSE, lambda t, _: _anthropic_delta(t), _anthropic_end),
}


# What a Tabby server answers to GET /v1/health; tabby-agent fetches its server settings only
# from a server that names its model and device, at version 0.9 or later.
TABBY_HEALTH = {
    "model": "fake",
    "device": "cpu",
    "arch": "x86_64",
    "cpu_info": "fake",
    "cpu_count": 1,
    "cuda_devices": [],
    "version": {
        "build_date": "2024-01-01",
        "build_timestamp": "2024-01-01T00:00:00Z",
        "git_sha": "0000000",
        "git_describe": "v0.11.0",
    },
}


async def _respond_tabby(
    reply: Reply,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    sent: list[float],
) -> bool:
    """Tabby's POST /v1/completions is not streamed: after the time the model takes for all of
    the chunks, the whole text goes as one JSON answer."""
    for number in range(len(reply.chunks)):
        wait = reply.ttft if number == 0 and reply.ttft is not None else reply.delay
        if wait and await _client_gone_within(reader, wait):
            return False
    choice = {"index": 0, "text": "".join(reply.chunks)}
    body = json.dumps({"id": "cmpl-fake", "choices": [choice]}).encode()
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body)
    )
    await writer.drain()
    sent.append(time.perf_counter())
    return True


def _write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(b"%x\r\n%s\r\n" % (len(data), data))


async def _client_gone_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Wait `seconds`; True if the client closed the connection meanwhile."""
    try:
        data = await asyncio.wait_for(reader.read(1), seconds)
    except TimeoutError:
        return False
    return data == b""
