"""Post-processing: each step a small pure function (completion, context) -> completion | None,
applied in the order of `FILTERS`. None means: show nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from infill.postprocess.mode import Mode


@dataclass(frozen=True)
class CompletionContext:
    mode: Mode
    line_before: str  # the cursor line up to the cursor
    line_after: str  # the cursor line after the cursor
    suffix: str  # everything after the cursor ("\n" line endings)


Filter = Callable[[str, CompletionContext], str | None]


def keep_first_line(completion: str, ctx: CompletionContext) -> str | None:
    """A single-line request gets the first line only."""
    if ctx.mode is Mode.SINGLE_LINE:
        return completion.split("\n", 1)[0]
    return completion


_CLOSES_BLOCK = re.compile(r"[)\]}]|end\b")


def _indent_width(line: str) -> int:
    return len(line[: len(line) - len(line.lstrip(" \t"))].expandtabs(4))


def truncate_at_block_end(completion: str, ctx: CompletionContext) -> str | None:
    """A multi-line suggestion is the block that starts at the cursor: cut where the code
    dedents out of it (indentation-based; the model would otherwise write the next function)."""
    if ctx.mode is not Mode.MULTI_LINE:
        return completion
    lines = completion.split("\n")
    if ctx.line_before.strip():
        # After a block opener: the body is indented deeper than the opener's line; a closing
        # line ("}", "end") at the opener's indentation still belongs to the block.
        opener = _indent_width(ctx.line_before)
        for i, line in enumerate(lines[1:], start=1):
            if not line.strip() or _indent_width(line) > opener:
                continue
            closes = _indent_width(line) == opener and _CLOSES_BLOCK.match(line.lstrip())
            return "\n".join(lines[: i + 1] if closes else lines[:i])
        return completion
    # On an empty line: statements at the cursor's indentation or deeper.
    indent = _indent_width(ctx.line_before)
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() and _indent_width(line) < indent:
            return "\n".join(lines[:i])
    return completion


def drop_lines_repeating_suffix(completion: str, ctx: CompletionContext) -> str | None:
    """Models often regenerate the code below the cursor: cut where the completion starts
    repeating the lines that already follow (nothing at all if it repeats them from its start).

    A repeat is exact, indentation included, and must go on for two lines where both texts
    have them: one matching `return False` or `}` inside a new block is not the code below."""
    lines = completion.split("\n")
    following = [line.rstrip() for line in ctx.suffix.split("\n")[1:] if line.strip()]
    if not following:
        return completion
    # On an empty line the completion's first line is a whole line (after the indentation).
    whole = [ctx.line_before + lines[0], *lines[1:]] if not ctx.line_before.strip() else lines
    first = 0 if not ctx.line_before.strip() else 1
    for i in range(first, len(whole)):
        rest = [line.rstrip() for line in whole[i:] if line.strip()]
        n = min(2, len(rest), len(following))
        if whole[i].strip() and rest[:n] == following[:n]:
            return "\n".join(lines[:i]) if i else None
    return completion


def merge_space_at_join(completion: str, ctx: CompletionContext) -> str | None:
    """After `return |` the space is typed already; a model that starts with one more would
    leave two. (On a line of indentation only, leading blanks are indentation: kept.)"""
    if ctx.line_before.strip() and ctx.line_before.endswith((" ", "\t")):
        first, newline, rest = completion.partition("\n")
        return first.lstrip(" \t") + newline + rest
    return completion


def trim_trailing_whitespace(completion: str, ctx: CompletionContext) -> str | None:
    """Trailing blanks or newlines would leave stray whitespace in the document."""
    return completion.rstrip()


_PAIRS = {")": "(", "]": "[", "}": "{"}
# String and character literals, whose brackets are text, not structure.
_LITERALS = re.compile(r""""(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'""")


def trim_line_suffix_overlap(completion: str, ctx: CompletionContext) -> str | None:
    """If the completion ends with what is already right of the cursor (")", "\")", ");"),
    drop that tail so that accepting it does not double the closers.

    A bracket is only dropped when the line as accepted would close more of it than it opens,
    counting the code before the cursor and leaving literals out: `foo(bar)` in front of ")"
    is a finished call, and `'('` is not a bracket.
    """
    tail = ctx.line_after.strip()
    body = completion.rstrip()
    if not tail or not body.endswith(tail):
        return completion
    line = _LITERALS.sub("", ctx.line_before + body + ctx.line_after)
    for closer, opener in _PAIRS.items():
        if closer in tail and line.count(closer) <= line.count(opener):
            return completion
    return body[: -len(tail)].rstrip(" \t") or None


def drop_blank(completion: str, ctx: CompletionContext) -> str | None:
    """Nothing worth showing."""
    return completion if completion.strip() else None


FILTERS: list[Filter] = [
    keep_first_line,
    merge_space_at_join,
    truncate_at_block_end,
    drop_lines_repeating_suffix,
    trim_trailing_whitespace,
    trim_line_suffix_overlap,
    drop_blank,
]


def postprocess(completion: str, ctx: CompletionContext) -> str | None:
    result: str | None = completion
    for step in FILTERS:
        if result is None:
            return None
        result = step(result, ctx)
    return result
