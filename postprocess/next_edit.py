"""A next-edit model's answer (its rewrite of the editable region) as the edits it makes: each
run of changed lines, trimmed to the characters that differ. Nothing is proposed when the rewrite
leaves the document with more syntax errors than it has, or undoes the user's last change (a
model shown the edit history may write the text back as it was)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from infill.context.next_edit import RecentChange, Replacement, common_length
from infill.postprocess.syntax import error_count, original_tree


@dataclass(frozen=True)
class LastChange:
    """The user's last change: text[start:end] of the document now was `old` before it."""

    start: int
    end: int
    old: str

    @staticmethod
    def of(change: RecentChange | None) -> LastChange | None:
        """The change tracked last, if any, as this says it."""
        if change is None:
            return None
        return LastChange(
            change.start, change.new_end, change.before[change.start : change.old_end]
        )


def region_edits(text: str, region: tuple[int, int], rewrite: str) -> list[Replacement]:
    """The edits that turn text[region] into `rewrite`, in document order. The region keeps its
    own line breaks at its end: models keep or drop a last empty line at will, and a final line
    break lost is not an edit anyone meant."""
    start, end = region
    old = text[start:end]
    rewrite = rewrite.rstrip("\n") + old[len(old.rstrip("\n")) :]
    old_lines = old.splitlines(keepends=True)
    new_lines = rewrite.splitlines(keepends=True)
    offsets = [0]
    for line in old_lines:
        offsets.append(offsets[-1] + len(line))
    edits = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        before, after = old[offsets[i1] : offsets[i2]], "".join(new_lines[j1:j2])
        head = common_length(before, after, from_end=False)
        tail = common_length(before[head:], after[head:], from_end=True)
        edits.append(
            Replacement(
                start + offsets[i1] + head,
                start + offsets[i2] - tail,
                after[head : len(after) - tail],
            )
        )
    return edits


def applied(text: str, edits: Sequence[Replacement]) -> str:
    """`text` with `edits` (in document order, not overlapping) made."""
    parts, at = [], 0
    for edit in edits:
        parts.append(text[at : edit.start] + edit.new_text)
        at = edit.end
    return "".join(parts) + text[at:]


def acceptable(
    text: str, edits: Sequence[Replacement], language: str | None, last: LastChange | None
) -> bool:
    """Whether to propose `edits`: some, not undoing `last`, and not leaving more syntax
    errors than the document has (where a grammar says)."""
    if not edits:
        return False
    result = applied(text, edits)
    if last is not None and _undoes(text, edits, result, last):
        return False
    before = original_tree(text, "", language)
    if before is None:
        return True
    after = original_tree(result, "", language)
    return after is not None and error_count(after) <= error_count(before)


def _undoes(text: str, edits: Sequence[Replacement], result: str, last: LastChange) -> bool:
    """Whether the edits touch the last change and leave its lines as they were before it
    (the rest of the result may differ from that older text: a model can undo one line and
    edit the next)."""
    if not any(edit.start <= last.end and last.start <= edit.end for edit in edits):
        return False
    before = text[: last.start] + last.old + text[last.end :]
    first = before.count("\n", 0, last.start)
    last_line = before.count("\n", 0, last.start + len(last.old))
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=result.splitlines(), autojunk=False)
    kept: set[int] = set()
    for block in matcher.get_matching_blocks():
        kept.update(range(block.a, block.a + block.size))
    return all(line in kept for line in range(first, last_line + 1))
