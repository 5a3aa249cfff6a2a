"""Server-Sent Events: the `data` payloads of a text/event-stream, one per event."""

from __future__ import annotations

from collections.abc import AsyncIterator


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """Yield each event's data (multi-line data joined with "\\n"), per the WHATWG rules:
    a blank line dispatches, ":" lines are comments, one space after the colon is dropped."""
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:  # a stream cut before its final blank line still delivers what it sent
        yield "\n".join(data)
