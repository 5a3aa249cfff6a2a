"""Cutting prefix and suffix to token budgets, on line boundaries."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from infill.prompts.tokens import Counter, count_tokens


def _lines_from_start(text: str) -> Iterator[str]:
    """The lines of "\n"-normalized text, first to last, each with its "\n" (the last may
    lack one)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end


def _lines_from_end(text: str) -> Iterator[str]:
    """The same lines, last to first: a prefix is read only as far back as the budget goes,
    not split whole (it may be all of a large file before the cursor)."""
    end = len(text)
    while end > 0:
        start = text.rfind("\n", 0, end - 1) + 1
        yield text[start:end]
        end = start


def _shrink(text: str, budget: int, keep_end: bool, count: Counter) -> str:
    """Cut one over-long line by characters until it fits (minified code, data blobs)."""
    # A token is rarely over four characters of code, so this first cut is usually the last.
    cut = text[-budget * 4 :] if keep_end else text[: budget * 4]
    while cut and count(cut) > budget:
        step = max(1, len(cut) // 8)
        cut = cut[step:] if keep_end else cut[:-step]
    return cut


def _fit_lines(text: str, budget: int, from_end: bool, count: Counter) -> tuple[str, int]:
    """The longest run of whole lines at one end of `text` within `budget` tokens.

    The line next to the cursor is kept even if it must be cut by characters: before the
    cursor it is what gets completed, after it it holds the closers the suggestion must fit.
    Returns the kept text and its token count.
    """
    kept: list[str] = []
    used = 0
    for piece in _lines_from_end(text) if from_end else _lines_from_start(text):
        cost = count(piece)
        if used + cost > budget:
            if not kept and budget > 0:
                piece = _shrink(piece, budget, from_end, count)
                kept.append(piece)
                used = count(piece)
            break
        kept.append(piece)
        used += cost
    if from_end:
        kept.reverse()
    return "".join(kept), used


def count_each_line(text: str, count: Counter, max_lines: int) -> None:
    """Count the lines of `text` (at most `max_lines`) as the budget will, so that the first
    request in a document just opened finds their counts remembered."""
    for line in itertools.islice(_lines_from_start(text), max_lines):
        count(line)


def keep_tail_lines(text: str, budget: int, count: Counter = count_tokens) -> tuple[str, int]:
    """Whole lines from the end of `text` (the prefix) within `budget` tokens."""
    return _fit_lines(text, budget, True, count)


def keep_head_lines(text: str, budget: int, count: Counter = count_tokens) -> tuple[str, int]:
    """Whole lines from the start of `text` (the suffix) within `budget` tokens."""
    return _fit_lines(text, budget, False, count)
