"""Feeding the offline engine's index (`infill.backends.ngram`) from the workspace.

The server owns the workspace: the walk and the ignore rules (the context engine's), the
documents the editor has open, the file events it reports. This module hands the index what
infill may read of them: at start-up the walk's files (those unchanged since the index was saved
are not read again), open documents once the user pauses typing, files changed on disk; a file
that becomes ignored leaves the index. When changed files pile up, the base is rebuilt in a
worker thread and saved in the user's cache. A new index is calibrated on a sample of the
workspace's own files (`calibrate.py`), saved with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infill.backends.ngram.calibrate import calibrate_workspace
from infill.backends.ngram.index import Base, NgramIndex, Stamp, VocabularyFull
from infill.backends.ngram.predictor import forecast
from infill.backends.ngram.store import CacheError, cache_path, read, read_calibrations, write
from infill.context.engine import ContextEngine
from infill.context.ignore import read_source_file
from infill.context.syntax import language_family, language_name
from infill.debounce import Debouncer

log = logging.getLogger(__name__)

# An open document is indexed again once the user has paused typing this long (seconds).
DOCUMENT_DELAY = 0.5

Progress = Callable[[int, int], None]  # (files done, files in all), from a worker thread

# A larger workspace is indexed from a sample of its files, spread over it by a hash of their
# path (the same sample each time it is opened): the index then fits in memory and is built in
# seconds, and a sample predicts the workspace's habits about as well as the whole.
MAX_FILES = 3_000
MAX_TOKENS = 3_000_000


def _sample(files: list[str]) -> list[str]:
    """The files to index, at most MAX_FILES, in an order spread over the workspace (the token
    budget may end the reading early)."""
    spread = sorted(files, key=lambda file: hashlib.sha1(os.fsencode(file)).digest())
    return spread[:MAX_FILES]


@dataclass(frozen=True)
class Loaded:
    """What the start-up found and did, for the log and the status bar."""

    files: int  # in the index
    read: int  # read and lexed (the others came from the cache)
    tokens: int
    from_cache: bool


def _stamp(path: str) -> Stamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def _read(index: NgramIndex, file: str) -> tuple[str, bytes, Stamp] | None:
    """A workspace file's family, tokens and stamp, or None if it has no lexer or cannot be
    read. The caller has checked the ignore rules. Safe in a worker thread."""
    family = language_family(language_name(None, file))
    stamp = _stamp(file)
    text = read_source_file(file)
    if stamp is None or text is None:
        return None
    data = index.encode(text, family)
    return (family, data, stamp) if data is not None else None


def describe_calibration(root: Path) -> str | None:
    """What the offline engine measured on the workspace at `root` when it last indexed it
    (for `infill doctor`); None if it has not."""
    try:
        found = read_calibrations(cache_path(root))
    except CacheError:
        return None
    if not found:
        return "the workspace is too small to measure: default thresholds"
    return "; ".join(f"{family}: {c.describe()}" for family, c in sorted(found.items()))


class OfflineIndex:
    """The offline engine's index and what keeps it fresh; `current` is what the backend
    reads (None until the start-up's build or load is done)."""

    def __init__(self) -> None:
        self.index: NgramIndex | None = None
        self._engine: ContextEngine | None = None
        self._cache: Path | None = None
        self._documents = Debouncer(self._index_document)
        self._rebuilding: asyncio.Future[Any] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._turn = itertools.count()
        self._turns: dict[str, int] = {}  # path -> the turn of its latest change

    def current(self) -> NgramIndex | None:
        return self.index

    async def start(self, engine: ContextEngine, progress: Progress | None = None) -> Loaded:
        """Load the saved index and bring it up to date with the workspace, or build it, in
        a worker thread; then index the documents opened meanwhile."""
        self._engine = engine
        self._cache = cache_path(engine.root) if engine.root is not None else None
        loop = asyncio.get_running_loop()
        index = NgramIndex()
        try:
            loaded = await loop.run_in_executor(None, self._sync, index, progress)
        finally:
            # Even half built (the walk failed), it serves what it has and the documents the
            # user edits.
            self.index = index
        for uri in list(engine.documents):
            self._index_document(uri)
        return loaded

    def _sync(self, index: NgramIndex, progress: Progress | None) -> Loaded:
        engine = self._engine
        assert engine is not None
        from_cache = False
        if self._cache is not None:
            try:
                index.load(*read(self._cache))
                from_cache = True
            except CacheError as exc:
                log.info("offline engine: building the index (%s)", exc)
        # (Most files of a large workspace are not in the sample: they are not opened. The
        # sampled ones are read as text or left out.)
        files = _sample([str(file) for file in engine.workspace_files(sniff=False)])
        walked: set[str] = set()
        tokens = 0
        try:
            for done, file in enumerate(files, start=1):
                if tokens >= MAX_TOKENS:
                    log.info("offline engine: %d of %d files indexed (enough)", done, len(files))
                    break
                path = engine.display_path(file, Path(file).as_uri())
                walked.add(path)
                if index.stamp(path) != _stamp(file):
                    found = _read(index, file)
                    if found is not None:
                        index.put(path, *found)
                tokens += index.file_tokens(path)
                if progress is not None and (done % 50 == 0 or done == len(files)):
                    progress(done, len(files))
        except VocabularyFull as exc:
            log.warning("offline engine: %s; the rest of the workspace is left out", exc)
        for gone in index.paths() - walked:
            index.remove(gone)
        read_count = len(index.live)
        built = not index.base or index.needs_rebuild()
        if built:
            plan = index.snapshot()
            index.install(NgramIndex.build(plan), plan)
        if built or not index.calibrations:
            try:
                index.calibrations = calibrate_workspace(index, self._read_indexed)
            except Exception:  # the defaults serve as well as before
                log.exception("offline engine: calibrating the thresholds failed")
            self._save(*index.saved_state())
        for family, calibration in index.calibrations.items():
            log.info("offline engine: %s calibrated: %s", family, calibration.describe())
        return Loaded(len(index.paths()), read_count, index.tokens, from_cache)

    def _read_indexed(self, path: str) -> str | None:
        """The text of an indexed file by its display path (for the calibration)."""
        engine = self._engine
        if engine is None or engine.root is None or "://" in path:
            return None
        return read_source_file(engine.root / path)  # an absolute path stays one

    def _save(self, texts: list[str], base: Base) -> None:
        """Write the base to the cache (in a worker thread); a failure only costs time at the
        next start."""
        if self._cache is None:
            return
        try:
            write(self._cache, texts, base)
        except (OSError, ValueError) as exc:
            log.warning("offline engine: cannot save the index to %s: %s", self._cache, exc)

    def explain(self, family: str, prefix: str, suffix: str, path: str) -> dict[str, Any]:
        """What the offline engine matched at a cursor, for `infill/explain`: the evidence for
        what it shows, or why it shows nothing, and the workspace's calibration."""
        index = self.index
        if index is None:
            return {"state": "indexing"}
        found = forecast(index, family, prefix, suffix, path)
        calibration = index.calibrations.get(family)
        return {
            "state": "ready",
            "files": len(index.paths()),
            "prediction": found.explain() if found is not None else None,
            "calibration": calibration.describe() if calibration is not None else None,
        }

    # -- following changes -----------------------------------------------------------------

    def document_changed(self, uri: str, removed: bool, delay: float = DOCUMENT_DELAY) -> None:
        """An open document changed: index its text once the user pauses. An edit that
        `removed` text takes the document out of the index until then: the copy indexed
        before it continues the cursor's context with the text the user just deleted, and
        would offer it back (a backspace's character as the suggestion)."""
        self._documents.later(uri, delay)
        engine, index = self._engine, self.index
        tracked = engine.get(uri) if engine is not None else None
        if removed and index is not None and tracked is not None:
            self._turns[tracked.path] = next(self._turn)  # a put on its way is of the old text
            index.remove(tracked.path)

    def document_closed(self, uri: str) -> None:
        """Index now what the user typed since their last pause, before the document goes."""
        self._documents.flush(uri)

    def _index_document(self, uri: str) -> None:
        engine, index = self._engine, self.index
        tracked = engine.get(uri) if engine is not None else None
        if index is None or tracked is None or tracked.private:
            return  # not ready (the start indexes open documents), gone, or not to be read
        text, family, path = tracked.doc.text, tracked.family, tracked.path
        self._put_later(path, family, lambda: text, None)

    def file_changed(self, path: str, deleted: bool) -> None:
        """A file the editor has not open changed on disk (a watched-file event)."""
        engine, index = self._engine, self.index
        if engine is None or index is None:
            return  # the start-up's walk will see it
        shown = engine.display_path(path, Path(path).as_uri())
        if deleted or engine.is_private_path(path):
            self._turns[shown] = next(self._turn)  # a put still on its way must not bring it back
            index.remove(shown)
            return
        family = language_family(language_name(None, path))
        self._put_later(shown, family, lambda: read_source_file(path), path)

    def _put_later(
        self, path: str, family: str, text: Callable[[], str | None], disk: str | None
    ) -> None:
        # Lexing runs in a worker: of two changes to a file, the later must win.
        turn = self._turns[path] = next(self._turn)
        self._keep(asyncio.ensure_future(self._put(path, family, text, disk, turn)))

    async def _put(
        self, path: str, family: str, text: Callable[[], str | None], disk: str | None, turn: int
    ) -> None:
        """Lex in a worker thread (the text is read there too when `text` reads a file), then
        put the tokens in the index on the event loop, unless a later change came first."""
        index = self.index
        if index is None:
            return

        def encode(index: NgramIndex) -> tuple[bytes, Stamp | None] | None:
            stamp = _stamp(disk) if disk is not None else None
            found = text()
            data = index.encode(found, family) if found is not None else None
            return (data, stamp) if data is not None else None

        try:
            encoded = await asyncio.to_thread(encode, index)
        except VocabularyFull as exc:
            log.warning("offline engine: %s; %s is left out", exc, path)
            return
        if encoded is not None and self._turns.get(path) == turn:
            index.put(path, family, *encoded)
            self._rebuild_if_needed()

    def ignore_changed(self) -> None:
        """An ignore file changed: what it now ignores leaves the index."""
        engine, index = self._engine, self.index
        if engine is None or index is None or engine.root is None:
            return
        for path in index.paths():
            # Display paths: relative to the root, absolute outside it, a URI without a file.
            if "://" not in path and engine.is_private_path(str(engine.root / path)):
                index.remove(path)

    def _rebuild_if_needed(self) -> None:
        index = self.index
        if index is None or self._rebuilding is not None or not index.needs_rebuild():
            return

        async def rebuild() -> None:
            plan = index.snapshot()
            base = await asyncio.to_thread(NgramIndex.build, plan)
            index.install(base, plan)
            await asyncio.to_thread(self._save, *index.saved_state())

        self._rebuilding = asyncio.ensure_future(rebuild())
        self._rebuilding.add_done_callback(self._rebuilt)

    def _rebuilt(self, task: asyncio.Future[Any]) -> None:
        self._rebuilding = None
        if not task.cancelled() and task.exception() is not None:
            log.error("offline engine: rebuilding the index failed", exc_info=task.exception())

    def _keep(self, future: asyncio.Future[Any]) -> None:
        self._background.add(future)
        future.add_done_callback(self._background.discard)
