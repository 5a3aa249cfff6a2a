"""Every backend kind end to end through `infill serve`, against fakes that speak each API's
wire format over real HTTP, including their error shapes and broken streams."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply

URI = "file:///work/backends.py"
TEXT = "def answer():\n    value = \n    return value\n"
CURSOR = (1, 12)


async def suggest(client, text: str = TEXT, cursor=CURSOR) -> list[str]:
    client.open(URI, text)
    return [item["insertText"] for item in await client.inline_completion(URI, cursor)]


async def test_llamacpp_infill(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["4", "2\n", "    x"])
    client = await start_client(
        initialization_options={"backend.kind": "llamacpp", "backend.url": fake.root}
    )
    assert await suggest(client) == ["42"]
    request = fake.requests[-1]
    assert request.path == "/infill"
    body = request.body
    # The line being typed goes in `prompt`: the prefix before it stays the same, key to key.
    assert body["input_prefix"] == "def answer():\n"
    assert body["prompt"] == "    value = "
    assert body["input_suffix"] == "\n    return value\n"
    assert body["input_extra"] == []
    assert body["cache_prompt"] is True and body["stream"] is True
    assert body["n_cache_reuse"] == 256
    # The server stops at the answer's deadline; its speed is not known yet: all tokens.
    assert body["t_max_predict_ms"] == 3000
    assert body["n_predict"] == 128 and "<|endoftext|>" in body["stop"]
    assert body["n_indent"] == 4  # the cursor line's indentation
    assert body["id_slot"] == 0  # one slot, whose cache holds the previous prompt


@pytest.mark.parametrize("kind", ["llamacpp", "openai"])
async def test_llama_server_is_asked_for_what_it_can_write_in_the_answers_time(
    kind: str, fake: FakeLLM, start_client: StartClient
):
    # llama-server (the openai kind learns it from /models), saying it wrote 10 tokens/s: the
    # answer's 3 s hold 30 tokens, asked for from the next request on. Both kinds ask the
    # server to keep the answer's deadline and its cache (the llamacpp kind's fields).
    fake.owned_by = "llamacpp"
    fake.default = Reply(chunks=["4", "2\n"], speed=10.0)
    url = fake.root if kind == "llamacpp" else fake.url
    options = {"backend": {"kind": kind, "url": url}, "completion": {"debounce_ms": 0}}
    client = await start_client(initialization_options=options)
    assert await suggest(client) == ["42"]
    tokens = "n_predict" if kind == "llamacpp" else "max_tokens"
    first = fake.requests[-1].body
    assert first[tokens] == 128  # the speed not known yet
    assert first["t_max_predict_ms"] == 3000 and first["n_cache_reuse"] == 256
    assert first["cache_prompt"] is True and first["return_progress"] is True
    assert first["id_slot"] == 0 and first["timings_per_token"] is True
    client.type_text(URI, CURSOR, "x")
    await client.inline_completion(URI, (CURSOR[0], CURSOR[1] + 1))
    assert fake.requests[-1].body[tokens] == 30


async def test_llamacpp_lets_the_server_choose_the_slot_when_told_to(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=["42\n"])
    options = {"backend": {"kind": "llamacpp", "url": fake.root, "slot": -1}}
    client = await start_client(initialization_options=options)
    assert await suggest(client) == ["42"]
    assert "id_slot" not in fake.requests[-1].body


async def test_llamacpp_completion_with_an_explicit_template(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(
        initialization_options={
            "backend": {"kind": "llamacpp", "url": fake.root, "template": "codellama"}
        }
    )
    assert await suggest(client) == ["42"]
    assert fake.requests[-1].path == "/completion"
    assert fake.requests[-1].body["prompt"].startswith("<PRE> def answer():")


async def test_ollama_suffix_mode_and_raw_mode(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["4", "2", "\n"])
    client = await start_client(
        initialization_options={
            "backend": {"kind": "ollama", "url": fake.root, "model": "qwen2.5-coder:1.5b-base"}
        }
    )
    assert await suggest(client) == ["42"]
    body = fake.requests[-1].body
    assert fake.requests[-1].path == "/api/generate"
    assert (body["prompt"], body["suffix"]) == (
        "def answer():\n    value = ",
        "\n    return value\n",
    )
    assert "raw" not in body and body["keep_alive"] and body["options"]["num_predict"] == 128
    client.notify(
        "workspace/didChangeConfiguration",
        {
            "settings": {
                "infill": {"backend": {"kind": "ollama", "url": fake.root, "template": "qwen"}}
            }
        },
    )
    assert [i["insertText"] for i in await client.inline_completion(URI, CURSOR)] == ["42"]
    body = fake.requests[-1].body
    assert body["raw"] is True and body["prompt"].startswith("<|fim_prefix|>def answer():")


async def test_anthropic_messages_with_the_chat_prompt(
    fake: FakeLLM, env: dict[str, str], start_client: StartClient
):
    env["TEST_ANTHROPIC_KEY"] = "sk-ant-test-0000"
    fake.default = Reply(chunks=["Here is the code:\n", "```python\n", "42\n", "```"])
    client = await start_client(
        initialization_options={
            "backend": {
                "kind": "anthropic",
                "url": fake.root,
                "api_key_env": "TEST_ANTHROPIC_KEY",
                "model": "claude-3-5-haiku-latest",
            }
        }
    )
    assert await suggest(client) == ["42"]
    request = fake.requests[-1]
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-test-0000"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert "{{FILL_HERE}}" in request.body["messages"][0]["content"]
    assert request.body["system"] and request.body["stream"] is True
    # infill/explain shows the chat messages the API is sent.
    report = await client.explain(URI, CURSOR)
    assert report["chat"]["messages"] == request.body["messages"]
    assert report["chat"]["system"] == request.body["system"]


async def test_mistral_fim(fake: FakeLLM, env: dict[str, str], start_client: StartClient):
    env["TEST_MISTRAL_KEY"] = "mistral-test-key"
    fake.default = Reply(chunks=["42", "\n"])
    client = await start_client(
        initialization_options={
            "backend": {"kind": "mistral", "url": fake.url, "api_key_env": "TEST_MISTRAL_KEY"}
        }
    )
    assert await suggest(client) == ["42"]
    request = fake.requests[-1]
    assert request.path == "/v1/fim/completions"
    assert request.headers["authorization"] == "Bearer mistral-test-key"
    assert request.body["prompt"] == "def answer():\n    value = "
    assert request.body["suffix"] == "\n    return value\n"
    assert request.body["model"] == "codestral-latest"


async def test_openai_chat_completions(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["```\n", "    value = 42\n", "```"])
    client = await start_client(
        initialization_options={
            "backend": {"kind": "openai", "url": fake.url, "template": "chat", "model": "gpt-4o"}
        }
    )
    assert await suggest(client) == ["42"]
    request = fake.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert [m["role"] for m in request.body["messages"]] == ["system", "user"]


# -- faults -----------------------------------------------------------------------------------


async def test_openai_429_is_retried_after_retry_after(fake: FakeLLM, start_client: StartClient):
    fake.replies = [
        Reply(
            status=429,
            headers={"Retry-After": "0"},
            error_body='{"error": {"message": "Rate limit reached", "type": "requests"}}',
        )
    ]
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(initialization_options={"backend": {"url": fake.url}})
    assert await suggest(client) == ["42"]
    assert len(fake.requests) == 2


# Each API's own error shapes.
OVERLOADED = '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
OLLAMA_MISSING = '{"error": "model \\"qwen2.5-coder:99b\\" not found, try pulling it first"}'
FAULTS = [
    (
        {"kind": "anthropic"},
        Reply(status=529, error_body=OVERLOADED),
        "overloaded_error: Overloaded",
    ),
    (
        {"kind": "anthropic"},
        Reply(chunks=[], raw_events=[f"event: error\ndata: {OVERLOADED}\n\n"]),
        "overloaded_error",
    ),
    (
        {"kind": "ollama", "model": "qwen2.5-coder:99b"},
        Reply(status=404, error_body=OLLAMA_MISSING),
        "not found, try pulling it first",
    ),
    ({"kind": "llamacpp"}, Reply(chunks=["4"], abort=True), "broke"),
    ({"kind": "llamacpp"}, Reply(chunks=[], raw_events=["data: {not json\n\n"]), "malformed event"),
]


@pytest.mark.parametrize(("settings", "reply", "logged"), FAULTS)
async def test_api_errors_give_no_suggestion_and_a_clear_log_line(
    settings: dict[str, str], reply: Reply, logged: str, fake: FakeLLM, start_client: StartClient
):
    fake.replies = [reply]
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(initialization_options={"backend": {"url": fake.root, **settings}})
    assert await suggest(client) == []
    assert any(logged in line for line in client.stderr_lines), client.stderr_lines[-5:]
    # The server keeps serving.
    assert [i["insertText"] for i in await client.inline_completion(URI, CURSOR)] == ["42"]


async def test_a_dead_backend_is_reported_once_and_recovery_too(
    fake: FakeLLM, start_client: StartClient
):
    fake.replies = [Reply(status=500)] * 3
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(initialization_options={"backend": {"url": fake.url}})
    client.open(URI, TEXT)
    for _ in range(6):
        assert await client.inline_completion(URI, CURSOR) == []
    # Three failures open the breaker: the next requests do not reach the backend.
    assert len(fake.requests) == 3
    down = [m for m in client.messages if "backend unavailable" in m["message"]]
    assert len(down) == 1
    status = await client.wait_for_notification("infill/status")
    assert status["state"] == "backend-error"
    # After the cool-down one trial goes through, succeeds, and the breaker closes.
    for _ in range(40):
        items = await client.inline_completion(URI, CURSOR)
        if items:
            break
        await asyncio.sleep(0.1)
    assert [i["insertText"] for i in items] == ["42"]
    await client.wait_for_notification("infill/status", lambda p: p["state"] == "ready")
    assert len([m for m in client.messages if "answers again" in m["message"]]) == 1
