"""Similar snippets: windows of other code that share the most identifiers with the code
before the cursor (Jaccard similarity of identifier sets).

Per document the identifier words of every line are kept up to date on each change (only the
changed lines are re-read); the window sets are derived from them when the document has been
changed and a request needs them, with a sliding count so each line is counted twice at most.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from infill.context.document import Document
from infill.context.identifiers import identifier_words

WINDOW_LINES = 50
WINDOW_STEP = 10
QUERY_LINES = 50  # how much of the prefix describes what the user is writing


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
    words: frozenset[str]


class LineWords:
    """The identifier words of each line of one document, kept in step with its edits."""

    def __init__(self, lines: list[str]) -> None:
        self.lines: list[frozenset[str]] = [frozenset(identifier_words(line)) for line in lines]
        self._windows: list[Window] | None = None

    @property
    def line_count(self) -> int:
        return len(self.lines)

    def replace(self, first: int, old_last: int, new_lines: list[str]) -> None:
        """Lines first..old_last (inclusive) became `new_lines`.

        Only the windows that overlap the edit are computed again; those after it keep their
        words and move with the lines (a keystroke must not cost a pass over the document).
        """
        self.lines[first : old_last + 1] = [frozenset(identifier_words(x)) for x in new_lines]
        if self._windows is None:
            return
        delta = len(new_lines) - (old_last - first + 1)
        before = [w for w in self._windows if w.end_line < first]
        after = [
            Window(w.start_line + delta, w.end_line + delta, w.words)
            for w in self._windows
            if w.start_line > old_last
        ]
        low = before[-1].start_line + WINDOW_STEP if before else 0
        if after:
            starts = list(range(low, after[0].start_line, WINDOW_STEP))
        else:
            starts = _starts(low, len(self.lines))
        self._windows = before + _windows_at(self.lines, starts) + after

    def windows(self) -> list[Window]:
        if self._windows is None:
            self._windows = _windows_at(self.lines, _starts(0, len(self.lines)))
        return self._windows


def _starts(low: int, count: int) -> list[int]:
    """Window starts from `low`, WINDOW_STEP apart, the last window ending at the last line."""
    if count <= low:
        return []
    starts = list(range(low, max(count - WINDOW_LINES, low) + 1, WINDOW_STEP))
    if starts[-1] + WINDOW_LINES < count:
        starts.append(count - WINDOW_LINES)
    return starts


def _windows_at(lines: list[frozenset[str]], starts: list[int]) -> list[Window]:
    """The windows beginning at `starts` (ascending), with a sliding count of their words so
    that each line is added and removed once."""
    counts: dict[str, int] = {}

    def add(words: frozenset[str]) -> None:
        for word in words:
            counts[word] = counts.get(word, 0) + 1

    def remove(words: frozenset[str]) -> None:
        for word in words:
            left = counts[word] - 1
            if left:
                counts[word] = left
            else:
                del counts[word]

    windows: list[Window] = []
    if not starts:
        return windows
    first = last = starts[0]  # counts covers lines[first:last]
    for start in starts:
        end = min(start + WINDOW_LINES, len(lines))
        if start >= last:  # no overlap with the previous window: start afresh
            counts.clear()
            first = last = start
        while first < start:
            remove(lines[first])
            first += 1
        while last < end:
            add(lines[last])
            last += 1
        windows.append(Window(start, end - 1, frozenset(counts)))
    return windows


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


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
        for window in candidate.words.windows():
            if candidate.exclude is not None and overlaps(
                (window.start_line, window.end_line), candidate.exclude
            ):
                continue
            score = jaccard(query, window.words)
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
