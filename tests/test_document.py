"""Unit tests for context/document.py: position encodings, line terminators, edits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infill.context.document import (
    ENCODINGS,
    UTF8,
    UTF16,
    UTF32,
    Document,
    InvalidEdit,
    code_units,
    index_for_units,
    well_formed,
)
from tests.fuzzing import fuzz_settings
from tests.reference_document import (
    line_starts,
    reference_change,
    reference_text,
)

# -- code_units ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utf8", "utf16", "utf32"),
    [
        ("", 0, 0, 0),
        ("abc", 3, 3, 3),
        ("漢字", 6, 2, 2),
        ("😀", 4, 2, 1),
        ("é", 2, 1, 1),
        ("aé😀漢", 1 + 2 + 4 + 3, 1 + 1 + 2 + 1, 4),
    ],
)
def test_code_units(text: str, utf8: int, utf16: int, utf32: int):
    assert code_units(text, UTF8) == utf8
    assert code_units(text, UTF16) == utf16
    assert code_units(text, UTF32) == utf32


# -- index_for_units -----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_index_for_units_ascii_is_the_unit_count_clamped_to_the_line(encoding: str):
    assert index_for_units("hello", 0, encoding) == 0
    assert index_for_units("hello", 3, encoding) == 3
    assert index_for_units("hello", 5, encoding) == 5
    assert index_for_units("hello", 6, encoding) == 5
    assert index_for_units("hello", 1000, encoding) == 5
    assert index_for_units("hello", -3, encoding) == 0


@pytest.mark.parametrize(
    ("encoding", "units", "index"),
    [
        # "漢字": 3 UTF-8 bytes each, 1 UTF-16 unit each.
        (UTF8, 0, 0),
        (UTF8, 1, 0),  # inside the first character: its start
        (UTF8, 2, 0),
        (UTF8, 3, 1),
        (UTF8, 5, 1),
        (UTF8, 6, 2),
        (UTF8, 7, 2),  # past the end
        (UTF16, 1, 1),
        (UTF16, 2, 2),
        (UTF16, 3, 2),
        (UTF32, 1, 1),
        (UTF32, 2, 2),
        (UTF32, 9, 2),
    ],
)
def test_index_for_units_cjk(encoding: str, units: int, index: int):
    assert index_for_units("漢字", units, encoding) == index


@pytest.mark.parametrize(
    ("encoding", "units", "index"),
    [
        # "a😀b": the emoji is 2 UTF-16 units, 4 UTF-8 bytes, 1 UTF-32 unit.
        (UTF16, 1, 1),
        (UTF16, 2, 1),  # between the two halves of the surrogate pair: start of the emoji
        (UTF16, 3, 2),
        (UTF16, 4, 3),
        (UTF16, 5, 3),
        (UTF8, 1, 1),
        (UTF8, 2, 1),  # inside the 4-byte sequence
        (UTF8, 3, 1),
        (UTF8, 4, 1),
        (UTF8, 5, 2),
        (UTF8, 6, 3),
        (UTF8, 60, 3),
        (UTF32, 1, 1),
        (UTF32, 2, 2),
        (UTF32, 3, 3),
        (UTF32, 4, 3),
    ],
)
def test_index_for_units_emoji(encoding: str, units: int, index: int):
    assert index_for_units("a😀b", units, encoding) == index


# -- line terminators ----------------------------------------------------------------------------


@pytest.mark.parametrize("separator", ["\x0c", "\u2028", "\u2029", "\x0b", "\x1c", "\x85"])
def test_only_lf_crlf_and_cr_break_lines(separator: str):
    # str.splitlines() would split at every one of these; LSP does not.
    text = f"a{separator}b\nc"
    doc = Document("file:///x", text)
    assert doc.line_count == 2
    assert doc.line_starts == [0, 4]
    assert doc.line_text(0) == f"a{separator}b"
    assert doc.line_text(1) == "c"
    assert doc.position_at(3) == (0, 3)
    assert doc.offset_at(1, 0) == 4


def test_crlf_lines():
    doc = Document("file:///x", "ab\r\ncd\r\n")
    assert doc.line_starts == [0, 4, 8]
    assert doc.line_count == 3
    assert doc.line_ending == "\r\n"
    assert doc.line_bounds(0) == (0, 2)
    assert doc.line_bounds(1) == (4, 6)
    assert doc.line_bounds(2) == (8, 8)
    assert [doc.line_text(i) for i in range(3)] == ["ab", "cd", ""]
    assert doc.position_at(0) == (0, 0)
    assert doc.position_at(2) == (0, 2)
    assert doc.position_at(3) == (0, 2)  # between "\r" and "\n": the end of the line
    assert doc.position_at(4) == (1, 0)
    assert doc.position_at(7) == (1, 2)
    assert doc.position_at(8) == (2, 0)


def test_cr_only_lines():
    doc = Document("file:///x", "ab\rcd\r")
    assert doc.line_starts == [0, 3, 6]
    assert doc.line_ending == "\r"
    assert doc.line_bounds(0) == (0, 2)
    assert [doc.line_text(i) for i in range(3)] == ["ab", "cd", ""]
    assert doc.position_at(2) == (0, 2)
    assert doc.position_at(3) == (1, 0)
    assert doc.position_at(5) == (1, 2)
    assert doc.position_at(6) == (2, 0)


def test_mixed_terminators_and_cr_before_crlf():
    doc = Document("file:///x", "a\r\n\rb\nc\r\r\nd")
    assert doc.line_starts == [0, 3, 4, 6, 8, 10]
    assert [doc.line_text(i) for i in range(doc.line_count)] == ["a", "", "b", "c", "", "d"]
    assert doc.line_bounds(4) == (8, 8)  # the empty line between "\r" and "\r\n"


def test_line_ending_defaults_to_lf_for_a_single_line():
    assert Document("file:///x", "no terminator").line_ending == "\n"
    assert Document("file:///x", "a\nb\r\n").line_ending == "\n"


# -- offset_at / position_at ---------------------------------------------------------------------


def test_offset_past_the_end_of_a_line_clamps_to_the_line_end():
    doc = Document("file:///x", "ab\r\ncd\nef")
    assert doc.offset_at(0, 2) == 2
    assert doc.offset_at(0, 3) == 2  # not the "\n" of the "\r\n"
    assert doc.offset_at(0, 100) == 2
    assert doc.offset_at(1, 100) == 6
    assert doc.offset_at(2, 100) == 9


def test_offset_past_the_last_line_is_the_end_of_the_document():
    doc = Document("file:///x", "ab\ncd")
    assert doc.offset_at(2, 0) == 5
    assert doc.offset_at(7, 3) == 5


def test_negative_positions_are_refused():
    doc = Document("file:///x", "ab")
    with pytest.raises(ValueError):
        doc.offset_at(-1, 0)
    with pytest.raises(ValueError):
        doc.offset_at(0, -1)


@pytest.mark.parametrize(
    ("encoding", "character", "offset"),
    [
        (UTF16, 0, 3),
        (UTF16, 1, 3),  # inside the surrogate pair: start of the emoji
        (UTF16, 2, 4),
        (UTF16, 3, 5),
        (UTF16, 4, 5),  # past the end of the line, not into the next one
        (UTF8, 2, 3),  # inside the emoji's 4 bytes
        (UTF8, 4, 4),
        (UTF8, 6, 4),  # inside the "漢"
        (UTF8, 7, 5),
        (UTF32, 1, 4),
        (UTF32, 2, 5),
    ],
)
def test_offset_at_in_each_encoding(encoding: str, character: int, offset: int):
    doc = Document("file:///x", "xy\n😀漢\n", encoding=encoding)
    # Line 1 is "😀漢" starting at offset 3.
    assert doc.offset_at(1, character) == offset


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [(UTF8, (1, 7)), (UTF16, (1, 3)), (UTF32, (1, 2))],
)
def test_position_at_counts_code_units_of_the_encoding(encoding: str, expected: tuple[int, int]):
    doc = Document("file:///x", "é\n漢😀x", encoding=encoding)
    assert doc.position_at(4) == expected  # just before "x"


def test_position_at_clamps_offsets_outside_the_document():
    doc = Document("file:///x", "ab\ncd")
    assert doc.position_at(-5) == (0, 0)
    assert doc.position_at(100) == (1, 2)


# -- apply_change --------------------------------------------------------------------------------


def test_full_change_replaces_text_and_lines():
    doc = Document("file:///x", "old\ntext")
    doc.apply_change("new\r\nlines\rhere", None)
    assert doc.text == "new\r\nlines\rhere"
    assert doc.line_starts == [0, 5, 11]


def test_incremental_change_across_lines():
    doc = Document("file:///x", "hello\nworld\n!")
    doc.apply_change("X", ((0, 1), (1, 2)))
    assert doc.text == "hXrld\n!"
    assert doc.line_starts == [0, 6]


def test_incremental_insert_after_an_emoji_in_utf16():
    doc = Document("file:///x", "😀a\n", encoding=UTF16)
    doc.apply_change("b", ((0, 2), (0, 2)))
    assert doc.text == "😀ba\n"


def test_incremental_change_in_utf8_bytes():
    doc = Document("file:///x", "é漢z", encoding=UTF8)
    doc.apply_change("-", ((0, 2), (0, 5)))  # replace "漢"
    assert doc.text == "é-z"


def test_incremental_insert_of_a_newline_splits_a_line():
    doc = Document("file:///x", "abcd\nef")
    doc.apply_change("\n", ((0, 2), (0, 2)))
    assert doc.text == "ab\ncd\nef"
    assert doc.line_starts == [0, 3, 6]


def test_an_edit_joining_cr_and_lf_makes_one_terminator():
    doc = Document("file:///x", "a\rx\nb")
    assert doc.line_starts == [0, 2, 4]
    doc.apply_change("", ((1, 0), (1, 1)))
    assert doc.text == "a\r\nb"
    assert doc.line_starts == [0, 3]


def test_an_edit_splitting_crlf_makes_two_terminators():
    doc = Document("file:///x", "a\r\nb")
    doc.apply_change("\rz\n", ((0, 1), (1, 0)))
    assert doc.text == "a\rz\nb"
    assert doc.line_starts == [0, 2, 4]


def test_a_range_past_the_end_reaches_the_end_of_the_document():
    doc = Document("file:///x", "ab\ncd")
    doc.apply_change("Z", ((0, 1), (99, 0)))
    assert doc.text == "aZ"
    assert doc.line_starts == [0]


@pytest.mark.parametrize(
    "change_range",
    [((1, 0), (0, 0)), ((1, 2), (1, 1)), ((2, 0), (0, 3))],
)
def test_range_end_before_its_start_is_refused_and_leaves_the_document(change_range):
    doc = Document("file:///x", "abc\ndef\nghi")
    with pytest.raises(InvalidEdit):
        doc.apply_change("X", change_range)
    assert doc.text == "abc\ndef\nghi"
    assert doc.line_starts == [0, 4, 8]


def test_lone_surrogates_become_replacement_characters_of_the_same_width():
    # JSON can carry half a pair; nothing downstream (tree-sitter, tokenizers, HTTP) takes it.
    doc = Document("file:///x", "a\ud800b\ud83d\ude00")
    assert doc.text == "a\ufffdb\ufffd\ufffd"
    doc.apply_change("\udc00", ((0, 1), (0, 1)))
    assert doc.text == "a\ufffd\ufffdb\ufffd\ufffd"
    assert well_formed("a😀\ud800") == "a😀\ufffd"
    for encoding in ENCODINGS:
        assert code_units("\ud800", encoding) == code_units("\ufffd", encoding)


# -- property: incremental edits agree with a plain-string reference -----------------------------

ALPHABET = ["a", " ", "\n", "\r", "é", "😀", "漢", "\ud83d", "\ude00"]


texts = st.text(alphabet=st.sampled_from(ALPHABET), max_size=20)
edits = st.lists(
    st.tuples(
        st.sampled_from(ENCODINGS),
        st.integers(0, 6),
        st.integers(0, 10),
        st.integers(0, 6),
        st.integers(0, 10),
        texts,
    ),
    min_size=1,
    max_size=8,
)


@fuzz_settings(300)
@given(initial=texts, changes=edits)
def test_incremental_edits_match_a_reference_splice(initial: str, changes):
    doc = Document("file:///x", initial)
    expected = reference_text(initial)
    for encoding, start_line, start_char, end_line, end_char, new_text in changes:
        doc.encoding = encoding
        change_range = ((start_line, start_char), (end_line, end_char))
        after = reference_change(expected, change_range, new_text, encoding)
        if after is None:
            with pytest.raises(InvalidEdit):
                doc.apply_change(new_text, change_range)
        else:
            doc.apply_change(new_text, change_range)
            expected = after
        assert doc.text == expected
        assert doc.line_starts == line_starts(doc.text)
