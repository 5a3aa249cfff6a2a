"""The workspace's indexes, kept fresh: the definitions (context for a model's prompts) or the
offline engine's index, built at start-up in a worker thread with `$/progress`; open documents
re-read once the user pauses typing; files changed on disk, as the client's watcher reports."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from infill.context.engine import SOURCE_EXTENSIONS, Tracked, uri_to_path
from infill.context.ignore import IGNORE_FILES
from infill.debounce import Debouncer
from infill.local_models import answering
from infill.pipeline import count_document_lines

if TYPE_CHECKING:
    from infill.server import InfillServer

log = logging.getLogger(__name__)

# An open document's definitions are re-read once the user pauses typing this long (seconds).
DEFINITIONS_DELAY = 0.5


def workspace_root(params: lsp.InitializeParams) -> str | None:
    """The folder of the client's (first) workspace."""
    folders = params.workspace_folders or []
    uri = folders[0].uri if folders else params.root_uri
    if uri is None and params.root_path:
        return params.root_path
    return uri_to_path(uri) if uri else None


class WorkProgress:
    """`$/progress` of one indexing job, reported from a worker thread; silent if the client
    shows none."""

    def __init__(self, server: InfillServer, job: str) -> None:
        self.server = server
        self.job = job
        self.token = f"infill-{job.replace(' ', '-')}-{id(server)}"
        self.shown = False
        self._loop = asyncio.get_running_loop()

    def report(self, done: int, total: int) -> None:
        if self.shown:
            message = lsp.WorkDoneProgressReport(
                message=f"{self.job}: {done}/{total} files", percentage=done * 100 // max(total, 1)
            )
            self._loop.call_soon_threadsafe(
                self.server.work_done_progress.report, self.token, message
            )

    def end(self, message: str) -> None:
        if self.shown:
            self.server.work_done_progress.end(self.token, lsp.WorkDoneProgressEnd(message=message))


class Indexing:
    """The indexes of `server`'s context engine and offline engine."""

    def __init__(self, server: InfillServer) -> None:
        self.server = server
        self._started = False
        self._definitions_indexed = False
        self._offline_indexed = False
        self._definitions_refresh = Debouncer(self._refresh_definitions)

    async def index_workspace(self) -> None:
        """At start-up, the index the backend needs: the offline engine's, or for a model the
        workspace's definitions. The other is built if the settings change to need it."""
        self._started = True
        if self.server.settings.backend.offline:
            await self.index_offline()
        else:
            await self.index_definitions()

    def settings_changed(self) -> None:
        """After start-up: build what the new backend needs."""
        if not self._started:
            return
        offline = self.server.settings.backend.offline
        if offline and not self._offline_indexed:
            self.server.keep(asyncio.ensure_future(self.index_offline()))
        if not offline and not self._definitions_indexed:
            self.server.keep(asyncio.ensure_future(self.index_definitions()))

    async def begin_progress(self, job: str) -> WorkProgress:
        """`$/progress` ("infill: indexing") for a job, if the client shows it."""
        window = self.server.client_capabilities.window
        progress = WorkProgress(self.server, job)
        if window is not None and window.work_done_progress:
            try:
                await self.server.work_done_progress.create_async(progress.token)
                self.server.work_done_progress.begin(
                    progress.token,
                    lsp.WorkDoneProgressBegin(title="infill: indexing", percentage=0),
                )
                progress.shown = True
            except Exception as exc:
                log.warning("progress not available: %s", exc)
        return progress

    async def index_definitions(self) -> None:
        """Index the workspace's definitions, reporting `$/progress`."""
        self._definitions_indexed = True
        engine = self.server.engine
        if engine.root is None:
            return
        progress = await self.begin_progress("definitions")
        loop = asyncio.get_running_loop()

        def deliver(path: str, definitions: list[Any]) -> None:
            loop.call_soon_threadsafe(engine.set_file_definitions, path, definitions)

        started = time.perf_counter()
        try:
            count = await loop.run_in_executor(
                None, engine.index_workspace, deliver, progress.report
            )
        except Exception:
            log.exception("indexing the workspace failed")
            count = 0
        log.info(
            "indexed %d files, %d names in %.1f s",
            count,
            len(engine.symbols.by_name),
            time.perf_counter() - started,
        )
        # The index is long-lived: keep the collector from walking it again and again, which
        # would show as pauses in the middle of requests.
        gc.collect()
        gc.freeze()
        progress.end(f"{count} files")

    async def index_offline(self) -> None:
        """Load or build the offline engine's index, reporting `$/progress`; `infill/status`
        says when it is ready."""
        self._offline_indexed = True
        status = self.server.notices.status
        status("indexing", "offline engine: indexing the workspace")
        engine = self.server.engine
        progress = await self.begin_progress("offline engine") if engine.root else None
        # Asked meanwhile: a model server on this machine is worth a word in the status.
        local = asyncio.ensure_future(answering())
        started = time.perf_counter()
        try:
            loaded = await self.server.offline.start(
                engine, progress.report if progress is not None else None
            )
        except Exception:
            log.exception("building the offline engine's index failed")
            loaded = None
        if progress is not None:
            progress.end(f"{loaded.files} files" if loaded is not None else "failed")
        if loaded is None:
            local.cancel()
            status("backend-error", "offline engine: no index")
            return
        cached = " (from the cache)" if loaded.from_cache else ""
        log.info(
            "offline engine: %d files%s, %d read, %d tokens in %.1f s",
            loaded.files,
            cached,
            loaded.read,
            loaded.tokens,
            time.perf_counter() - started,
        )
        # Long-lived too (its vocabulary is a few hundred thousand strings).
        gc.collect()
        gc.freeze()
        message = f"offline engine ready: {loaded.files} files indexed{cached}"
        message += "".join(f"; {found.advice()}" for found in await local)
        # Editors show "offline" in their status bar: ready, with no model behind it.
        status("offline", message)

    def refresh_definitions_later(self, uri: str, delay: float = DEFINITIONS_DELAY) -> None:
        """Debounced: re-reading a document's definitions on every keystroke would be waste."""
        self._definitions_refresh.later(uri, delay)

    def _refresh_definitions(self, uri: str) -> None:
        try:
            self.server.engine.refresh_definitions(uri)
        except Exception:  # a parser failure must not take the server down
            log.exception("reading the definitions of %s failed", uri)

    def document_opened(self, uri: str, tracked: Tracked) -> None:
        """Its definitions read now; what its first request needs made ahead of it."""
        self.refresh_definitions_later(uri, delay=0)
        if not tracked.private and not tracked.large:
            loop = asyncio.get_running_loop()
            text, settings = tracked.doc.text, self.server.settings
            self.server.keep(loop.run_in_executor(None, count_document_lines, text, settings))
            # The windows for similar snippets, made now rather than in the first request.
            loop.call_soon(tracked.words.windows)

    def document_changed(self, uri: str, removed: bool) -> None:
        """After an edit; `removed`: it deleted or replaced text."""
        self.refresh_definitions_later(uri)
        self.server.offline.document_changed(uri, removed)

    async def watch_files(self) -> None:
        """Ask the client to report changes to source and ignore files it has not open."""
        workspace = self.server.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace is not None else None
        if self.server.engine.root is None or watched is None or not watched.dynamic_registration:
            return
        extensions = ",".join(sorted(e.lstrip(".") for e in SOURCE_EXTENSIONS))
        options = lsp.DidChangeWatchedFilesRegistrationOptions(
            watchers=[
                lsp.FileSystemWatcher(glob_pattern=f"**/*.{{{extensions}}}"),
                lsp.FileSystemWatcher(glob_pattern="**/{.gitignore,.infillignore}"),
            ]
        )
        registration = lsp.Registration(
            id="infill-watch",
            method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=options,
        )
        try:
            await self.server.client_register_capability_async(
                lsp.RegistrationParams(registrations=[registration])
            )
        except Exception as exc:
            log.warning("the client refused to watch files: %s", exc)

    def files_changed(self, changes: Sequence[lsp.FileEvent]) -> None:
        """Files the client's watcher reports changed on disk."""
        engine, offline = self.server.engine, self.server.offline
        for event in changes:
            path = uri_to_path(event.uri)
            if path is None or engine.get(event.uri) is not None:
                continue  # open documents are followed through their edits
            if Path(path).name in IGNORE_FILES:
                engine.ignore_file_changed(path)
                offline.ignore_changed()
                # Other code kept for prompts may be ignored from now on.
                self.server.suggestions.stable.refresh()
                continue
            deleted = event.type == lsp.FileChangeType.Deleted
            offline.file_changed(path, deleted)
            if deleted or engine.is_private_path(path):
                engine.symbols.remove_file(engine.display_path(path, event.uri))
                continue
            found = engine.read_definitions(Path(path))
            if found is not None:
                engine.set_file_definitions(*found)
