"""Local model servers answering on their usual ports, for a user with no backend configured:
`infill doctor` and the offline engine's status say which one is there and the setting that
uses it. Only 127.0.0.1 is asked, each port once, with a short timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

PROBE_TIMEOUT_S = 0.3  # a local server answers in milliseconds; a closed port at once


@dataclass(frozen=True)
class LocalServer:
    """A model server by its usual port, the GET that it (and few others) answers, and
    whether the answer is that server's."""

    name: str
    port: int
    path: str
    is_it: Callable[[Any], bool]
    setting: Callable[[Any, str], str]  # the setting that uses it, from the answer, address


def _ollama_setting(tags: Any, address: str) -> str:
    models = [m.get("name") for m in tags.get("models", []) if isinstance(m, dict)]
    model = next((m for m in models if isinstance(m, str) and m), "MODEL")
    return f'backend.kind = "ollama" with backend.model = "{model}"'


USUAL_SERVERS = (
    LocalServer(
        "Ollama",
        11434,
        "/api/tags",
        lambda answer: isinstance(answer, dict) and isinstance(answer.get("models"), list),
        _ollama_setting,
    ),
    LocalServer(
        "llama-server",
        8080,
        "/props",
        lambda answer: isinstance(answer, dict) and "default_generation_settings" in answer,
        lambda answer, address: 'backend.kind = "llamacpp"',
    ),
    LocalServer(
        "LM Studio",
        1234,
        "/v1/models",
        lambda answer: isinstance(answer, dict) and isinstance(answer.get("data"), list),
        lambda answer, address: f'backend.url = "http://{address}/v1"',
    ),
)


@dataclass(frozen=True)
class Found:
    name: str
    address: str
    setting: str

    def advice(self) -> str:
        return f"{self.name} is answering on {self.address}: set {self.setting} to use it"


async def answering(servers: Sequence[LocalServer] = USUAL_SERVERS) -> list[Found]:
    """The servers that answer as themselves on 127.0.0.1, in the order given."""
    # No proxy from the environment: this machine's ports only. Plain HTTP: no certificates
    # to load (a fifth of a second of the offline engine's start-up).
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_S, trust_env=False, verify=False) as client:
        answers = await asyncio.gather(*(_ask(client, server) for server in servers))
    return [found for found in answers if found is not None]


async def _ask(client: httpx.AsyncClient, server: LocalServer) -> Found | None:
    address = f"127.0.0.1:{server.port}"
    try:
        response = await client.get(f"http://{address}{server.path}")
        answer = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    if not server.is_it(answer):
        return None
    return Found(server.name, address, server.setting(answer, address))
