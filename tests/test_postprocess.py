"""Unit tests for postprocess/: the filters, the completion mode and the stream cut."""

from __future__ import annotations

import pytest

from infill.postprocess import (
    FILTERS,
    CompletionContext,
    Cutter,
    Mode,
    completion_mode,
    replaced_length,
    stop_index,
)
from infill.postprocess.filters import (
    closes_in_order,
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
from infill.postprocess.mode import last_in_block, opens_body, scope_floor
from infill.postprocess.stream import LONG_LINE

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


# -- completion_mode: the newer rules ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line_before", "line_after", "expected"),
    [
        ("if (", ") return false;", SINGLE),  # code after a closer: fill in front of it
        ("    return ", " == 1;", SINGLE),
        ("    ", "});", MULTI),  # a line of closers: the body goes in front of them
        ("", "}", MULTI),
        ("x = f(y);", "", None),  # a finished statement: the next one is the user's line
        ("x = f(y);  ", "", None),
        ("for (i = 0;", "", SINGLE),  # a `;` inside brackets ends nothing
        ('s = ";', "", SINGLE),  # nor one in a string
        ('text = """', "", MULTI),  # a long string's text follows
        ("text = '''", "", MULTI),
        ('x = """a"""', "", SINGLE),
    ],
)
def test_completion_mode_rules(line_before: str, line_after: str, expected: Mode | None):
    assert completion_mode(line_before, line_after) is expected


def test_prose_completes_the_paragraph():
    assert completion_mode("## ", "", prose=True) is MULTI
    assert completion_mode("Some text", "", prose=True) is MULTI
    assert completion_mode("Some ", "word", prose=True) is None
    context = CompletionContext(MULTI, "# Title\n", "", None, prose=True)
    assert truncate_at_block_end("One.\nTwo.\n\nNext paragraph.", context) == "One.\nTwo."


@pytest.mark.parametrize(
    ("line", "language", "expected"),
    [
        ("if x:", "python", True),
        ("function f() {", "javascript", True),
        ("    if (x > 0)", "java", True),  # Allman braces or one statement follow
        ("    public Person(string name, int age)", "c_sharp", True),
        ("    foo(x)", "cpp", True),
        ("    foo(x)", "python", False),  # a whole statement in Python
        ("    foo(x);", "c", False),
        ('    puts(")")', "c", True),
    ],
)
def test_opens_body(line: str, language: str, expected: bool):
    assert opens_body(line, language) is expected


# -- truncate_at_block_end with tree-sitter ---------------------------------------------------


@pytest.mark.parametrize(
    ("language", "prefix", "completion", "suffix", "expected"),
    [
        # After a Python opener: the body, not what the model writes after it.
        (
            "python",
            "def f(x):\n    if x:",
            "\n        y = 1\n        z = 2\n    return 3\n\ndef g():\n    pass\n",
            "\n",
            "\n        y = 1\n        z = 2",
        ),
        # An empty line in a body: the statements of that body, up to its end.
        (
            "python",
            "def f(x):\n    a = 1\n    ",
            "b = 2\n    return b\n\ndef g():\n    pass\n",
            "\n",
            "b = 2\n    return b",
        ),
        # A comment at column 0 inside the body does not end it (indentation would).
        (
            "python",
            "def f(x):\n    ",
            "a = 1\n# note\n    return a\n\nprint(f(1))\n",
            "\n",
            "a = 1\n# note\n    return a",
        ),
        # A brace the document does not have yet is part of the block.
        (
            "c",
            "int f(int x) {\n  if (x) {",
            "\n    y();\n  }\n  z();\n",
            "\n}\n",
            "\n    y();\n  }",
        ),
        # A brace the document has below is not written twice.
        (
            "java",
            "class A {\n    void f() {\n        ",
            "x();\n    }\n\n    void g() {\n    }\n}\n",
            "\n    }\n}\n",
            "x();\n    ",
        ),
        # The punctuation that ends the statement the block is part of comes with it.
        (
            "javascript",
            "foo(function() {",
            "\n  x();\n});\nbar();\n",
            "",
            "\n  x();\n});",
        ),
        # A long string ends at its closing quotes.
        ("python", 'x = """', 'hello\nworld\n"""\nprint(x)\n', "", 'hello\nworld\n"""'),
        # Tabs are indentation to the tree as much as spaces: nothing cut here.
        (
            "cpp",
            "int main() {\n      ",
            "if (a)\n\tb = 1;\n      else\n\tb = 2;\n      t--;",
            "\n}\n",
            "if (a)\n\tb = 1;\n      else\n\tb = 2;\n      t--;",
        ),
        # At column 0 the model chooses the level: the unit is the function the cursor is in,
        # a helper nested in it does not end the completion.
        (
            "python",
            "def f(n):\n    def is_prime(k):\n",
            "        return k > 1\n    return [k for k in range(n) if is_prime(k)]\n\ndef g():\n",
            "\n",
            "        return k > 1\n    return [k for k in range(n) if is_prime(k)]",
        ),
    ],
)
def test_truncate_at_block_end_by_syntax(
    language: str, prefix: str, completion: str, suffix: str, expected: str
):
    context = CompletionContext(MULTI, prefix, suffix, language)
    assert truncate_at_block_end(completion, context) == expected


def test_a_broken_parse_falls_back_to_indentation():
    # `(` never closed: the tree cannot say, the indentation rule does.
    context = CompletionContext(MULTI, "def f(x):\n    ", "\n", "python")
    completion = "y = g(x,\n    1\nz = 2"
    assert truncate_at_block_end(completion, context) == "y = g(x,\n    1"


# -- the filters added for the list ---------------------------------------------------


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("x = 1\nx = 1\nx = 1", "x = 1"),  # a line three times running: a loop
        ("res.pop();\nres.pop();", "res.pop();\nres.pop();"),  # twice may be meant
        ("  key: a\n  key: a", "  key: a"),
        ("}\n}", "}\n}"),  # closers repeat legitimately
        ("end\nend", "end\nend"),
        ("foo(a, b, b, b, b, b, b, b)", "foo(a, b"),  # a loop inside a line: its first copy
        ("x = [0, 0, 0, 0, 0, 0]", "x = [0, 0, 0, 0, 0, 0]"),  # no letters: data, kept
        ("a = 1\nb = 2", "a = 1\nb = 2"),
    ],
)
def test_drop_repetition(completion: str, expected: str):
    assert drop_repetition(completion, ctx(MULTI)) == expected


@pytest.mark.parametrize(
    ("prefix", "completion", "expected"),
    [
        ("total = ", "total = a + b", None),  # the typed text again
        ("    return ", "return x", None),
        ("x = ", "x + 1", "x + 1"),  # too short to call it an echo
        ("value = compute(a)\n", "value = compute(a)", None),  # the line above again
        ("}\n", "}", "}"),  # closers repeat legitimately
        ("value = compute(a)\n", "other = 2", "other = 2"),
    ],
)
def test_drop_prefix_echo(prefix: str, completion: str, expected: str | None):
    context = CompletionContext(MULTI, prefix, "")
    assert drop_prefix_echo(completion, context) == expected


@pytest.mark.parametrize(
    ("prefix", "completion", "suffix", "expected"),
    [
        ("print(", "a))", ")\n", None),  # leaves a `)` without its `(`
        ("print(", "a)", "\n", "a)"),  # closes what was open: better, kept
        ("x = [", "1, 2", "]\n", "1, 2"),
        ("if (x) {", "\n  y();\n}", "\n", "\n  y();\n}"),
        ("s = '", "(", "'\n", "("),  # brackets in literals are text
    ],
)
def test_drop_unbalanced_brackets(prefix: str, completion: str, suffix: str, expected: str):
    context = CompletionContext(SINGLE, prefix, suffix)
    assert drop_unbalanced_brackets(completion, context) == expected


@pytest.mark.parametrize(
    ("language", "prefix", "completion", "suffix", "expected"),
    [
        ("python", "x = ", "foo(1, 2)", "\n", "foo(1, 2)"),
        ("python", "print(", "1, = 2", ")\n", None),  # broken code where there was none
        ("python", "x = foo(", "1, 2", "\n", "1, 2"),  # an error there was already stays one
        ("go", "func f() int {\n\treturn ", "1 +", "\n}\n", None),
        ("yaml", "a: ", "b: c: d", "\n", "b: c: d"),  # no grammar: nothing to compare
    ],
)
def test_drop_parse_errors_introduced(
    language: str, prefix: str, completion: str, suffix: str, expected: str | None
):
    context = CompletionContext(SINGLE, prefix, suffix, language)
    assert drop_parse_errors_introduced(completion, context) == expected


@pytest.mark.parametrize(
    ("line_before", "suffix", "floor"),
    [
        ("        ", "\n    return x\n", 4),  # down to the code below
        ("        ", "\n\n\ndef g():\n", 0),
        ("        ", "\n", 0),  # the end of the document
        ("        ", "\n    }\n", 5),  # a closer: its block, not below it
        ("        ", "\n  end\n", 3),
        ("    ", "}\n", 5),  # the closer on the cursor's line
        ("\t\t", "\n\treturn x\n", 4),  # a tab is 4 columns
        ("    ", "\n        elif x:\n", 8),  # a clause: more may come before it
        ("    x = ", "\n", None),  # after code: not on a line of its own
    ],
)
def test_scope_floor(line_before: str, suffix: str, floor: int | None):
    assert scope_floor(line_before, suffix) == floor


@pytest.mark.parametrize(
    ("line_before", "suffix", "last"),
    [
        ("    City   ", "\n}\n", True),
        ("  e", "\n\n}\n", True),
        ("    x = 1", "\n    y = 2\n}\n", False),  # more lines follow in the block
        ("    x = 1", "\n", False),  # nothing closes
        ("    ", "\n}\n", False),  # an empty line: multi-line already
        ("    f(", ")\n}\n", False),  # mid-line
    ],
)
def test_last_in_block(line_before: str, suffix: str, last: bool):
    assert last_in_block(line_before, suffix) is last


def test_a_closer_of_the_completions_own_bracket_is_not_a_repeat_of_the_code_below():
    context = CompletionContext(MULTI, ".card {\n  .title", "\n}\n\n.footer {\n}\n", None)
    completion = " {\n  margin: 0;\n}\n}\n\n.footer {"
    assert drop_lines_repeating_suffix(completion, context) == " {\n  margin: 0;\n}"


def test_a_completion_finishes_the_function_at_the_end_of_a_nested_block():
    prefix = "def has(xs, y):\n    for x in xs:\n        if x == y:\n            "
    context = CompletionContext(MULTI, prefix, "\n\n\ndef g():\n    pass\n", "python")
    completion = "return True\n    return False\n\n\ndef h():\n    pass\n"
    assert postprocess(completion, context) == "return True\n    return False"


def test_a_completion_at_the_end_of_a_nested_block_stays_above_the_code_below():
    # The code below is at the loop's level: the function's own last line is not the model's.
    prefix = "def f(xs):\n    for x in xs:\n        if x:\n            "
    context = CompletionContext(MULTI, prefix, "\n        n += 1\n    return n\n", "python")
    completion = "log(x)\n        n += 2\n    return 0\n"
    assert postprocess(completion, context) == "log(x)\n        n += 2"


def test_a_missing_line_break_of_a_hidden_kind_is_an_error():
    # Python's missing `_newline` is in no node's `children`; only `has_error` shows it.
    prefix = "def f(items):\n    result = total(items)"
    context = CompletionContext(SINGLE, prefix, "\n    return result\n", "python")
    assert drop_parse_errors_introduced("total(items)", context) is None
    assert drop_parse_errors_introduced(" + 1", context) == " + 1"


# -- Cutter: the stream -------------------------------------------------------------------------


def feed_all(cutter: Cutter, text: str, size: int = 3) -> tuple[str, bool]:
    """Feed the text in small deltas; what the cutter kept, and whether it stopped early."""
    for i in range(0, len(text), size):
        if cutter.feed(text[i : i + size]):
            return cutter.text, True
    return cutter.text, False


def test_cutter_stops_a_single_line_at_its_line_end():
    cutter = Cutter(CompletionContext(SINGLE, "x = ", "\n", "python"))
    assert feed_all(cutter, "compute(a)\nmore = 1\n") == ("compute(a)", True)


def test_cutter_gives_up_on_a_line_longer_than_the_documents_lines():
    # A small model rambling without a line end: the stream stops once the line is longer
    # than LONG_LINE and than every line of the document, and nothing is shown.
    rambling = "foo(bar, baz) " * 40
    cutter = Cutter(CompletionContext(SINGLE, "x = ", "\n", "python"))
    text, stopped = feed_all(cutter, rambling)
    assert stopped and text == "" and cutter.result() is None
    # Multi-line: the lines written before it are kept.
    cutter = Cutter(CompletionContext(MULTI, "def f(x):\n    ", "\n", "python"))
    text, stopped = feed_all(cutter, "y = x + 1\n    " + rambling)
    assert stopped and cutter.result() == "y = x + 1"


@pytest.mark.parametrize("prose", [False, True])
def test_cutter_lets_a_line_be_as_long_as_the_documents_longest_or_any_in_prose(prose: bool):
    long_line = "VALUES = [" + ", ".join(str(n) for n in range(100)) + "]\n"
    document = "" if prose else long_line
    cutter = Cutter(CompletionContext(SINGLE, document + "x = [", "\n", "python", prose=prose))
    line = ", ".join(str(n) for n in range(80)) + "]"
    assert LONG_LINE < len(line) < len(long_line)
    assert feed_all(cutter, line + "\nmore = 1\n") == (line, True)


def test_cutter_takes_the_next_line_when_the_model_starts_with_a_line_end():
    cutter = Cutter(CompletionContext(SINGLE, "    name: app", "\n", None))
    assert feed_all(cutter, "\n    image: node\n    ports: []\n") == ("\n    image: node", True)


def test_cutter_stops_when_the_block_is_closed():
    context = CompletionContext(MULTI, "def f(x):\n    if x:", "\n    return 0\n", "python")
    cutter = Cutter(context)
    _, stopped = feed_all(cutter, "\n        y = 1\n    return 0\n\ndef g():\n    pass\n")
    assert stopped  # before the model's end: the block closed at `return 0`
    assert cutter.result() == "\n        y = 1"


def test_cutter_upgrades_a_first_line_that_opens_a_block():
    cutter = Cutter(CompletionContext(SINGLE, "def total(", "\n\nprint(1)\n", "python"))
    feed_all(cutter, "items):\n    return sum(items)\n\nprint(total([1]))\n")
    assert cutter.ctx.mode is MULTI
    assert cutter.result() == "items):\n    return sum(items)"


@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("line_end", ["\r\n", "\r"])
def test_cutter_reads_any_line_end_as_one(line_end: str, size: int):
    # Cut anywhere, even between the "\r" and the "\n" of one line end.
    context = CompletionContext(MULTI, "def f(x):\n    if x:", "\n    return 0\n", "python")
    answer = "\n        y = 1\n        z = 2\n    return 0\n".replace("\n", line_end)
    cutter = Cutter(context)
    feed_all(cutter, answer, size)
    assert cutter.result() == "\n        y = 1\n        z = 2"


def test_cutter_keeps_a_line_end_the_stream_ends_with():
    cutter = Cutter(CompletionContext(SINGLE, "    name: app", "\n", None))
    assert not cutter.feed("\r")
    assert cutter.result() is None  # the next line is not there: nothing
    cutter = Cutter(CompletionContext(MULTI, "def f():\n    ", "\n", "python"))
    assert not cutter.feed("return 1\r")
    assert cutter.text == "return 1"
    assert cutter.result() == "return 1"


@pytest.mark.parametrize(
    ("completion", "suffix", "replaced"),
    [
        ("n: u32) -> u32 {\n    n\n}", ")\n", 1),  # goes on past the `)`
        ("\n    a,\n    b,\n)", ")  \r\nx = 1\r\n", 1),  # up to the trailing blanks
        ("a, b", ")\n", 0),  # in front of it
        ("n: u32) -> u32 {\n    n\n}", "\n", 0),  # nothing right of the cursor
    ],
)
def test_replaced_length(completion: str, suffix: str, replaced: int):
    assert replaced_length(completion, suffix) == replaced


@pytest.mark.parametrize(
    ("completion", "tail", "at"),
    [
        ('a", b);', '");', 7),  # the literal, the call, the statement
        ('a\\"b", c)', '")', 9),  # an escaped quote is text
        ("a), f(b))", "))", 9),
        ("a, [1, 2])", ")", 10),
        ('a, "x)")', ")", 8),  # a `)` in the completion's own literal
        ("a]", ")", None),  # closes something else
        ("a, b", ")", None),  # never closes
        ("a) + b", ") x", None),  # not closers only
    ],
)
def test_closes_in_order(completion: str, tail: str, at: int | None):
    assert closes_in_order(completion, tail) == at


def test_cutter_replaces_the_closers_a_signature_goes_on_past():
    cutter = Cutter(CompletionContext(SINGLE, "def norm(", ")\n\n\nx = 1\n", "python"))
    feed_all(cutter, "v):\n    return abs(v)\n\n\nx = 1\n")
    assert (cutter.ctx.mode, cutter.ctx.replaced, cutter.ctx.suffix) == (
        MULTI,
        ")",
        "\n\n\nx = 1\n",
    )
    assert cutter.result() == "v):\n    return abs(v)"


def test_cutter_falls_back_in_front_of_the_closers_when_the_model_never_writes_them():
    cutter = Cutter(CompletionContext(SINGLE, "total = sum(", ")\n", "python"))
    feed_all(cutter, "\n    prices\n")  # the line broken inside `(`, the `)` never written
    assert cutter.result() is None  # no first line to show in front of the `)`
    cutter = Cutter(CompletionContext(SINGLE, "total = sum(", ")\n", "python"))
    feed_all(cutter, "prices)")
    assert cutter.result() == "prices"


def test_cutter_waits_for_the_next_line_after_a_header_in_c_like_languages():
    context = CompletionContext(SINGLE, "class A {\n    void run(", ")\n}\n", "java")
    cutter = Cutter(context)
    assert not cutter.feed("int n) throws E\n")  # a `{` may come next
    assert not cutter.feed("    {\n")
    assert cutter.ctx.mode is MULTI


def test_cutter_keeps_a_header_single_line_when_its_body_is_below():
    # `while (|)` over its body: the model's `{` and body repeat the document.
    prefix = "void f() {\n    while ("
    context = CompletionContext(SINGLE, prefix, ")\n    {\n        step();\n    }\n}\n", "java")
    cutter = Cutter(context)
    assert feed_all(cutter, "running())\n    {\n        step();\n") == ("running())", True)
    assert (cutter.ctx.mode, cutter.result()) == (SINGLE, "running()")


def test_cutter_stops_at_a_stop_sequence():
    cutter = Cutter(CompletionContext(MULTI, "", "", None), stop=("<|endoftext|>",))
    assert feed_all(cutter, "a = 1<|endoftext|>junk") == ("a = 1", True)


@pytest.mark.parametrize("completion", ["", "\n", "   ", "\n\n"])
def test_nothing_at_the_end_of_the_document_at_column_0(completion: str):
    # Once a crash: tree-sitter's first child "for the byte" past the last one.
    context = CompletionContext(MULTI, "x = 1\n", "", "python")
    assert truncate_at_block_end(completion, context) == completion
