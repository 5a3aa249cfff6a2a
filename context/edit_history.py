"""The user's recent changes as unified diffs, for next-edit models: they read the edit history
as the diffs they were trained on ("User edited path:" and a diff, oldest first)."""

from __future__ import annotations

import difflib
import re
from collections import deque
from dataclasses import dataclass

from infill.context.next_edit import RecentChange

MAX_EVENTS = 8  # changes kept, across documents
DIFF_CONTEXT_LINES = 3  # unchanged lines around each change, as `diff -u` shows them
_HUNK_HEADER = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


@dataclass(frozen=True)
class Change:
    """One change of one document, as a diff."""

    path: str
    diff: str  # unified diff hunks, without the file header lines


def change_diff(change: RecentChange, after: str) -> str:
    """`change` (whose result is `after`) as unified diff hunks with line numbers of the whole
    document, computed over its lines and DIFF_CONTEXT_LINES around them only."""
    before = change.before
    first = max(0, before.count("\n", 0, change.start) - DIFF_CONTEXT_LINES)
    old_last = before.count("\n", 0, change.old_end) + DIFF_CONTEXT_LINES
    new_last = after.count("\n", 0, change.new_end) + DIFF_CONTEXT_LINES
    old_lines = _lines(before)[first : old_last + 1]
    new_lines = _lines(after)[first : new_last + 1]
    lines = list(difflib.unified_diff(old_lines, new_lines, n=DIFF_CONTEXT_LINES, lineterm=""))
    return "\n".join(_shifted(line, first) for line in lines[2:])  # no ---/+++ lines


def _lines(text: str) -> list[str]:
    """The lines of `text`, without their line feeds (the last line's too: a file that ends
    with one has no empty line after it)."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


def _shifted(line: str, by: int) -> str:
    """A hunk header's line numbers moved down by `by` lines (the diff was of a slice)."""
    match = _HUNK_HEADER.match(line)
    if match is None:
        return line
    old, old_count, new, new_count = match.groups()
    # difflib numbers an empty side's position one lower, as `diff -u` does.
    return (
        f"@@ -{int(old) + by}{old_count or ''} +{int(new) + by}{new_count or ''} @@"
        + line[match.end() :]
    )


class EditHistory:
    """The last MAX_EVENTS changes, oldest first."""

    def __init__(self) -> None:
        self.changes: deque[Change] = deque(maxlen=MAX_EVENTS)

    def add(self, path: str, change: RecentChange, after: str) -> None:
        diff = change_diff(change, after)
        if diff:
            self.changes.append(Change(path, diff))

    def forget(self, path: str) -> None:
        """A document that became private leaves the history."""
        kept = [change for change in self.changes if change.path != path]
        self.changes.clear()
        self.changes.extend(kept)
