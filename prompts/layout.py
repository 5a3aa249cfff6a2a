"""The prompt laid out by how often its parts change, for servers that cache prompts.

A local server's KV cache (llama.cpp's `cache_prompt`), and the prefix caches of hosted APIs,
reuse what a prompt shares with the one before it from its first token: everything after the
first difference is computed again. So the parts that change least come first:

1. other code (`StableContext`): chosen when the user starts in a file, jumps far or saves,
   not at every keystroke, and kept in the order it was chosen;
2. the current file's prefix, from a first line that moves in steps of `PREFIX_STEP_LINES`
   (`snap_start`), so that a new line typed does not shift the whole window;
3. the line being typed, then a short suffix: these change with every keystroke.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

# Any snippet of other code (the context engine's, with where it comes from, for explain).
S = TypeVar("S")

# The prefix window's first line is a multiple of this: it moves once per this many lines
# the window grows by, costing one recomputation of the prefix then, and leaves half of it
# unused on average (a 691-token window of dense code is about 90 lines).
PREFIX_STEP_LINES = 16
# A cursor this many lines from where the other code was chosen is elsewhere in the file.
FAR_LINES = 64


@dataclass(frozen=True)
class ServerRoom:
    """What a server keeps of each part of a request, in tokens (None: no limit known).
    Sending more would have the server cut it from the front, shifting all that follows."""

    prefix_tokens: int | None = None
    suffix_tokens: int | None = None
    extra_tokens: int | None = None


# Our counts are cl100k's unless the model's tokenizer is set: a margin for the difference.
COUNT_MARGIN = 0.9
# The line being typed, which llama.cpp's /infill takes out of the suffix's quarter.
TYPED_LINE_TOKENS = 64


NO_LIMITS = ServerRoom()


def infill_room(batch_tokens: int, context_tokens: int | None) -> ServerRoom:
    """What llama-server's /infill keeps (its format_prompt_infill): the last 3/4 of the batch
    of the prefix, a quarter of it less the typed line of the suffix, and of the other files
    what the context leaves beside a batch (None: the context is not known)."""
    extra = None if context_tokens is None else context_tokens - batch_tokens
    return ServerRoom(
        prefix_tokens=int(batch_tokens * 3 // 4 * COUNT_MARGIN),
        suffix_tokens=int((batch_tokens // 4 - 2 - TYPED_LINE_TOKENS) * COUNT_MARGIN),
        extra_tokens=None if extra is None else max(int(extra * COUNT_MARGIN), 0),
    )


def within(allowance: int, limit: int | None) -> int:
    """`allowance`, and never over `limit` when one is known."""
    return allowance if limit is None else max(min(allowance, limit), 0)


def window_start(earliest: int, previous: int | None, step: int = PREFIX_STEP_LINES) -> int:
    """The line the prefix window starts at, when the budget lets it start at `earliest`: where
    it started last (`previous`) while that still fits and wastes a step at most, else the
    next multiple of `step`. Token counts of a line being typed go up and down (a word's
    pieces merge); without the memory a window at the edge of a step would flip between two."""
    if previous is not None and earliest <= previous <= earliest + step:
        return previous
    return -(-earliest // step) * step


def snap_start(prefix: str, first_line: int, start: int) -> str:
    """`prefix`, whose first line is line `first_line` of the document, with the lines before
    line `start` dropped (the cursor's line is kept)."""
    skip = start - first_line
    cut = 0
    for _ in range(skip):
        found = prefix.find("\n", cut)
        if found == -1:
            return prefix[cut:]  # the cursor's line: kept whatever its number
        cut = found + 1
    return prefix[cut:]


class StableContext(Generic[S]):
    """The other code at the head of the prompt, the same from keystroke to keystroke.

    It is chosen afresh (the best snippets that fit, best nearest the cursor) when the user
    starts in another document, moves far from where it was chosen, or saves; between those
    events every request gets the same snippets in the same order, with the text they had
    when chosen.
    """

    def __init__(self) -> None:
        self.chosen: list[S] = []  # best first
        self.uri = ""
        self.line = 0
        self.prefix_start: int | None = None  # the line the last prefix window started at
        self.stale = True
        self.changes = 0  # how often it was chosen afresh: the requests that paid for it

    def refresh(self) -> None:
        """Choose again at the next request (the user saved: a natural pause)."""
        self.stale = True

    def due(self, uri: str, line: int) -> bool:
        """Whether a request at `line` of `uri` chooses the snippets afresh (else it need not
        gather any)."""
        return self.stale or uri != self.uri or abs(line - self.line) > FAR_LINES

    def choose(self, uri: str, line: int, snippets: Sequence[S]) -> None:
        """`snippets` (best first) from now on, chosen at `line` of `uri`."""
        self.chosen = list(snippets)
        self.uri, self.line, self.stale = uri, line, False
        self.prefix_start = None
        self.changes += 1
