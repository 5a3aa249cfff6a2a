"""Recent edits: regions merge while typing in one place, shift with edits above them."""

from __future__ import annotations

from infill.context.edits import MAX_REGIONS, RecentEdits, shown_lines


def spans(edits: RecentEdits) -> list[tuple[str, int, int]]:
    return [(r.uri, r.start_line, r.end_line) for r in edits.regions]


def test_typing_in_one_place_is_one_region():
    edits = RecentEdits()
    for _ in range(20):
        edits.record("a", 10, 10, 10)
    edits.record("a", 11, 11, 12)  # a new line while typing
    assert spans(edits) == [("a", 10, 12)]


def test_regions_are_most_recent_first_and_capped():
    edits = RecentEdits()
    for i in range(MAX_REGIONS + 3):
        edits.record("a", i * 100, i * 100, i * 100)
    assert len(edits.regions) == MAX_REGIONS
    assert edits.regions[0].start_line == (MAX_REGIONS + 2) * 100


def test_an_edit_above_shifts_the_regions_below():
    edits = RecentEdits()
    edits.record("a", 50, 50, 50)
    edits.record("b", 5, 5, 5)
    edits.record("a", 0, 0, 4)  # four lines inserted at the top of a
    assert spans(edits) == [("a", 0, 4), ("b", 5, 5), ("a", 54, 54)]
    edits.record("a", 1, 10, 1)  # nine lines deleted
    assert ("a", 45, 45) in spans(edits)


def test_forget_and_shown_lines():
    edits = RecentEdits()
    edits.record("a", 1, 1, 1)
    edits.record("b", 40, 40, 41)
    edits.forget("a")
    assert spans(edits) == [("b", 40, 41)]
    assert shown_lines(edits.regions[0], 43) == (37, 42)
