"""The suggestion orchestration (server/suggestions.py) on its own, without pygls or an editor:
a real context engine and a real backend client asking a fake model over HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from infill.context.engine import ContextEngine
from infill.pipeline import Completer
from infill.settings import parse_settings
from infill.suggestions import Suggestions
from tests.fake_llm import FakeLLM, Reply

URI = "file:///w/inventory.py"
TEXT = "def total(items):\n    return \n"
CURSOR = (1, len("    return "))


@pytest.fixture
async def suggestions(fake: FakeLLM) -> AsyncIterator[Suggestions]:
    backend = {"kind": "openai", "url": fake.url, "template": "qwen"}
    settings, _ = parse_settings({"backend": backend, "completion": {"debounce_ms": 0}})
    engine = ContextEngine()
    engine.open(URI, TEXT, "python", 1, "utf-16")
    made = Suggestions(engine, Completer(), settings=settings)
    yield made
    await made.aclose()


def type_at_cursor(suggestions: Suggestions, typed: str, at: tuple[int, int] = CURSOR) -> None:
    """The user types `typed` at `at`, as an editor's didChange reports it."""
    line, character = at
    suggestions.engine.apply(URI, typed, ((line, character), (line, character)))
    suggestions.edited(URI, suggestions.engine.documents[URI].doc.text)


async def test_the_same_place_again_is_answered_from_the_cache(
    suggestions: Suggestions, fake: FakeLLM
):
    fake.default = Reply(chunks=["sum(items)"])
    first = await suggestions.suggest(URI, *CURSOR)
    assert first is not None and first.texts == ("sum(items)",) and first.source == "backend"
    again = await suggestions.suggest(URI, *CURSOR)
    assert again is not None and again.texts == ("sum(items)",) and again.source == "cache"
    assert len(fake.requests) == 1


async def test_typing_what_is_suggested_gets_the_rest_without_a_request(
    suggestions: Suggestions, fake: FakeLLM
):
    fake.default = Reply(chunks=["sum(items)"])
    await suggestions.suggest(URI, *CURSOR)
    type_at_cursor(suggestions, "su")
    rest = await suggestions.suggest(URI, CURSOR[0], CURSOR[1] + 2)
    assert rest is not None and rest.texts == ("m(items)",) and rest.source == "typeahead"
    assert rest.typed == 2
    assert len(fake.requests) == 1


async def test_a_cursor_typed_along_a_request_in_flight_shares_its_answer(
    suggestions: Suggestions, fake: FakeLLM
):
    answer_now = asyncio.Event()
    fake.default = Reply(chunks=["sum(items)"], hold=answer_now)
    first = asyncio.ensure_future(suggestions.suggest(URI, *CURSOR))
    await fake.wait_for_requests(1)
    type_at_cursor(suggestions, "s")
    second = asyncio.ensure_future(suggestions.suggest(URI, CURSOR[0], CURSOR[1] + 1))
    await asyncio.sleep(0.05)
    answer_now.set()
    joined = await second
    assert joined is not None and joined.texts == ("um(items)",) and joined.source == "inflight"
    # The newer request for the document superseded the first one's waiting.
    await asyncio.gather(first, return_exceptions=True)
    assert first.cancelled()
    assert len(fake.requests) == 1


async def test_an_accept_has_the_next_suggestion_asked_for_ahead(
    suggestions: Suggestions, fake: FakeLLM
):
    fake.replies = [Reply(chunks=["sum(items)"]), Reply(chunks=[" * 2"])]
    offered = await suggestions.suggest(URI, *CURSOR)
    assert offered is not None
    (offer_id,) = suggestions.offer(URI, offered)
    suggestions.accepted(offer_id)
    assert len(fake.requests) == 1  # not before the document shows the accepted text
    type_at_cursor(suggestions, "sum(items)")
    prefetch = suggestions.flights.get(URI)
    assert prefetch is not None
    assert await prefetch.task == (" * 2",)
    after = CURSOR[1] + len("sum(items)")
    ahead = await suggestions.suggest(URI, CURSOR[0], after)
    assert ahead is not None and ahead.texts == (" * 2",) and ahead.source == "prefetch"
    assert len(fake.requests) == 2


def test_the_orchestration_needs_no_pygls():
    probe = (
        "import sys, infill.suggestions; "
        "print(sorted(m for m in sys.modules if m.startswith(('pygls', 'lsprotocol'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
