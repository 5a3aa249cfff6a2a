"""Next edits through the real server: `infill/nextEdit`, copilot's `textDocument/copilotInlineEdit`
and the notifications that count what became of a proposal (no model involved)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infill.harness import LspClient, LspError
from infill.metrics import report
from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply

URI = "file:///work/geometry.py"
DOC = "def area(width, height):\n    double = width * 2\n    return width * height\n"


def rename_width(client: LspClient) -> int:
    """Rename `width` at its definition to `w`, key by key, as an editor sends it; returns the
    document's version."""
    client.edit(URI, (0, 9), (0, 14), "")
    client.type_text(URI, (0, 9), "w")
    return client.documents[URI].version


async def renamed(start_client: StartClient) -> tuple[LspClient, int]:
    client = await start_client()
    client.open(URI, DOC)
    return client, rename_width(client)


def at(line: int, character: int) -> dict[str, Any]:
    return {"line": line, "character": character}


def counted(env: dict[str, str]) -> dict[str, int]:
    """The next-edit counts of the local metrics (the server has shut down: all written)."""
    numbers = report(Path(env["XDG_STATE_HOME"]) / "infill" / "metrics.sqlite3")
    counts: dict[str, int] = numbers["next_edits"]
    return counts


async def next_edit(client: LspClient, position: tuple[int, int], version: int | None) -> Any:
    document: dict[str, Any] = {"uri": URI, "version": version}
    return await client.request(
        "infill/nextEdit", {"textDocument": document, "position": at(*position)}
    )


async def test_a_rename_proposes_each_use_in_turn_and_the_outcomes_are_counted(
    start_client: StartClient, env: dict[str, str]
):
    client, version = await renamed(start_client)
    first = await next_edit(client, (0, 9), version)
    assert first["edits"] == [
        {"range": {"start": at(1, 13), "end": at(1, 18)}, "newText": "w"},
    ]
    assert first["cursor"] == at(1, 14)
    client.notify("infill/nextEditShown", {"id": first["id"]})
    # The client applies what the user accepts; the server never does.
    assert client.documents[URI].text == DOC.replace("(width", "(w")
    client.edit(URI, (1, 13), (1, 18), "w")
    client.notify("infill/nextEditAccepted", {"id": first["id"]})

    second = await next_edit(client, (1, 14), client.documents[URI].version)
    assert second["edits"][0]["range"] == {"start": at(2, 11), "end": at(2, 16)}
    client.notify("infill/nextEditShown", {"id": second["id"]})
    client.notify("infill/nextEditRejected", {"id": second["id"]})
    client.notify("infill/nextEditAccepted", {"id": 999})  # never offered: not counted
    await client.shutdown()

    assert counted(env) == {"proposed": 2, "shown": 2, "accepted": 1, "rejected": 1}


async def test_a_stale_version_or_no_change_answers_null(start_client: StartClient):
    client = await start_client()
    client.open(URI, DOC)
    assert await next_edit(client, (0, 0), 1) is None  # nothing changed yet
    version = rename_width(client)
    assert await next_edit(client, (0, 9), version - 1) is None
    assert await next_edit(client, (0, 9), None) is not None  # no version: the current one
    # Still typing the new name (the cursor where the last letter went): nothing yet.
    assert await next_edit(client, (0, 10), version) is None


async def test_copilot_inline_edit_and_its_accept_command(
    start_client: StartClient, env: dict[str, str]
):
    client, version = await renamed(start_client)
    params = {"textDocument": {"uri": URI, "version": version}, "position": at(0, 9)}
    answer = await client.request("textDocument/copilotInlineEdit", params)
    [edit] = answer["edits"]
    assert edit["text"] == "w"
    assert edit["range"] == {"start": at(1, 13), "end": at(1, 18)}
    assert edit["textDocument"] == {"uri": URI, "version": version}
    command = edit["command"]
    client.notify("textDocument/didShowInlineEdit", {"item": {"command": command}})
    await client.request(
        "workspace/executeCommand",
        {"command": command["command"], "arguments": command["arguments"]},
    )
    stale = {"textDocument": {"uri": URI, "version": version - 1}, "position": at(0, 9)}
    assert await client.request("textDocument/copilotInlineEdit", stale) == {"edits": []}
    await client.shutdown()

    assert counted(env) == {"proposed": 1, "shown": 1, "accepted": 1, "rejected": 0}


async def test_malformed_params_are_refused_and_the_server_goes_on(start_client: StartClient):
    client = await start_client()
    client.open(URI, DOC)
    for params in (
        None,
        {"textDocument": {"uri": URI}},
        {"textDocument": {"uri": 3}, "position": at(0, 0)},
        {"textDocument": {"uri": URI}, "position": {"line": -1, "character": 0}},
        {"textDocument": {"uri": URI, "version": "1"}, "position": at(0, 0)},
    ):
        try:
            await client.request("infill/nextEdit", params)
        except LspError as exc:
            assert exc.code == -32602  # invalid params
        else:
            raise AssertionError(f"accepted {params}")
    client.notify("infill/nextEditShown", ["not", "an", "object"])
    client.notify("textDocument/didShowInlineEdit", {"item": None})
    # A position past the end of the document: no edit, no error.
    rename_width(client)
    assert await next_edit(client, (40, 0), None) is None
    assert await next_edit(client, (0, 9), None) is not None
    assert not any("Traceback" in line for line in client.stderr_lines), client.stderr_lines


# -- from a next-edit model (Zeta's format, a fake model over the real wire protocol) ---------

GREET = "def greet(name):\n    print('hi ' + name)\n    print('bye ' + name)\n"
GREET_URI = "file:///work/greet.py"


def zeta_answer(region: str) -> list[str]:
    """A Zeta answer rewriting the region as `region`, in token-sized pieces, as the model
    writes it: the excerpt's fence, the markers, the region (the stop string ends it)."""
    text = f"```greet.py\n<|editable_region_start|>\n{region}\n<|editable_region_end|>"
    return [text[i : i + 7] for i in range(0, len(text), 7)]


async def greet_with_f_string(
    start_client: StartClient, fake: FakeLLM, region: str, form: str = "zeta"
) -> Any:
    """The user turns the first print into an f-string; the fake model answers `region` (in
    Zeta's answer format, or Instinct's: the region alone)."""
    chunks = (
        zeta_answer(region)
        if form == "zeta"
        else [region[i : i + 7] for i in range(0, len(region), 7)]
    )
    fake.default = Reply(chunks=chunks)
    options = {"next_edit": {"url": fake.url, "model": form, "format": form}}
    return await next_edit_after_f_string(start_client, options)


async def next_edit_after_f_string(start_client: StartClient, options: dict[str, Any]) -> Any:
    """The client, and the next edit it is proposed after the user turned the first print
    into an f-string."""
    client = await start_client(initialization_options=options)
    client.open(GREET_URI, GREET)
    client.edit(GREET_URI, (1, 10), (1, 22), "f'hi {name}'")
    document = {"uri": GREET_URI, "version": client.documents[GREET_URI].version}
    answer = await client.request(
        "infill/nextEdit", {"textDocument": document, "position": at(1, 22)}
    )
    return client, answer


async def test_a_next_edit_model_is_asked_in_its_format_and_its_rewrite_proposed(
    start_client: StartClient, fake: FakeLLM
):
    # The region ends with the document's last, empty line.
    region = "def greet(name):\n    print(f'hi {name}')\n    print(f'bye {name}')\n"
    client, answer = await greet_with_f_string(start_client, fake, region)
    assert answer["edits"] == [
        {"range": {"start": at(2, 10), "end": at(2, 23)}, "newText": "f'bye {name}'"}
    ]
    request = fake.requests[-1]
    assert request.path == "/v1/completions" and request.body["model"] == "zeta"
    prompt = request.body["prompt"]
    assert prompt.startswith("### Instruction:\nYou are a code completion assistant")
    # The user's change, as a diff; the excerpt, with the region and the cursor marked.
    # (The path as infill shows it: relative to the workspace's root, absolute outside it.)
    assert "User edited /work/greet.py:\n```diff\n@@ -1,3 +1,3 @@\n def greet(name):\n" in prompt
    assert "-    print('hi ' + name)\n+    print(f'hi {name}')\n" in prompt
    assert (
        "```/work/greet.py\n<|start_of_file|>\n<|editable_region_start|>\ndef greet(name):\n"
        "    print(f'hi {name}'<|user_cursor_is_here|>)\n"
    ) in prompt
    assert prompt.endswith("<|editable_region_end|>\n```\n\n### Response:\n")
    assert request.body["stop"] == ["\n```"]
    assert client.documents[GREET_URI].text.count("f'") == 1  # proposed, not applied


async def test_a_rewrite_that_undoes_the_change_or_breaks_the_syntax_is_not_proposed(
    start_client: StartClient, fake: FakeLLM
):
    undoing = "def greet(name):\n    print('hi ' + name)\n    print(f'bye {name}')\n"
    _, answer = await greet_with_f_string(start_client, fake, undoing)
    assert answer is None
    broken = "def greet(name):\n    print(f'hi {name}')\n    print(f'bye {name}'\n"
    _, answer = await greet_with_f_string(start_client, fake, broken)
    assert answer is None


async def test_instinct_is_asked_in_chat_messages_and_its_region_proposed(
    start_client: StartClient, fake: FakeLLM
):
    # Instinct answers the region without its last, empty line: the line break stays.
    region = "def greet(name):\n    print(f'hi {name}')\n    print(f'bye {name}')"
    client, answer = await greet_with_f_string(start_client, fake, region, "instinct")
    assert answer["edits"] == [
        {"range": {"start": at(2, 10), "end": at(2, 23)}, "newText": "f'bye {name}'"}
    ]
    request = fake.requests[-1]
    assert request.path == "/v1/chat/completions" and request.body["model"] == "instinct"
    system, user = request.body["messages"]
    assert system["role"] == "system" and system["content"].startswith("You are Instinct")
    assert user["role"] == "user" and user["content"].endswith(
        "### User Excerpt:\n/work/greet.py\n\n<|editable_region_start|>\ndef greet(name):\n"
        "    print(f'hi {name}'<|user_cursor_is_here|>)\n    print('bye ' + name)\n\n"
        "<|editable_region_end|>```\n### Response:"
    )
    assert 'User edited file "/work/greet.py"' in user["content"]
    assert client.documents[GREET_URI].text.count("f'") == 1  # proposed, not applied


async def test_a_chat_model_behind_anthropics_api_is_asked_with_infills_prompt(
    start_client: StartClient, fake: FakeLLM, env: dict[str, str]
):
    env["TEST_ANTHROPIC_KEY"] = "sk-ant-test-0000"
    region = "def greet(name):\n    print(f'hi {name}')\n    print(f'bye {name}')\n"
    fake.default = Reply(chunks=["Here is the region:\n```python\n", region, "```\n"])
    options = {
        "next_edit": {
            "kind": "anthropic",
            "url": fake.root,
            "model": "claude-sonnet-4-5",
            "format": "chat",
            "api_key_env": "TEST_ANTHROPIC_KEY",
        }
    }
    _, answer = await next_edit_after_f_string(start_client, options)
    assert answer["edits"] == [
        {"range": {"start": at(2, 10), "end": at(2, 23)}, "newText": "f'bye {name}'"}
    ]
    request = fake.requests[-1]
    assert request.path == "/v1/messages" and request.headers["x-api-key"] == "sk-ant-test-0000"
    assert request.body["system"].startswith("You predict a developer's next edit.")
    (message,) = request.body["messages"]
    assert message["content"].startswith("My recent edits:\n\n/work/greet.py:\n```diff\n")
