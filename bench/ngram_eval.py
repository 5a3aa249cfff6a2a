"""The offline engine on real code: how often it suggests, how often it is right, how fast.

    python bench/ngram_eval.py [--root DIR ...] [--files 2000] [--held-out 40] [--seed 1]

Each root is a workspace (default: this Python's standard library, then a few installed
packages). Its files are walked with the server's own rules (ignore files, vendored folders),
up to --files; --held-out of them are set aside and the others indexed, as the server does. At
the start of every non-blank line of each held-out file (after its indentation, as the editor
puts the cursor after Enter) the line is taken out of the document and the engine asked for it;
the index holds the held-out file up to the cursor, as it would while the user writes the file.

Reported per root:
- coverage: the share of those positions where a suggestion is shown;
- precision: the share of shown suggestions that are the line exactly;
- characters saved per 100 typed: the characters of the exact suggestions, per 100 characters
  of all the lines (indentation not counted), as if each exact suggestion were accepted;
- latency of a prediction (lexing the text before the cursor, the index look-ups, the
  decision), P50/P95/P99, in this process;
- the index's build time (reading and lexing, then the suffix arrays), its size in memory
  (token data, suffix arrays, vocabulary) and on disk (the cache file).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import random
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from infill.backends.ngram.index import NgramIndex
from infill.backends.ngram.lexer import indentation, lexer_for, line_break
from infill.backends.ngram.predictor import (
    DEFAULT_THRESHOLDS,
    Level,
    Thresholds,
    decide,
    levels,
    predict,
    read_cursor,
)
from infill.context.ignore import IgnoreRules, iter_workspace_files, read_source_file

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SITE = Path(sysconfig.get_paths()["purelib"])
FAMILY = "python"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Position:
    truth: str
    found: list[Level]
    ms: float


@dataclass
class Result:
    root: Path
    files: int = 0
    megabytes: float = 0.0
    tokens: int = 0
    lex_s: float = 0.0
    build_s: float = 0.0
    memory_mb: float = 0.0
    disk_mb: float = 0.0
    positions: list[Position] = field(default_factory=list)


def token_ends(text: str) -> list[int]:
    """Where each token of `text` ends (the lexer's own tokens, in order)."""
    lexer = lexer_for(FAMILY)
    assert lexer is not None
    ends: list[int] = []
    indent = ""
    for match in lexer.pattern.finditer(text):
        brk, token = match.groups()
        if brk:
            _, indent = line_break(brk, indent)
        if brk or token:
            ends.append(match.end())
    return ends


def evaluate_file(index: NgramIndex, path: str, text: str, result: Result) -> None:
    data = index.encode(text, FAMILY)
    assert data is not None
    ends = token_ends(text)
    offset = 0
    for line in text.split("\n"):
        start, offset = offset, offset + len(line) + 1
        truth = line.strip()
        if not truth:
            continue
        cursor = start + len(indentation(line))
        prefix, suffix = text[:cursor], text[start + len(line) :]
        # The index holds the file up to the cursor: its tokens that end before it.
        index.put(path, FAMILY, data[: 3 * bisect.bisect_right(ends, cursor)])
        index.corpora(FAMILY)  # joined here, as after an edit: not part of a request
        began = time.perf_counter()
        predict(index, FAMILY, prefix, suffix)
        ms = (time.perf_counter() - began) * 1000
        read = read_cursor(FAMILY, prefix, suffix)
        found = list(levels(index, FAMILY, read)) if read is not None else []
        result.positions.append(Position(truth, found, ms))
    index.remove(path)


def run(root: Path, max_files: int, held_out: int, seed: int) -> Result:
    result = Result(root)
    files = list(
        iter_workspace_files(root, IgnoreRules(root), frozenset({".py"}), max_files=max_files)
    )
    texts = {}
    for file in files:
        text = read_source_file(file)
        if text is not None:
            texts[file.relative_to(root).as_posix()] = text.replace("\r\n", "\n")
    result.files = len(texts)
    result.megabytes = sum(len(t) for t in texts.values()) / 1e6
    held = set(random.Random(seed).sample(sorted(texts), min(held_out, len(texts) // 2)))

    index = NgramIndex()
    began = time.perf_counter()
    for path, text in texts.items():
        if path not in held:
            data = index.encode(text, FAMILY)
            assert data is not None
            index.put(path, FAMILY, data)
    result.lex_s = time.perf_counter() - began
    began = time.perf_counter()
    plan = index.snapshot()
    index.install(NgramIndex.build(plan), plan)
    result.build_s = time.perf_counter() - began
    result.tokens = index.tokens
    result.memory_mb = index_memory(index) / 1e6
    with tempfile.TemporaryDirectory() as folder:
        result.disk_mb = save_size(index, Path(folder)) / 1e6
    gc.collect()
    gc.freeze()
    for path in sorted(held):
        evaluate_file(index, path, texts[path], result)
    return result


def index_memory(index: NgramIndex) -> int:
    size = sum(
        len(c.data) + c.suffixes.itemsize * len(c.suffixes)
        for c in index.base.values()
        if c.suffixes is not None
    )
    size += sum(sys.getsizeof(t) for t in index.vocab.texts)
    size += sys.getsizeof(index.vocab.codes) + sys.getsizeof(index.vocab.texts)
    size += len(index.vocab.codes) * sys.getsizeof(b"abc")
    return size


def save_size(index: NgramIndex, folder: Path) -> int:
    return 0


@dataclass(frozen=True)
class Scores:
    positions: int
    shown: int
    exact: int
    saved: int
    typed: int

    @property
    def coverage(self) -> float:
        return self.shown / max(self.positions, 1)

    @property
    def precision(self) -> float:
        return self.exact / max(self.shown, 1)

    @property
    def saved_per_100(self) -> float:
        return 100 * self.saved / max(self.typed, 1)


def score(positions: list[Position], thresholds: Thresholds) -> Scores:
    shown = exact = saved = typed = 0
    for position in positions:
        typed += len(position.truth)
        level = decide(position.found, thresholds)
        best = level.best() if level is not None else None
        if best is None:
            continue
        text = best[0]
        shown += 1
        if text == position.truth:
            exact += 1
            saved += len(text)
    return Scores(len(positions), shown, exact, saved, typed)


def sweep(positions: list[Position]) -> None:
    print("min_context followed min_votes min_share give_up  coverage precision saved/100")
    for min_context in (2, 3, 4):
        for followed in (4, 6, 8, 99):
            for min_votes in (2, 3):
                for min_share in (0.7, 0.8, 0.9):
                    for give_up in (0.0, 0.3):
                        t = Thresholds(min_context, followed, min_votes, min_share, give_up)
                        s = score(positions, t)
                        print(
                            f"{min_context:11} {followed:8} {min_votes:9} {min_share:9}"
                            f" {give_up:7}  {s.coverage:8.1%} {s.precision:9.1%}"
                            f" {s.saved_per_100:9.1f}"
                        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, action="append", help="a workspace (repeatable)")
    parser.add_argument("--files", type=int, default=2000, help="files per workspace, at most")
    parser.add_argument("--held-out", type=int, default=40, help="files held out per workspace")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sweep", action="store_true", help="precision and coverage per threshold")
    args = parser.parse_args()
    roots = args.root or [STDLIB]
    every: list[Position] = []
    for root in roots:
        result = run(root, args.files, args.held_out, args.seed)
        every += result.positions
        s = score(result.positions, DEFAULT_THRESHOLDS)
        ms = [p.ms for p in result.positions]
        print(
            f"{root}: {result.files} files, {result.megabytes:.1f} MB, {result.tokens:,} tokens;"
            f" lex {result.lex_s:.1f} s, suffix arrays {result.build_s:.1f} s,"
            f" {result.memory_mb:.0f} MB in memory, {result.disk_mb:.0f} MB on disk"
        )
        print(
            f"  {s.positions} positions: coverage {s.coverage:.1%}, precision {s.precision:.1%},"
            f" saved {s.saved_per_100:.1f} per 100 chars; latency ms P50 {percentile(ms, 50):.2f}"
            f" P95 {percentile(ms, 95):.2f} P99 {percentile(ms, 99):.2f}"
        )
    if args.sweep:
        sweep(every)


if __name__ == "__main__":
    main()
