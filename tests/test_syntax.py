"""Syntax trees: language detection, and incremental updates that equal a fresh parse."""

from __future__ import annotations

import pytest
import tree_sitter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infill.context.syntax import (
    LANGUAGE_NAMES,
    SyntaxTree,
    get_language,
    language_family,
    language_name,
)


@pytest.mark.parametrize(
    ("language_id", "path", "expected"),
    [
        ("python", None, "python"),
        ("javascriptreact", None, "javascript"),
        ("typescript", "/a/b.ts", "typescript"),
        ("typescriptreact", None, "tsx"),
        ("csharp", None, "c_sharp"),
        ("shellscript", None, "bash"),
        ("sh", None, "bash"),
        ("cpp", None, "cpp"),
        ("plaintext", "/src/main.go", "go"),  # an unknown languageId: the extension decides
        (None, "/src/lib.rs", "rust"),
        (None, "/src/App.JAVA", "java"),
        (None, "/src/x.h", "c"),
        (None, "/src/x.hpp", "cpp"),
        (None, "/src/x.cs", "c_sharp"),
        (None, "/src/x.mjs", "javascript"),
        (None, "/src/x.cts", "typescript"),
        (None, "/src/x.pyi", "python"),
        (None, "/src/x.rb", "ruby"),
        (None, "/src/x.php", "php"),
        (None, "/src/x.lua", "lua"),
        (None, "/src/run.bash", "bash"),
        (None, "/src/notes.txt", None),
        (None, "/src.d/Makefile", None),  # the dot is in a folder name, not the file's
        ("markdown", None, None),
        (None, None, None),
    ],
)
def test_language_name(language_id: str | None, path: str | None, expected: str | None) -> None:
    assert language_name(language_id, path) == expected


def test_every_language_loads_once() -> None:
    for name in LANGUAGE_NAMES:
        language = get_language(name)
        assert language is not None, name
        assert get_language(name) is language
    assert get_language("cobol") is None


def test_language_family() -> None:
    assert language_family("typescript") == language_family("javascript") == "js"
    assert language_family("tsx") == "js"
    assert language_family("cpp") == language_family("c") == "c"
    assert language_family("go") == "go"
    assert language_family(None) == "text"


def test_rows_advance_at_line_feeds_only() -> None:
    """What tree-sitter does with "\\r": a plain byte of its row, in "\\r\\n" and alone."""
    tree = SyntaxTree(_language("python"), "a = 1\r\nb = 2\rc = 3\n")
    second = tree.root().children[1]
    assert second.start_point == (1, 0)
    assert second.end_point.row == 1  # "b = 2\rc = 3" is on one row
    assert tree.root().end_point == (2, 0)


SNIPPETS = [
    "def f(x):\n    return x\n",
    "class A:\n    pass\n",
    "if a:\n    b = [1, 2]\n",
    "function g(y) { return y; }\n",
    "const o = {a: 1};\n",
    "x = '漢'",
    "foo",
    "bar_2",
    " ",
    "    ",
    "\n",
    "\r\n",
    "\r",
    "é",
    "😀",
    "漢",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ":",
    "'",
    '"',
    "#",
    "//",
    "=",
    ",",
]

texts = st.lists(st.sampled_from(SNIPPETS), max_size=12).map("".join)


def _language(name: str) -> tree_sitter.Language:
    language = get_language(name)
    assert language is not None
    return language


def _nodes(tree: tree_sitter.Tree) -> list[tuple[object, ...]]:
    """Every node, named or not, with its byte range and points, in document order."""
    found: list[tuple[object, ...]] = []
    cursor = tree.walk()
    while True:
        node = cursor.node
        assert node is not None
        found.append((node.type, node.start_byte, node.end_byte, node.start_point, node.end_point))
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return found


def _assert_edited_positions(old_tree: tree_sitter.Tree, text: str, new_end: int) -> None:
    """The edit moved the old tree's nodes after it to where they are in the new text: the
    points given to `Tree.edit` are right (a reparse would mostly hide wrong ones)."""
    data = text.encode("utf-8", "surrogatepass")
    new_end_byte = len(text[:new_end].encode("utf-8", "surrogatepass"))
    for _, start_byte, end_byte, start_point, end_point in _nodes(old_tree):
        if start_byte >= new_end_byte:
            assert start_point == _point(data, start_byte)
            assert end_point == _point(data, end_byte)


def _point(data: bytes, byte: int) -> tuple[int, int]:
    """tree-sitter's point of a byte offset: rows end at "\\n" only."""
    return data.count(b"\n", 0, byte), byte - (data.rfind(b"\n", 0, byte) + 1)


def _assert_same_as_fresh(tree: SyntaxTree, language: tree_sitter.Language, text: str) -> None:
    fresh = tree_sitter.Parser(language).parse(text.encode("utf-8", "surrogatepass"))
    root = tree.root()
    assert (root.start_byte, root.end_byte) == (
        fresh.root_node.start_byte,
        fresh.root_node.end_byte,
    )
    if fresh.root_node.has_error:
        # Error recovery depends on the parse history: tree-sitter promises the same tree for
        # valid code only. Broken code must still be covered whole, with its errors seen.
        assert root.has_error
        return
    assert str(root) == str(fresh.root_node)
    assert _nodes(tree.tree) == _nodes(fresh)


@pytest.mark.parametrize("name", ["python", "javascript"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=texts, data=st.data())
def test_incremental_updates_equal_a_fresh_parse(
    name: str, initial: str, data: st.DataObject
) -> None:
    language = _language(name)
    tree = SyntaxTree(language, initial)
    text = initial
    for _ in range(data.draw(st.integers(1, 6), label="edits")):
        start = data.draw(st.integers(0, len(text)), label="start")
        old_end = data.draw(st.integers(start, min(len(text), start + 8)), label="old_end")
        inserted = data.draw(texts, label="inserted")
        new_text = text[:start] + inserted + text[old_end:]
        old_tree = tree.tree
        tree.apply_edit(text, start, old_end, new_text)
        text = new_text
        _assert_same_as_fresh(tree, language, text)
        _assert_edited_positions(old_tree, text, start + len(inserted))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=texts, data=st.data())
def test_parsing_ahead_in_a_thread_gives_the_same_tree(initial: str, data: st.DataObject) -> None:
    """Reparses started in the worker thread (`parse_ahead`) between edits, with more edits
    coming before their trees are used: the tree in the end is a fresh parse's."""
    language = _language("python")
    tree = SyntaxTree(language, initial)
    text = initial
    for _ in range(data.draw(st.integers(1, 6), label="edits")):
        start = data.draw(st.integers(0, len(text)), label="start")
        old_end = data.draw(st.integers(start, min(len(text), start + 8)), label="old_end")
        new_text = text[:start] + data.draw(texts, label="inserted") + text[old_end:]
        tree.apply_edit(text, start, old_end, new_text)
        text = new_text
        if data.draw(st.booleans(), label="parse ahead"):
            tree.parse_ahead()
    _assert_same_as_fresh(tree, language, text)


def test_lone_surrogates_are_parsed() -> None:
    """JSON can carry a lone surrogate; it is encoded as the document store counts it."""
    text = "x = '\ud800'\ny = 1\n"
    tree = SyntaxTree(_language("python"), text)
    new_text = text + "z = 2\n"
    tree.apply_edit(text, len(text), len(text), new_text)
    _assert_same_as_fresh(tree, _language("python"), new_text)


def test_edits_reuse_the_old_tree() -> None:
    """Unchanged functions keep their nodes: the reparse started from the old tree."""
    language = _language("javascript")
    text = "".join(f"function f{i}(x) {{\n  return x + {i};\n}}\n" for i in range(20))
    tree = SyntaxTree(language, text)
    old_tree = tree.tree  # kept alive, so that no later tree can reuse its nodes' memory
    old_ids = {n.id for n in _inner_nodes(old_tree)}
    at = text.index("\n") + 1
    new_text = text[:at] + "  y = 2;\n" + text[at:]
    tree.apply_edit(text, at, at, new_text)
    fresh = tree_sitter.Parser(language).parse(new_text.encode())
    assert sum(n.id in old_ids for n in _inner_nodes(tree.tree)) > 50
    assert not any(n.id in old_ids for n in _inner_nodes(fresh))
    # And the changed ranges cover only the edited function.
    (changed,) = old_tree.changed_ranges(tree.tree)
    assert changed.end_point.row <= 2


def _inner_nodes(tree: tree_sitter.Tree) -> list[tree_sitter.Node]:
    """Nodes with children: tree-sitter stores small leaves inline, so their ids repeat."""
    found = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.child_count:
            found.append(node)
            stack.extend(node.children)
    return found
