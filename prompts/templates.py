"""Fill-in-the-middle templates per model family.

Each family was trained on its own control tokens and layout; a wrong template silently halves
quality. The sources are cited per family.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

_FIELD = re.compile(r"\{(prefix|suffix|path|code|repo)\}")


def _fill(template: str, **values: str) -> str:
    """Put values into "{name}" fields in one pass, so that user text that happens to spell
    a field ("{prefix}" in a format string) is never substituted itself."""
    return _FIELD.sub(lambda m: values[m.group(1)], template)


@dataclass(frozen=True)
class FimTemplate:
    family: str
    # The hole, with "{prefix}" and "{suffix}" fields; the model writes the middle after it.
    fim: str
    # Sequences that end a completion: end of text, and control tokens the model might go on
    # to emit once the hole is filled (a new file, a new hole, a chat turn).
    stop: tuple[str, ...]
    # All control tokens of the family; user text spelling one is neutralized.
    special: tuple[str, ...]
    # Lower-case fragments of model names (Ollama tags, HF ids, GGUF files) of this family.
    name_hints: tuple[str, ...]
    # Repository-level format, where the family has one: a header naming the repository
    # ("{repo}"), one block per other file ("{path}", "{code}"), and the current file's head
    # ("{path}") before the hole. Families without one get snippets as comments in the prefix.
    repo_header: str = ""
    file_block: str = ""
    current_file: str = ""

    @property
    def takes_files(self) -> bool:
        return bool(self.file_block)

    def hole(self, prefix: str, suffix: str) -> str:
        return _fill(self.fim, prefix=prefix, suffix=suffix)

    def render_snippet(self, path: str, code: str, comment: str) -> str:
        """One snippet of other code: a file block, or a commented block headed by its path."""
        if self.file_block:
            return _fill(self.file_block, path=path, code=code)
        lines = [f"{comment} Path: {path}", *(f"{comment} {line}" for line in code.split("\n"))]
        return "\n".join(lines) + "\n"

    def render(
        self,
        prefix: str,
        suffix: str,
        snippets: tuple[str, ...] = (),
        path: str = "",
        repo: str = "",
    ) -> str:
        """The whole prompt. `snippets` come rendered by `render_snippet`, best last (nearest
        the cursor)."""
        if not snippets:
            return self.hole(prefix, suffix)
        if not self.file_block:
            return self.hole("".join(snippets) + prefix, suffix)
        head = _fill(self.repo_header, repo=repo or "repository")
        current = _fill(self.current_file, path=path)
        return head + "".join(snippets) + current + self.hole(prefix, suffix)


def _family(
    family: str,
    fim: str,
    stop: tuple[str, ...],
    hints: tuple[str, ...],
    extra_special: tuple[str, ...] = (),
    repo_header: str = "",
    file_block: str = "",
    current_file: str = "",
) -> FimTemplate:
    markers = tuple(re.findall(r"<[^<>{}\s]+>|\[[A-Z]+\]", fim))
    special = tuple(dict.fromkeys((*markers, *stop, *extra_special)))
    return FimTemplate(family, fim, stop, special, hints, repo_header, file_block, current_file)


# Qwen2.5-Coder: README "file-level code completion (fill in the middle)" and "repository-level
# code completion"; special tokens in tokenizer_config.json of Qwen/Qwen2.5-Coder-*; the
# repository layout with FIM as llama.cpp's server builds it (format_infill).
QWEN = _family(
    "qwen",
    "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
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
    hints=("qwen",),
    repo_header="<|repo_name|>{repo}\n",
    file_block="<|file_sep|>{path}\n{code}\n",
    current_file="<|file_sep|>{path}\n",
)

# StarCoder / StarCoder2: tokenizer special tokens of bigcode/starcoder2-*; StarCoder2 paper
# (repository context: "<repo_name>name<file_sep>path\ncode ...").
STARCODER = _family(
    "starcoder",
    "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
    stop=(
        "<|endoftext|>",
        "<fim_prefix>",
        "<fim_suffix>",
        "<fim_middle>",
        "<fim_pad>",
        "<file_sep>",
        "<repo_name>",
    ),
    hints=("starcoder", "starchat"),
    extra_special=("<filename>", "<gh_stars>", "<issue_start>", "<jupyter_start>"),
    repo_header="<repo_name>{repo}",
    file_block="<file_sep>{path}\n{code}\n",
    current_file="<file_sep>{path}\n",
)

# DeepSeek-Coder: README "code insertion" (full-width bars U+FF5C and U+2581 in the tokens);
# end of sentence from tokenizer_config.json of deepseek-ai/deepseek-coder-*-base.
DEEPSEEK = _family(
    "deepseek",
    "<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>",
    stop=(
        "<｜end▁of▁sentence｜>",
        "<｜fim▁begin｜>",
        "<｜fim▁hole｜>",
        "<｜fim▁end｜>",
        "<|EOT|>",
    ),
    hints=("deepseek",),
    extra_special=("<｜begin▁of▁sentence｜>",),
)

# Code Llama: facebookresearch/codellama generation.py (infilling prompt "<PRE> {pre} <SUF>{suf}
# <MID>", end of infilling "<EOT>"); the same in the HF model cards.
CODELLAMA = _family(
    "codellama",
    "<PRE> {prefix} <SUF>{suffix} <MID>",
    stop=("<EOT>", "</s>", "<PRE>", "<SUF>", "<MID>"),
    hints=("codellama", "code-llama", "code_llama"),
    extra_special=("<s>",),
)

# Codestral: mistral-common's FIM request encoding (suffix first: "[SUFFIX]suffix[PREFIX]prefix"),
# end of sequence "</s>".
CODESTRAL = _family(
    "codestral",
    "[SUFFIX]{suffix}[PREFIX]{prefix}",
    stop=("</s>", "[SUFFIX]", "[PREFIX]", "[MIDDLE]"),
    hints=("codestral",),
    extra_special=("[INST]", "[/INST]", "<s>"),
)

# CodeGemma: model card "code completion" ("<|fim_prefix|>...<|fim_suffix|>...<|fim_middle|>",
# stop on "<|file_separator|>"; multi-file context separated by "<|file_separator|>").
CODEGEMMA = _family(
    "codegemma",
    "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
    stop=("<|file_separator|>", "<end_of_turn>", "<eos>", "<|fim_prefix|>", "<|fim_suffix|>"),
    hints=("codegemma",),
    extra_special=("<start_of_turn>", "<bos>"),
)

# Line comments by tree-sitter language name, for families that take snippets as comments.
LINE_COMMENTS = {"python": "#", "ruby": "#", "bash": "#", "lua": "--"}


def comment_for(language: str | None) -> str:
    return LINE_COMMENTS.get(language or "", "//" if language else "#")


TEMPLATES: dict[str, FimTemplate] = {
    t.family: t for t in (QWEN, STARCODER, DEEPSEEK, CODELLAMA, CODESTRAL, CODEGEMMA)
}
DEFAULT_TEMPLATE = QWEN

_warned: set[str] = set()


def detect_family(model: str) -> FimTemplate | None:
    """The family a model name belongs to, if any hint matches."""
    name = model.lower()
    for candidate in TEMPLATES.values():
        if any(hint in name for hint in candidate.name_hints):
            return candidate
    return None


def template_for(template: str, model: str) -> FimTemplate:
    """The template named by the `backend.template` setting; for "auto", the model's family."""
    if template != "auto":
        return TEMPLATES[template]
    found = detect_family(model)
    if found is not None:
        return found
    if model not in _warned:  # once per model, not once per keystroke
        _warned.add(model)
        log.warning(
            "no FIM template known for model %r; using %s (set backend.template to choose)",
            model,
            DEFAULT_TEMPLATE.family,
        )
    return DEFAULT_TEMPLATE
