"""Assemble the prompt: the template filled with prefix, suffix and snippets of other code,
within the token budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from infill.prompts.budget import keep_head_lines, keep_tail_lines
from infill.prompts.templates import FimTemplate
from infill.prompts.tokens import count_tokens

# Shares of the budget, in the spirit of the peers: the suffix may take 15 %, snippets 25 %;
# whatever they leave unused goes to the prefix, which always gets the rest.
SUFFIX_SHARE = 0.15
SNIPPET_SHARE = 0.25


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
    tokens: dict[str, int] = field(default_factory=dict)  # per section, and "total"


def neutralize(text: str, template: FimTemplate) -> str:
    """Break the template's control tokens if they appear in the user's code.

    Without this a file that contains "<|fim_middle|>" (a tokenizer test, this very project)
    would end the prefix early and the model would complete the wrong hole. A zero-width space
    after the opening "<" keeps the text readable and no longer matches the special token.
    """
    for token in template.special_tokens:
        if token in text:
            text = text.replace(token, token[0] + "\u200b" + token[1:])
    return text


def _budget(template: FimTemplate, max_tokens: int) -> int:
    return max(max_tokens - count_tokens(template.render("", "")), 0)


def widest_window(
    prefix: str, suffix: str, template: FimTemplate, max_tokens: int
) -> tuple[str, str]:
    """The most of the prefix and suffix a prompt could show (with no snippets): snippets from
    these lines would repeat what the prompt has already."""
    budget = _budget(template, max_tokens)
    kept_suffix, used = keep_head_lines(suffix, int(budget * SUFFIX_SHARE))
    kept_prefix, _ = keep_tail_lines(prefix, budget - used)
    return kept_prefix, kept_suffix


def build_prompt(
    prefix: str,
    suffix: str,
    template: FimTemplate,
    max_tokens: int,
    snippets: Sequence[SnippetLike] = (),
    path: str = "",
    repo: str = "",
) -> Prompt:
    """`snippets` come best first; those that fit the snippet share are placed best last,
    nearest the cursor."""
    prefix = neutralize(prefix, template)
    suffix = neutralize(suffix, template)
    budget = _budget(template, max_tokens)
    kept_suffix, suffix_tokens = keep_head_lines(suffix, int(budget * SUFFIX_SHARE))

    chosen: list[SnippetLike] = []
    rendered: list[str] = []
    snippet_tokens = 0
    if snippets and template.takes_snippets:
        # The repository header and the current file's separator cost tokens too.
        frame = count_tokens(template.render("", "", ("",), path, repo)) - count_tokens(
            template.render("", "")
        )
        room = int(budget * SNIPPET_SHARE) - frame
        for snippet in snippets:
            piece = template.render_snippet(snippet.path, neutralize(snippet.text, template))
            cost = count_tokens(piece)
            if cost <= room - snippet_tokens:
                chosen.append(snippet)
                rendered.append(piece)
                snippet_tokens += cost
        if chosen:
            snippet_tokens += frame

    kept_prefix, prefix_tokens = keep_tail_lines(prefix, budget - suffix_tokens - snippet_tokens)
    text = template.render(kept_prefix, kept_suffix, tuple(reversed(rendered)), path, repo)
    return Prompt(
        text=text,
        stop=template.stop,
        prefix=kept_prefix,
        suffix=kept_suffix,
        snippets=chosen,
        tokens={
            "template": count_tokens(template.render("", "")),
            "prefix": prefix_tokens,
            "suffix": suffix_tokens,
            "snippets": snippet_tokens,
            "total": count_tokens(text),
        },
    )
