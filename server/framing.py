"""LSP framing: message bodies (after `Content-Length` headers) from a byte stream.

pygls' own loop (`pygls.io_.run_async`) loses its place for good after one bad frame: a
`Content-Length` that is too large swallows the next message and the header behind it, one too
small leaves the rest of the body to be read as headers, and every message after that is read
as part of the one before. A body that is not UTF-8 is dropped, so a document opened with a stray
byte never opens. `Frames` finds its place again at the next `Content-Length` header, wherever
it is; the read loop (`infill.protocol.serve_messages`) reads bodies as UTF-8 with U+FFFD for
bytes that are not (as editors show such a file), and answers what it cannot read with a
JSON-RPC error.
"""

from __future__ import annotations

import re
from typing import Protocol

# A header may follow junk on its line (the tail of a body whose length was given too small).
_CONTENT_LENGTH = re.compile(rb"content-length:[ \t]*(\d{1,12})[ \t]*\r?\n?$", re.IGNORECASE)
_HEADER_START = re.compile(rb"content-length:", re.IGNORECASE)
# A body declared larger than this is junk (a stray number), not a message to wait for.
MAX_BODY_BYTES = 1 << 30


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
