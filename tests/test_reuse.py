"""Unit tests for server/reuse.py: the suggestion cache, flights, the typing speed."""

from __future__ import annotations

import asyncio

import pytest

from infill.reuse import (
    CACHE_PREFIX_CHARS,
    Flight,
    Flights,
    Suggestion,
    SuggestionCache,
    TypingSpeed,
    agrees,
)

URI = "file:///a.py"


def test_typeahead_gives_the_rest_of_what_is_typed_into():
    cache = SuggestionCache()
    cache.put(URI, Suggestion("x = ", "\n", ("compute(a, b)", "zero()")))
    hit = cache.lookup(URI, "x = comp", "\n")
    assert hit is not None and hit.texts == ("ute(a, b)",) and hit.source == "typeahead"
    assert hit.typed == 4
    assert cache.lookup(URI, "x = y", "\n") is None  # typed something else
    assert cache.lookup(URI, "x = comp", "\nmore\n") is None  # the text after the cursor changed
    assert cache.lookup(URI, "x = compute(a, b)", "\n") is None  # all typed: nothing left


def test_the_same_place_again_is_a_cache_hit():
    cache = SuggestionCache()
    cache.put(URI, Suggestion("x = ", "\n", ("1",), source="prefetch"))
    hit = cache.lookup(URI, "x = ", "\n")
    assert hit is not None and hit.texts == ("1",) and hit.source == "prefetch"
    assert cache.lookup("file:///other.py", "x = ", "\n") is None


def test_the_cache_is_keyed_on_the_text_near_the_cursor_and_bounded():
    cache = SuggestionCache(size=2)
    far = "# " + "a" * CACHE_PREFIX_CHARS + "\n"
    cache.put(URI, Suggestion("old\n" + far, "", ("1",)))
    # Text further up than the window changed: still the same answer.
    hit = cache.lookup(URI, "new\n" + far, "")
    assert hit is not None and hit.texts == ("1",)
    cache.put(URI, Suggestion("b", "", ("2",)))
    cache.put(URI, Suggestion("c", "", ("3",)))
    cache.forget(URI)
    assert cache.lookup(URI, "b", "") is None


@pytest.mark.parametrize(
    ("typed", "streamed", "expected"),
    [
        ("wid", "width", True),
        ("width * h", "width", True),  # the model is behind: can't tell yet
        ("x", "width", False),
        ("", "", True),
        ("x", " x + 1", True),  # the model's leading blank is dropped at the join
        ("a\r\nb", "a\nb", True),  # the document's CRLF against the model's "\n"
    ],
)
def test_agrees(typed: str, streamed: str, expected: bool):
    assert agrees(typed, streamed) is expected


async def test_a_flight_is_aborted_when_the_document_leaves_it():
    flights = Flights()
    task = asyncio.ensure_future(asyncio.sleep(10, result=("width",)))
    flight = Flight(URI, "return ", "\n", task, streamed="wid")
    flights.start(flight)
    assert flight.serves("return wi", "\n") == "wi"
    flights.abort_diverged(URI, "return wi\n")
    assert not task.cancelled()
    flights.abort_diverged(URI, "return x\n")
    await asyncio.sleep(0)
    assert task.cancelled()
    assert flights.get(URI) is None


async def test_a_new_flight_replaces_the_old_one():
    flights = Flights()
    old = asyncio.ensure_future(asyncio.sleep(10))
    new = asyncio.ensure_future(asyncio.sleep(10))
    flights.start(Flight(URI, "a", "", old))
    flights.start(Flight(URI, "b", "", new))
    await asyncio.sleep(0)
    assert old.cancelled()
    assert flights.get(URI) is not None
    flights.cancel(URI)
    await asyncio.sleep(0)
    assert new.cancelled()


def test_no_wait_while_the_model_keeps_up():
    speed = TypingSpeed()
    for t in (0.0, 0.08, 0.16, 0.24, 0.32):
        speed.edited(now=t)
    speed.requested(now=0.1)
    speed.requested(now=0.3)
    assert speed.debounce_ms(now=0.32) == 0


def test_typing_that_outruns_the_model_waits_for_the_next_key():
    speed = TypingSpeed()
    for t in (0.0, 0.08, 0.16, 0.24, 0.32):
        speed.edited(now=t)
        speed.requested(now=t)
    assert speed.debounce_ms(now=0.32) == pytest.approx(80, abs=1)
    assert speed.debounce_ms(now=0.35) == pytest.approx(50, abs=1)  # part already waited
    assert speed.debounce_ms(now=2.0) == 0  # a second later the burst is over
    speed.edited(now=5.0)  # after a pause: not a typing interval
    assert len(speed.intervals) == 4
    slow = TypingSpeed()
    for t in (0.0, 0.5, 0.9, 1.2):
        slow.edited(now=t)
        slow.requested(now=t)
    assert slow.debounce_ms(now=1.2) == TypingSpeed.HIGH_MS
