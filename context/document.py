"""Open documents as the editor holds them, and LSP positions in any negotiated encoding.

LSP positions are (line, character) where lines end at "\\n", "\\r\\n" or "\\r" only (not at the
other characters `str.splitlines` treats as breaks, such as form feed or U+2028), and `character`
counts code units of the negotiated encoding: UTF-16 (the default), UTF-8 or UTF-32.
Offsets here are indexes into the Python string, i.e. code points.
"""

from __future__ import annotations

import copy
import re
from bisect import bisect_right
from dataclasses import dataclass, field

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"
ENCODINGS = (UTF8, UTF16, UTF32)

_EOL = re.compile(r"\r\n|\r|\n")
# JSON can carry half of a surrogate pair ("\\ud800"); no UTF-8 consumer (a parser, a tokenizer,
# a backend) can take it. U+FFFD, what editors show for it, keeps every position: it is one
# UTF-16 unit, three UTF-8 bytes (as a lone surrogate is counted) and one code point.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Edit:
    """What one change did, for the indexes that follow the document: offsets into the old and
    new text, and the lines replaced (old) and written (new), inclusive."""

    old_text: str
    start: int
    old_end: int
    new_end: int
    start_line: int
    old_end_line: int
    new_end_line: int


class InvalidEdit(ValueError):
    """An incremental change that cannot apply to the document as held (the edit is refused)."""


def code_units(text: str, encoding: str) -> int:
    """Length of `text` in code units of `encoding`."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF16:
        return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
    # surrogatepass: a lone surrogate (possible in JSON input) still counts as 3 bytes.
    return len(text.encode("utf-8", "surrogatepass"))


def _char_units(ch: str, encoding: str) -> int:
    cp = ord(ch)
    if encoding == UTF16:
        return 2 if cp > 0xFFFF else 1
    if encoding == UTF8:
        return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    return 1


def index_for_units(line: str, units: int, encoding: str) -> int:
    """Code-point index in `line` of the position `units` code units in.

    Past the end it is the line's end (as the LSP spec says); inside a character (a split
    surrogate pair, the middle of a UTF-8 sequence) it is the start of that character.
    """
    if units <= 0:
        return 0
    if encoding == UTF32 or line.isascii():
        return min(units, len(line))
    seen = 0
    for index, ch in enumerate(line):
        seen += _char_units(ch, encoding)
        if seen > units:
            return index
        if seen == units:
            return index + 1
    return len(line)


def well_formed(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD."""
    if text.isascii() or _LONE_SURROGATE.search(text) is None:
        return text
    return _LONE_SURROGATE.sub("\ufffd", text)


def check_changes(
    doc: Document, changes: list[tuple[str, tuple[tuple[int, int], tuple[int, int]] | None]]
) -> None:
    """Raise InvalidEdit if one of `changes` (a didChange's, in order) would not apply, so that
    a refused notification leaves the document as it was, not half edited."""
    trial = copy.copy(doc)  # apply_change replaces text and line_starts, never mutates them
    for new_text, change_range in changes:
        trial.apply_change(new_text, change_range)


def _line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _EOL.finditer(text))]


@dataclass
class Document:
    """One open document: its text, its version and the offsets where its lines start."""

    uri: str
    text: str
    language_id: str = ""
    version: int = 0
    encoding: str = UTF16
    line_starts: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"unknown position encoding {self.encoding!r}")
        self.text = well_formed(self.text)
        self.line_starts = _line_starts(self.text)

    @property
    def line_count(self) -> int:
        return len(self.line_starts)

    @property
    def line_ending(self) -> str:
        """The document's line ending: the most common one ("\\n" for a one-line document).

        Not the first line's: files often start with one LF line (a generated header) and use
        CRLF after it."""
        text = self.text
        crlf = text.count("\r\n")
        lf = text.count("\n") - crlf
        cr = text.count("\r") - crlf
        if crlf > lf and crlf >= cr:
            return "\r\n"
        return "\r" if cr > lf else "\n"

    def line_bounds(self, line: int) -> tuple[int, int]:
        """Offsets of the start of `line` and of its end, before its line terminator."""
        start = self.line_starts[line]
        if line + 1 < len(self.line_starts):
            end = self.line_starts[line + 1]
            while end > start and self.text[end - 1] in "\r\n":
                end -= 1
        else:
            end = len(self.text)
        return start, end

    def line_text(self, line: int) -> str:
        start, end = self.line_bounds(line)
        return self.text[start:end]

    def lines_text(self, first: int, last: int) -> str:
        """Lines first..last (inclusive, clamped to the document) joined with "\n"."""
        last = min(last, len(self.line_starts) - 1)
        if first > last:
            return ""
        start = self.line_starts[max(first, 0)]
        _, end = self.line_bounds(last)
        text = self.text[start:end]
        return _EOL.sub("\n", text) if "\r" in text else text

    def offset_at(self, line: int, character: int) -> int:
        """Offset of an LSP position. Past the last line it is the end of the document."""
        if line < 0 or character < 0:
            raise ValueError(f"negative position {line}:{character}")
        if line >= len(self.line_starts):
            return len(self.text)
        start, end = self.line_bounds(line)
        return start + index_for_units(self.text[start:end], character, self.encoding)

    def position_at(self, offset: int) -> tuple[int, int]:
        """LSP position (line, character in code units) of an offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self.line_starts, offset) - 1
        start, end = self.line_bounds(line)
        # An offset between "\r" and "\n" is not a position; it belongs to the line end.
        return line, code_units(self.text[start : min(offset, end)], self.encoding)

    def apply_change(
        self, new_text: str, change_range: tuple[tuple[int, int], tuple[int, int]] | None
    ) -> Edit:
        """Apply one `didChange` content change: a full replacement when `change_range` is None."""
        old_text = self.text
        new_text = well_formed(new_text)
        old_last_line = len(self.line_starts) - 1
        if change_range is None:
            self.text = new_text
            self.line_starts = _line_starts(new_text)
            return Edit(
                old_text, 0, len(old_text), len(new_text), 0, old_last_line, self.line_count - 1
            )
        (start_line, start_char), (end_line, end_char) = change_range
        start = self.offset_at(start_line, start_char)
        end = self.offset_at(end_line, end_char)
        if end < start:
            raise InvalidEdit(f"range end {end_line}:{end_char} is before its start")
        first_line = bisect_right(self.line_starts, start) - 1
        old_end_line = bisect_right(self.line_starts, end) - 1
        self.text = old_text[:start] + new_text + old_text[end:]
        self._update_line_starts(start, end, len(new_text))
        new_end = start + len(new_text)
        new_end_line = bisect_right(self.line_starts, new_end) - 1
        return Edit(old_text, start, end, new_end, first_line, old_end_line, new_end_line)

    def _update_line_starts(self, start: int, end: int, inserted: int) -> None:
        """Re-scan only the lines around an edit; shift the starts after it.

        One line before and one after the edited lines are re-scanned too, because an edit can
        join a "\\r" and a "\\n" on either side of it into one terminator, or split them.
        """
        starts = self.line_starts
        first = max(bisect_right(starts, start) - 2, 0)
        after = min(bisect_right(starts, end) + 1, len(starts))
        delta = inserted - (end - start)
        lo = starts[first]
        tail = [s + delta for s in starts[after:]]
        stop = tail[0] if tail else len(self.text)
        middle = [lo]
        for m in _EOL.finditer(self.text, lo, stop):
            if m.end() < stop or not tail:
                middle.append(m.end())
        self.line_starts = starts[:first] + middle + tail
