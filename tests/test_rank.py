"""Golden tests of postprocess/rank.py: several candidates for one cursor, in the model's order,
and the order the user gets them in (fewest parse errors in the document first)."""

from __future__ import annotations

import pytest

from infill.postprocess import CompletionContext, Mode, rank

CURSOR = "█"

# (name, language (a tree-sitter grammar, None: none), document with the cursor, the model's
# candidates in its order, the ranked candidates)
CASES = [
    (
        "the valid candidate goes before the broken one the model gave first",
        "python",
        "def total(values):\n    return █\n",
        ["sum(values", "sum(values)"],
        ["sum(values)", "sum(values"],
    ),
    (
        "equally valid candidates keep the model's order",
        "python",
        "def total(values):\n    return █\n",
        ["sum(values)", "len(values)", "max(values)"],
        ["sum(values)", "len(values)", "max(values)"],
    ),
    (
        "duplicates are dropped, the first kept in place",
        "python",
        "x = █\n",
        ["1", "2", "1", "2"],
        ["1", "2"],
    ),
    (
        "the errors counted are the whole document's: closing what the prefix opened is better",
        "python",
        "total = sum(values█\nprint(total)\n",
        [" + 1", ")", " or []"],
        [")", " + 1", " or []"],
    ),
    (
        "several broken candidates: fewer errors first",
        "javascript",
        "function f() {\n  █\n}\n",
        ["if (x) { y(", "if (x) {", "if (x) { y(); }"],
        ["if (x) { y(); }", "if (x) {", "if (x) { y("],
    ),
    (
        "a multi-line block that closes its braces goes first",
        "go",
        "package main\n\nfunc main() {\n\t█\n}\n",
        ["if ok {\n\t\tprintln(1)", "if ok {\n\t\tprintln(1)\n\t}"],
        ["if ok {\n\t\tprintln(1)\n\t}", "if ok {\n\t\tprintln(1)"],
    ),
    (
        "without a grammar, the model's order (duplicates still dropped)",
        None,
        "x = █\n",
        ["(1 +", "1", "(1 +"],
        ["(1 +", "1"],
    ),
    (
        "a language id with no grammar is the same",
        "plaintext",
        "x = █\n",
        ["(1 +", "1"],
        ["(1 +", "1"],
    ),
    ("one candidate", "python", "x = █\n", ["(1 +"], ["(1 +"]),
    ("no candidate", "python", "x = █\n", [], []),
]


def context(document: str, language: str | None) -> CompletionContext:
    assert document.count(CURSOR) == 1
    prefix, suffix = document.split(CURSOR)
    return CompletionContext(Mode.SINGLE_LINE, prefix, suffix, language)


@pytest.mark.parametrize(
    ("language", "document", "candidates", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rank(
    language: str | None, document: str, candidates: list[str], expected: list[str]
) -> None:
    assert rank(candidates, context(document, language)) == expected


def test_the_candidates_are_not_changed() -> None:
    candidates = ["sum(values", "sum(values)"]
    rank(candidates, context("x = █\n", "python"))
    assert candidates == ["sum(values", "sum(values)"]
