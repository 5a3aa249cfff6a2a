"""Next edits that need no model: what the user's last change implies elsewhere in the document.

A name renamed at its definition or at one use implies the same rename at the other uses of the
old name in its scope. The change is followed as one span across keystrokes (`ChangeTracker`),
so that deleting "count" and typing "total" letter by letter reads as one rename; the syntax tree
of the current text (tree-sitter) says which occurrences are the same name: identifiers only, not
text in strings or comments, not attributes or fields of other objects, not keyword-argument
names, and not uses inside a nested function that declares a parameter of the same name.

A parameter added to a function's definition, or removed from it, implies the same argument
added or removed at the function's calls in the document; once the user applies one of those,
the others are proposed in turn (`ChangeTracker.plan`). What to pass is the parameter's name
only where a variable of that name is bound at the call (or, in a method, `self.name` where the
class assigns it); elsewhere nothing, until the user passes something at one call by hand: the
other calls that lack the argument then get the same (as a keyword argument if it was one),
where the variables it names are bound.

The same edit made on two lines in a row (the same text replaced by the same text, between the
same names) implies it at the other places that text stands: a mechanical change, such as a
typo fixed twice or `await ` put before two calls of one function (`LineEdit`).

Offsets are code points into Python strings, as in `document.py`; tree-sitter works in bytes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import tree_sitter

from infill.context.document import Edit
from infill.context.syntax import encode

_NAME = re.compile(r"(?:[^\W\d]|\$)[\w$]*")
_NAME_CHAR = re.compile(r"[\w$]")
_NAME_CHAR_OR_DOT = re.compile(r"[\w$.]")

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
        ("augmented_assignment", "left"),
        ("for_statement", "left"),
        ("for_in_clause", "left"),
        ("named_expression", "name"),
        ("variable_declarator", "name"),  # JavaScript, TypeScript, Java
        ("for_in_statement", "left"),
        ("let_declaration", "pattern"),  # Rust
        ("for_expression", "pattern"),
        ("var_spec", "name"),  # Go
        ("short_var_declaration", "left"),  # Go, via its expression_list
        ("range_clause", "left"),
    }
)
# Nodes that hold several targets of one declaration (`a, b = ...`, `for k, v in ...`), and
# that declare what they hold (`with open(p) as f`, `except E as e`).
_TARGET_LISTS = frozenset({"pattern_list", "tuple_pattern", "list_pattern", "expression_list"})
_TARGETS = frozenset({"as_pattern_target"})


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
    kind = _edited_syntax(edit, change.start - len(edit.left), root, offsets)
    whole = edit.left + edit.old + edit.right
    replacements = []
    for found in _standalone(whole, text, 0, len(text), after_dot=False):
        start = found + len(edit.left)
        if change.start - len(edit.left) <= start <= change.new_end + len(edit.right):
            continue  # the change itself
        if not edit.old and (text.startswith(edit.new, start) or text.endswith(edit.new, 0, start)):
            continue  # inserted already
        if edit.right:
            anchor = (found + len(whole) - len(edit.right), found + len(whole))
        elif edit.left:
            anchor = (found, start)
        else:
            anchor = (start, start + len(edit.old))
        if _syntax_at(root, offsets, *anchor) != kind:
            continue
        replacements.append(Replacement(start, start + len(edit.old), edit.new))
    return _in_order(replacements, cursor, "repeat")


def _edited_syntax(
    edit: LineEdit, at: int, root: tree_sitter.Node, offsets: _Bytes
) -> tuple[str, str]:
    """The syntax where `edit` was made, its result standing at `at`: at the names around it
    (the same before and after it), else at what it wrote."""
    start = at + len(edit.left)
    end = start + len(edit.new)
    if edit.right:
        return _syntax_at(root, offsets, end, end + len(edit.right))
    if edit.left:
        return _syntax_at(root, offsets, at, start)
    return _syntax_at(root, offsets, start, end)


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
        # The calls a signature change left to update, the edits proposed last, and whether
        # the last edit applied one of those: while the user applies them, or updates one of
        # the calls by hand, the plan goes on.
        self.plan: CallUpdate | None = None
        self.proposed: list[NextEdit] = []
        self.applied = ""  # the reason of the proposal the last edit applied, if it did

    def record(self, edit: Edit, text: str) -> None:
        """Follow one edit: edit.old_text[edit.start:edit.old_end] became text[start:new_end]."""
        self.applied = next(
            (p.reason for p in self.proposed if _applies(edit.old_text, p.replacement, text)), ""
        )
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
    fixed_call = None
    if not proposals:
        fixed_call = call_fix(change, text, root)
        plan = signature_change(change, text, root) or fixed_call
        tracker.plan = plan or (tracker.plan if tracker.applied == "signature" else None)
        # (Nothing while the name or the argument is still being typed.)
        if tracker.plan is not None and not (change.typed and cursor == change.new_end):
            proposals = tracker.plan.propose(text, root, cursor)
    # A call updated as its definition asks, by the rule or by hand, is an edit of that
    # function's calls, not a pattern of text to repeat at other places.
    explained = tracker.applied == "signature" or fixed_call is not None
    if not proposals and tracker.previous is not None and not explained:
        current = line_edit(change, text)
        if current is not None and current.repeats(tracker.previous):
            proposals = repeat_line_edit(current, change, text, root, cursor)
    tracker.proposed = proposals
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
    """Code-point offsets of one text as tree-sitter's byte offsets, and back. Beyond ASCII
    each conversion goes on from the last one (offsets are mostly asked for in document
    order): converting from the start each time made a search over a large file quadratic."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = text.isascii()
        self.known = (0, 0)  # a code-point offset and its byte offset

    def byte(self, offset: int) -> int:
        if self.ascii:
            return offset
        start, at = self.known if self.known[0] <= offset else (0, 0)
        at += len(encode(self.text[start:offset]))
        self.known = (offset, at)
        return at

    def offset(self, node_byte: int, data: bytes) -> int:
        if self.ascii:
            return node_byte
        start, at = self.known if self.known[1] <= node_byte else (0, 0)
        offset = start + len(data[at:node_byte].decode("utf-8", "surrogatepass"))
        self.known = (offset, node_byte)
        return offset


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
    """The calls of function `name` to update once a parameter was added to its definition or
    removed: those that pass `arity` arguments, all positional. An added one is passed as
    `argument` (the parameter's name, or what the user passed at one of the calls), at `index`
    or, a `keyword` argument, last, where the variables it names (`names`) are bound; a
    removed one (`argument` None) is taken out at `index`. A Python method's calls are those
    made on `receiver` (`self.name(...)`, `cls.name(...)`) in its class `owner`."""

    name: bytes
    arity: int
    index: int
    argument: str | None
    names: tuple[str, ...] = ()
    keyword: bool = False
    receiver: bytes = b""
    owner: bytes = b""

    def propose(self, text: str, root: tree_sitter.Node, cursor: int) -> list[NextEdit]:
        """The same argument added or removed at the calls in the document still to update."""
        offsets = _Bytes(text)
        data = encode(text) if not offsets.ascii else b""
        variables = [_Variable(name, text, root, offsets) for name in self.names]
        assigned: dict[int, bool] = {}  # class (node id) -> whether it assigns self.<argument>
        edits = []
        for call in _calls(self, text, root, offsets):
            update: CallUpdate | None = self
            # Where a variable the argument names is not bound, the caller has to pass
            # something else (a constant, an expression): the argument would be code that
            # cannot run. A name alone may be the method's object's attribute of that name.
            if not all(variable.bound_at(call) for variable in variables):
                attribute = _own_attribute(call, self.names[0], assigned) if self.alone else None
                update = dataclasses.replace(self, argument=attribute) if attribute else None
            if update is not None and (edit := _call_update(call, update, offsets, data)):
                edits.append(edit)
        return _in_order(edits, cursor, "signature")

    @property
    def alone(self) -> bool:
        """Whether the argument is one variable's name."""
        return not self.keyword and self.names == (self.argument,)


def _own_attribute(call: tree_sitter.Node, name: str, assigned: dict[int, bool]) -> str | None:
    """`self.name`, when `call` is in a Python method (its first parameter `self`) of a class
    whose methods assign `self.name` (`assigned`: the answer for each class met so far)."""
    method = _enclosing_scope(call)
    while method.type == "lambda":
        method = _enclosing_scope(method)
    parameters = method.child_by_field_name("parameters")
    first = parameters.named_children[0] if parameters and parameters.named_children else None
    cls = _enclosing_scope(method)
    if first is None or first.text != b"self" or cls.type != "class_definition":
        return None
    if cls.id not in assigned:
        # (The literal first: a search that starts with a look-behind or `\b` tries every
        # character of a large class.)
        body = _text(cls)
        pattern = re.compile(rf"self\.{re.escape(name)}\s*(?::[^=\n]+)?=(?!=)")
        found = (m.start() for m in pattern.finditer(body))
        assigned[cls.id] = any(at == 0 or not _NAME_CHAR_OR_DOT.match(body[at - 1]) for at in found)
    return f"self.{name}" if assigned[cls.id] else None


def call_fix(change: RecentChange, text: str, root: tree_sitter.Node) -> CallUpdate | None:
    """The calls to update when the change passed, at one call of a function defined in the
    document, the argument its definition asks for and the call lacked (a parameter with no
    default value, at the call's next position or named as a keyword argument): the others
    that lack it get what the user passed there."""
    offsets = _Bytes(text)
    data = encode(text) if not offsets.ascii else b""
    node = root.named_descendant_for_byte_range(
        offsets.byte(change.start), offsets.byte(change.new_end)
    )
    while node is not None and node.type not in ("call", "call_expression"):
        node = node.parent
    callee = node.child_by_field_name("function") if node is not None else None
    arguments_node = node.child_by_field_name("arguments") if node is not None else None
    if node is None or callee is None or arguments_node is None:
        return None
    receiver, owner = b"", b""
    if callee.type == "attribute":  # self.name(...): a method of the class the call is in
        receiver = (callee.child_by_field_name("object") or callee).text or b""
        cls = _class_of(node)
        callee = callee.child_by_field_name("attribute")
        if receiver not in _RECEIVERS or cls is None or callee is None:
            return None
        owner = _name_of(cls)
        parameters = _method_parameters(cls, callee.text or b"")
    elif callee.type == "identifier":
        parameters = _parameters_of(_text(callee), text, root, offsets)
    else:
        return None
    first = offsets.offset(arguments_node.start_byte, data)
    last = offsets.offset(arguments_node.end_byte, data)
    if not first < change.start <= change.new_end < last:
        return None
    grown = change.new_end - change.old_end
    old = _split_arguments(change.before[first + 1 : last - 1 - grown])
    new = _split_arguments(text[first + 1 : last - 1])
    arguments = [a for a in arguments_node.named_children if "comment" not in a.type]
    if len(new) != len(old) + 1 or len(arguments) != len(new) or len(parameters) != len(new):
        return None
    at = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), len(old))
    if new[:at] + new[at + 1 :] != old:
        return None
    added = arguments[at]
    keyword = "keyword" in added.type
    if keyword:
        named = added.child_by_field_name("name")
        at = next((i for i, p in enumerate(parameters) if _parameter_name(p) == _text(named)), -1)
        if added != arguments[-1]:
            return None
    if at < 0 or _parameter_name(parameters[at]) is None:
        return None
    if not keyword and any(_ends_positionals(p) for p in parameters[:at]):
        return None
    names = {_text(i) for i in _identifiers(added) if _is_variable(i)}
    argument = new[-1 if keyword else at]
    names_used = tuple(sorted(names))
    return CallUpdate(
        callee.text or b"", len(old), at, argument, names_used, keyword, receiver, owner
    )


# The first parameter of a Python method, as its calls in its class name its object.
_RECEIVERS = (b"self", b"cls")


def _class_of(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The Python class whose method `node` is in, if it is in one."""
    scope = _enclosing_scope(node)
    while scope.parent is not None and scope.type != "class_definition":
        scope = _enclosing_scope(scope)
    return scope if scope.type == "class_definition" else None


def _method_parameters(cls: tree_sitter.Node, name: bytes) -> list[tree_sitter.Node]:
    """The parameters after the first (`self`) of the method `name` that `cls` defines, if
    it defines one; else none."""
    body = cls.child_by_field_name("body")
    found = []
    for child in body.named_children if body is not None else []:
        if child.type == "decorated_definition":
            child = child.child_by_field_name("definition") or child
        if child.type == "function_definition" and _name_of(child) == name:
            found.append(child)
    listed = _parameters(found[0]) if len(found) == 1 else []
    return listed[1:] if listed and listed[0].text in _RECEIVERS else []


def _parameters_of(
    name: str, text: str, root: tree_sitter.Node, offsets: _Bytes
) -> list[tree_sitter.Node]:
    """The parameters of the function called `name` the document defines outside classes, if
    it defines one; else none."""
    found = [
        node.parent
        for _, node in _identifiers_named(name, text, root, offsets)
        if node.parent is not None
        and node.parent.type in SCOPE_TYPES
        and node.parent.child_by_field_name("name") == node
        and _enclosing_scope(node.parent).type not in _CLASS_SCOPES
    ]
    if len(found) == 1 and found[0].type == "class_definition":
        return _method_parameters(found[0], b"__init__")  # `Class(...)` calls its constructor
    return _parameters(found[0]) if len(found) == 1 else []


def _parameters(function: tree_sitter.Node) -> list[tree_sitter.Node]:
    """A function's parameters as its definition lists them (comments left out)."""
    listed = function.child_by_field_name("parameters")
    return [p for p in listed.named_children if "comment" not in p.type] if listed else []


def _name_of(node: tree_sitter.Node) -> bytes:
    """The name a definition (a function, a class) gives."""
    named = node.child_by_field_name("name")
    return (named.text or b"") if named is not None else b""


def _text(node: tree_sitter.Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text else ""


def signature_change(change: RecentChange, text: str, root: tree_sitter.Node) -> CallUpdate | None:
    """The calls to update when the change added a parameter to a function's definition or
    removed one. None for a parameter with a default value or a keyword-only one."""
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
        if argument is None or any(_ends_positionals(p) for p in parameters[:index]):
            return None
    elif len(new_texts) == len(old_texts) - 1:
        index = sum(offsets.offset(p.end_byte, data) <= change.start for p in parameters)
        if old_texts[:index] + old_texts[index + 1 :] != new_texts:
            return None
        argument = None
    else:
        return None
    assert name_node is not None
    names = (argument,) if argument is not None else ()
    name, receiver, owner, implicit = name_node.text or b"", b"", b"", 0
    cls = _enclosing_scope(function)
    if cls.type == "class_definition" and parameters and parameters[0].text in _RECEIVERS:
        # A method: its calls on `self` pass the arguments after it; a constructor's calls
        # are by the class's name.
        implicit = 1
        class_name = _name_of(cls)
        if name == b"__init__":
            name = class_name
        else:
            receiver, owner = parameters[0].text or b"", class_name
        if index == 0:
            return None
    return CallUpdate(
        name,
        len(old_texts) - implicit,
        index - implicit,
        argument,
        names,
        receiver=receiver,
        owner=owner,
    )


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


def _ends_positionals(parameter: tree_sitter.Node) -> bool:
    """Whether the parameters after this one are keyword-only (Python's `*`, `*args`)."""
    if parameter.type == "typed_parameter" and parameter.named_children:
        parameter = parameter.named_children[0]
    return parameter.type in ("keyword_separator", "list_splat_pattern")


def _identifiers(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    found, stack = [], [node]
    while stack:
        node = stack.pop()
        if node.type == "identifier":
            found.append(node)
        stack.extend(node.named_children)
    return found


def _calls(
    update: CallUpdate, text: str, root: tree_sitter.Node, offsets: _Bytes
) -> list[tree_sitter.Node]:
    """The calls `update` is about: of its function by its name alone (not as a method of
    another object), or of its method on its receiver in its class."""
    found = []
    for _, node in _identifiers_named(update.name.decode("utf-8", "replace"), text, root, offsets):
        callee: tree_sitter.Node | None = node
        if update.receiver:  # `self.name`: the attribute's name, on the receiver
            callee = node.parent
            if callee is None or callee.type != "attribute":
                continue
            receiver = callee.child_by_field_name("object")
            if receiver is None or receiver.text != update.receiver:
                continue
        call = callee.parent if callee is not None else None
        if call is None or call.type not in ("call", "call_expression"):
            continue
        if call.child_by_field_name("function") != callee:
            continue
        if update.receiver:
            cls = _class_of(call)
            if cls is None or _name_of(cls) != update.owner:
                continue
        found.append(call)
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
        if update.keyword:
            return Replacement(end(arguments[-1]), end(arguments[-1]), ", " + argument)
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
    """Whether `node` declares a variable (an assignment's or a loop's target, a declarator's
    name)."""
    child, parent = node, node.parent
    while parent is not None and parent.type in _TARGET_LISTS:
        child, parent = parent, parent.parent
    if parent is not None and parent.type in _TARGETS:
        return True
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


# A class's body is not a scope its methods see (Python), or binds no variables (the others).
_CLASS_SCOPES = frozenset({"class_definition", "class_declaration", "class", "impl_item"})
# Fields of a parameter that hold another name than the parameter's: its type, its default.
_NOT_THE_PARAMETER = ("type", "value", "default_value", "right")


def _bindings(
    name: str, text: str, root: tree_sitter.Node, offsets: _Bytes
) -> dict[int, list[int]]:
    """Where variables called `name` are bound: the start bytes of the parameters and
    declarations of that name, by the scope (node id) they belong to."""
    bound: dict[int, list[int]] = {}
    for _, node in _identifiers_named(name, text, root, offsets):
        scope = _enclosing_scope(node)
        if _is_variable(node) and (_names_parameter(node, scope) or _declared_at(node)):
            bound.setdefault(scope.id, []).append(node.start_byte)
    return bound


class _Variable:
    """A variable's name, and where it is bound in the document (read when first needed)."""

    def __init__(self, name: str, text: str, root: tree_sitter.Node, offsets: _Bytes) -> None:
        self.name, self.text, self.root, self.offsets = name, text, root, offsets
        self.bound: dict[int, list[int]] | None = None

    def bound_at(self, node: tree_sitter.Node) -> bool:
        """Whether it is visible where `node` stands. A parameter of a function around it
        answers at once (`self` in a method), without reading every use of the name in the
        document."""
        encoded = encode(self.name)
        scope = _enclosing_scope(node)
        while scope.parent is not None:
            if _declares(scope, encoded):
                return True
            scope = _enclosing_scope(scope)
        if self.bound is None:
            self.bound = _bindings(self.name, self.text, self.root, self.offsets)
        return _bound_at(node, self.bound)


def _bound_at(node: tree_sitter.Node, bound: dict[int, list[int]]) -> bool:
    """Whether one of the `bound` variables is visible where `node` stands: bound in its own
    scope before it, or anywhere in an enclosing function's or the module's."""
    scope, innermost = _enclosing_scope(node), True
    while True:
        starts = bound.get(scope.id, [])
        # A scope that binds the name hides the enclosing ones' (Python's locals, JavaScript's
        # `let`); its own code sees it from where it is bound on.
        if starts and (innermost or scope.type not in _CLASS_SCOPES):
            return not innermost or any(start < node.start_byte for start in starts)
        if scope.parent is None:
            return False
        scope, innermost = _enclosing_scope(scope), False


def _names_parameter(node: tree_sitter.Node, scope: tree_sitter.Node) -> bool:
    """Whether `node` is the name of one of the function `scope`'s parameters (not a name in
    a parameter's type or default value)."""
    parameters = [scope.child_by_field_name(field) for field in ("parameters", "parameter")]
    child, parent = node, node.parent
    while parent is not None and parent not in parameters:
        if any(parent.child_by_field_name(field) == child for field in _NOT_THE_PARAMETER):
            return False
        child, parent = parent, parent.parent
    return parent is not None


def _declares(scope: tree_sitter.Node, name: bytes) -> bool:
    """Whether a function declares `name` as one of its parameters (it shadows the outer name)."""
    for field in ("parameters", "parameter"):
        parameters = scope.child_by_field_name(field)
        if parameters is None:
            continue
        stack = [parameters]
        while stack:
            node = stack.pop()
            if node.type == "identifier" and node.text == name and _names_parameter(node, scope):
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
    encoded = encode(name)
    shadowing: dict[int, bool] = {}
    return [
        (start, start + len(name))
        for start, node in _identifiers_named(name, text, root, offsets, first, last)
        if _is_variable(node) and not _shadowed(node, scope, encoded, shadowing)
    ]


def _identifiers_named(
    name: str,
    text: str,
    root: tree_sitter.Node,
    offsets: _Bytes,
    first: int = 0,
    last: int | None = None,
) -> list[tuple[int, tree_sitter.Node]]:
    """The identifiers `name` in text[first:last] (not in strings or comments): the offset and
    node of each."""
    encoded = encode(name)
    found = []
    for start in _standalone(name, text, first, len(text) if last is None else last):
        start_byte = offsets.byte(start)
        node = root.named_descendant_for_byte_range(start_byte, start_byte + len(encoded))
        if node is None or node.start_byte != start_byte or node.type != "identifier":
            continue
        if node.end_byte == start_byte + len(encoded):
            found.append((start, node))
    return found


def _standalone(
    literal: str, text: str, first: int, last: int, after_dot: bool = True
) -> Iterator[int]:
    """Where `literal` stands in text[first:last] not inside a longer name (nor, unless
    `after_dot`, after a `.`). (A look-behind in the pattern would be tried at every
    character; searching for the literal first is fast.)"""
    pattern = re.compile(rf"{re.escape(literal)}(?![\w$])")
    before = _NAME_CHAR if after_dot else _NAME_CHAR_OR_DOT
    for match in pattern.finditer(text, first, last):
        if match.start() == 0 or not before.match(text[match.start() - 1]):
            yield match.start()


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
