"""The text around the cursor, as the prompt stage needs it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from infill.context.document import Document

# Generous character caps so that a huge document never costs more than a prompt's worth of work;
# the prompt stage cuts these down to its token budget.
MAX_PREFIX_CHARS = 32_000
MAX_SUFFIX_CHARS = 16_000

_EOL = re.compile(r"\r\n|\r")


def normalize_newlines(text: str) -> str:
    """Models are trained on "\\n"; the document's own line ending is restored on the way out."""
    return _EOL.sub("\n", text)


@dataclass(frozen=True)
class CursorContext:
    """What surrounds the cursor, with "\\n" line endings."""

    prefix: str  # text before the cursor, cut on a line boundary
    suffix: str  # text after the cursor, cut on a line boundary
    line_before: str  # the cursor line up to the cursor
    line_after: str  # the cursor line from the cursor to its end
    language_id: str
    uri: str
    line_ending: str  # the document's own, to restore in the suggestion


def cursor_context(doc: Document, offset: int) -> CursorContext:
    text = doc.text
    line, _ = doc.position_at(offset)
    line_start, line_end = doc.line_bounds(line)

    prefix_start = max(0, offset - MAX_PREFIX_CHARS)
    if prefix_start > 0:
        # Start on a whole line: drop the partial line the cap cut into.
        nl = text.find("\n", prefix_start, offset)
        prefix_start = nl + 1 if nl != -1 else line_start
    suffix_end = min(len(text), offset + MAX_SUFFIX_CHARS)
    if suffix_end < len(text):
        nl = text.rfind("\n", offset, suffix_end)
        suffix_end = nl + 1 if nl != -1 else line_end

    return CursorContext(
        prefix=normalize_newlines(text[prefix_start:offset]),
        suffix=normalize_newlines(text[offset:suffix_end]),
        line_before=text[line_start:offset],
        line_after=text[offset:line_end],
        language_id=doc.language_id,
        uri=doc.uri,
        line_ending=doc.line_ending,
    )
