"""The built-in offline engine: completions from an index of the workspace's own code, with no
model, no server and no key.

The workspace is the best predictor of its own boilerplate, imports, repeated calls and names:
the index (`index.py`) holds its files as tokens (`lexer.py`) with suffix arrays, the predictor
(`predictor.py`) continues the longest stretch of code that ends like the text before the cursor
when the workspace agrees on how it goes on, or else writes the rest of the line a token at a
time from the workspace's n-grams and the document's own (`generate.py`); the thresholds are
measured on the workspace's own files (`calibrate.py`, `tuning.py`), and `store.py` keeps the
index and them in the user's cache.
The server feeds the index (it owns the workspace walk and the ignore rules); this backend only
reads it, behind the same streaming interface as the LLM clients.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from infill.backends.base import CompletionRequest, StreamEvent
from infill.backends.ngram.index import NgramIndex
from infill.backends.ngram.predictor import predict


class NgramBackend:
    takes_n = False  # one prediction: the evidence's best
    limits = None  # no server

    def __init__(self, index: Callable[[], NgramIndex | None]) -> None:
        """`index()`: the workspace's index, None while it is being built."""
        self._index = index

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        if request.on_sent is not None:
            request.on_sent()  # nothing to send: the work that waits for it may start
        index = self._index()
        if index is None:
            return  # not ready: nothing to show yet
        text = predict(index, request.language_family, request.prefix, request.suffix, request.path)
        if text:
            yield StreamEvent(text, finish_reason="stop")

    async def warm(self) -> str | None:
        """Nothing to connect to."""
        return None

    async def prime(self, request: CompletionRequest) -> None:
        """No prompt cache."""

    async def aclose(self) -> None:
        """Nothing to close: the index belongs to the server."""


__all__ = ["NgramBackend", "NgramIndex"]
