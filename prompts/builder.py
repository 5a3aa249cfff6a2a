"""Assemble the prompt: the template filled with prefix, suffix and snippets of other code,
within the token budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from infill.prompts.budget import keep_head_lines, keep_tail_lines
from infill.prompts.layout import NO_LIMITS, ServerRoom, snap_start, window_start, within
from infill.prompts.templates import FimTemplate
from infill.prompts.tokens import Counter, count_tokens

# Shares of the budget, in the spirit of the peers: the suffix may take 15 %, snippets 25 %;
# whatever they leave unused goes to the prefix, which always gets the rest.
SUFFIX_SHARE = 0.15
SNIPPET_SHARE = 0.25
# At most this much suffix: it follows the prefix, so every keystroke computes it again (a
# few lines of code, with the closers the suggestion must fit; README has the counts).
SUFFIX_MAX_TOKENS = 64
# Inserted after the first character of a control token spelled in user code: the text stays
# readable, and no longer is the token.
ZERO_WIDTH_SPACE = "\u200b"


class SnippetLike(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Prompt:
    text: str
    stop: tuple[str, ...]
    prefix: str  # the part of the prefix that made it into the prompt
    suffix: str
    snippets: list[SnippetLike] = field(default_factory=list)  # those that fit, best first
    total_tokens: int = 0
    # The total per section, for infill/explain: counted only when asked for, or each
    # keystroke would count most of the prompt three more times.
    breakdown: Callable[[], dict[str, int]] = field(default=dict, repr=False, compare=False)

    @cached_property
    def tokens(self) -> dict[str, int]:
        """Tokens per section, and "total"."""
        return {**self.breakdown(), "total": self.total_tokens}


def prompt_budget(max_tokens: int, context_tokens: int, generate_tokens: int) -> int:
    """The prompt may take `max_tokens`, and never more than the model's context leaves once
    the answer has room (`context_tokens` 0: the context is not known)."""
    if context_tokens > 0:
        return max(0, min(max_tokens, context_tokens - generate_tokens))
    return max_tokens


def neutralize(text: str, template: FimTemplate) -> str:
    """Break the template's control tokens where the user's code spells them.

    Without this a file containing "<|fim_middle|>" (a tokenizer test, this very project)
    would end the prefix early and the model would fill the wrong hole.
    """
    for token in template.special:
        if token in text:
            text = text.replace(token, token[0] + ZERO_WIDTH_SPACE + token[1:])
    return text


def restore(text: str, template: FimTemplate) -> str:
    """Undo `neutralize` in what the model wrote: it copies the user's code, and the user's
    code spells the token without the zero-width space."""
    if ZERO_WIDTH_SPACE not in text:
        return text
    for token in template.special:
        text = text.replace(token[0] + ZERO_WIDTH_SPACE + token[1:], token)
    return text


def suffix_allowance(room: int, server: ServerRoom) -> int:
    return within(min(int(room * SUFFIX_SHARE), SUFFIX_MAX_TOKENS), server.suffix_tokens)


def widest_window(
    prefix: str,
    suffix: str,
    template: FimTemplate,
    budget: int,
    count: Counter = count_tokens,
    server: ServerRoom = NO_LIMITS,
) -> tuple[str, str]:
    """The most of the prefix and suffix a prompt could show (with no snippets): snippets from
    these lines would repeat what the prompt has already."""
    room = max(budget - count(template.hole("", "")), 0)
    allowed = suffix_allowance(room, server)
    kept_suffix, _ = keep_head_lines(suffix, allowed, count)
    kept_prefix, _ = keep_tail_lines(prefix, within(room - allowed, server.prefix_tokens), count)
    return kept_prefix, kept_suffix


def pack_snippets(
    snippets: Sequence[SnippetLike],
    render: Callable[[SnippetLike], str],
    room: int,
    count: Counter,
) -> tuple[list[SnippetLike], list[str], int]:
    """Best first, the snippets whose rendered text fits in `room` tokens: the snippets, their
    rendered pieces and the tokens they take. A snippet too big is skipped, not the rest."""
    chosen: list[SnippetLike] = []
    pieces: list[str] = []
    used = 0
    for snippet in snippets:
        piece = render(snippet)
        cost = count(piece)
        if used + cost <= room:
            chosen.append(snippet)
            pieces.append(piece)
            used += cost
    return chosen, pieces, used


def build_prompt(
    prefix: str,
    suffix: str,
    template: FimTemplate,
    budget: int,
    snippets: Sequence[SnippetLike] = (),
    path: str = "",
    repo: str = "",
    comment: str = "#",
    count: Counter = count_tokens,
    first_line: int | None = None,
    server: ServerRoom = NO_LIMITS,
    previous_start: int | None = None,
) -> Prompt:
    """`snippets` come best first; those that fit the snippet share are placed best last,
    nearest the cursor. The whole prompt, counted as one text, stays within `budget`, and
    each part within what `server` keeps of it. With `first_line` (the document line the
    prefix starts at) the prefix window starts at a multiple of PREFIX_STEP_LINES, or where it
    started last (`previous_start`) while that fits."""
    prefix = neutralize(prefix, template)
    suffix = neutralize(suffix, template)
    path = neutralize(path, template)
    repo = neutralize(repo, template)
    frame = count(template.hole("", ""))
    room = max(budget - frame, 0)
    allowed_suffix = suffix_allowance(room, server)
    kept_suffix, _ = keep_head_lines(suffix, allowed_suffix, count)

    chosen: list[SnippetLike] = []
    rendered: list[str] = []
    snippet_tokens = files_frame = 0
    if snippets:
        # The repository header and the current file's head cost tokens too.
        files_frame = count(template.render("", "", ("",), path, repo, comment)) - frame
        chosen, rendered, snippet_tokens = pack_snippets(
            snippets,
            lambda s: template.render_snippet(
                neutralize(s.path, template), neutralize(s.text, template), comment
            ),
            within(int(room * SNIPPET_SHARE), server.extra_tokens) - files_frame,
            count,
        )
        if chosen:
            snippet_tokens += files_frame

    # The suffix's whole allowance is set aside, used or not: what the prefix may take then
    # does not change as the suffix does, and neither does where its window starts.
    allowed_prefix = within(room - allowed_suffix - snippet_tokens, server.prefix_tokens)
    kept_prefix, _ = keep_tail_lines(prefix, allowed_prefix, count)
    if first_line is not None:
        earliest = first_line + prefix[: len(prefix) - len(kept_prefix)].count("\n")
        start = window_start(earliest, previous_start)
        kept_prefix = snap_start(kept_prefix, earliest, start)
    pieces = tuple(reversed(rendered))
    text = template.render(kept_prefix, kept_suffix, pieces, path, repo, comment)
    total = count(text)
    # Pieces counted apart can tokenize differently once joined: trim until the prompt as a
    # whole fits: the prefix's far end, then the suffix's, then the snippets.
    while total > budget and (kept_prefix or kept_suffix or pieces):
        if kept_prefix:
            cut = kept_prefix.find("\n")
            kept_prefix = kept_prefix[cut + 1 :] if cut != -1 else kept_prefix[1:]
        elif kept_suffix:
            cut = kept_suffix.rfind("\n", 0, len(kept_suffix) - 1)
            kept_suffix = kept_suffix[: cut + 1] if cut != -1 else kept_suffix[:-1]
        else:
            pieces = pieces[1:]
            chosen.pop()
        text = template.render(kept_prefix, kept_suffix, pieces, path, repo, comment)
        total = count(text)
    return Prompt(
        text=text,
        stop=template.stop,
        prefix=kept_prefix,
        suffix=kept_suffix,
        snippets=chosen,
        total_tokens=total,
        breakdown=lambda: {
            "template": frame,
            "prefix": count(kept_prefix),
            "suffix": count(kept_suffix),
            "snippets": count("".join(pieces)) + files_frame if pieces else 0,
        },
    )
