"""A fake OpenAI-compatible server: real HTTP/1.1 on 127.0.0.1, real SSE, scripted answers.

It records every request and notices when a client drops a stream it had not finished, which
is how the tests see that cancellation really closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """What the fake answers to one request."""

    chunks: list[str] = field(default_factory=lambda: ["hello"])  # text deltas, one event each
    status: int = 200
    error_body: str = '{"error": {"message": "fake failure"}}'
    delay: float = 0.0  # seconds before each chunk
    stall_before_headers: float = 0.0  # seconds of silence before the status line
    keep_open: bool = False  # after the chunks, neither [DONE] nor the end: wait for the client


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    method: str = "POST"


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: list[Reply] = []  # consumed one per request; `default` after that
        self.default = Reply()
        self.on_request: Callable[[Received], Reply | None] | None = None
        self.dropped_streams = 0  # streams the client closed before their end
        self.connections = 0  # TCP connections accepted
        self.gets: list[Received] = []  # GET requests (the client warming its connection)
        self._dropped = asyncio.Condition()
        self._received = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FakeOpenAI:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
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
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    return
                if request.method == "GET":
                    self.gets.append(request)
                    await self._respond_get(writer)
                    continue
                reply = self._reply_for(request)
                async with self._received:
                    self.requests.append(request)
                    self._received.notify_all()
                finished = await self._respond(reply, reader, writer)
                if not finished:
                    async with self._dropped:
                        self.dropped_streams += 1
                        self._dropped.notify_all()
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
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
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Received(path, headers, json.loads(body or b"{}"), method)

    @staticmethod
    async def _respond_get(writer: asyncio.StreamWriter) -> None:
        """GET /v1/models as OpenAI answers it (the client warms its connection with it)."""
        body = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]})
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body.encode())
        )
        await writer.drain()

    async def _respond(
        self, reply: Reply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Send the reply; False if the client went away before its end."""
        if reply.stall_before_headers:
            if await _client_gone_within(reader, reply.stall_before_headers):
                return False
        if reply.status != 200:
            body = reply.error_body.encode()
            writer.write(
                b"HTTP/1.1 %d Error\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (reply.status, len(body), body)
            )
            await writer.drain()
            return True
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        for text in reply.chunks:
            if reply.delay and await _client_gone_within(reader, reply.delay):
                return False
            choice = {"index": 0, "text": text, "finish_reason": None}
            event = {"id": "cmpl-fake", "object": "text_completion", "choices": [choice]}
            _write_chunk(writer, f"data: {json.dumps(event)}\n\n".encode())
            await writer.drain()
        if reply.keep_open:
            # Wait for the client to hang up (or the test to end).
            await reader.read()
            return False
        _write_chunk(writer, b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
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
