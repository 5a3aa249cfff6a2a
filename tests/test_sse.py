"""Unit tests for backends/sse.py: the data payloads of a text/event-stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import pytest

from infill.backends.http import MAX_LINE_BYTES, OversizedLine, body_lines
from infill.backends.sse import sse_data


async def _lines(lines: Iterable[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def collect(lines: Iterable[str]) -> list[str]:
    return [data async for data in sse_data(_lines(lines))]


async def test_one_event_per_blank_line():
    assert await collect(["data: a", "", "data: b", ""]) == ["a", "b"]


async def test_multi_line_data_is_joined_with_newlines():
    assert await collect(["data: first", "data: second", "data:", "data: fourth", ""]) == [
        "first\nsecond\n\nfourth"
    ]


async def test_comments_are_skipped():
    lines = [": keep-alive", "data: x", ":another comment", "", ":", ""]
    assert await collect(lines) == ["x"]


async def test_only_one_space_after_the_colon_is_dropped():
    assert await collect(["data:no-space", "", "data:  two spaces", ""]) == [
        "no-space",
        " two spaces",
    ]


async def test_data_keeps_colons_in_its_value():
    assert await collect(['data: {"a": "b:c"}', ""]) == ['{"a": "b:c"}']


async def test_crlf_and_cr_line_endings_are_stripped():
    lines = ["data: a\r\n", "data: b\r\n", "\r\n", "data: c\r", "\r"]
    assert await collect(lines) == ["a\nb", "c"]


async def test_event_id_retry_and_other_fields_are_ignored():
    lines = ["event: completion", "id: 7", "retry: 1000", "data: {}", "foo: bar", ""]
    assert await collect(lines) == ["{}"]


async def test_blank_lines_without_data_dispatch_nothing():
    assert await collect(["", "", "event: ping", "", "data: x", "", ""]) == ["x"]


async def test_final_event_without_a_trailing_blank_line_is_delivered():
    assert await collect(["data: a", "", "data: last", "data: part"]) == ["a", "last\npart"]


async def test_done_marker_is_passed_through_as_data():
    assert await collect(["data: {}", "", "data: [DONE]", ""]) == ["{}", "[DONE]"]


async def test_events_are_yielded_as_they_arrive():
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def from_queue() -> AsyncIterator[str]:
        while (line := await queue.get()) is not None:
            yield line

    stream = sse_data(from_queue())
    queue.put_nowait("data: early")
    queue.put_nowait("")
    # The stream is still open: the first event must come out without waiting for the end.
    assert await asyncio.wait_for(anext(stream), timeout=1) == "early"
    queue.put_nowait("data: late")
    queue.put_nowait(None)
    assert [data async for data in stream] == ["late"]


async def _in_chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_body_lines_end_at_crlf_lf_or_cr_wherever_the_chunks_are_cut():
    data = b"data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: \xc3\xa9\r\nlast"
    expected = [b"data: a", b"", b"data: b", b"", b"data: c", b"", b"data: \xc3\xa9", b"last"]
    for size in range(1, len(data) + 1):
        assert [line async for line in body_lines(_in_chunks(data, size))] == expected, size


async def test_a_line_without_end_beyond_the_limit_is_refused():
    data = b"data: " + b"x" * (MAX_LINE_BYTES + 1)
    with pytest.raises(OversizedLine):
        async for _ in body_lines(_in_chunks(data, 65536)):
            pass
