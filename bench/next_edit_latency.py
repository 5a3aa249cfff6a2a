"""Model-free next edits: how long proposing takes after a rename, on real code.

    python bench/next_edit_latency.py [--files 200] [--renames 5] [--seed 1]

Runs offline on this Python's standard library. From --files of its modules (chosen at random
with --seed), --renames identifiers each (attribute and keyword names among them, which propose
nothing) are renamed where they occur, as an editor sends it (the name deleted, the new one
typed key by key, each a didChange applied to the context engine), then the proposals are
asked for with the cursor on the new name's last character. Reported: P50/P95/P99 and maximum
of the time to reparse the tree after the typing (the server's first use of the tree pays it,
unless its parse ahead has done it), of the time to propose with the tree up to date, and of
both; and how many renames got at least one proposal.

--large N times instead one large file beyond ASCII: a class of N methods, each with an accented
comment and a call of one function defined at the top (N = 1,500: 171,000 characters), where
that function is renamed at its definition, and then a parameter added to it.
"""

from __future__ import annotations

import argparse
import random
import sysconfig
import time
from pathlib import Path

from infill.context.engine import ContextEngine
from infill.context.syntax import SyntaxTree, get_language
from infill.metrics import percentiles

NEW_NAME = "renamed_name"


def identifiers(text: str) -> list[tuple[int, int]]:
    """(start, end) byte spans of the identifiers in `text` (an ASCII file: code points)."""
    language = get_language("python")
    assert language is not None
    found, stack = [], [SyntaxTree(language, text).root()]
    while stack:
        node = stack.pop()
        if node.type == "identifier":
            found.append((node.start_byte, node.end_byte))
        stack.extend(node.children)
    return found


def rename_and_propose(text: str, start: int, end: int) -> tuple[float, float, int]:
    """Milliseconds to reparse and to propose after renaming text[start:end], and how many
    proposals."""
    engine = ContextEngine()
    uri = "file:///bench.py"
    engine.open(uri, text, "python", 1, "utf-16")
    doc = engine.documents[uri].doc
    line, character = doc.position_at(start)
    engine.apply(uri, "", ((line, character), doc.position_at(end)))
    for typed, letter in enumerate(NEW_NAME):
        at = (line, character + typed)
        engine.apply(uri, letter, (at, at))
    tree = engine.documents[uri].tree
    assert tree is not None
    began = time.perf_counter()
    tree.root()
    parsed = time.perf_counter()
    proposals = engine.next_edits(uri, start + len(NEW_NAME) - 1)
    done = time.perf_counter()
    return (parsed - began) * 1000, (done - parsed) * 1000, len(proposals)


def large_file(methods: int) -> str:
    """A class of `methods` methods, each with a comment beyond ASCII and a call of `area`."""
    body = "".join(
        f"    def m{i}(self, value):\n        # größe und maß {i}\n"
        f"        return area(value, self.x{i}) + self.m{i - 1}(value)\n\n"
        for i in range(methods)
    )
    return "def area(width, height):\n    return width\n\n\nclass Big:\n" + body


def type_and_propose(text: str, line: int, start: int, end: int, typed: str) -> tuple[float, int]:
    """Milliseconds to propose (the tree up to date) after text's `line`, columns start to end,
    was deleted and `typed` typed there key by key, and how many proposals."""
    engine = ContextEngine()
    uri = "file:///large.py"
    engine.open(uri, text, "python", 1, "utf-16")
    if end > start:
        engine.apply(uri, "", ((line, start), (line, end)))
    for offset, letter in enumerate(typed):
        engine.apply(uri, letter, ((line, start + offset), (line, start + offset)))
    tree = engine.documents[uri].tree
    assert tree is not None
    tree.root()
    cursor = engine.documents[uri].doc.offset_at(line, start + len(typed) - 1)
    began = time.perf_counter()
    proposals = engine.next_edits(uri, cursor)
    return (time.perf_counter() - began) * 1000, len(proposals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--renames", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--large", type=int, help="one large file of this many methods instead")
    args = parser.parse_args()
    if args.large:
        text = large_file(args.large)
        renamed = type_and_propose(text, 0, 4, 8, "surface")
        added = type_and_propose(text, 0, len("def area(width, height"), 0, ", depth")
        print(f"{len(text):,} characters: a rename {renamed[0]:.1f} ms ({renamed[1]} proposals),")
        print(f"  a parameter added {added[0]:.1f} ms ({added[1]} proposals)")
        return
    rng = random.Random(args.seed)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    modules = sorted(p for p in stdlib.glob("*.py"))
    times: dict[str, list[float]] = {"reparse": [], "propose": [], "both": []}
    proposed = 0
    for path in rng.sample(modules, min(args.files, len(modules))):
        text = path.read_text(encoding="utf-8", errors="replace")
        if not text.isascii():
            continue  # spans are bytes here; keep them code points
        spans = identifiers(text)
        for start, end in rng.sample(spans, min(args.renames, len(spans))):
            reparse, propose, count = rename_and_propose(text, start, end)
            times["reparse"].append(reparse)
            times["propose"].append(propose)
            times["both"].append(reparse + propose)
            proposed += count > 0
    print(f"renames {len(times['both'])}, with a proposal {proposed}")
    for stage, values in times.items():
        p50, p95, p99 = percentiles(values, (50, 95, 99))
        print(f"{stage:<8} ms  P50 {p50:.2f}  P95 {p95:.2f}  P99 {p99:.2f}  max {max(values):.2f}")


if __name__ == "__main__":
    main()
