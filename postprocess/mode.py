"""Whether to complete at the cursor, and how much: one line or several."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

# A line ending in one of these opens a block (braces, or Python's colon): what follows is a
# block body, several lines. After an open bracket the rest of the statement usually fits on
# the line, so that stays single-line.
OPENERS = ("{", ":")
# String and character literals, whose brackets and semicolons are text, not structure.
LITERALS = re.compile(r""""(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'""")
BRACKETS = {")": "(", "]": "[", "}": "{"}
# Text, not code: a completion continues the paragraph, several lines.
PROSE_LANGUAGE_IDS = frozenset(
    {"markdown", "plaintext", "text", "restructuredtext", "asciidoc", "latex", "org"}
)
# Languages whose statements end with `;`: there a line ending with `)` is a header (`if (x)`,
# a method's signature) or an expression going on, and the block or body follows, braces
# often on their own line.
_HEADER_LANGUAGES = frozenset({"c", "cpp", "java", "c_sharp"})
# A line that closes a block (`}`, `end`). Below the cursor it keeps the completion inside the
# block; a clause such as `elif x:` does not: the completion may add clauses before it, as it
# may add statements before `return x` (what does not parse is dropped).
CLOSES_BLOCK = re.compile(r"[)\]}]|end\b")
# The first line with code in a text.
_CODE_LINE = re.compile(r"^[ \t]*\S.*", re.MULTILINE)


class Mode(enum.Enum):
    SINGLE_LINE = "single-line"
    MULTI_LINE = "multi-line"


@dataclass(frozen=True)
class CompletionContext:
    """What post-processing knows about the cursor ("\\n" line endings)."""

    mode: Mode
    prefix: str  # the document before the cursor
    suffix: str  # the document after the cursor
    language: str | None = None  # tree-sitter grammar name, for the syntax-aware steps
    prose: bool = False  # Markdown, plain text: paragraphs, not blocks
    # The text right of the cursor that the completion replaces (then not in `suffix`): the
    # rest of the line, written out again by a completion that goes on past it.
    replaced: str = ""

    @cached_property
    def line_before(self) -> str:
        return self.prefix[self.prefix.rfind("\n") + 1 :]

    @cached_property
    def line_after(self) -> str:
        return self.suffix.split("\n", 1)[0]


def completion_mode(line_before: str, line_after: str, prose: bool = False) -> Mode | None:
    """None where a completion cannot help: inside a word, or right after a finished statement."""
    if line_after[:1].isalnum() or line_after[:1] == "_":
        return None  # the cursor is inside or in front of a word: the user is editing it
    if line_after.strip():
        if not line_before.strip() and not any(ch.isalnum() for ch in line_after):
            return Mode.MULTI_LINE  # a line of closers, `    |});`: the body goes before them
        return Mode.SINGLE_LINE  # mid-line: fill in front of what follows (`if (|) x++;`)
    if prose:
        return Mode.MULTI_LINE
    if ends_statement(line_before):
        return None  # `foo();|`: what comes next belongs on a new line, typed by the user
    if not line_before.strip() or opens_block(line_before) or opens_long_string(line_before):
        return Mode.MULTI_LINE  # an empty line, the start of a block or of a long string
    return Mode.SINGLE_LINE


@lru_cache(maxsize=16)
def bracket_balance(text: str) -> tuple[int, ...]:
    """Opened minus closed per bracket kind (`(`, `[`, `{`), literals left out. It adds up
    over pieces of a document (cached: the prefix and suffix are counted once a request)."""
    code = LITERALS.sub("", text)
    return tuple(code.count(opener) - code.count(closer) for closer, opener in BRACKETS.items())


def document_balance(prefix: str, completion: str, suffix: str) -> tuple[int, ...]:
    """`bracket_balance` of prefix + completion + suffix; the cursor's line is counted whole,
    so that a literal around the cursor (`'|'`) stays a literal."""
    head, line_before = prefix[: prefix.rfind("\n") + 1], prefix[prefix.rfind("\n") + 1 :]
    line_after, newline, tail = suffix.partition("\n")
    pieces = (head, line_before + completion + line_after, newline + tail)
    return tuple(map(sum, zip(*map(bracket_balance, pieces), strict=True)))


def indent_width(line: str) -> int:
    """The width of a line's indentation, a tab as 4 columns."""
    return len(line[: len(line) - len(line.lstrip(" \t"))].expandtabs(4))


@lru_cache(maxsize=16)
def scope_floor(line_before: str, suffix: str) -> int | None:
    """On a line of its own, the least indentation (`indent_width`) the completion's lines
    may have: the model may finish the block the cursor is in and go on with the lines that
    finish the enclosing ones, down to the indentation of the code that follows the cursor
    (deeper than it when that line closes the cursor's block: `}`, `end`), or to column 0
    at the end of the document. None when the cursor is after code on its line."""
    if line_before.strip():
        return None
    line_after, _, rest = suffix.partition("\n")
    if line_after.strip():
        following = line_before + line_after
    else:
        found = _CODE_LINE.search(rest)
        if found is None:
            return 0
        following = found.group()
    width = indent_width(following)
    return width + 1 if CLOSES_BLOCK.match(following.lstrip()) else width


def body_below(line_before: str, suffix: str) -> bool:
    """Whether the code after the cursor's line is a body for it: indented deeper, or a `{`
    on its own line."""
    found = _CODE_LINE.search(suffix.partition("\n")[2])
    if found is None:
        return False
    line = found.group()
    return line.lstrip().startswith("{") or indent_width(line) > indent_width(line_before)


def last_in_block(line_before: str, suffix: str) -> bool:
    """Whether the cursor is at the end of the last line of a block: the code that follows
    closes it (`}`, `end`, less indented). More of the block's lines (a struct's fields, an
    interface's members) may be written before it."""
    line_after, _, rest = suffix.partition("\n")
    if line_after.strip() or not line_before.strip():
        return False
    found = _CODE_LINE.search(rest)
    return (
        found is not None
        and CLOSES_BLOCK.match(found.group().lstrip()) is not None
        and indent_width(found.group()) < indent_width(line_before)
    )


def is_prose(language_id: str) -> bool:
    return language_id in PROSE_LANGUAGE_IDS


def opens_block(line: str) -> bool:
    """Whether a line ends by opening a block: what follows it is a block body."""
    return line.rstrip().endswith(OPENERS)


def opens_body(line: str, language: str | None, following: str = "") -> bool:
    """Whether what follows the line is a block or body: after `{` or `:`, and in C-like
    languages after a `)` that ends the line (`if (x)`, `void f(int a)`, `builder.a()`) or
    before a `{` that starts the `following` text (`void f() throws E` + `\\n{`)."""
    if opens_block(line):
        return True
    if not headers_end_lines(language):
        return False
    return LITERALS.sub("", line).rstrip().endswith(")") or following.lstrip().startswith("{")


def headers_end_lines(language: str | None) -> bool:
    """Whether the language's headers (`if (x)`, a signature) may end a line, their block's
    `{` on the next one."""
    return language in _HEADER_LANGUAGES


def ends_statement(line: str) -> bool:
    """`x = f(y);` — a `;` that ends the line outside any bracket (not `for (i = 0;`)."""
    code = LITERALS.sub("", line).rstrip()
    if '"' in code or "'" in code:
        return False  # inside a string still open
    return code.endswith(";") and all(
        code.count(opener) <= code.count(closer) for closer, opener in BRACKETS.items()
    )


def opens_long_string(line: str) -> bool:
    """A line ending inside a triple-quoted string (a docstring, a text block): what follows is
    its text, several lines."""
    stripped = line.rstrip()
    return any(stripped.endswith(q) and line.count(q) % 2 == 1 for q in ('"""', "'''"))
