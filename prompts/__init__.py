"""Prompt building: FIM templates per model family within a token budget."""

from infill.prompts.builder import Prompt, build_prompt, widest_window
from infill.prompts.templates import TEMPLATES, FimTemplate, template_for
from infill.prompts.tokens import count_tokens

__all__ = [
    "TEMPLATES",
    "FimTemplate",
    "Prompt",
    "build_prompt",
    "count_tokens",
    "template_for",
    "widest_window",
]
