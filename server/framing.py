"""The server's read loop: LSP messages (`Content-Length` headers, a JSON body) from a byte stream.

pygls' own loop (`pygls.io_.run_async`) loses its place for good after one bad frame: a
`Content-Length` that is too large swallows the next message and the header behind it, one too
small leaves the rest of the body to be read as headers, and every message after that is read
as part of the one before. A body that is not UTF-8 is dropped, so a document opened with a stray
byte never opens. This loop finds its place again at the next `Content-Length` header, wherever
it is, reads bodies as UTF-8 with U+FFFD for bytes that are not (as editors show such a file),
and answers what it cannot read with a JSON-RPC error.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol

from pygls.exceptions import JsonRpcException
from pygls.protocol import JsonRPCProtocol

log = logging.getLogger(__name__)

# A header may follow junk on its line (the tail of a body whose length was given too small).
_CONTENT_LENGTH = re.compile(rb"content-length:[ \t]*(\d{1,12})[ \t]*\r?\n?$", re.IGNORECASE)
_HEADER_START = re.compile(rb"content-length:", re.IGNORECASE)
# A body declared larger than this is junk (a stray number), not a message to wait for.
MAX_BODY_BYTES = 1 << 30
PARSE_ERROR = -32700
INVALID_REQUEST = -32600


class AsyncReader(Protocol):
    async def readline(self) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...


class Frames:
    """The bodies of the messages on a stream, found again after a malformed frame."""

    def __init__(self, reader: AsyncReader) -> None:
        self._reader = reader
        self._pushed_back = b""  # bytes read too far, to be read again first

    async def _readline(self) -> bytes:
        if not self._pushed_back:
            return await self._reader.readline()
        end = self._pushed_back.find(b"\n") + 1
        if end == 0:  # the pushed-back bytes end mid-line: the stream has the rest of it
            line, self._pushed_back = self._pushed_back, b""
            return line + await self._reader.readline()
        line, self._pushed_back = self._pushed_back[:end], self._pushed_back[end:]
        return line

    async def _readexactly(self, n: int) -> bytes:
        head, self._pushed_back = self._pushed_back[:n], self._pushed_back[n:]
        if len(head) == n:
            return head
        rest = await self._reader.readexactly(n - len(head))
        return head + rest if rest else b""

    async def next_body(self) -> bytes | None:
        """The next message's body; None at the end of the stream."""
        length: int | None = None
        while True:
            line = await self._readline()
            if not line:
                return None
            if (match := _CONTENT_LENGTH.search(line)) is not None:
                declared = int(match.group(1))
                length = declared if declared <= MAX_BODY_BYTES else None
                continue
            if line.strip():
                continue  # another header (Content-Type), or junk
            if length is None:
                continue  # a blank line, or headers without a length: nothing to read
            body = await self._readexactly(length)
            if len(body) < length:
                return None  # the stream ended mid-message
            return body

    def resync(self, body: bytes) -> None:
        """`body` was no message: if its length was given too large, the next message's header
        is inside it; read again from there. (Each time the header line before `body` has been
        read, so this always moves on.)"""
        match = _HEADER_START.search(body)
        if match is not None:
            self._pushed_back = body[match.start() :] + self._pushed_back


def _request_id(data: Any) -> int | str | None:
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


async def serve_messages(
    reader: AsyncReader,
    protocol: JsonRPCProtocol,
    on_error: Callable[[Exception, Any], None],
    take_plain: Callable[[Any], bool] | None = None,
) -> None:
    """Read and dispatch messages until the stream ends. `on_error(exception, source)` hears of
    messages that failed; a request that cannot be read is answered with an error.
    `take_plain(message)` sees each message as parsed JSON first and says whether it handled
    it; the others are made typed objects and go to pygls."""
    frames = Frames(reader)
    while (body := await frames.next_body()) is not None:
        try:
            data = json.loads(body.decode("utf-8", "replace"))
        except json.JSONDecodeError as exc:
            frames.resync(body)
            log.warning("a message that is not JSON (%s): %r", exc.msg, body[:80])
            _answer_error(protocol, None, PARSE_ERROR, "Parse error")
            continue
        try:
            if take_plain is not None and take_plain(data):
                continue
        except BrokenPipeError:
            raise  # the client is gone
        except Exception as exc:
            log.exception("cannot handle a message")
            on_error(exc, JsonRpcException)
            continue
        try:
            message = protocol.structure_message(data) if isinstance(data, dict) else data
        except Exception as exc:  # structure_message refused it (and answered a request)
            on_error(exc, JsonRpcException)
            continue
        if not hasattr(message, "jsonrpc"):
            # Valid JSON but no JSON-RPC message: an array (batch), a number, no "jsonrpc".
            log.warning("not a JSON-RPC message: %r", body[:80])
            _answer_error(protocol, _request_id(message), INVALID_REQUEST, "Invalid Request")
            continue
        if protocol._shutdown and hasattr(message, "method") and hasattr(message, "id"):
            # pygls drops requests after shutdown without an answer; LSP wants an error.
            _answer_error(protocol, message.id, INVALID_REQUEST, "the server is shutting down")
            continue
        try:
            protocol.handle_message(message)
        except BrokenPipeError:
            raise  # the client is gone
        except Exception as exc:
            log.exception("cannot handle a message")
            on_error(exc, JsonRpcException)


def _answer_error(
    protocol: JsonRPCProtocol, request_id: int | str | None, code: int, text: str
) -> None:
    error = {"code": code, "message": text}
    protocol._send_data({"jsonrpc": "2.0", "id": request_id, "error": error})
