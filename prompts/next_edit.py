"""Prompts for next-edit models: the user's recent edits, and the excerpt of the document around
the cursor with the region the model may rewrite; the model answers with that region rewritten.

Zeta, Zed's open edit-prediction model (zed-industries/zeta, a Qwen2.5-Coder-7B fine-tune, served
by llama.cpp, vLLM or Ollama as a plain completion), is asked in its "zeta1" format, as Zed
writes it: zed-industries/zed, crates/zeta_prompt/src/zeta_prompt.rs, module `zeta1`
(`format_zeta1_prompt`, `format_zeta1_event`, `format_zeta1_excerpt` for the prompt,
`clean_zeta1_model_output` for the answer); the regions' sizes are infill's.

Instinct, Continue's open next-edit model (continuedev/instinct, a Qwen2.5-Coder-7B fine-tune),
is asked in chat messages as Continue writes them: continuedev/continue, core/nextEdit/
(`constants.ts` for the system prompt, the markers and the user prompt's opening,
`templating/NextEditPromptEngine.ts` for the user prompt's template, `templating/instinct.ts`
for its blocks, `providers/InstinctNextEditProvider.ts` for the regions: one line above the
cursor's and five below editable, 25 lines each side shown); it answers with the region alone.

The texts below are the sources', character for character.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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

ZETA_EDITABLE = (5, 5)  # lines above and below the cursor's that the model may rewrite
ZETA_SHOWN = (15, 15)  # lines above and below the cursor's in the excerpt


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


def excerpt_around(
    path: str,
    text: str,
    cursor: int,
    editable: tuple[int, int] = ZETA_EDITABLE,
    shown: tuple[int, int] = ZETA_SHOWN,
) -> Excerpt:
    """The excerpt around `cursor`: `shown` lines above and below the cursor's line, of which
    `editable` lines above and below are the region to rewrite."""
    return Excerpt(
        path,
        text,
        (_line_start(text, cursor, shown[0]), _line_end(text, cursor, shown[1])),
        (_line_start(text, cursor, editable[0]), _line_end(text, cursor, editable[1])),
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
    where the excerpt starts the document, the region between its markers with the cursor's."""
    start_of_file = f"{START_OF_FILE}\n" if excerpt.context[0] == 0 else ""
    return f"```{excerpt.path}\n{start_of_file}{_marked_excerpt(excerpt)}\n```"


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


INSTINCT_SYSTEM = (
    "You are Instinct, an intelligent next-edit predictor developed by Continue.dev. Your role as"
    " an AI agent is to help developers complete their code tasks by predicting the next edit"
    " that they will make within the section of code marked by <|editable_region_start|> and"
    " <|editable_region_end|> tags.\n\n"
    "You have access to the following information to help you make informed suggestions:\n\n"
    '- Context: In the section marked "### Context", there are context items from potentially'
    " relevant files in the developer's codebase. Each context item consists of a"
    " <|context_file|> marker, the filepath, a <|snippet|> marker, and then some content from"
    " that file, in that order. Keep in mind that not all of the context information may be"
    " relevant to the task, so use your judgement to determine which parts to consider.\n"
    '- User Edits: In the section marked "### User Edits:", there is a record of the most recent'
    " changes made to the code, helping you understand the evolution of the code and the"
    " developer's intentions. These changes are listed from most recent to least recent. It's"
    " possible that some of the edit diff history is entirely irrelevant to the developer's"
    " change. The changes are provided in a unified line-diff format, i.e. with pluses and"
    " minuses for additions and deletions to the code.\n"
    '- User Excerpt: In the section marked "### User Excerpt:", there is a filepath to the'
    " developer's current file, and then an excerpt from that file. The"
    " <|editable_region_start|> and <|editable_region_end|> markers are within this excerpt."
    " Your job is to rewrite only this editable region, not the whole excerpt. The excerpt"
    " provides additional context on the surroundings of the developer's edit.\n"
    "- Cursor Position: Within the user excerpt's editable region, the <|user_cursor_is_here|>"
    " flag indicates where the developer's cursor is currently located, which can be crucial"
    " for understanding what part of the code they are focusing on. Do not produce this marker"
    " in your output; simply take it into account.\n\n"
    "Your task is to predict and complete the changes the developer would have made next in the"
    " editable region. The developer may have stopped in the middle of typing. Your goal is to"
    " keep the developer on the path that you think they're following. Some examples include"
    " further implementing a class, method, or variable, or improving the quality of the code."
    " Make sure the developer doesn't get distracted by ensuring your suggestion is relevant."
    " Consider what changes need to be made next, if any. If you think changes should be made,"
    " ask yourself if this is truly what needs to happen. If you are confident about it, then"
    " proceed with the changes.\n\n"
    "# Steps\n\n"
    "1. **Review Context**: Analyze the context from the resources provided, such as recently"
    " viewed snippets, edit history, surrounding code, and cursor location.\n"
    "2. **Evaluate Current Code**: Determine if the current code within the tags requires any"
    " corrections or enhancements.\n"
    "3. **Suggest Edits**: If changes are required, ensure they align with the developer's"
    " patterns and improve code quality.\n"
    "4. **Maintain Consistency**: Ensure indentation and formatting follow the existing code"
    " style.\n\n"
    "# Output Format\n\n"
    "- Provide only the revised code within the tags. Do not include the tags in your output.\n"
    "- Ensure that you do not output duplicate code that exists outside of these tags.\n"
    "- Avoid undoing or reverting the developer's last change unless there are obvious typos or"
    " errors."
)
INSTINCT_USER_OPENING = (
    "Reference the user excerpt, user edits, and the snippets to understand the developer's"
    " intent. Update the editable region of the user excerpt by predicting and completing the"
    " changes they would have made next. This may be a deletion, addition, or modification of"
    " code."
)
INSTINCT_EDITABLE = (1, 5)
INSTINCT_SHOWN = (25, 25)


def instinct_user_prompt(events: Sequence[EditEvent], excerpt: Excerpt) -> str:
    """The user message (the template of `NextEditPromptEngine.ts`): the edits oldest first
    (as Continue collects them), the excerpt. Its context block (other files' snippets, each
    after `<|context_file|>: path` and `<|snippet|>`) is left empty, as Continue sends it
    when it has none: the region is local and the snippets would cost prompt time."""
    edits = "\n".join(
        f'User edited file "{event.path}"\n\n```diff\n{diff}\n```'
        for event in events
        if (diff := _instinct_diff(event.diff))
    )
    return (
        f"{INSTINCT_USER_OPENING}\n\n### Context:\n\n\n### User Edits:\n\n{edits}"
        f"\n\n### User Excerpt:\n{excerpt.path}\n\n{_marked_excerpt(excerpt)}```\n### Response:"
    )


def _instinct_diff(diff: str) -> str:
    """`editHistoryBlock`'s filter: hunk headers, added, removed and context lines, no blank
    ones (an empty context line is dropped too)."""
    return "\n".join(
        line for line in diff.split("\n") if line.strip() and line.startswith(("@@", "+", "-", " "))
    )


def _marked_excerpt(excerpt: Excerpt) -> str:
    """`currentFileContentBlock`: the shown lines with the region's markers on lines of their
    own and the cursor's marker in its line."""
    text, (shown_start, shown_end) = excerpt.text, excerpt.context
    start, end = excerpt.editable
    return (
        text[shown_start:start]
        + f"{REGION_START}\n"
        + text[start : excerpt.cursor]
        + CURSOR
        + text[excerpt.cursor : end]
        + f"\n{REGION_END}"
        + text[end:shown_end]
    )


def instinct_rewrite(answer: str) -> str | None:
    """The region as the model rewrote it: its answer, without a cursor marker, a code fence
    around it or region markers it wrote anyway."""
    content = answer.replace(CURSOR, "")
    if REGION_START in content or REGION_END in content:
        return zeta_rewrite(content)
    lines = content.strip("\n").split("\n")
    if len(lines) >= 2 and lines[0].startswith("```") and lines[-1].strip() == "```":
        return "\n".join(lines[1:-1])
    return content


# Chat models with no next-edit training (Claude, GPT, a local instruct model): infill's own
# prompt, the same parts as the trained formats' (edits as diffs, the excerpt with its markers),
# and an answer in a fenced block, which chat models write without being coaxed.
CHAT_SYSTEM = (
    "You predict a developer's next edit. You are shown their recent edits as unified diffs,"
    " oldest first, and an excerpt of the file they are in. The region you may rewrite lies"
    f" between {REGION_START} and {REGION_END}; their cursor is at {CURSOR}. Answer with that"
    " region as the developer will have it after their next edit, in one fenced code block,"
    " without the markers, and nothing else. Make only the change their edits imply: the same"
    " change where it is still to be made, what a change they made requires elsewhere in the"
    " region. Never undo their edits. If nothing follows from them, write the region out"
    " unchanged."
)
CHAT_EDITABLE = (5, 5)
CHAT_SHOWN = (20, 20)


def chat_user_prompt(events: Sequence[EditEvent], excerpt: Excerpt) -> str:
    """The user message for a chat model: the edits as diffs, then the excerpt."""
    edits = "\n\n".join(
        f"{event.path}:\n```diff\n{event.diff}\n```" for event in events if event.diff
    )
    return (
        f"My recent edits:\n\n{edits or '(none)'}\n\n"
        f"The file {excerpt.path}, around my cursor:\n\n```\n{_marked_excerpt(excerpt)}\n```"
    )


def chat_rewrite(answer: str) -> str | None:
    """The region out of a chat model's answer: its first fenced block, without markers;
    None when the answer has no complete block."""
    start = answer.find("```")
    if start == -1:
        return None
    body = answer.find("\n", start)
    end = answer.find("\n```", body)
    if body == -1 or end == -1:
        return None
    return (
        answer[body + 1 : end]
        .replace(CURSOR, "")
        .replace(f"{REGION_START}\n", "")
        .replace(f"\n{REGION_END}", "")
    )


@dataclass(frozen=True)
class EditFormat:
    """How one family of next-edit models is asked and answers."""

    editable: tuple[int, int]  # lines above and below the cursor's that it may rewrite
    shown: tuple[int, int]  # lines above and below the cursor's in its excerpt
    chat: bool  # asked in chat messages (system, user) rather than a completion prompt
    prompt: Callable[[Sequence[EditEvent], Excerpt], str]  # the completion prompt or user message
    system: str
    stop: tuple[str, ...]
    rewrite: Callable[[str], str | None]  # the region out of the answer; None: no rewrite


FORMATS = {
    "zeta": EditFormat(ZETA_EDITABLE, ZETA_SHOWN, False, zeta_prompt, "", (STOP,), zeta_rewrite),
    "instinct": EditFormat(
        INSTINCT_EDITABLE,
        INSTINCT_SHOWN,
        True,
        instinct_user_prompt,
        INSTINCT_SYSTEM,
        (),
        instinct_rewrite,
    ),
    "chat": EditFormat(
        CHAT_EDITABLE, CHAT_SHOWN, True, chat_user_prompt, CHAT_SYSTEM, (), chat_rewrite
    ),
}
