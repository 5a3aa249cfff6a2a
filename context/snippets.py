"""Similar snippets: windows of other code that share the most identifiers with the code
before the cursor (Jaccard similarity of identifier sets).

Per document the identifier words of every line are kept up to date on each change (only the
changed lines are re-read). Each document numbers its words, so that a set of words is the bits
of an int: a window's words are the OR of its lines', and what it shares with the query is one
AND and a bit count. That is several times cheaper than intersecting sets, and touches a small
fraction of the memory (a request may score hundreds of windows, often with a cold cache).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from dataclasses import dataclass

from infill.context.document import Document
from infill.context.identifiers import identifier_words

WINDOW_LINES = 50
WINDOW_STEP = 10
QUERY_LINES = 50  # how much of the prefix describes what the user is writing
# Words are never un-numbered while a document is edited (each half-typed word gets a number):
# past this many more than it had, the document numbers its words afresh.
RENUMBER_SLACK = 4096


@dataclass(frozen=True)
class Snippet:
    """Code from elsewhere for the prompt, with where it comes from and why."""

    source: str  # "similar", "definition" or "recent_edit"
    uri: str
    path: str
    start_line: int  # 0-based, inclusive
    end_line: int  # 0-based, inclusive
    text: str
    score: float


@dataclass(frozen=True)
class Window:
    start_line: int
    end_line: int  # inclusive
    mask: int  # its words, as bits numbered by its document's `LineWords.numbers`
    size: int  # how many words


class LineWords:
    """The identifier words of each line of one document, kept in step with its edits."""

    def __init__(self, lines: list[str]) -> None:
        self.lines: list[frozenset[str]] = [frozenset(identifier_words(line)) for line in lines]
        self._number_words()

    def _number_words(self) -> None:
        self.numbers: dict[str, int] = {}
        self.masks = [self._mask(words) for words in self.lines]
        self._numbered = len(self.numbers)
        self._windows: list[Window] | None = None

    def _mask(self, words: Iterable[str]) -> int:
        numbers = self.numbers
        mask = 0
        for word in words:
            number = numbers.get(word)
            if number is None:
                number = numbers[word] = len(numbers)
            mask |= 1 << number
        return mask

    def query_mask(self, words: set[str]) -> int:
        """The bits of those of `words` that this document has."""
        shared = self.numbers.keys() & words
        # Distinct powers of two: their sum is their OR.
        return sum(map((1).__lshift__, map(self.numbers.__getitem__, shared)))

    @property
    def line_count(self) -> int:
        return len(self.lines)

    def replace(self, first: int, old_last: int, new_lines: list[str]) -> None:
        """Lines first..old_last (inclusive) became `new_lines`.

        Only the windows that overlap the edit are computed again; those after it keep their
        words and move with the lines (a keystroke must not cost a pass over the document).
        """
        words = [frozenset(identifier_words(x)) for x in new_lines]
        self.lines[first : old_last + 1] = words
        self.masks[first : old_last + 1] = [self._mask(w) for w in words]
        if len(self.numbers) > self._numbered + RENUMBER_SLACK:
            self._number_words()
            return
        if self._windows is None:
            return
        delta = len(new_lines) - (old_last - first + 1)
        before = [w for w in self._windows if w.end_line < first]
        after = [
            Window(w.start_line + delta, w.end_line + delta, w.mask, w.size)
            for w in self._windows
            if w.start_line > old_last
        ]
        low = before[-1].start_line + WINDOW_STEP if before else 0
        if after:
            starts = list(range(low, after[0].start_line, WINDOW_STEP))
        else:
            starts = _starts(low, len(self.lines))
        self._windows = before + self._windows_at(starts) + after

    def windows(self) -> list[Window]:
        if self._windows is None:
            self._windows = self._windows_at(_starts(0, len(self.lines)))
        return self._windows

    def _windows_at(self, starts: list[int]) -> list[Window]:
        windows = []
        for start in starts:
            end = min(start + WINDOW_LINES, len(self.lines))
            mask = functools.reduce(operator.or_, self.masks[start:end], 0)
            windows.append(Window(start, end - 1, mask, mask.bit_count()))
        return windows


def _starts(low: int, count: int) -> list[int]:
    """Window starts from `low`, WINDOW_STEP apart, the last window ending at the last line."""
    if count <= low:
        return []
    starts = list(range(low, max(count - WINDOW_LINES, low) + 1, WINDOW_STEP))
    if starts[-1] + WINDOW_LINES < count:
        starts.append(count - WINDOW_LINES)
    return starts


@dataclass(frozen=True)
class Candidate:
    """A document to look for snippets in, and the lines of it not to use (the cursor's)."""

    doc: Document
    path: str
    words: LineWords
    exclude: tuple[int, int] | None = None  # inclusive line range


def similar_snippets(
    query: set[str], candidates: Iterable[Candidate], limit: int = 8, min_score: float = 0.05
) -> list[Snippet]:
    """The best windows across `candidates`, best first; windows of one document that overlap
    a better one are skipped, so no line is offered twice."""
    if not query:
        return []
    scored: list[tuple[float, Candidate, Window]] = []
    for candidate in candidates:
        query_mask = candidate.words.query_mask(query)
        if not query_mask:
            continue
        for window in candidate.words.windows():
            if candidate.exclude is not None and overlaps(
                (window.start_line, window.end_line), candidate.exclude
            ):
                continue
            # Jaccard: shared words over all words of the two.
            common = (query_mask & window.mask).bit_count()
            score = common / (len(query) + window.size - common)
            if score >= min_score:
                scored.append((score, candidate, window))
    scored.sort(key=lambda item: -item[0])
    chosen: list[Snippet] = []
    taken: dict[str, list[tuple[int, int]]] = {}
    for score, candidate, window in scored:
        span = (window.start_line, window.end_line)
        uri = candidate.doc.uri
        if any(overlaps(span, other) for other in taken.get(uri, [])):
            continue
        taken.setdefault(uri, []).append(span)
        text = candidate.doc.lines_text(*span)
        chosen.append(Snippet("similar", uri, candidate.path, *span, text=text, score=score))
        if len(chosen) >= limit:
            break
    return chosen


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two inclusive line ranges share a line."""
    return a[0] <= b[1] and b[0] <= a[1]
