"""The next-edit benchmark's reading of commits (bench/next_edit_eval.py): which changes follow
from the first, and how a case is replayed."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

from bench.next_edit_eval import Case, cases, file_cases, formats_replayed, mechanical_edit, replay

BEFORE = "def area(width, height):\n    double = width * 2\n    return width * height\n"

# A function and its calls; a commit adds a parameter to it, among other changes of the file.
SIGNED = """\
def area(
    width,
    height,
):
    return width * height


class Box:
    def grow(self, by):
        return by

    def use(self):
        return self.grow(2) + area(1, 2)


depth = 1
print(area(3, 4), area(5, 6))
"""
SIGNED_AFTER = """\
import sys


def area(
    width,
    height,
    depth,
):
    volume = width * height * depth
    return volume


class Box:
    def grow(self, by):
        return by

    def use(self):
        return self.grow(2) + area(1, 2, depth=3)


depth = 1
print(area(3, 4, sys.argv), area(5, 6))
"""


def case(before: str, after: str) -> Case:
    found = file_cases(before, after)
    assert len(found) == 1
    return Case("repo", "commit", "area.py", found[0][0], before, found[0][1])


def test_changed_lines_that_follow_from_the_first_are_a_case_of_their_kind():
    renamed = case(BEFORE, BEFORE.replace("width", "size"))
    assert renamed.kind == "rename"
    assert [BEFORE.count("\n", 0, c.start) for c in renamed.changes] == [0, 1, 2]
    awaited = "a = fetch(x)\nb = fetch(y)\nc = fetch(z)\n"
    assert case(awaited, awaited.replace("fetch(", "await fetch(")).kind == "repeat"
    # Two different edits, a line added, whitespace only, one line: no case.
    changed = awaited.replace("fetch(", "await fetch(")
    assert mechanical_edit(awaited, changed.replace("await fetch(z)", "fetch(w)")) is None
    assert mechanical_edit(awaited, changed + "d = 1\n") is None
    assert mechanical_edit(awaited, awaited.replace(" = ", "  =  ")) is None
    assert mechanical_edit(awaited, awaited.replace("a = ", "b = ", 1)) is None


def test_a_parameter_added_is_a_case_with_the_calls_that_follow_the_files_other_changes_aside():
    signed = case(SIGNED, SIGNED_AFTER)
    assert signed.kind == "signature+"
    definition, *calls = signed.changes
    assert (definition.old, definition.new) == (
        "(\n    width,\n    height,\n)",
        "(\n    width,\n    height,\n    depth,\n)",
    )
    assert SIGNED[definition.start :].startswith(definition.old)
    # As a keyword, or at the parameter's position; the call left as it was is not one.
    assert [(c.old, c.new) for c in calls] == [
        ("area(1, 2)", "area(1, 2, depth=3)"),
        ("area(3, 4)", "area(3, 4, sys.argv)"),
    ]
    assert all(SIGNED[c.start :].startswith(c.old) for c in calls)
    removed = case(SIGNED_AFTER, SIGNED_AFTER.replace("(2)", "()").replace(", by)", ")"))
    assert removed.kind == "signature-"
    assert [(c.old, c.new) for c in removed.changes] == [
        ("(self, by)", "(self)"),
        ("self.grow(2)", "self.grow()"),
    ]
    # A parameter renamed too, a call whose other arguments changed: no case.
    assert file_cases(SIGNED, SIGNED.replace("height,\n", "tall,\n    depth,\n")) == []
    assert file_cases(SIGNED, SIGNED.replace("area(3, 4)", "area(3, 5, 4)")) == []


def test_a_case_replayed_follows_the_proposals_while_they_are_the_commits_own_changes():
    times: list[float] = []
    outcome = replay(case(BEFORE, BEFORE.replace("width", "size")), times)
    assert (outcome.expected, outcome.proposals, outcome.right, outcome.found) == (2, 2, 2, 2)
    # The commit renamed the last use only: the rule's proposal at the first is a wrong one.
    after = BEFORE.replace("(width", "(size").replace("return width", "return size")
    outcome = replay(case(BEFORE, after), times)
    assert (outcome.expected, outcome.proposals, outcome.right) == (1, 1, 0)
    assert len(times) == 3


def test_a_signature_case_replayed_counts_other_arguments_and_calls_left_alone_as_wrong():
    # The parameter typed on a line of its own; the lines the commit added elsewhere are not
    # made, so the calls stand where the replay expects them.
    times: list[float] = []
    after = SIGNED_AFTER.replace("area(1, 2, depth=3)", "area(1, 2, depth)")
    outcome = replay(case(SIGNED, after), times)
    # Right at the first call; the second passes another argument than the parameter's name.
    assert (outcome.expected, outcome.proposals, outcome.right, outcome.found) == (2, 2, 1, 1)
    # The commit left the nearest call alone: the proposal there is a wrong one.
    after = SIGNED_AFTER.replace("area(1, 2, depth=3)", "area(1, 2)").replace("sys.argv", "depth")
    outcome = replay(case(SIGNED, after.replace("area(5, 6)", "area(5, 6, depth)")), times)
    assert (outcome.expected, outcome.proposals, outcome.right, outcome.found) == (2, 1, 0, 0)


def test_a_signature_case_replayed_with_a_call_by_hand_follows_what_the_user_passed_there():
    before = "def f(a):\n    return a\n\n\nf(1)\nf(2)\nf(3)\n"
    after = (
        before.replace("(a)", "(a, b)")
        .replace("f(1)", "f(1, True)")
        .replace("f(2)", "f(2, True)")
        .replace("f(3)", "f(3, None)")
    )
    signed = case(before, after)
    # No variable `b` at the calls: nothing to propose from the definition alone.
    outcome = replay(signed, [])
    assert (outcome.expected, outcome.proposals, outcome.right, outcome.found) == (3, 0, 0, 0)
    # The first call passes True: right at the second, wrong at the third.
    outcome = replay(dataclasses.replace(signed, kind="signature+ call"), [])
    assert (outcome.expected, outcome.proposals, outcome.right, outcome.found) == (2, 2, 1, 1)


def test_a_right_models_answer_in_each_format_reads_back_as_the_commits_changes():
    renamed = case(BEFORE, BEFORE.replace("width", "size"))
    assert formats_replayed(renamed) == {"zeta": True, "instinct": True, "chat": True}


def test_a_repositorys_history_is_read_commit_by_commit(tmp_path: Path):
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    (tmp_path / "area.py").write_text(SIGNED)
    git("add", "area.py")
    git("commit", "-q", "-m", "area")
    (tmp_path / "area.py").write_text(SIGNED_AFTER)
    git("commit", "-q", "-am", "depth")
    [found] = cases(tmp_path, 10)
    assert (found.path, found.kind, found.before, len(found.changes)) == (
        "area.py",
        "signature+",
        SIGNED,
        3,
    )
