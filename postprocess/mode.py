"""Whether to complete at the cursor, and how much: one line or several."""

from __future__ import annotations

import enum

# What may stand right of the cursor for a completion still to make sense in front of it:
# closers, and the "{" of `if (|) {`, which opens what follows the completion.
CLOSERS = frozenset(")]}>\"'`;,: \t{")
# A line ending in one of these opens a block (braces, or Python's colon): what follows is a
# block body, several lines. After an open bracket the rest of the statement usually fits on
# the line, so that stays single-line.
OPENERS = ("{", ":")


class Mode(enum.Enum):
    SINGLE_LINE = "single-line"
    MULTI_LINE = "multi-line"


def completion_mode(line_before: str, line_after: str) -> Mode | None:
    """None where a completion cannot help: code (not just closers) right of the cursor."""
    if any(ch not in CLOSERS for ch in line_after):
        return None
    if line_after.strip():
        return Mode.SINGLE_LINE  # mid-statement: finish this line in front of its closers
    if not line_before.strip() or opens_block(line_before):
        return Mode.MULTI_LINE  # an empty line, or the start of a block
    return Mode.SINGLE_LINE


def opens_block(line: str) -> bool:
    """Whether a line ends by opening a block: what follows it is a block body."""
    return line.rstrip().endswith(OPENERS)
