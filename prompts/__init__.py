"""Prompt building: FIM templates per model family within a token budget."""

from infill.prompts.builder import (
    Prompt,
    build_prompt,
    neutralize,
    prompt_budget,
    restore,
    widest_window,
)
from infill.prompts.chat import ChatPrompt
from infill.prompts.templates import TEMPLATES, FimTemplate, comment_for, template_for
from infill.prompts.tokens import Counter, count_tokens, counter_for

__all__ = [
    "TEMPLATES",
    "ChatPrompt",
    "Counter",
    "FimTemplate",
    "Prompt",
    "build_prompt",
    "comment_for",
    "count_tokens",
    "counter_for",
    "neutralize",
    "prompt_budget",
    "restore",
    "template_for",
    "widest_window",
]
