"""Prompts for next-edit models: the user's recent edits, and the excerpt of the document around
the cursor with the region the model may rewrite; the model answers with that region rewritten.

Zeta, Zed's open edit-prediction model (zed-industries/zeta, a Qwen2.5-Coder-7B fine-tune, served
by llama.cpp, vLLM or Ollama as a plain completion), is asked in its "zeta1" format, as Zed
writes it: zed-industries/zed, crates/zeta_prompt/src/zeta_prompt.rs, module `zeta1`
(`format_zeta1_prompt`, `format_zeta1_event`, `format_zeta1_excerpt` for the prompt,
`clean_zeta1_model_output` for the answer). The texts below are that source's, character for
character; the choice of the regions (line counts) is infill's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

CURSOR = "<|user_cursor_is_here|>"
START_OF_FILE = "<|start_of_file|>"
REGION_START = "<|editable_region_start|>"
REGION_END = "<|editable_region_end|>"
INSTRUCTION = (
    "### Instruction:\n"
    "You are a code completion assistant and your task is to analyze user edits and then rewrite"
    " an excerpt that the user provides, suggesting the appropriate edits within the excerpt,"
    " taking into account the cursor location.\n\n"
    "### User Edits:\n\n"
)
EXCERPT_HEADER = "\n\n### User Excerpt:\n\n"
RESPONSE_HEADER = "\n\n### Response:\n"
# The answer ends with the excerpt's closing fence; the region's end marker comes before it.
STOP = "\n```"

EDITABLE_LINES = 5  # the region the model may rewrite: the cursor's line and 5 on each side
CONTEXT_LINES = 10  # shown around it, read-only


@dataclass(frozen=True)
class EditEvent:
    """One of the user's recent edits: the file, and the change as unified diff hunks."""

    path: str
    diff: str


@dataclass(frozen=True)
class Excerpt:
    """The document around the cursor: `text` is the whole document, the ranges are offsets
    into it (each starting at a line start and ending at a line end, before its line break)."""

    path: str
    text: str
    context: tuple[int, int]
    editable: tuple[int, int]
    cursor: int

    @property
    def region(self) -> str:
        return self.text[self.editable[0] : self.editable[1]]


def excerpt_around(path: str, text: str, cursor: int) -> Excerpt:
    """The editable region (EDITABLE_LINES each side of the cursor's line) and the context
    (CONTEXT_LINES more each side) around `cursor`."""
    return Excerpt(
        path,
        text,
        (
            _line_start(text, cursor, EDITABLE_LINES + CONTEXT_LINES),
            _line_end(text, cursor, EDITABLE_LINES + CONTEXT_LINES),
        ),
        (_line_start(text, cursor, EDITABLE_LINES), _line_end(text, cursor, EDITABLE_LINES)),
        cursor,
    )


def _line_start(text: str, offset: int, lines_up: int) -> int:
    """The start of the line `lines_up` lines above the one holding `offset` (or the text's)."""
    start = text.rfind("\n", 0, offset) + 1
    for _ in range(lines_up):
        if start == 0:
            break
        start = text.rfind("\n", 0, start - 1) + 1
    return start


def _line_end(text: str, offset: int, lines_down: int) -> int:
    """The end (before its line break) of the line `lines_down` lines below the one holding
    `offset` (or the text's end)."""
    end = text.find("\n", offset)
    for _ in range(lines_down):
        if end == -1:
            break
        end = text.find("\n", end + 1)
    return len(text) if end == -1 else end


def zeta_prompt(events: Sequence[EditEvent], excerpt: Excerpt) -> str:
    """The whole prompt (`format_zeta1_prompt`): the edits, oldest first, then the excerpt."""
    edits = "\n\n".join(
        f"User edited {event.path}:\n```diff\n{event.diff}\n```" for event in events if event.diff
    )
    return INSTRUCTION + edits + EXCERPT_HEADER + _zeta_excerpt(excerpt) + RESPONSE_HEADER


def _zeta_excerpt(excerpt: Excerpt) -> str:
    """`format_zeta1_excerpt`: the path as the fence's info string, the start-of-file marker
    where the context starts the document, the region between its markers with the cursor's."""
    text, (context_start, context_end) = excerpt.text, excerpt.context
    start, end = excerpt.editable
    return (
        f"```{excerpt.path}\n"
        + (f"{START_OF_FILE}\n" if context_start == 0 else "")
        + text[context_start:start]
        + f"{REGION_START}\n"
        + text[start : excerpt.cursor]
        + CURSOR
        + text[excerpt.cursor : end]
        + f"\n{REGION_END}"
        + text[end:context_end]
        + "\n```"
    )


def zeta_rewrite(answer: str) -> str | None:
    """The editable region as the model rewrote it (`clean_zeta1_model_output`, without the
    cursor's marker); None unless the answer holds both of the region's markers, in order (an
    answer cut short is not half a rewrite)."""
    content = answer.replace(CURSOR, "")
    start = content.find(REGION_START)
    end = content.find(REGION_END)
    if start == -1 or end == -1:
        return None
    start += len(REGION_START)
    if content[start : start + 1] == "\n":
        start += 1
    if end > 0 and content[end - 1] == "\n":
        end -= 1
    if start > end:
        return ""
    return content[start:end]
