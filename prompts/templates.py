"""Fill-in-the-middle templates per model family.

Only Qwen2.5-Coder for now; the table grows with the prompt builder issue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FimTemplate:
    family: str
    prefix_token: str
    suffix_token: str
    middle_token: str
    # Tokens that end a completion: the model's end-of-text, and any other control token it
    # might start emitting (a new file, a chat turn) once the hole is filled.
    stop: tuple[str, ...]
    # Lower-case fragments of model names (Ollama tags, HF ids, GGUF files) of this family.
    name_hints: tuple[str, ...]
    # Repository-level format: other files' code as "<file_sep>path\ncode" blocks after a
    # "<repo_name>name" line, the current file last. Empty where the family has none.
    repo_token: str = ""
    file_sep_token: str = ""

    @property
    def special_tokens(self) -> tuple[str, ...]:
        tokens = (self.prefix_token, self.suffix_token, self.middle_token, self.repo_token)
        return tuple(dict.fromkeys(t for t in (*tokens, self.file_sep_token, *self.stop) if t))

    @property
    def takes_snippets(self) -> bool:
        return bool(self.file_sep_token)

    def render_snippet(self, path: str, text: str) -> str:
        """One snippet of other code, as the family was trained to see other files."""
        return f"{self.file_sep_token}{path}\n{text}\n"

    def render(
        self,
        prefix: str,
        suffix: str,
        snippets: tuple[str, ...] = (),
        path: str = "",
        repo: str = "",
    ) -> str:
        """Prefix-suffix-middle order: the model writes the middle after the last token.
        `snippets` come rendered by `render_snippet`, best last (nearest the cursor)."""
        fim = f"{self.prefix_token}{prefix}{self.suffix_token}{suffix}{self.middle_token}"
        if not snippets:
            return fim
        head = f"{self.repo_token}{repo or 'repository'}\n" if self.repo_token else ""
        return f"{head}{''.join(snippets)}{self.file_sep_token}{path}\n{fim}"


# Qwen2.5-Coder README, "file-level code completion (fill in the middle)", and the special tokens
# of its tokenizer_config.json.
QWEN = FimTemplate(
    family="qwen",
    prefix_token="<|fim_prefix|>",
    suffix_token="<|fim_suffix|>",
    middle_token="<|fim_middle|>",
    stop=(
        "<|endoftext|>",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
        "<|fim_pad|>",
        "<|repo_name|>",
        "<|file_sep|>",
        "<|im_start|>",
        "<|im_end|>",
    ),
    name_hints=("qwen",),
    repo_token="<|repo_name|>",
    file_sep_token="<|file_sep|>",
)

TEMPLATES: dict[str, FimTemplate] = {t.family: t for t in (QWEN,)}
DEFAULT_TEMPLATE = QWEN


_warned: set[str] = set()


def template_for(template: str, model: str) -> FimTemplate:
    """The template named by the `backend.template` setting; for "auto", the model's family."""
    if template != "auto":
        return TEMPLATES[template]
    name = model.lower()
    for candidate in TEMPLATES.values():
        if any(hint in name for hint in candidate.name_hints):
            return candidate
    if model not in _warned:  # once per model, not once per keystroke
        _warned.add(model)
        log.warning(
            "no FIM template known for model %r; using %s (set backend.template to choose)",
            model,
            DEFAULT_TEMPLATE.family,
        )
    return DEFAULT_TEMPLATE
