"""The next-edit benchmark's reading of commits (bench/next_edit_eval.py): which changes follow
from the first, and how a case is replayed."""

from __future__ import annotations

from bench.next_edit_eval import Case, formats_replayed, mechanical_edit, replay

BEFORE = "def area(width, height):\n    double = width * 2\n    return width * height\n"


def case(before: str, after: str) -> Case:
    found = mechanical_edit(before, after)
    assert found is not None
    return Case("repo", "commit", "area.py", found[0], before, found[1])


def test_changed_lines_that_follow_from_the_first_are_a_case_of_their_kind():
    renamed = case(BEFORE, BEFORE.replace("width", "size"))
    assert renamed.kind == "rename" and [n for n, _, _ in renamed.lines] == [0, 1, 2]
    calls = "def f(a):\n    pass\n\nf(1)\nx = f(2)\n"
    assert case(calls, calls.replace("f(a)", "f(a, b)").replace("(1)", "(1, 2)")).kind == (
        "signature"
    )
    awaited = "a = fetch(x)\nb = fetch(y)\nc = fetch(z)\n"
    assert case(awaited, awaited.replace("fetch(", "await fetch(")).kind == "repeat"
    # Two different edits, a line added, whitespace only, one line: no case.
    changed = awaited.replace("fetch(", "await fetch(")
    assert mechanical_edit(awaited, changed.replace("await fetch(z)", "fetch(w)")) is None
    assert mechanical_edit(awaited, changed + "d = 1\n") is None
    assert mechanical_edit(awaited, awaited.replace(" = ", "  =  ")) is None
    assert mechanical_edit(awaited, awaited.replace("a = ", "b = ", 1)) is None


def test_a_case_replayed_follows_the_proposals_while_they_are_the_commits_own_changes():
    times: list[float] = []
    outcome = replay(case(BEFORE, BEFORE.replace("width", "size")), times)
    assert (outcome.expected, outcome.proposals, outcome.right, outcome.found) == (2, 2, 2, 2)
    # The commit renamed the last use only: the rule's proposal at the first is a wrong one.
    after = BEFORE.replace("(width", "(size").replace("return width", "return size")
    outcome = replay(case(BEFORE, after), times)
    assert (outcome.expected, outcome.proposals, outcome.right) == (1, 1, 0)
    assert len(times) == 3


def test_a_right_models_answer_in_each_format_reads_back_as_the_commits_changes():
    renamed = case(BEFORE, BEFORE.replace("width", "size"))
    assert formats_replayed(renamed) == {"zeta": True, "instinct": True, "chat": True}
