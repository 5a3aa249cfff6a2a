"""Next edits that need no model: what the user's last change implies elsewhere in the document.

A name renamed at its definition or at one use implies the same rename at the other uses of the
old name in its scope. The change is followed as one span across keystrokes (`ChangeTracker`),
so that deleting "count" and typing "total" letter by letter reads as one rename; the syntax tree
of the current text (tree-sitter) says which occurrences are the same name: identifiers only, not
text in strings or comments, not attributes or fields of other objects, not keyword-argument
names, and not uses inside a nested function that declares a parameter of the same name.

A parameter added to a function's definition, or removed from it, implies the same argument
added (named as the parameter) or removed at the function's calls in the document; once the
user applies one of those, the others are proposed in turn (`ChangeTracker.plan`).

The same edit made on two lines in a row (the same text replaced by the same text, between the
same names) implies it at the other places that text stands: a mechanical change, such as a
typo fixed twice or `await ` put before two calls of one function (`LineEdit`).

Offsets are code points into Python strings, as in `document.py`; tree-sitter works in bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import tree_sitter

from infill.context.document import Edit
from infill.context.syntax import encode

_NAME = re.compile(r"(?:[^\W\d]|\$)[\w$]*")
_NAME_CHAR = re.compile(r"[\w$]")

# Nodes that open a scope for names, in the supported grammars: functions, closures, classes.
SCOPE_TYPES = frozenset(
    """
    function_definition lambda class_definition
    function_declaration function_expression function arrow_function method_definition
    generator_function_declaration generator_function class_declaration class
    method_declaration func_literal
    function_item closure_expression impl_item trait_item
    constructor_declaration lambda_expression method singleton_method
    """.split()
)
# (parent type, field): identifier nodes there name something else than a variable in scope.
_NOT_A_VARIABLE = frozenset(
    {
        ("attribute", "attribute"),  # Python: obj.count
        ("keyword_argument", "name"),  # Python: f(count=1)
    }
)


# (parent type, field) where an identifier declares a variable of the scope it is in.
_DECLARATIONS = frozenset(
    {
        ("assignment", "left"),  # Python
        ("variable_declarator", "name"),  # JavaScript, TypeScript, Java
        ("let_declaration", "pattern"),  # Rust
        ("var_spec", "name"),  # Go
        ("short_var_declaration", "left"),  # Go, via its expression_list
    }
)


@dataclass(frozen=True)
class Replacement:
    """text[start:end] becomes new_text (offsets into the current text)."""

    start: int
    end: int
    new_text: str


@dataclass(frozen=True)
class NextEdit:
    """One proposed edit and where the cursor goes once it is applied."""

    replacement: Replacement
    cursor: int
    reason: str


@dataclass(frozen=True)
class RecentChange:
    """The user's last change as one span: before[start:old_end] became after[start:new_end]."""

    before: str
    start: int
    old_end: int
    new_end: int
    typed: bool = False  # its last edit was one keystroke: a character typed or deleted


@dataclass(frozen=True)
class LineEdit:
    """A change within one line as a pattern: `old` became `new`, between the name characters
    `left` and `right` that touch it (parts of the names it changed)."""

    old: str
    new: str
    left: str
    right: str
    line: int

    def repeats(self, other: LineEdit) -> bool:
        """Whether this is `other` again, on another line."""
        same = (self.old, self.new, self.left, self.right)
        return same == (other.old, other.new, other.left, other.right) and self.line != other.line


# A shorter pattern (the names around the change with what it replaced) stands in too many
# places to be a change worth repeating: a comma added, a bracket removed.
MIN_PATTERN_CHARS = 3


def line_edit(change: RecentChange, text: str) -> LineEdit | None:
    """`change` (whose result is `text`) as a pattern, if it stays within one line and is
    specific enough to repeat."""
    old = change.before[change.start : change.old_end]
    new = text[change.start : change.new_end]
    if "\n" in old or "\n" in new:
        return None
    left_start = change.start
    while left_start > 0 and _NAME_CHAR.match(text[left_start - 1]):
        left_start -= 1
    right_end = change.new_end
    while right_end < len(text) and _NAME_CHAR.match(text[right_end]):
        right_end += 1
    left, right = text[left_start : change.start], text[change.new_end : right_end]
    if len((left + old + right).strip()) < MIN_PATTERN_CHARS:
        return None
    return LineEdit(old, new, left, right, text.count("\n", 0, change.start))


def repeat_line_edit(
    edit: LineEdit, change: RecentChange, text: str, root: tree_sitter.Node, cursor: int
) -> list[NextEdit]:
    """`edit` (the `change` just made) wherever its pattern stands whole in `text`: not
    inside a longer name, nor after a `.` (`count` is not `self.count`), not where an insertion
    was made already, and in the same syntax as where the user made it (`await ` put before
    calls of `fetch` is not put before `def fetch`)."""
    offsets = _Bytes(text)
    # The syntax at the names around the change (they are the same before and after it).
    if edit.right:
        kind = _syntax_at(root, offsets, change.new_end, change.new_end + len(edit.right))
    elif edit.left:
        kind = _syntax_at(root, offsets, change.start - len(edit.left), change.start)
    else:
        kind = _syntax_at(root, offsets, change.start, change.new_end)
    pattern = re.compile(
        r"(?<![\w$.])" + re.escape(edit.left + edit.old + edit.right) + r"(?![\w$])"
    )
    replacements = []
    for match in pattern.finditer(text):
        start = match.start() + len(edit.left)
        if change.start - len(edit.left) <= start <= change.new_end + len(edit.right):
            continue  # the change itself
        if not edit.old and (text.startswith(edit.new, start) or text.endswith(edit.new, 0, start)):
            continue  # inserted already
        if edit.right:
            anchor = (match.end() - len(edit.right), match.end())
        elif edit.left:
            anchor = (match.start(), start)
        else:
            anchor = (start, start + len(edit.old))
        if _syntax_at(root, offsets, *anchor) != kind:
            continue
        replacements.append(Replacement(start, start + len(edit.old), edit.new))
    return _in_order(replacements, cursor, "repeat")


def _syntax_at(root: tree_sitter.Node, offsets: _Bytes, start: int, end: int) -> tuple[str, str]:
    """The type of the smallest node holding text[start:end], and its parent's (for code:
    prose in a comment or a string is the same wherever it stands)."""
    node = root.named_descendant_for_byte_range(offsets.byte(start), offsets.byte(end))
    if node is None:
        return ("", "")
    if node.parent is None or "comment" in node.type or "string" in node.type:
        return (node.type, "")
    return (node.type, node.parent.type)


class ChangeTracker:
    """Keystrokes that touch the same span are one change; an edit elsewhere starts another."""

    def __init__(self, on_finished: Callable[[RecentChange, str], None] | None = None) -> None:
        """`on_finished(change, after)`: a change is done (an edit elsewhere began another);
        `after` is the text it left."""
        self.on_finished = on_finished
        self.change: RecentChange | None = None
        self.previous: LineEdit | None = None  # the change before, if a line edit
        # The calls a signature change left to update, and the edits proposed last: while the
        # user applies those, the plan goes on.
        self.plan: CallUpdate | None = None
        self.proposed: list[Replacement] = []

    def record(self, edit: Edit, text: str) -> None:
        """Follow one edit: edit.old_text[edit.start:edit.old_end] became text[start:new_end]."""
        if not any(_applies(edit.old_text, r, text) for r in self.proposed):
            self.plan = None
        self.proposed = []
        start, old_end, new_end = _trimmed(edit, text)
        if start == old_end == new_end:
            return
        # What the keystroke did: the change as sent, or for a client that sends the whole
        # document each time, what it changed in it.
        if edit.start == 0 and edit.old_end == len(edit.old_text):
            typed = (old_end - start) + (new_end - start) == 1
        else:
            typed = (edit.old_end - edit.start) + (edit.new_end - edit.start) == 1
        change = self.change
        if change is None or start > change.new_end or old_end < change.start:
            if change is not None:  # done: the text before this edit is its result
                self.previous = line_edit(change, edit.old_text)
                if self.on_finished is not None:
                    self.on_finished(change, edit.old_text)
            self.change = RecentChange(edit.old_text, start, old_end, new_end, typed)
            return
        # The union of both spans, in the text before this edit; its part after the earlier
        # change's end is unchanged text, at the same distance from the end in every version.
        union_end = max(change.new_end, old_end)
        self.change = RecentChange(
            change.before,
            min(change.start, start),
            union_end + change.old_end - change.new_end,
            union_end + (new_end - start) - (old_end - start),
            typed,
        )


def _applies(before: str, replacement: Replacement, after: str) -> bool:
    """Whether `after` is `before` with `replacement` applied."""
    grown = len(replacement.new_text) - (replacement.end - replacement.start)
    if len(after) - len(before) != grown:
        return False
    return after == before[: replacement.start] + replacement.new_text + before[replacement.end :]


def next_edits(
    tracker: ChangeTracker, text: str, root: tree_sitter.Node, cursor: int
) -> list[NextEdit]:
    """The edits the last change implies, the nearest after the cursor first: a rename's, else
    a signature change's (or the one whose calls the user is updating), else a line edit's
    made twice."""
    change = tracker.change
    if change is None:
        return []
    proposals = propose_renames(change, text, root, cursor)
    if not proposals:
        tracker.plan = signature_change(change, text, root, cursor) or tracker.plan
        proposals = tracker.plan.propose(text, root, cursor) if tracker.plan else []
    if not proposals and tracker.previous is not None:
        current = line_edit(change, text)
        if current is not None and current.repeats(tracker.previous):
            proposals = repeat_line_edit(current, change, text, root, cursor)
    tracker.proposed = [proposal.replacement for proposal in proposals]
    return proposals


def _trimmed(edit: Edit, text: str) -> tuple[int, int, int]:
    """The edit without the text it replaced by itself (clients may resend whole lines, or the
    whole document)."""
    start, old_end, new_end = edit.start, edit.old_end, edit.new_end
    old = edit.old_text
    start += common_length(old[start:old_end], text[start:new_end], from_end=False)
    same_end = common_length(old[start:old_end], text[start:new_end], from_end=True)
    return start, old_end - same_end, new_end - same_end


def common_length(a: str, b: str, from_end: bool) -> int:
    """How many characters `a` and `b` share at their start (or end): a binary search over
    slice comparisons, which run in C, rather than a loop over a resent document."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        same = a[-middle:] == b[-middle:] if from_end else a[:middle] == b[:middle]
        low, high = (middle, high) if same else (low, middle - 1)
    return low


class _Bytes:
    """Code-point offsets of one text as tree-sitter's byte offsets, and back."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = text.isascii()

    def byte(self, offset: int) -> int:
        return offset if self.ascii else len(encode(self.text[:offset]))

    def offset(self, node_byte: int, data: bytes) -> int:
        if self.ascii:
            return node_byte
        return len(data[:node_byte].decode("utf-8", "surrogatepass"))


def renamed_name(change: RecentChange, text: str) -> tuple[str, str, int, int] | None:
    """(old name, new name, start, end of the new name in `text`) when the change replaced one
    whole identifier by another, else None."""
    start = change.start
    while start > 0 and _NAME_CHAR.match(text[start - 1]):
        start -= 1
    end = change.new_end
    while end < len(text) and _NAME_CHAR.match(text[end]):
        end += 1
    old_end = end + change.old_end - change.new_end
    old, new = change.before[start:old_end], text[start:end]
    if old == new or not _NAME.fullmatch(old) or not _NAME.fullmatch(new):
        return None
    return old, new, start, end


def propose_renames(
    change: RecentChange, text: str, root: tree_sitter.Node, cursor: int
) -> list[NextEdit]:
    """The same rename at the other uses of the old name in scope, the nearest one after the
    cursor first, then from the scope's start. Nothing while the new name is still being
    typed (the last edit a keystroke, the cursor where it left it, in the name) or when the
    renamed text is not a variable's name."""
    renamed = renamed_name(change, text)
    if renamed is None:
        return []
    old, new, start, end = renamed
    if change.typed and start <= cursor <= end and cursor == change.new_end:
        return []
    offsets = _Bytes(text)
    site = root.named_descendant_for_byte_range(offsets.byte(start), offsets.byte(end))
    if site is None or not _is_variable(site):
        return []
    data = encode(text) if not offsets.ascii else b""
    # A name with no other use in its scope, old or new, belongs to an enclosing one; one whose
    # other uses are renamed already is done.
    scope = _scope_of(site)
    while True:
        found = _occurrences(old, text, scope, root, offsets, data)
        if found or scope.parent is None or _in_parameters(site, scope) or _declared_at(site):
            break
        if len(_occurrences(new, text, scope, root, offsets, data)) > 1:
            break
        scope = _enclosing_scope(scope)
    return _in_order([Replacement(first, last, new) for first, last in found], cursor, "rename")


def _in_order(replacements: list[Replacement], cursor: int, reason: str) -> list[NextEdit]:
    """The nearest replacement after the cursor first, then on from the top."""
    ordered = sorted(replacements, key=lambda r: (r.start < cursor, r.start))
    return [NextEdit(r, r.start + len(r.new_text), reason) for r in ordered]


@dataclass(frozen=True)
class CallUpdate:
    """A parameter added to a function's definition (`argument`: its name) or removed (None):
    the calls to update, those that pass `arity` arguments, all positional."""

    name: bytes
    arity: int
    index: int
    argument: str | None

    def propose(self, text: str, root: tree_sitter.Node, cursor: int) -> list[NextEdit]:
        """The same argument added or removed at the calls in the document still to update."""
        offsets = _Bytes(text)
        data = encode(text) if not offsets.ascii else b""
        edits = [
            edit
            for call in _calls(root, self.name)
            if (edit := _call_update(call, self, offsets, data)) is not None
        ]
        return _in_order(edits, cursor, "signature")


def signature_change(
    change: RecentChange, text: str, root: tree_sitter.Node, cursor: int
) -> CallUpdate | None:
    """The calls to update when the change added a parameter to a function's definition or
    removed one. None for a parameter with a default value, or while its name is still being
    typed."""
    if change.typed and cursor == change.new_end:
        return None
    offsets = _Bytes(text)
    data = encode(text) if not offsets.ascii else b""
    node = root.named_descendant_for_byte_range(
        offsets.byte(change.start), offsets.byte(change.new_end)
    )
    while node is not None and node.parent is not None and node.type not in SCOPE_TYPES:
        parameters_node = node.parent.child_by_field_name("parameters")
        if node == parameters_node and node.parent.child_by_field_name("name") is not None:
            break
        node = node.parent
    if node is None or node.parent is None or node.type in SCOPE_TYPES:
        return None
    function = node.parent
    name_node = function.child_by_field_name("name")
    parameters = [p for p in node.named_children if "comment" not in p.type]
    first = offsets.offset(node.start_byte, data)
    last = offsets.offset(node.end_byte, data)
    if not first <= change.start <= change.new_end <= last:
        return None
    old_texts = _split_arguments(
        change.before[first + 1 : last - 1 + change.old_end - change.new_end]
    )
    new_texts = [
        text[offsets.offset(p.start_byte, data) : offsets.offset(p.end_byte, data)]
        for p in parameters
    ]
    if len(new_texts) == len(old_texts) + 1:
        index = next(
            i for i, p in enumerate(parameters) if offsets.offset(p.end_byte, data) > change.start
        )
        added = parameters[index]
        if new_texts[:index] + new_texts[index + 1 :] != old_texts:
            return None
        argument = _parameter_name(added)
        if argument is None:
            return None
    elif len(new_texts) == len(old_texts) - 1:
        index = sum(offsets.offset(p.end_byte, data) <= change.start for p in parameters)
        if old_texts[:index] + old_texts[index + 1 :] != new_texts:
            return None
        argument = None
    else:
        return None
    assert name_node is not None
    return CallUpdate(name_node.text or b"", len(old_texts), index, argument)


def _split_arguments(inside: str) -> list[str]:
    """The comma-separated items of a parameter list's inside, brackets and strings kept
    whole, each stripped."""
    items: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in inside:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'`":
            quote = char
        elif char in "([{<":
            depth += 1
        elif char in ")]}>":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    last = "".join(current).strip()
    if last:
        items.append(last)
    return items


def _parameter_name(parameter: tree_sitter.Node) -> str | None:
    """The name of a parameter with no default value, else None."""
    if any(word in parameter.type for word in ("default", "optional", "assignment", "splat")):
        return None
    node: tree_sitter.Node | None = parameter
    if parameter.type != "identifier":
        named = parameter.child_by_field_name("name") or parameter.child_by_field_name("pattern")
        node = named or next((c for c in parameter.named_children if c.type == "identifier"), None)
    if node is None or node.type != "identifier" or node.text is None:
        return None
    return node.text.decode("utf-8", "replace")


def _calls(root: tree_sitter.Node, name: bytes) -> list[tree_sitter.Node]:
    """Calls of `name` by that name alone (not as a method of an object)."""
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.type in ("call", "call_expression"):
            callee = node.child_by_field_name("function")
            if callee is not None and callee.type == "identifier" and callee.text == name:
                found.append(node)
        stack.extend(node.named_children)
    return found


def _call_update(
    call: tree_sitter.Node, update: CallUpdate, offsets: _Bytes, data: bytes
) -> Replacement | None:
    """The change to one call; None when it does not pass `update.arity` positional
    arguments."""
    index, argument = update.index, update.argument
    arguments_node = call.child_by_field_name("arguments")
    if arguments_node is None:
        return None
    arguments = [a for a in arguments_node.named_children if "comment" not in a.type]
    if len(arguments) != update.arity or any(
        "keyword" in a.type or "splat" in a.type or "spread" in a.type for a in arguments
    ):
        return None

    def start(node: tree_sitter.Node) -> int:
        return offsets.offset(node.start_byte, data)

    def end(node: tree_sitter.Node) -> int:
        return offsets.offset(node.end_byte, data)

    if argument is not None:
        if not arguments:
            at = start(arguments_node) + 1
            return Replacement(at, at, argument)
        if index == 0:
            return Replacement(start(arguments[0]), start(arguments[0]), argument + ", ")
        return Replacement(end(arguments[index - 1]), end(arguments[index - 1]), ", " + argument)
    if index + 1 < len(arguments):
        return Replacement(start(arguments[index]), start(arguments[index + 1]), "")
    if index > 0:
        return Replacement(end(arguments[index - 1]), end(arguments[index]), "")
    return Replacement(start(arguments[0]), end(arguments[0]), "")


def _is_variable(node: tree_sitter.Node) -> bool:
    if node.type != "identifier":
        return False
    parent = node.parent
    if parent is None:
        return True
    return not any(
        parent.type == parent_type and parent.child_by_field_name(field) == node
        for parent_type, field in _NOT_A_VARIABLE
    )


def _enclosing_scope(node: tree_sitter.Node) -> tree_sitter.Node:
    scope = node.parent
    while scope is not None and scope.parent is not None and scope.type not in SCOPE_TYPES:
        scope = scope.parent
    return scope if scope is not None else node


def _scope_of(site: tree_sitter.Node) -> tree_sitter.Node:
    """The scope a name belongs to: that of the function or class it names, else the one it
    is in (a parameter is in its function's)."""
    scope = _enclosing_scope(site)
    if scope.type in SCOPE_TYPES and scope.child_by_field_name("name") == site:
        return _enclosing_scope(scope)
    return scope


def _declared_at(node: tree_sitter.Node) -> bool:
    """Whether `node` declares a variable (an assignment's target, a declarator's name)."""
    child, parent = node, node.parent
    if parent is not None and parent.type == "expression_list":  # Go: a, b := ...
        child, parent = parent, parent.parent
    return parent is not None and any(
        parent.type == parent_type and parent.child_by_field_name(field) == child
        for parent_type, field in _DECLARATIONS
    )


def _in_parameters(node: tree_sitter.Node, scope: tree_sitter.Node) -> bool:
    parameters = [scope.child_by_field_name(field) for field in ("parameters", "parameter")]
    return any(
        p is not None and p.start_byte <= node.start_byte and node.end_byte <= p.end_byte
        for p in parameters
    )


def _declares(scope: tree_sitter.Node, name: bytes) -> bool:
    """Whether a function declares `name` as one of its parameters (it shadows the outer name)."""
    for field in ("parameters", "parameter"):
        parameters = scope.child_by_field_name(field)
        if parameters is None:
            continue
        stack = [parameters]
        while stack:
            node = stack.pop()
            if node.type == "identifier" and node.text == name:
                return True
            stack.extend(node.named_children)
    return False


def _occurrences(
    name: str,
    text: str,
    scope: tree_sitter.Node,
    root: tree_sitter.Node,
    offsets: _Bytes,
    data: bytes,
) -> list[tuple[int, int]]:
    """The spans of the variables called `name` in `scope`, outside nested functions that
    redeclare it."""
    first = offsets.offset(scope.start_byte, data)
    last = offsets.offset(scope.end_byte, data)
    pattern = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])")
    encoded = encode(name)
    shadowing: dict[int, bool] = {}
    found: list[tuple[int, int]] = []
    for match in pattern.finditer(text, first, last):
        start_byte = offsets.byte(match.start())
        node = root.named_descendant_for_byte_range(start_byte, start_byte + len(encoded))
        if node is None or node.start_byte != start_byte or not _is_variable(node):
            continue
        if node.end_byte != start_byte + len(encoded):
            continue
        if not _shadowed(node, scope, encoded, shadowing):
            found.append(match.span())
    return found


def _shadowed(
    node: tree_sitter.Node, scope: tree_sitter.Node, name: bytes, cache: dict[int, bool]
) -> bool:
    ancestor = node.parent
    while ancestor is not None and ancestor != scope:
        if ancestor.type in SCOPE_TYPES:
            if ancestor.id not in cache:
                cache[ancestor.id] = _declares(ancestor, name)
            if cache[ancestor.id]:
                return True
        ancestor = ancestor.parent
    return False
