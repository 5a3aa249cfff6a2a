"""Assemble the prompt: template + prefix/suffix within the token budget."""

from __future__ import annotations

from dataclasses import dataclass

from infill.prompts.budget import keep_head_lines, keep_tail_lines
from infill.prompts.templates import FimTemplate
from infill.prompts.tokens import count_tokens

# Share of the budget the suffix may take; what it leaves unused goes to the prefix.
SUFFIX_SHARE = 0.25


@dataclass(frozen=True)
class Prompt:
    text: str
    stop: tuple[str, ...]
    prefix: str  # the part of the prefix that made it into the prompt
    suffix: str
    tokens: int


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


def build_prompt(prefix: str, suffix: str, template: FimTemplate, max_tokens: int) -> Prompt:
    prefix = neutralize(prefix, template)
    suffix = neutralize(suffix, template)
    overhead = count_tokens(template.render("", ""))
    budget = max(max_tokens - overhead, 0)
    kept_suffix, suffix_tokens = keep_head_lines(suffix, int(budget * SUFFIX_SHARE))
    kept_prefix, prefix_tokens = keep_tail_lines(prefix, budget - suffix_tokens)
    return Prompt(
        text=template.render(kept_prefix, kept_suffix),
        stop=template.stop,
        prefix=kept_prefix,
        suffix=kept_suffix,
        tokens=overhead + prefix_tokens + suffix_tokens,
    )
