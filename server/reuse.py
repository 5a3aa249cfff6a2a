"""Answers without waiting for the model: what was suggested before (typeahead, cache), requests
still in flight, and how fast the user types (for the debounce).

Everything here compares document text: `prefix` is the document up to the cursor and `suffix`
the rest, with the document's own line endings; suggestion texts have them too.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from infill.metrics import percentile
from infill.postprocess import replaced_length

# Windows of the document around the cursor that key the cache: what a model sees of it.
CACHE_PREFIX_CHARS = 4096
CACHE_SUFFIX_CHARS = 1024
CACHE_SIZE = 256
RECENT_PER_DOCUMENT = 8  # results a keystroke can type into
_CRLF = re.compile(r"\r\n?")


@dataclass(frozen=True)
class Suggestion:
    """Suggestions for a cursor, best first, and how they were made: "backend" (a request to the
    model), "prefetch" (one made after an accept), "cache" (the same place again), "typeahead"
    (the rest of one the user is typing) or "inflight" (a request the user typed along with)."""

    prefix: str
    suffix: str
    texts: tuple[str, ...]
    source: str = "backend"
    rest_of: Suggestion | None = None  # typeahead: the suggestion the user is typing

    @property
    def typed(self) -> int:
        """Characters the user typed into `rest_of` since it was made."""
        return len(self.prefix) - len(self.rest_of.prefix) if self.rest_of is not None else 0

    def replaced(self, text: str) -> str:
        """What `text` replaces right of the cursor: nothing, or the rest of its line when it
        writes that out again and goes on past it (`fn f(|)` → `n: u32) {…}`)."""
        return self.suffix[: replaced_length(text, self.suffix)]


class SuggestionCache:
    """Suggestions by where they were made. A later cursor further along the same text gets
    the rest of a suggestion the user is typing (typeahead); the same place again (after an
    undo, a backspace) gets the same suggestions (an LRU keyed on the text around it)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._by_window: OrderedDict[tuple[str, str, str], Suggestion] = OrderedDict()
        self._recent: dict[str, deque[Suggestion]] = {}
        self._size = size

    def put(self, uri: str, made: Suggestion) -> None:
        """Keep a suggestion the model made ("backend" or "prefetch")."""
        key = _window(uri, made.prefix, made.suffix)
        self._by_window[key] = made
        self._by_window.move_to_end(key)
        while len(self._by_window) > self._size:
            self._by_window.popitem(last=False)
        self._recent.setdefault(uri, deque(maxlen=RECENT_PER_DOCUMENT)).appendleft(made)

    def lookup(self, uri: str, prefix: str, suffix: str) -> Suggestion | None:
        for made in self._recent.get(uri, ()):
            if suffix != made.suffix or not prefix.startswith(made.prefix):
                continue
            typed = prefix[len(made.prefix) :]
            if rest := rest_after(made.texts, typed):
                source = "typeahead" if typed else _source_again(made)
                return Suggestion(prefix, suffix, rest, source, rest_of=made)
        found = self._by_window.get(_window(uri, prefix, suffix))
        if found is None:
            return None
        self._by_window.move_to_end(_window(uri, prefix, suffix))
        return Suggestion(prefix, suffix, found.texts, _source_again(found))

    def forget(self, uri: str) -> None:
        self._recent.pop(uri, None)
        for key in [key for key in self._by_window if key[0] == uri]:
            del self._by_window[key]


def rest_after(texts: tuple[str, ...], typed: str) -> tuple[str, ...]:
    """What is left to show of the texts that start with what the user typed."""
    rest = (t[len(typed) :] for t in texts if t.startswith(typed))
    return tuple(r for r in rest if r.strip())


def _source_again(made: Suggestion) -> str:
    """The source of a suggestion given again at the place it was made."""
    return "prefetch" if made.source == "prefetch" else "cache"


def _window(uri: str, prefix: str, suffix: str) -> tuple[str, str, str]:
    return uri, prefix[-CACHE_PREFIX_CHARS:], suffix[:CACHE_SUFFIX_CHARS]


@dataclass
class Flight:
    """A backend request under way for a document: where it was made and what the model has
    streamed so far (its first candidate, "\\n" line endings, before post-processing)."""

    uri: str
    prefix: str
    suffix: str
    task: asyncio.Task[tuple[str, ...]]
    streamed: str = ""

    def serves(self, prefix: str, suffix: str) -> str | None:
        """What the user typed since the request was made, if its answer can still be the
        rest of what they are typing; None once the document has left it."""
        if suffix != self.suffix or not prefix.startswith(self.prefix):
            return None
        typed = prefix[len(self.prefix) :]
        return typed if agrees(typed, self.streamed) else None


def agrees(typed: str, streamed: str) -> bool:
    """Whether typed text and a model's text so far can be the same text: one starts the
    other (the model's leading blank, which the join would drop, aside)."""
    typed = _CRLF.sub("\n", typed)
    for text in (streamed, streamed.lstrip(" \t")):
        if text.startswith(typed) or typed.startswith(text):
            return True
    return False


class Flights:
    """At most one backend request per document: a newer cursor either rides along with it
    (the user is typing what it will answer) or cancels it (closing its HTTP stream)."""

    def __init__(self) -> None:
        self._by_uri: dict[str, Flight] = {}

    def get(self, uri: str) -> Flight | None:
        flight = self._by_uri.get(uri)
        return flight if flight is not None and not flight.task.done() else None

    def start(self, flight: Flight) -> None:
        previous = self._by_uri.get(flight.uri)
        if previous is not None and previous is not flight:
            _call_off(previous)
        self._by_uri[flight.uri] = flight
        flight.task.add_done_callback(lambda _: self._drop(flight))

    def _drop(self, flight: Flight) -> None:
        if self._by_uri.get(flight.uri) is flight:
            del self._by_uri[flight.uri]

    def abort_diverged(self, uri: str, text: str) -> None:
        """After an edit: cancel the request if the document no longer continues from where
        it was made with text the model may be writing (the cursor is taken to follow the
        typing)."""
        flight = self.get(uri)
        if flight is None:
            return
        if not text.startswith(flight.prefix) or not text.endswith(flight.suffix):
            _call_off(flight)
            return
        typed = text[len(flight.prefix) : len(text) - len(flight.suffix)]
        if len(text) < len(flight.prefix) + len(flight.suffix) or not agrees(
            typed, flight.streamed
        ):
            _call_off(flight)

    def cancel(self, uri: str) -> None:
        flight = self._by_uri.pop(uri, None)
        if flight is not None:
            _call_off(flight)


def _call_off(flight: Flight) -> None:
    """Cancel once: a second cancel would cut short the first one's cleanup (closing the
    HTTP response)."""
    if not flight.task.done() and not flight.task.cancelling():
        flight.task.cancel()


@dataclass
class TypingSpeed:
    """Intervals between a document's edits, and the document's recent requests to the model.

    A request goes to the model at once: most keys are answered by typeahead or ride along
    with a request in flight, and a wait is paid in full at every pause. Only when typing
    outruns the model — several requests started within a second, each cancelled by the next
    key — does a request wait about as long as this user usually takes for the next key, so
    that the burst costs one request, not one a key."""

    intervals: deque[float] = field(default_factory=lambda: deque(maxlen=20))
    last: float | None = None
    requests: deque[float] = field(default_factory=lambda: deque(maxlen=8))

    # Bounds of the adaptive wait: below it a burst is not caught; above it the pause shows.
    LOW_MS = 15.0
    HIGH_MS = 120.0
    BURST_S = 1.0  # a longer gap is a pause, not the typing speed
    BUSY_REQUESTS = 3  # requests to the model within BURST_S that make the next one wait

    def edited(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.last is not None and now - self.last < self.BURST_S:
            self.intervals.append(now - self.last)
        self.last = now

    def requested(self, now: float | None = None) -> None:
        self.requests.append(time.monotonic() if now is None else now)

    def debounce_ms(self, now: float | None = None) -> float:
        """How much longer to wait before asking the model, from now."""
        now = time.monotonic() if now is None else now
        recent = sum(1 for t in self.requests if now - t < self.BURST_S)
        if recent < self.BUSY_REQUESTS:
            return 0.0
        if len(self.intervals) < 3 or self.last is None:
            return self.LOW_MS
        usual = percentile(self.intervals, 75) * 1000  # 3 of 4 keys come sooner
        wait = min(max(usual, self.LOW_MS), self.HIGH_MS)
        return max(0.0, wait - (now - self.last) * 1000)
