"""Model-free next edits: a rename at one occurrence proposes the others in scope."""

from __future__ import annotations

import re

import pytest

from infill.context.engine import ContextEngine
from infill.context.next_edit import ChangeTracker, NextEdit, RecentChange, renamed_name

URI = "file:///work/example"


def _engine(text: str, language: str) -> ContextEngine:
    engine = ContextEngine()
    engine.open(URI, text, language, 1, "utf-16")
    return engine


def _type_rename(engine: ContextEngine, old: str, new: str, occurrence: int = 0) -> int:
    """Rename the `occurrence`-th `old` as a user does: delete it, then type `new` key by key.
    Returns the offset of the new name's end."""
    doc = engine.documents[URI].doc
    start = [m.start() for m in re.finditer(rf"\b{old}\b", doc.text)][occurrence]
    line, character = doc.position_at(start)
    engine.apply(URI, "", ((line, character), (line, character + len(old))))
    for typed, letter in enumerate(new):
        engine.apply(URI, letter, ((line, character + typed), (line, character + typed)))
    return start + len(new)


def _apply(text: str, edit: NextEdit) -> str:
    replacement = edit.replacement
    return text[: replacement.start] + replacement.new_text + text[replacement.end :]


def _apply_all(engine: ContextEngine, cursor: int) -> str:
    """Accept each proposal in turn, as the editor does, until none is left."""
    doc = engine.documents[URI].doc
    for _ in range(20):
        proposals = engine.next_edits(URI, cursor)
        if not proposals:
            return doc.text
        replacement = proposals[0].replacement
        start, end = doc.position_at(replacement.start), doc.position_at(replacement.end)
        engine.apply(URI, replacement.new_text, (start, end))
        cursor = proposals[0].cursor
    raise AssertionError("proposals never end")


CASES = [
    (
        "python",
        "def area(width, height):\n"
        "    scale = width * 2  # width in pixels\n"
        '    label = "width"\n'
        "    return box.width + scale * width + f(width=width)\n",
        "width",
        "w",
        "def area(w, height):\n"
        "    scale = w * 2  # width in pixels\n"
        '    label = "width"\n'
        "    return box.width + scale * w + f(width=w)\n",
    ),
    (
        "javascript",
        "function total(items) {\n"
        "  let sum = 0;\n"
        "  for (const item of items) sum += item.sum;\n"
        "  return `${sum} of sum`;\n"
        "}\n"
        "const sum = 1;\n",
        "sum",
        "acc",
        "function total(items) {\n"
        "  let acc = 0;\n"
        "  for (const item of items) acc += item.sum;\n"
        "  return `${acc} of sum`;\n"
        "}\n"
        "const sum = 1;\n",
    ),
    (
        "typescript",
        "function scale(factor: number, v: Vec): Vec {\n"
        "  // factor of two\n"
        "  return { x: v.x * factor, y: v.y * factor, factor: 1 };\n"
        "}\n",
        "factor",
        "k",
        "function scale(k: number, v: Vec): Vec {\n"
        "  // factor of two\n"
        "  return { x: v.x * k, y: v.y * k, factor: 1 };\n"
        "}\n",
    ),
    (
        "go",
        "func count(rows []Row) int {\n"
        "\tn := 0\n"
        "\tfor _, r := range rows {\n"
        "\t\tn += r.n\n"
        "\t}\n"
        '\treturn n // "n"\n'
        "}\n",
        "n",
        "total",
        "func count(rows []Row) int {\n"
        "\ttotal := 0\n"
        "\tfor _, r := range rows {\n"
        "\t\ttotal += r.n\n"
        "\t}\n"
        '\treturn total // "n"\n'
        "}\n",
    ),
    (
        "rust",
        "fn mean(values: &[f64]) -> f64 {\n"
        "    let sum: f64 = values.iter().sum();\n"
        '    println!("{} sum", sum);\n'
        "    sum / values.len() as f64\n"
        "}\n",
        "sum",
        "total",
        "fn mean(values: &[f64]) -> f64 {\n"
        "    let total: f64 = values.iter().sum();\n"
        '    println!("{} sum", total);\n'
        "    total / values.len() as f64\n"
        "}\n",
    ),
]


@pytest.mark.parametrize(("language", "text", "old", "new", "expected"), CASES)
def test_rename_at_definition_proposes_the_other_uses(
    language: str, text: str, old: str, new: str, expected: str
) -> None:
    engine = _engine(text, language)
    end = _type_rename(engine, old, new)
    # The cursor left the name (in Neovim's normal mode it rests on its last character).
    assert _apply_all(engine, end - 1) == expected


def test_the_nearest_use_after_the_cursor_comes_first_then_the_ones_before() -> None:
    text = "def f(a):\n    b = a\n    c = a\n    return a\n"
    engine = _engine(text, "python")
    _type_rename(engine, "a", "x", occurrence=2)  # in "c = a"
    now = engine.documents[URI].doc.text
    proposals = engine.next_edits(URI, now.index("c = x") + 1)
    assert [p.replacement.start for p in proposals] == [
        now.index("return a") + 7,
        now.index("f(a") + 2,
        now.index("b = a") + 4,
    ]
    assert all(p.replacement.new_text == "x" for p in proposals)
    assert proposals[0].cursor == proposals[0].replacement.start + 1


def test_rename_at_a_use_proposes_the_definition_and_other_uses() -> None:
    text = "def f(limit):\n    if limit > 3:\n        return limit\n"
    engine = _engine(text, "python")
    end = _type_rename(engine, "limit", "cap", occurrence=2)
    assert _apply_all(engine, end - 1) == "def f(cap):\n    if cap > 3:\n        return cap\n"


def test_a_function_renamed_at_its_definition_renames_its_calls() -> None:
    text = "def load(p):\n    return p\n\ndef main():\n    load(1)\n    obj.load(2)\n"
    engine = _engine(text, "python")
    end = _type_rename(engine, "load", "read")
    assert _apply_all(engine, end - 1) == (
        "def read(p):\n    return p\n\ndef main():\n    read(1)\n    obj.load(2)\n"
    )


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("python", "def a():\n    x = 1\n\ndef b():\n    x = 2\n    return x\n"),
        ("javascript", "function a() { let x = 1; }\nfunction b() { let x = 2; return x; }\n"),
        ("go", "func a() { x := 1 }\nfunc b() int { x := 2; return x }\n"),
        ("rust", "fn a() { let x = 1; }\nfn b() -> i32 { let x = 2; x }\n"),
    ],
)
def test_a_local_declared_and_renamed_leaves_other_functions_alone(
    language: str, text: str
) -> None:
    engine = _engine(text, language)
    end = _type_rename(engine, "x", "y")
    assert engine.next_edits(URI, end - 1) == []


def test_a_global_renamed_at_its_only_use_in_a_function_widens_to_the_module() -> None:
    text = "LIMIT = 3\n\ndef f(v):\n    return v < LIMIT\n\ndef g():\n    return LIMIT\n"
    engine = _engine(text, "python")
    end = _type_rename(engine, "LIMIT", "MAX", occurrence=1)
    assert _apply_all(engine, end - 1) == text.replace("LIMIT", "MAX")


def test_nothing_while_the_name_is_still_being_typed() -> None:
    text = "def f(count):\n    return count + 1\n"
    engine = _engine(text, "python")
    end = _type_rename(engine, "count", "tot")
    assert engine.next_edits(URI, end) == []  # the cursor where the last letter went
    # Typing a prefix: the cursor is inside the name, still right after the last keystroke.
    engine = _engine(text, "python")
    engine.apply(URI, "m", ((0, 6), (0, 6)))
    engine.apply(URI, "y", ((0, 7), (0, 7)))
    assert engine.next_edits(URI, len("def f(my")) == []
    assert [p.replacement.new_text for p in engine.next_edits(URI, 0)] == ["mycount"]


def test_a_nested_function_that_redeclares_the_name_is_left_alone() -> None:
    text = (
        "def outer(item):\n"
        "    def inner(item):\n"
        "        return item * 2\n"
        "    helper = lambda item: item\n"
        "    return inner(item)\n"
    )
    engine = _engine(text, "python")
    end = _type_rename(engine, "item", "value")
    assert _apply_all(engine, end - 1) == text.replace("outer(item)", "outer(value)").replace(
        "inner(item)\n", "inner(value)\n"
    )


def test_a_change_inside_a_string_or_comment_proposes_nothing() -> None:
    text = 'def f(name):\n    # name here\n    return "name" + name\n'
    for occurrence in (1, 2):  # the comment's, the string's
        engine = _engine(text, "python")
        _type_rename(engine, "name", "title", occurrence)
        assert engine.next_edits(URI, 0) == []


def test_an_attribute_renamed_is_not_a_variable_rename() -> None:
    text = "def f(size):\n    return box.size + size\n"
    engine = _engine(text, "python")
    _type_rename(engine, "size", "width", occurrence=1)  # box.size
    assert engine.next_edits(URI, 0) == []


def test_an_edit_that_is_not_a_rename_proposes_nothing() -> None:
    text = "def f(a):\n    return a\n"
    engine = _engine(text, "python")
    engine.apply(URI, "a + ", ((1, 11), (1, 11)))  # "return a + a"
    assert engine.next_edits(URI, 0) == []
    engine = _engine(text, "python")
    engine.apply(URI, "", ((0, 6), (0, 7)))  # the name deleted: nothing to rename to
    assert engine.next_edits(URI, 0) == []


def test_non_ascii_text_keeps_offsets_in_code_points() -> None:
    text = 'def f(größe):\n    s = "é"\n    return größe * größe\n'
    engine = _engine(text, "python")
    end = _type_rename(engine, "größe", "maß")
    assert _apply_all(engine, end - 1) == text.replace("größe", "maß")


def test_the_tracker_joins_keystrokes_and_restarts_elsewhere() -> None:
    engine = _engine("alpha = beta\n", "python")
    _type_rename(engine, "alpha", "gamma")
    change = engine.documents[URI].changes.change
    assert change is not None
    assert renamed_name(change, engine.documents[URI].doc.text) == ("alpha", "gamma", 0, 5)
    engine.apply(URI, "x", ((0, 12), (0, 12)))  # elsewhere: a new change
    change = engine.documents[URI].changes.change
    assert change == RecentChange("gamma = beta\n", 12, 12, 13, typed=True)
    assert ChangeTracker().change is None


def test_a_whole_line_resent_is_trimmed_to_what_changed() -> None:
    engine = _engine("def f(old):\n    return old\n", "python")
    engine.apply(URI, "def f(new):\n", ((0, 0), (1, 0)))
    assert [p.replacement.new_text for p in engine.next_edits(URI, 0)] == ["new"]


def _type(engine: ContextEngine, at: tuple[int, int], text: str) -> int:
    """Type `text` at `at` key by key; returns the offset after it."""
    line, character = at
    for typed, letter in enumerate(text):
        engine.apply(URI, letter, ((line, character + typed), (line, character + typed)))
    return engine.documents[URI].doc.offset_at(line, character + len(text))


SIGNATURES = [
    (
        "python",
        "def area(width):\n    return width\n\nheight = 2\n"
        "print(area(3), area(4), obj.area(5), area(x=1))\n",
        (0, len("def area(width")),
        ", height",
        "def area(width, height):\n    return width\n\nheight = 2\n"
        "print(area(3, height), area(4, height), obj.area(5), area(x=1))\n",
    ),
    (
        "javascript",
        "function add(a) {\n  return a;\n}\nlet first = 0;\nadd(1);\nadd(...xs);\nadd();\n",
        (0, len("function add(")),
        "first, ",
        "function add(first, a) {\n  return a;\n}\nlet first = 0;\n"
        "add(first, 1);\nadd(...xs);\nadd();\n",
    ),
    (
        "go",
        "func scale(v float64) float64 { return v }\nfunc main() { k := 3.0; scale(2.0) }\n",
        (0, len("func scale(v float64")),
        ", k float64",
        "func scale(v float64, k float64) float64 { return v }\n"
        "func main() { k := 3.0; scale(2.0, k) }\n",
    ),
    (
        "rust",
        'fn pad(s: &str) -> String { s.into() }\nfn main(width: usize) { pad("a"); }\n',
        (0, len("fn pad(s: &str")),
        ", width: usize",
        "fn pad(s: &str, width: usize) -> String { s.into() }\n"
        'fn main(width: usize) { pad("a", width); }\n',
    ),
]


@pytest.mark.parametrize(("language", "text", "at", "typed", "expected"), SIGNATURES)
def test_a_parameter_added_is_passed_at_the_calls(
    language: str, text: str, at: tuple[int, int], typed: str, expected: str
) -> None:
    engine = _engine(text, language)
    end = _type(engine, at, typed)
    assert engine.next_edits(URI, end) == []  # the cursor where the last letter went
    assert _apply_all(engine, end - 1) == expected


def test_a_parameter_added_is_passed_only_where_a_variable_of_its_name_is_bound() -> None:
    text = (
        "def area(width):\n    return width\n\n\n"
        "def floor(height):\n    return area(1)\n\n\n"  # a parameter
        "def wall(depth):\n    for height, _ in depth:\n        area(2)\n\n\n"  # a loop's
        "def late():\n    area(3)\n    height = 1\n\n\n"  # its own, bound after the call
        "class Room:\n    height = 3\n\n    def size(self):\n"
        "        return area(self.height)\n\n\n"  # an attribute, a class's name
        "def cube(height):\n    def inner():\n        return area(4)\n\n    return inner()\n\n\n"
        "def typed(depth: height, other=height):\n    return area(5)\n\n\n"  # not parameters
        "print(area(6))\n"
    )
    engine = _engine(text, "python")
    end = _type(engine, (0, len("def area(width")), ", height")
    assert _apply_all(engine, end - 1) == (
        text.replace("(width)", "(width, height)")
        .replace("area(1)", "area(1, height)")
        .replace("area(2)", "area(2, height)")
        .replace("area(4)", "area(4, height)")
    )


BY_HAND = [
    (  # the definition's plan proposes nothing (no `pool` at the calls); `self` is bound in
        # the methods, not in `main`
        "def fetch(url):\n    return url\n\n\n"
        "class Client:\n    def get(self):\n        return fetch('a')\n\n"
        "    def head(self):\n        return fetch('b')\n\n\n"
        "def main():\n    return fetch('c')\n",
        ("(url)", "(url, pool)"),
        ("fetch('a')", "fetch('a', self.pool)"),
        {"fetch('b')": "fetch('b', self.pool)"},
    ),
    (  # a method's calls on `self`
        "class Client:\n    def fetch(self, url):\n        return url\n\n"
        "    def get(self):\n        return self.fetch('a')\n\n"
        "    def head(self):\n        return self.fetch('b')\n",
        ("(self, url)", "(self, url, pool)"),
        ("self.fetch('a')", "self.fetch('a', self.pool)"),
        {"self.fetch('b')": "self.fetch('b', self.pool)"},
    ),
    (  # a keyword argument goes last; the call that passes one argument is not one of them
        "def f(a, b):\n    pass\n\n\ndef g(mode):\n    f(1, 2)\n    f(3, 4)\n    f(5)\n",
        ("(a, b)", "(a, b, mode)"),
        ("f(1, 2)", "f(1, 2, mode=mode)"),
        {"f(3, 4)": "f(3, 4, mode=mode)"},
    ),
]


@pytest.mark.parametrize(("text", "definition", "call", "others"), BY_HAND)
def test_what_the_user_passes_at_one_call_is_proposed_at_the_others(
    text: str, definition: tuple[str, str], call: tuple[str, str], others: dict[str, str]
) -> None:
    engine = _engine(text, "python")
    for old, new in (definition, call):  # with no request for proposals in between
        line = text[: text.index(old)].count("\n")
        column = text.index(old) - text.rfind("\n", 0, text.index(old)) - 1
        end = _type(engine, (line, column + len(old) - 1), new[len(old) - 1 : -1])
    expected = text
    for old, new in [definition, call, *others.items()]:
        expected = expected.replace(old, new)
    assert _apply_all(engine, end - 1) == expected


def test_the_calls_are_left_alone_while_the_user_types_at_one() -> None:
    text = "def f(a):\n    pass\n\n\nf(1)\nf(2)\n"
    engine = _engine(text, "python")
    _type(engine, (0, len("def f(a")), ", b")
    column = len("f(1")
    for typed in (", ", "Tr", "ue"):  # the plan outlives the argument's keys
        end = _type(engine, (4, column), typed)
        column += len(typed)
        assert engine.next_edits(URI, end) == []
    assert _apply_all(engine, end - 1) == "def f(a, b):\n    pass\n\n\nf(1, True)\nf(2, True)\n"


def test_the_call_updates_applied_are_not_a_repeated_edit_to_make_elsewhere() -> None:
    text = (
        "def f(value):\n    pass\n\n\n"
        "def g(ctx, incomplete):\n    f(incomplete)\n    f(incomplete)\n    h(incomplete)\n"
    )
    engine = _engine(text, "python")
    end = _type(engine, (0, len("def f(")), "ctx, ")
    # `ctx, ` put twice before `incomplete` by the rule: not the user's pattern for `h`.
    assert _apply_all(engine, end - 1) == text.replace("f(", "f(ctx, ")


def test_a_call_updated_by_hand_after_its_definition_is_not_a_repeated_edit() -> None:
    text = "def page(out, text):\n    pass\n\n\ndef main(text):\n    page(1, text)\n    g(text)\n"
    engine = _engine(text, "python")
    _type(engine, (0, len("def page(out, text")), ", color")
    end = _type(engine, (5, len("    page(1, text")), ", color")
    # `, color` twice after `text`: the definition's parameter and its call's argument, not a
    # pattern for `g(text)`.
    assert engine.next_edits(URI, end - 1) == []


METHODS = (
    "class Box:\n"
    "    def grow(self, by):\n        return by\n\n"
    "    def use(self, extra):\n        return self.grow(2) + other.grow(3)\n\n\n"
    "class Other:\n"
    "    def run(self, extra):\n        return self.grow(4)\n"
)


def test_a_methods_calls_on_self_in_its_class_follow_its_signature() -> None:
    engine = _engine(METHODS, "python")
    end = _type(engine, (1, len("    def grow(self, by")), ", extra")
    # Not on another object, not another class's `self.grow`.
    assert _apply_all(engine, end - 1) == METHODS.replace(
        "(self, by)", "(self, by, extra)"
    ).replace("self.grow(2)", "self.grow(2, extra)")
    engine = _engine(METHODS, "python")
    engine.apply(URI, "", ((1, len("    def grow(self")), (1, len("    def grow(self, by"))))
    assert _apply_all(engine, 0) == METHODS.replace("(self, by)", "(self)").replace(
        "self.grow(2)", "self.grow()"
    )


def test_a_constructors_signature_is_followed_at_the_classs_calls() -> None:
    text = (
        "class Box:\n    def __init__(self, size):\n        self.size = size\n\n\n"
        "def make(color):\n    return Box(1), Box(2).size, other.Box(3)\n"
    )
    engine = _engine(text, "python")
    end = _type(engine, (1, len("    def __init__(self, size")), ", color")
    assert _apply_all(engine, end - 1) == text.replace(
        "(self, size)", "(self, size, color)"
    ).replace("Box(1), Box(2)", "Box(1, color), Box(2, color)")


def test_a_keyword_only_parameter_added_proposes_nothing() -> None:
    engine = _engine("def f(a, *, b):\n    pass\n\n\ndef g(c):\n    f(1, b=2)\n", "python")
    end = _type(engine, (0, len("def f(a, *, b")), ", c")
    assert engine.next_edits(URI, end - 1) == []


def test_a_parameter_removed_is_dropped_at_the_calls() -> None:
    text = "def f(a, b, c):\n    pass\n\nf(1, 2, 3)\nf(4, 5, 6)\nf(7, 8)\n"
    for removed, expected in [
        (((0, 6), (0, 9)), "f(2, 3)\nf(5, 6)\nf(7, 8)\n"),  # "a, "
        (((0, 7), (0, 10)), "f(1, 3)\nf(4, 6)\nf(7, 8)\n"),  # ", b"
        (((0, 10), (0, 13)), "f(1, 2)\nf(4, 5)\nf(7, 8)\n"),  # ", c": f(7, 8) had two already
    ]:
        engine = _engine(text, "python")
        engine.apply(URI, "", removed)
        assert _apply_all(engine, 0).split("\n\n")[1] == expected


def test_no_call_update_for_a_default_or_a_change_inside_a_parameter() -> None:
    text = "def f(a):\n    pass\n\nf(1)\n"
    engine = _engine(text, "python")
    _type(engine, (0, 7), ", b=0")
    assert engine.next_edits(URI, 0) == []
    engine = _engine("def f(a: int):\n    pass\n\nf(1)\n", "python")
    engine.apply(URI, "str", ((0, 9), (0, 12)))  # a type changed: no parameter added
    assert engine.next_edits(URI, 0) == []


def test_the_calls_left_to_update_are_forgotten_after_another_edit() -> None:
    text = "def f(a):\n    pass\n\nb = 0\nf(1)\nf(2)\n"
    engine = _engine(text, "python")
    _type(engine, (0, 7), ", b")
    [first, _] = engine.next_edits(URI, 0)
    doc = engine.documents[URI].doc
    start, end = doc.position_at(first.replacement.start), doc.position_at(first.replacement.end)
    engine.apply(URI, first.replacement.new_text, (start, end))  # the first call updated
    assert len(engine.next_edits(URI, 0)) == 1
    engine.apply(URI, "#", ((1, 0), (1, 0)))  # something else
    assert engine.next_edits(URI, 0) == []


def test_a_whole_document_resent_is_trimmed_to_what_changed() -> None:
    text = "def f(old):\n    return old\n"
    engine = _engine(text, "python")
    engine.apply(URI, text.replace("f(old)", "f(new)"), None)  # a client on full sync
    change = engine.documents[URI].changes.change
    assert change is not None
    assert (change.start, change.old_end, change.new_end) == (6, 9, 9)
    engine.apply(URI, "def f(new):\n    return old\n\n", None)  # a line added at the end
    change = engine.documents[URI].changes.change
    assert change is not None and (change.start, change.new_end) == (len(text), len(text) + 1)


def test_typing_on_full_sync_is_still_typing() -> None:
    engine = _engine("def f(old):\n    return old\n", "python")
    for typed in ("ol", "o", "", "n", "ne", "new"):  # the name retyped, a document per key
        engine.apply(URI, f"def f({typed}):\n    return old\n", None)
    end = len("def f(new")
    assert engine.next_edits(URI, end) == []
    assert [p.replacement.new_text for p in engine.next_edits(URI, end - 1)] == ["new"]


# -- the same line edit made twice -------------------------------------------------------------


def _type_at(engine: ContextEngine, offset: int, text: str, delete: int = 0) -> int:
    """Delete `delete` characters at `offset`, then type `text` there key by key; the offset
    after it."""
    doc = engine.documents[URI].doc
    line, character = doc.position_at(offset)
    if delete:
        engine.apply(URI, "", ((line, character), (line, character + delete)))
    for typed, letter in enumerate(text):
        engine.apply(URI, letter, ((line, character + typed), (line, character + typed)))
    return offset + len(text)


AWAITED = (
    "async def fetch(url):\n"
    "    return url\n"
    "\n"
    "async def main(client):\n"
    "    a = fetch('a')\n"
    "    b = fetch('b')\n"
    "    c = client.fetch('c')\n"
    "    d = await fetch('d')\n"
    "    e = fetch('e')\n"
)


def test_an_insertion_made_twice_is_proposed_where_the_same_syntax_stands() -> None:
    engine = _engine(AWAITED, "python")
    doc = engine.documents[URI].doc
    _type_at(engine, doc.text.index("fetch('a')"), "await ")
    assert engine.next_edits(URI, 0) == []  # once is not yet a pattern
    cursor = _type_at(engine, doc.text.index("fetch('b')"), "await ")
    proposals = engine.next_edits(URI, cursor)
    # Only the call of the same function not awaited yet: not `def fetch`, not another
    # object's `fetch`, not the call awaited already.
    assert [p.reason for p in proposals] == ["repeat"]
    assert _apply(doc.text, proposals[0]).endswith("    e = await fetch('e')\n")


def test_a_typo_fixed_twice_is_fixed_at_the_next_occurrence() -> None:
    text = "# recieve the data\ndef load():\n    pass  # recieve it\n# then recieve more\n"
    engine = _engine(text, "python")
    doc = engine.documents[URI].doc
    _type_at(engine, doc.text.index("recieve"), "receive", delete=len("recieve"))
    cursor = _type_at(engine, doc.text.index("recieve"), "receive", delete=len("recieve"))
    proposals = engine.next_edits(URI, cursor)
    assert len(proposals) == 1
    assert _apply(doc.text, proposals[0]).endswith("# then receive more\n")
    assert _apply_all(engine, cursor).count("recieve") == 0


def test_a_short_or_single_line_change_is_not_repeated() -> None:
    text = "f(a, b)\nf(a, b)\nf(a, b)\nx = 1\n"
    engine = _engine(text, "python")
    doc = engine.documents[URI].doc
    # A comma added twice: too common a pattern to repeat.
    _type_at(engine, doc.text.index("b)"), ",")
    cursor = _type_at(engine, doc.text.index("b)", 10), ",")
    assert engine.next_edits(URI, cursor) == []
    # The same edit twice on one line is typing, not a mechanical change.
    engine = _engine("xs = [old, old]\nold\n", "python")
    doc = engine.documents[URI].doc
    _type_at(engine, doc.text.index("old"), "new_", delete=0)
    cursor = _type_at(engine, doc.text.index("old, "), "new_", delete=0)
    assert [p.reason for p in engine.next_edits(URI, cursor)] != ["repeat"]
