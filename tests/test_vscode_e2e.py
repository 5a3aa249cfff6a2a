"""End to end in a real VS Code: code-server (VS Code for the browser) runs offline with the
extension's .vsix installed; headless Chromium, driven by playwright-core (editors/vscode/e2e/
drive.mjs), does what a user does. Three runs:

- with `infill.server.path` pointing at this checkout's `infill` and the fake backend over HTTP:
  a Python file is opened and typed in, the ghost text comes from the real `infill serve`; a
  word of it is accepted with Ctrl+Right and the rest with Tab, the file is saved, and the file
  on disk and the server's local metrics (the partial accept, and the item's `infill.accepted`
  command) are checked; so are the reports of "infill: Explain this suggestion" and "infill:
  Show stats", and the levels the server's log lines have in the Output channel;
- with a backend nobody listens at: the status bar says so before anything is typed;
- with `/bin/false` as the server: how it ended, once, without restarts.

The first run on a machine installs Debian's chromium, Node 24 and code-server (a ~3-minute
native build) into ~/.cache/infill/vscode-e2e/ (editors/vscode/e2e/setup.sh); later runs reuse
them (about 30 s per run). VS Code with Chromium takes about 1.3 GB of memory."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infill.metrics import report
from tests.fake_llm import FakeLLM, Received, Reply
from tests.vscode_build import EXTENSION, compile_extension, package_vsix

pytestmark = pytest.mark.timeout(1800)

SCREENSHOT = Path.home() / ".cache" / "infill" / "vscode-e2e" / "ghost-text.png"
TYPED = "    message = "
SUGGESTION = 'f"Hello, {name}!"'


def install() -> dict[str, str]:
    """Paths of node, code-server and playwright-core, installed once per machine."""
    done = subprocess.run(
        ["bash", str(EXTENSION / "e2e" / "setup.sh")],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stderr
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def install_extension(code_server: list[str], env: dict[str, str], vsix: Path) -> None:
    installed = subprocess.run(
        [*code_server, "--install-extension", str(vsix)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr


@contextlib.asynccontextmanager
async def code_server(
    binary: str, env: dict[str, str], folder: Path, home: Path, vsix: Path
) -> AsyncIterator[str]:
    """code-server with the extension installed, serving `folder`; yields its URL."""
    port = free_port()
    config = home / "config.yaml"
    config.write_text(f"bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n")
    common = [
        "--config",
        str(config),
        "--user-data-dir",
        str(home / "data"),
        "--extensions-dir",
        str(home / "extensions"),
    ]
    await asyncio.to_thread(install_extension, [binary, *common], env, vsix)
    log = (home / "code-server.log").open("wb")
    server = await asyncio.create_subprocess_exec(
        binary,
        *common,
        "--auth",
        "none",
        "--bind-addr",
        f"127.0.0.1:{port}",
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        str(folder),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, stopped as one below
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        break
                assert server.returncode is None, (home / "code-server.log").read_text()
                await asyncio.sleep(0.1)
        yield f"{url}/?folder={folder}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(server.wait(), 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            await server.wait()
        log.close()


def user_settings(server_path: str, backend_url: str) -> dict[str, object]:
    return {
        "infill.server.path": server_path,
        "infill.backend.kind": "openai",
        "infill.backend.url": backend_url,
        "infill.backend.template": "qwen",
        "editor.inlineSuggest.enabled": True,
        # Nothing else on the screen or the wire: no word suggestions, no AI features of
        # VS Code's own, no marketplace, no telemetry.
        "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
        "editor.suggestOnTriggerCharacters": False,
        "chat.disableAIFeatures": True,
        "workbench.startupEditor": "none",
        "security.workspace.trust.enabled": False,
        "extensions.autoUpdate": "off",
        "extensions.autoCheckUpdates": False,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "editor.inlineSuggest.logFetch": True,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
    }


INFILL = str(Path(sys.executable).parent / "infill")


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    return install()


@pytest.fixture(scope="module")
def vsix() -> Path:
    compile_extension()
    return package_vsix()


@contextlib.asynccontextmanager
async def vscode(
    scenario: str,
    settings: dict[str, object],
    tools: dict[str, str],
    vsix: Path,
    env: dict[str, str],
    tmp_path: Path,
    typed: str = "",
    text: str = "def greet(name):\n",
    rename: str = "",
) -> AsyncIterator[dict[str, Any]]:
    """A scenario of drive.mjs run in code-server on a workspace with greet.py (holding
    `text`); yields what the driver saw while VS Code and the server still run; after the
    block, also the Output channel's lines (`output`)."""
    folder = tmp_path / "workspace"
    folder.mkdir()
    (folder / "greet.py").write_text(text)
    home = tmp_path / "code-server"
    (home / "data" / "User").mkdir(parents=True)
    (home / "data" / "User" / "settings.json").write_text(json.dumps(settings))
    node_bin = str(Path(tools["node"]).parent)
    server_env = {
        **env,
        "PATH": f"{node_bin}{os.pathsep}{env['PATH']}",  # code-server runs on Node 24
        "EXTENSIONS_GALLERY": "{}",  # no marketplace requests at all
    }
    screenshot = tmp_path / "screen.png"
    async with code_server(tools["code_server"], server_env, folder, home, vsix) as url:
        options = {
            "playwright": tools["playwright"],
            "url": url,
            "file": "greet.py",
            "scenario": scenario,
            "type": typed,
            "rename": rename,
            "screenshot": str(screenshot),
        }
        driver = await asyncio.create_subprocess_exec(
            tools["node"],
            str(EXTENSION / "e2e" / "drive.mjs"),
            json.dumps(options),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(driver.communicate(), 600)
        result = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
        (tmp_path / "driver.json").write_text(json.dumps(result, indent=1))
        console = "\n".join(result.get("console", [])[-40:])
        assert driver.returncode == 0, f"{result.get('error')}\n{err.decode()}\n{console}"
        result["screenshot"] = screenshot
        yield result
    result["output"] = output_channel(home)


def output_channel(home: Path) -> list[str]:
    """The lines of the Output channel "infill": the log file VS Code keeps it in (all of it, where
    the panel shows a screenful), complete once code-server has stopped."""
    logs = list((home / "data" / "logs").glob("*/exthost*/infill.infill/infill.log"))
    assert len(logs) == 1, logs
    return logs[0].read_text().splitlines()


def tagged(output: list[str], text: str) -> list[str]:
    """The level tags ("info", "warning", ...) of the Output channel's lines holding `text`."""
    return [m[1] for line in output if text in line and (m := re.search(r" \[(\w+)\] ", line))]


async def test_ghost_text_is_shown_and_tab_accepts_it(
    tools: dict[str, str], vsix: Path, fake: FakeLLM, env: dict[str, str], tmp_path: Path
):
    # The model is asked at every key; it answers only at the end of what is typed.
    def answer(request: Received) -> Reply:
        typed_all = f"{TYPED}<|fim_suffix|>" in request.body.get("prompt", "")
        return Reply(chunks=[SUGGESTION, "\n"]) if typed_all else Reply(chunks=["\n"])

    fake.on_request = answer
    source = tmp_path / "workspace" / "greet.py"
    expected = f"def greet(name):\n{TYPED}{SUGGESTION}"  # typed on the last, empty line
    state = Path(env["XDG_STATE_HOME"]) / "infill" / "metrics.sqlite3"
    settings = user_settings(INFILL, fake.url)
    async with vscode("accept", settings, tools, vsix, env, tmp_path, TYPED) as result:
        # While VS Code and the server still run: the save reaches the disk through
        # code-server, and the server writes its metrics about every second.
        for _ in range(300):
            if source.read_text() == expected and accepted(state) >= 1:
                break
            await asyncio.sleep(0.1)

    # What the page showed as ghost text (Monaco renders its blanks as no-break spaces), and
    # after a word of it was accepted.
    assert "".join(result["ghost"]).replace("\xa0", " ") == SUGGESTION
    rest = "".join(result["ghostAfterWord"]).replace("\xa0", " ")
    assert rest and SUGGESTION.endswith(rest) and rest != SUGGESTION
    # The commands' reports, beside the editor: infill/explain at the empty line, then the
    # output of `infill stats` run by the extension.
    assert result["explanation"].startswith("template: qwen    mode: multi-line\n")
    assert "<|fim_prefix|>def greet(name):" in result["explanation"]
    assert re.search(r"^keystrokes\s+\d+", result["stats"], re.MULTILINE), result["stats"]
    assert source.read_text() == expected
    # The word was counted as typed along what was shown; the rest's item ran its
    # `infill.accepted` command, and the server counted that accept.
    numbers = report(state)
    assert (numbers["accepted_partly"], numbers["accepted_whole"]) == (1, 1)
    assert numbers["chars_accepted"] == len(SUGGESTION)
    # The server's INFO lines are info in the Output channel, not errors.
    assert tagged(result["output"], "infill.indexing: indexed ") == ["info"], result["output"]
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result["screenshot"], SCREENSHOT)


async def test_a_next_edit_is_drawn_where_it_goes_and_tab_applies_it(
    tools: dict[str, str], vsix: Path, fake: FakeLLM, env: dict[str, str], tmp_path: Path
):
    # A parameter renamed at its definition: the rename at each use is proposed in turn (no
    # model: the rule), drawn at its place, applied with Tab. The model writes no ghost text.
    fake.default = Reply(chunks=["\n"])
    text = "def area(width, height):\n    double = width * 2\n    return width * height\n"
    source = tmp_path / "workspace" / "greet.py"
    expected = text.replace("width", "size")
    settings = user_settings(INFILL, fake.url)
    async with vscode(
        "next-edit", settings, tools, vsix, env, tmp_path, "size", text, rename="width"
    ) as result:
        for _ in range(300):  # the save reaches the disk through code-server
            if source.read_text() == expected:
                break
            await asyncio.sleep(0.1)
    # Each proposal drawn after the text it replaces, then applied (Monaco's quotes around
    # ::after content).
    assert result["first"] == ['" → size"'], result["first"]
    assert result["second"] == ['" → size"'], result["second"]
    # One undo took back the last edit applied, exactly (Monaco shows blanks as no-break
    # spaces); redo put it back.
    undone = expected.replace("return size", "return width").rstrip("\n")
    assert result["undone"].replace("\xa0", " ") == undone
    assert source.read_text() == expected


def accepted(metrics: Path) -> int:
    return report(metrics)["accepted_whole"] if metrics.is_file() else 0


async def test_a_dead_backend_shows_in_the_status_bar_at_once(
    tools: dict[str, str], vsix: Path, env: dict[str, str], tmp_path: Path
):
    nobody = f"http://127.0.0.1:{free_port()}/v1"
    settings = user_settings(INFILL, nobody)
    async with vscode("dead-backend", settings, tools, vsix, env, tmp_path) as result:
        pass

    # Before anything is typed: the server's start-up check was refused.
    assert result["status"].startswith("infill: backend error, requests paused: "), result
    assert "Connection refused" in result["status"]
    assert tagged(result["output"], "backend unavailable, pausing requests") == ["warning"]


async def test_a_server_that_cannot_run_is_reported_by_its_exit_code(
    tools: dict[str, str], vsix: Path, fake: FakeLLM, env: dict[str, str], tmp_path: Path
):
    settings = user_settings("/bin/false", fake.url)
    async with vscode("bad-server", settings, tools, vsix, env, tmp_path) as result:
        pass

    assert (
        result["status"] == "infill: the server is not running: /bin/false serve exited with code 1"
    )
    assert any("/bin/false serve exited with code 1" in m for m in result["messages"]), result
    # Not the failed write to it ("write EPIPE", which the Output channel has for the curious).
    assert not [m for m in result["messages"] if "EPIPE" in m], result["messages"]
    # Started once: a server that ends before it answers would end the same way again.
    assert tagged(result["output"], "starting /bin/false serve") == ["info"], result["output"]
