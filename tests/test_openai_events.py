"""Reading OpenAI's streamed chunks (backends/openai.py) when `n` > 1: each choice carries the
`index` of its candidate, the candidates interleave, and a chunk may hold several choices or
none."""

from __future__ import annotations

import pytest

from infill.backends import BackendConfig, BackendError, CompletionRequest, StreamEvent
from infill.backends.openai import OpenAICompatible, openai_events
from tests.fake_llm import FakeLLM, Reply

URL = "http://127.0.0.1:1/v1/completions"


def chunk(*choices: dict[str, object], **fields: object) -> dict[str, object]:
    return {"id": "cmpl-1", "object": "text_completion", "choices": list(choices), **fields}


def test_each_choice_is_an_event_of_its_candidate():
    events = openai_events(
        chunk(
            {"index": 1, "text": "b", "finish_reason": None},
            {"index": 0, "text": "a", "finish_reason": "stop"},
        ),
        URL,
    )
    assert events == [
        StreamEvent(text="b", index=1),
        StreamEvent(text="a", finish_reason="stop", index=0),
    ]


def test_chat_deltas_carry_their_index():
    chat = {"object": "chat.completion.chunk", "choices": [{"index": 2, "delta": {"content": "x"}}]}
    assert openai_events(chat, URL) == [StreamEvent(text="x", index=2)]


def test_a_role_only_delta_is_empty_text():
    chat = {"choices": [{"index": 1, "delta": {"role": "assistant"}}]}
    assert openai_events(chat, URL) == [StreamEvent(text="", index=1)]


def test_a_chunk_without_choices_carries_the_usage():
    usage = {"prompt_tokens": 10, "completion_tokens": 6}
    assert openai_events(chunk(usage=usage), URL) == [StreamEvent(usage=usage)]


@pytest.mark.parametrize("index", [None, "1", -1, 1.0])
def test_a_missing_or_odd_index_is_the_first_candidate(index: object):
    choice: dict[str, object] = {"text": "a"} if index is None else {"index": index, "text": "a"}
    assert openai_events(chunk(choice), URL) == [StreamEvent(text="a", index=0)]


def test_an_error_chunk_raises():
    with pytest.raises(BackendError, match="overloaded"):
        openai_events({"error": {"message": "overloaded"}}, URL)


async def test_interleaved_candidates_over_http(fake: FakeLLM):
    fake.default = Reply(choices=[["a", "b", "c"], ["x"], ["y", "z"]])
    backend = OpenAICompatible(BackendConfig(url=fake.url))
    request = CompletionRequest(prompt="p", stop=(), max_tokens=8, temperature=0.0, n=3)
    try:
        events = [(e.index, e.text) async for e in backend.stream(request)]
    finally:
        await backend.aclose()
    assert events == [(0, "a"), (1, "x"), (2, "y"), (0, "b"), (2, "z"), (0, "c")]
    assert fake.requests[-1].body["n"] == 3
