"""Unit tests for postprocess/: the filters, the completion mode and the stream cut."""

from __future__ import annotations

import pytest

from infill.postprocess import FILTERS, CompletionContext, Mode, completion_mode, stop_index
from infill.postprocess.filters import (
    drop_blank,
    drop_lines_repeating_suffix,
    drop_parse_errors_introduced,
    drop_prefix_echo,
    drop_repetition,
    drop_unbalanced_brackets,
    keep_first_line,
    merge_space_at_join,
    postprocess,
    trim_line_suffix_overlap,
    trim_trailing_whitespace,
    truncate_at_block_end,
)

SINGLE = Mode.SINGLE_LINE
MULTI = Mode.MULTI_LINE


def ctx(
    mode: Mode = SINGLE,
    line_before: str = "",
    line_after: str = "",
    suffix: str | None = None,
    language: str | None = None,
) -> CompletionContext:
    """A cursor with `line_before|line_after` on its line; `suffix` is the rest of the
    document from the cursor (its first line must be `line_after`)."""
    if suffix is None:
        suffix = line_after
    assert not line_after or suffix.split("\n", 1)[0] == line_after
    return CompletionContext(mode, line_before, suffix, language)


def test_filters_run_in_the_documented_order():
    assert FILTERS == [
        keep_first_line,
        merge_space_at_join,
        truncate_at_block_end,
        drop_lines_repeating_suffix,
        drop_repetition,
        drop_prefix_echo,
        trim_trailing_whitespace,
        trim_line_suffix_overlap,
        drop_unbalanced_brackets,
        drop_parse_errors_introduced,
        drop_blank,
    ]


# -- keep_first_line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "completion", "expected"),
    [
        (SINGLE, "name)\n    return name", "name)"),
        (SINGLE, "one line", "one line"),
        (SINGLE, "\nsecond", ""),
        (MULTI, "a = 1\nb = 2\n", "a = 1\nb = 2\n"),
    ],
)
def test_keep_first_line(mode: Mode, completion: str, expected: str):
    assert keep_first_line(completion, ctx(mode)) == expected


# -- drop_lines_repeating_suffix -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "suffix", "expected"),
    [
        # The model regenerates the line below the cursor: cut there.
        ("total = a + b\n    return total\n", "\n    return total\n", "total = a + b"),
        # Indentation is part of the match: a `return x` inside a new block is not the one below.
        ("x = 1\nreturn x\nmore", "\n        return x\n", "x = 1\nreturn x\nmore"),
        ("x = 1\n    return x\n", "\n    return x\n", "x = 1"),
        # One line alike is not a repeat when the next lines differ.
        (
            "if a:\n    return 1\nreturn 2",
            "\nreturn 1\nprint(9)\n",
            "if a:\n    return 1\nreturn 2",
        ),
        # The first non-blank following line counts, blank lines in between are skipped.
        ("x = 1\ny = 2\nprint(y)", "\n\n\ny = 2\n", "x = 1"),
        # The rest of the cursor line (before the first "\n") is not a following line.
        ("a\nb)", ")\nc\n", "a\nb)"),
        # On an empty line, a completion that is the code below from its start: nothing.
        ("return x\nfoo", "\nreturn x\nfoo\n", None),
        # No repeat: unchanged.
        ("a = 1\nb = 2", "\nc = 3\n", "a = 1\nb = 2"),
        # Nothing (or only blanks) below the cursor: unchanged.
        ("a\nb", "", "a\nb"),
        ("a\nb", "\n   \n\n", "a\nb"),
    ],
)
def test_drop_lines_repeating_suffix(completion: str, suffix: str, expected: str | None):
    assert drop_lines_repeating_suffix(completion, ctx(MULTI, suffix=suffix)) == expected


def test_the_first_line_of_a_mid_line_completion_is_not_a_whole_line():
    # After `y = ` the first line continues the cursor's line: it cannot repeat the next one.
    context = ctx(MULTI, line_before="y = ", suffix="\nreturn x\n")
    assert drop_lines_repeating_suffix("return x\nfoo", context) == "return x\nfoo"


# -- trim_trailing_whitespace --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("foo  \n\n", "foo"),
        ("  foo\t ", "  foo"),  # leading indentation stays
        ("a \nb  \n", "a \nb"),  # only the end of the whole completion
        ("", ""),
    ],
)
def test_trim_trailing_whitespace(completion: str, expected: str):
    assert trim_trailing_whitespace(completion, ctx()) == expected


# -- trim_line_suffix_overlap --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line_before", "completion", "line_after", "expected"),
    [
        ("print(", "bar)", ")", "bar"),
        ("print(", "bar) ", ")", "bar"),
        ("print(", "bar )", ")", "bar "),  # the model's own blanks stay: its spacing
        ("print(", "x)", " )", "x"),  # the tail is compared without its surrounding blanks
        ("call(", "a);", ");", "a"),
        ('print("', 'name")', '")', "name"),
        ("x = [", "1, 2]", "]", "1, 2"),
        ("d = {", "x: 1}", "}", "x: 1"),
        ('s = "', 'abc"', '"', "abc"),
        # A finished call in front of ")" is not a doubled closer: count the whole line.
        ("print(", "foo(bar)", ")", "foo(bar)"),
        ("x = [", "[1, 2]", "]", "[1, 2]"),
        ("d = {", "{}", "}", "{}"),
        ("h(f(", "g(x)", "))", "g(x)"),
        # Closes more than the line opens: the extra closer is the doubled one.
        ("print(", "foo(bar))", ")", "foo(bar)"),
        ("h(f(", "g(x)))", "))", "g(x)"),
        # Brackets inside literals are text: `'('` opens nothing.
        ("if (c == ", "'(')", ")", "'('"),
        ("if (c == ", "'('", ")", "'('"),
        # Nothing right of the cursor, or a completion not ending with it: unchanged.
        ("print(", "bar)", "", "bar)"),
        ("print(", "bar", ")", "bar"),
        ("print(", "bar)", "];", "bar)"),
    ],
)
def test_trim_line_suffix_overlap(
    line_before: str, completion: str, line_after: str, expected: str
):
    context = ctx(line_before=line_before, line_after=line_after)
    assert trim_line_suffix_overlap(completion, context) == expected


def test_trim_line_suffix_overlap_of_only_the_closers_is_nothing():
    assert trim_line_suffix_overlap(")", ctx(line_before="f(x", line_after=")")) is None
    assert trim_line_suffix_overlap(" );", ctx(line_before="f(x", line_after=");")) is None


# -- drop_blank ----------------------------------------------------------------------------------


@pytest.mark.parametrize("completion", ["", "   ", "\n", "\t\n  "])
def test_drop_blank_drops_blank(completion: str):
    assert drop_blank(completion, ctx()) is None


def test_drop_blank_keeps_text():
    assert drop_blank("  x", ctx()) == "  x"


# -- postprocess ---------------------------------------------------------------------------------


def test_single_line_in_front_of_a_closer():
    context = ctx(SINGLE, line_before="    print(", line_after=")", suffix=")\n    return name\n")
    assert postprocess("name)\n    return name\n", context) == "name"


def test_single_line_keeps_a_finished_call():
    context = ctx(SINGLE, line_before="    x = max(", line_after=")", suffix=")\n")
    assert postprocess("foo(bar)", context) == "foo(bar)"


def test_multi_line_stops_where_the_code_below_begins():
    context = ctx(MULTI, line_before="    ", line_after="", suffix="\n    return total\n")
    completion = "total = 0\n    for x in xs:\n        total += x\n    return total\n\n"
    assert postprocess(completion, context) == "total = 0\n    for x in xs:\n        total += x"


def test_multi_line_trailing_blanks_are_trimmed():
    context = ctx(MULTI, line_before="def f():", line_after="", suffix="")
    assert postprocess("\n    pass\n\n  ", context) == "\n    pass"


@pytest.mark.parametrize(
    ("completion", "context"),
    [
        ("   \n", ctx(MULTI)),
        (")", ctx(SINGLE, line_after=")")),
        ("\nlater lines only", ctx(SINGLE)),
        ("", ctx(SINGLE)),
    ],
)
def test_nothing_worth_showing_is_none(completion: str, context: CompletionContext):
    assert postprocess(completion, context) is None


# -- completion_mode -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line_before", "line_after"),
    [
        ("x = foo", "bar"),
        ("print(", "x)"),
        ("", "return x"),
        ("a", "_b"),
        ("x = ", "1"),
    ],
)
def test_a_cursor_in_front_of_a_word_means_no_completion(line_before: str, line_after: str):
    assert completion_mode(line_before, line_after) is None


@pytest.mark.parametrize(
    ("line_before", "line_after"),
    [
        ("print(", ")"),
        ("foo(", "));"),
        ('x = "', '"'),
        ("items = [", "]"),
        ("if (x) {", "}"),
        ("f(a", ", ): "),
    ],
)
def test_only_closers_right_of_the_cursor_is_single_line(line_before: str, line_after: str):
    assert completion_mode(line_before, line_after) is Mode.SINGLE_LINE


@pytest.mark.parametrize(
    ("line_before", "line_after"),
    [
        ("", ""),
        ("    ", ""),
        ("\t", "  "),
        ("def f():", ""),
        ("if x:  ", ""),
        ("class A {", ""),
        ("function f() { ", " "),
    ],
)
def test_empty_line_or_block_opener_is_multi_line(line_before: str, line_after: str):
    assert completion_mode(line_before, line_after) is Mode.MULTI_LINE


@pytest.mark.parametrize(
    "line_before",
    [
        "x = 1 +",
        "    return ",
        "total = compute",
        "print(x)",
        "return sum(",
        "xs = [",
        "const f = () =>",
        "fn f() ->",
    ],
)
def test_mid_statement_is_single_line(line_before: str):
    assert completion_mode(line_before, "") is Mode.SINGLE_LINE


# -- stop_index ----------------------------------------------------------------------------------

STOP = ("<|endoftext|>", "<|im_end|>")


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("abc<|endoftext|>def", MULTI, 3),
        ("a<|im_end|>b<|endoftext|>", MULTI, 1),  # the earliest stop sequence
        ("x<|endoftext|>y<|im_end|>", MULTI, 1),
        ("ab\ncd<|endoftext|>", SINGLE, 2),  # a single line ends at its first line end
        ("ab\ncd<|endoftext|>", MULTI, 5),
        ("a<|endoftext|>\n", SINGLE, 1),
        ("\n", SINGLE, 0),
        ("ab\ncd", MULTI, None),
        ("abc", SINGLE, None),
        ("abc<|endof", MULTI, None),  # a partial stop sequence is not a stop yet
        ("", SINGLE, None),
    ],
)
def test_stop_index(text: str, mode: Mode, expected: int | None):
    assert stop_index(text, ctx(mode), STOP) == expected


def test_stop_index_without_stop_sequences():
    assert stop_index("a<|endoftext|>b", ctx(MULTI), ()) is None
    assert stop_index("a<|endoftext|>\nb", ctx(SINGLE), ()) == 14


# -- truncate_at_block_end ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line_before", "completion", "expected"),
    [
        # Empty line in a function body: the next top-level definition is cut.
        (
            "    ",
            "if a > b:\n        return a\n    return b\n\ndef other():\n    pass",
            "if a > b:\n        return a\n    return b\n",
        ),
        # After a Python block opener: the body, not what follows at the opener's level.
        (
            "    def total(self):",
            "\n        return sum(self.items)\n\n    def other(self):\n        pass",
            "\n        return sum(self.items)\n",
        ),
        # After a brace: the closing brace at the opener's indentation belongs to the block.
        (
            "function f(a) {",
            "\n  return a + 1;\n}\n\nfunction g() {}",
            "\n  return a + 1;\n}",
        ),
        # Ruby-style "end" closes the block too.
        ("  def f", "\n    1\n  end\n  def g", "\n    1\n  end"),
        # Tabs count as indentation.
        ("\t", "x = 1\n\ty = 2\nz = 3", "x = 1\n\ty = 2"),
        # Nothing dedents: everything stays.
        ("    ", "a = 1\n    b = 2", "a = 1\n    b = 2"),
    ],
)
def test_truncate_at_block_end(line_before: str, completion: str, expected: str):
    assert truncate_at_block_end(completion, ctx(MULTI, line_before=line_before)) == expected


def test_truncate_at_block_end_leaves_single_line_requests_alone():
    completion = "a\nb\nc"
    assert truncate_at_block_end(completion, ctx(SINGLE, line_before="x = ")) == completion


# -- merge_space_at_join ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line_before", "completion", "expected"),
    [
        ("    return ", " this;", "this;"),
        ("    return ", "  x +\n  y", "x +\n  y"),  # only the first line's start
        ("    return", " this;", " this;"),  # no space typed yet: the model's is needed
        # On a line of indentation only the editor has indented: more would be off level.
        ("    ", "    x = 1", "x = 1"),
        ("", "  x", "  x"),
    ],
)
def test_merge_space_at_join(line_before: str, completion: str, expected: str):
    assert merge_space_at_join(completion, ctx(line_before=line_before)) == expected
