"""The systems replayed against: `infill serve`, and tabby-agent (installed from npm on first
use) with its default debounce and with none."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infill.harness import LspClient
from infill.settings import merge
from tests.fake_llm import FakeLLM

TABBY_AGENT_VERSION = "1.5.0"
PEERS_CACHE = Path.home() / ".cache" / "infill" / "peers"


class TimedLspClient(LspClient):
    """The harness's client, noting when each response arrives (before anything else runs)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answered_at: dict[Any, float] = {}

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message and "method" not in message:
            self.answered_at[message["id"]] = time.perf_counter()
        super()._dispatch(message)


@dataclass
class System:
    name: str
    method: str  # what the editor asks after each key
    command: list[str] | None  # None: `infill serve`
    env: dict[str, str]
    initialization_options: Any = None
    inline: bool = True  # answers are InlineCompletionItems (else CompletionItems)
    stderr: list[str] = field(default_factory=list)  # what the process wrote there

    def params(self, uri: str, position: tuple[int, int]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "textDocument": {"uri": uri},
            "position": {"line": position[0], "character": position[1]},
        }
        # As while typing: inline triggerKind 2 (Automatic); completion triggerKind 1, what
        # VS Code sends for a typed word character (tabby-agent reads neither).
        params["context"] = {"triggerKind": 2 if self.inline else 1}
        return params

    def shown(self, result: Any, position: tuple[int, int]) -> str:
        """The ghost text a response shows ("" for none)."""
        items = result.get("items", []) if isinstance(result, dict) else result or []
        if not items:
            return ""
        item = items[0]
        if self.inline:
            text = item["insertText"]
            return str(text["value"] if isinstance(text, dict) else text)
        # A completion item replaces the word before the cursor with that word and the rest.
        edit = item["textEdit"]
        start = edit.get("range", edit.get("replace"))["start"]["character"]
        return str(edit["newText"][position[1] - start :])


def infill_system(fake: FakeLLM, scratch: Path, overrides: dict[str, Any]) -> System:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFILL")}
    env["XDG_CONFIG_HOME"] = str(scratch / "config")
    env["XDG_STATE_HOME"] = str(scratch / "state")
    env["PYTHONFAULTHANDLER"] = "1"  # a crash in native code shows its Python stack
    backend = {"kind": "openai", "url": fake.url, "template": "qwen", "model": "qwen2.5-coder"}
    options = merge({"backend": backend}, overrides)
    return System("infill", "textDocument/inlineCompletion", None, env, options)


def ensure_tabby_agent(cache: Path = PEERS_CACHE) -> Path:
    """tabby-agent's cli.js, installed from npm on first use."""
    folder = cache / f"tabby-agent-{TABBY_AGENT_VERSION}"
    cli = folder / "node_modules" / "tabby-agent" / "dist" / "cli.js"
    if cli.is_file():
        return cli
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise SystemExit("--peer tabby-agent needs node and npm")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"installing tabby-agent {TABBY_AGENT_VERSION} into {folder} ...", flush=True)
    subprocess.run(
        [
            npm,
            "install",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(folder),
            f"tabby-agent@{TABBY_AGENT_VERSION}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return cli


def tabby_system(name: str, cli: Path, fake: FakeLLM, home: Path, debounce_zero: bool) -> System:
    """tabby-agent with its own HOME, whose config points it at the fake Tabby server."""
    config = home / ".tabby-client" / "agent" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    text = f'[server]\nendpoint = "{fake.root}"\n\n[anonymousUsageTracking]\ndisable = true\n'
    if debounce_zero:
        text += '\n[completion.debounce]\nmode = "fixed"\ninterval = 0\n'
    config.write_text(text)
    env = {**os.environ, "HOME": str(home)}
    node = shutil.which("node") or "node"
    command = [node, str(cli), "--lsp", "--stdio"]
    return System(name, "textDocument/completion", command, env, inline=False)
