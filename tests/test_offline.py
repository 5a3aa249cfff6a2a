"""What the server feeds the offline engine: the workspace as the ignore rules allow, changes
to documents and files, the index saved in the cache and loaded again."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from infill.backends.ngram.predictor import predict
from infill.backends.ngram.store import cache_path, read_calibrations
from infill.context.engine import ContextEngine
from infill.offline import OfflineIndex, describe_calibration
from tests.test_ngram import ITEMS

PRICES = """\
def price_of(item):
    total = item.price * item.quantity
    return round(total, 2)
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "shop"
    root.mkdir()
    for name in ("a", "b", "c"):
        (root / f"{name}.py").write_text(PRICES.replace("price_of", f"price_{name}"))
    (root / ".gitignore").write_text("private.py\n")
    (root / "private.py").write_text("def private_thing():\n    return 'PLANTED-IGNORED'\n" * 3)
    (root / "credentials.py").write_text("def secret_key():\n    return 'PLANTED-SECRET'\n" * 3)
    return root


async def started(root: Path) -> tuple[OfflineIndex, ContextEngine]:
    engine = ContextEngine(root)
    offline = OfflineIndex()
    await offline.start(engine)
    return offline, engine


def guess(offline: OfflineIndex, document: str, path: str = "") -> str | None:
    index = offline.current()
    assert index is not None
    prefix, suffix = document.split("█")
    return predict(index, "python", prefix, suffix, path)


BODY = "def price_d(item):\n    total = item.price * item.quantity\n    █\n"


async def test_the_workspace_is_indexed_as_the_ignore_rules_allow(workspace: Path):
    offline, _ = await started(workspace)
    index = offline.current()
    assert index is not None
    assert index.paths() == {"a.py", "b.py", "c.py"}
    assert guess(offline, BODY) == "return round(total, 2)"
    # Not a token of the ignored or secret-looking files was read.
    assert not [token for token in index.vocab.texts if "PLANTED" in token]


async def test_a_reopened_workspace_loads_the_index_and_reads_only_what_changed(workspace: Path):
    await started(workspace)
    assert cache_path(workspace.resolve()).is_file()

    offline = OfflineIndex()
    loaded = await offline.start(ContextEngine(workspace))
    assert (loaded.from_cache, loaded.read, loaded.files) == (True, 0, 3)
    assert guess(offline, BODY) == "return round(total, 2)"

    (workspace / "b.py").unlink()
    for name in ("a.py", "c.py", "d.py"):
        (workspace / name).write_text(PRICES.replace("round(total, 2)", "total"))
        os.utime(workspace / name, ns=(1, 1))  # a new stamp, whatever the clock's resolution
    offline = OfflineIndex()
    loaded = await offline.start(ContextEngine(workspace))
    assert (loaded.from_cache, loaded.read, loaded.files) == (True, 3, 3)
    assert guess(offline, BODY) == "return total"
    index = offline.current()
    assert index is not None
    assert index.paths() == {"a.py", "c.py", "d.py"}


async def test_a_damaged_cache_is_rebuilt(workspace: Path):
    await started(workspace)
    cache = cache_path(workspace.resolve())
    cache.write_bytes(cache.read_bytes()[:100])
    offline = OfflineIndex()
    loaded = await offline.start(ContextEngine(workspace))
    assert (loaded.from_cache, loaded.read) == (False, 3)
    assert guess(offline, BODY) == "return round(total, 2)"
    assert cache.stat().st_size > 100  # saved again


async def test_documents_are_indexed_when_the_user_pauses_and_private_ones_never(
    workspace: Path,
):
    offline, engine = await started(workspace)
    uri = (workspace / "new.py").as_uri()
    text = "def tax_of(order):\n    rate = order.country.vat_rate\n    return order.net * rate\n"
    engine.open(uri, text * 2, "python", 1, "utf-16")
    offline.document_changed(uri, removed=False, delay=0)
    secret = (workspace / "private.py").as_uri()
    engine.open(secret, "def hidden():\n    return 'TYPED-IN-PRIVATE'\n" * 3, "python", 1, "utf-16")
    offline.document_changed(secret, removed=False, delay=0)
    index = offline.current()
    assert index is not None
    for _ in range(100):
        if "new.py" in index.paths():
            break
        await asyncio.sleep(0.01)
    assert "new.py" in index.paths() and "private.py" not in index.paths()
    document = "def tax_of(order):\n    rate = order.country.vat_rate\n    █\n"
    assert guess(offline, document) == "return order.net * rate"


async def test_files_changed_on_disk_and_ignore_rules_changed(workspace: Path):
    offline, engine = await started(workspace)
    index = offline.current()
    assert index is not None
    added = workspace / "e.py"
    added.write_text(PRICES)
    offline.file_changed(str(added), deleted=False)
    for _ in range(100):
        if "e.py" in index.paths():
            break
        await asyncio.sleep(0.01)
    assert index.paths() == {"a.py", "b.py", "c.py", "e.py"}
    assert index.stamp("e.py") is not None  # read from disk: the next start need not read it

    (workspace / "c.py").unlink()
    offline.file_changed(str(workspace / "c.py"), deleted=True)
    assert index.paths() == {"a.py", "b.py", "e.py"}

    (workspace / ".gitignore").write_text("private.py\nb.py\n")
    engine.ignore_file_changed(str(workspace / ".gitignore"))
    offline.ignore_changed()
    assert index.paths() == {"a.py", "e.py"}


async def test_of_two_changes_to_a_file_the_later_wins(workspace: Path):
    offline, _ = await started(workspace)
    index = offline.current()
    assert index is not None
    changed = workspace / "f.py"
    changed.write_text(PRICES)
    offline.file_changed(str(changed), deleted=False)  # lexed in a worker, put after
    offline.file_changed(str(changed), deleted=True)  # as the editor reports a deletion
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    await asyncio.gather(*others)
    assert "f.py" not in index.paths()


async def test_a_new_index_is_calibrated_on_the_workspaces_files_and_saved_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "classes"
    root.mkdir()
    for i in range(6):
        text = "\n\n".join(ITEMS.format(name=f"A{i}{j}") for j in range(12))
        (root / f"f{i}.py").write_text(text)
    offline, _ = await started(root)
    index = offline.current()
    assert index is not None
    calibration = index.calibrations["python"]
    assert calibration.files == 6
    assert all(m.precision >= 0.6 for m in calibration.measured)
    assert read_calibrations(cache_path(root)) == {"python": calibration}
    assert describe_calibration(root) == f"python: {calibration.describe()}"
    # A reopened workspace takes it from the cache.
    reopened, _ = await started(root)
    reopened_index = reopened.current()
    assert reopened_index is not None and reopened_index.calibrations == index.calibrations

    document = "class Box:\n    def total(self, quantity):\n        "
    report = offline.explain("python", document, "\n", "box.py")
    assert report["calibration"] == calibration.describe()
    prediction = report["prediction"]
    assert prediction["text"] == "return self.price * quantity"
    assert prediction["source"] == "lines" and prediction["position"] == "line start"
    # 72 occurrences of its context (one a class), 32 of them read: all agree.
    assert prediction["occurrences"] == 72
    assert prediction["votes"] == {"return self.price * quantity": 32}
    assert offline.explain("python", "class Box:\n    zzz = ", "\n", "box.py")["prediction"] is None


async def test_a_small_workspace_keeps_the_default_thresholds(workspace: Path):
    offline, _ = await started(workspace)
    index = offline.current()
    assert index is not None and index.calibrations == {}
    assert describe_calibration(workspace) == (
        "the workspace is too small to measure: default thresholds"
    )
