"""Post-processing benchmark: raw model output in, accepted document out, through the real server.

    python bench/postprocess_eval.py [--data DIR] [--limit N] [--seed S] [--split NAME ...]

Each case opens a document in `infill serve` (driven by `LspClient`, positions in UTF-32), lets
a fake OpenAI-compatible backend stream a scripted raw output, asks for an inline completion at
the cursor, accepts the first item and compares the whole document with the expected one.

Splits (data in ../shared/data, see its README):

- overrun splits (safim-block, safim-control, safim-api, humaneval-single, humaneval-multi,
  humaneval-random): the model writes the ground truth and then keeps copying the document, as
  models do: the rest of the cursor's line and the next three lines of the suffix (without the
  last line end), e.g. `ground_truth + ") {\\n    x = 1;\\n    y = 2;\\n}"`. The copy is
  verbatim, so the partial first line joins the ground truth exactly as it does in the file. The
  model sees "\\n" line endings (the server normalizes the prompt), so the output has them too.
  Expected: prefix + ground truth + suffix.
  A ground truth ending with a line end (all of HumanEval single- and multi-line) is a hole of
  whole lines: in an editor the cursor is then on an empty line, not at the start of the next
  line of code, so that line end stays in the document and the cursor sits before it. The
  expected document is the same.
- safim-block-crlf: SAFIM block holes of the files written with CRLF line ends, the overrun
  replayed with the file's own line ends: a model trained on Windows code, a chat model or a
  proxy may answer with "\\r\\n" whatever the prompt had.
- end-of-scope: Python holes at the end of a nested block (HumanEval multi-line, SAFIM block):
  the ground truth starts on a line of its own and goes on less indented (the rest of the
  nested block, then the lines that finish the enclosing ones), down to the indentation of the
  code that follows, which is less indented than the hole's first line (or the end of the
  file); the cursor after the first line's indentation, where an editor's auto-indent leaves
  it. Overrun as above.
- mid-line-opener: a function or method of a SAFIM file (its hole filled in) whose signature
  is being typed: the cursor after the `(` of its parameters, the editor's `)` right of the
  cursor, the definition's rest gone. The model writes the parameters, `)`, the rest of the
  signature and the body, then copies the document on; expected: the definition back, the
  item's range replacing the `)`.
- continue: Continue's filter cases, the recorded `llm_output`; expected: the input with
  `expected_completion` at the cursor, or the input unchanged when it is null.
- cceval: CrossCodeEval Python line completions, each recorded prediction (StarCoder-1B and
  WizardCoder-1B, three retrieval settings); expected: `groundtruth` (the rest of the line)
  inserted. Its goal is the best achievable: the raw output's first line equals the ground
  truth (trailing blanks aside). It is a line-level benchmark, so a case counts as exact when
  the suggestion's first line is the ground truth: after `if x.option(|` the server may rightly
  show the block that the completed line opens (it upgrades to multi-line).

SAFIM is sampled with an equal share per language (so each language's rate means something);
the split's overall rate weighs the languages equally. The request latency includes what the
server does on the document just opened. The post-processing time is measured in-process
(a `Cutter` fed the same stream deltas, then its post-processing; best of three).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import tree_sitter

REPO = Path(__file__).resolve().parents[1]
# The fake backend lives in the test suite; the script runs as bench/postprocess_eval.py.
sys.path.insert(0, str(REPO))

from infill.context import cursor_context  # noqa: E402
from infill.context.document import Document  # noqa: E402
from infill.context.syntax import get_language, language_name  # noqa: E402
from infill.harness import LspClient  # noqa: E402
from infill.metrics import percentile  # noqa: E402
from infill.postprocess import (  # noqa: E402
    FILTERS,
    CompletionContext,
    Cutter,
    completion_mode,
    is_prose,
)
from infill.postprocess.syntax import original_tree, tree_with  # noqa: E402
from tests.fake_llm import FakeLLM, Reply  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_FAILURES = Path(tempfile.gettempdir()) / "infill-postprocess-failures.txt"
OVERRUN_LINES = 3  # suffix lines the fake model copies after the ground truth
CHUNKS = 4  # stream deltas per answer
FAILURES_SHOWN = 10
_EOL = re.compile(r"\r\n|\r|\n")  # LSP line ends
_TRAILING_EOL = re.compile(r"(\r\n|\r|\n)\Z")

# SAFIM's language: the LSP languageId and a file extension.
SAFIM_LANGUAGES = {
    "python": ("python", "py"),
    "java": ("java", "java"),
    "cpp": ("cpp", "cpp"),
    "csharp": ("csharp", "cs"),
}
# Continue's cases by file extension: the LSP languageId an editor would send.
LANGUAGE_IDS = {
    "c": "c",
    "clj": "clojure",
    "cpp": "cpp",
    "cs": "csharp",
    "css": "css",
    "csv": "csv",
    "dart": "dart",
    "fs": "fsharp",
    "go": "go",
    "hs": "haskell",
    "html": "html",
    "java": "java",
    "jl": "julia",
    "js": "javascript",
    "json": "json",
    "kt": "kotlin",
    "md": "markdown",
    "php": "php",
    "py": "python",
    "r": "r",
    "rb": "ruby",
    "rs": "rust",
    "scala": "scala",
    "scss": "scss",
    "sol": "solidity",
    "sql": "sql",
    "svelte": "svelte",
    "ts": "typescript",
    "tsx": "typescriptreact",
    "vue": "vue",
    "yaml": "yaml",
}


@dataclass(frozen=True)
class Case:
    split: str
    group: str  # SAFIM's language, cceval's model and retrieval setting; "" otherwise
    name: str  # the data set's id of the case
    filename: str  # last part of the document's URI
    language_id: str
    prefix: str  # document text before the cursor
    suffix: str  # document text after the cursor
    raw: str  # what the fake model streams
    insertion: str | None  # the text expected at the cursor; None: no suggestion
    achievable: bool = True  # whether a perfect post-processor could produce it from `raw`
    replaced: int = 0  # characters right of the cursor the expected item replaces

    @property
    def document(self) -> str:
        return self.prefix + self.suffix

    @property
    def kept_suffix(self) -> str:
        """The document after the cursor once the expected item is accepted."""
        return self.suffix[self.replaced :]

    @property
    def expected(self) -> str:
        return self.prefix + (self.insertion or "") + self.kept_suffix


@dataclass(frozen=True)
class Local:
    declined: str  # why there is no completion mode at the cursor; "" if there is one
    postprocess_us: float | None  # None where the server does not post-process (declined)
    changed_by: tuple[str, ...]  # the steps that changed the raw output, in order
    parse_us: float | None = None  # the document's tree, parsed while the model thinks


@dataclass(frozen=True)
class Outcome:
    case: Case
    got: str  # the document after accepting the first item (unchanged if there was none)
    shown: bool
    latency_ms: float
    local: Local  # the same post-processing in-process

    @property
    def exact(self) -> bool:
        if self.case.split == "cceval":
            inserted = self.inserted
            expected = self.case.insertion or ""
            return inserted is not None and first_line(inserted) == expected.rstrip()
        return self.got == self.case.expected

    @property
    def exact_but_blanks(self) -> bool:
        """Exact up to trailing blanks (of lines, of the document): what editors strip."""
        if self.case.split == "cceval":
            return self.exact
        return _without_trailing_blanks(self.got) == _without_trailing_blanks(self.case.expected)

    @property
    def inserted(self) -> str | None:
        """What accepting put at the cursor, if the document is still prefix + X + suffix."""
        prefix, suffix = self.case.prefix, self.case.kept_suffix
        fits = len(self.got) >= len(prefix) + len(suffix)
        if not (fits and self.got.startswith(prefix) and self.got.endswith(suffix)):
            return None
        return self.got[len(prefix) : len(self.got) - len(suffix)]

    def kind(self) -> str:
        """A coarse failure kind, for the summary and the failures file."""
        expected = self.case.insertion
        if not self.case.achievable:
            return "model wrong (not achievable)"
        if not self.shown:
            return f"declined: {self.local.declined}" if self.local.declined else "nothing shown"
        if expected is None:
            return "shown where nothing is expected"
        inserted = self.inserted
        if inserted is None:
            return "document changed outside the cursor"
        if lf(inserted) == lf(expected):
            return "line endings differ"
        if _without_trailing_blanks(inserted) == _without_trailing_blanks(expected):
            return "trailing blanks differ"
        if expected.startswith(inserted):
            return "cut short"
        if inserted.startswith(expected):
            return "overran"
        return "differs"


def row(label: str, outcomes: list[Outcome]) -> str:
    n = len(outcomes)
    exact = sum(o.exact for o in outcomes) / n
    blanks = sum(o.exact_but_blanks for o in outcomes) / n
    goal = sum(o.case.achievable for o in outcomes) / n
    shown = sum(o.shown for o in outcomes) / n
    latency = [o.latency_ms for o in outcomes]
    pp = [o.local.postprocess_us for o in outcomes if o.local.postprocess_us is not None]
    pp_cells = f"{percentile(pp, 50):>8.1f} {percentile(pp, 95):>8.1f}" if pp else " " * 17
    return (
        f"{label:<22} {n:>5} {exact:>7.1%} {blanks:>7.1%} {goal:>7.1%} {shown:>7.1%}"
        f" {percentile(latency, 50):>7.1f} {percentile(latency, 95):>7.1f} {pp_cells}"
    )


HEADER = (
    f"{'split':<22} {'cases':>5} {'exact':>7} {'~blanks':>7} {'goal':>7} {'shown':>7}"
    f" {'P50 ms':>7} {'P95 ms':>7} {'pp P50µs':>8} {'pp P95µs':>8}"
)


# -- cases ----------------------------------------------------------------------------------


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def lf(text: str) -> str:
    return _EOL.sub("\n", text)


def _without_trailing_blanks(text: str) -> str:
    return "\n".join(line.rstrip() for line in lf(text).split("\n")).rstrip()


def overrun(ground_truth: str, suffix: str, eol: str = "\n") -> str:
    """The ground truth, then the document copied on: the rest of the cursor's line and the
    next OVERRUN_LINES lines of the suffix; line ends `eol`."""
    copied = "\n".join(lf(suffix).split("\n")[: OVERRUN_LINES + 1])
    return (lf(ground_truth) + copied).replace("\n", eol)


def overrun_case(
    split: str,
    group: str,
    name: str,
    filename: str,
    language_id: str,
    hole: tuple[str, str, str],
    model_eol: str = "\n",
) -> Case:
    prefix, ground_truth, suffix = hole
    # A hole of whole lines: the cursor is on the empty line the ground truth's last line end
    # leaves, as in an editor (the cursor at the start of the next line of code would be
    # mid-statement, where the server rightly declines).
    if (eol := _TRAILING_EOL.search(ground_truth)) is not None:
        ground_truth, suffix = ground_truth[: eol.start()], eol.group() + suffix
    return Case(
        split,
        group,
        name,
        filename,
        language_id,
        prefix,
        suffix,
        overrun(ground_truth, suffix, model_eol),
        ground_truth,
    )


def indented_hole(hole: tuple[str, str, str]) -> tuple[str, str, str] | None:
    """A hole at the end of a nested block: it starts on a line of its own and goes on less
    indented than its first line, down to the indentation of the code that follows it (which
    is less indented than the first line), or to the end of the file; the cursor after the
    first line's indentation (where an editor's auto-indent leaves it). None for other
    holes."""
    prefix, ground_truth, suffix = hole
    if prefix.endswith("\n"):
        first = ground_truth[: len(ground_truth) - len(ground_truth.lstrip(" \t"))]
        prefix, ground_truth = prefix + first, ground_truth[len(first) :]
    indent = prefix[prefix.rfind("\n") + 1 :]
    if not indent or indent.strip():
        return None
    # The lines after the hole's last line (which the ground truth may end).
    after = suffix if ground_truth.endswith("\n") else suffix.partition("\n")[2]
    following = next((line for line in after.split("\n") if line.strip()), "")
    floor = _indentation(following)
    lines = [line for line in ground_truth.split("\n")[1:] if line.strip()]
    widths = [_indentation(line) for line in lines]
    if floor >= len(indent) or not any(w < len(indent) for w in widths):
        return None
    return (prefix, ground_truth, suffix) if all(w >= floor for w in widths) else None


def _indentation(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def sample(cases: list[Case], limit: int, seed: int) -> list[Case]:
    return cases if len(cases) <= limit else random.Random(seed).sample(cases, limit)


def safim(split: str, data: Path, limit: int, seed: int) -> list[Case]:
    by_language: dict[str, list[Case]] = defaultdict(list)
    for row in read_jsonl(data / "safim" / f"{split.removeprefix('safim-')}.jsonl.gz"):
        prefix, suffix = row["eval_prompt"].split("{{completion}}")
        language_id, extension = SAFIM_LANGUAGES[row["lang"]]
        name = str(row["task_id"])
        filename = f"{len(by_language[row['lang']]):05d}.{extension}"
        hole = (prefix, row["ground_truth"], suffix)
        case = overrun_case(split, row["lang"], name, filename, language_id, hole)
        by_language[row["lang"]].append(case)
    return equal_shares(by_language, limit, seed)


def equal_shares(groups: dict[str, list[Case]], limit: int, seed: int) -> list[Case]:
    """An equal share per group; what a small group cannot fill goes to the others."""
    chosen: list[Case] = []
    remaining = sorted(groups.items(), key=lambda item: len(item[1]))
    for i, (_, cases) in enumerate(remaining):
        share = (limit - len(chosen)) // (len(remaining) - i)
        chosen += sample(cases, share, seed)
    return chosen


def safim_crlf(split: str, data: Path, limit: int, seed: int) -> list[Case]:
    by_language: dict[str, list[Case]] = defaultdict(list)
    for row in read_jsonl(data / "safim" / "block.jsonl.gz"):
        if "\r\n" not in row["eval_prompt"]:
            continue
        prefix, suffix = row["eval_prompt"].split("{{completion}}")
        language_id, extension = SAFIM_LANGUAGES[row["lang"]]
        filename = f"{len(by_language[row['lang']]):05d}.{extension}"
        hole = (prefix, row["ground_truth"], suffix)
        case = overrun_case(
            split, row["lang"], str(row["task_id"]), filename, language_id, hole, "\r\n"
        )
        by_language[row["lang"]].append(case)
    return equal_shares(by_language, limit, seed)


def end_of_scope(split: str, data: Path, limit: int, seed: int) -> list[Case]:
    by_source: dict[str, list[Case]] = defaultdict(list)
    rows = read_jsonl(data / "humaneval_infilling" / "HumanEval-MultiLineInfilling.jsonl.gz")
    for i, row in enumerate(rows):
        hole = indented_hole((row["prompt"], row["canonical_solution"], row["suffix"]))
        if hole is not None:
            case = overrun_case(split, "humaneval", row["task_id"], f"{i:05d}.py", "python", hole)
            by_source["humaneval"].append(case)
    for row in read_jsonl(data / "safim" / "block.jsonl.gz"):
        prefix, suffix = lf(row["eval_prompt"]).split("{{completion}}")
        # Python only: in the other languages of SAFIM, a line less indented is mostly tabs
        # and spaces mixed, not the end of a block.
        hole = indented_hole((prefix, lf(row["ground_truth"]), suffix))
        if hole is not None and row["lang"] == "python":
            language_id, extension = SAFIM_LANGUAGES[row["lang"]]
            group = f"safim-{row['lang']}"
            filename = f"{len(by_source[group]):05d}.{extension}"
            name = str(row["task_id"])
            by_source[group].append(overrun_case(split, group, name, filename, language_id, hole))
    return equal_shares(by_source, limit, seed)


# The node of a parameter list in each SAFIM language's grammar, and of the definitions that
# have one.
_PARAMETERS = frozenset({"parameters", "formal_parameters", "parameter_list"})
_DEFINITIONS = frozenset({"function_definition", "method_declaration", "constructor_declaration"})


def mid_line_opener(split: str, data: Path, limit: int, seed: int) -> list[Case]:
    by_language: dict[str, list[Case]] = defaultdict(list)
    for row in read_jsonl(data / "safim" / "block.jsonl.gz"):
        language_id, extension = SAFIM_LANGUAGES[row["lang"]]
        text = lf(row["eval_prompt"].replace("{{completion}}", row["ground_truth"]))
        found = signature_hole(text, language_name(language_id))
        if found is None:
            continue
        prefix, rest, after = found
        raw = rest + "\n".join(after.split("\n")[: OVERRUN_LINES + 1])
        filename = f"{len(by_language[row['lang']]):05d}.{extension}"
        name = str(row["task_id"])
        case = Case(split, row["lang"], name, filename, language_id, prefix, ")" + after, raw, rest)
        by_language[row["lang"]].append(replace(case, replaced=1))
    return equal_shares(by_language, limit, seed)


def signature_hole(text: str, language: str | None) -> tuple[str, str, str] | None:
    """The last definition with a parameter list in `text`, split as (up to and with its
    `(`, the rest of the definition, what follows it); None if there is none."""
    grammar = get_language(language) if language else None
    if grammar is None:
        return None
    data = text.encode("utf-8")
    root = tree_sitter.Parser(grammar).parse(data).root_node
    stack, found = [root], None
    while stack:
        node = stack.pop()
        if node.type in _DEFINITIONS and not node.has_error:
            found = node if found is None or node.start_byte > found.start_byte else found
        stack.extend(node.named_children)
    if found is None:
        return None
    parameters = _parameters_of(found)
    if parameters is None or data[parameters.start_byte : parameters.start_byte + 1] != b"(":
        return None
    start, end = parameters.start_byte + 1, found.end_byte
    head, rest, tail = (data[:start], data[start:end], data[end:])
    return head.decode("utf-8"), rest.decode("utf-8"), tail.decode("utf-8")


def _parameters_of(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The definition's parameter list: a child, or in C++ a child of its declarator."""
    for child in node.named_children:
        if child.type in _PARAMETERS:
            return child
        if child.type.endswith("declarator"):
            return _parameters_of(child)
    return None


def humaneval(file: str) -> Callable[[str, Path, int, int], list[Case]]:
    def load(split: str, data: Path, limit: int, seed: int) -> list[Case]:
        cases = [
            overrun_case(
                split,
                "",
                row["task_id"],
                f"{i:05d}.py",
                "python",
                (row["prompt"], row["canonical_solution"], row["suffix"]),
            )
            for i, row in enumerate(read_jsonl(data / "humaneval_infilling" / file))
        ]
        return sample(cases, limit, seed)

    return load


def continue_cases(split: str, data: Path, limit: int, seed: int) -> list[Case]:
    cases: list[Case] = []
    for i, row in enumerate(read_jsonl(data / "continue_filter_cases.jsonl")):
        prefix, suffix = row["input"].split("<|fim|>")
        expected = row["expected_completion"]
        closers = suffix.split("\n", 1)[0].strip()
        if expected and closers and expected.rstrip().endswith(closers):
            # The expectation is written for an editor that merges the closers right of the
            # cursor (`print(|)` + `x)` reads `print(x)`): the document it means.
            expected = expected.rstrip()[: -len(closers)]
        extension = row["filename"].rsplit(".", 1)[-1].lower()
        cases.append(
            Case(
                split,
                "",
                row["description"],
                f"{i:03d}/{row['filename']}",
                LANGUAGE_IDS.get(extension, "plaintext"),
                prefix,
                suffix,
                row["llm_output"],
                expected,
            )
        )
    return sample(cases, limit, seed)


def first_line(text: str) -> str:
    return text.split("\n", 1)[0].rstrip()


def cceval(split: str, data: Path, limit: int, seed: int) -> list[Case]:
    cases: list[Case] = []
    for row in read_jsonl(data / "cceval_real_outputs" / "python_tasks_dev.jsonl"):
        for setting, raw in row["predictions"].items():
            cases.append(
                Case(
                    split,
                    setting,
                    f"{row['task_id']} {setting}",
                    f"{len(cases):05d}.py",
                    "python",
                    row["prompt"],
                    row["right_context"],
                    raw,
                    row["groundtruth"],
                    achievable=first_line(raw) == row["groundtruth"].rstrip(),
                )
            )
    return sample(cases, limit, seed)


SPLITS: dict[str, Callable[[str, Path, int, int], list[Case]]] = {
    "safim-block": safim,
    "safim-control": safim,
    "safim-api": safim,
    "humaneval-single": humaneval("HumanEval-SingleLineInfilling.jsonl.gz"),
    "humaneval-multi": humaneval("HumanEval-MultiLineInfilling.jsonl.gz"),
    "humaneval-random": humaneval("HumanEval-RandomSpanInfilling.jsonl.gz"),
    "safim-block-crlf": safim_crlf,
    "end-of-scope": end_of_scope,
    "mid-line-opener": mid_line_opener,
    "continue": continue_cases,
    "cceval": cceval,
}


# -- running --------------------------------------------------------------------------------


def position(prefix: str) -> tuple[int, int]:
    """The LSP position (UTF-32) at the end of `prefix`."""
    breaks = list(_EOL.finditer(prefix))
    return len(breaks), len(prefix) - (breaks[-1].end() if breaks else 0)


def chunked(text: str) -> list[str]:
    """The answer as a few stream deltas, cut anywhere (real tokens do not respect lines)."""
    cuts = [len(text) * i // CHUNKS for i in range(CHUNKS + 1)]
    return [text[a:b] for a, b in pairwise(cuts) if a < b]


def postprocess_in_process(case: Case) -> Local:
    """The server's post-processing of the case, redone here to time it and to see which
    steps changed the text."""
    doc = Document("file:///postprocess-eval", case.document, case.language_id, 1, "utf-32")
    ctx = cursor_context(doc, len(case.prefix))
    prose = is_prose(case.language_id)
    mode = completion_mode(ctx.line_before, ctx.line_after, prose)
    if mode is None:
        word = ctx.line_after[:1].isalnum() or ctx.line_after[:1] == "_"
        return Local("in a word" if word else "statement ended", None, ())
    language = language_name(case.language_id, case.filename)
    context = CompletionContext(mode, ctx.prefix, ctx.suffix, language, prose)
    best = parse = float("inf")
    for _ in range(3):
        # Each run parses afresh, as a new request does: no trees cached from the last run.
        # The document's own tree is parsed while the model computes its first token: timed
        # apart.
        original_tree.cache_clear()
        tree_with.cache_clear()
        started = time.perf_counter()
        original_tree(ctx.prefix, ctx.suffix, language)
        parse = min(parse, time.perf_counter() - started)
        started = time.perf_counter()
        cutter = Cutter(context)
        for delta in chunked(case.raw):
            if cutter.feed(delta):
                break
        cutter.result()
        best = min(best, time.perf_counter() - started)

    changed_by = [f"stream cut ({cutter.ctx.mode.value})"] if cutter.text != case.raw else []
    text = cutter.text
    for step in FILTERS:
        result = step(text, cutter.ctx)
        if result != text:
            changed_by.append(step.__name__)
        if result is None:
            break
        text = result
    return Local("", best * 1e6, tuple(changed_by), parse * 1e6)


async def run_case(client: LspClient, fake: FakeLLM, case: Case) -> Outcome:
    uri = f"file:///postprocess-eval/{case.split}/{case.filename}"
    at = position(case.prefix)
    fake.default = Reply(chunks=chunked(case.raw))
    client.open(uri, case.document, case.language_id)
    started = time.perf_counter()
    items = await client.inline_completion(uri, at)
    latency_ms = (time.perf_counter() - started) * 1000
    got = client.accept(uri, at, items[0]) if items else case.document
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    del client.documents[uri]
    return Outcome(case, got, bool(items), latency_ms, postprocess_in_process(case))


async def run(splits: dict[str, list[Case]]) -> dict[str, list[Outcome]]:
    with tempfile.TemporaryDirectory(prefix="infill-bench-config-") as config_home:
        # The server's environment: no user config or INFILL_* variable of this machine.
        env = {k: v for k, v in os.environ.items() if not k.startswith("INFILL")}
        env["XDG_CONFIG_HOME"] = config_home
        fake = await FakeLLM().start()
        client = await LspClient.start(env=env)
        try:
            return await run_all(client, fake, splits)
        finally:
            await client.shutdown()
            await fake.stop()


async def run_all(
    client: LspClient, fake: FakeLLM, splits: dict[str, list[Case]]
) -> dict[str, list[Outcome]]:
    await client.initialize(
        position_encodings=["utf-32"],
        initialization_options={"backend": {"url": fake.url, "template": "qwen"}},
    )
    if client.encoding != "utf-32":
        raise RuntimeError(f"the server negotiated {client.encoding}, not utf-32")
    # Not measured: the first request waits for the tokenizer and opens the connection.
    warm_up = overrun_case("warm-up", "", "", "warm.py", "python", ("x = ", "1", "\n"))
    await run_case(client, fake, warm_up)
    return {
        name: [await run_case(client, fake, case) for case in cases]
        for name, cases in splits.items()
    }


# -- report ---------------------------------------------------------------------------------


def clip(text: str | None, limit: int = 400) -> str:
    """The repr, its middle left out if long: where a suggestion was cut is at its end."""
    shown = repr(text)
    half = limit // 2
    return shown if len(shown) <= limit else f"{shown[:half]} ... {shown[-half:]}"


def describe(outcome: Outcome) -> str:
    case = outcome.case
    line_before = _EOL.split(case.prefix)[-1]
    line_after = _EOL.split(case.suffix, maxsplit=1)[0]
    group = f" [{case.group}]" if case.group else ""
    return "\n".join(
        [
            f"--- {case.split}{group} {case.name}: {outcome.kind()}",
            f"  cursor:   {clip(line_before)} | {clip(line_after)}",
            f"  raw:      {clip(case.raw)}",
            f"  expected: {clip(case.insertion)}",
            f"  got:      {clip(outcome.inserted) if outcome.shown else 'nothing shown'}",
            f"  changed:  {', '.join(outcome.local.changed_by) or '-'}",
        ]
    )


def report(results: dict[str, list[Outcome]], failures_path: Path) -> None:
    print(HEADER)
    for name, outcomes in results.items():
        print(row(name, outcomes))
        if name.startswith("safim-") or name in ("end-of-scope", "mid-line-opener"):
            by_language: dict[str, list[Outcome]] = defaultdict(list)
            for outcome in outcomes:
                by_language[outcome.case.group].append(outcome)
            for language, group in sorted(by_language.items()):
                print(row(f"  {language}", group))
    print(
        "\nexact: accepted document == expected; ~blanks: the same up to trailing blanks; goal: "
        "what a perfect\npost-processor could reach from the raw output; shown: a suggestion "
        "was returned; P50/P95 ms: the inlineCompletion\nrequest; pp: stream cut + "
        "post-processing in-process, with the document's tree ready (the server parses it\n"
        "while the model computes its first token)"
    )
    parses = [
        o.local.parse_us
        for outcomes in results.values()
        for o in outcomes
        if o.local.parse_us is not None
    ]
    if parses:
        print(
            f"document parse (in parallel with the model): P50 {percentile(parses, 50):.0f} µs,"
            f" P95 {percentile(parses, 95):.0f} µs"
        )

    if "cceval" in results:
        outcomes = results["cceval"]
        starts = sum(o.case.raw.startswith(o.case.insertion or "") for o in outcomes)
        dropped = sum(o.case.achievable and not o.exact for o in outcomes)
        print(
            f"\ncceval: {starts} of {len(outcomes)} raw outputs start with the ground truth; "
            f"correct suggestions dropped (first line == ground truth, document differs or "
            f"nothing shown): {dropped}"
        )

    print("\nfailure kinds:")
    for name, outcomes in results.items():
        kinds = Counter(o.kind() for o in outcomes if not o.exact)
        print(f"  {name}: " + (", ".join(f"{k} {n}" for k, n in kinds.most_common()) or "none"))

    with failures_path.open("w", encoding="utf-8") as out:
        for name, outcomes in results.items():
            # What the post-processing could have got right first.
            failed = sorted(
                (o for o in outcomes if not o.exact), key=lambda o: not o.case.achievable
            )
            failed = failed[:FAILURES_SHOWN]
            out.write(f"===== {name}: first {len(failed)} failures\n")
            out.writelines(describe(o) + "\n" for o in failed)
    print(f"\nfirst failures per split: {failures_path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int, default=300, help="cases per split (sampled)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--split", choices=SPLITS, action="append", help="run only these")
    parser.add_argument("--failures", type=Path, default=DEFAULT_FAILURES)
    args = parser.parse_args()
    if args.limit < 1:
        parser.error("--limit must be at least 1")
    if not args.data.is_dir():
        parser.error(f"no evaluation data at {args.data} (see ../shared/README.md)")
    names = args.split or list(SPLITS)
    splits = {name: SPLITS[name](name, args.data, args.limit, args.seed) for name in names}
    report(asyncio.run(run(splits)), args.failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
