"""The `llamacpp` and `openai` backends against the real llama.cpp server (tiny random model):
streaming, stop sequences, cancellation mid-stream, `input_extra`, the prompt cache, and `n`
refused.

The model's text is noise: the assertions are about the protocol, never the content.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import pytest

from infill.backends import BackendConfig, CompletionRequest, StreamEvent, make_backend
from tests.conftest import StartClient

pytestmark = pytest.mark.timeout(1800)  # the first test may pay for the cached build

PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n\nprint(add(1, 2))\n"


def request(**changes: object) -> CompletionRequest:
    fields: dict[str, object] = {
        "prompt": f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>",
        "stop": (),
        "max_tokens": 8,
        "temperature": 0.0,
        "prefix": PREFIX,
        "suffix": SUFFIX,
    }
    fields.update(changes)
    return CompletionRequest(**fields)  # type: ignore[arg-type]


async def collect(config: BackendConfig, req: CompletionRequest) -> list[StreamEvent]:
    backend = make_backend(config)
    try:
        return [event async for event in backend.stream(req)]
    finally:
        await backend.aclose()


def llamacpp(url: str, **changes: object) -> BackendConfig:
    return BackendConfig(kind="llamacpp", url=url, timeout_ms=30_000, **changes)  # type: ignore[arg-type]


def openai(url: str) -> BackendConfig:
    return BackendConfig(kind="openai", url=f"{url}/v1", template="qwen", timeout_ms=30_000)


@pytest.mark.parametrize("kind", ["llamacpp", "openai"])
async def test_streams_several_events_and_reports_how_it_ended(llama_url: str, kind: str):
    config = llamacpp(llama_url) if kind == "llamacpp" else openai(llama_url)
    events = await collect(config, request(max_tokens=8))
    assert len(events) >= 2  # streamed, not one final blob
    assert events[-1].finish_reason is not None


async def usage(config: BackendConfig, asked: CompletionRequest) -> dict[str, Any]:
    """The prompt cache's part, told once, with the first token (a stream is mostly closed
    before its end)."""
    told = [event for event in await collect(config, asked) if event.usage is not None]
    assert len(told) == 1, told
    assert told[0].usage is not None
    return told[0].usage


async def test_infill_timings_show_the_prompt_cache_and_input_extra(llama_url: str):
    config = llamacpp(llama_url)
    extra = (("lib/util.py", "def mul(a, b):\n    return a * b\n" * 5),)
    first = await usage(config, request(extra=extra))
    again = await usage(config, request(extra=extra))
    # The same prompt again: the server reuses its cache instead of reading it a second time.
    assert again["cache_n"] > 0
    assert again["prompt_n"] < first["prompt_n"] + first["cache_n"]
    # Without the other file the prompt is shorter: input_extra reached the model.
    bare = await usage(config, request())
    assert bare["prompt_n"] + bare["cache_n"] < first["prompt_n"] + first["cache_n"]


@pytest.mark.parametrize("kind", ["llamacpp", "openai"])
async def test_a_stop_sequence_ends_the_answer_before_it(llama_url: str, kind: str):
    config = llamacpp(llama_url) if kind == "llamacpp" else openai(llama_url)
    # A random model at temperature 1 writes an "e" soon enough; that is where it must stop.
    req = request(max_tokens=200, temperature=1.0, stop=("e",))
    events = await collect(config, req)
    text = "".join(e.text for e in events)
    assert "e" not in text
    assert events[-1].finish_reason in ("word", "stop")


@pytest.mark.parametrize("kind", ["llamacpp", "openai"])
async def test_cancelling_mid_stream_frees_the_server(llama_url: str, kind: str):
    config = llamacpp(llama_url) if kind == "llamacpp" else openai(llama_url)
    backend = make_backend(config)
    try:
        # Long enough to take minutes if it ran to its end on the server's single slot.
        async with aclosing(backend.stream(request(max_tokens=60_000, temperature=1.0))) as events:
            async for _ in events:
                break
        # Closing the stream stopped the generation: the slot answers the next request at once.
        events_after = await asyncio.wait_for(collect(config, request(max_tokens=4)), 20)
        assert events_after
    finally:
        await backend.aclose()


async def test_n_refused_by_llama_server_is_asked_for_one_candidate(llama_url: str):
    # The pinned llama-server takes only n=1 on its OpenAI-compatible endpoints (HTTP 400).
    backend = make_backend(openai(llama_url))
    try:
        assert backend.takes_n
        events = [event async for event in backend.stream(request(n=3, max_tokens=4))]
        assert events and all(event.index == 0 for event in events)
        assert events[-1].finish_reason is not None
        assert not backend.takes_n
    finally:
        await backend.aclose()


async def test_ghost_text_end_to_end_through_infill_serve(
    llama_url: str, start_client: StartClient
):
    client = await start_client(
        # Few tokens and generous deadlines: a loaded 2-core machine can slow the server down.
        initialization_options={
            "backend": {
                "kind": "llamacpp",
                "url": llama_url,
                "max_tokens": 16,
                "timeout_ms": 30000,
                "answer_ms": 30000,
            }
        }
    )
    client.open("file:///work/real.py", PREFIX + SUFFIX)
    items = await client.inline_completion("file:///work/real.py", (1, 11))
    # Random text may be filtered to nothing; what matters is a clean answer, no backend error.
    assert isinstance(items, list)
    assert not [line for line in client.stderr_lines if "backend:" in line]
