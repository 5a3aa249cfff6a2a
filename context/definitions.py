"""Definitions in source files, and the names near the cursor whose definitions the model needs.

Definitions come from the grammar modules' own tag queries (tags.scm: `@definition.function`,
`@name`, …), with small queries of ours where a module has none (C#, bash) or misses common kinds
(TypeScript types and enums, constants). Lines are counted at "\\r\\n", "\\r" and "\\n", as in
`document.py`, from byte offsets: tree-sitter's rows count "\\n" only.
"""

from __future__ import annotations

import importlib
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import tree_sitter

from infill.context.syntax import encode, get_language

_JS_CONSTANTS = """
(program (lexical_declaration "const" (variable_declarator name: (identifier) @name)
  @definition.constant))
(program (export_statement (lexical_declaration "const" (variable_declarator
  name: (identifier) @name) @definition.constant)))
"""
_TS_TYPES = """
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
"""
# Ours, for what the modules' tag queries lack.
_OWN_QUERIES = {
    "javascript": _JS_CONSTANTS,
    "typescript": _JS_CONSTANTS + _TS_TYPES,
    "tsx": _JS_CONSTANTS + _TS_TYPES,
    "go": "(source_file (const_declaration (const_spec name: (identifier) @name)"
    " @definition.constant))",
    "rust": """
(const_item name: (identifier) @name) @definition.constant
(static_item name: (identifier) @name) @definition.constant
""",
    "java": """
(enum_declaration name: (identifier) @name) @definition.enum
(record_declaration name: (identifier) @name) @definition.class
(annotation_type_declaration name: (identifier) @name) @definition.interface
""",
    "c": "(preproc_def name: (identifier) @name value: (_)) @definition.constant",
    "cpp": "(preproc_def name: (identifier) @name value: (_)) @definition.constant",
    "c_sharp": """
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(struct_declaration name: (identifier) @name) @definition.struct
(interface_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(delegate_declaration name: (identifier) @name) @definition.type
(method_declaration name: (identifier) @name) @definition.method
(namespace_declaration name: (_) @name) @definition.module
""",
    "ruby": "(program (assignment left: (constant) @name) @definition.constant)",
    "php": """
(enum_declaration name: (name) @name) @definition.enum
(const_declaration (const_element (name) @name)) @definition.constant
""",
    "bash": "(function_definition name: (word) @name) @definition.function",
}
# TypeScript's tags.scm covers only what it adds to JavaScript's.
_TAG_MODULES = {
    "typescript": ("tree_sitter_javascript", "tree_sitter_typescript"),
    "tsx": ("tree_sitter_javascript", "tree_sitter_typescript"),
}

# Kinds that say more than the tag's: Rust's tags.scm calls a struct a "class", C's an enum "type".
_NODE_KINDS = {
    "struct_item": "struct",
    "struct_specifier": "struct",
    "enum_item": "enum",
    "enum_specifier": "enum",
    "union_item": "union",
    "type_item": "type",
}
_GO_TYPE_KINDS = {"struct_type": "struct", "interface_type": "interface"}
_CLASS_KINDS = frozenset({"class", "interface", "struct", "enum", "union"})
_FUNCTION_KINDS = frozenset({"function", "method"})
# A definition inside one of these is shown with it, not on its own.
_LEAF_KINDS = _FUNCTION_KINDS | {"constant"}
_KIND_PRIORITY = {"constant": 0, "method": 2}  # when one node is tagged twice; others 1

# Statements that only wrap a definition (decorators, `export`, `template <…>`, `type (…)`): the
# definition starts where they do, and its doc comment is their sibling.
_WRAPPERS = frozenset(
    {
        "decorated_definition",
        "export_statement",
        "template_declaration",
        "lexical_declaration",
        "variable_declaration",
        "type_declaration",
        "const_declaration",
        "expression_statement",
    }
)
# How deep in the tree a definition is looked for (a method in a class in a namespace is at 5):
# deeper ones are local to something, and the query need not visit function bodies.
_MAX_DEPTH = 10
_CLOSERS = frozenset({"}", "};", "end"})
_EOL = re.compile(r"\r\n|\r|\n")
_EOL_BYTES = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Definition:
    """A definition as the symbol index keeps it and the prompt shows it."""

    name: str
    kind: str  # "function", "method", "class", "struct", "interface", "enum", "type", …
    path: str
    start_line: int  # 0-based, with its decorators, attributes and doc comment
    end_line: int  # 0-based, inclusive
    text: str  # signature and docstring (or first lines), or a class and its members' signatures


@cache
def _definition_query(name: str) -> tree_sitter.Query | None:
    language = get_language(name)
    if language is None:
        return None
    parts = []
    for module_name in _TAG_MODULES.get(name, (f"tree_sitter_{name}",)):
        tags = getattr(importlib.import_module(module_name), "TAGS_QUERY", None)
        if tags:
            parts.append(tags)
    parts.append(_OWN_QUERIES.get(name, ""))
    source = "\n".join(parts).encode()
    query = tree_sitter.Query(language, source.decode())
    # The tags' references (calls, type uses) are most of the matches, and of no use here.
    for index in range(query.pattern_count):
        pattern = source[query.start_byte_for_pattern(index) : query.end_byte_for_pattern(index)]
        if b"@definition." not in pattern:
            query.disable_pattern(index)
    return query


class _Source:
    """A source's bytes and lines, and the lines of nodes.

    With "\\n" and "\\r\\n" line ends tree-sitter's rows are the lines; a lone "\\r" ends a
    line too, but not a row, so then lines are found from byte offsets.
    """

    def __init__(self, text: str) -> None:
        self.data = encode(text)
        self.starts: list[int] = []  # byte offsets of the lines, when rows are not lines
        if "\r" not in text:
            self.lines = text.split("\n")
        elif text.count("\r") == text.count("\r\n"):
            self.lines = text.replace("\r\n", "\n").split("\n")
        else:
            self.lines = _EOL.split(text)
            self.starts = [0, *(m.end() for m in _EOL_BYTES.finditer(self.data))]

    def _line(self, byte: int) -> int:
        return bisect_right(self.starts, byte) - 1

    def first_line(self, node: tree_sitter.Node) -> int:
        return self._line(node.start_byte) if self.starts else node.start_point.row

    def last_line(self, node: tree_sitter.Node) -> int:
        """The line of the node's last byte (a line comment may end with its line's "\\n")."""
        if self.starts:
            return self._line(max(node.end_byte - 1, node.start_byte))
        end = node.end_point
        return end.row - 1 if end.column == 0 and end.row > node.start_point.row else end.row

    def starts_line(self, node: tree_sitter.Node) -> bool:
        """Whether only blanks precede the node on its line."""
        if self.starts:
            line_start = self.starts[self._line(node.start_byte)]
        else:
            line_start = node.start_byte - node.start_point.column
        return not self.data[line_start : node.start_byte].strip()

    def text(self, node: tree_sitter.Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _outer(node: tree_sitter.Node) -> tree_sitter.Node:
    """The whole definition around a tagged node: C's declarator up to its function, and any
    wrapper that holds this definition alone (a decorated one, `export`, …)."""
    while node.type.endswith("declarator") and node.parent is not None:
        node = node.parent
    while (parent := node.parent) is not None and parent.type in _WRAPPERS:
        if sum(1 for child in parent.named_children if child.type == node.type) > 1:
            break
        node = parent
    return node


def _first_line(node: tree_sitter.Node, src: _Source) -> int:
    """First line of `node` with the comments and attributes right above it."""
    first = src.first_line(node)
    prev = node.prev_named_sibling
    while prev is not None and ("comment" in prev.type or prev.type == "attribute_item"):
        if src.last_line(prev) < first - 1 or not src.starts_line(prev):
            break
        first = src.first_line(prev)
        prev = prev.prev_named_sibling
    return first


def _body(node: tree_sitter.Node) -> tree_sitter.Node | None:
    while node.type in _WRAPPERS:
        inner = node.named_children[-1] if node.named_child_count else None
        if inner is None:
            return None
        node = inner
    return node.child_by_field_name("body")


def _signature_end(start_line: int, body: tree_sitter.Node, src: _Source) -> int:
    """Last line of a signature: the line its body opens on, or the one before if the body
    starts its line (Python's block, an Allman-style brace)."""
    line = src.first_line(body)
    if line > start_line and src.starts_line(body):
        line -= 1
    return line


def _docstring_end(body: tree_sitter.Node, src: _Source) -> int | None:
    first = body.named_children[0] if body.named_child_count else None
    if first is not None and first.type == "expression_statement" and first.named_child_count:
        if first.named_children[0].type == "string":
            return src.last_line(first)
    return None


def _function_text(
    node: tree_sitter.Node, first: int, last: int, src: _Source, max_lines: int
) -> str:
    """The whole function if short; else its signature and docstring or doc comment, if it has
    one, or else its first lines."""
    end = first + max_lines - 1
    body = _body(node)
    if last > end and body is not None:
        documented = first < src.first_line(node)  # a comment above it
        doc_end = _docstring_end(body, src)
        if doc_end is not None or documented:
            end = max(_signature_end(src.first_line(node), body, src), doc_end or 0)
    return "\n".join(src.lines[first : min(end, last, first + max_lines - 1) + 1])


def _class_text(node: tree_sitter.Node, first: int, last: int, src: _Source, max_lines: int) -> str:
    """The whole class if short; else its header, docstring, members' signatures and fields."""
    body = _body(node)
    if last - first < max_lines or body is None:
        return "\n".join(src.lines[first : min(last, first + max_lines - 1) + 1])
    shown = list(range(first, _signature_end(src.first_line(node), body, src) + 1))
    closer = last if src.lines[last].strip() in _CLOSERS else None
    budget = max_lines - (closer is not None)
    doc_end = _docstring_end(body, src)
    if doc_end is not None:
        shown.extend(range(src.first_line(body), doc_end + 1))
    for member in body.named_children:
        if len(shown) >= budget:
            break
        member_first = src.first_line(member)
        if "comment" in member.type or (shown and member_first <= shown[-1]):
            continue
        member_body = _body(member)
        if member_body is not None:
            member_last = _signature_end(member_first, member_body, src)
        else:  # a field, a bodiless signature: a long initializer shows its first line
            member_last = src.last_line(member)
            if member_last - member_first > 1:
                member_last = member_first
        shown.extend(range(member_first, member_last + 1))
    shown = shown[:budget]
    if closer is not None:
        shown.append(closer)
    return "\n".join(src.lines[line] for line in shown)


def extract_definitions(
    name: str, source: str, path: str, tree: tree_sitter.Tree | None = None, max_lines: int = 12
) -> list[Definition]:
    """Top-level and class-level definitions of `source` in language `name`, in source order;
    [] for a language without a grammar. Never raises on broken code."""
    query = _definition_query(name)
    language = get_language(name)
    if query is None or language is None:
        return []
    src = _Source(source)
    if tree is None:
        tree = tree_sitter.Parser(language).parse(src.data)
    # One entry per definition: (start, -end, name) -> (kind, node).
    found: dict[tuple[int, int, str], tuple[str, tree_sitter.Node]] = {}
    cursor = tree_sitter.QueryCursor(query)
    cursor.set_max_start_depth(_MAX_DEPTH)
    for _, captures in cursor.matches(tree.root_node):
        names = captures.get("name")
        tagged = next((c for c in captures if c.startswith("definition.")), None)
        if not names or tagged is None:
            continue
        node = captures[tagged][0]
        kind = _NODE_KINDS.get(node.type, tagged.removeprefix("definition."))
        if node.type == "type_spec" and (go_type := node.child_by_field_name("type")):
            kind = _GO_TYPE_KINDS.get(go_type.type, kind)
        outer = _outer(node)
        key = (outer.start_byte, -outer.end_byte, src.text(names[0]))
        previous = found.get(key)
        if previous is None or _KIND_PRIORITY.get(kind, 1) > _KIND_PRIORITY.get(previous[0], 1):
            found[key] = (kind, outer)
    definitions: list[Definition] = []
    open_kinds: list[tuple[int, str]] = []  # (end byte, kind) of the definitions around this one
    for (start, _, def_name), (kind, outer) in sorted(found.items()):
        while open_kinds and open_kinds[-1][0] <= start:
            open_kinds.pop()
        if open_kinds and open_kinds[-1][1] in _LEAF_KINDS:
            continue  # local to a function (or part of a constant): not worth a lookup
        around = open_kinds[-1][1] if open_kinds else None
        if kind == "function" and around in _CLASS_KINDS:
            kind = "method"
        elif kind == "method" and around == "module":
            kind = "function"  # Rust's tags.scm calls every `fn` in braces a method
        open_kinds.append((outer.end_byte, kind))
        first, last = _first_line(outer, src), src.last_line(outer)
        make_text = _class_text if kind in _CLASS_KINDS or kind == "module" else _function_text
        text = make_text(outer, first, last, src, max_lines)
        definitions.append(Definition(def_name, kind, path, first, last, text))
    return definitions


# -- names near the cursor -------------------------------------------------------------------

_KEYWORDS = frozenset(
    """
    abstract and as assert async await auto bool boolean break byte case catch char class const
    continue def default defer del delete do double elif else elsif end enum except export
    extends extern false final finally float fn for foreach from func function go goto if impl
    implements import in instanceof int interface is lambda let local long loop match mod module
    mut namespace new nil none nonlocal not null of or override package pass private protected
    pub public raise readonly ref require return self static string struct super switch then this
    throw throws trait true try type typeof undefined union unless unsigned until use using var
    void volatile when where while with yield None True False Self cls echo fi done esac
    """.split()
)
_SELF_NAMES = frozenset({"self", "this", "cls", "Self"})
_IDENTIFIER = re.compile(r"(?!\d)\w+")

_NAME_TYPES = frozenset(
    {
        "identifier",
        "property_identifier",
        "field_identifier",
        "type_identifier",
        "shorthand_property_identifier",
        "namespace_identifier",
        "package_identifier",
        "constant",
        "name",
        "word",
        "this",
        "self",
    }
)
_CALL_TYPES = frozenset(
    {
        "call",
        "call_expression",
        "method_invocation",
        "invocation_expression",
        "new_expression",
        "object_creation_expression",
        "function_call_expression",
        "member_call_expression",
        "nullsafe_member_call_expression",
        "scoped_call_expression",
        "function_call",
        "macro_invocation",
        "command",
        "composite_literal",
        "struct_expression",
    }
)
_CALLEE_FIELDS = frozenset({"function", "constructor", "method", "name", "type", "macro"})
_MEMBER_TYPES = frozenset(
    {
        "attribute",
        "member_expression",
        "selector_expression",
        "field_expression",
        "member_access_expression",
        "nullsafe_member_access_expression",
        "field_access",
        "dot_index_expression",
        "method_index_expression",
        "scope_resolution",
    }
)
_MEMBER_FIELDS = frozenset({"attribute", "property", "field", "name", "method"})
_EXPRESSION_TYPES = _CALL_TYPES | _MEMBER_TYPES
_RECEIVER_FIELDS = frozenset(
    {"object", "operand", "value", "expression", "table", "receiver", "scope", "argument"}
)
_TYPE_FIELDS = frozenset(
    {"type", "return_type", "returns", "result", "superclass", "superclasses", "interfaces"}
)
_DECLARED_FIELDS = ("name", "pattern", "left", "declarator")
_CLASS_NODE_TYPES = frozenset(
    {
        "class_definition",
        "class_declaration",
        "abstract_class_declaration",
        "class_specifier",
        "struct_specifier",
        "struct_item",
        "impl_item",
        "class",
        "struct_declaration",
        "record_declaration",
        "trait_declaration",
    }
)
_IMPORT_TYPES = frozenset(
    {
        "import_statement",
        "import_from_statement",
        "import_declaration",
        "use_declaration",
        "using_directive",
        "namespace_use_declaration",
    }
)

_Ancestors = list[tuple[tree_sitter.Node, str | None]]  # each node and its field in its parent


def _region(source: str, offset: int, max_lines_back: int) -> tuple[int, int]:
    """Code points from the start of the line `max_lines_back` above the cursor's to the end of
    the cursor's line."""
    has_cr = "\r" in source

    def line_start(pos: int) -> int:
        cut = source.rfind("\n", 0, pos)
        if has_cr:
            cut = max(cut, source.rfind("\r", 0, pos))
        return cut + 1

    start = line_start(offset)
    for _ in range(max_lines_back):
        if start == 0:
            break
        start = line_start(start - 2 if source.startswith("\r\n", start - 2) else start - 1)
    end = source.find("\n", offset)
    end = len(source) if end < 0 else end
    if has_cr and 0 <= (cr := source.find("\r", offset, end)):
        end = cr
    return start, end


def _walk(
    root: tree_sitter.Node, start: int, end: int
) -> Iterator[tuple[tree_sitter.Node, str | None, _Ancestors]]:
    """The nodes overlapping bytes [start, end) in document order, each with its field name and
    its ancestors from the root (so that a class around the region is among them)."""
    cursor = root.walk()
    ancestors: _Ancestors = [(root, None)]
    if cursor.goto_first_child_for_byte(start) is None:
        return
    while True:
        node = cursor.node
        if node is not None and node.start_byte < end:
            field = cursor.field_name
            yield node, field, ancestors
            if cursor.goto_first_child_for_byte(start) is not None:
                ancestors.append((node, field))
                continue
            if cursor.goto_next_sibling():
                continue
        # This level is done: on to the next sibling of the nearest ancestor that has one.
        while True:
            cursor.goto_parent()
            ancestors.pop()
            if len(ancestors) == 0:
                return
            if cursor.goto_next_sibling():
                break


def _leaf_name(node: tree_sitter.Node | None) -> tree_sitter.Node | None:
    """The name leaf of a declared target: itself, its `name`, or what it alone wraps."""
    for _ in range(3):
        if node is None or node.type in _NAME_TYPES:
            return node
        only = node.named_children[0] if node.named_child_count == 1 else None
        node = node.child_by_field_name("name") or only
    return None


def _type_name(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The first name in a type (`Foo` of `*Foo`, `Foo<T>`, `: Foo`)."""
    for _ in range(4):
        if node.type in _NAME_TYPES:
            return node
        if not node.named_child_count:
            return None
        node = node.named_children[0]
    return None


def _declared_type(node: tree_sitter.Node) -> tuple[str, str] | None:
    """(variable, type name) when `node` declares a variable with an annotated type, or assigns
    it a constructor call (`x: Foo`, `Foo x`, `x = Foo(…)`, `x = new Foo(…)`)."""
    # The type first: most nodes have neither a type nor a call for a value, and this runs
    # for every node near the cursor.
    type_node = node.child_by_field_name("type")
    found = _type_name(type_node) if type_node is not None else None
    if found is None:
        value = node.child_by_field_name("value") or node.child_by_field_name("right")
        if value is None or value.type not in _CALL_TYPES:
            return None
        callee = next(filter(None, map(value.child_by_field_name, _CALLEE_FIELDS)), None)
        found = _leaf_name(callee)
        if found is None:
            return None
    target = next(filter(None, map(node.child_by_field_name, _DECLARED_FIELDS)), None)
    if target is None and node.type.endswith("parameter") and node.named_child_count:
        target = node.named_children[0]  # Python's typed_parameter names no field
    variable = _leaf_name(target)
    if variable is None:
        return None
    type_name = _node_text(found)
    return (_node_text(variable), type_name) if type_name[:1].isupper() else None


def _node_text(node: tree_sitter.Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _imported_names(root: tree_sitter.Node) -> set[str]:
    names: set[str] = set()
    for statement in root.named_children:
        if statement.type in _IMPORT_TYPES:
            stack = [statement]
            while stack:
                node = stack.pop()
                if node.type in _NAME_TYPES:
                    names.add(_node_text(node))
                stack.extend(node.named_children)
    return names


def _enclosing_class(ancestors: _Ancestors) -> str | None:
    for node, _ in reversed(ancestors):
        if node.type in _CLASS_NODE_TYPES:
            name = node.child_by_field_name("name") or node.child_by_field_name("type")
            return _node_text(name) if name is not None else None
    return None


def _role(field: str | None, ancestors: _Ancestors) -> str | None:
    """What a name leaf is to the code around it: "call", "attribute", "receiver", "type"."""
    level = len(ancestors) - 1
    # A wrapper around the name alone (Python's `type`, bash's `command_name`) stands for it.
    while level > 0:
        wrapper = ancestors[level][0]
        if wrapper.named_child_count != 1 or wrapper.type in _EXPRESSION_TYPES:
            break
        field = ancestors[level][1]
        level -= 1
    parent, parent_field = ancestors[level]
    if parent.type in _CALL_TYPES and field in _CALLEE_FIELDS:
        return "call"
    if parent.type in _MEMBER_TYPES and field in _MEMBER_FIELDS:
        called = level > 0 and ancestors[level - 1][0].type in _CALL_TYPES
        return "call" if called and parent_field in _CALLEE_FIELDS else "attribute"
    if parent.type in _EXPRESSION_TYPES and field in _RECEIVER_FIELDS:
        return "receiver"
    if field in _TYPE_FIELDS or parent_field in _TYPE_FIELDS:
        return "type"
    return None


def identifiers_near_cursor(
    name: str | None,
    source: str,
    offset: int,
    tree: tree_sitter.Tree | None = None,
    max_lines_back: int = 30,
) -> list[str]:
    """Names whose definitions the model likely needs, nearest to the cursor first: what is
    called, attributes, types, imported names and capitalized ones in the `max_lines_back`
    lines above the cursor and on its line; a receiver's type when evident (`self`, an
    annotation or a constructor call in sight). Without a tree, all identifiers there but
    keywords. `offset` is a code-point offset into `source`."""
    offset = max(0, min(offset, len(source)))
    start, end = _region(source, offset, max_lines_back)
    found: list[tuple[int, int, str]] = []  # (distance to the cursor, order, name)
    if tree is None:
        for match in _IDENTIFIER.finditer(source, start, end):
            if match.group() not in _KEYWORDS:
                distance = offset - match.end() if match.end() <= offset else match.start() - offset
                found.append((max(distance, 0), len(found), match.group()))
    else:
        start_byte = len(encode(source[:start]))
        cursor = start_byte + len(encode(source[start:offset]))
        end_byte = cursor + len(encode(source[offset:end]))
        imported = _imported_names(tree.root_node)
        types: dict[str, str] = {}
        for node, field, ancestors in _walk(tree.root_node, start_byte, end_byte):
            if node.child_count:
                if declared := _declared_type(node):
                    types[declared[0]] = declared[1]
                continue
            if node.type not in _NAME_TYPES:
                continue
            if len(ancestors) > 1 and ancestors[1][0].type in _IMPORT_TYPES:
                continue  # an import statement does not use the names it imports
            text = _node_text(node)
            if node.end_byte <= cursor:
                distance = cursor - node.end_byte
            else:
                distance = max(node.start_byte - cursor, 0)
            role = _role(field, ancestors)
            keep = role in ("call", "attribute", "type") or text in imported or text[:1].isupper()
            if keep and text not in _KEYWORDS and text not in _SELF_NAMES:
                found.append((distance, len(found), text))
            if role == "receiver":
                if text in _SELF_NAMES or node.type in _SELF_NAMES:
                    receiver_type = _enclosing_class(ancestors)
                else:
                    receiver_type = types.get(text)
                if receiver_type:
                    found.append((distance, len(found), receiver_type))
    return list(dict.fromkeys(text for _, _, text in sorted(found)))
