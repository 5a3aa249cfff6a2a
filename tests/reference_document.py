"""A plain reference of what a correct LSP client holds: positions resolved and edits spliced
character by character, independently of `infill.context.document`, to compare the server's
document store (and the Document class) with."""

from __future__ import annotations

import re

from infill.context.document import UTF8, UTF16

Range = tuple[tuple[int, int], tuple[int, int]]


def reference_lines(text: str) -> list[tuple[int, int]]:
    """(start, end before terminator) of each LSP line, by a character-by-character scan."""
    lines = []
    start = i = 0
    while i < len(text):
        if text[i] == "\r":
            lines.append((start, i))
            i += 2 if i + 1 < len(text) and text[i + 1] == "\n" else 1
            start = i
        elif text[i] == "\n":
            lines.append((start, i))
            i += 1
            start = i
        else:
            i += 1
    lines.append((start, len(text)))
    return lines


def reference_width(ch: str, encoding: str) -> int:
    if encoding == UTF8:
        return len(ch.encode("utf-8", "surrogatepass"))
    if encoding == UTF16:
        return len(ch.encode("utf-16-le", "surrogatepass")) // 2
    return 1


def reference_offset(text: str, line: int, character: int, encoding: str) -> int:
    """Past the last line: the end; past a line's end: the line's end; inside a character
    (half of a surrogate pair, a UTF-8 byte in the middle): that character's start."""
    lines = reference_lines(text)
    if line >= len(lines):
        return len(text)
    start, end = lines[line]
    offset, used = start, 0
    while offset < end:
        width = reference_width(text[offset], encoding)
        if used + width > character:
            break
        used += width
        offset += 1
    return offset


def reference_text(text: str) -> str:
    """What the client's text is as a string that UTF-8 can carry: a lone surrogate (which
    JSON can send) is U+FFFD, of the same width in every encoding."""
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def reference_change(
    text: str, change_range: Range | None, new_text: str, encoding: str
) -> str | None:
    """The text after one content change; None for a change no correct client sends (a range
    ending before it starts, a negative number): it is refused."""
    new_text = reference_text(new_text)
    if change_range is None:
        return new_text
    (start_line, start_char), (end_line, end_char) = change_range
    if min(start_line, start_char, end_line, end_char) < 0:
        return None
    start = reference_offset(text, start_line, start_char, encoding)
    end = reference_offset(text, end_line, end_char, encoding)
    if end < start:
        return None
    return text[:start] + new_text + text[end:]


def line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
