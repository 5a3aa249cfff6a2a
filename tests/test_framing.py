"""The read loop's framing (server/framing.py): every well-formed message is read, and after a
malformed frame the reader finds its place again by the next message at the latest."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given
from hypothesis import strategies as st

from infill.framing import Frames
from infill.protocol import PipeReader
from tests.fuzzing import frame, fuzz_settings, junk_frames


def message(number: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": number, "method": "ping"}).encode()


async def bodies_of(data: bytes) -> list[bytes]:
    """The bodies read from `data`, resynchronizing after each one that is not JSON, as the
    server's loop does."""
    stream = asyncio.StreamReader()
    stream.feed_data(data)
    stream.feed_eof()
    frames = Frames(PipeReader(stream))
    found = []
    while (body := await frames.next_body()) is not None:
        try:
            json.loads(body)
        except ValueError:
            frames.resync(body)
            continue
        found.append(body)
    return found


async def test_well_formed_messages_with_other_headers():
    data = frame(message(1), headers=b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n")
    data += frame(message(2)) + b"content-length: %d\r\n\r\n%s" % (len(message(3)), message(3))
    assert await bodies_of(data) == [message(1), message(2), message(3)]


async def test_a_length_too_large_gives_back_the_message_it_swallowed():
    data = frame(b'{"jsonrpc": "2.0"', declared=17 + 30) + frame(message(1)) + frame(message(2))
    assert await bodies_of(data) == [message(1), message(2)]


async def test_a_length_too_small_is_found_again_at_the_next_header():
    data = frame(message(1), declared=10) + frame(message(2))
    assert await bodies_of(data) == [message(2)]


async def test_junk_lines_and_absurd_lengths_are_skipped():
    data = b"garbage\r\n\r\nContent-Length: 99999999999999\r\n" + frame(message(1))
    data += b"Content-Length: 5000000000\r\n\r\n" + frame(message(2))
    assert await bodies_of(data) == [message(1), message(2)]


async def test_a_stream_ending_mid_message_ends_the_reading():
    assert await bodies_of(frame(message(1)) + frame(message(2))[:-3]) == [message(1)]


@fuzz_settings(1000)
@given(junk=st.lists(junk_frames, max_size=4))
async def test_after_malformed_frames_at_most_one_message_is_lost(junk: list[bytes]):
    messages = [message(n) for n in range(1, 4)]
    data = b"".join(junk) + b"".join(frame(m) for m in messages)
    found = await bodies_of(data)
    # Whatever the junk, the reader is back in step by the second message after it: at most
    # one message is lost, never the last.
    assert len(set(messages) - set(found)) <= 1
    assert found[-1] == messages[-1]
