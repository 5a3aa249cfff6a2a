"""Similar snippets: identifier words, sliding windows, Jaccard ranking, and fusion."""

from __future__ import annotations

import random

from infill.context.document import Document
from infill.context.engine import fuse
from infill.context.identifiers import identifier_words
from infill.context.snippets import (
    RENUMBER_SLACK,
    WINDOW_LINES,
    WINDOW_STEP,
    Candidate,
    LineWords,
    Snippet,
    Window,
    similar_snippets,
)


def test_identifier_words_split_camel_and_snake_case_and_drop_keywords():
    words = identifier_words("def parseHTTPResponse(raw_bytes): return self.max_retry_count")
    assert {"parsehttpresponse", "parse", "http", "response"} <= words
    assert {"raw_bytes", "raw", "bytes", "max_retry_count", "max", "retry", "count"} <= words
    assert not words & {"def", "return", "self"}


def lines_of(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocabulary = [f"name{i}" for i in range(40)]
    return [" ".join(rng.sample(vocabulary, 3)) for _ in range(count)]


def words_of(words: LineWords, window: Window) -> frozenset[str]:
    """A window's words, read back from its bits."""
    found = frozenset(w for w, number in words.numbers.items() if window.mask >> number & 1)
    assert len(found) == window.size
    return found


def brute_force_windows(lines: list[str]) -> list[tuple[int, int, frozenset[str]]]:
    if not lines:
        return []
    words = [frozenset(identifier_words(line)) for line in lines]
    starts = list(range(0, max(len(lines) - WINDOW_LINES, 0) + 1, WINDOW_STEP))
    if starts and starts[-1] + WINDOW_LINES < len(lines):
        starts.append(len(lines) - WINDOW_LINES)
    windows = []
    for start in starts:
        end = min(start + WINDOW_LINES, len(lines))
        windows.append((start, end - 1, frozenset().union(*words[start:end])))
    return windows


def test_windows_equal_a_brute_force_union():
    for count in (0, 1, 7, WINDOW_LINES, WINDOW_LINES + 1, 137, 400):
        lines = lines_of(count, seed=count)
        words = LineWords(lines)
        found = [(w.start_line, w.end_line, words_of(words, w)) for w in words.windows()]
        assert found == brute_force_windows(lines), count


def assert_windows_describe_their_lines(words: LineWords, lines: list[str]) -> None:
    line_words = [frozenset(identifier_words(line)) for line in lines]
    covered: set[int] = set()
    for window in words.windows():
        assert 0 <= window.start_line <= window.end_line < len(lines)
        assert window.end_line - window.start_line < WINDOW_LINES
        span = line_words[window.start_line : window.end_line + 1]
        assert words_of(words, window) == frozenset().union(*span)
        covered.update(range(window.start_line, window.end_line + 1))
    assert covered == set(range(len(lines)))


def test_line_words_and_windows_follow_edits():
    rng = random.Random(7)
    lines = lines_of(300)
    words = LineWords(list(lines))
    words.windows()
    for _ in range(200):
        first = rng.randrange(len(lines))
        old_last = min(len(lines) - 1, first + rng.choice([0, 0, 0, 1, 5, 40]))
        new = lines_of(rng.choice([0, 1, 1, 2, 30]), seed=rng.randrange(1000))
        if len(lines) - (old_last - first + 1) + len(new) == 0:
            continue
        lines[first : old_last + 1] = new
        words.replace(first, old_last, new)
        assert words.lines == LineWords(lines).lines
        assert_windows_describe_their_lines(words, lines)
    # Windows are only recomputed around edits: their number stays near the full count.
    assert len(words.windows()) <= 2 * len(LineWords(lines).windows())


def test_words_are_numbered_afresh_when_typing_has_numbered_too_many():
    lines = lines_of(120)
    words = LineWords(list(lines))
    words.windows()
    for number in range(RENUMBER_SLACK + 10):  # a new half-typed word at every keystroke
        lines[60] = f"value_{number} = 1"
        words.replace(60, 60, [lines[60]])
    assert len(words.numbers) <= len(set().union(*words.lines)) + RENUMBER_SLACK
    assert_windows_describe_their_lines(words, lines)


def candidate(uri: str, lines: list[str], exclude=None) -> Candidate:
    doc = Document(uri, "\n".join(lines))
    return Candidate(doc, uri.rsplit("/", 1)[-1], LineWords(lines), exclude)


def test_the_most_similar_window_wins_and_windows_do_not_overlap():
    noise = lines_of(200, seed=1)
    target = ["def load_inventory_items(store):", "    items = store.fetch_inventory()"]
    other = noise[:120] + target + noise[120:]
    query = identifier_words("inventory = load_inventory_items(store)\nstore.fetch_inventory")
    found = similar_snippets(query, [candidate("file:///other.py", other)], limit=3)
    assert found[0].start_line <= 120 <= found[0].end_line
    assert "load_inventory_items" in found[0].text
    spans = [(s.start_line, s.end_line) for s in found]
    for i, a in enumerate(spans):
        for b in spans[i + 1 :]:
            assert a[1] < b[0] or b[1] < a[0]
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)


def test_the_score_is_the_jaccard_similarity_of_the_word_sets():
    lines = lines_of(130, seed=3)
    query = identifier_words("name1 name2 name3 name4 something_else")
    for snippet in similar_snippets(query, [candidate("file:///a.py", lines)], min_score=0):
        shown = frozenset().union(
            *map(identifier_words, lines[snippet.start_line : snippet.end_line + 1])
        )
        assert snippet.score == len(query & shown) / len(query | shown)


def test_excluded_lines_are_never_offered():
    lines = ["def load_inventory_items(store): pass"] * 200
    query = identifier_words("load_inventory_items store")
    found = similar_snippets(query, [candidate("file:///a.py", lines, exclude=(0, 199))])
    assert found == []
    found = similar_snippets(query, [candidate("file:///a.py", lines, exclude=(0, 100))])
    assert found and all(s.start_line > 100 for s in found)


def snippet(source: str, path: str, start: int, end: int) -> Snippet:
    return Snippet(source, "", path, start, end, f"{path}:{start}", 0.0)


def test_fusion_ranks_agreement_first_and_drops_overlaps():
    definitions = [snippet("definition", "a.py", 10, 20), snippet("definition", "b.py", 0, 5)]
    similar = [snippet("similar", "c.py", 0, 49), snippet("similar", "a.py", 15, 64)]
    edits = [snippet("recent_edit", "d.py", 3, 9)]
    fused = fuse([definitions, similar, edits])
    # First of each list tie on rank; the a.py window overlapping the a.py definition goes.
    assert [(s.path, s.start_line) for s in fused] == [
        ("a.py", 10),
        ("c.py", 0),
        ("d.py", 3),
        ("b.py", 0),
    ]
    assert fused[0].score >= fused[-1].score
