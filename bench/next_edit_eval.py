"""Model-free next edits on real commits: precision and recall of the exact next edit.

    python bench/next_edit_eval.py REPO [REPO ...] [--commits 2000]

REPO is a git repository with its history (a clone; its licence stays with it). From its last
--commits commits (merges left out), each Python file a commit changed holds cases:

- a signature added (signature+) or removed (signature-): a function whose parameters gained
  or lost exactly one, the others as they were (the `ast` of the file before and after), with
  the calls to it in the file whose arguments gained or lost the matching one (positional at
  the parameter's position, or a keyword named as it) and changed nothing else: calls by the
  function's name, a method's as `obj.name(...)`, an `__init__`'s by the class's name; at
  least one such call. The file's other changes in the commit (a body edited, lines added
  elsewhere) are left out of the case: it is the file before the commit with only these
  changes to make, so they keep their places. One case per such function;
- else, if the file changed in two lines or more, none added or removed, and the changes
  follow from the first: a rename (every changed line differs from its old self only in one
  identifier renamed, the same old name to the same new one everywhere), or a repeated edit
  (every changed line differs from its old self by the same replacement of the same text,
  trimmed to where the lines differ).

Replayed as a user would make it, on the file as it was before the commit, in infill's context
engine: the user's change (the definition's parameter list for a signature, the first changed
line for a rename, the first two for a repeated edit, which the rule needs seen twice) is made
key by key (the differing part deleted, the new one typed), then the proposals are asked for
with the cursor on the last character typed and the nearest is followed while it is one of the
commit's own changes (it makes one change still to make, whole or, for a line with several
tokens to change, some of them, and changes nothing else; tokens are compared, not spacing nor
a comma before a closing bracket: an argument put on a call's last line rather than a line of
its own is the same code): applied, and asked again from where it leaves the cursor. A
proposal that is not one of them is a wrong one (the user rejects it, the chain stops): a call
the commit left alone, another argument than the commit's. No proposal ends the chain.
Reported per class: cases, changes to find (after the user's), proposals, right ones,
precision (right / proposals) and recall (changes made / changes to find), with the time each
request for proposals took (P50 / P95). A signature+ case with two calls or more is replayed
once more as "signature+ call": the user also updates the first call by hand (what to pass is
often not the parameter's name), and the others follow.

Then the model formats' plumbing: for each case whose editable region (around the user's
change) holds more of the commit's changes (whole ones), the answer a right model would give
(the region as the commit left it) is written as each format's answer (Zeta's markers in its
fence, Instinct's bare region, a chat model's fenced block) and read back as infill reads it:
the exact-edit rate is the share of cases where the edits it becomes are exactly the commit's
changes in the region and pass the checks (syntax, no undoing). These are not a real model's
answers: they check the way from an answer to the edits, not a model.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import io
import itertools
import math
import re
import subprocess
import time
import tokenize
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from infill.context.engine import ContextEngine
from infill.context.next_edit import Replacement, common_length
from infill.metrics import percentiles
from infill.postprocess.next_edit import LastChange, acceptable, applied, region_edits
from infill.prompts.next_edit import FORMATS, REGION_END, REGION_START, excerpt_around

MAX_FILE_CHARS = 200_000
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+|\S")


class Change(NamedTuple):
    """`old`, at offset `start` of the file before the commit, became `new`."""

    start: int
    old: str
    new: str


@dataclass(frozen=True)
class Case:
    """One change of one file by one commit: `before`, and the commit's changes that follow
    from the user's, the user's first (the first two for a repeated edit), then the others in
    document order; `kind` says how they follow from each other."""

    repo: str
    commit: str
    path: str
    # "rename", "signature+" (a parameter added), "signature+ call" (and one call updated by
    # hand), "signature-" (removed), "repeat"
    kind: str
    before: str
    changes: tuple[Change, ...]

    @property
    def made(self) -> int:
        """How many of the changes the user makes before a proposal is asked for: a repeated
        edit is only recognized once made twice."""
        return 2 if self.kind in ("repeat", "signature+ call") else 1


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
            for kind, changes in file_cases(before, after):
                yield Case(repo.name, commit[:12], path, kind, before, changes)


def file_cases(before: str, after: str) -> list[tuple[str, tuple[Change, ...]]]:
    """The cases one file's change holds: its signature changes, else the mechanical edit it
    is, if it is one."""
    found = list(signature_changes(before, after))
    if not found:
        edit = mechanical_edit(before, after)
        found = [edit] if edit is not None else []
    return found


def mechanical_edit(before: str, after: str) -> tuple[str, tuple[Change, ...]] | None:
    """(kind, changed lines) if `after` is `before` with lines changed that follow from the
    first: one identifier renamed, or the same replacement of the same text; else None."""
    old_lines = before.splitlines(keepends=True)
    new_lines = after.splitlines(keepends=True)
    starts = list(itertools.accumulate(map(len, old_lines), initial=0))
    changes: list[Change] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if tag != "replace" or i2 - i1 != j2 - j1:
            return None  # lines added or removed: not changes in place
        for number, old, new in zip(range(i1, i2), old_lines[i1:i2], new_lines[j1:j2], strict=True):
            # The line without its break: the regions the model formats rewrite end before it.
            changes.append(Change(starts[number], old.rstrip("\r\n"), new.rstrip("\r\n")))
    if len(changes) < 2:
        return None
    if any("".join(c.old.split()) == "".join(c.new.split()) for c in changes):
        return None  # whitespace only: a formatter's work
    if _renamed(changes):
        return "rename", tuple(changes)
    if len({_middle(c.old, c.new)[1:] for c in changes}) == 1:
        return "repeat", tuple(changes)
    return None


def _middle(a: str, b: str) -> tuple[int, str, str]:
    """Where `a` and `b` differ: (start in a, a's part, b's part), the common head and tail
    taken off."""
    head = common_length(a, b, from_end=False)
    tail = common_length(a[head:], b[head:], from_end=True)
    return head, a[head : len(a) - tail], b[head : len(b) - tail]


def _renamed(changes: list[Change]) -> bool:
    """Whether every line differs from its old self only in one identifier renamed, the same
    old name to the same new one everywhere."""
    renamed: set[tuple[str, str]] = set()
    for _, a, b in changes:
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


# -- signature changes: a parameter added or removed, and the calls that follow ---------------

_Function = ast.FunctionDef | ast.AsyncFunctionDef
# A parameter as the definition has it: (kind, name, annotation, default), the last two as code.
_Parameter = tuple[str, str, str | None, str | None]


@dataclass(frozen=True)
class _Defined:
    """A function as its calls in the file name it: `callee` is "f" for a call `f(...)` (a
    function, or a class for its `__init__`), ".f" for `obj.f(...)` (a method); `bound` when
    the call passes the first parameter itself (self, cls)."""

    node: _Function
    callee: str
    bound: bool


@dataclass(frozen=True)
class _SignatureChange:
    """`parameter`, at `index` among the definition's parameters, added (or removed)."""

    added: bool
    index: int
    parameter: _Parameter


def signature_changes(before: str, after: str) -> Iterator[tuple[str, tuple[Change, ...]]]:
    """For each function whose parameters gained or lost exactly one, the others as they were:
    the change of its parameter list, then the changes of the calls to it in the file whose
    arguments gained or lost the matching one (at the parameter's position, or as a keyword
    named as it) and changed nothing else. Other changes of the file are left out: the case
    is `before` with only these to make."""
    try:
        old_tree, new_tree = ast.parse(before), ast.parse(after)
    except (SyntaxError, ValueError, RecursionError):
        return
    old_functions, new_functions = _functions(old_tree), _functions(new_tree)
    lines: dict[int, int] | None = None
    old_calls: dict[str, list[ast.Call]] = {}
    new_calls: dict[str, list[ast.Call]] = {}
    for key, old in old_functions.items():
        new = new_functions.get(key)
        if new is None or new.callee != old.callee:
            continue
        change = _signature_change(old.node, new.node)
        if change is None:
            continue
        if lines is None:  # (only for the few files with a signature changed)
            lines = _line_map(before, after)
            old_calls, new_calls = _calls_by_callee(old_tree), _calls_by_callee(new_tree)
        calls = _call_changes(
            before,
            after,
            old_calls.get(old.callee, []),
            new_calls.get(old.callee, []),
            lines,
            change,
            old.bound,
        )
        old_parameters = _parameter_list(before, old.node)
        new_parameters = _parameter_list(after, new.node)
        if not calls or old_parameters is None or new_parameters is None:
            continue
        definition = Change(old_parameters[0], old_parameters[1], new_parameters[1])
        if _overlapping([definition, *calls]):
            continue
        yield ("signature+" if change.added else "signature-"), (definition, *calls)


def _functions(tree: ast.Module) -> dict[tuple[str, ...], _Defined]:
    """The functions a module defines, by their path of class and function names; those whose
    path or callee is not the only one of its kind (overloads, a property's setter, methods of
    one name in two classes) left out: which one a call calls is unknown."""
    found: list[tuple[tuple[str, ...], _Defined]] = []
    stack: list[tuple[ast.AST, tuple[str, ...], str | None]] = [(tree, (), None)]
    while stack:
        node, path, in_class = stack.pop()
        # Statements only: a definition is one, and expressions can nest deeper than the stack.
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                stack.append((child, (*path, child.name), child.name))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append(((*path, child.name), _defined(child, in_class)))
                stack.append((child, (*path, child.name), None))
            elif isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
                stack.append((child, path, in_class))
    paths = Counter(path for path, _ in found)
    callees = Counter(defined.callee for _, defined in found)
    return {
        path: defined
        for path, defined in found
        if paths[path] == 1 and callees[defined.callee] == 1
    }


def _defined(function: _Function, in_class: str | None) -> _Defined:
    """How the calls of `function` (a method of `in_class`, if not None) name it."""
    if in_class is None:
        return _Defined(function, function.name, bound=False)
    if function.name == "__init__":
        return _Defined(function, in_class, bound=True)
    static = any(
        isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list
    )
    return _Defined(function, "." + function.name, bound=not static)


def _parameters(function: _Function) -> list[_Parameter]:
    """The function's parameters in order, each as (kind, name, annotation, default)."""
    arguments = function.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + [*arguments.defaults]
    found: list[_Parameter] = [
        (
            "positional" if i < len(arguments.posonlyargs) else "either",
            p.arg,
            _code(p.annotation),
            _code(default),
        )
        for i, (p, default) in enumerate(zip(positional, defaults, strict=True))
    ]
    if arguments.vararg is not None:
        found.append(("*", arguments.vararg.arg, _code(arguments.vararg.annotation), None))
    found.extend(
        ("keyword", p.arg, _code(p.annotation), _code(default))
        for p, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
    )
    if arguments.kwarg is not None:
        found.append(("**", arguments.kwarg.arg, _code(arguments.kwarg.annotation), None))
    return found


def _code(node: ast.AST | None) -> str | None:
    return None if node is None else ast.unparse(node)


def _signature_change(old: _Function, new: _Function) -> _SignatureChange | None:
    """The parameter added to `old` or removed from it to make `new`, if that is all."""
    old_parameters, new_parameters = _parameters(old), _parameters(new)
    added = len(new_parameters) == len(old_parameters) + 1
    shorter, longer = (
        (old_parameters, new_parameters) if added else (new_parameters, old_parameters)
    )
    if len(longer) != len(shorter) + 1:
        return None
    index = _inserted_at(shorter, longer)
    return None if index is None else _SignatureChange(added, index, longer[index])


def _inserted_at(shorter: list[_Parameter], longer: list[_Parameter]) -> int | None:
    """Where `longer` is `shorter` with one item inserted, if it is."""
    index = next(
        (i for i, (a, b) in enumerate(zip(shorter, longer, strict=False)) if a != b), len(shorter)
    )
    return index if longer[:index] + longer[index + 1 :] == shorter else None


def _line_map(before: str, after: str) -> dict[int, int]:
    """Lines of `before` (numbered from 1, as `ast` does) and where they stand in `after`: the
    same line, or the one a changed line became (paired in order within a changed block)."""
    old_lines, new_lines = before.split("\n"), after.split("\n")
    found: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("equal", "replace"):
            found.update((i + 1, j + 1) for i, j in zip(range(i1, i2), range(j1, j2), strict=False))
    return found


def _calls_by_callee(tree: ast.Module) -> dict[str, list[ast.Call]]:
    """The module's calls by callee: "f" for `f(...)`, ".f" for `obj.f(...)`, in order."""
    found: dict[str, list[ast.Call]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                found.setdefault(node.func.id, []).append(node)
            elif isinstance(node.func, ast.Attribute):
                found.setdefault("." + node.func.attr, []).append(node)
    for calls in found.values():
        calls.sort(key=lambda call: (call.lineno, call.col_offset))
    return found


def _call_changes(
    before: str,
    after: str,
    old_calls: list[ast.Call],
    new_calls: list[ast.Call],
    lines: dict[int, int],
    change: _SignatureChange,
    bound: bool,
) -> list[Change]:
    """The changes of the calls in `old_calls` that became (the call starting on the line its
    line became, the same how-manyth there) one of `new_calls` as `change` implies."""
    starts = list(itertools.accumulate(len(line) + 1 for line in before.split("\n")))
    starts.insert(0, 0)
    new_by_line: dict[int, list[ast.Call]] = {}
    for call in new_calls:
        new_by_line.setdefault(call.lineno, []).append(call)
    changes: list[Change] = []
    seen_on_line: Counter[int] = Counter()
    for call in old_calls:
        nth = seen_on_line[call.lineno]
        seen_on_line[call.lineno] += 1
        there = new_by_line.get(lines.get(call.lineno, 0), [])
        if nth >= len(there) or not _follows(call, there[nth], change, bound):
            continue
        assert call.end_lineno is not None and call.end_col_offset is not None
        start = starts[call.lineno - 1] + call.col_offset  # (`before` is ASCII: bytes are chars)
        end = starts[call.end_lineno - 1] + call.end_col_offset
        new = ast.get_source_segment(after, there[nth])
        if new is not None:
            changes.append(Change(start, before[start:end], new))
    return changes


def _follows(old: ast.Call, new: ast.Call, change: _SignatureChange, bound: bool) -> bool:
    """Whether the call's arguments gained (or lost) the one that `change` implies, at the
    parameter's position or as a keyword named as it, and changed nothing else."""
    if ast.unparse(old.func) != ast.unparse(new.func):
        return False
    shorter, longer = (old, new) if change.added else (new, old)
    short_positional = [ast.unparse(a) for a in shorter.args]
    long_positional = [ast.unparse(a) for a in longer.args]
    short_keywords = [(k.arg, ast.unparse(k.value)) for k in shorter.keywords]
    long_keywords = [(k.arg, ast.unparse(k.value)) for k in longer.keywords]
    kind, name, _, _ = change.parameter
    index = change.index - bound  # (the parameters before it are positional ones)
    if kind in ("positional", "either") and short_keywords == long_keywords and index >= 0:
        if len(long_positional) == len(short_positional) + 1 and (
            long_positional[:index] + long_positional[index + 1 :] == short_positional
        ):
            return True
    if kind in ("either", "keyword") and short_positional == long_positional:
        named = [k for k in long_keywords if k[0] == name]
        return len(named) == 1 and [k for k in long_keywords if k[0] != name] == short_keywords
    return False


def _parameter_list(source: str, function: _Function) -> tuple[int, str] | None:
    """(offset, text) of the function's parameter list in `source`, its brackets included."""
    line_start = sum(len(line) + 1 for line in source.split("\n")[: function.lineno - 1])
    rest = source[line_start:]
    starts = list(itertools.accumulate(len(line) + 1 for line in rest.split("\n")))
    starts.insert(0, 0)
    depth, opened, named = 0, -1, False
    try:
        for token in tokenize.generate_tokens(io.StringIO(rest).readline):
            at = starts[token.start[0] - 1] + token.start[1]
            named = named or (token.type == tokenize.NAME and token.string == function.name)
            if token.type != tokenize.OP or not named:
                continue
            if token.string == "(" and depth == 0:
                opened = at
            depth += token.string in ("(", "[", "{")
            depth -= token.string in (")", "]", "}")
            if depth == 0 and opened >= 0:
                return line_start + opened, rest[opened : at + 1]
    except (tokenize.TokenError, SyntaxError):
        return None
    return None


def _overlapping(changes: list[Change]) -> bool:
    ordered = sorted(changes)
    return any(a.start + len(a.old) > b.start for a, b in itertools.pairwise(ordered))


@dataclass
class Outcome:
    proposals: int = 0
    right: int = 0  # proposals that were one of the commit's changes (or part of one)
    expected: int = 0  # changes left to make after the user's
    found: int = 0  # of those, the ones the proposals made


@dataclass
class _Pending:
    """One of the commit's changes still to make: text[start:end] of the current text is to
    become `new`."""

    start: int
    end: int
    new: str


class Session:
    """A case's file open in infill's context engine, and where the commit's changes still to
    make stand in it as it changes (the file's other changes in the commit are not made, so
    what lies between them keeps its length)."""

    def __init__(self, case: Case) -> None:
        self.engine = ContextEngine()
        self.uri = "file:///bench/" + case.path
        self.engine.open(self.uri, case.before, "python", 1, "utf-16")
        self.pending = [_Pending(c.start, c.start + len(c.old), c.new) for c in case.changes]

    @property
    def text(self) -> str:
        return self.engine.documents[self.uri].doc.text

    def apply(self, start: int, end: int, new_text: str, part_of: _Pending) -> None:
        """text[start:end] becomes `new_text`, a part of the change `part_of`: the changes
        after it move with it."""
        doc = self.engine.documents[self.uri].doc
        self.engine.apply(self.uri, new_text, (doc.position_at(start), doc.position_at(end)))
        grown = len(new_text) - (end - start)
        part_of.end += grown
        for other in self.pending:
            if other is not part_of and other.start >= end:
                other.start += grown
                other.end += grown

    def type_over(self, change: _Pending) -> int:
        """The change made as typed: the part that differs deleted, the new part typed key by
        key; the cursor on the last key typed (the user has moved on: a cursor right after it
        would still be typing)."""
        head, removed, added = _middle(self.text[change.start : change.end], change.new)
        start = change.start + head
        self.apply(start, start + len(removed), "", change)
        for typed, letter in enumerate(added):
            self.apply(start + typed, start + typed, letter, change)
        return start + max(len(added) - 1, 0)

    def users_changes(self, made: int) -> int:
        """The user's first `made` changes, typed; the cursor where the last leaves it."""
        cursor = 0
        for _ in range(made):
            cursor = self.type_over(self.pending.pop(0))
        return cursor


# A next-edit model's answer, as each format has it, for the region rewritten as `region`.
ANSWERS = {
    "zeta": lambda path, region: f"```{path}\n{REGION_START}\n{region}\n{REGION_END}\n```",
    "instinct": lambda path, region: region,
    "chat": lambda path, region: f"Here is the region:\n```python\n{region}\n```\n",
}


def formats_replayed(case: Case) -> dict[str, bool]:
    """For each model format whose editable region around the user's change holds more of the
    commit's changes (whole: a change across the region's edge is not a region's rewrite):
    whether the answer a right model would give (the region as the commit left it, written as
    the format's answer) becomes exactly those changes."""
    session = Session(case)
    cursor = session.users_changes(case.made)
    tracked = session.engine.documents[session.uri]
    text = tracked.doc.text
    last_change = LastChange.of(tracked.changes.change)
    results: dict[str, bool] = {}
    for name, form in FORMATS.items():
        excerpt = excerpt_around(case.path, text, cursor, form.editable, form.shown)
        start, end = excerpt.editable
        inside = [p for p in session.pending if start <= p.start and p.end <= end]
        if not inside or any(
            p.start < edge < p.end for p in session.pending for edge in (start, end)
        ):
            continue
        region = text[start:end]
        for change in sorted(inside, key=lambda p: p.start, reverse=True):
            region = region[: change.start - start] + change.new + region[change.end - start :]
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
    proposal is right when it makes one change still to make (its code: the same tokens) and
    changes nothing else."""
    session = Session(case)
    outcome = Outcome(expected=len(case.changes) - case.made)
    cursor = session.users_changes(case.made)
    while session.pending:
        began = time.perf_counter()
        proposals = session.engine.next_edits(session.uri, cursor)
        times.append((time.perf_counter() - began) * 1000)
        if not proposals:
            break
        outcome.proposals += 1
        replacement = proposals[0].replacement
        right = _changed_toward(session.text, replacement, session.pending)
        if right is None:
            break
        outcome.right += 1
        session.apply(replacement.start, replacement.end, replacement.new_text, right)
        if _same_code(session.text[right.start : right.end], right.new):
            session.pending.remove(right)
            outcome.found += 1
        cursor = proposals[0].cursor
    return outcome


def _changed_toward(
    text: str, replacement: Replacement, pending: list[_Pending]
) -> _Pending | None:
    """The change still to make that `replacement` makes (within it, all of it, or, for a line
    with several tokens to change, some of them), if that is all it changes."""
    for change in pending:
        if not change.start <= replacement.start <= replacement.end <= change.end:
            continue
        now = text[change.start : change.end]
        made = (
            now[: replacement.start - change.start]
            + replacement.new_text
            + now[replacement.end - change.start :]
        )
        now_tokens, made_tokens, wanted = (_TOKEN.findall(t) for t in (now, made, change.new))
        if (made_tokens != now_tokens and _same_code(made, change.new)) or (
            len(now_tokens) == len(made_tokens) == len(wanted)
            and made_tokens != now_tokens
            and all(m in (n, w) for n, m, w in zip(now_tokens, made_tokens, wanted, strict=True))
        ):
            return change
    return None


def _same_code(a: str, b: str) -> bool:
    """Whether `a` and `b` are the same code: the same tokens, spacing aside, and a comma
    before a closing bracket aside (a formatter's choice: an argument put on a call's last
    line, or on a line of its own with a comma after it, is the same call)."""
    return _code_tokens(a) == _code_tokens(b)


def _code_tokens(text: str) -> list[str]:
    tokens = _TOKEN.findall(text)
    return [
        token
        for token, following in zip(tokens, [*tokens[1:], ""], strict=True)
        if not (token == "," and following in (")", "]", "}"))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repos", nargs="+", type=Path)
    parser.add_argument("--commits", type=int, default=2000)
    args = parser.parse_args()
    totals: dict[str, Outcome] = {}
    counts: Counter[str] = Counter()
    times: dict[str, list[float]] = {}
    exact = dict.fromkeys(FORMATS, 0)
    replayed = dict.fromkeys(FORMATS, 0)
    for repo in args.repos:
        for case in cases(repo, args.commits):
            for name, right in formats_replayed(case).items():
                replayed[name] += 1
                exact[name] += right
            variants = [case]
            if case.kind == "signature+" and len(case.changes) > 2:
                variants.append(dataclasses.replace(case, kind="signature+ call"))
            for replayed_case in variants:
                outcome = replay(replayed_case, times.setdefault(replayed_case.kind, []))
                total = totals.setdefault(replayed_case.kind, Outcome())
                total.proposals += outcome.proposals
                total.right += outcome.right
                total.expected += outcome.expected
                total.found += outcome.found
                counts[replayed_case.kind] += 1
                first = case.changes[0]
                print(
                    f"{replayed_case.kind:<15} {case.repo} {case.commit} {case.path}:"
                    f" {len(case.changes)} changes, the first {first.old.strip()!r} ->"
                    f" {first.new.strip()!r}: {outcome.right} right of {outcome.proposals}"
                    f" proposed, {outcome.expected} to find"
                )
    print()
    print(
        "kind             cases  to find  proposed  right  precision  found  recall   P50 ms"
        "   P95 ms"
    )
    for kind, total in sorted(totals.items()):
        precision = total.right / total.proposals if total.proposals else float("nan")
        recall = total.found / total.expected if total.expected else float("nan")
        p50, p95 = percentiles(times[kind], (50, 95)) if times[kind] else (math.nan, math.nan)
        print(
            f"{kind:<15} {counts[kind]:>6} {total.expected:>8} {total.proposals:>9} "
            f"{total.right:>6} {precision:>10.1%} {total.found:>6} {recall:>7.1%}"
            f" {p50:>8.2f} {p95:>8.2f}"
        )
    every = [time for kind_times in times.values() for time in kind_times]
    if every:
        p50, p95 = percentiles(every, (50, 95))
        print(f"proposing: {len(every)} requests, P50 {p50:.2f} ms, P95 {p95:.2f} ms")
    print("model formats, a right model's answer read back: exact edits / cases")
    for name, count in exact.items():
        share = count / replayed[name] if replayed[name] else float("nan")
        print(f"  {name:<9} {count} / {replayed[name]} ({share:.1%})")


if __name__ == "__main__":
    main()
