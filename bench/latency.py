"""Latency benchmark: real typing replayed against `infill serve`, and against tabby-agent.

    python bench/latency.py [--peer tabby-agent] [--ttft-ms 150] [--tps 60] [--wrong 0.5]
                            [--lines 3] [--probes 3] [--answer-lines 2] [--seed 1] [--out DIR]
                            [--set KEY=VALUE ...] [--only NAME ...]

The session: six real source files (the example workspace's and the standard library's),
each opened cut just before a function or a block, whose next `--lines` lines are then typed
character by character as an editor sends them: Enter inserts the line end and the next line's
indentation (auto-indent); intervals between keys are lognormal around 110 ms, with pauses of
0.5-1.5 s at line ends, after punctuation and now and then (`TypingModel`). Then `--probes`
probes per file: the user goes elsewhere in the file and starts a value, the document cut after
an assignment's `=`, one space typed, a pause; places seen nowhere else, so the model must
answer (typing along answers is mostly served from the cache, which leaves few answers to
measure the server's own time on). The seed fixes the files' order, the intervals, the pauses
and the probes, so every system replays the same session (480 keys and 62 pauses by default,
about 2 minutes a system).

After each key the client sends `textDocument/didChange` and asks for a suggestion at the
cursor, as VS Code does while typing (infill: `textDocument/inlineCompletion`, automatic;
tabby-agent: `textDocument/completion`, which is what it serves), cancelling the previous
request if it has not been answered (`$/cancelRequest`). A suggestion is shown when the answer
for the latest position arrives, non-empty, before the next key.

The backend is `tests/fake_llm.py` in this process: it answers with the text that really
follows the cursor in the file (the rest of the line and `--answer-lines` more), cut into
token-sized pieces, the first after `--ttft-ms`, the others at `--tps`; infill gets it streamed
(OpenAI completions, SSE), tabby-agent as a Tabby server answers (one JSON at the end). A share
`--wrong` of the answers has one word of their first line wrong, so typing along an answer
breaks now and then as with a real model (with `--wrong 0` nearly every key is a cache hit and
the backend's answers are too few to measure). The fake records when each request arrived and
when each piece left, on the same clock as the client, which is how backend time is told apart
from the rest.

Measured, per system (P50/P75/P95/P99):

- pause to ghost text: for each pause (a gap of at least 0.5 s after a key), the time from that
  key to the suggestion shown. An answer that comes after the pause (or never) is a miss and
  counts as infinitely late; an empty answer within the pause (the system chose to show
  nothing there) is left out and counted as declined.
- server overhead: for answers made from a backend request of their own, the time the client
  waited minus the backend's time (its request's arrival to the last piece sent before the
  answer); in two parts, key to backend request (a debounce, the prompt) and backend's last
  piece to answer (post-processing). For tabby-agent this includes its debounce.
- beyond the floor: for single-line suggestions from the backend, the client's wait minus the
  floor, the time the backend took to send the piece that ends the suggestion's first line
  (time to first token plus the tokens of that line; tabby's API sends everything at the end).
- hits: answers shown without a backend request of their own (none arrived for that cursor
  between the question and the answer): from a cache, or typed along a request in flight
  ("joined": a backend stream was open meanwhile). Their latency is the client's wait, from
  the key's didChange (the server handles it first) to the answer.
- backend requests per 100 keystrokes: completion requests the fake received.

infill's own local metrics (where each answer came from, by the server's account) are read
back from its temporary state directory and stored next to these inferred numbers.

Writes `results.json` (every sample and the summary) and `latency_cdf.png` (the CDF of pause to
ghost text per system) to `--out` (default `bench/results/latency-<timestamp>/`). Needs the
`bench` extra (rich, matplotlib); `--peer tabby-agent` needs node and npm, and installs
tabby-agent 1.5.0 once into ~/.cache/infill/peers/ (`npm install --ignore-scripts`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# The fake backend lives in the test suite; the script runs as bench/latency.py.
sys.path.insert(0, str(REPO))

from infill.harness import LspClient  # noqa: E402
from infill.metrics import PERCENTILES, percentile, percentiles  # noqa: E402
from infill.settings import merge, parse_assignment  # noqa: E402
from tests.fake_llm import FakeLLM, Received, Reply  # noqa: E402

PAUSE_S = 0.5  # a gap after a key at least this long is a pause
OPEN_SETTLE_S = 0.5  # after opening a file, before the first key (a user reads first)
TABBY_AGENT_VERSION = "1.5.0"
PEERS_CACHE = Path.home() / ".cache" / "infill" / "peers"

# Where each typed segment starts: (root, file, the line typing starts at). The document is
# the file up to that line's indentation, as right after Enter; the line and the next ones are
# typed. "stdlib" is the running Python's standard library.
ANCHORS = (
    ("repo", "bench/example_workspace/inventory.py", "    def add(self, item: Item) -> None:"),
    ("stdlib", "heapq.py", "def _siftup(heap, pos):"),
    ("stdlib", "json/encoder.py", "    def _iterencode_list(lst, _current_indent_level):"),
    ("stdlib", "textwrap.py", "        if self.break_on_hyphens is True:"),
    ("stdlib", "statistics.py", "def _convert(value, T):"),
    ("stdlib", "shlex.py", "def split(s, comments=False, posix=True):"),
)


# -- the typing session ------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    text: str  # what the key inserts: one character, or Enter's line end and indentation
    gap_after: float  # seconds until the next key (after the segment's last key: its pause)


@dataclass(frozen=True)
class Segment:
    name: str  # the document's file name in the workspace
    origin: str  # the real file it comes from
    source: str  # that file's whole text
    start: int  # the offset typing starts at; the document opens as source[:start]
    keys: tuple[Key, ...]

    @property
    def typed(self) -> str:
        return "".join(key.text for key in self.keys)


@dataclass(frozen=True)
class TypingModel:
    """How a person types code: seconds, probabilities per key."""

    key_median: float = 0.110  # lognormal interval between keys
    key_sigma: float = 0.35
    pause_after_enter: float = 0.6  # before typing a new line
    pause_at_line_end: float = 0.4  # a finished line, before Enter
    pause_after_punctuation: float = 0.3  # after ( , . : = [ and the space after a word
    pause_anywhere: float = 0.04  # now and then, mid-word too
    line_pause: tuple[float, float] = (0.5, 1.5)  # uniform, seconds
    short_pause: tuple[float, float] = (0.5, 0.9)


def split_keys(text: str) -> list[str]:
    """One key per character, except that Enter also inserts the next line's indentation, as
    an editor's auto-indent does."""
    return re.findall(r"\n[ \t]*|.", text, re.DOTALL)


def typing_gaps(keys: Sequence[str], rng: random.Random, model: TypingModel) -> list[float]:
    """The gap after each key: a typing interval, or a pause where people pause."""
    gaps = []
    for index, key in enumerate(keys):
        following = keys[index + 1] if index + 1 < len(keys) else "\n"
        gap = rng.lognormvariate(math.log(model.key_median), model.key_sigma)
        if key.startswith("\n"):
            chance, span = model.pause_after_enter, model.line_pause
        elif following.startswith("\n"):
            chance, span = model.pause_at_line_end, model.line_pause
        elif key in "(,.:=[" or (key == " " and index > 0 and keys[index - 1].isalnum()):
            chance, span = model.pause_after_punctuation, model.short_pause
        else:
            chance, span = model.pause_anywhere, model.short_pause
        if rng.random() < chance:
            gap = rng.uniform(*span)
        gaps.append(gap)
    gaps[-1] = rng.uniform(*model.line_pause)  # the segment ends with a look at what is done
    return gaps


def anchor_file(root: str, relative: str) -> Path:
    base = REPO if root == "repo" else Path(sysconfig.get_paths()["stdlib"])
    return base / relative


def make_segment(
    name: str, path: Path, anchor: str, lines: int, rng: random.Random, model: TypingModel
) -> Segment:
    source = path.read_text(encoding="utf-8")
    line_at = source.index("\n" + anchor + "\n") + 1
    start = line_at + len(anchor) - len(anchor.lstrip())
    end = line_at
    for _ in range(lines):
        newline = source.find("\n", end)
        end = len(source) if newline == -1 else newline + 1
    end = end - 1 if source[end - 1 : end] == "\n" else end  # the last line without its end
    keys = split_keys(source[start:end])
    gaps = typing_gaps(keys, rng, model)
    return Segment(
        name,
        str(path),
        source,
        start,
        tuple(Key(text, gap) for text, gap in zip(keys, gaps, strict=True)),
    )


# A probe's line: an assignment whose value the model is asked for after the " = ".
_PROBE_LINE = re.compile(r"^[ \t]+[\w.\[\]]+ = \S.*$", re.MULTILINE)


def make_probes(
    segment: Segment, count: int, rng: random.Random, model: TypingModel
) -> list[Segment]:
    """`count` probes in the segment's file (fewer if it has fewer places for them): the user
    goes to another line and starts a value. The document is the file up to an assignment's
    `=`, one key (the space) is typed, then a pause. Places seen nowhere else in the session,
    so the suggestion must come from the model: what the server adds to the model's time is
    measured on many more answers than typing alone gives."""
    source = segment.source
    typed = range(segment.start, segment.start + len(segment.typed))
    places = [m.start() for m in _PROBE_LINE.finditer(source) if m.start() not in typed]
    probes = []
    for line_start in sorted(rng.sample(places, min(count, len(places)))):
        start = source.index(" = ", line_start) + 2  # the "=" is there, the space is typed
        key = Key(" ", rng.uniform(*model.line_pause))
        probes.append(Segment(segment.name, segment.origin, source, start, (key,)))
    return probes


def make_session(
    lines: int, seed: int, model: TypingModel | None = None, probes: int = 0
) -> list[Segment]:
    """Every anchor's segment, in an order and with intervals fixed by `seed`; then `probes`
    probes per anchor's file."""
    rng = random.Random(seed)
    model = model or TypingModel()
    anchors = list(ANCHORS)
    rng.shuffle(anchors)
    session = [
        make_segment(
            f"{number:02d}_{Path(relative).name}",
            anchor_file(root, relative),
            anchor,
            lines,
            rng,
            model,
        )
        for number, (root, relative, anchor) in enumerate(anchors, 1)
    ]
    for segment in list(session):
        for number, probe in enumerate(make_probes(segment, probes, rng, model), 1):
            name = f"{len(session) + 1:02d}_probe{number}_{Path(segment.origin).name}"
            session.append(replace(probe, name=name))
    return session


# -- the fake model ----------------------------------------------------------------------------

# Token-sized pieces: a line end with the next line's indentation, up to four word characters,
# one or two punctuation characters, each with the blanks before it.
_TOKEN = re.compile(r"\n[ \t]*|[ \t]*\w{1,4}|[ \t]*[^\w\s]{1,2}|[ \t]+|\s")
FIM_PREFIX, FIM_SUFFIX = "<|fim_prefix|>", "<|fim_suffix|>"


def token_pieces(text: str) -> list[str]:
    return _TOKEN.findall(text)


def next_text(source: str, offset: int, more_lines: int) -> str:
    """What the file really has after `offset`: the rest of the line and `more_lines` lines."""
    end = offset
    for _ in range(more_lines + 1):
        newline = source.find("\n", end)
        if newline == -1:
            return source[offset:]
        end = newline + 1
    return source[offset : end - 1]


def with_a_wrong_word(pieces: Sequence[str], rng: random.Random) -> list[str]:
    """The pieces with one word of the first line of code misspelt (reversed), as a model that
    is nearly right writes: typing along it breaks there, and the editor must ask again."""
    first = 0
    while first < len(pieces) and pieces[first].startswith("\n"):
        first += 1  # the line end of the cursor's line, before the line proposed
    words = []
    for index in range(first, len(pieces)):
        if pieces[index].startswith("\n"):
            break
        if len(pieces[index].strip()) > 1 and pieces[index].strip().isidentifier():
            words.append(index)
    if not words:
        return list(pieces)
    index = rng.choice(words)
    word = pieces[index].strip()
    wrong = word[::-1] if word[::-1] != word else word + "x"
    changed = list(pieces)
    changed[index] = pieces[index][: len(pieces[index]) - len(word)] + wrong
    return changed


def prompt_prefix(request: Received) -> str | None:
    """The code before the cursor as the request shows it: the FIM prompt's prefix (infill's
    Qwen template), or Tabby's `segments.prefix`. None for anything else."""
    body = request.body
    segments = body.get("segments")
    if isinstance(segments, dict):
        return str(segments.get("prefix", ""))
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or FIM_PREFIX not in prompt:
        return None
    start = prompt.rfind(FIM_PREFIX) + len(FIM_PREFIX)
    end = prompt.find(FIM_SUFFIX, start)
    return prompt[start : end if end != -1 else len(prompt)]


def locate(source: str, prefix: str, cursor: int) -> int | None:
    """The offset in `source` right after `prefix`, at or before `cursor` (the latest position
    typed: a request is for that position or an earlier one)."""
    tail = prefix[-300:]
    if not tail:
        return None
    found = source.rfind(tail, 0, cursor)
    return found + len(tail) if found != -1 else None


@dataclass
class Answered:
    """A completion request the fake model answered."""

    request: Received
    segment: int
    offset: int | None  # where in the segment's file the request's cursor was; None: not found
    text: str  # what the model answered
    wrong: bool  # with a word that is not the file's


class TypedFileModel:
    """The fake model's answers: the text that really follows the cursor in the file being
    typed, at a fixed time to first token and tokens per second; a share `wrong` of the
    answers has a wrong word in its first line (the same answers for every system: the choice
    depends on the seed and the cursor only)."""

    def __init__(
        self,
        ttft: float,
        tokens_per_second: float,
        answer_lines: int,
        wrong: float = 0.0,
        seed: int = 1,
    ) -> None:
        self.ttft = ttft
        self.token_time = 1 / tokens_per_second
        self.answer_lines = answer_lines
        self.wrong = wrong
        self.seed = seed
        self.segment = -1
        self.source = ""
        self.cursor = 0  # the replay moves it with each key
        self.answered: list[Answered] = []

    def reply(self, request: Received) -> Reply | None:
        prefix = prompt_prefix(request)
        if prefix is None:
            return None
        offset = locate(self.source, prefix, self.cursor)
        text = next_text(self.source, offset, self.answer_lines) if offset is not None else ""
        pieces = token_pieces(text)
        rng = random.Random(f"{self.seed}:{self.segment}:{offset}")
        if rng.random() < self.wrong:
            pieces = with_a_wrong_word(pieces, rng)
        answer = "".join(pieces)
        self.answered.append(Answered(request, self.segment, offset, answer, answer != text))
        return Reply(chunks=pieces or [""], ttft=self.ttft, delay=self.token_time)


# -- the systems -------------------------------------------------------------------------------


class TimedLspClient(LspClient):
    """The harness's client, noting when each response arrives (before anything else runs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answered_at: dict[Any, float] = {}

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message and "method" not in message:
            self.answered_at[message["id"]] = time.perf_counter()
        super()._dispatch(message)


@dataclass
class System:
    name: str
    method: str  # what the editor asks after each key
    command: list[str] | None  # None: `infill serve`
    env: dict[str, str]
    initialization_options: Any = None
    inline: bool = True  # answers are InlineCompletionItems (else CompletionItems)
    stderr: list[str] = field(default_factory=list)  # what the process wrote there

    def params(self, uri: str, position: tuple[int, int]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "textDocument": {"uri": uri},
            "position": {"line": position[0], "character": position[1]},
        }
        # As while typing: inline triggerKind 2 (Automatic); completion triggerKind 1, what
        # VS Code sends for a typed word character (tabby-agent reads neither).
        params["context"] = {"triggerKind": 2 if self.inline else 1}
        return params

    def shown(self, result: Any, position: tuple[int, int]) -> str:
        """The ghost text a response shows ("" for none)."""
        items = result.get("items", []) if isinstance(result, dict) else result or []
        if not items:
            return ""
        item = items[0]
        if self.inline:
            text = item["insertText"]
            return str(text["value"] if isinstance(text, dict) else text)
        # A completion item replaces the word before the cursor with that word and the rest.
        edit = item["textEdit"]
        start = edit.get("range", edit.get("replace"))["start"]["character"]
        return str(edit["newText"][position[1] - start :])


def infill_system(fake: FakeLLM, scratch: Path, overrides: dict[str, Any]) -> System:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFILL")}
    env["XDG_CONFIG_HOME"] = str(scratch / "config")
    env["XDG_STATE_HOME"] = str(scratch / "state")
    env["PYTHONFAULTHANDLER"] = "1"  # a crash in native code shows its Python stack
    backend = {"kind": "openai", "url": fake.url, "template": "qwen", "model": "qwen2.5-coder"}
    options = merge({"backend": backend}, overrides)
    return System("infill", "textDocument/inlineCompletion", None, env, options)


def ensure_tabby_agent(cache: Path = PEERS_CACHE) -> Path:
    """tabby-agent's cli.js, installed from npm on first use."""
    folder = cache / f"tabby-agent-{TABBY_AGENT_VERSION}"
    cli = folder / "node_modules" / "tabby-agent" / "dist" / "cli.js"
    if cli.is_file():
        return cli
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise SystemExit("--peer tabby-agent needs node and npm")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"installing tabby-agent {TABBY_AGENT_VERSION} into {folder} ...", flush=True)
    subprocess.run(
        [
            npm,
            "install",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(folder),
            f"tabby-agent@{TABBY_AGENT_VERSION}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return cli


def tabby_system(name: str, cli: Path, fake: FakeLLM, home: Path, debounce_zero: bool) -> System:
    """tabby-agent with its own HOME, whose config points it at the fake Tabby server."""
    config = home / ".tabby-client" / "agent" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    text = f'[server]\nendpoint = "{fake.root}"\n\n[anonymousUsageTracking]\ndisable = true\n'
    if debounce_zero:
        text += '\n[completion.debounce]\nmode = "fixed"\ninterval = 0\n'
    config.write_text(text)
    env = {**os.environ, "HOME": str(home)}
    node = shutil.which("node") or "node"
    command = [node, str(cli), "--lsp", "--stdio"]
    return System(name, "textDocument/completion", command, env, inline=False)


# -- the replay --------------------------------------------------------------------------------


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


# -- the numbers -------------------------------------------------------------------------------


def distribution(values: Sequence[float]) -> dict[str, Any]:
    """P50/P75/P95/P99 (None for no values; a miss counts as infinitely late) and n."""
    quantiles = percentiles(values, PERCENTILES) if values else [None] * len(PERCENTILES)
    stats: dict[str, Any] = {f"p{q}": v for q, v in zip(PERCENTILES, quantiles, strict=True)}
    stats["n"] = len(values)
    return stats


def single_line_position(line_before: str) -> bool:
    """Where infill asks for one line (README, "How a completion is made"): after code on the
    line, not after a block opener, not in a string opened on the line. The same positions
    count for every system."""
    code = line_before.rstrip()
    opened_string = code.count('"""') % 2 == 1 or code.count("'''") % 2 == 1
    return bool(code.strip()) and not code.endswith((":", "{")) and not opened_string


def first_line_end(text: str) -> int:
    """Where the first line of a suggestion made from `text` ends: the first line end after
    something other than blanks (the model may start with the line end of the cursor's line)."""
    match = re.search(r"\S[^\n]*\n", text)
    return match.end() if match else len(text)


@dataclass
class Backend:
    """A backend request as the analysis sees it."""

    arrived: float
    ended: float
    sent: list[float]
    pieces: list[str]
    closed_early: bool


def backend_of(answered: Answered) -> Backend:
    request = answered.request
    pieces = request.reply.chunks if request.reply is not None else []
    ended = request.ended if request.ended is not None else math.inf
    return Backend(request.arrived, ended, list(request.sent), pieces, request.closed_early)


def floor_of(backend: Backend) -> float | None:
    """Seconds from the request's arrival to the piece that completed the first line."""
    text, needed = "", first_line_end("".join(backend.pieces))
    for piece, moment in zip(backend.pieces, backend.sent, strict=False):
        text += piece
        if len(text) >= needed:
            return moment - backend.arrived
    # Sent whole (Tabby) or cut before: the last piece sent is when the text was there.
    return backend.sent[-1] - backend.arrived if backend.sent else None


def analyse(
    asked: Sequence[Asked],
    answered: Sequence[Answered],
    keys: int,
    sources: Mapping[Any, str] | None = None,
) -> dict[str, Any]:
    """Samples and summary of one system's replay. `sources`: where the server says each
    answer came from (by request id), where it says so (infill's local metrics)."""
    sources = sources or {}
    by_cursor: dict[tuple[int, int | None], list[Backend]] = {}
    by_segment: dict[int, list[Backend]] = {}
    for record in answered:
        backend = backend_of(record)
        by_cursor.setdefault((record.segment, record.offset), []).append(backend)
        by_segment.setdefault(record.segment, []).append(backend)

    samples: list[dict[str, Any]] = []
    pause_ms: list[float] = []
    model_pause_ms: list[float] = []  # the pauses whose suggestion had to come from the model
    outcomes = {"shown": 0, "late": 0, "declined": 0}
    overhead_ms: list[float] = []
    to_backend_ms: list[float] = []
    after_backend_ms: list[float] = []
    beyond_floor_ms: list[float] = []
    hit_ms: list[float] = []
    joined_ms: list[float] = []
    for item in asked:
        in_time = item.answered is not None and item.answered <= item.until and not item.error
        wait = (item.answered - item.sent) * 1000 if item.answered is not None else None
        sample: dict[str, Any] = {
            "segment": item.segment,
            "key": item.key,
            "offset": item.offset,
            "pause_ms": round(item.pause * 1000, 1),
            "wait_ms": wait,
            "in_time": in_time,
            "shown": item.shown,
            "error": item.error,
        }
        if item.request_id in sources:
            sample["server_source"] = sources[item.request_id]
        if in_time and item.shown:
            assert item.answered is not None and wait is not None
            answered_at = item.answered
            own = [
                b
                for b in by_cursor.get((item.segment, item.offset), [])
                if item.sent <= b.arrived <= answered_at
            ]
            used = [t for t in own[0].sent if t <= answered_at] if own else []
            if own and used:
                backend = own[0]
                backend_ms = (used[-1] - backend.arrived) * 1000
                sample["source"] = "backend"
                sample["backend_ms"] = backend_ms
                sample["overhead_ms"] = wait - backend_ms
                overhead_ms.append(wait - backend_ms)
                # The overhead's two parts: before the backend was asked (for a debounce, the
                # prompt), and after its last piece (the post-processing, the answer's way).
                to_backend_ms.append((backend.arrived - item.sent) * 1000)
                after_backend_ms.append((answered_at - used[-1]) * 1000)
                floor = floor_of(backend)
                # One line asked and shown (it may start with the line end of the cursor's line).
                one_line = "\n" not in item.shown.lstrip("\n")
                if one_line and single_line_position(item.line_before) and floor is not None:
                    sample["floor_ms"] = floor * 1000
                    sample["beyond_floor_ms"] = wait - floor * 1000
                    beyond_floor_ms.append(wait - floor * 1000)
            else:
                # Joined: a request for an earlier cursor was on its way and went on (not
                # called off when this key came) until it could answer. The server's word
                # where it has one: a stream open meanwhile may not have been what served.
                streaming = any(
                    b.arrived < item.sent
                    and b.ended > item.sent
                    and (not b.closed_early or b.ended >= answered_at)
                    for b in by_segment.get(item.segment, [])
                )
                if item.request_id in sources:
                    streaming = sources[item.request_id] == "inflight"
                sample["source"] = "joined" if streaming else "hit"
                (joined_ms if streaming else hit_ms).append(wait)
        if item.pause >= PAUSE_S:
            if in_time and item.shown:
                outcomes["shown"] += 1
                pause_ms.append(wait if wait is not None else math.inf)
                if sample["source"] in ("backend", "joined"):
                    model_pause_ms.append(pause_ms[-1])
            elif in_time:
                outcomes["declined"] += 1
            else:
                outcomes["late"] += 1
                pause_ms.append(math.inf)
                model_pause_ms.append(math.inf)  # nothing was ready: it waited for the model
        samples.append(sample)

    shown = sum(1 for s in samples if s.get("source"))
    told = [s for s in samples if s.get("source") and "server_source" in s]
    disagree = sum(
        1 for s in told if (s["source"] == "backend") != (s["server_source"] == "backend")
    )
    hits = len(hit_ms) + len(joined_ms)
    summary = {
        "keystrokes": keys,
        "pauses": sum(outcomes.values()),
        **{f"pauses_{k}": v for k, v in outcomes.items()},
        "pause_to_ghost_ms": distribution(pause_ms),
        "pause_to_model_ghost_ms": distribution(model_pause_ms),
        "server_overhead_ms": distribution(overhead_ms),
        "to_backend_ms": distribution(to_backend_ms),
        "after_backend_ms": distribution(after_backend_ms),
        "beyond_floor_ms": distribution(beyond_floor_ms),
        "hit_ms": distribution(hit_ms + joined_ms),
        "hit_cache_ms": distribution(hit_ms),
        "hit_joined_ms": distribution(joined_ms),
        "suggestions_shown": shown,
        "hits": hits,
        "hit_rate": hits / shown if shown else None,
        "backend_requests": len(answered),
        "backend_requests_per_100_keys": 100 * len(answered) / keys if keys else None,
        "backend_streams_closed_early": sum(1 for a in answered if a.request.closed_early),
        "backend_requests_not_located": sum(1 for a in answered if a.offset is None),
        # The server's own account of the answers shown, where it gives one, and how often it
        # disagrees with the inference (backend or not).
        "server_sources": dict(Counter(s["server_source"] for s in told)) if told else None,
        "server_source_disagreements": disagree if told else None,
    }
    backend_samples = [
        {
            "segment": a.segment,
            "offset": a.offset,
            "arrived": a.request.arrived,
            "sent": a.request.sent,
            "ended": a.request.ended,
            "closed_early": a.request.closed_early,
            "answer": a.text,
            "wrong": a.wrong,
        }
        for a in answered
    ]
    return {
        "summary": summary,
        "requests": samples,
        "backend_requests": backend_samples,
        "pause_to_ghost_ms": pause_ms,
    }


def metrics_database(system: System) -> Path | None:
    """Where infill keeps its local metrics (in the run's own state directory)."""
    state = system.env.get("XDG_STATE_HOME") if system.command is None else None
    return Path(state) / "infill" / "metrics.sqlite3" if state else None


def server_metrics(database: Path | None) -> dict[str, Any] | None:
    """infill's own summary of the run (`infill stats --json`), if it keeps metrics."""
    if database is None or not database.is_file():
        return None
    try:
        from infill.metrics import report

        found: dict[str, Any] = report(database)
        return found
    except Exception as exc:  # a format in flux must not cost the run
        return {"error": str(exc)}


def server_sources(
    database: Path | None, asked: Sequence[Asked], wall_minus_perf: float
) -> dict[Any, str]:
    """Where infill says each answer came from. Its local metrics hold one event per answered
    request (its source, the wall-clock time just before the answer left): each is matched
    with the first answer the client received after it. Empty if there are no such events."""
    if database is None or not database.is_file():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            query = "SELECT ts, source FROM events WHERE kind = 'request' ORDER BY ts"
            rows = db.execute(query).fetchall()
    except sqlite3.Error:
        return {}
    answers = sorted(
        (item.answered, item.request_id)
        for item in asked
        if item.answered is not None and not item.error
    )
    found: dict[Any, str] = {}
    next_answer = 0
    for ts, source in rows:
        at = ts - wall_minus_perf  # on the client's clock
        while next_answer < len(answers) and answers[next_answer][0] < at - 0.002:
            next_answer += 1  # answers the server did not record (or the clocks' jitter)
        if next_answer < len(answers) and answers[next_answer][0] - at < 0.05:
            found[answers[next_answer][1]] = source
            next_answer += 1
    return found


# -- output ------------------------------------------------------------------------------------


def finite(value: Any) -> Any:
    """JSON has no infinity: a miss is written as null."""
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "miss"
    return f"{value:.1f}"


METRICS = (
    ("pause_to_ghost_ms", "pause → ghost text (ms)"),
    ("pause_to_model_ghost_ms", "  when the model was needed (ms)"),
    ("server_overhead_ms", "server overhead (ms)"),
    ("to_backend_ms", "  key → backend request (ms)"),
    ("after_backend_ms", "  backend's last piece → answer (ms)"),
    ("beyond_floor_ms", "single line beyond floor (ms)"),
    ("hit_ms", "hit latency (ms)"),
    ("hit_cache_ms", "  cache/typeahead, at once (ms)"),
    ("hit_joined_ms", "  joined a request in flight (ms)"),
)


def ratios(systems: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """infill / each peer."""
    ours = systems["infill"]["summary"]
    found = {}
    for name, result in systems.items():
        if name == "infill":
            continue
        theirs = result["summary"]
        entry: dict[str, float | None] = {}
        for q in PERCENTILES:
            a, b = ours["pause_to_ghost_ms"][f"p{q}"], theirs["pause_to_ghost_ms"][f"p{q}"]
            entry[f"pause_to_ghost_p{q}"] = _ratio(a, b)
        a, b = ours["pause_to_model_ghost_ms"]["p50"], theirs["pause_to_model_ghost_ms"]["p50"]
        entry["pause_to_model_ghost_p50"] = _ratio(a, b)
        entry["backend_requests_per_100_keys"] = _ratio(
            ours["backend_requests_per_100_keys"], theirs["backend_requests_per_100_keys"]
        )
        found[name] = entry
    return found


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b; None where either is missing or a miss."""
    if a is None or b is None or b == 0 or math.isinf(a) or math.isinf(b):
        return None
    return a / b


def goals(systems: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The card's latency goals, each with the measured value and whether it is met."""
    ours = systems["infill"]["summary"]
    checks = []

    def check(goal: str, value: float | None, met: bool | None) -> None:
        checks.append({"goal": goal, "value": value, "met": met})

    p95 = ours["server_overhead_ms"]["p95"]
    check("server overhead P95 <= 10 ms", p95, None if p95 is None else p95 <= 10)
    p95 = ours["hit_cache_ms"]["p95"]
    check("typeahead/cache hit P95 <= 2 ms", p95, None if p95 is None else p95 <= 2)
    p95 = ours["beyond_floor_ms"]["p95"]
    check(
        "single-line suggestion P95 within 5 ms of the floor",
        p95,
        None if p95 is None else p95 <= 5,
    )
    for name, result in systems.items():
        if name == "infill":
            continue
        theirs = result["summary"]
        ratio = _ratio(ours["pause_to_ghost_ms"]["p50"], theirs["pause_to_ghost_ms"]["p50"])
        check(f"pause → ghost P50 <= 0.5 x {name}'s", ratio, ratio is not None and ratio <= 0.5)
        a = ours["backend_requests_per_100_keys"]
        b = theirs["backend_requests_per_100_keys"]
        check(f"fewer backend requests per 100 keys than {name}", a, None not in (a, b) and a < b)
    return checks


def print_report(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    # Wide enough for four systems side by side, also when the output is not a terminal.
    console = Console(width=max(Console().width, 150))
    systems = results["systems"]
    table = Table(title="Latency (ms) — P50 / P75 / P95 / P99 (n)")
    table.add_column("metric")
    for name in systems:
        table.add_column(name, justify="right")
    for key, label in METRICS:
        row = [label]
        for result in systems.values():
            stats = result["summary"][key]
            cells = " / ".join(fmt(stats[f"p{q}"]) for q in PERCENTILES)
            row.append(f"{cells} ({stats['n']})")
        table.add_row(*row)
    for key, label in (
        ("pauses", "pauses"),
        ("pauses_shown", "  ghost text shown in the pause"),
        ("pauses_late", "  answer too late (miss)"),
        ("pauses_declined", "  nothing to show (declined)"),
        ("suggestions_shown", "suggestions shown"),
        ("hits", "  without their own backend request"),
        ("backend_requests", "backend requests"),
        ("backend_requests_per_100_keys", "backend requests / 100 keys"),
        ("backend_streams_closed_early", "backend requests dropped early"),
    ):
        row = [label]
        for result in systems.values():
            value = result["summary"][key]
            row.append(f"{value:.1f}" if isinstance(value, float) else str(value))
        table.add_row(*row)
    console.print(table)
    for name, entry in results["ratios"].items():
        parts = ", ".join(f"{k} {v:.3g}" if v is not None else f"{k} -" for k, v in entry.items())
        console.print(f"infill / {name}: {parts}")
    for check in results["goals"]:
        mark = {True: "[green]met[/]", False: "[red]not met[/]", None: "[yellow]n/a[/]"}
        value = check["value"]
        shown = "-" if value is None else f"{value:.3g}"
        console.print(f"  {mark[check['met']]}  {check['goal']}: {shown}")
    for name, result in systems.items():
        told = result["summary"].get("server_sources")
        disagree = result["summary"].get("server_source_disagreements")
        if told:
            console.print(
                f"{name}'s own account of the suggestions shown: {told}; "
                f"it disagrees with the inference (backend or not) on {disagree}"
            )
    reported = systems.get("infill", {}).get("server_metrics")
    if isinstance(reported, dict) and "error" not in reported:
        # The server's own count covers the warm-up keys too.
        sources = reported.get("sources")
        per_100 = reported.get("backend_requests_per_100_keystrokes")
        console.print(f"infill's own metrics (with the warm-up): answers by source {sources}")
        console.print(f"  and backend requests per 100 keys {per_100}")


def plot_cdf(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    longest = 0.0
    for name, result in results["systems"].items():
        values = result["pause_to_ghost_ms"]
        if not values:
            continue
        shown = sorted(v for v in values if not math.isinf(v))
        # Misses are in the total, so a line that never reaches 1 shows how many there were.
        xs = [0.0, *shown]
        ys = [0.0, *((i + 1) / len(values) for i in range(len(shown)))]
        axes.step(xs, ys, where="post", label=f"{name} (P50 {fmt(percentile(values, 50))} ms)")
        longest = max(longest, *shown) if shown else longest
    args = results["args"]
    axes.axvline(args["ttft_ms"], color="grey", linestyle=":", label="time to first token")
    axes.set_xlim(0, longest * 1.05 if longest else 1000)
    axes.set_ylim(0, 1)
    axes.set_xlabel("last keystroke of a pause → ghost text (ms)")
    axes.set_ylabel("share of pauses (misses never get there)")
    axes.set_title(
        f"Pause to ghost text, fake model {args['ttft_ms']:g} ms to first token, "
        f"{args['tps']:g} tokens/s"
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", choices=["tabby-agent"], action="append", default=[])
    parser.add_argument("--ttft-ms", type=float, default=150, help="fake model's first token")
    parser.add_argument("--tps", type=float, default=60, help="fake model's tokens per second")
    parser.add_argument("--answer-lines", type=int, default=2, help="lines after the cursor's")
    parser.add_argument(
        "--wrong",
        type=float,
        default=0.5,
        help="share of answers with a wrong word in their first line (0: always right)",
    )
    parser.add_argument("--lines", type=int, default=3, help="lines typed per file")
    parser.add_argument(
        "--probes", type=int, default=3, help="probes per file: a value asked for elsewhere"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only this system"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an infill setting, such as completion.debounce_ms=0",
    )
    return parser.parse_args(argv)


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    session = make_session(args.lines, args.seed, probes=args.probes)
    keys = sum(len(s.keys) for s in session)
    overrides: dict[str, Any] = {}
    for assignment in args.settings:
        overrides = merge(overrides, parse_assignment(assignment))
    cli = ensure_tabby_agent() if "tabby-agent" in args.peer else None
    fake = await FakeLLM().start()
    model = TypedFileModel(args.ttft_ms / 1000, args.tps, args.answer_lines, args.wrong, args.seed)
    fake.on_request = model.reply
    systems: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="infill-latency-") as scratch_dir:
            scratch = Path(scratch_dir)
            workspace = scratch / "workspace"
            workspace.mkdir()
            for segment in session:  # the documents as they are on disk when opened
                (workspace / segment.name).write_text(segment.source[: segment.start])
            runs = [infill_system(fake, scratch / "infill", overrides)]
            if cli is not None:
                runs.append(tabby_system("tabby-agent", cli, fake, scratch / "tabby", False))
                runs.append(
                    tabby_system("tabby-agent debounce 0", cli, fake, scratch / "tabby0", True)
                )
            if args.only:
                runs = [system for system in runs if system.name in args.only]
            columns = (*Progress.get_default_columns()[:2], MofNCompleteColumn())
            # Drawn once a second: each drawing holds this process (the client and the fake
            # model) for a few milliseconds, which would show in the measured waits.
            bar = (*columns, BarColumn(), TimeElapsedColumn())
            with Progress(*bar, refresh_per_second=1) as progress:
                tasks = {s.name: progress.add_task(s.name, total=keys) for s in runs}
                for system in runs:
                    task = tasks[system.name]
                    wall_minus_perf = time.time() - time.perf_counter()
                    try:
                        asked, answered = await run_system(
                            system,
                            session,
                            workspace,
                            fake,
                            model,
                            lambda task=task: progress.advance(task),  # type: ignore[misc]
                        )
                    finally:
                        log = args.out / f"{system.name.replace(' ', '-')}.stderr.log"
                        log.write_text("".join(line + "\n" for line in system.stderr))
                    database = metrics_database(system)  # complete: the server has exited
                    sources = server_sources(database, asked, wall_minus_perf)
                    systems[system.name] = analyse(asked, answered, keys, sources)
                    systems[system.name]["server_metrics"] = server_metrics(database)
    finally:
        await fake.stop()
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {
            "peer": args.peer,
            "ttft_ms": args.ttft_ms,
            "tps": args.tps,
            "answer_lines": args.answer_lines,
            "wrong": args.wrong,
            "lines": args.lines,
            "probes": args.probes,
            "seed": args.seed,
            "settings": overrides,
            "pause_s": PAUSE_S,
        },
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "tabby_agent": TABBY_AGENT_VERSION if cli is not None else None,
        },
        "session": {
            "keystrokes": keys,
            "typing": asdict(TypingModel()),
            "segments": [
                {
                    "name": s.name,
                    "origin": s.origin,
                    "start": s.start,
                    "typed": s.typed,
                    "gaps_s": [round(k.gap_after, 4) for k in s.keys],
                }
                for s in session
            ],
        },
        "systems": systems,
        "ratios": ratios(systems) if "infill" in systems else {},
        "goals": goals(systems) if "infill" in systems else [],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out or REPO / "bench" / "results" / time.strftime("latency-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    args.out = out
    started = time.perf_counter()
    results = asyncio.run(benchmark(args))
    results["wall_s"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(finite(results), indent=1) + "\n")
    plot_cdf(results, out / "latency_cdf.png")
    print_report(results)
    print(f"wrote {out / 'results.json'} and {out / 'latency_cdf.png'} ({results['wall_s']} s)")
    print(f"(and each system's stderr: {out}/*.stderr.log)")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
