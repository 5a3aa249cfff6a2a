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
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from infill.backends.ngram.generate import generate
from infill.backends.ngram.index import CODE_BYTES, NgramIndex
from infill.backends.ngram.lexer import Lexer, indentation, lexer_for
from infill.backends.ngram.predictor import Level, decide, fit, levels, read_cursor
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
FILES = 30  # held out per family
MIN_FILES = 4  # of a family with fewer (long enough) files, the defaults stay
MIN_TOKENS = 300  # a shorter file is not held out
LINES_PER_FILE = 20  # measured per held-out file, spread over it
FAMILIES = 2  # calibrated, the largest first
# Tried: the share of the votes a line needs, and the confidence a generated line needs.
SHARES = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, NEVER)
CONFIDENCES = (0.04, 0.06, 0.09, 0.12, 0.15, 0.18, 0.22, 0.27, 0.35, 0.45, 0.6, 0.8, NEVER)


@dataclass(frozen=True)
class LinePosition:
    """Where the engine is asked for the rest of a line."""

    kind: str  # LINE_START: after the indentation; MID_LINE: a third of the line typed
    cursor: int  # offset in the text
    end: int  # of the line's code (trailing blanks left out)
    line_end: int  # of the line (its "\n")


def line_positions(text: str) -> Iterator[LinePosition]:
    """A line start in every non-blank line, and a mid-line position in those of 3 characters
    or more."""
    offset = 0
    for line in text.split("\n"):
        start, offset = offset, offset + len(line) + 1
        code = line.strip()
        if not code:
            continue
        begin = start + len(indentation(line))
        yield LinePosition(LINE_START, begin, begin + len(code), start + len(line))
        if len(code) >= 3:
            yield LinePosition(
                MID_LINE, begin + len(code) // 3, begin + len(code), start + len(line)
            )


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


def choose(samples: list[Sample], base: Thresholds) -> tuple[Thresholds, Measured]:
    """The thresholds that reach TARGET_PRECISION on `samples` (one kind of position) with the
    most right suggestions; ones that show nothing if none does."""
    kind = samples[0].kind if samples else LINE_START
    best = (replace(base, min_share=NEVER, generated=NEVER), Measured(kind, len(samples), 0, 0))
    for share in SHARES:
        thresholds = replace(base, min_share=share)
        lines = [decide(s.found, thresholds) for s in samples]
        for confidence in CONFIDENCES:
            shown = exact = 0
            for sample, choice in zip(samples, lines, strict=True):
                if choice is not None:
                    text: str | None = choice.text
                elif sample.confidence >= confidence:
                    text = sample.generated
                else:
                    text = None
                if text is not None:
                    shown += 1
                    exact += text == sample.truth
            if lower_bound(exact, shown) >= TARGET_PRECISION and exact > best[1].exact:
                chosen = replace(thresholds, generated=confidence)
                best = (chosen, Measured(kind, len(samples), shown, exact))
    return best


def lower_bound(right: int, shown: int, z: float = 1.0) -> float:
    """The precision that `right` of `shown` vouch for, 5 times in 6 (Wilson's score
    interval): the best of many thresholds tried on a small sample is flattered by it."""
    if not shown:
        return 0.0
    p = right / shown
    spread = z * math.sqrt(p * (1 - p) / shown + z * z / (4 * shown * shown))
    return (p + z * z / (2 * shown) - spread) / (1 + z * z / shown)


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
    texts = {path: read(path) for path in held_out_files(index, family)}
    files = {path: text.replace("\r\n", "\n") for path, text in texts.items() if text}
    if len(files) < MIN_FILES:
        return None
    samples: list[Sample] = []
    for path, text in files.items():
        positions = list(line_positions(text))
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
    tuned = {}
    measured = []
    for kind in KINDS:
        thresholds, found = choose([s for s in samples if s.kind == kind], DEFAULT_TUNING.of(kind))
        tuned[kind] = thresholds
        measured.append(found)
    return Calibration(Tuning(tuned[LINE_START], tuned[MID_LINE]), tuple(measured), len(files))


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
