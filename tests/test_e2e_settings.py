"""Settings through every channel an editor uses, end to end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply

URI = "file:///work/settings_example.py"


def is_error_about(key: str):
    return lambda message: message["type"] == 1 and key in message["message"]


async def test_invalid_initialization_option_is_reported_by_key(
    fake: FakeLLM, start_client: StartClient
):
    client = await start_client(
        initialization_options={"backend": {"url": fake.url, "max_tokens": -1}}
    )
    message = await client.wait_for_message(is_error_about("backend.max_tokens"))
    assert "keeping the previous settings" in message["message"]


async def test_bad_update_keeps_the_last_good_settings(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(
        initialization_options={"backend": {"url": fake.url, "max_tokens": 32}}
    )
    client.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"infill": {"backend": {"url": fake.url, "max_tokens": 48}}}},
    )
    client.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"infill": {"backend": {"url": fake.url, "temperature": "hot"}}}},
    )
    await client.wait_for_message(is_error_about("backend.temperature"))
    client.open(URI, "answer = \n")

    assert [item["insertText"] for item in await client.inline_completion(URI, (0, 9))] == ["42"]
    assert fake.requests[-1].body["max_tokens"] == 48
    assert fake.requests[-1].body["temperature"] == 0.0


async def test_dotted_keys_in_a_pushed_configuration(fake: FakeLLM, start_client: StartClient):
    fake.default = Reply(chunks=["42\n"])
    client = await start_client()
    client.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"infill": {"backend.url": fake.url, "backend.model": "qwen2.5-coder:1.5b"}}},
    )
    client.open(URI, "answer = \n")
    assert [item["insertText"] for item in await client.inline_completion(URI, (0, 9))] == ["42"]
    assert fake.requests[-1].body["model"] == "qwen2.5-coder:1.5b"


async def test_configuration_is_pulled_from_the_client(
    fake: FakeLLM, env: dict[str, str], start_client: StartClient
):
    fake.default = Reply(chunks=["42\n"])
    client = await start_client()
    client.configuration["infill"] = {"backend": {"url": fake.url, "max_tokens": 17}}
    # A null payload is the pull model's "something changed, ask me".
    client.notify("workspace/didChangeConfiguration", {"settings": None})
    client.open(URI, "answer = \n")

    for _ in range(50):  # the pull is a round trip: retry until the new settings are in force
        if await client.inline_completion(URI, (0, 9)):
            break
    assert fake.requests[-1].body["max_tokens"] == 17


async def test_user_config_file_is_read(
    fake: FakeLLM, env: dict[str, str], start_client: StartClient
):
    config = Path(env["XDG_CONFIG_HOME"]) / "infill" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[backend]\nurl = "{fake.url}"\nmax_tokens = 21\n')
    fake.default = Reply(chunks=["42\n"])
    client = await start_client()
    client.open(URI, "answer = \n")

    assert [item["insertText"] for item in await client.inline_completion(URI, (0, 9))] == ["42"]
    assert fake.requests[-1].body["max_tokens"] == 21


async def test_initialization_options_override_the_user_file(
    fake: FakeLLM, env: dict[str, str], start_client: StartClient
):
    config = Path(env["XDG_CONFIG_HOME"]) / "infill" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[backend]\nurl = "http://127.0.0.1:9/v1"\nmax_tokens = 21\n')
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(initialization_options={"backend.url": fake.url})
    client.open(URI, "answer = \n")

    assert [item["insertText"] for item in await client.inline_completion(URI, (0, 9))] == ["42"]
    assert fake.requests[-1].body["max_tokens"] == 21


async def test_missing_backend_is_explained_once(start_client: StartClient):
    client = await start_client(initialization_options={"backend.kind": "openai"})
    client.open(URI, "answer = \n")
    assert await client.inline_completion(URI, (0, 9)) == []
    assert await client.inline_completion(URI, (0, 9)) == []
    explained = [m for m in client.messages if "backend.url" in m["message"]]
    assert len(explained) == 1


async def test_api_key_is_sent_from_the_named_variable_and_never_logged(
    fake: FakeLLM, env: dict[str, str], start_client: StartClient
):
    secret = "sk-test-0123456789abcdef"
    env["MY_LLM_KEY"] = secret
    fake.replies = [Reply(status=401, error_body='{"error": "bad key"}')]
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(
        initialization_options={"backend": {"url": fake.url, "api_key_env": "MY_LLM_KEY"}}
    )
    client.open(URI, "answer = \n")
    assert await client.inline_completion(URI, (0, 9)) == []
    assert await client.inline_completion(URI, (0, 9)) != []

    assert fake.requests[0].headers["authorization"] == f"Bearer {secret}"
    everything_shown = json.dumps(client.notifications) + "\n".join(client.stderr_lines)
    assert "HTTP 401" in everything_shown
    assert secret not in everything_shown
