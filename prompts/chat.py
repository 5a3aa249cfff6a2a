"""Chat models (Claude, GPT-4-class): a "fill the hole" message, and the code out of the answer.

Chat models have no FIM tokens; they get the file with a marker at the cursor, other code as
references, and an instruction to answer with the missing code only. Their answers still come
fenced, with the line repeated, or with a sentence of explanation: `extract_completion` copes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from infill.prompts.budget import keep_head_lines, keep_tail_lines
from infill.prompts.builder import SNIPPET_SHARE, SUFFIX_SHARE, SnippetLike, pack_snippets
from infill.prompts.tokens import Counter, count_tokens

HOLE = "{{FILL_HERE}}"

SYSTEM = (
    "You are a code completion engine inside an editor. The user's file contains the marker "
    f"{HOLE} at the cursor. Reply with exactly the code that belongs at the marker: no "
    "explanation, no repetition of the code before or after it, no Markdown fences. If "
    "nothing should be inserted, reply with nothing."
)


@dataclass(frozen=True)
class ChatPrompt:
    system: str
    messages: list[dict[str, str]]
    prefix: str
    suffix: str
    snippets: list[SnippetLike] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)
    stable_chars: int = 0  # the start of the message that is the same from keystroke to keystroke


def _fence(text: str) -> str:
    """A fence longer than any backtick run in the code, so the code cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def build_chat_prompt(
    prefix: str,
    suffix: str,
    budget: int,
    snippets: Sequence[SnippetLike] = (),
    path: str = "",
    language: str = "",
    count: Counter = count_tokens,
) -> ChatPrompt:
    frame = count(SYSTEM) + count(f"File {path}:\n\n{HOLE}\n") + 16
    room = max(budget - frame, 0)
    kept_suffix, suffix_tokens = keep_head_lines(suffix, int(room * SUFFIX_SHARE), count)

    def reference(snippet: SnippetLike) -> str:
        fence = _fence(snippet.text)
        return f"{snippet.path}:\n{fence}{language}\n{snippet.text}\n{fence}\n"

    chosen, references, used = pack_snippets(snippets, reference, int(room * SNIPPET_SHARE), count)
    kept_prefix, prefix_tokens = keep_tail_lines(prefix, room - suffix_tokens - used, count)
    body = kept_prefix + HOLE + kept_suffix
    fence = _fence(body)
    parts = []
    if references:
        parts.append("Code from other files, for reference:\n\n" + "\n".join(references))
    parts.append(f"File {path or 'untitled'}:\n{fence}{language}\n{body}\n{fence}")
    parts.append(f"Reply with the code for {HOLE} only.")
    content = "\n\n".join(parts)
    stable_chars = len(parts[0]) + 2 if references else 0  # the other code, and its blank line
    return ChatPrompt(
        system=SYSTEM,
        messages=[{"role": "user", "content": content}],
        prefix=kept_prefix,
        suffix=kept_suffix,
        snippets=chosen,
        stable_chars=stable_chars,
        tokens={
            "prefix": prefix_tokens,
            "suffix": suffix_tokens,
            "snippets": used,
            "total": count(SYSTEM) + count(content),
        },
    )


_FENCED = re.compile(r"(`{3,}|~{3,})[^\n]*\n(.*?)\n?\1", re.DOTALL)
# A sentence that introduces the code ("Here is the missing code:").
_LEAD_IN = re.compile(
    r"^(here|sure|certainly|the (missing|completed?)|this|to complete)\b[^\n]*:\s*$",
    re.IGNORECASE,
)


def extract_completion(answer: str, prefix: str, suffix: str) -> str:
    """The code to insert at the cursor, from a chat model's answer."""
    fenced = _FENCED.search(answer)
    if fenced:
        code = fenced.group(2)
    else:
        lines = answer.strip("\n").split("\n")
        while lines and _LEAD_IN.match(lines[0].strip()):
            lines.pop(0)  # "Here is the missing code:"
        code = "\n".join(lines)
    if HOLE in code:
        # The model rewrote the surroundings around the marker: keep what replaced it only.
        code = code.split(HOLE, 1)[0]
    return _strip_overlaps(code, prefix, suffix)


def _strip_overlaps(code: str, prefix: str, suffix: str) -> str:
    """Drop the code before the cursor that the answer repeats at its start, and the code
    after the cursor that it repeats at its end."""
    before = prefix.split("\n")
    for k in range(min(5, len(before)), 0, -1):
        tail = "\n".join(before[-k:])
        if tail.strip() and code.startswith(tail):
            code = code[len(tail) :]
            break
    else:
        current = before[-1].lstrip()
        if current and code.lstrip().startswith(current):
            code = code.lstrip()[len(current) :]
    # Whole lines after the cursor's line; what is left of the cursor's own line (closers) is
    # the post-processing filters' business, which weigh brackets.
    after = suffix.split("\n")[1:]
    for k in range(min(5, len(after)), 0, -1):
        head = "\n".join(after[:k]).rstrip()
        if head.strip() and code.rstrip().endswith("\n" + head):
            code = code.rstrip()[: -len(head) - 1]
            break
    return code.rstrip()
