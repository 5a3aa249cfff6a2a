from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from infill.harness import LspClient
from tests.fake_llm import FakeLLM
from tests.llamacpp import LlamaServer, ensure_llama_server, ensure_tiny_qwen_model


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The server's environment: no user config of the machine's leaks in."""
    config_home = tmp_path / "xdg-config"
    config_home.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("INFILL")}
    environment["XDG_CONFIG_HOME"] = str(config_home)
    environment["XDG_STATE_HOME"] = str(tmp_path / "xdg-state")  # local metrics go there
    environment["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")  # the offline engine's index
    return environment


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLM]:
    server = await FakeLLM().start()
    yield server
    await server.stop()


StartClient = Callable[..., Awaitable[LspClient]]


def write_files(root: Path, files: dict[str, str]) -> Path:
    """A workspace: each file (path relative to `root`) with its text; returns `root`."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture
async def start_client(env: dict[str, str]) -> AsyncIterator[StartClient]:
    """Start `infill serve` over stdio and initialize it; shut down at the end of the test."""
    clients: list[LspClient] = []

    async def start(**initialize: Any) -> LspClient:
        client = await LspClient.start(env=env)
        clients.append(client)
        await client.initialize(**initialize)
        return client

    yield start
    for client in clients:
        await client.shutdown()


@pytest.fixture(scope="session")
def llama_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A real llama-server with the tiny Qwen2 model (built and cached on first use)."""
    # Output capture off while building, so a first `make test` shows why it pauses ~10 minutes.
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        binary = ensure_llama_server()
        model = ensure_tiny_qwen_model()
    with LlamaServer(binary, model) as url:
        yield url
