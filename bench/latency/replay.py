"""The replay: each key sent as an editor sends it, a suggestion asked for after it, the
previous request cancelled; when each question and answer went and came."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.latency.fake_model import Answered, TypedFileModel
from bench.latency.systems import System, TimedLspClient
from bench.latency.typing_model import Segment
from infill.harness import LspClient
from tests.fake_llm import FakeLLM

OPEN_SETTLE_S = 0.5  # after opening a file, before the first key (a user reads first)


@dataclass
class Asked:
    """One request the editor made after a key, and what became of it."""

    segment: int
    key: int
    offset: int  # the cursor in the segment's file
    sent: float
    pause: float  # the planned gap after the key
    request_id: Any
    position: tuple[int, int]
    line_before: str  # the cursor's line up to the cursor
    until: float = 0.0  # when the next key came (or the segment ended): the answer's deadline
    answered: float | None = None
    shown: str = ""
    error: str = ""


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # cancelled requests fail; that is expected


async def sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.perf_counter()))


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def position_after(position: tuple[int, int], text: str) -> tuple[int, int]:
    """The LSP position (UTF-16 columns) after inserting `text` at `position`."""
    head, newline, last = text.rpartition("\n")
    if not newline:
        return position[0], position[1] + utf16_length(text)
    return position[0] + head.count("\n") + 1, utf16_length(last)


def press(
    client: LspClient, uri: str, version: int, position: tuple[int, int], text: str
) -> tuple[int, int]:
    """Send the edit a key makes at `position`; the position after it. (Not the harness's
    `type_text`: updating its own copy of the document would add time between the edit and
    the request.)"""
    at = {"line": position[0], "character": position[1]}
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": at, "end": at}, "text": text}],
        },
    )
    return position_after(position, text)


def open_document(client: LspClient, uri: str, text: str) -> tuple[int, int]:
    """didOpen; the position at the end of the text."""
    client.open(uri, text)
    client.documents.pop(uri)  # edits are sent by `press`, which keeps no copy
    return position_after((0, 0), text)


def close_document(client: LspClient, uri: str) -> None:
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


async def start_client(system: System, workspace: Path) -> TimedLspClient:
    client = await TimedLspClient.start(system.command, env=system.env)
    assert isinstance(client, TimedLspClient)
    await client.initialize(initialization_options=system.initialization_options, root=workspace)
    return client


async def warm_up(client: TimedLspClient, system: System, workspace: Path, text: str) -> None:
    """A few keys in a scratch document, so the first measured ones find everything loaded."""
    uri = (workspace / "warm_up.py").as_uri()
    position = open_document(client, uri, text)
    await asyncio.sleep(OPEN_SETTLE_S)
    for version, char in enumerate("x = ", 2):
        position = press(client, uri, version, position, char)
        _, future = client.send_request(system.method, system.params(uri, position))
        future.add_done_callback(_consume)
        await asyncio.sleep(0.15)
    await asyncio.sleep(1.5)
    close_document(client, uri)


async def replay(
    client: TimedLspClient,
    system: System,
    session: Sequence[Segment],
    workspace: Path,
    model: TypedFileModel,
    advance: Callable[[], None],
) -> list[Asked]:
    """Type the session into the client; every request made, with its outcome."""
    asked: list[Asked] = []
    futures: dict[Any, asyncio.Future[Any]] = {}
    for number, segment in enumerate(session):
        uri = (workspace / segment.name).as_uri()
        model.segment, model.source, model.cursor = number, segment.source, segment.start
        position = open_document(client, uri, segment.source[: segment.start])
        await asyncio.sleep(OPEN_SETTLE_S)
        offset = segment.start
        due = time.perf_counter()
        previous: Asked | None = None
        for index, key in enumerate(segment.keys):
            await sleep_until(due)
            if client.process.returncode is not None:
                tail = "\n".join(client.stderr_lines[-30:])
                raise RuntimeError(f"{system.name} exited ({client.process.returncode}):\n{tail}")
            if previous is not None and not futures[previous.request_id].done():
                client.cancel(previous.request_id)
            now = time.perf_counter()
            if previous is not None:
                previous.until = now
            position = press(client, uri, index + 2, position, key.text)
            offset += len(key.text)
            model.cursor = offset
            request_id, future = client.send_request(system.method, system.params(uri, position))
            future.add_done_callback(_consume)
            futures[request_id] = future
            line_start = segment.source.rfind("\n", 0, offset) + 1
            line_before = segment.source[line_start:offset]
            previous = Asked(
                number, index, offset, now, key.gap_after, request_id, position, line_before
            )
            asked.append(previous)
            due += key.gap_after  # planned times: a slow moment does not shift the rest
            advance()
        await sleep_until(due)
        if previous is not None:
            previous.until = time.perf_counter()
            if not futures[previous.request_id].done():
                client.cancel(previous.request_id)
        close_document(client, uri)
    await asyncio.sleep(0.5)  # late answers to the last cancellations
    for item in asked:
        item.answered = client.answered_at.get(item.request_id)
        future = futures[item.request_id]
        if not future.done() or future.cancelled():
            item.error = "no answer"
        elif future.exception() is not None:
            item.error = str(future.exception())
        else:
            item.shown = system.shown(future.result(), item.position)
    return asked


async def run_system(
    system: System,
    session: Sequence[Segment],
    workspace: Path,
    fake: FakeLLM,
    model: TypedFileModel,
    advance: Callable[[], None],
) -> tuple[list[Asked], list[Answered]]:
    client = await start_client(system, workspace)
    system.stderr = client.stderr_lines  # kept for the results folder
    try:
        await warm_up(client, system, workspace, session[0].source[: session[0].start])
        fake.requests.clear()
        model.answered = []
        asked = await replay(client, system, session, workspace, model, advance)
        return asked, list(model.answered)
    finally:
        await client.shutdown()
        if client.process.returncode is None:
            client.process.kill()
