"""The offline engine on real code: how often it suggests, how often it is right, how fast.

    python bench/ngram_eval.py [--root DIR ...] [--files 2000] [--held-out 40] [--seed 1]
                               [--sweep]

Each root is a workspace (default: this Python's standard library, then installed packages:
numpy, pygments, mypy, hypothesis).
Its Python files are walked with the server's own rules (ignore files, vendored folders), up to
--files; --held-out of them are set aside and the others indexed, as the server does. At the
start of every non-blank line of each held-out file (after its indentation, where the editor
puts the cursor after Enter) the line is taken out of the document and the engine asked for it;
the index holds the held-out file up to the cursor, as it would while the user writes the file.

Reported per root, and for all positions together (and again for the lines of code alone: not
comments, not inside strings such as docstrings, where the engine never suggests):
- coverage: the share of those positions where a suggestion is shown;
- precision: the share of shown suggestions whose first line is the line exactly;
- characters saved per 100 typed: the characters of the exact suggestions per 100 characters of
  all the lines (indentation not counted), as if every exact suggestion were accepted;
- latency of a prediction (lexing the text around the cursor, the index look-ups, the
  decision), P50/P95/P99, in this process;
- lines written before: the share of positions whose line occurs, exactly, in the indexed files
  or earlier in its own file: the most a completer that copies lines could get right;
- the index: files, tokens, build time (reading and lexing; suffix arrays), size in memory
  (token data, suffix arrays, vocabulary), the cache file's size and the time to load it.

--sweep prints coverage and precision for other thresholds (`predictor.Thresholds`).
"""

from __future__ import annotations

import argparse
import bisect
import gc
import itertools
import random
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from infill.backends.ngram.index import CODE_BYTES, NgramIndex
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
from infill.backends.ngram.store import read, write
from infill.context.ignore import IgnoreRules, iter_workspace_files, read_source_file
from infill.metrics import percentile

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SITE = Path(sysconfig.get_paths()["purelib"])
FAMILY = "python"
# Each a workspace of its own: the standard library, and installed packages (those of the test
# extra) that carry no vendored copies of other packages.
DEFAULT_ROOTS = [STDLIB, *(SITE / name for name in ("numpy", "pygments", "mypy", "hypothesis"))]


@dataclass
class Position:
    truth: str  # the line, without its indentation
    shown: str | None  # the first line of the suggestion
    ms: float
    code: bool  # a line of code: not a comment, not inside a string (a docstring)
    seen: bool  # the line occurs in the index: in another file, or earlier in this one
    found: list[Level] = field(default_factory=list)  # for --sweep


@dataclass
class Build:
    files: int = 0
    megabytes: float = 0.0
    tokens: int = 0
    lex_s: float = 0.0
    suffix_arrays_s: float = 0.0
    memory_mb: float = 0.0
    disk_mb: float = 0.0
    load_s: float = 0.0


@dataclass(frozen=True)
class Scores:
    positions: int
    shown: int
    exact: int
    saved: int
    typed: int

    @classmethod
    def of(cls, positions: list[Position], shown: list[str | None]) -> Scores:
        pairs = list(zip(positions, shown, strict=True))
        exact = [text for p, text in pairs if text is not None and text == p.truth]
        return cls(
            positions=len(pairs),
            shown=sum(text is not None for _, text in pairs),
            exact=len(exact),
            saved=sum(map(len, exact)),
            typed=sum(len(p.truth) for p in positions),
        )

    @property
    def coverage(self) -> float:
        return self.shown / max(self.positions, 1)

    @property
    def precision(self) -> float:
        return self.exact / max(self.shown, 1)

    @property
    def saved_per_100(self) -> float:
        return 100 * self.saved / max(self.typed, 1)


def token_ends(text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Where each token of `text` ends, in order (the lexer's own tokens), and the spans of
    the tokens that run over several lines (strings)."""
    lexer = lexer_for(FAMILY)
    assert lexer is not None
    ends: list[int] = []
    long_tokens: list[tuple[int, int]] = []
    indent = ""
    for match in lexer.pattern.finditer(text):
        brk, token = match.groups()
        if brk:
            _, indent = line_break(brk, indent)
        if brk or token:
            ends.append(match.end())
        if token and "\n" in token:
            long_tokens.append(match.span())
    return ends, long_tokens


def evaluate_file(
    index: NgramIndex,
    path: str,
    text: str,
    lines_indexed: set[str],
    sweep: bool,
    positions: list[Position],
) -> None:
    data = index.encode(text, FAMILY)
    assert data is not None
    ends, long_tokens = token_ends(text)
    offset = 0
    lines_above: set[str] = set()
    for line in text.split("\n"):
        start, offset = offset, offset + len(line) + 1
        truth = line.strip()
        if not truth:
            continue
        seen = truth in lines_indexed or truth in lines_above
        lines_above.add(truth)
        cursor = start + len(indentation(line))
        prefix, suffix = text[:cursor], text[start + len(line) :]
        # The index holds the file up to the cursor: its tokens that end before it.
        index.put(path, FAMILY, data[: CODE_BYTES * bisect.bisect_right(ends, cursor)])
        index.corpora(FAMILY)  # joined here, as after an edit: not part of a request
        began = time.perf_counter()
        suggestion = predict(index, FAMILY, prefix, suffix, path)
        ms = (time.perf_counter() - began) * 1000
        shown = suggestion.split("\n", 1)[0] if suggestion is not None else None
        inside = bisect.bisect_right(long_tokens, (start, len(text))) - 1
        in_string = inside >= 0 and long_tokens[inside][1] > start
        code = not (in_string or truth.startswith("#"))
        position = Position(truth, shown, ms, code, seen)
        if sweep:
            cursor_read = read_cursor(FAMILY, prefix, suffix, path)
            if cursor_read is not None:
                position.found = list(levels(index, FAMILY, cursor_read))
        positions.append(position)
    index.remove(path)


def workspace(root: Path, max_files: int) -> dict[str, str]:
    files = iter_workspace_files(root, IgnoreRules(root), frozenset({".py"}), max_files=max_files)
    texts = {}
    for file in files:
        text = read_source_file(file)
        if text is not None:
            texts[file.relative_to(root).as_posix()] = text.replace("\r\n", "\n")
    return texts


def build(texts: dict[str, str], held: set[str]) -> tuple[NgramIndex, Build]:
    numbers = Build(files=len(texts) - len(held))
    numbers.megabytes = sum(len(t) for p, t in texts.items() if p not in held) / 1e6
    index = NgramIndex()
    began = time.perf_counter()
    for path, text in texts.items():
        if path not in held:
            data = index.encode(text, FAMILY)
            assert data is not None
            index.put(path, FAMILY, data)
    numbers.lex_s = time.perf_counter() - began
    began = time.perf_counter()
    plan = index.snapshot()
    index.install(NgramIndex.build(plan), plan)
    numbers.suffix_arrays_s = time.perf_counter() - began
    numbers.tokens = index.tokens
    numbers.memory_mb = memory(index) / 1e6
    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder) / "index.bin"
        write(cache, *index.saved_state())
        numbers.disk_mb = cache.stat().st_size / 1e6
        began = time.perf_counter()
        NgramIndex().load(*read(cache))
        numbers.load_s = time.perf_counter() - began
    return index, numbers


def memory(index: NgramIndex) -> int:
    """Bytes of the token data, suffix arrays and vocabulary (strings, ids, the dict)."""
    size = 0
    for corpus in index.base.values():
        size += len(corpus.data) + corpus.starts.itemsize * len(corpus.starts)
        if corpus.suffixes is not None:
            size += corpus.suffixes.itemsize * len(corpus.suffixes)
    vocab = index.vocab
    size += sum(map(sys.getsizeof, vocab.texts)) + sys.getsizeof(vocab.texts)
    size += sum(map(sys.getsizeof, vocab.codes.values())) + sys.getsizeof(vocab.codes)
    return size


def run(root: Path, max_files: int, held_out: int, seed: int, sweep: bool) -> list[Position]:
    texts = workspace(root, max_files)
    # A file with a copy elsewhere in the workspace would be predicted from its copy: only
    # files whose text is their own are held out.
    copies = Counter(texts.values())
    unique = sorted(path for path, text in texts.items() if copies[text] == 1 and text.strip())
    held = set(random.Random(seed).sample(unique, min(held_out, len(unique) // 2)))
    index, numbers = build(texts, held)
    print(
        f"{root}: {numbers.files} files indexed, {numbers.megabytes:.1f} MB,"
        f" {numbers.tokens:,} tokens; read and lexed in {numbers.lex_s:.1f} s, suffix arrays"
        f" {numbers.suffix_arrays_s:.1f} s; {numbers.memory_mb:.0f} MB in memory,"
        f" {numbers.disk_mb:.0f} MB cache file loaded in {numbers.load_s:.2f} s",
        flush=True,
    )
    gc.collect()
    gc.freeze()  # as the server does once its index is built
    positions: list[Position] = []
    indexed = {line.strip() for p, t in texts.items() if p not in held for line in t.split("\n")}
    for path in sorted(held):
        evaluate_file(index, path, texts[path], indexed, sweep, positions)
    report(f"{len(held)} held-out files", positions)
    report("their lines of code (not comments, not in strings)", [p for p in positions if p.code])
    return positions


def report(what: str, positions: list[Position]) -> None:
    if not positions:
        return  # nothing held out: the build's numbers only
    scores = Scores.of(positions, [p.shown for p in positions])
    ms = [p.ms for p in positions]
    seen = sum(p.seen for p in positions) / max(len(positions), 1)
    print(
        f"  {what}, {scores.positions} positions: coverage {scores.coverage:.1%}, precision"
        f" {scores.precision:.1%} ({scores.exact} of {scores.shown}), saved"
        f" {scores.saved_per_100:.1f} characters per 100; latency ms P50"
        f" {percentile(ms, 50):.2f}, P95 {percentile(ms, 95):.2f}, P99 {percentile(ms, 99):.2f};"
        f" lines written before in the workspace {seen:.1%}",
        flush=True,
    )


def sweep(positions: list[Position]) -> None:
    """Coverage and precision of the first line for other thresholds (from the same levels)."""
    print("min_context followed min_votes min_share give_up  coverage precision saved/100")
    grid = itertools.product((2, 3, 4), (4, 6, 8, 99), (2, 3), (0.6, 0.7, 0.8, 0.9), (0.0, 0.3))
    for values in grid:
        thresholds = Thresholds(*values)
        shown = []
        for position in positions:
            choice = decide(position.found, thresholds)
            shown.append(choice.text if choice is not None else None)
        s = Scores.of(positions, shown)
        print(
            "".join(f"{v:>{w}}" for v, w in zip(values, (11, 9, 10, 10, 8), strict=True))
            + f"  {s.coverage:8.1%} {s.precision:9.1%} {s.saved_per_100:9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, action="append", help="a workspace (repeatable)")
    parser.add_argument("--files", type=int, default=2000, help="files per workspace, at most")
    parser.add_argument("--held-out", type=int, default=40, help="files held out per workspace")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sweep", action="store_true", help="precision, coverage per threshold")
    args = parser.parse_args()
    roots = [root.resolve() for root in args.root] if args.root else DEFAULT_ROOTS
    roots = [root for root in roots if root.is_dir()]
    print(f"thresholds: {DEFAULT_THRESHOLDS}")
    every: list[Position] = []
    for root in roots:
        every += run(root, args.files, args.held_out, args.seed, args.sweep)
    if len(roots) > 1:
        report("all", every)
        report("all lines of code", [p for p in every if p.code])
    if args.sweep:
        sweep(every)


if __name__ == "__main__":
    main()
