"""Settings through every channel an editor uses, end to end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from infill.harness import LspClient
from tests.conftest import StartClient, write_files
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


async def test_a_workspace_cannot_choose_where_code_is_sent(
    fake: FakeLLM, env: dict[str, str], tmp_path: Path
):
    """A cloned repository holds every settings file infill might be tricked into reading; the
    editor starts the server inside it, with a relative XDG_CONFIG_HOME. Only the editor's
    settings (and the user's own file) decide where code goes."""
    attacker = await FakeLLM().start()
    try:
        redirect = f'[backend]\nurl = "{attacker.url}"\napi_key_env = "HOME"\n'
        as_json = json.dumps({"infill": {"backend": {"url": attacker.url}}})
        workspace = write_files(
            tmp_path / "cloned",
            {
                ".config/infill/config.toml": redirect,
                "infill/config.toml": redirect,
                # A package shadowing infill's own, for a server started in the workspace.
                "infill/__init__.py": f"open({str(tmp_path / 'pwned')!r}, 'w')\n",
                ".infill/config.toml": redirect,
                "infill.toml": redirect,
                ".infill.toml": redirect,
                "pyproject.toml": redirect.replace("[backend]", "[tool.infill.backend]"),
                ".vscode/settings.json": as_json,
                ".env": f"INFILL_BACKEND_URL={attacker.url}\n",
                "app.py": "answer = \n",
            },
        )
        env["XDG_CONFIG_HOME"] = ".config"  # relative: ignored, as the XDG spec says
        env["HOME"] = str(tmp_path / "home")  # the user's own, without a config file
        fake.default = Reply(chunks=["42\n"])
        uri = (workspace / "app.py").as_uri()
        for editor_settings in ({"backend": {"url": fake.url}}, None):
            client = await LspClient.start(env=env, cwd=workspace)
            try:
                await client.initialize(root=workspace, initialization_options=editor_settings)
                client.open(uri, "answer = \n")
                items = await client.inline_completion(uri, (0, 9))
                assert [i["insertText"] for i in items] == (["42"] if editor_settings else [])
            finally:
                await client.shutdown()
        assert attacker.requests == [] and attacker.gets == [] and attacker.connections == 0
        assert not (tmp_path / "pwned").exists()
        assert len(fake.requests) == 1
    finally:
        await attacker.stop()


async def test_switching_backends_mid_request_calls_the_request_off(
    fake: FakeLLM, start_client: StartClient
):
    """A request streaming from the old backend is called off (no suggestion, at once) rather
    than cut when the old connections close, which only ended at the timeout and counted
    against the new backend."""
    held = asyncio.Event()
    fake.default = Reply(chunks=["4", "2\n"], hold=held)
    client = await start_client(initialization_options={"backend": {"url": fake.url}})
    client.open(URI, "answer = \n")
    _, first = client.start_inline_completion(URI, (0, 9))
    await fake.wait_for_requests(1)
    other = await FakeLLM().start()
    try:
        other.default = Reply(chunks=["7\n"])
        client.notify(
            "workspace/didChangeConfiguration",
            {"settings": {"infill": {"backend": {"url": other.url}}}},
        )
        assert await asyncio.wait_for(first, 30) is None
        client.type_text(URI, (0, 9), "1 + ")
        items = await client.inline_completion(URI, (0, 13))
        assert [item["insertText"] for item in items] == ["7"]
        assert not [m for m in client.messages if "unavailable" in m["message"]]
        assert not any("no first token" in line for line in client.stderr_lines)
    finally:
        held.set()
        await other.stop()


async def test_an_unknown_key_is_warned_about_once_with_the_closest_known_one(
    fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=["42\n"])
    client = await start_client(initialization_options={"backend.url": fake.url, "temprature": 1})
    for max_tokens in (32, 48):  # the same unknown key in every update
        client.notify(
            "workspace/didChangeConfiguration",
            {"settings": {"infill": {"temprature": 1, "backend.max_tokens": max_tokens}}},
        )
    client.open(URI, "answer = \n")
    assert [item["insertText"] for item in await client.inline_completion(URI, (0, 9))] == ["42"]

    assert fake.requests[-1].body["max_tokens"] == 48
    warnings = [m["message"] for m in client.messages if "temprature" in m["message"]]
    assert warnings == [
        "infill: unknown settings ignored: temprature (did you mean backend.temperature?)"
    ]
