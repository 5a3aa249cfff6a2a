"""The offline engine's pieces: the lexer, the index, the predictor and the cache file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infill.backends.ngram.calibrate import calibrate, line_positions
from infill.backends.ngram.index import (
    CODE_BYTES,
    LIVE_BYTES_LIMIT,
    Corpus,
    NgramIndex,
)
from infill.backends.ngram.lexer import lexer_for, render, split_at_cursor, tokenize
from infill.backends.ngram.predictor import forecast, predict
from infill.backends.ngram.store import CacheError, cache_path, read, read_calibrations, write
from infill.backends.ngram.tuning import DEFAULT_TUNING, LINE_START, MID_LINE, NEVER

PY = lexer_for("python")
assert PY is not None


def indexed(files: dict[str, str], family: str = "python") -> NgramIndex:
    """An index of `files` with a built base, as after the start-up."""
    index = NgramIndex()
    for path, text in files.items():
        data = index.encode(text, family)
        assert data is not None
        index.put(path, family, data)
    plan = index.snapshot()
    index.install(NgramIndex.build(plan), plan)
    return index


def suggest(index: NgramIndex, document: str, path: str = "", family: str = "python") -> str | None:
    """The suggestion at the `█` of `document`."""
    prefix, suffix = document.split("█")
    return predict(index, family, prefix, suffix, path)


# -- lexer ------------------------------------------------------------------------------------


def test_tokens_carry_their_blanks_and_line_breaks_say_how_indentation_changes():
    code = "def f(x):\n    return x + 1\n\n\nclass A:\n    pass\n"
    assert tokenize(code, PY) == [
        "def", " f", "(", "x", ")", ":", "\n>    ",
        "return", " x", " +", " 1", "\n\n<4",
        "class", " A", ":", "\n>    ",
        "pass", "\n<4",
    ]  # fmt: skip


def test_comments_are_skipped_like_blank_lines_and_rendering_gives_the_code_back():
    code = "x = 1  # note\n# a whole line\ny = 'a # not a comment'\n"
    tokens = tokenize(code, PY)
    assert tokens == ["x", " =", " 1", "\n=", "y", " =", " 'a # not a comment'", "\n="]
    assert render(tokens, "") == "x = 1\ny = 'a # not a comment'\n"
    # Continuing from an indented line: relative changes become that indentation.
    assert render(tokenize("a\n    b\nc", PY), "        ") == "a\n            b\n        c"


@pytest.mark.parametrize(
    ("family", "code", "expected"),
    [
        ("js", "const s = `a\nb`; // c", ["const", " s", " =", " `a\nb`", ";"]),
        ("rust", "fn f<'a>(x: &'a str) {}", ["fn", " f", "<", "'", "a", ">", "(", "x", ":"]),
        ("c", "int x; /* a\nb */ int y;", ["int", " x", ";", " int", " y", ";"]),
        ("lua", "x = 1 --[[ a\nb ]] y = [[s]]", ["x", " =", " 1", " y", " =", " [[s]]"]),
        ("bash", "echo ${#a} # c", ["echo", " $", "{", "#", "a", "}"]),
    ],
)
def test_each_dialect_knows_its_strings_and_comments(family: str, code: str, expected: list[str]):
    lexer = lexer_for(family)
    assert lexer is not None
    assert tokenize(code, lexer)[: len(expected)] == expected


def test_families_without_a_lexer_get_none():
    assert lexer_for("text") is None
    assert lexer_for("cobol") is None
    for family in ("python", "js", "go", "rust", "java", "c", "c_sharp", "ruby", "php", "lua"):
        assert lexer_for(family) is not None


@pytest.mark.parametrize(
    ("before", "pending", "last"),
    [
        ("self.na", "na", "."),  # the start of a word: the next token must begin with it
        ("x = ", " ", " ="),  # blanks: the next token must begin with them
        ("if x:\n    ", "", "\n>    "),  # a new line, its indentation typed
        ("s = 'abc", " 'abc", " ="),  # an unterminated string
        ("f(", "(", "f"),
    ],
)
def test_the_token_being_typed_is_pending(before: str, pending: str, last: str):
    split = split_at_cursor(before, PY)
    assert split is not None
    tokens, typed = split
    assert (typed, tokens[-1]) == (pending, last)


def test_inside_a_comment_there_is_nothing_to_split():
    assert split_at_cursor("x = 1  # the rest", PY) is None


# -- index ------------------------------------------------------------------------------------

token_ids = st.lists(st.integers(1, 4), min_size=1, max_size=60)
patterns = st.lists(st.integers(1, 4), min_size=1, max_size=5)


def encode_ids(ids: list[int]) -> bytes:
    return b"".join(i.to_bytes(CODE_BYTES, "big") for i in ids)


@settings(max_examples=200, deadline=None)
@given(files=st.lists(token_ids, min_size=1, max_size=4), pattern=patterns)
def test_the_suffix_array_and_the_scan_find_every_occurrence(
    files: list[list[int]], pattern: list[int]
):
    expected = sorted(
        (start + sum(len(f) + 1 for f in files[:n]))
        for n, f in enumerate(files)
        for start in range(len(f) - len(pattern) + 1)
        if f[start : start + len(pattern)] == pattern
    )
    named = [(f"f{n}", encode_ids(f)) for n, f in enumerate(files)]
    for indexed_corpus in (True, False):
        corpus = Corpus.join(named, indexed=indexed_corpus)
        matches = corpus.find(encode_ids(pattern), scan_limit=1000)
        assert matches.count == len(expected) and not matches.capped
        assert sorted(matches.sample(1000)) == expected


def test_a_scan_stops_at_its_limit_and_says_so():
    corpus = Corpus.join([("a", encode_ids([1, 2] * 10))], indexed=False)
    matches = corpus.find(encode_ids([1, 2]), scan_limit=4)
    assert (matches.count, matches.capped, matches.sample(10)) == (4, True, [0, 2, 4, 6])
    assert not corpus.find(encode_ids([1, 2]), scan_limit=11).capped


def test_a_scan_does_not_match_across_tokens():
    # Token ids 0x000101 0x010000... contain the bytes of 0x010100 at an offset of one byte.
    corpus = Corpus.join([("a", bytes([0, 1, 1, 1, 0, 0, 2, 2, 2]))], indexed=False)
    assert corpus.find(bytes([1, 1, 0])).count == 0
    assert corpus.find(bytes([1, 0, 0])).count == 1


def test_a_changed_file_shadows_its_version_in_the_base():
    index = indexed({"a.py": "alpha = beta\n", "b.py": "gamma = delta\n"})
    assert index.paths() == {"a.py", "b.py"}
    data = index.encode("alpha = omega\n", "python")
    assert data is not None
    index.put("a.py", "python", data)

    def occurrences(text: str) -> int:
        code = index.vocab.encode(tokenize(text, PY))
        return sum(len(m.sample(100)) for m in (c.find(code) for c in index.corpora("python")))

    unchanged = index.encode("gamma = delta\n", "python")
    assert unchanged is not None
    index.put("b.py", "python", unchanged, (1, 2))  # saved without a change
    assert "b.py" not in index.live and index.stamp("b.py") == (1, 2)
    assert occurrences("alpha = beta") == 0  # the old version is dead
    assert occurrences("alpha = omega") == 1
    assert occurrences("gamma = delta") == 1
    index.remove("b.py")
    assert occurrences("gamma = delta") == 0
    assert index.paths() == {"a.py"}


def test_files_changed_while_the_base_is_rebuilt_stay_live():
    index = indexed({"a.py": "one = 1\n", "b.py": "two = 2\n", "c.py": "three = 3\n"})
    plan = index.snapshot()
    data = index.encode("one = 11\n", "python")
    assert data is not None
    index.put("a.py", "python", data)  # after the snapshot
    index.remove("b.py")
    index.install(NgramIndex.build(plan), plan)
    assert set(index.live) == {"a.py"}
    assert index.paths() == {"a.py", "c.py"}
    texts = index.vocab.texts
    contents = {
        path: render([texts[i] for i in corpus.tokens_from(corpus.starts[n], 10)], "")
        for corpus in index.corpora("python")
        for n, path in enumerate(corpus.paths)
        if n not in corpus.dead
    }
    assert contents == {"a.py": "one = 11\n", "c.py": "three = 3\n"}


def test_many_changed_files_call_for_a_rebuild():
    index = indexed({"a.py": "x = 1\n"})
    assert not index.needs_rebuild()
    data = index.encode("value = compute(value)\n" * (LIVE_BYTES_LIMIT // 18), "python")
    assert data is not None
    index.put("big.py", "python", data)
    assert index.needs_rebuild()


# -- predictor --------------------------------------------------------------------------------

ITEMS = """\
class {name}:
    def __init__(self, name, price):
        self.name = name
        self.price = price

    def total(self, quantity):
        return self.price * quantity
"""


def shop(*names: str) -> NgramIndex:
    return indexed({f"{n.lower()}.py": ITEMS.format(name=n) for n in names})


def test_it_suggests_the_line_the_workspace_agrees_on():
    index = shop("Item", "Part", "Tool")
    document = "class Box:\n    def __init__(self, name, price):\n        █\n"
    # The whole body the occurrences agree on, up to where the block ends.
    assert suggest(index, document) == "self.name = name\n        self.price = price"
    assert suggest(index, "class Box:\n    def total(self, quantity):\n        █") == (
        "return self.price * quantity"
    )


def test_it_completes_the_word_being_typed():
    index = shop("Item", "Part")
    document = "class Box:\n    def __init__(self, name, price):\n        self.na█\n"
    assert suggest(index, document) == "me = name\n        self.price = price"


def test_no_suggestion_when_the_workspace_is_split():
    index = indexed(
        {
            "a.py": "def f(x):\n    return x + 1\n",
            "b.py": "def g(x):\n    return x * 2\n",
            "c.py": "def h(x):\n    return x - 3\n",
        }
    )
    assert suggest(index, "def k(x):\n    return█") is None


def test_no_suggestion_from_a_single_short_match():
    index = indexed({"a.py": "total = price * quantity\n"})
    assert suggest(index, "cost = █") is None
    assert suggest(index, "text = 'unknown' + █") is None


def test_one_long_match_followed_by_the_line_below_is_enough():
    code = (
        "def area(shape):\n    width = shape.width\n    height = shape.height\n    return width\n"
    )
    index = indexed({"a.py": code})
    document = "def area(shape):\n    width = shape.width\n    █\n    return width\n"
    assert suggest(index, document) == "height = shape.height"
    # Without the line below agreeing, one occurrence is too little.
    document = "def area(shape):\n    width = shape.width\n    █\n    print(width)\n"
    assert suggest(index, document) is None


def test_the_rest_of_the_line_must_end_the_suggestion():
    index = indexed({f"{n}.py": "value = compute()\nprint(name, value)\n" for n in "abc"})
    assert suggest(index, "value = compute()\nprint(█)") == "name, value"
    assert suggest(index, "value = compute()\nprint(█) + 1") is None  # it would clash


def test_the_line_below_is_not_suggested_again():
    index = indexed({f"{n}.py": "start()\nrun(task)\n" for n in "abc"})
    assert suggest(index, "start()\n█\n") == "run(task)"
    assert suggest(index, "start()\n█\nrun(task)\n") is None


def test_no_suggestion_inside_a_comment_a_docstring_or_for_an_unknown_language():
    index = shop("Item", "Part", "Tool")
    assert suggest(index, "class Box:\n    def total(self, quantity):  # █") is None
    document = 'class Box:\n    """Boxes.\n\n    def total(self, quantity):\n        █'
    assert suggest(index, document) is None  # prose in a docstring, however code-like
    assert suggest(index, document.replace('"""Boxes.', '"""Boxes."""')) is not None
    assert (
        suggest(index, "class Box:\n    def total(self, quantity):\n        █", family="text")
        is None
    )


def test_the_document_itself_ending_the_line_at_the_cursor_does_not_count():
    index = shop("Item", "Part")
    document = "class Box:\n    def total(self, quantity):\n        return "
    data = index.encode(document, "python")
    assert data is not None
    index.put("box.py", "python", data)  # as indexed when the user paused here
    assert suggest(index, document + "█", path="box.py") == "self.price * quantity"


# -- generation, the document's own names --------------------------------------------------

LOGS = 'def {name}(user):\n    log.info("{verb} %s", user)\n    return user\n'


def logs(**verbs: str) -> dict[str, str]:
    return {f"{name}.py": LOGS.format(name=name, verb=verb) for name, verb in verbs.items()}


def test_a_line_the_workspace_is_split_on_is_generated_from_its_clear_majority():
    index = indexed(logs(a="starting", b="starting", c="starting", d="stopping"))
    prefix = 'def e(user):\n    log.info("st'
    found = forecast(index, "python", prefix, "\n")
    # 3 against 1 is short of the share a whole line needs, not of a token's confidence.
    assert found is not None and found.choice is None and found.generated is not None
    assert found.text == 'arting %s", user)'
    assert [step.token for step in found.generated.steps] == [
        '"starting %s"',
        ",",
        " user",
        ")",
        "\n=",
    ]
    assert found.explain()["source"] == "generated"
    # 2 against 2: no token is the likelier, nothing is shown.
    even = indexed(logs(a="starting", b="starting", c="stopping", d="stopping"))
    assert forecast(even, "python", prefix, "\n") is None


def test_the_documents_own_habit_outweighs_the_workspaces():
    index = indexed(logs(a="starting", b="starting", c="starting"))
    document = LOGS.format(name="d", verb="stopping") + LOGS.format(name="e", verb="stopping")
    document += '\n\ndef f(user):\n    log.info("st█\n'
    # Not indexed yet: the workspace agrees on the line, and on the one after it.
    assert suggest(index, document, path="doc.py") == 'arting %s", user)\n    return user'
    data = index.encode(document.split("█")[0], "python")
    assert data is not None
    index.put("doc.py", "python", data)  # as indexed when the user paused
    assert suggest(index, document, path="doc.py") == 'opping %s", user)'


# -- calibration ------------------------------------------------------------------------------


def test_positions_are_line_starts_and_a_third_in_and_the_code_ends_before_a_comment():
    text = "def f(x):\n    return x + 1  # one more\n\n# note\n"
    found = [(p.kind, text[p.cursor : p.end]) for p in line_positions(text, PY)]
    assert found == [
        (LINE_START, "def f(x):"),
        (MID_LINE, " f(x):"),
        (LINE_START, "return x + 1"),
        (MID_LINE, " + 1"),
        (LINE_START, ""),  # a comment: nothing for the engine to write
        (MID_LINE, ""),
    ]


def many_classes(names: list[str]) -> str:
    return "\n\n".join(ITEMS.format(name=name) for name in names)


def test_calibration_keeps_what_reaches_the_target_on_the_workspaces_own_files():
    files = {f"f{i}.py": many_classes([f"A{i}{j}" for j in range(12)]) for i in range(6)}
    index = indexed(files)
    calibration = calibrate(index, "python", files.get)
    assert calibration is not None and calibration.files == 6
    for measured in calibration.measured:
        assert measured.shown and measured.precision >= 0.6
    assert calibration.tuning.line_start.min_share < NEVER
    # Saved with the index, and readable without it.
    index.calibrations["python"] = calibration
    assert "line start: 100% right" in calibration.describe()


def noise(seed: int) -> str:
    """Lines the engine cannot predict, however it looks: random names in one shape."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta"]
    lines = [f"{rng.choice(words)} = {rng.choice(words)}({rng.choice(words)})" for _ in range(80)]
    return "\n".join(lines) + "\n"


def default_guesses(index: NgramIndex, text: str) -> list[tuple[str, str]]:
    """The texts before and after a cursor (at a line start or a third into a line of `text`,
    the rest of the line taken out) where the default thresholds show a line the workspace
    agreed on."""
    found = []
    for position in line_positions(text, PY):
        prefix, suffix = text[: position.cursor], text[position.line_end :]
        guess = forecast(index, "python", prefix, suffix, tuning=DEFAULT_TUNING)
        if guess is not None and guess.choice is not None:
            found.append((prefix, suffix))
    return found


def test_calibration_turns_off_what_is_wrong_on_the_workspaces_own_files():
    files = {f"f{i}.py": noise(i) for i in range(6)}
    index = indexed(files)
    calibration = calibrate(index, "python", files.get)
    assert calibration is not None
    assert all(m.shown == 0 for m in calibration.measured)
    # Lines agreed on were wrong: none is shown. Generated ones never reached their threshold
    # there: too little evidence, their default stays.
    tuning = calibration.tuning
    assert tuning.line_start.min_share == tuning.mid_line.min_share == NEVER
    assert tuning.line_start.generated == DEFAULT_TUNING.line_start.generated
    guesses = default_guesses(index, files["f0.py"])
    assert guesses
    index.calibrations["python"] = calibration
    for prefix, suffix in guesses:
        found = forecast(index, "python", prefix, suffix)
        assert found is None or found.choice is None
    assert [guess for guess in guesses if forecast(index, "python", *guess) is None]


def test_too_few_files_to_tell_keep_the_defaults():
    files = {"a.py": many_classes(["A", "B"])}
    assert calibrate(indexed(files), "python", files.get) is None


def test_a_held_out_file_comes_back():
    index = shop("Item", "Part", "Tool")
    document = "class Box:\n    def total(self, quantity):\n        █"
    with index.held_out("item.py"):
        data = index.encode("class Item:\n", "python")
        assert data is not None
        index.put("item.py", "python", data)
    assert index.live == {} and not index.base["python"].dead
    assert suggest(index, document) == "return self.price * quantity"


# -- cache file -------------------------------------------------------------------------------


def test_the_saved_index_predicts_as_the_built_one(tmp_path: Path):
    index = shop("Item", "Part", "Tool")
    path = tmp_path / "index.bin"
    write(path, *index.saved_state())
    loaded = NgramIndex()
    loaded.load(*read(path))
    assert loaded.paths() == index.paths()
    assert loaded.base_stamps == index.base_stamps
    document = "class Box:\n    def total(self, quantity):\n        █"
    assert suggest(loaded, document) == suggest(index, document) == "return self.price * quantity"


def test_the_calibration_is_saved_with_the_index(tmp_path: Path):
    files = {f"f{i}.py": many_classes([f"A{i}{j}" for j in range(12)]) for i in range(6)}
    index = indexed(files)
    calibration = calibrate(index, "python", files.get)
    assert calibration is not None
    index.calibrations["python"] = calibration
    path = tmp_path / "index.bin"
    write(path, *index.saved_state())
    assert read_calibrations(path) == {"python": calibration}
    loaded = NgramIndex()
    loaded.load(*read(path))
    assert loaded.calibrations == {"python": calibration}


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:-5] + bytes(b ^ 0xFF for b in data[-5:]),  # corrupt
        lambda data: data.replace(b'"version": 1', b'"version": 0'),  # an older format
        lambda data: b"not an index at all",
        lambda data: b"",
    ],
)
def test_a_damaged_cache_file_is_refused(tmp_path: Path, damage):
    path = tmp_path / "index.bin"
    write(path, *shop("Item").saved_state())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CacheError):
        read(path)
    with pytest.raises(CacheError):
        read(tmp_path / "missing.bin")


def test_each_workspace_has_its_own_cache_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first, second = cache_path("/work/shop"), cache_path("/work/other/shop")
    assert first != second
    assert first.parent == second.parent == tmp_path / "infill" / "ngram"
