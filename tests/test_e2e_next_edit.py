"""Next edits through the real server: `infill/nextEdit`, copilot's `textDocument/copilotInlineEdit`
and the notifications that count what became of a proposal (no model involved)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infill.harness import LspClient, LspError
from infill.metrics import report
from tests.conftest import StartClient

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
