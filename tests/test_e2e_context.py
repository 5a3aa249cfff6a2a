"""The context engine end to end: definitions from other files in the prompt, `infill/explain`,
progress while indexing, and files that must never reach a backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Reply

MODELS = '''\
"""Stock keeping."""


class Inventory:
    """Items by name, with their quantities."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def restock(self, name: str, amount: int) -> int:
        """Add `amount` of `name`; returns the new quantity."""
        self.items[name] = self.items.get(name, 0) + amount
        return self.items[name]
'''

SERVICE = """\
from pkg.models import Inventory


def receive_delivery(inventory: Inventory, delivery: dict[str, int]) -> None:
    for name, amount in delivery.items():
        inventory.restock(
"""

PLANTED = {
    ".env": "OPENAI_API_KEY=sk-live-PLANTED-ENV-0000\n",
    "config/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\nPLANTED-RSA\n",
    "certs/server.pem": "-----BEGIN CERTIFICATE-----\nPLANTED-PEM\n",
    "local_settings.py": "def restock_planted_gitignored():\n    return 'PLANTED-GITIGNORED'\n",
    "secrets_dir/keys.py": "def restock_key():\n    return 'PLANTED-IGNORED-DIR'\n",
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "models.py").write_text(MODELS)
    (root / "pkg" / "service.py").write_text(SERVICE)
    (root / ".gitignore").write_text("local_settings.py\nsecrets_dir/\n")
    for name, text in PLANTED.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


async def test_definition_from_another_file_is_in_the_prompt(
    workspace: Path, fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=["name, amount)\n"])
    client = await start_client(
        root=workspace, initialization_options={"backend": {"url": fake.url}}
    )
    # Indexing reports progress, and ends.
    await client.wait_for_notification("$/progress", lambda p: p["value"]["kind"] == "end")
    service = workspace / "pkg" / "service.py"
    uri = service.as_uri()
    client.open(uri, SERVICE)
    cursor = (5, len("        inventory.restock("))

    report = await client.explain(uri, cursor)

    assert report is not None
    definitions = [s for s in report["snippets"] if s["source"] == "definition"]
    assert any(s["path"] == "pkg/models.py" and s["included"] for s in definitions), report
    prompt = report["prompt"]
    assert "<|file_sep|>pkg/models.py\n" in prompt
    assert "def restock(self, name: str, amount: int) -> int:" in prompt
    assert prompt.index("def restock(") < prompt.index("<|file_sep|>pkg/service.py\n")
    assert prompt.endswith("inventory.restock(<|fim_suffix|>\n<|fim_middle|>")
    assert report["tokens"]["total"] <= 2048
    assert set(report["timingsMs"]) >= {"window", "context", "prompt"}
    assert fake.requests == []  # explain never calls the backend

    items = await client.inline_completion(uri, cursor)
    assert [item["insertText"] for item in items] == ["name, amount)"]
    assert fake.requests[-1].body["prompt"] == prompt


async def test_ignored_and_secret_files_never_reach_the_backend(
    workspace: Path, fake: FakeLLM, start_client: StartClient
):
    fake.default = Reply(chunks=["x\n"])
    client = await start_client(
        root=workspace, initialization_options={"backend": {"url": fake.url}}
    )
    await client.wait_for_notification("$/progress", lambda p: p["value"]["kind"] == "end")
    # The user opens the planted files; completing inside them asks nothing of the backend.
    for name, text in PLANTED.items():
        uri = (workspace / name).as_uri()
        client.open(uri, text + "restock", language_id="python")
        assert await client.inline_completion(uri, (text.count("\n"), 7)) == []
        assert await client.explain(uri, (text.count("\n"), 7)) is None
    assert fake.requests == []

    service = workspace / "pkg" / "service.py"
    client.open(service.as_uri(), SERVICE)
    await client.inline_completion(service.as_uri(), (5, len("        inventory.restock(")))
    assert len(fake.requests) == 1
    sent = json.dumps([r.body for r in fake.requests])
    for marker in ("PLANTED-ENV", "PLANTED-RSA", "PLANTED-PEM", "PLANTED-GITIGNORED"):
        assert marker not in sent
    assert "PLANTED-IGNORED-DIR" not in sent
