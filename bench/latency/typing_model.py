"""The typing session: real source files, cut before a block and typed key by key with
human intervals and pauses; the same for every system (fixed by its seed)."""

from __future__ import annotations

import math
import random
import re
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

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
