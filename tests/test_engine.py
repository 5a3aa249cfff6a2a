"""The context engine in process: each source, the time budget, privacy as rules change."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from infill.context.engine import ContextEngine

HELPERS = '''\
def compute_total(prices: list[float], tax_rate: float) -> float:
    """The sum of `prices` with tax added."""
    return sum(prices) * (1 + tax_rate)
'''

ORDERS = """\
from shop.helpers import compute_total


def checkout(cart):
    return compute_total(
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "helpers.py").write_text(HELPERS)
    (tmp_path / "shop" / "orders.py").write_text(ORDERS)
    return tmp_path


def indexed(root: Path) -> ContextEngine:
    engine = ContextEngine(root)
    engine.index_workspace(engine.set_file_definitions)
    return engine


def far_future() -> float:
    return time.monotonic() + 60


def open_orders(engine: ContextEngine, root: Path, text: str = ORDERS):
    uri = (root / "shop" / "orders.py").as_uri()
    tracked = engine.open(uri, text, "python", 1, "utf-16")
    return uri, tracked


def test_definition_from_another_file(workspace: Path):
    engine = indexed(workspace)
    uri, _ = open_orders(engine, workspace)
    gathered = engine.gather(uri, len(ORDERS) - 1, (0, 5), far_future())
    definitions = [s for s in gathered.snippets if s.source == "definition"]
    assert definitions[0].path == "shop/helpers.py"
    assert definitions[0].text.startswith("def compute_total(prices: list[float], tax_rate")
    assert "The sum of `prices` with tax added." in definitions[0].text


def test_similar_code_from_a_recently_closed_document(workspace: Path):
    engine = indexed(workspace)
    other = (workspace / "shop" / "report.py").as_uri()
    report = "\n".join(f"line_{i} = invoice_total(discount_rate, vat_amount)" for i in range(60))
    engine.open(other, report, "python", 1, "utf-16")
    engine.close(other)
    text = "def bill():\n    x = invoice_total(discount_rate, vat_amount"
    uri, _ = open_orders(engine, workspace, text)
    gathered = engine.gather(uri, len(text), (0, 1), far_future())
    similar = [s for s in gathered.snippets if s.source == "similar"]
    assert similar and similar[0].path == "shop/report.py"


def test_recent_edit_in_another_document(workspace: Path):
    engine = indexed(workspace)
    other = (workspace / "shop" / "notes.py").as_uri()
    engine.open(other, "a = 1\nb = 2\n", "python", 1, "utf-16")
    engine.apply(other, "PRICE_LIMIT = 99\n", ((1, 0), (1, 0)))
    uri, _ = open_orders(engine, workspace)
    gathered = engine.gather(uri, len(ORDERS) - 1, (0, 5), far_future())
    edits = [s for s in gathered.snippets if s.source == "recent_edit"]
    assert [e.path for e in edits] == ["shop/notes.py"]
    assert "PRICE_LIMIT = 99" in edits[0].text


def test_nothing_is_gathered_after_the_deadline(workspace: Path):
    engine = indexed(workspace)
    uri, _ = open_orders(engine, workspace)
    gathered = engine.gather(uri, len(ORDERS) - 1, (0, 5), time.monotonic() - 1)
    assert gathered.snippets == []
    assert gathered.skipped == ["definitions", "similar", "recent_edits"]


def test_unknown_language_works_without_a_tree(workspace: Path):
    engine = indexed(workspace)
    notes = "\n".join(f"release checklist item {i} verify signing keys" for i in range(60))
    other = (workspace / "notes.txt").as_uri()
    engine.open(other, notes, "plaintext", 1, "utf-16")
    current = (workspace / "todo.txt").as_uri()
    tracked = engine.open(current, "verify signing keys for the release checklist", "", 1, "utf-16")
    assert tracked.tree is None and tracked.language is None
    gathered = engine.gather(current, len(tracked.doc.text), (0, 0), far_future())
    assert [s.path for s in gathered.snippets if s.source == "similar"] == ["notes.txt"]


def test_a_file_ignored_from_now_on_is_dropped_everywhere(workspace: Path):
    engine = indexed(workspace)
    helpers_uri = (workspace / "shop" / "helpers.py").as_uri()
    engine.open(helpers_uri, HELPERS, "python", 1, "utf-16")
    assert engine.symbols.lookup("compute_total")
    (workspace / ".gitignore").write_text("shop/helpers.py\n")
    engine.ignore_file_changed(str(workspace / ".gitignore"))
    assert engine.get(helpers_uri).private
    assert engine.symbols.lookup("compute_total") == []
    uri, _ = open_orders(engine, workspace)
    gathered = engine.gather(uri, len(ORDERS) - 1, (0, 5), far_future())
    assert all(s.path != "shop/helpers.py" for s in gathered.snippets)


def test_secret_named_documents_are_private_wherever_they_are(tmp_path: Path):
    engine = ContextEngine(tmp_path / "project")
    for name in (".env", "id_rsa", "server.pem", "aws_credentials.json"):
        uri = (tmp_path / "elsewhere" / name).as_uri()
        assert engine.open(uri, "KEY=1", "plaintext", 1, "utf-16").private, name
    assert not engine.open("untitled:Untitled-1", "x", "python", 1, "utf-16").private


def test_a_document_too_large_to_index_is_followed_not_analysed(workspace: Path):
    engine = indexed(workspace)
    uri = (workspace / "shop" / "generated.py").as_uri()
    line = "def generated_%07d(): return compute_total([1.0], 0.2)\n"
    text = "".join(line % n for n in range(1_000_000 // len(line % 0) + 1))
    tracked = engine.open(uri, text, "python", 1, "utf-16")
    assert tracked.large and tracked.tree is None and tracked.words.line_count == 0
    engine.apply(uri, "x = compute_total(", ((3, 0), (3, 0)))
    engine.refresh_definitions(uri)
    assert engine.symbols.lookup("generated_0000001") == []
    assert tracked.doc.text.startswith(text[: 3 * len(line % 0)] + "x = compute_total(")
    # Its snippets still come: the definition of what is called next to the cursor.
    offset = tracked.doc.offset_at(3, 18)
    gathered = engine.gather(uri, offset, (0, 5), time.monotonic() + 10)
    assert any(s.path == "shop/helpers.py" for s in gathered.snippets)
