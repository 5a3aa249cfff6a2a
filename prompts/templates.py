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
    # ("{repo}"), one block per other file ("{path}", "{code}"), then the current file with the
    # hole ("{path}", "{prefix}", "{suffix}"). Families without one get snippets as comments at
    # the start of the prefix.
    repo_header: str = ""
    file_block: str = ""
    repo_fim: str = ""

    @property
    def takes_files(self) -> bool:
        return bool(self.file_block)

    def hole(self, prefix: str, suffix: str) -> str:
        return _fill(self.fim, prefix=prefix, suffix=suffix)

    def render_snippet(self, path: str, code: str, comment: str) -> str:
        """One snippet of other code: a file block, or a commented block headed by its path."""
        if self.file_block:
            return _fill(self.file_block, path=path, code=code)
        return commented(path, code, comment)

    def render(
        self,
        prefix: str,
        suffix: str,
        snippets: tuple[str, ...] = (),
        path: str = "",
        repo: str = "",
        comment: str = "#",
    ) -> str:
        """The whole prompt. `snippets` come rendered by `render_snippet`, best last (nearest
        the cursor)."""
        if not snippets:
            return self.hole(prefix, suffix)
        if not self.file_block:
            current = f"{comment} Path: {path}\n" if path else ""
            return self.hole("".join(snippets) + current + prefix, suffix)
        head = _fill(self.repo_header, repo=repo or "repository")
        hole = _fill(self.repo_fim, path=path, prefix=prefix, suffix=suffix)
        return head + "".join(snippets) + hole


def commented(path: str, code: str, comment: str) -> str:
    """Code from another file as comments headed by its path, for prompts with no place for
    other files."""
    lines = [f"{comment} Path: {path}", *(f"{comment} {line}" for line in code.split("\n"))]
    return "\n".join(lines) + "\n"


def _family(
    family: str,
    fim: str,
    stop: tuple[str, ...],
    hints: tuple[str, ...],
    extra_special: tuple[str, ...] = (),
    repo_header: str = "",
    file_block: str = "",
    repo_fim: str = "",
) -> FimTemplate:
    markers = tuple(re.findall(r"<[^<>{}\s]+>|\[[A-Z]+\]", fim))
    special = tuple(dict.fromkeys((*markers, *stop, *extra_special)))
    return FimTemplate(family, fim, stop, special, hints, repo_header, file_block, repo_fim)


# Qwen2.5-Coder: README "file-level code completion (fill in the middle)", the token ids it lists,
# and examples/Qwen2.5-Coder-repolevel-fim.py for the repository layout with FIM (also what
# llama.cpp's server builds for /infill). Stops: the eos ids of that example, and <|im_start|>.
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
    repo_fim="<|file_sep|>{path}\n<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
)

# StarCoder / StarCoder2: the bigcode model cards' FIM example; StarCoder2 paper (arXiv
# 2402.19173, section 5) for the repository layout, where the current file's path goes inside
# the FIM prefix and files follow each other with no newline; "<file_sep> ... you can use it as
# a stop token" (bigcode-project/starcoder2 issue 10). <filename>, <gh_stars>, <reponame> are
# StarCoder 1 tokens, neutralized too.
STARCODER = _family(
    "starcoder",
    "<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>",
    stop=(
        "<|endoftext|>",
        "<file_sep>",
        "<fim_prefix>",
        "<fim_suffix>",
        "<fim_middle>",
        "<repo_name>",
    ),
    hints=("starcoder", "codeqwen"),
    extra_special=("<fim_pad>", "<filename>", "<gh_stars>", "<reponame>", "<issue_start>"),
    repo_header="<repo_name>{repo}",
    file_block="<file_sep>{path}\n{code}",
    repo_fim="<file_sep><fim_prefix>{path}\n{prefix}<fim_suffix>{suffix}<fim_middle>",
)

# DeepSeek-Coder (and V2-Lite): README "code insertion"; the bars are U+FF5C and the low line
# U+2581. End of sentence per generation_config.json; <|EOT|> ends the instruct models' turns.
# No repository tokens: files go in as commented blocks.
DEEPSEEK = _family(
    "deepseek",
    "<\uff5cfim\u2581begin\uff5c>{prefix}<\uff5cfim\u2581hole\uff5c>{suffix}<\uff5cfim\u2581end\uff5c>",
    stop=(
        "<\uff5cend\u2581of\u2581sentence\uff5c>",
        "<\uff5cfim\u2581begin\uff5c>",
        "<\uff5cfim\u2581hole\uff5c>",
        "<\uff5cfim\u2581end\uff5c>",
        "<|EOT|>",
    ),
    hints=("deepseek",),
    extra_special=("<\uff5cbegin\u2581of\u2581sentence\uff5c>",),
)

# Code Llama: meta-llama/codellama llama/generation.py, infilling_prompt_tokens
# ("<PRE> {pre} <SUF>{suf} <MID>"), end of infilling <EOT>. The BOS token is the server's to add.
CODELLAMA = _family(
    "codellama",
    "<PRE> {prefix} <SUF>{suffix} <MID>",
    stop=("<EOT>", "<PRE>", "<SUF>", "<MID>"),
    hints=("codellama", "code-llama", "code_llama"),
    extra_special=("<s>", "</s>"),
)

# Codestral: mistral-common InstructTokenizerV2.encode_fim ([SUFFIX] suffix [PREFIX] prefix, no
# middle token); token strings from mistral-common's tokenizer base; end of sequence </s>.
CODESTRAL = _family(
    "codestral",
    "[SUFFIX]{suffix}[PREFIX]{prefix}",
    stop=("</s>", "[PREFIX]", "[SUFFIX]", "[MIDDLE]"),
    hints=("codestral",),
    extra_special=("[INST]", "[/INST]", "<s>"),
)

# CodeGemma: ai.google.dev/gemma/docs/codegemma/prompt-structure (no spaces around the FIM
# tokens, middle last); stops as the model card's terminators, plus <end_of_turn>. How paths go
# in a multi-file context is not documented: files go in as commented blocks.
CODEGEMMA = _family(
    "codegemma",
    "<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>",
    stop=(
        "<|file_separator|>",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
        "<eos>",
        "<end_of_turn>",
    ),
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


# Models whose names match a family but that were not trained for FIM (chat fine-tunes, the
# Code Llama sizes and variants without infilling, Mamba-Codestral, DeepSeek's general models).
_NOT_FIM = re.compile(
    r"mamba|dolphincoder|deepseek-(r1|v3|llm)|deepseek-v2(?!.*coder)|codellama[:\-_/]?(34b|70b)"
    r"|codellama.*python|codegemma.*(instruct|-it\b)|(?<!coder)-it\b",
)


def detect_family(model: str) -> FimTemplate | None:
    """The FIM family of a model name (Ollama tag, HF id, GGUF file, served name), if any."""
    name = model.lower()
    if _NOT_FIM.search(name):
        return None
    if "codeqwen" in name:
        return STARCODER  # CodeQwen 1.5 uses the StarCoder tokens
    if "qwen" in name and "coder" in name:
        return QWEN
    if "deepseek" in name and "coder" in name:
        return DEEPSEEK
    for candidate in (STARCODER, CODELLAMA, CODESTRAL, CODEGEMMA):
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
