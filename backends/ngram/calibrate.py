"""Thresholds measured on the workspace's own code, so that what is shown is right as often as
TARGET_PRECISION says, in this workspace rather than in the ones the defaults were tuned on.

At index time a sample of the workspace's files is held out, one at a time: at the start of some
of their lines and a third into them, the engine is asked for the rest of the line with the file
up to the cursor in the index, as while the user writes it. Of the thresholds tried, those that
reach the target on these positions with the most right suggestions are kept, with what they
measured there; where none does, that kind of position gets no suggestion.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from infill.backends.ngram.generate import generate
from infill.backends.ngram.index import CODE_BYTES, NgramIndex
from infill.backends.ngram.lexer import Lexer, indentation, lexer_for
from infill.backends.ngram.predictor import Choice, Level, decide, fit, levels, read_cursor
from infill.backends.ngram.tuning import (
    DEFAULT_TUNING,
    KINDS,
    LINE_START,
    MID_LINE,
    NEVER,
    Calibration,
    Measured,
    Thresholds,
    Tuning,
)

TARGET_PRECISION = 0.6
FILES = 80  # held out per family, at most
MIN_FILES = 4  # of a family with fewer (long enough) files, the defaults stay
MIN_TOKENS = 300  # a shorter file is not held out
LINES_PER_FILE = 8  # measured per held-out file, spread over it
# Calibrating a family stops after this much of its thread's CPU time (seconds; the load of the
# machine does not shorten it), with the files measured so far.
BUDGET = 3.0
FAMILIES = 2  # calibrated, the largest first
# Tried, from the loosest to the strictest, each source of suggestions on its own (one that is
# often right must not carry one that is not): the share of the votes a line needs, and the
# confidence a generated line needs. The defaults (`tuning.py`) are among them. The share is
# never loosened below its default: on the benchmark's held-out files, shares a sample found
# good enough (0.6) lost 14 points of precision at line starts of the standard library.
SHARES = (0.8, 0.9, 1.0, NEVER)
CONFIDENCES = (0.04, 0.06, 0.09, 0.12, 0.18, 0.25, 0.35, 0.5, 0.7, NEVER)


@dataclass(frozen=True)
class LinePosition:
    """Where the engine is asked for the rest of a line."""

    kind: str  # LINE_START: after the indentation; MID_LINE: a third of the line typed
    cursor: int  # offset in the text
    end: int  # of the line's code: a trailing comment and the blanks before it left out
    line_end: int  # of the line (its "\n")


def line_positions(text: str, lexer: Lexer) -> Iterator[LinePosition]:
    """A line start in every non-blank line, and a mid-line position in those of 3 characters
    or more. The engine never writes comments: what it is to write ends where a trailing
    comment begins (a line that is only a comment has nothing to write)."""
    offset = 0
    for line in text.split("\n"):
        start, offset = offset, offset + len(line) + 1
        stripped = line.strip()
        if not stripped:
            continue
        begin = start + len(indentation(line))
        code_end = start + len(line.rstrip())
        for match in lexer.pattern.finditer(line):
            if not (match.group(1) or match.group(2)):  # a comment
                code_end = start + len(line[: match.start()].rstrip())
                break
        code_end = max(code_end, begin)
        yield LinePosition(LINE_START, begin, code_end, start + len(line))
        if len(stripped) >= 3:
            cursor = begin + len(stripped) // 3
            yield LinePosition(MID_LINE, cursor, max(code_end, cursor), start + len(line))


def token_spans(text: str, lexer: Lexer) -> list[tuple[int, int]]:
    """Where each token of `text` (line breaks included, comments not) starts and ends."""
    spans = []
    for match in lexer.pattern.finditer(text):
        if match.group(1) or match.group(2):
            spans.append(match.span())
    return spans


@dataclass(frozen=True)
class Sample:
    """What the engine had at one held-out position, for any thresholds."""

    kind: str
    truth: str  # the rest of the line
    found: list[Level]  # the votes of each context length
    generated: str | None  # the generated rest of the line (at the lowest confidence tried)
    confidence: float


def measure(
    index: NgramIndex, family: str, path: str, text: str, positions: list[LinePosition]
) -> Iterator[Sample]:
    """At each position, what the engine finds for the rest of the line with `text` (the file
    at `path`) in the index up to the cursor. The file must be held out of the index."""
    lexer = lexer_for(family)
    data = index.encode(text, family)
    if lexer is None or data is None:
        return
    ends = [end for _, end in token_spans(text, lexer)]
    weight = DEFAULT_TUNING.line_start.local_weight
    for position in positions:
        index.put(path, family, data[: CODE_BYTES * bisect.bisect_right(ends, position.cursor)])
        prefix, suffix = text[: position.cursor], text[position.line_end :]
        truth = text[position.cursor : position.end]
        cursor = read_cursor(family, prefix, suffix, path)
        if cursor is None:
            yield Sample(position.kind, truth, [], None, 0.0)
            continue
        found = list(levels(index, family, cursor, DEFAULT_TUNING.line_start.min_context))
        document = index.document(path, family)
        line = generate(
            index, family, cursor.tokens, cursor.pending, CONFIDENCES[0], document, weight
        )
        text_generated = fit(cursor, "".join(line.tokens)) if line is not None else None
        confidence = line.confidence if line is not None else 0.0
        yield Sample(position.kind, truth, found, text_generated or None, confidence)


def measure_setting(samples: list[Sample], thresholds: Thresholds) -> Measured:
    """What `thresholds` show at the positions of `samples` (one kind), and how much is right."""
    shown = exact = 0
    for sample in samples:
        text = _shown(sample, decide(sample.found, thresholds), thresholds.generated)
        if text is not None:
            shown += 1
            exact += text == sample.truth
    kind = samples[0].kind if samples else LINE_START
    return Measured(kind, len(samples), shown, exact)


def _shown(sample: Sample, choice: Choice | None, confidence: float) -> str | None:
    if choice is not None:
        return choice.text
    return sample.generated if sample.confidence >= confidence else None


def choose(samples: list[Sample], base: Thresholds) -> tuple[Thresholds, Measured]:
    """Thresholds for one kind of position: the share of votes a line needs, judged on the
    lines agreed on; then the confidence a generated line needs, judged on the lines generated
    where none is agreed on."""
    lines: list[tuple[int, int]] = []
    for share in SHARES:
        chosen = [decide(s.found, replace(base, min_share=share)) for s in samples]
        right = [c.text == s.truth for s, c in zip(samples, chosen, strict=True) if c is not None]
        lines.append((sum(right), len(right)))
    share = SHARES[_pick(lines, SHARES.index(base.min_share))]
    agreed = [decide(s.found, replace(base, min_share=share)) for s in samples]
    rest = [s for s, c in zip(samples, agreed, strict=True) if c is None and s.generated]
    generated = []
    for confidence in CONFIDENCES:
        right = [s.generated == s.truth for s in rest if s.confidence >= confidence]
        generated.append((sum(right), len(right)))
    confidence = CONFIDENCES[_pick(generated, CONFIDENCES.index(base.generated))]
    thresholds = replace(base, min_share=share, generated=confidence)
    return thresholds, measure_setting(samples, thresholds)


def _pick(found: list[tuple[int, int]], default: int) -> int:
    """Which of the settings (right and shown of each, from the loosest to the strictest, the
    last showing nothing) to keep, from the default: looser while their precision surely
    reaches TARGET_PRECISION (the low end of its interval does), else stricter if the default's
    falls short, to the first that reaches it; the last only where even the one before surely
    falls short (the high end of its interval does). Too little evidence keeps the default."""
    for i in range(default + 1):
        if interval(*found[i])[0] >= TARGET_PRECISION:
            return i
    right, shown = found[default]
    if not shown or right >= TARGET_PRECISION * shown:
        return default
    strictest = len(found) - 2
    for i in range(default + 1, strictest + 1):
        right, shown = found[i]
        if shown and right >= TARGET_PRECISION * shown:
            return i
    if found[strictest][1] and interval(*found[strictest])[1] < TARGET_PRECISION:
        return len(found) - 1
    return strictest


def interval(right: int, shown: int, z: float = 1.28) -> tuple[float, float]:
    """The precision that `right` of `shown` vouch for, 9 times in 10 at least and at most
    (Wilson's score interval)."""
    if not shown:
        return 0.0, 1.0
    p = right / shown
    spread = z * math.sqrt(p * (1 - p) / shown + z * z / (4 * shown * shown))
    middle = p + z * z / (2 * shown)
    return (middle - spread) / (1 + z * z / shown), (middle + spread) / (1 + z * z / shown)


def held_out_files(index: NgramIndex, family: str) -> list[str]:
    """The files to hold out: long enough, with no copy in the workspace (it would predict
    them whole), picked by a hash of their path (the same each time the workspace is
    indexed)."""
    corpus = index.base.get(family)
    if corpus is None:
        return []
    found = []
    copies = Counter(hashlib.sha1(corpus.file_data(n)).digest() for n in range(len(corpus.paths)))
    for number, path in enumerate(corpus.paths):
        start, end = corpus.file_bounds(number)
        if number not in corpus.dead and end - start >= MIN_TOKENS:
            if copies[hashlib.sha1(corpus.file_data(number)).digest()] == 1:
                found.append((hashlib.sha1(path.encode("utf-8", "surrogatepass")).digest(), path))
    return [path for _, path in sorted(found)[:FILES]]


def calibrate(
    index: NgramIndex, family: str, read: Callable[[str], str | None]
) -> Calibration | None:
    """Thresholds for `family` measured on its files held out of `index`; None for a family
    with too few files to tell. `read(path)`: the text of a file of the index (comments and
    all: a line the engine cannot write whole counts), None if it cannot be read."""
    lexer = lexer_for(family)
    if lexer is None:
        return None
    texts = {path: read(path) for path in held_out_files(index, family)}
    files = {path: text.replace("\r\n", "\n") for path, text in texts.items() if text}
    if len(files) < MIN_FILES:
        return None
    samples: list[Sample] = []
    measured_files = 0
    deadline = time.thread_time() + BUDGET
    for path, text in files.items():
        if time.thread_time() > deadline:
            break
        measured_files += 1
        positions = list(line_positions(text, lexer))
        # Whole lines, spread over the file: both kinds of position of each.
        starts = [i for i, p in enumerate(positions) if p.kind == LINE_START]
        step = max(len(starts) / LINES_PER_FILE, 1.0)
        picked = {starts[int(i * step)] for i in range(min(len(starts), LINES_PER_FILE))}
        chosen = [
            p
            for i, p in enumerate(positions)
            if i in picked or (i - 1 in picked and p.kind == MID_LINE)
        ]
        with index.held_out(path):
            samples += measure(index, family, path, text, chosen)
    if measured_files < MIN_FILES:
        return None
    tuned = {}
    measured = []
    for kind in KINDS:
        thresholds, found = choose([s for s in samples if s.kind == kind], DEFAULT_TUNING.of(kind))
        tuned[kind] = thresholds
        measured.append(found)
    return Calibration(Tuning(tuned[LINE_START], tuned[MID_LINE]), tuple(measured), measured_files)


def calibrate_workspace(
    index: NgramIndex, read: Callable[[str], str | None]
) -> dict[str, Calibration]:
    """Calibrations of the index's largest families (FAMILIES of them)."""
    largest = sorted(index.base, key=lambda family: -index.base[family].tokens)[:FAMILIES]
    found = {}
    for family in largest:
        calibration = calibrate(index, family, read)
        if calibration is not None:
            found[family] = calibration
    return found
