"""Several candidates end to end: an explicitly invoked inline completion asks an OpenAI-compatible
server for `completion.candidates` of them (`n`), streamed interleaved by the fake as such a
server does, and returns them ranked; completion while typing, and backends without `n`, ask
for one."""

from __future__ import annotations

from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply

URI = "file:///work/candidates.py"
# The cursor is after an unclosed call: a candidate may close it or leave it open.
TEXT = "def total(values):\n    return sum(values\n\n\nprint(total([1, 2]))\n"
CURSOR = (1, 21)
# The model's candidates, by index: the first leaves the call open (as the document has it, so
# post-processing keeps it), the second closes it, the third says the same as the second.
CHOICES = [[" +", " 1\n", "    y"], [")", "\n"], [")\n"]]


def settings(fake: FakeLLM, **sections: object) -> dict[str, object]:
    return {"backend": {"kind": "openai", "url": fake.url, "template": "qwen"}, **sections}


async def texts(client, invoked: bool) -> list[str]:
    items = await client.inline_completion(URI, CURSOR, invoked=invoked)
    assert all(item["range"]["start"] == item["range"]["end"] for item in items)
    return [item["insertText"] for item in items]


async def test_invoked_asks_for_candidates_and_ranks_the_one_that_parses_first(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(choices=CHOICES)
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, TEXT)

    assert await texts(client, invoked=True) == [")", " + 1"]
    body = fake.requests[-1].body
    assert body["n"] == 3
    # At temperature 0 the three would be one text three times.
    assert body["temperature"] == 0.6


async def test_the_candidates_setting_and_a_configured_temperature_above_the_floor(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(choices=CHOICES[:2])
    client = await start_client(
        initialization_options={
            **settings(fake, completion={"candidates": 2}),
            "backend.temperature": 0.9,
        }
    )
    client.open(URI, TEXT)

    assert await texts(client, invoked=True) == [")", " + 1"]
    assert fake.requests[-1].body["n"] == 2
    assert fake.requests[-1].body["temperature"] == 0.9


async def test_automatic_asks_for_one(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=[" +", " 1\n"])
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, TEXT)

    assert await texts(client, invoked=False) == [" + 1"]
    body = fake.requests[-1].body
    assert "n" not in body
    assert body["temperature"] == 0.0


async def test_one_candidate_configured_sends_no_n(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=[")\n"])
    client = await start_client(initialization_options=settings(fake, completion={"candidates": 1}))
    client.open(URI, TEXT)

    assert await texts(client, invoked=True) == [")"]
    assert "n" not in fake.requests[-1].body
    assert fake.requests[-1].body["temperature"] == 0.0


async def test_the_stream_is_read_until_every_candidate_is_done(
    fake: FakeLLM, start_client: StartClient
):
    # The fake never ends this stream: the first candidate is done at its first event, the
    # second only at its third; then the stream is closed.
    fake.default = Reply(
        choices=[[")\n", "    ignored"], [")", " + su", "m([])\n"]], keep_open=True
    )
    client = await start_client(initialization_options=settings(fake, completion={"candidates": 2}))
    client.open(URI, TEXT)

    assert await texts(client, invoked=True) == [")", ") + sum([])"]
    await fake.wait_for_dropped(1)


async def test_candidates_that_post_process_to_the_same_text_are_one_item(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(choices=[[")\n"], [")  \n"], [")\n    return 0"]])
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, TEXT)

    assert await texts(client, invoked=True) == [")"]


async def test_chat_answers_are_extracted_per_candidate(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(
        choices=[
            ["```python\n", "    return sum(values + 1\n", "```"],
            ["```python\n", "    return sum(values)\n", "```"],
        ]
    )
    backend = {"kind": "openai", "url": fake.url, "template": "chat", "model": "gpt-4o"}
    client = await start_client(initialization_options={"backend": backend})
    client.open(URI, TEXT)

    assert await texts(client, invoked=True) == [")", " + 1"]
    request = fake.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.body["n"] == 3


async def test_llamacpp_infill_asks_for_one(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=[")", "\n"])
    client = await start_client(
        initialization_options={"backend": {"kind": "llamacpp", "url": fake.root}}
    )
    client.open(URI, TEXT)

    assert await texts(client, invoked=True) == [")"]
    assert len(fake.requests) == 1
    request = fake.requests[0]
    assert request.path == "/infill"
    assert "n" not in request.body
    assert request.body["temperature"] == 0.0


# llama-server's answer to `n` > 1 on its OpenAI-compatible endpoints.
N_REFUSED = (
    '{"error": {"code": 400, "message": "Field \'n\': Value must be between 1 <= value <= 1, '
    'but got 3", "type": "invalid_request_error"}}'
)


async def test_a_server_that_refuses_n_is_asked_for_one_from_then_on(
    fake: FakeLLM, start_client: StartClient
):
    fake.on_request = lambda request: (
        Reply(status=400, error_body=N_REFUSED) if "n" in request.body else None
    )
    fake.default = Reply(chunks=[")", "\n"])
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, TEXT)

    assert await texts(client, invoked=True) == [")"]
    first, retried = fake.requests
    assert first.body["n"] == 3
    assert "n" not in retried.body
    assert retried.body["temperature"] == 0.0  # the configured one: there is one candidate
    # The next invoked request asks for one at once; the refusal was no backend failure.
    assert await texts(client, invoked=True) == [")"]
    assert len(fake.requests) == 3
    assert "n" not in fake.requests[2].body
    assert not [m for m in client.messages if "backend unavailable" in m["message"]]


async def test_a_server_that_ignores_n_is_asked_for_one_from_then_on(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=[")", "\n", "    y"])  # one candidate, whatever `n` says
    client = await start_client(initialization_options=settings(fake))
    client.open(URI, TEXT)

    # Waiting for candidates that never come, the first request reads the stream to its end.
    assert await texts(client, invoked=True) == [")"]
    assert fake.requests[0].body["n"] == 3
    # The next asks for one, and stops at its line end again: this stream never ends.
    fake.default = Reply(chunks=[")", "\n    y"], keep_open=True)
    assert await texts(client, invoked=True) == [")"]
    assert "n" not in fake.requests[1].body
    await fake.wait_for_dropped(1)
    assert any("answered 1 of 3 candidates" in line for line in client.stderr_lines)


async def test_at_the_timeout_the_complete_candidates_are_shown(
    fake: FakeLLM, start_client: StartClient
):
    # The second candidate is still being written when the time is up.
    fake.default = Reply(choices=[[")\n"], [")", " + su"]], keep_open=True)
    client = await start_client(
        initialization_options={
            **settings(fake, completion={"candidates": 2}),
            "backend.timeout_ms": 1000,
            # The answer's deadline, before the stream counts as stalled.
            "backend.answer_ms": 500,
        }
    )
    client.open(URI, TEXT)

    assert await texts(client, invoked=True) == [")"]
    await fake.wait_for_dropped(1)
    # Not a backend failure: it answered.
    assert not [line for line in client.stderr_lines if "no first token" in line]
