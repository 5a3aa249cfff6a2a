"""Context engine benchmark: cross-file definition recall, and latency per request.

    python bench/context.py recall  [--packages email asyncio ...] [--cases 200]
    python bench/context.py latency [--workspace DIR] [--requests 500]

Runs offline on code installed on this machine (the standard library, site-packages).

recall: at a line that calls or uses a name defined in another file of the same package (the
package is the workspace), the line typed up to just after the name, is the defining snippet
inside the prompt that `prepare` builds at the default budget?

latency: context gathering (and the whole prompt preparation) per request, on a ~3,000-line
file while 20 documents are open and a ~2,000-file workspace is indexed; plus the index's build
time and memory.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import resource
import sys
import sysconfig
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from infill.context.definitions import Definition
from infill.context.engine import ContextEngine
from infill.context.syntax import SyntaxTree, get_language
from infill.metrics import percentile
from infill.pipeline import prepare
from infill.settings import Settings, parse_settings

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SITE = Path(sysconfig.get_paths()["purelib"])
DEFAULT_PACKAGES = [
    STDLIB / "email",
    STDLIB / "asyncio",
    STDLIB / "json",
    STDLIB / "http",
    SITE / "httpx",
    SITE / "pygls",
]
_NAME_USE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)([(.])")
CALLABLE = {"function", "method", "class"}


def fim_settings() -> Settings:
    """Settings for a FIM model (the default, the offline engine, sends no prompt); nothing is
    asked of the server."""
    backend = {"kind": "openai", "url": "http://127.0.0.1:9", "template": "qwen", "model": "m"}
    return parse_settings({"backend": backend})[0]


def index(engine: ContextEngine) -> int:
    count = engine.index_workspace(engine.set_file_definitions)
    gc.collect()
    gc.freeze()  # as the server does once its index is built
    return count


# -- recall ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    file: Path
    line: int  # 0-based
    column: int  # code points: just after "name(" or "name."
    name: str
    defined_in: frozenset[str]  # display paths of the files defining the name


def _in_code(tree: SyntaxTree, line_start_byte: int, column_bytes: int) -> bool:
    """Whether the identifier there is code: not inside a string, docstring or comment."""
    node = tree.root().descendant_for_byte_range(
        line_start_byte + column_bytes, line_start_byte + column_bytes + 1
    )
    if node is None or node.type != "identifier":
        return False
    while node is not None:
        if node.type in ("string", "comment", "string_content"):
            return False
        node = node.parent
    return True


def find_cases(engine: ContextEngine, limit: int, rng: random.Random) -> list[Case]:
    """Real cross-file uses: `x.name(` of a function or method, `name(` of a function or class,
    `name.` of a class, where `name` is defined in one or two other files and not in this one."""
    kinds: dict[str, set[str]] = defaultdict(set)
    defined: dict[str, set[str]] = defaultdict(set)
    for path, definitions in engine.symbols.by_path.items():
        for d in definitions:
            defined[d.name].add(path)
            kinds[d.name].add(d.kind)
    grammar = get_language("python")
    assert grammar is not None
    cases: list[Case] = []
    for file in engine.workspace_files():
        path = engine.display_path(str(file), file.as_uri())
        own = {d.name for d in engine.symbols.by_path.get(path, [])}
        text = file.read_text(encoding="utf-8", errors="replace")
        tree = SyntaxTree(grammar, text)
        line_start_byte = 0
        for number, line in enumerate(text.split("\n")):
            for match in _NAME_USE.finditer(line):
                name, follows = match.group(1), match.group(2)
                homes = defined.get(name, set()) - {path}
                if name in own or not homes or len(defined[name]) > 2 or name.startswith("__"):
                    continue
                attribute_call = follows == "(" and line[: match.start(1)].endswith(".")
                if follows == "(" and not (kinds[name] & CALLABLE):
                    continue
                if follows == "." and "class" not in kinds[name]:
                    continue
                if follows == "(" and not attribute_call and "method" in kinds[name]:
                    continue
                column_bytes = len(line[: match.start(1)].encode())
                if not _in_code(tree, line_start_byte, column_bytes):
                    continue
                # The cursor after "name(" or "name.": arguments or a member come next.
                cases.append(Case(file, number, match.end(), name, frozenset(homes)))
            line_start_byte += len(line.encode()) + 1
    rng.shuffle(cases)
    return cases[:limit]


def covers(snippet_path: str, start: int, end: int, definitions: list[Definition]) -> bool:
    return any(
        d.path == snippet_path
        and start <= d.start_line
        and d.end_line >= start
        and d.start_line <= end
        for d in definitions
    )


def run_recall(packages: list[Path], cases_per_package: int, seed: int) -> None:
    settings = fim_settings()
    print(f"{'package':<12} {'files':>5} {'cases':>5} {'recall':>7}  {'p50 ms':>7} {'p95 ms':>7}")
    totals = [0, 0]
    for package in packages:
        if not package.is_dir():
            print(f"{package.name:<12} (not installed: {package})")
            continue
        engine = ContextEngine(package)
        files = index(engine)
        cases = find_cases(engine, cases_per_package, random.Random(seed))
        hits = 0
        times: list[float] = []
        for case in cases:
            text = case.file.read_text(encoding="utf-8", errors="replace")
            lines = text.split("\n")
            typed = lines[case.line][: case.column]
            # The user is typing this line: it ends at the name; the rest of the file follows.
            document = "\n".join([*lines[: case.line], typed, *lines[case.line + 1 :]])
            uri = case.file.as_uri()
            tracked = engine.open(uri, document, "python", 1, "utf-32")
            offset = tracked.doc.offset_at(case.line, len(typed))
            started = time.perf_counter()
            prepared = prepare(engine, uri, offset, settings)
            times.append((time.perf_counter() - started) * 1000)
            engine.close(uri)
            engine.closed.pop(uri, None)
            engine.recently_used.pop(uri, None)
            if prepared is None:
                continue
            wanted = [
                d
                for p in case.defined_in
                for d in engine.symbols.by_path.get(p, [])
                if d.name == case.name
            ]
            if any(
                covers(s.path, s.start_line, s.end_line, wanted) for s in prepared.prompt.snippets
            ):
                hits += 1
        totals[0] += hits
        totals[1] += len(cases)
        recall = hits / len(cases) if cases else 0.0
        print(
            f"{package.name:<12} {files:>5} {len(cases):>5} {recall:>7.1%}  "
            f"{percentile(times, 50):>7.2f} {percentile(times, 95):>7.2f}"
        )
    if totals[1]:
        print(f"{'all':<12} {'':>5} {totals[1]:>5} {totals[0] / totals[1]:>7.1%}")


# -- latency --------------------------------------------------------------------------------


def run_latency(workspace: Path, requests: int, seed: int) -> None:
    rng = random.Random(seed)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    engine = ContextEngine(workspace)
    files = index(engine)
    build_s = time.perf_counter() - started
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    names = len(engine.symbols.by_name)
    print(f"workspace {workspace}: {files} files, {names} names")
    print(
        f"index build {build_s:.1f} s (one thread), peak RSS {rss_before:.0f} -> "
        f"{rss_after:.0f} MiB"
    )

    sources = [f for f in engine.workspace_files() if f.suffix == ".py"]
    big = min(sources, key=lambda f: abs(len(f.read_text(errors="replace").split("\n")) - 3000))
    others = rng.sample([f for f in sources if f != big and f.stat().st_size > 4000], 19)
    for f in others:
        engine.open(f.as_uri(), f.read_text(errors="replace"), "python", 1, "utf-16")
    text = big.read_text(errors="replace")
    uri = big.as_uri()
    tracked = engine.open(uri, text, "python", 1, "utf-16")
    for f in [*others, big]:
        engine.refresh_definitions(f.as_uri())
    print(
        f"current document {big.relative_to(workspace)} ({tracked.doc.line_count} lines), 20 open"
    )

    settings = fim_settings()
    context_ms: list[float] = []
    total_ms: list[float] = []
    lines = [i for i in range(tracked.doc.line_count) if tracked.doc.line_text(i).strip()]
    for _ in range(requests):
        # A keystroke somewhere (the end of a non-blank line), then a request there.
        line = rng.choice(lines)
        end = len(tracked.doc.line_text(line).encode("utf-16-le")) // 2
        engine.apply(uri, " ", ((line, end), (line, end)))
        offset = tracked.doc.offset_at(line, end + 1)
        started = time.perf_counter()
        prepared = prepare(engine, uri, offset, settings)
        total_ms.append((time.perf_counter() - started) * 1000)
        if prepared is not None:
            context_ms.append(prepared.timings["context"])
    for label, values in (("context gathering", context_ms), ("whole prepare", total_ms)):
        print(
            f"{label:<18} n={len(values)}  P50 {percentile(values, 50):.2f} ms  "
            f"P95 {percentile(values, 95):.2f} ms  P99 {percentile(values, 99):.2f} ms"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    recall = commands.add_parser("recall")
    recall.add_argument("--packages", nargs="*", type=Path, default=DEFAULT_PACKAGES)
    recall.add_argument("--cases", type=int, default=200)
    recall.add_argument("--seed", type=int, default=1)
    latency = commands.add_parser("latency")
    latency.add_argument("--workspace", type=Path, default=STDLIB)
    latency.add_argument("--requests", type=int, default=500)
    latency.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.command == "recall":
        run_recall(args.packages, args.cases, args.seed)
    else:
        run_latency(args.workspace, args.requests, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
