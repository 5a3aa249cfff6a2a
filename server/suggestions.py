"""A cursor's suggestions, without the LSP: what was suggested before (typeahead, the cache), a
request in flight the user is typing along with, or a new request to the model; and, after an
accept, the next suggestion asked for before the user asks.

The server's handlers call this with plain values (a document's URI, a line and a character in
the client's encoding); nothing here knows pygls or LSP types.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infill.context.engine import ContextEngine, Tracked
from infill.context.snippets import Snippet
from infill.edit_model import EditModel
from infill.metrics import Metrics
from infill.pipeline import Completer, NotConfigured, Prepared, prepare
from infill.prompts.layout import StableContext
from infill.reuse import Flight, Flights, Suggestion, SuggestionCache, TypingSpeed, rest_after
from infill.settings import Settings

log = logging.getLogger(__name__)

OFFERED_KEPT = 256  # suggestions whose accept can still be reported


class NoSuggestion(enum.Enum):
    """Why no suggestion is made at a position: one line, for `infill complete`'s stderr,
    `infill/explain` and the log."""

    NOT_OPEN = "the document is not open"
    PRIVATE = "the file is ignored (an ignore file) or looks secret"
    PAST_THE_END = "the position is past the end of its line or of the document"
    DECLINED = "a rule declines this position (code right of the cursor, a secret being typed)"
    NOT_CONFIGURED = "no backend to ask: this backend.kind needs a backend.url"
    BACKEND_DOWN = "the backend did not answer (`infill doctor` says why)"
    NO_ANSWER = "the engine has no confident answer here"

    @property
    def code(self) -> str:
        """Its name in `infill/explain` answers: "not-open", "backend-down", ..."""
        return self.name.lower().replace("_", "-")


@dataclass(frozen=True)
class Cursor:
    """A place in a document: its offset, and the document's text before and after it."""

    offset: int
    prefix: str
    suffix: str


class Suggestions:
    """The suggestions for the open documents of `engine`, asked of `completer`'s backend.

    `settings` and `metrics` are the server's; it replaces them (`use_settings`, `metrics`)
    when the user's settings change. `tell(message)` warns the user, once per settings, that
    there is no backend to ask."""

    def __init__(
        self,
        engine: ContextEngine,
        completer: Completer,
        tell: Callable[[str], None] = lambda message: None,
        settings: Settings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self._tell = tell
        self._told_not_configured = False
        self.completer = completer
        self.settings = settings if settings is not None else Settings()
        self.metrics = metrics if metrics is not None else Metrics(None)
        completer.on_prompt_cache = lambda cache: self.metrics.prompt_cache(
            cache.cached, cache.evaluated
        )
        # The other code at the head of prompts, kept while the user types (prompts/layout.py):
        # `stable.refresh()` has it chosen again at the next request.
        self.stable: StableContext[Snippet] = StableContext()
        self.edit_model = EditModel()  # next edits' model, where `next_edit.url` names one
        self.cache = SuggestionCache()
        self.flights = Flights()
        self._typing: dict[str, TypingSpeed] = {}
        self._waiting: dict[str, asyncio.Task[Any]] = {}  # the latest request per document
        # Per offer id: the document, and the prefix, suffix and text of the offered item.
        self._offered: OrderedDict[int, tuple[str, str, str, str]] = OrderedDict()
        self._offer_ids = itertools.count(1)
        self._typed_counted: OrderedDict[int, int] = OrderedDict()  # per suggestion: chars typed
        self._prefetch_at: dict[str, tuple[str, str]] = {}  # the (prefix, suffix) of an accept
        self._last_cursor: dict[str, int] = {}  # per document: the offset of its last request
        # Per document: the position of its last request, if it got no suggestion, and why.
        self._no_suggestion: dict[str, tuple[int, int, NoSuggestion]] = {}

    def use_settings(self, settings: Settings) -> None:
        if settings == self.settings:
            return
        self.settings = settings
        # Answers made with other settings (another model, another prompt) are not these.
        self.cache = SuggestionCache()
        self._told_not_configured = False

    # -- the lifecycle ---------------------------------------------------------------------

    async def suggest(
        self, uri: str, line: int, character: int, candidates: int = 1, invoked: bool = False
    ) -> Suggestion | None:
        """The suggestions at the position, best first (up to `candidates`).

        A newer request for the same document supersedes this one: its answer would arrive for
        a cursor the user has left. Only the waiting stops; a request to the model goes on
        while its answer can still serve (see `Flights`)."""
        started = time.perf_counter()
        task = asyncio.current_task()
        previous = self._waiting.get(uri)
        if previous is not None and previous is not task and not previous.done():
            previous.cancel()
        if task is not None:
            self._waiting[uri] = task
        try:
            made = await self._complete(uri, line, character, candidates, invoked, started)
        except NotConfigured as exc:
            if not self._told_not_configured:
                self._told_not_configured = True
                self._tell(str(exc))
            made = None
            self._none_because(uri, line, character, NoSuggestion.NOT_CONFIGURED)
        else:
            if made is None:
                why = self.why_not(uri, line, character) or NoSuggestion.DECLINED
                self._none_because(uri, line, character, why)
            elif not made.texts:
                down = self.completer.breaker.failures > 0  # the last request failed
                why = NoSuggestion.BACKEND_DOWN if down else NoSuggestion.NO_ANSWER
                self._none_because(uri, line, character, why)
            else:
                self._no_suggestion.pop(uri, None)
        finally:
            if self._waiting.get(uri) is task:
                del self._waiting[uri]
        return made

    def _none_because(self, uri: str, line: int, character: int, why: NoSuggestion) -> None:
        """Keep why (for `infill/explain`), and log it when it is not the document's last
        reason already (not a line per keystroke)."""
        last = self._no_suggestion.get(uri)
        if last is None or last[2] is not why:
            log.info("no suggestion at %s:%d:%d: %s", uri, line + 1, character + 1, why.value)
        self._no_suggestion[uri] = (line, character, why)

    def why_not(self, uri: str, line: int, character: int) -> NoSuggestion | None:
        """What rules out a suggestion at the position, the document as it is now, before
        the rules about its text (`prepare`) have a say."""
        tracked = self.engine.get(uri)
        if tracked is None:
            return NoSuggestion.NOT_OPEN
        if tracked.private:
            return NoSuggestion.PRIVATE
        doc = tracked.doc
        if doc.position_at(doc.offset_at(line, character)) != (line, character):
            return NoSuggestion.PAST_THE_END
        return None

    def last_reason(self, uri: str, line: int, character: int) -> NoSuggestion | None:
        """Why the last request at the position got no suggestion, if it got none."""
        last = self._no_suggestion.get(uri)
        return last[2] if last is not None and last[:2] == (line, character) else None

    async def _complete(
        self, uri: str, line: int, character: int, candidates: int, invoked: bool, started: float
    ) -> Suggestion | None:
        """A suggestion's lifecycle: the cursor -> what was suggested before, or a request in
        flight, if either serves -> a wait while typing outruns the model -> context and prompt
        (`prepare`) -> the model's answer, post-processed (`Completer.complete`, in a flight
        that keeps it for typeahead and the cache) -> metrics."""
        await self.completer.server_known(self.settings.backend)
        cursor = self.cursor(uri, line, character)
        if cursor is None:
            return None
        self._last_cursor[uri] = cursor.offset
        if candidates == 1:  # several are asked for explicitly: from the model
            if (hit := self.cache.lookup(uri, cursor.prefix, cursor.suffix)) is not None:
                self._count_typed_into(hit)
                return self._answered(hit, {}, started)
            if (joined := await self._join_flight(uri, cursor)) is not None:
                return self._answered(joined, {}, started)
        if not invoked and cursor.prefix[cursor.prefix.rfind("\n") + 1 :].strip():
            # While typing mid-line, faster than the model answers: wait about as long as the
            # next key usually takes. At the start of a line (after Enter) there is no next
            # key to wait for.
            await self._wait_for_typing(uri)
            cursor = self.cursor(uri, line, character)  # the document as it is after the wait
            if cursor is None:
                return None
        prepared = self._prepare(uri, cursor.offset)
        if prepared is None:
            return None
        self.typing_speed(uri).requested()
        flight = self._fly(uri, cursor.prefix, cursor.suffix, prepared, candidates, "backend")
        texts = await _answer_of(flight)
        made = Suggestion(cursor.prefix, cursor.suffix, texts)
        return self._answered(made, prepared.timings, started)

    def cursor(self, uri: str, line: int, character: int) -> Cursor | None:
        """The cursor at the position; None where no suggestion may be made."""
        located = self.locate(uri, line, character)
        if located is None:
            return None
        tracked, offset = located
        text = tracked.doc.text
        return Cursor(offset, text[:offset], text[offset:])

    def locate(self, uri: str, line: int, character: int) -> tuple[Tracked, int] | None:
        """The document and the offset of the position; None where no suggestion may be made."""
        tracked = self.tracked(uri)
        if tracked is None:
            return None
        if tracked.private:
            return None
        return tracked, tracked.doc.offset_at(line, character)

    def prepare(self, uri: str, line: int, character: int) -> Prepared | None:
        """What the model would be sent for the position (for `infill/explain`)."""
        located = self.locate(uri, line, character)
        return self._prepare(uri, located[1]) if located else None

    def _prepare(self, uri: str, offset: int) -> Prepared | None:
        """The context and prompt at `offset`, laid out for the server's prompt cache."""
        limits = self.completer.server_limits(self.settings.backend)
        return prepare(self.engine, uri, offset, self.settings, self.stable, limits)

    def tracked(self, uri: str) -> Tracked | None:
        tracked = self.engine.get(uri)
        if tracked is None:
            log.warning("request for a document that is not open: %s", uri)
        return tracked

    async def _join_flight(self, uri: str, cursor: Cursor) -> Suggestion | None:
        """The rest of the answer of the request in flight, if the user is typing it."""
        flight = self.flights.get(uri)
        typed = flight.serves(cursor.prefix, cursor.suffix) if flight is not None else None
        if flight is None or typed is None:
            return None
        rest = rest_after(await _answer_of(flight), typed)
        return Suggestion(cursor.prefix, cursor.suffix, rest, "inflight") if rest else None

    async def _wait_for_typing(self, uri: str) -> None:
        fixed = self.settings.completion.debounce_ms
        wait = self.typing_speed(uri).debounce_ms() if fixed is None else fixed
        if wait > 0:
            await asyncio.sleep(wait / 1000)

    def _fly(
        self,
        uri: str,
        prefix: str,
        suffix: str,
        prepared: Prepared,
        candidates: int,
        source: str,
    ) -> Flight:
        """Ask the model; the answer is kept for typeahead and the cache when it comes."""

        async def ask() -> tuple[str, ...]:
            def streamed(text: str) -> None:
                flight.streamed = text
                # The user may have typed on while the model was silent: the text that comes
                # now may show that the answer is no longer theirs.
                tracked = self.tracked(uri)
                if tracked is not None:
                    self.flights.abort_diverged(uri, tracked.doc.text)

            texts = await self.completer.complete(prepared, self.settings, candidates, streamed)
            if texts:
                self.cache.put(uri, Suggestion(prefix, suffix, texts, source))
            return texts

        flight = Flight(uri, prefix, suffix, asyncio.ensure_future(ask()))
        self.flights.start(flight)
        return flight

    def _answered(
        self, suggestion: Suggestion, timings: Mapping[str, float], started: float
    ) -> Suggestion:
        total = (time.perf_counter() - started) * 1000
        chars = len(suggestion.texts[0]) if suggestion.texts else 0
        self.metrics.request(suggestion.source, {**timings, "total": total}, chars)
        return suggestion

    def _count_typed_into(self, hit: Suggestion) -> None:
        """Typing what a suggestion shows is accepting it in part (an editor's word-by-word
        accept looks the same): counted once per character."""
        if hit.rest_of is None:
            return
        counted = self._typed_counted.get(id(hit.rest_of), 0)
        if hit.typed > counted:
            self.metrics.accepted(hit.typed - counted, partial=True)
            self._typed_counted[id(hit.rest_of)] = hit.typed
            while len(self._typed_counted) > OFFERED_KEPT:
                self._typed_counted.popitem(last=False)

    # -- documents, offers and accepts -----------------------------------------------------

    def edited(self, uri: str, text: str) -> None:
        """After an edit that made the document `text`."""
        self.typing_speed(uri).edited()
        self.metrics.keystroke(uri)
        self.flights.abort_diverged(uri, text)
        self.prefetch_when_ready(uri)

    def closed(self, uri: str) -> None:
        self.flights.cancel(uri)
        self.cache.forget(uri)
        self._typing.pop(uri, None)
        self._prefetch_at.pop(uri, None)
        self._no_suggestion.pop(uri, None)

    def offer(self, uri: str, suggestion: Suggestion) -> list[int]:
        """An id per text of the suggestion, for `accepted` to name it by."""
        ids = []
        for text in suggestion.texts:
            offer_id = next(self._offer_ids)
            # Accepted, the text stands in front of what it does not replace.
            suffix = suggestion.suffix[len(suggestion.replaced(text)) :]
            self._offered[offer_id] = (uri, suggestion.prefix, suffix, text)
            ids.append(offer_id)
        while len(self._offered) > OFFERED_KEPT:
            self._offered.popitem(last=False)
        return ids

    def accepted(self, offer_id: Any) -> None:
        """An offered text was accepted: count it, and have the next suggestion ready (the
        user is on a streak) once the document shows the accepted text."""
        offered = self._offered.get(offer_id) if isinstance(offer_id, int) else None
        if offered is None:
            return
        uri, prefix, suffix, text = offered
        self.metrics.accepted(len(text), partial=False)
        self._prefetch_at[uri] = (prefix + text, suffix)
        self.prefetch_when_ready(uri)

    def prefetch_when_ready(self, uri: str) -> None:
        pending = self._prefetch_at.get(uri)
        tracked = self.tracked(uri)
        if pending is None or tracked is None:
            return
        prefix, suffix = pending
        if tracked.doc.text != prefix + suffix:
            return  # the edit that accepted it has not arrived yet
        del self._prefetch_at[uri]
        if tracked.private:
            return
        prepared = self._prepare(uri, len(prefix))
        if prepared is not None and self.settings.backend.configured:
            self._fly(uri, prefix, suffix, prepared, 1, "prefetch")

    def saved(self, uri: str) -> None:
        """A save is a pause: the other code is chosen again now, and the model's server is
        given the prompt's head at the last cursor to compute while the user is not typing,
        so the next request finds it in the server's cache."""
        self.stable.refresh()
        offset = self._last_cursor.get(uri)
        if offset is not None:
            self._prime(uri, offset)

    async def focused(self, uri: str, line: int, character: int) -> None:
        """The user is at this position (entered the document, or the cursor rests there):
        where a request there would choose the other code afresh (another document, a jump
        far away), it is chosen now and the model's server given the prompt's head, so the
        first keystroke's request does not wait for the server to read it all."""
        await self.completer.server_known(self.settings.backend)  # the prompt's limits
        located = self.locate(uri, line, character)
        if located is None:
            return
        text = located[0].doc.text
        # At the line's end: the prompt's head is the cursor's (the same other code and prefix
        # window), and a completion can be laid out there whatever stands right of the cursor.
        end = text.find("\n", located[1])
        offset = len(text) if end == -1 else end
        self._last_cursor[uri] = offset
        if self.stable.due(uri, text.count("\n", 0, offset)):
            self._prime(uri, offset)

    def _prime(self, uri: str, offset: int) -> None:
        tracked = self.engine.get(uri)
        if tracked is None or tracked.private or not self.settings.backend.configured:
            return
        prepared = self._prepare(uri, min(offset, len(tracked.doc.text)))
        if prepared is not None:
            self.completer.prime(prepared, self.settings)

    def typing_speed(self, uri: str) -> TypingSpeed:
        return self._typing.setdefault(uri, TypingSpeed())

    async def aclose(self) -> None:
        """Call off the requests to the model (their editor requests get no suggestion rather
        than an error from a closed connection), close the backend's connections and write
        the queued metrics."""
        await asyncio.gather(*self.call_off_requests(), return_exceptions=True)
        await self.completer.aclose()
        await self.edit_model.aclose()
        await asyncio.to_thread(self.metrics.close)

    def call_off_requests(self) -> list[asyncio.Future[tuple[str, ...]]]:
        """Cancel the requests to the model on their way; their tasks, to wait for."""
        flying = [f.task for uri in self.engine.documents if (f := self.flights.get(uri))]
        for uri in list(self.engine.documents):
            self.flights.cancel(uri)
        return flying


async def _answer_of(flight: Flight) -> tuple[str, ...]:
    """The flight's answer; nothing if it was called off (the document left it) while this
    request waited for it."""
    try:
        return await asyncio.shield(flight.task)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if flight.task.cancelled() and task is not None and not task.cancelling():
            return ()
        raise
