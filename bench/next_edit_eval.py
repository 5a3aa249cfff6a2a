"""Model-free next edits on real commits: precision and recall of the exact next edit.

    python bench/next_edit_eval.py REPO [REPO ...] [--commits 2000]

REPO is a git repository with its history (a clone; its licence stays with it). From its last
--commits commits (merges left out), each Python file a commit changed in two lines or more,
none added or removed, where the changes follow from the first, is a case:

- a rename: every changed line differs from its old self only in one identifier renamed (the
  same old name to the same new one everywhere);
- a signature: the first changed line is a function's definition, every other one a call of it;
- a repeated edit: every changed line differs from its old self by the same replacement of the
  same text (trimmed to where the lines differ).

Replayed as a user would make it, on the file as it was before the commit, in infill's context
engine: the first changed line (the first two for a repeated edit, which the rule needs seen
twice) is changed key by key (the differing part deleted, the new one typed), then the
proposals are asked for with the cursor on the last character typed and the nearest is followed
while it is one of the commit's own changes (it turns one line still to change into its new
self, and changes nothing else): applied, and asked again from where it leaves the cursor. A
proposal that is not one of them is a wrong one (the user rejects it, the chain stops); no
proposal ends the chain. Reported per class: cases, proposals, right ones, precision (right /
proposals) and recall (lines made their new selves / the lines left to change after the
user's), with the time each request for proposals took (P50 / P95).

Then the model formats' plumbing: for each case whose editable region (around the user's
change) holds more of the commit's changes, the answer a right model would give (the region as
the commit left it) is written as each format's answer (Zeta's markers in its fence, Instinct's
bare region, a chat model's fenced block) and read back as infill reads it: the exact-edit
rate is the share of cases where the edits it becomes are exactly the commit's changes in the
region and pass the checks (syntax, no undoing). These are not a real model's answers: they
check the way from an answer to the edits, not a model.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infill.context.engine import ContextEngine
from infill.context.next_edit import common_length
from infill.metrics import percentiles
from infill.postprocess.next_edit import LastChange, acceptable, applied, region_edits
from infill.prompts.next_edit import FORMATS, REGION_END, REGION_START, excerpt_around

MAX_FILE_CHARS = 200_000
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+|\S")


@dataclass(frozen=True)
class Case:
    """One file of one commit: `before`, and its changed lines (line number, old, new), none
    added or removed, in document order; `kind` says how they follow from each other."""

    repo: str
    commit: str
    path: str
    kind: str  # "rename", "signature" or "repeat"
    before: str
    lines: tuple[tuple[int, str, str], ...]

    @property
    def made(self) -> int:
        """How many of the changes the user makes before a proposal is asked for: a repeated
        edit is only recognized once made twice."""
        return 2 if self.kind == "repeat" else 1


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    return done.stdout if done.returncode == 0 else ""


def cases(repo: Path, commits: int) -> Iterator[Case]:
    """The cases of the repository's last `commits` commits."""
    for commit in git(repo, "log", "--no-merges", f"-n{commits}", "--format=%H").split():
        changed = git(repo, "diff-tree", "--no-commit-id", "-r", "--name-status", commit)
        for line in changed.splitlines():
            status, _, path = line.partition("\t")
            if status != "M" or not path.endswith(".py"):
                continue
            before = git(repo, "show", f"{commit}^:{path}")
            after = git(repo, "show", f"{commit}:{path}")
            if not before or not after or len(before) > MAX_FILE_CHARS or not before.isascii():
                continue  # (offsets are code points, positions UTF-16: ASCII keeps them one)
            found = mechanical_edit(before, after)
            if found is not None:
                kind, lines = found
                yield Case(repo.name, commit[:12], path, kind, before, lines)


def mechanical_edit(before: str, after: str) -> tuple[str, tuple[tuple[int, str, str], ...]] | None:
    """(kind, changed lines) if `after` is `before` with lines changed that follow from the
    first: one identifier renamed, a definition's signature and its calls, or the same
    replacement of the same text; else None."""
    old_lines = before.splitlines(keepends=True)
    new_lines = after.splitlines(keepends=True)
    pairs: list[tuple[int, str, str]] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag != "replace" or i2 - i1 != j2 - j1:
            return None  # lines added or removed: not changes in place
        pairs.extend(zip(range(i1, i2), old_lines[i1:i2], new_lines[j1:j2], strict=True))
    if len(pairs) < 2:
        return None
    if any("".join(a.split()) == "".join(b.split()) for _, a, b in pairs):
        return None  # whitespace only: a formatter's work
    lines = tuple(pairs)
    if _renamed(pairs):
        return "rename", lines
    definition = _DEF.match(pairs[0][1])
    if definition is not None and _DEF.match(pairs[0][2]):
        call = re.compile(rf"(?<![\w.]){re.escape(definition.group(1))}\(")
        if all(call.search(a) and call.search(b) and not _DEF.match(a) for _, a, b in pairs[1:]):
            return "signature", lines
    if len({_middle(a, b)[1:] for _, a, b in pairs}) == 1:
        return "repeat", lines
    return None


_DEF = re.compile(r"\s*(?:async\s+)?def\s+(\w+)\(")


def _middle(a: str, b: str) -> tuple[int, str, str]:
    """Where `a` and `b` differ: (start in a, a's part, b's part), the common head and tail
    taken off."""
    head = common_length(a, b, from_end=False)
    tail = common_length(a[head:], b[head:], from_end=True)
    return head, a[head : len(a) - tail], b[head : len(b) - tail]


def _renamed(pairs: list[tuple[int, str, str]]) -> bool:
    """Whether every line differs from its old self only in one identifier renamed, the same
    old name to the same new one everywhere."""
    renamed: set[tuple[str, str]] = set()
    for _, a, b in pairs:
        old_tokens = _TOKEN.findall(a)
        new_tokens = _TOKEN.findall(b)
        if len(old_tokens) != len(new_tokens) or _TOKEN.sub("", a) != _TOKEN.sub("", b):
            return False
        for old, new in zip(old_tokens, new_tokens, strict=True):
            if old != new:
                if not (_IDENTIFIER.fullmatch(old) and _IDENTIFIER.fullmatch(new)):
                    return False
                renamed.add((old, new))
    return len(renamed) == 1


@dataclass
class Outcome:
    proposals: int = 0
    right: int = 0  # proposals that were one of the commit's changes (or part of one)
    expected: int = 0  # lines left to change after the user's
    found: int = 0  # of those, the lines the proposals changed into their new selves


# A next-edit model's answer, as each format has it, for the region rewritten as `region`.
ANSWERS = {
    "zeta": lambda path, region: f"```{path}\n{REGION_START}\n{region}\n{REGION_END}\n```",
    "instinct": lambda path, region: region,
    "chat": lambda path, region: f"Here is the region:\n```python\n{region}\n```\n",
}


def formats_replayed(case: Case) -> dict[str, bool]:
    """For each model format whose editable region around the user's change holds more of the
    commit's changes: whether the answer a right model would give (the region as the commit
    left it, written as the format's answer) becomes exactly those changes."""
    engine = ContextEngine()
    uri = "file:///bench/" + case.path
    engine.open(uri, case.before, "python", 1, "utf-16")
    pending = list(case.lines)
    cursor = 0
    for _ in range(case.made):
        number, old, new = pending.pop(0)
        cursor = _type_over(engine, uri, number, old, new)
    tracked = engine.documents[uri]
    text = tracked.doc.text
    lines = text.splitlines(keepends=True)
    for number, _, new in pending:
        lines[number] = new
    target = "".join(lines)
    change = tracked.changes.change
    last_change = LastChange.of(change)
    results: dict[str, bool] = {}
    for name, form in FORMATS.items():
        excerpt = excerpt_around(case.path, text, cursor, form.editable, form.shown)
        start, end = excerpt.editable
        # The same lines in the target (the commit adds or removes none).
        first, last = text.count("\n", 0, start), text.count("\n", 0, end)
        region = "\n".join(target.split("\n")[first : last + 1])
        if region == excerpt.region:
            continue  # the commit changed nothing more in this format's region
        rewrite = form.rewrite(ANSWERS[name](case.path, region))
        edits = region_edits(text, excerpt.editable, rewrite or "")
        results[name] = (
            rewrite is not None
            and acceptable(text, edits, "python", last_change)
            and applied(text, edits) == text[:start] + region + text[end:]
        )
    return results


def replay(case: Case, times: list[float]) -> Outcome:
    """The user's first change(s) key by key, then the proposals followed while right: a
    proposal is right when it turns one line still to change into its new self and changes
    nothing else."""
    engine = ContextEngine()
    uri = "file:///bench/" + case.path
    engine.open(uri, case.before, "python", 1, "utf-16")
    pending = list(case.lines)
    outcome = Outcome(expected=len(pending) - case.made)
    cursor = 0
    for _ in range(case.made):
        number, old, new = pending.pop(0)
        cursor = _type_over(engine, uri, number, old, new)
    while pending:
        began = time.perf_counter()
        proposals = engine.next_edits(uri, cursor)
        times.append((time.perf_counter() - began) * 1000)
        if not proposals:
            break
        outcome.proposals += 1
        doc = engine.documents[uri].doc
        text, replacement = doc.text, proposals[0].replacement
        result = text[: replacement.start] + replacement.new_text + text[replacement.end :]
        right = _changed_toward(text, result, pending)
        if right is None:
            break
        outcome.right += 1
        span = (doc.position_at(replacement.start), doc.position_at(replacement.end))
        engine.apply(uri, replacement.new_text, span)
        if engine.documents[uri].doc.text.splitlines(keepends=True)[right[0]] == right[2]:
            pending.remove(right)
            outcome.found += 1
        cursor = proposals[0].cursor
    return outcome


def _changed_toward(
    text: str, result: str, pending: list[tuple[int, str, str]]
) -> tuple[int, str, str] | None:
    """The change still to make that `result` makes (a line of `text` made its new self, or,
    for a line with several tokens to change, some of them), if that is all it changes."""
    lines, changed = text.splitlines(keepends=True), result.splitlines(keepends=True)
    if len(lines) != len(changed):
        return None
    for change in pending:
        number, _, new = change
        if changed[:number] != lines[:number] or changed[number + 1 :] != lines[number + 1 :]:
            continue
        now, made, wanted = (_TOKEN.findall(line) for line in (lines[number], changed[number], new))
        if changed[number] == new or (
            len(now) == len(made) == len(wanted)
            and made != now
            and all(m in (n, w) for n, m, w in zip(now, made, wanted, strict=True))
        ):
            return change
    return None


def _type_over(engine: ContextEngine, uri: str, number: int, old: str, new: str) -> int:
    """Line `number` changed from `old` to `new` as typed: the part that differs deleted, the
    new part typed key by key; the cursor on the last key typed (the user has moved on: a
    cursor right after it would still be typing)."""
    doc = engine.documents[uri].doc
    head, removed, added = _middle(old, new)
    start = doc.offset_at(number, 0) + head
    engine.apply(uri, "", (doc.position_at(start), doc.position_at(start + len(removed))))
    for typed, letter in enumerate(added):
        at = engine.documents[uri].doc.position_at(start + typed)
        engine.apply(uri, letter, (at, at))
    return start + max(len(added) - 1, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repos", nargs="+", type=Path)
    parser.add_argument("--commits", type=int, default=2000)
    args = parser.parse_args()
    totals: dict[str, Outcome] = {}
    counts: dict[str, int] = {}
    times: list[float] = []
    exact = dict.fromkeys(FORMATS, 0)
    replayed = dict.fromkeys(FORMATS, 0)
    for repo in args.repos:
        for case in cases(repo, args.commits):
            for name, right in formats_replayed(case).items():
                replayed[name] += 1
                exact[name] += right
            outcome = replay(case, times)
            total = totals.setdefault(case.kind, Outcome())
            total.proposals += outcome.proposals
            total.right += outcome.right
            total.expected += outcome.expected
            total.found += outcome.found
            counts[case.kind] = counts.get(case.kind, 0) + 1
            _, first_old, first_new = case.lines[0]
            print(
                f"{case.kind:<9} {case.repo} {case.commit} {case.path}: {len(case.lines)} lines,"
                f" the first {first_old.strip()!r} -> {first_new.strip()!r}: {outcome.right}"
                f" right of {outcome.proposals} proposed, {outcome.expected} to find"
            )
    print()
    print("kind       cases  to find  proposed  right  precision  found  recall")
    for kind, total in sorted(totals.items()):
        precision = total.right / total.proposals if total.proposals else float("nan")
        recall = total.found / total.expected if total.expected else float("nan")
        print(
            f"{kind:<9} {counts[kind]:>6} {total.expected:>8} {total.proposals:>9} "
            f"{total.right:>6} {precision:>10.1%} {total.found:>6} {recall:>7.1%}"
        )
    if times:
        p50, p95 = percentiles(times, (50, 95))
        print(f"proposing: {len(times)} requests, P50 {p50:.2f} ms, P95 {p95:.2f} ms")
    print("model formats, a right model's answer read back: exact edits / cases")
    for name, count in exact.items():
        share = count / replayed[name] if replayed[name] else float("nan")
        print(f"  {name:<9} {count} / {replayed[name]} ({share:.1%})")


if __name__ == "__main__":
    main()
