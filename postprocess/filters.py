"""Post-processing: each step a small pure function (completion, context) -> completion | None,
applied in the order of `FILTERS`. None means: show nothing."""

from __future__ import annotations

import re
from collections.abc import Callable

from infill.postprocess.mode import (
    BRACKETS,
    CLOSES_BLOCK,
    LITERALS,
    CompletionContext,
    Mode,
    document_balance,
    indent_width,
    opens_block,
    opens_long_string,
    scope_floor,
)
from infill.postprocess.syntax import (
    block_end,
    error_count,
    original_tree,
    tree_with,
)

Filter = Callable[[str, CompletionContext], str | None]


def first_line_end(completion: str, ctx: CompletionContext) -> int:
    """Where a single-line suggestion ends. At the end of a line of code, a completion that
    starts with a line end proposes the next line (`x = 1|` → `\\ny = 2`): that line is it."""
    start = 0
    if ctx.line_before.strip() and not ctx.line_after.strip():
        start = len(completion) - len(completion.lstrip("\n"))
    end = completion.find("\n", start)
    return len(completion) if end == -1 else end


def keep_first_line(completion: str, ctx: CompletionContext) -> str | None:
    """A single-line request gets one line."""
    if ctx.mode is Mode.SINGLE_LINE:
        return completion[: first_line_end(completion, ctx)]
    return completion


def merge_space_at_join(completion: str, ctx: CompletionContext) -> str | None:
    """After `return |` the space is typed already; a model that starts with one more would
    leave two. On a line of indentation only, the editor has indented it: the model's extra
    blanks would push the line off its level. (At column 0 the model's blanks are the
    indentation: kept.)"""
    if ctx.line_before.endswith((" ", "\t")):
        first, newline, rest = completion.partition("\n")
        return first.lstrip(" \t") + newline + rest
    return completion


def truncate_at_block_end(completion: str, ctx: CompletionContext) -> str | None:
    """A multi-line suggestion is the block that starts at the cursor: cut where it ends (the
    model would otherwise write the next function). tree-sitter says where, with the completion
    in place; without a grammar or with a broken parse, indentation does."""
    if ctx.mode is not Mode.MULTI_LINE:
        return completion
    if ctx.prose:
        paragraph = re.search(r"\S\n[ \t]*\n", completion)  # ends at a blank line
        return completion[: paragraph.start() + 1] if paragraph else completion
    cut = block_end(ctx.prefix, completion, ctx.suffix, ctx.language, ctx.replaced)
    body = completion.rstrip()
    if cut is None and "\n" in body:
        # The model stopped in the middle of a line (its token limit): that line alone may
        # be what breaks the parse.
        kept = body[: body.rfind("\n")]
        cut = block_end(ctx.prefix, kept, ctx.suffix, ctx.language, ctx.replaced)
    if cut is not None:
        return completion[:cut]
    return _truncate_by_indentation(completion, ctx)


def _truncate_by_indentation(completion: str, ctx: CompletionContext) -> str:
    if opens_long_string(ctx.line_before):
        return completion  # text, not code: its indentation says nothing
    lines = completion.split("\n")
    if not ctx.line_before.strip():
        # On an empty line: statements at the cursor's indentation or deeper, or down to the
        # code that follows (without a tree, not to column 0: nothing would end it).
        indent = indent_width(ctx.line_before)
        floor = scope_floor(ctx.line_before, ctx.suffix)
        if floor:
            indent = min(indent, floor)
        for i, line in enumerate(lines[1:], start=1):
            if line.strip() and indent_width(line) < indent:
                return "\n".join(lines[:i])
        return completion
    # After a block opener: the body is indented deeper than the opener's line; a closing
    # line ("}", "end") at the opener's indentation still belongs to the block. The opener is
    # the cursor's line, or the completion's first line when it starts on the next line
    # (`name: x|` + `\nscript:\n  - run`).
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    at = first if first and opens_block(lines[first]) and not opens_block(ctx.line_before) else 0
    opener = indent_width(lines[at] if at else ctx.line_before)
    # A bracket the opener opens ends the block where it closes, however it is indented
    # (`.brand` + `-name {` + body + `}`); until then the block goes on.
    opener_line = LITERALS.sub("", lines[at] if at else ctx.line_before + lines[0]).rstrip()
    if opener_line.endswith(tuple(BRACKETS.values())):
        closing = _closing_line(lines, at, opener_line[-1])
        return completion if closing is None else "\n".join(lines[: closing + 1])
    for i, line in enumerate(lines[at + 1 :], start=at + 1):
        if not line.strip() or indent_width(line) > opener:
            continue
        closes = indent_width(line) == opener and CLOSES_BLOCK.match(line.lstrip())
        return "\n".join(lines[: i + 1] if closes else lines[:i])
    return completion


def _closing_line(lines: list[str], at: int, bracket: str) -> int | None:
    """The index of the line after `at` that closes the open `bracket` ending line `at`;
    None when none does."""
    closer = next(c for c, o in BRACKETS.items() if o == bracket)
    depth = 0
    for i, line in enumerate(lines[at + 1 :], start=at + 1):
        for ch in LITERALS.sub("", line):
            if ch == bracket:
                depth += 1
            elif ch == closer:
                depth -= 1
                if depth < 0:
                    return i
    return None


def drop_lines_repeating_suffix(completion: str, ctx: CompletionContext) -> str | None:
    """Models often regenerate the code below the cursor: cut where the completion starts
    repeating the lines that already follow (nothing at all if it repeats them from its start).

    A repeat must go on for two lines where both texts have them: one matching `return False`
    or `}` inside a new block is not the code below, nor is a `}` that closes a bracket the
    completion opened. Lines match exactly, indentation included, or, when they are long
    enough to be distinctive, up to indentation."""
    lines = completion.split("\n")
    following = [line.rstrip() for line in ctx.suffix.split("\n")[1:] if line.strip()]
    if not following:
        return completion
    whole = _whole_lines(lines, ctx)
    code = [(i, line.rstrip()) for i, line in enumerate(whole) if line.strip()]
    first = 0 if not ctx.line_before.strip() else 1
    opened = dict.fromkeys(BRACKETS, 0)  # brackets the completion opened and left open
    written = 0  # lines counted into `opened`
    for k, (i, line) in enumerate(code):
        for before in whole[written:i]:
            _count_brackets(before, opened)
        written = i
        if i < first or (_is_closing_line(line) and opened.get(line.strip()[0], 0) > 0):
            continue
        rest = [text for _, text in code[k : k + 2]]
        n = min(2, len(rest), len(following))
        if all(map(_same_line, rest[:n], following[:n])):
            return "\n".join(lines[:i]) if i else None
    return completion


_BRACKET = re.compile(r"[()\[\]{}]")
_CLOSER_OF = {opener: closer for closer, opener in BRACKETS.items()}


def _count_brackets(line: str, opened: dict[str, int]) -> None:
    """Add the line's brackets to `opened` (per closer: opened minus closed, not below 0)."""
    for ch in _BRACKET.findall(LITERALS.sub("", line)):
        if ch in _CLOSER_OF:
            opened[_CLOSER_OF[ch]] += 1
        else:
            opened[ch] = max(opened[ch] - 1, 0)


_DISTINCTIVE = 20  # characters of code that are unlikely to repeat by chance


def _same_line(a: str, b: str) -> bool:
    return a == b or (len(a.strip()) >= _DISTINCTIVE and a.strip() == b.strip())


def _whole_lines(lines: list[str], ctx: CompletionContext) -> list[str]:
    """The completion's lines as they will read in the document: on a line of indentation
    only, the first line is a whole line after that indentation."""
    if ctx.line_before.strip():
        return lines
    return [ctx.line_before + lines[0], *lines[1:]]


_CLOSING_WORDS = frozenset({"end", "fi", "done", "esac", "endif", "endfunction", "else"})


def _is_closing_line(line: str) -> bool:
    """`}`, `});`, `end`: lines that legitimately follow one another or themselves."""
    line = line.strip()
    return line in _CLOSING_WORDS or not line.strip(")]};,")


_KEY = re.compile(r"""["']?[\w.-]+["']?\s*:(\s|$)""")
# A unit of text (some characters, a line, a few lines) looping five times or more.
_LOOP = re.compile(r"(.{2,80}?)\1{4,}", re.DOTALL)


def drop_repetition(completion: str, ctx: CompletionContext) -> str | None:
    """A model stuck in a loop: keep the text up to the end of the first copy of what loops;
    a line repeated three times running, or a `key:` line twice, is cut to its first copy
    (lines of closers like `}` or `end` repeat legitimately)."""
    for loop in _LOOP.finditer(completion):
        if any(ch.isalpha() for ch in loop.group(1)):
            completion = completion[: loop.start() + len(loop.group(1))]
            break
    lines = completion.split("\n")
    for i in range(1, len(lines)):
        line = lines[i].strip()
        if not line or line != lines[i - 1].strip() or _is_closing_line(line):
            continue
        # A key twice is an error (YAML, JSON, a dict); a statement twice may be meant
        # (`stack.pop();` twice), three times is a loop.
        if _KEY.match(line):
            return "\n".join(lines[:i])
        if i >= 2 and line == lines[i - 2].strip():
            return "\n".join(lines[: i - 1])
    return completion


def drop_prefix_echo(completion: str, ctx: CompletionContext) -> str | None:
    """The model repeats what is already written: the text typed on the cursor's line
    (`x = |` → `x = 1`), or, on an empty line, the line above it."""
    typed = ctx.line_before.strip()
    if len(typed) >= 3 and completion.lstrip().startswith(typed):
        return None
    if not typed:
        above = ctx.prefix[: len(ctx.prefix) - len(ctx.line_before)].rstrip().rsplit("\n", 1)[-1]
        first = completion.split("\n", 1)[0].strip()
        if len(first) >= 3 and first == above.strip() and not _is_closing_line(first):
            return None
    return completion


def trim_trailing_whitespace(completion: str, ctx: CompletionContext) -> str | None:
    """Trailing blanks or newlines would leave stray whitespace in the document."""
    return completion.rstrip()


def trim_line_suffix_overlap(completion: str, ctx: CompletionContext) -> str | None:
    """Where the completion writes out again what is right of the cursor, cut it: accepting
    must not double `)` or `) { return 0; }`.

    The completion ends where, at bracket depth 0 counted from the cursor (literals left
    out), it goes on with the text right of the cursor, or where it closes a bracket opened
    before the cursor: `foo(|)` + `bar(x))` is `bar(x)`; `if (|) x++;` + `a) x++;` is `a`.
    Other tails (a quote) are dropped when the completion ends with them.
    """
    tail = ctx.line_after.strip()
    if not tail:
        return completion
    cut = reaches(completion, tail)
    if cut is None and completion.rstrip().endswith(tail) and not set(tail) & set(BRACKETS):
        cut = len(completion.rstrip()) - len(tail)
    if cut is None:
        return completion
    kept = completion[:cut]
    if not kept[kept.rfind("\n") + 1 :].strip():
        kept = kept.rstrip()  # the closers were on a line of their own
    else:
        # The blanks in front of the closers are in the document already (`{ | }`).
        blanks = ctx.line_after[: len(ctx.line_after) - len(ctx.line_after.lstrip())]
        kept = kept.removesuffix(blanks) if blanks else kept
    return kept if kept.strip() else None


def reaches(completion: str, tail: str) -> int | None:
    """Where the completion writes out `tail`, the text right of the cursor, at bracket depth
    0 counted from the cursor, or closes a bracket opened before it as `tail` does."""
    code = LITERALS.sub(lambda literal: " " * len(literal.group()), completion)
    openers = set(BRACKETS.values())
    depth = 0
    for i, ch in enumerate(code):
        if depth == 0 and (ch in BRACKETS or ch == tail[0]) and completion.startswith(tail, i):
            return i
        if ch in openers:
            depth += 1
        elif ch in BRACKETS:
            depth -= 1
            if depth < 0:
                if ch == tail[0]:
                    return i  # closes what was open before the cursor, as the tail does
                depth = 0  # closes something the tail does not: the completion's to close
    return None


_QUOTES = "\"'`"


def closes_in_order(completion: str, tail: str) -> int | None:
    """Where the completion has closed, one by one and in their order, the literal and the
    brackets that `tail` (closers, quotes, `;` and `,` only) closes right of the cursor,
    writing more in between (`print("|");` + `a", b);`): the index after the last; None if
    it does not."""
    if not tail or tail.strip(")]};," + _QUOTES):
        return None
    openers = set(BRACKETS.values())
    want, depth, i = 0, 0, 0
    while i < len(completion):
        ch, expected = completion[i], tail[want]
        if expected in _QUOTES:
            # The cursor is in a literal: its text runs to the unescaped quote.
            if ch == "\\":
                i += 1
            elif ch == expected:
                want += 1
        elif ch in _QUOTES:
            end = completion.find(ch, i + 1)  # a literal of the completion's own
            if end == -1:
                return None
            i = end
        elif ch in openers:
            depth += 1
        elif expected in ";," and ch == expected and depth == 0:
            want += 1
        elif ch in BRACKETS:
            if depth == 0 and ch != expected:
                return None  # closes something else
            if depth == 0:
                want += 1
            depth = max(depth - 1, 0)
        if want == len(tail):
            return i + 1
        i += 1
    return None


def replaced_length(completion: str, suffix: str) -> int:
    """How much of the document after the cursor a suggestion replaces: the rest of the
    cursor's line up to its trailing blanks when the suggestion writes it out again and goes on
    past it (`fn f(|)` → `n: u32) -> u32 {…}`, `f(|)` → `\\n    a,\\n)`, `def f(|)` →
    `): return 1`), or closes what it closes with more in between (`log("|")` → `a", b);`);
    else nothing. (A suggestion in front of that text never writes it:
    `trim_line_suffix_overlap`.)"""
    line_after = suffix.split("\n", 1)[0]
    tail = line_after.strip()
    if not tail or (
        reaches(completion, tail) is None and closes_in_order(completion, tail) is None
    ):
        return 0
    return len(line_after.rstrip())


def drop_unbalanced_brackets(completion: str, ctx: CompletionContext) -> str | None:
    """Brackets the completion leaves unmatched that were matched without it (`foo(|)` →
    `a))`), counted over the document: a completion that closes what is open above is fine."""
    before = document_balance(ctx.prefix, ctx.replaced, ctx.suffix)
    after = document_balance(ctx.prefix, completion, ctx.suffix)
    return (
        None
        if any(abs(new) > abs(old) for new, old in zip(after, before, strict=True))
        else completion
    )


def drop_parse_errors_introduced(completion: str, ctx: CompletionContext) -> str | None:
    """A completion after which tree-sitter finds more errors than before is broken code.
    (Counted: where the document has an error already, an unfinished statement, tree-sitter's
    recovery may still see one after a broken completion.)"""
    before = original_tree(ctx.prefix, ctx.replaced + ctx.suffix, ctx.language)
    after = tree_with(ctx.prefix, completion, ctx.suffix, ctx.language, ctx.replaced)
    if before is None or after is None:
        return completion
    return None if error_count(after) > error_count(before) else completion


def drop_blank(completion: str, ctx: CompletionContext) -> str | None:
    """Nothing worth showing."""
    return completion if completion.strip() else None


FILTERS: list[Filter] = [
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


def compute_document_parts(ctx: CompletionContext) -> None:
    """What the filters need of the document alone (its tree, its bracket balance), computed
    ahead, while the model thinks, rather than after its answer; all of it is cached."""
    original_tree(ctx.prefix, ctx.suffix, ctx.language)
    document_balance(ctx.prefix, "", ctx.suffix)


def postprocess(completion: str, ctx: CompletionContext) -> str | None:
    result: str | None = completion
    for step in FILTERS:
        if result is None:
            return None
        result = step(result, ctx)
    return result
