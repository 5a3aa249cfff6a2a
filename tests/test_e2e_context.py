"""The context engine end to end: definitions from other files in the prompt, `infill/explain`,
progress while indexing (files that must never reach a backend: test_e2e_secrets.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import StartClient, write_files
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


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    files = {"pkg/__init__.py": "", "pkg/models.py": MODELS, "pkg/service.py": SERVICE}
    return write_files(tmp_path / "shop", files)


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
