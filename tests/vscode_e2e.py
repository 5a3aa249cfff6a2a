"""End to end in a real VS Code (`make test-vscode`; not part of `make test`, see below).

code-server (VS Code for the browser) runs offline with the extension's .vsix installed and
`infill.server.path` pointing at this checkout's `infill`; headless Chromium, driven by
playwright-core (editors/vscode/e2e/drive.mjs), opens a Python file and types; the ghost text
comes from the real `infill serve` and the fake backend over HTTP. A word of it is accepted
with Ctrl+Right and the rest with Tab, the file is saved, and the file on disk and the server's
local metrics (the partial accept, and the item's `infill.accepted` command) are checked; so
are the reports of "infill: Explain this suggestion" and "infill: Show stats".

Heavy, hence a target of its own: the first run installs Debian's chromium, Node 24 and
code-server (a ~3-minute native build) into ~/.cache/infill/vscode-e2e/ (editors/vscode/e2e/
setup.sh), and VS Code with Chromium takes about 1.3 GB of memory."""

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


def user_settings(fake: FakeLLM) -> dict[str, object]:
    return {
        "infill.server.path": str(Path(sys.executable).parent / "infill"),
        "infill.backend.kind": "openai",
        "infill.backend.url": fake.url,
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


async def test_ghost_text_is_shown_and_tab_accepts_it(
    fake: FakeLLM, env: dict[str, str], tmp_path: Path
):
    tools = await asyncio.to_thread(install)
    await asyncio.to_thread(compile_extension)
    vsix = await asyncio.to_thread(package_vsix)

    # The model is asked at every key; it answers only at the end of what is typed.
    def answer(request: Received) -> Reply:
        typed_all = f"{TYPED}<|fim_suffix|>" in request.body.get("prompt", "")
        return Reply(chunks=[SUGGESTION, "\n"]) if typed_all else Reply(chunks=["\n"])

    fake.on_request = answer
    folder = tmp_path / "workspace"
    folder.mkdir()
    source = folder / "greet.py"
    source.write_text("def greet(name):\n")
    home = tmp_path / "code-server"
    (home / "data" / "User").mkdir(parents=True)
    (home / "data" / "User" / "settings.json").write_text(json.dumps(user_settings(fake)))
    node_bin = str(Path(tools["node"]).parent)
    server_env = {
        **env,
        "PATH": f"{node_bin}{os.pathsep}{env['PATH']}",  # code-server runs on Node 24
        "EXTENSIONS_GALLERY": "{}",  # no marketplace requests at all
    }
    screenshot = tmp_path / "ghost-text.png"

    expected = f"def greet(name):\n{TYPED}{SUGGESTION}"  # typed on the last, empty line
    state = Path(env["XDG_STATE_HOME"]) / "infill" / "metrics.sqlite3"
    async with code_server(tools["code_server"], server_env, folder, home, vsix) as url:
        options = {
            "playwright": tools["playwright"],
            "url": url,
            "file": source.name,
            "type": TYPED,
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
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot, SCREENSHOT)


def accepted(metrics: Path) -> int:
    return report(metrics)["accepted_whole"] if metrics.is_file() else 0
