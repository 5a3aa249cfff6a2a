"""Syntax trees of open documents, kept up to date incrementally with tree-sitter.

Offsets given to this module are code points into Python strings, as in `document.py`; tree-sitter
works in UTF-8 bytes and in points (row, byte column). Its rows advance at "\\n" only: a "\\r" is an
ordinary byte of its line, so a "\\r\\n" line's last column is the "\\r", and a document whose lines
end in "\\r" alone is one long row 0. Points passed to `Tree.edit` follow the same rule, so that the
edited tree's positions match what a fresh parse would produce. Node rows are LSP lines only when
no line ends in a lone "\\r" (`definitions.py` finds lines from byte offsets then). The grammars
take a lone "\\r" for a blank, not a line end either, so such a document of a language where
lines matter (Python, Go, Ruby, shell) parses into error nodes.
"""

from __future__ import annotations

import importlib
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache

import tree_sitter

LANGUAGE_NAMES: tuple[str, ...] = (
    "python",
    "javascript",
    "typescript",
    "tsx",
    "go",
    "rust",
    "java",
    "c",
    "cpp",
    "c_sharp",
    "ruby",
    "php",
    "lua",
    "bash",
)

# Grammar module and function of each language; the others are `tree_sitter_<name>.language`.
_GRAMMARS = {
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "php": ("tree_sitter_php", "language_php"),  # PHP with its HTML around `<?php` tags
}

_LANGUAGE_IDS = {
    "javascriptreact": "javascript",  # the JavaScript grammar parses JSX
    "typescriptreact": "tsx",
    "csharp": "c_sharp",
    "shellscript": "bash",
    "sh": "bash",
    "zsh": "bash",
}

_EXTENSIONS = {
    **dict.fromkeys((".py", ".pyi"), "python"),
    **dict.fromkeys((".js", ".mjs", ".cjs", ".jsx"), "javascript"),
    **dict.fromkeys((".ts", ".mts", ".cts"), "typescript"),
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    **dict.fromkeys((".c", ".h"), "c"),
    **dict.fromkeys((".cc", ".cpp", ".cxx", ".hpp", ".hh"), "cpp"),
    ".cs": "c_sharp",
    ".rb": "ruby",
    ".php": "php",
    ".lua": "lua",
    **dict.fromkeys((".sh", ".bash"), "bash"),
}

_FAMILIES = {"javascript": "js", "typescript": "js", "tsx": "js", "c": "c", "cpp": "c"}


def language_name(language_id: str | None, path: str | None = None) -> str | None:
    """The grammar for an LSP languageId, else for the file extension of `path`; None if none."""
    if language_id:
        name = _LANGUAGE_IDS.get(language_id, language_id)
        if name in LANGUAGE_NAMES:
            return name
    if path:
        dot = path.rfind(".")
        if dot > path.rfind("/"):
            return _EXTENSIONS.get(path[dot:].lower())
    return None


@cache
def get_language(name: str) -> tree_sitter.Language | None:
    if name not in LANGUAGE_NAMES:
        return None
    module_name, function = _GRAMMARS.get(name, (f"tree_sitter_{name}", "language"))
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return tree_sitter.Language(getattr(module, function)())


def language_family(name: str | None) -> str:
    """Languages whose code is worth showing for one another share a family."""
    if name is None:
        return "text"
    return _FAMILIES.get(name, name)


def encode(text: str) -> bytes:
    """The bytes tree-sitter sees for `text`."""
    # surrogatepass: a lone surrogate (possible in JSON input) must not make parsing fail.
    return text.encode("utf-8", "surrogatepass")


def _point(text: str, offset: int, byte_offset: int) -> tuple[int, int]:
    """tree-sitter's point of `offset` (at `byte_offset`): rows counted at "\\n" only."""
    line_start = text.rfind("\n", 0, offset) + 1
    if line_start == 0:
        return 0, byte_offset
    if byte_offset == offset:  # the text before is all ASCII
        column = offset - line_start
    else:
        column = len(encode(text[line_start:offset]))
    return text.count("\n", 0, line_start), column


def _end_point(start: tuple[int, int], written: bytes) -> tuple[int, int]:
    """The point after `written`, placed at `start`."""
    rows = written.count(b"\n")
    if rows == 0:
        return start[0], start[1] + len(written)
    return start[0] + rows, len(written) - written.rfind(b"\n") - 1


@cache
def _parsing_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="infill-parse")


class SyntaxTree:
    """A document's tree, updated incrementally."""

    def __init__(self, language: tree_sitter.Language, text: str) -> None:
        self._parser = tree_sitter.Parser(language)
        self._tree: tree_sitter.Tree = self._parser.parse(encode(text))
        self._unparsed: str | None = None  # the text edited in since the last parse
        self._parsing: Future[tree_sitter.Tree] | None = None  # that parse, under way

    @property
    def tree(self) -> tree_sitter.Tree:
        """The tree of the current text, reparsed on first use after edits: a keystroke only
        records its edit, so that the request that follows it is not kept waiting."""
        if self._parsing is None and self._unparsed is not None:
            self._tree = self._parser.parse(encode(self._unparsed), self._tree)
            self._unparsed = None
        self._join()
        return self._tree

    def parse_ahead(self) -> None:
        """Start the reparse that the next use of the tree needs in a worker thread: tree-sitter
        lets go of the GIL while it parses, so a request's other work goes on meanwhile."""
        if self._parsing is None and self._unparsed is not None:
            data = encode(self._unparsed)
            self._parsing = _parsing_thread().submit(self._parser.parse, data, self._tree)
            self._unparsed = None

    def _join(self) -> None:
        """Wait for the parse under way: the tree and the parser are not touched meanwhile."""
        if self._parsing is not None:
            self._tree = self._parsing.result()
            self._parsing = None

    def apply_edit(self, old_text: str, start: int, old_end: int, new_text: str) -> None:
        """Follow one edit: old_text[start:old_end] was replaced, giving `new_text`.

        The work is proportional to the edited text, except for counting line feeds before it
        and, in a document that is not all ASCII, encoding the shorter side of the text around
        it; the reparse waits for the next use of the tree.
        """
        self._join()
        new_end = old_end + len(new_text) - len(old_text)
        removed = encode(old_text[start:old_end])
        inserted = encode(new_text[start:new_end])
        if new_text.isascii():  # bytes are code points
            start_byte = start
        elif start <= len(new_text) - new_end:
            start_byte = len(encode(new_text[:start]))
        else:
            tail = len(encode(new_text[new_end:]))
            start_byte = len(encode(new_text)) - tail - len(inserted)
        start_point = _point(new_text, start, start_byte)
        self._tree.edit(
            start_byte=start_byte,
            old_end_byte=start_byte + len(removed),
            new_end_byte=start_byte + len(inserted),
            start_point=start_point,
            old_end_point=_end_point(start_point, removed),
            new_end_point=_end_point(start_point, inserted),
        )
        self._unparsed = new_text

    def root(self) -> tree_sitter.Node:
        return self.tree.root_node
