"""The document as tree-sitter sees it, with and without the completion at the cursor."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import lru_cache

import tree_sitter

from infill.context.syntax import get_language
from infill.postprocess.mode import BRACKETS, document_balance, indent_width, scope_floor

# One parser per thread and language: a parser is not to be used by two threads at once, and
# the document's tree is parsed in a worker thread while the event loop parses completions.
_parsers = threading.local()


def _parser(language: str) -> tree_sitter.Parser | None:
    mine: dict[str, tree_sitter.Parser | None] = _parsers.__dict__.setdefault("by_language", {})
    if language not in mine:
        grammar = get_language(language)
        mine[language] = tree_sitter.Parser(grammar) if grammar is not None else None
    return mine[language]


def has_grammar(language: str | None) -> bool:
    return language is not None and _parser(language) is not None


@lru_cache(maxsize=4)
def original_tree(prefix: str, suffix: str, language: str | None) -> tree_sitter.Tree | None:
    """The document without the completion (cached: a stream asks for it once per line)."""
    parser = _parser(language) if language else None
    return parser.parse((prefix + suffix).encode("utf-8")) if parser is not None else None


# Blocks of members, entries or fields rather than statements: their last line written, more
# of the same may follow.
_MEMBER_LISTS = frozenset(
    {
        "field_declaration_list",
        "interface_body",
        "class_body",
        "declaration_list",
        "enumerator_list",
        "enum_body",
        "enum_member_declaration_list",
        "object_type",
        "object",
        "dictionary",
        "array",
        "list",
        "initializer_list",
    }
)


def in_member_list(prefix: str, suffix: str, language: str | None) -> bool:
    """Whether the cursor's line is in a block of members or entries (a struct's fields, an
    interface's members, an object's properties), not of statements."""
    tree = original_tree(prefix, suffix, language)
    if tree is None:
        return False
    start, row = len(prefix.encode("utf-8")), prefix.count("\n")
    node: tree_sitter.Node | None = tree.root_node.descendant_for_byte_range(start, start)
    while node is not None and not node.start_point[0] < row < node.end_point[0]:
        node = node.parent
    return node is not None and node.type in _MEMBER_LISTS


def _point(text: bytes) -> tuple[int, int]:
    return text.count(b"\n"), len(text) - (text.rfind(b"\n") + 1)


@lru_cache(maxsize=8)
def tree_with(
    prefix: str, completion: str, suffix: str, language: str | None, replaced: str = ""
) -> tree_sitter.Tree | None:
    """The document with the completion inserted (in place of `replaced`, text right of the
    cursor), reparsed incrementally from the original (cached: the block cut and the error
    count look at the same text)."""
    before = original_tree(prefix, replaced + suffix, language)
    if before is None or language is None:
        return None
    head, inserted = prefix.encode("utf-8"), completion.encode("utf-8")
    start, (row, column) = len(head), _point(head)
    rows, last = _point(inserted)
    old_rows, old_last = _point(replaced.encode("utf-8"))
    tree = before.copy()
    tree.edit(
        start_byte=start,
        old_end_byte=start + len(replaced.encode("utf-8")),
        new_end_byte=start + len(inserted),
        start_point=(row, column),
        old_end_point=(row + old_rows, old_last if old_rows else column + old_last),
        new_end_point=(row + rows, last if rows else column + last),
    )
    parser = _parser(language)
    assert parser is not None
    return parser.parse(head + inserted + suffix.encode("utf-8"), tree)


def error_count(tree: tree_sitter.Tree) -> int:
    """ERROR and MISSING nodes in the tree; a node with an error that none of its children
    shows counts once: it has a MISSING node of a hidden kind (Python's `_newline` between
    `f(x)` and `f(x)` written on one line), which is not among `children`."""
    return sum(1 for _ in _errors(tree.root_node, hidden=True))


def _has_error_in(node: tree_sitter.Node, start: int, end: int) -> bool:
    """Whether an ERROR or MISSING node overlaps the bytes [start, end)."""
    return next(_errors(node, start, end), None) is not None


def _errors(
    node: tree_sitter.Node,
    start: int = -1,
    end: int | float = float("inf"),
    hidden: bool = False,
) -> Iterator[tree_sitter.Node]:
    """ERROR and MISSING nodes overlapping the bytes [start, end), only descending where
    tree-sitter says an error is; with `hidden`, also the nodes with an error none of their
    children shows (a hidden MISSING child)."""
    stack = [node]
    while stack:
        node = stack.pop()
        if node.end_byte <= start or node.start_byte >= end:
            continue
        if node.is_error or node.is_missing:
            yield node
        elif node.has_error:
            children = node.children
            if hidden and not any(child.has_error for child in children):
                yield node
            stack.extend(children)


def _only_comments(root: tree_sitter.Node, start: int, end: int) -> bool:
    """Whether the bytes [start, end) hold comments and blanks only."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.end_byte <= start or node.start_byte >= end or "comment" in node.type:
            continue
        if node.child_count == 0:
            return False
        stack.extend(node.children)
    return True


def _indentation(line: bytes) -> int:
    return len(line) - len(line.lstrip(b" \t"))


def block_end(
    prefix: str, completion: str, suffix: str, language: str | None, replaced: str = ""
) -> int | None:
    """Where, in `completion`, the construct it was meant to finish ends, when more of the
    completion follows: the model writing on past it.

    That construct is the innermost node around the cursor that starts on a line indented less
    than the cursor's column (a block after `if x:` or `{`; on an empty line, the body the
    line is in — not a statement that the completion merely continues). At column 0 the
    model chooses the level: the unit is the function or class the cursor is in. When the
    node ends with a closing token (`}`, `end`) that the document already has below the
    cursor, the completion stops in front of its own.

    Returns the cut (a character index into `completion`), len(completion) when the
    completion stays inside, or None when the tree cannot say (no grammar, or the parse is
    broken in the completion): the caller falls back to indentation.
    """
    tree = tree_with(prefix, completion, suffix, language, replaced)
    if tree is None:
        return None
    text = (prefix + completion + suffix).encode("utf-8")
    written = completion.encode("utf-8")
    start = len(prefix.encode("utf-8"))
    end = start + len(completion.rstrip().encode("utf-8"))
    if _has_error_in(tree.root_node, start, end):
        return None  # a construct still being written, or broken code: no trustworthy ends
    column = start - (text.rfind(b"\n", 0, start) + 1)
    # After code on the cursor's line (`if x:`, `foo(function() {`, a line that became a
    # block), what is being finished goes on past the line: not `self.x` in `if self.x(y):`.
    line_end = start + written.find(b"\n") if b"\n" in written else end
    past = line_end if text[start - column : start].strip() else start
    line_before = prefix[prefix.rfind("\n") + 1 :]
    floor = scope_floor(line_before, suffix) if column else None
    node = None
    if floor is not None and floor < indent_width(line_before):
        # A line of its own at the end of a nested block: the lines finishing the enclosing
        # ones down to the code below belong to it, up to the end of the definition.
        node = _enclosing(tree.root_node, start, past, lambda n: _finishes(n, floor, text))
    if node is None or node.parent is None:
        node = _enclosing(tree.root_node, start, past, lambda n: _encloses(n, start, column, text))
    if (node is None or node.parent is None) and column == 0:
        # Outside any definition the first one written is the unit.
        node = _first_definition(tree.root_node, start)
    if node is None or node.parent is None or node.end_byte >= end:
        return len(completion)  # the completion stays inside what encloses the cursor
    if _only_comments(tree.root_node, node.end_byte, end):
        return len(completion)  # a comment at column 0 ends no Python block: code decides
    cut = node.end_byte - start
    closer = node.children[-1] if node.children else None
    if (
        closer is not None
        and not closer.is_named
        and _closed_below(
            prefix,
            written[: closer.start_byte - start].decode(errors="ignore"),
            suffix,
            closer.type,
        )
    ):
        cut = closer.start_byte - start
    else:
        statement = _statement_of(node, text, end)
        if statement is None:
            return len(completion)  # the statement goes on past the completion
        cut = statement.end_byte - start
        # `};` `});` `),`: the punctuation that ends the statement the block is part of.
        cut += len(written[cut:]) - len(written[cut:].lstrip(b";,)]"))
        cut = _closing_lines(prefix, written, cut, suffix)
    return len(written[:cut].decode("utf-8", errors="ignore"))


def _closing_lines(prefix: str, written: bytes, cut: int, suffix: str) -> int:
    """`cut`, moved over the lines right after it that only close brackets the document
    leaves open: a file being written, the method finished, then its class."""
    while written.startswith(b"\n", cut):
        line_end = written.find(b"\n", cut + 1)
        line_end = len(written) if line_end == -1 else line_end
        line = written[cut + 1 : line_end].decode("utf-8", errors="ignore").strip()
        if not line or line.strip(")]};,"):
            break
        kept = written[:cut].decode("utf-8", errors="ignore")
        balance = document_balance(prefix, kept, suffix)
        if any(line.count(closer) > open_ for closer, open_ in zip(BRACKETS, balance, strict=True)):
            break
        cut = line_end
    return cut


def _statement_of(node: tree_sitter.Node, text: bytes, end: int) -> tree_sitter.Node | None:
    """The node, grown while code follows it on its last line: the statement a block is part
    of (`}, 1000);`, `})();`, `} catch (e) {`, `} while (n > 0);`, `} Point;`). None when that
    statement ends beyond `end`."""
    while True:
        line_end = text.find(b"\n", node.end_byte)
        rest = text[node.end_byte : min(end, len(text) if line_end == -1 else line_end)]
        if not rest.strip(b" \t;,)]"):
            return node
        parent = node.parent
        while parent is not None and parent.end_byte <= node.end_byte:
            parent = parent.parent
        if parent is None or parent.end_byte > end:
            return None
        node = parent


def _first_definition(root: tree_sitter.Node, start: int) -> tree_sitter.Node | None:
    """At column 0 outside any definition: the definition the completion starts with, if it
    does (the model writing a function, then the next one)."""
    # Not Node.first_named_child_for_byte: with no such child, py-tree-sitter wraps a null
    # node and the process crashes (the cursor at the end of the document).
    first = next(
        (c for c in root.named_children if c.end_byte > start and "comment" not in c.type), None
    )
    if first is None or not any(word in first.type for word in _DEFINITIONS):
        return None
    return first


# At column 0 the user has not chosen a level: the unit is the definition the cursor is in
# (a method, not a helper function nested in one).
_DEFINITIONS = ("function", "method", "class", "constructor", "impl", "interface", "struct")
_FUNCTIONS = ("function", "method", "constructor", "lambda", "closure")


def _enclosing(
    root: tree_sitter.Node, start: int, past: int, unit: Callable[[tree_sitter.Node], bool]
) -> tree_sitter.Node | None:
    """The innermost node around the cursor that ends past `past` and is a `unit`."""
    node: tree_sitter.Node | None = root.descendant_for_byte_range(start, start)
    while node is not None and not (
        node.start_byte < start < node.end_byte and node.end_byte > past and unit(node)
    ):
        node = node.parent
    return node


def _finishes(node: tree_sitter.Node, floor: int, text: bytes) -> bool:
    """Whether the node is what a completion allowed down to `floor` finishes: it starts
    less indented, or it is the definition the cursor is in (the outermost function: a
    helper nested in one is part of it)."""
    line_start = text.rfind(b"\n", 0, node.start_byte) + 1
    indentation = text[line_start : node.start_byte].decode("utf-8", errors="ignore")
    return indent_width(indentation) < floor or _is_unit(node)


def _encloses(node: tree_sitter.Node, start: int, column: int, text: bytes) -> bool:
    if not node.start_byte < start < node.end_byte:
        return False
    if column == 0:
        return _is_unit(node)
    return _start_indentation(text, node) < column


def _is_unit(node: tree_sitter.Node) -> bool:
    """A definition not nested in a function: a function, a method, a class."""
    return any(word in node.type for word in _DEFINITIONS) and not _in_function(node)


def _in_function(node: tree_sitter.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if any(word in parent.type for word in _FUNCTIONS):
            return True
        parent = parent.parent
    return False


def _start_indentation(text: bytes, node: tree_sitter.Node) -> int:
    line_start = text.rfind(b"\n", 0, node.start_byte) + 1
    return _indentation(text[line_start : node.start_byte])


def _closed_below(prefix: str, kept: str, suffix: str, closer: str) -> bool:
    """Whether the document already closes what the completion's `closer` would: counted,
    the brackets balance without it. (The tree cannot say: without the completion, a brace
    below pairs with whatever is open, the right block or not.)"""
    if closer not in BRACKETS:
        return False  # `end`, `"""`: kept
    kind = list(BRACKETS).index(closer)
    return document_balance(prefix, kept, suffix)[kind] <= 0
