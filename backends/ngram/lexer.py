"""Code as the offline engine sees it: a sequence of tokens, one regular expression per dialect.

A token is its text with the blanks in front of it (` =`, ` x`), so the tokens of a line put
together are the line as written, spacing included, and a continuation found in the index is
shown as it was written. Comments are skipped like blanks: they are rarely worth predicting and
a unique comment would cut the context in front of the code. A line break with the indentation
of the next line of code is one token, saying how the indentation changes (`\\n=` the same,
`\\n>` + what is added, `\\n<` + how many characters go; a blank line in between adds a `\\n`),
so that the same code matches at any depth of nesting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

# Longest first: the alternation takes the first that matches.
_OPERATORS = sorted(
    "... ** // << >> -> => := == != <= >= && || ++ -- :: ?. ?? |> <=> === !== **= //= >>= <<="
    " >>> += -= *= /= %= &= |= ^= @= ..= ..".split(),
    key=len,
    reverse=True,
)
_IDENTIFIER = r"(?:[^\W\d]|\$)(?:\w|\$)*"
_NUMBER = r"(?:\d|\.\d)(?:[\w.]|(?<=[eE])[-+])*"
_DOUBLE = r'"(?:\\.|[^"\\\n])*"?'
_SINGLE = r"'(?:\\.|[^'\\\n])*'?"
_CHAR = r"'(?:\\.[^'\n]{0,8}|[^'\\\n])'"  # C, Java, Go, Rust: one character, not a lifetime
_BLOCK_COMMENT = r"/\*[\s\S]*?(?:\*/|\Z)"


@dataclass(frozen=True)
class Dialect:
    name: str
    strings: str  # alternatives for string literals, an unterminated one up to the end
    comment: str  # alternatives for comments
    # Delimiters of strings that span lines (docstrings): an odd count of one of them before
    # the cursor puts it inside such a string, however far back it opened.
    long_strings: tuple[str, ...] = ()


_DIALECTS = {
    "python": Dialect(
        "python",
        rf"""(?:[rRbBuUfF]{{1,2}})?(?:\"\"\"[\s\S]*?(?:\"\"\"|\Z)|'''[\s\S]*?(?:'''|\Z)|{_DOUBLE}|{_SINGLE})""",
        r"#[^\n]*",
        ('"""', "'''"),
    ),
    "js": Dialect(
        "js",
        rf"`(?:\\[\s\S]|[^`\\])*`?|{_DOUBLE}|{_SINGLE}",
        rf"//[^\n]*|{_BLOCK_COMMENT}",
        ("`",),
    ),
    "php": Dialect("php", rf"{_DOUBLE}|{_SINGLE}", rf"//[^\n]*|#(?!\[)[^\n]*|{_BLOCK_COMMENT}"),
    "go": Dialect("go", rf"`[^`]*`?|{_DOUBLE}|{_CHAR}", rf"//[^\n]*|{_BLOCK_COMMENT}", ("`",)),
    "rust": Dialect(
        "rust",
        rf'b?r#*"[\s\S]*?(?:"#*|\Z)|b?"(?:\\[\s\S]|[^"\\])*"?|b?{_CHAR}',
        rf"//[^\n]*|{_BLOCK_COMMENT}",
    ),
    "c": Dialect("c", rf'R"\([\s\S]*?(?:\)"|\Z)|{_DOUBLE}|{_CHAR}', rf"//[^\n]*|{_BLOCK_COMMENT}"),
    "java": Dialect(
        "java",
        rf'"""[\s\S]*?(?:"""|\Z)|{_DOUBLE}|{_CHAR}',
        rf"//[^\n]*|{_BLOCK_COMMENT}",
        ('"""',),
    ),
    "c_sharp": Dialect(
        "c_sharp", rf'[$@]*"(?:""|\\.|[^"\\\n])*"?|{_CHAR}', rf"//[^\n]*|{_BLOCK_COMMENT}"
    ),
    "ruby": Dialect("ruby", rf"{_DOUBLE}|{_SINGLE}", r"#[^\n]*"),
    "bash": Dialect("bash", rf"{_DOUBLE}|{_SINGLE}", r"(?<![^\s;|&(])#[^\n]*"),
    "lua": Dialect(
        "lua",
        rf"\[=*\[[\s\S]*?(?:\]=*\]|\Z)|{_DOUBLE}|{_SINGLE}",
        r"--\[=*\[[\s\S]*?(?:\]=*\]|\Z)|--[^\n]*",
    ),
}


@dataclass(frozen=True)
class Lexer:
    dialect: Dialect
    # Group 1: a line break with the blank and comment lines after it and the next line's
    # indentation; group 2: a token with the blanks before it; neither: a comment, skipped.
    pattern: re.Pattern[str]

    def raw(self, text: str) -> list[tuple[str, str]]:
        return self.pattern.findall(text)  # type: ignore[return-value]


@cache
def lexer_for(family: str) -> Lexer | None:
    """The lexer of a language family (as the context engine names them), None for others."""
    dialect = _DIALECTS.get(family)
    if dialect is None:
        return None
    operators = "|".join(re.escape(op) for op in _OPERATORS)
    comment = dialect.comment
    pattern = (
        rf"(\n(?:[ \t]*(?:{comment})?[ \t]*\n)*[ \t]*)"
        rf"|[ \t]*(?:{comment})"
        rf"|([ \t]*(?:{dialect.strings}|{_IDENTIFIER}|{_NUMBER}|{operators}|\S))"
    )
    return Lexer(dialect, re.compile(pattern))


def indentation(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def line_break(raw: str, previous: str) -> tuple[str, str]:
    """The token of a line break (`raw`: the break, any blank and comment lines, the next
    line's indentation) after a line indented by `previous`, and the next line's indentation."""
    indent = raw[raw.rfind("\n") + 1 :]
    blank = "\n" if _has_blank_line(raw) else ""
    if indent == previous:
        change = "="
    elif indent.startswith(previous):
        change = ">" + indent[len(previous) :]
    elif previous.startswith(indent):
        change = f"<{len(previous) - len(indent)}"
    else:  # tabs against spaces: say where it ends up
        change = "|" + indent
    return "\n" + blank + change, indent


def _has_blank_line(raw: str) -> bool:
    lines = raw.split("\n")
    return any(not line.strip(" \t") for line in lines[1:-1])


def tokenize(text: str, lexer: Lexer, indent: str = "") -> list[str]:
    """The tokens of `text` ("\\n" line endings), which starts on a line indented by `indent`."""
    tokens: list[str] = []
    append = tokens.append
    for brk, token in lexer.raw(text):
        if token:
            append(token)
        elif brk:
            token, indent = line_break(brk, indent)
            append(token)
    return tokens


def follow_indent(token: str, indent: str) -> str:
    """The indentation after the line break `token`, from the one before it."""
    change = token.lstrip("\n")
    kind, rest = change[:1], change[1:]
    if kind == ">":
        return indent + rest
    if kind == "<":
        return indent[: max(len(indent) - int(rest or 0), 0)]
    if kind == "|":
        return rest
    return indent


def is_line_break(token: str) -> bool:
    return token.startswith("\n")


def render(tokens: list[str], indent: str) -> str:
    """The text of `tokens` continuing a line indented by `indent`."""
    out: list[str] = []
    for token in tokens:
        if is_line_break(token):
            indent = follow_indent(token, indent)
            out.append("\n" * (2 if token.startswith("\n\n") else 1) + indent)
        else:
            out.append(token)
    return "".join(out)


def in_long_string(prefix: str, lexer: Lexer) -> bool:
    """Whether the text before the cursor ends inside a string that spans lines."""
    return any(prefix.count(quote) % 2 for quote in lexer.dialect.long_strings)


def split_at_cursor(text: str, lexer: Lexer, indent: str = "") -> tuple[list[str], str] | None:
    """The complete tokens of `text` (the code before the cursor, starting on a line indented
    by `indent`) and what is typed of the next one: blanks, or the start of a word or string
    (`self.ite`), which the next token must begin with. None inside a comment."""
    tokens: list[str] = []
    end = 0
    in_comment = False
    for match in lexer.pattern.finditer(text):
        brk, token = match.groups()
        if token:
            tokens.append(token)
        elif brk:
            token, indent = line_break(brk, indent)
            tokens.append(token)
        in_comment = not (token or brk)
        end = match.end()
    if end < len(text):
        return tokens, text[end:]  # blanks after the last token
    if in_comment:
        return None
    if not tokens or is_line_break(tokens[-1]):
        return tokens, ""
    return tokens, tokens.pop()
