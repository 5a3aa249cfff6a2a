"""The language server: thin pygls handlers that delegate to the pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import re
import signal
import stat
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import attrs
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from infill import __version__
from infill.backends import without_secrets
from infill.context import InvalidEdit
from infill.context.document import check_changes, code_units
from infill.context.engine import SOURCE_EXTENSIONS, ContextEngine, Tracked, uri_to_path
from infill.context.ignore import IGNORE_FILES
from infill.context.snippets import Snippet
from infill.debounce import Debouncer
from infill.framing import serve_messages
from infill.metrics import Metrics, default_path
from infill.offline import OfflineIndex
from infill.pipeline import (
    Completer,
    NotConfigured,
    Prepared,
    count_document_lines,
    explain,
    prepare,
)
from infill.prompts.layout import StableContext
from infill.prompts.tokens import warm_up
from infill.reuse import Flight, Flights, Hit, Result, SuggestionCache, TypingSpeed
from infill.settings import (
    Settings,
    SettingsError,
    expand_dotted,
    load_user_config,
    parse_settings,
    take_file_api_key,
)

log = logging.getLogger(__name__)

SECTION = "infill"
EXPLAIN = "infill/explain"
STATUS = "infill/status"
_WORD_BEFORE = re.compile(r"[\w$]*$")
# An open document's definitions are re-read once the user pauses typing this long (seconds).
DEFINITIONS_DELAY = 0.5
ACCEPTED = "infill.accepted"  # the command an accepted inline item runs
OFFERED_KEPT = 256  # items whose accept can still be reported
HEADER_LINE_LIMIT = 64 * 1024  # bytes; a longer header line is skipped
# Signals that stop the server as cleanly as `exit` does (an editor ending its servers, a
# terminal closing, Ctrl-C).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)
)


@dataclass(frozen=True)
class Answer:
    """Suggestions for a cursor (document line endings, best first) and where they came from."""

    texts: tuple[str, ...]
    source: str  # "backend", "cache", "typeahead", "inflight" or "prefetch"
    prefix: str
    suffix: str


def _delegate_to_user(method: str) -> Callable[..., Generator[Any, Any, None]]:
    """A built-in handler that only calls ours, so pygls keeps no second copy of each document
    (its copy is rebuilt line by line on every change, and its positions clamp differently)."""

    @lsp_method(method)
    def handler(self: LanguageServerProtocol, params: Any) -> Generator[Any, Any, None]:
        if (user_handler := self.fm.features.get(method)) is not None:
            yield user_handler, (params,), None

    return handler


@attrs.define
class ExplainRequest:
    """`infill/explain`: the params of `textDocument/inlineCompletion` (its `context` is
    optional here), the answer a report."""

    id: int | str
    params: lsp.TextDocumentPositionParams
    method: str = EXPLAIN
    jsonrpc: str = "2.0"


class MalformedMessage(JsonRpcException):
    """A message that could not be read; if it was a request, it has been answered already."""


class InfillProtocol(LanguageServerProtocol):
    lsp_text_document__did_open = _delegate_to_user(lsp.TEXT_DOCUMENT_DID_OPEN)
    lsp_text_document__did_change = _delegate_to_user(lsp.TEXT_DOCUMENT_DID_CHANGE)
    lsp_text_document__did_close = _delegate_to_user(lsp.TEXT_DOCUMENT_DID_CLOSE)

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            if data.get("method") == EXPLAIN and "id" in data and "jsonrpc" in data:
                # Our own request is typed too, so its params are validated like the others.
                try:
                    return self._converter.structure(data, ExplainRequest)
                except Exception as exc:
                    raise JsonRpcInvalidParams() from exc
            return super().structure_message(data)
        except JsonRpcException as exc:
            # pygls gives up on a message it cannot read without answering it, which would
            # leave the client waiting forever for a malformed request.
            if "method" in data and isinstance(data.get("id"), int | str):
                self._send_response(data["id"], error=exc.to_response_error())
            raise MalformedMessage(f"malformed {data.get('method', 'message')!r}") from exc

    def _handle_notification(self, method_name: str, params: Any) -> None:
        # pygls files the handling of each notification under a made-up id and never takes it
        # out again: a future (and, for an async handler, its task) kept per keystroke. Each
        # one goes when its handling is done.
        before = set(self._request_futures)
        super()._handle_notification(method_name, params)
        for made_up in set(self._request_futures) - before:
            forget = functools.partial(self._forget_future, made_up)
            self._request_futures[made_up].add_done_callback(forget)

    def _forget_future(self, msg_id: int | str, future: Any) -> None:
        self._request_futures.pop(msg_id, None)

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        # A result that is JSON already goes out as it is: pygls would walk it with cattrs.
        if error is None and (result is None or type(result) in (dict, list)):
            self._result_types.pop(msg_id, None)
            self._send_data({"jsonrpc": "2.0", "id": msg_id, "result": result})
            return
        super()._send_response(msg_id, result, error)

    @lsp_method(lsp.INITIALIZE)
    def lsp_initialize(self, params: lsp.InitializeParams) -> Generator[Any, Any, Any]:
        result = yield from super().lsp_initialize(params)
        # A client with inline completion shows ghost text; offering it the completion
        # fallback as well would put the same suggestion in its completion menu too.
        text_document = params.capabilities.text_document
        if text_document is not None and text_document.inline_completion is not None:
            result.capabilities.completion_provider = None
        return result


class PipeReader:
    """stdin read by the event loop itself. pygls reads it in a worker thread, a thread hop
    for every header line and body: on two busy cores that was most of a keystroke's round
    trip."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream

    async def readline(self) -> bytes:
        try:
            return await self._stream.readline()
        except ValueError:
            # A header line longer than the limit (the stream has dropped it): a junk line,
            # skipped like any other line that is not Content-Length.
            return b"?\r\n"

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self._stream.readexactly(n)
        except asyncio.IncompleteReadError:
            return b""  # the client went away mid-message


def _readable_by_event_loop(stream: BinaryIO) -> bool:
    """Pipes, sockets and terminals can be watched by the event loop; regular files cannot."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


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


class InfillServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("infill", __version__, protocol_cls=InfillProtocol)
        self.engine = ContextEngine()
        self.offline = OfflineIndex()
        self.completer = Completer(
            on_health=self.backend_health, offline_index=self.offline.current
        )
        self._indexing_started = False
        self._definitions_indexed = False
        self._offline_indexed = False
        self.settings = Settings()
        # Settings layers, later ones winning; a layer is only stored once the whole
        # combination validates, so the last good settings stay in force.
        self.layers: dict[str, Mapping[str, Any]] = {"file": {}, "init": {}, "client": {}}
        self._waiting: dict[str, asyncio.Task[Any]] = {}  # the latest request per document
        self.cache = SuggestionCache()
        # The other code at the head of prompts, kept while the user types (prompts/layout.py).
        self.stable: StableContext[Snippet] = StableContext()
        self.flights = Flights()
        self.typing: dict[str, TypingSpeed] = {}
        self.offered: OrderedDict[int, tuple[str, str, str, str]] = OrderedDict()
        self._offer_id = 0
        self._typed_counted: OrderedDict[int, int] = OrderedDict()  # per result: chars typed
        self._prefetch_at: dict[str, tuple[str, str]] = {}
        self.metrics = Metrics(None)
        self.completer.on_backend_request = lambda: self.metrics.backend_request()
        self.completer.on_prompt_cache = lambda cache: self.metrics.prompt_cache(
            cache.cached, cache.evaluated
        )
        self._told_not_configured = False
        self._definitions_refresh = Debouncer(self._refresh_definitions)
        self._background: set[asyncio.Future[Any]] = set()  # referenced until done
        self._closing: asyncio.Future[None] | None = None

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        stdin = stdin or sys.stdin.buffer
        if not _readable_by_event_loop(stdin):
            super().start_io(stdin, stdout)
            return
        self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            stream = asyncio.StreamReader(limit=HEADER_LINE_LIMIT)
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), stdin)
            reading = asyncio.ensure_future(
                serve_messages(
                    PipeReader(stream), self.protocol, self.report_server_error, self.take_plain
                )
            )
            with contextlib.suppress(NotImplementedError, ValueError):  # not on Windows
                for signum in STOP_SIGNALS:
                    loop.add_signal_handler(signum, reading.cancel)
                loop.add_signal_handler(signal.SIGUSR1, self.log_state)
            try:
                await reading
            except asyncio.CancelledError:
                if not reading.cancelled():
                    raise
                log.info("stopping: asked to by a signal")
            finally:
                # The client is gone (stdin ended), said exit, or a signal came: let go of the
                # backend's connections and write the metrics still queued.
                await self.closing()

        try:
            asyncio.run(serve())
        except BrokenPipeError:
            log.error("the client's pipe is closed; shutting down")
        except KeyboardInterrupt:
            pass
        finally:
            self.shutdown()

    def log_state(self) -> None:
        """On SIGUSR1: what the server holds, for whoever looks for a leak (`make soak`)."""
        tasks, documents = len(asyncio.all_tasks()), len(self.engine.documents)
        gc.collect()
        objects = len(gc.get_objects())
        log.info("state: %d tasks, %d Python objects, %d open documents", tasks, objects, documents)

    def call_off_requests(self) -> list[asyncio.Future[tuple[str, ...]]]:
        """Cancel the requests to the model on their way; their tasks, to wait for."""
        flying = [f.task for uri in self.engine.documents if (f := self.flights.get(uri))]
        for uri in list(self.engine.documents):
            self.flights.cancel(uri)
        return flying

    def closing(self) -> asyncio.Future[None]:
        """`close`, started once (at shutdown, exit, the end of stdin or a signal)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self.close())
        return self._closing

    async def close(self) -> None:
        """Call off the requests to the model (their editor requests get no suggestion rather
        than an error from a closed connection), close the backend's connections and write
        the queued metrics."""
        await asyncio.gather(*self.call_off_requests(), return_exceptions=True)
        await self.completer.aclose()
        await asyncio.to_thread(self.metrics.close)

    @property
    def encoding(self) -> str:
        # pygls gives the client's string when negotiated, else the enum (whose str() is not
        # its value).
        chosen = self.workspace.position_encoding or lsp.PositionEncodingKind.Utf16
        return chosen.value if isinstance(chosen, lsp.PositionEncodingKind) else str(chosen)

    # -- messages --------------------------------------------------------------------------

    def report_server_error(self, error: Exception, source: Any) -> None:
        # Malformed input is the client's problem: log it, don't pop up a message per keystroke.
        if isinstance(error, MalformedMessage):
            log.warning("%s", error)
            return
        super().report_server_error(error, source)

    def show(self, kind: lsp.MessageType, message: str) -> None:
        message = without_secrets(message)
        levels = {lsp.MessageType.Error: logging.ERROR, lsp.MessageType.Warning: logging.WARNING}
        log.log(levels.get(kind, logging.INFO), message)
        self.window_show_message(lsp.ShowMessageParams(type=kind, message=f"infill: {message}"))

    def backend_health(self, healthy: bool, reason: str) -> None:
        """Once when the backend goes down and once when it is back: a message for the user,
        and `infill/status` for editors' status bars."""
        if healthy:
            self.show(lsp.MessageType.Info, "the backend answers again")
        else:
            self.show(lsp.MessageType.Warning, f"backend unavailable, pausing requests: {reason}")
        state = "ready" if healthy else "backend-error"
        self.protocol.notify(STATUS, {"state": state, "message": without_secrets(reason)})

    def warm_backend(self) -> None:
        """Open the backend's connection before the first keystroke needs it."""
        if self.settings.backend.base_url:
            backend = self.completer.backend(self.settings.backend)
            self.keep(asyncio.ensure_future(backend.warm()))

    # -- settings --------------------------------------------------------------------------

    def update_settings(self, layer: str, value: Any) -> None:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.show(lsp.MessageType.Error, f"settings must be an object, got {value!r}")
            return
        if layer == "file":
            value = take_file_api_key(value)
        else:
            backend = expand_dotted(value).get("backend")
            if isinstance(backend, Mapping) and {"api_key", "api_key_from_file"} & set(backend):
                # Editors show and sync their settings; a key belongs in the environment.
                self.show(
                    lsp.MessageType.Error,
                    "backend.api_key is only read from config.toml: name an environment "
                    "variable in backend.api_key_env instead; keeping the previous settings",
                )
                return
        candidate = {**self.layers, layer: value}
        try:
            settings, unknown = parse_settings(*candidate.values())
        except SettingsError as exc:
            self.show(lsp.MessageType.Error, f"{exc}; keeping the previous settings")
            return
        if unknown:
            self.show(lsp.MessageType.Warning, f"unknown settings ignored: {', '.join(unknown)}")
        self.layers = candidate
        changed = settings.backend != self.settings.backend
        if settings != self.settings:
            self._told_not_configured = False
            # Answers made with other settings (another model, another prompt) are not these.
            self.cache = SuggestionCache()
        self.settings = settings
        if settings.metrics.enabled != self.metrics.enabled:
            self.metrics.close()
            self.metrics = Metrics(default_path() if settings.metrics.enabled else None)
        if changed:
            # Before the old backend's connections close under them (a stream cut that way
            # only ends at the timeout, and counts as the new backend's failure).
            self.call_off_requests()
        if changed and layer != "file":
            self.warm_backend()
        if self._indexing_started:  # after start-up: build what the new backend needs
            if settings.backend.offline and not self._offline_indexed:
                self.keep(asyncio.ensure_future(self.index_offline()))
            if not settings.backend.offline and not self._definitions_indexed:
                self.keep(asyncio.ensure_future(self.index_definitions()))

    async def pull_settings(self) -> None:
        workspace = self.client_capabilities.workspace
        if workspace is None or not workspace.configuration:
            return
        try:
            result = await self.workspace_configuration_async(
                lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section=SECTION)])
            )
        except Exception as exc:  # a client that advertises the request but fails it
            log.warning("workspace/configuration failed: %s", exc)
            return
        if result and result[0] is not None:
            self.update_settings("client", result[0])

    # -- documents -------------------------------------------------------------------------

    def tracked(self, uri: str) -> Tracked | None:
        tracked = self.engine.get(uri)
        if tracked is None:
            log.warning("request for a document that is not open: %s", uri)
        return tracked

    def refresh_definitions_later(self, uri: str, delay: float = DEFINITIONS_DELAY) -> None:
        """Debounced: re-reading a document's definitions on every keystroke would be waste."""
        self._definitions_refresh.later(uri, delay)

    def _refresh_definitions(self, uri: str) -> None:
        try:
            self.engine.refresh_definitions(uri)
        except Exception:  # a parser failure must not take the server down
            log.exception("reading the definitions of %s failed", uri)

    def keep(self, future: asyncio.Future[Any]) -> None:
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    async def begin_progress(self, job: str) -> WorkProgress:
        """`$/progress` ("infill: indexing") for a job, if the client shows it."""
        window = self.client_capabilities.window
        progress = WorkProgress(self, job)
        if window is not None and window.work_done_progress:
            try:
                await self.work_done_progress.create_async(progress.token)
                self.work_done_progress.begin(
                    progress.token,
                    lsp.WorkDoneProgressBegin(title="infill: indexing", percentage=0),
                )
                progress.shown = True
            except Exception as exc:
                log.warning("progress not available: %s", exc)
        return progress

    async def index_workspace(self) -> None:
        """At start-up, the index the backend needs, built in a worker thread: the offline
        engine's, or for a model the workspace's definitions (context for its prompts). The
        other is built if the settings change to need it."""
        self._indexing_started = True
        if self.settings.backend.offline:
            await self.index_offline()
        else:
            await self.index_definitions()

    async def index_definitions(self) -> None:
        """Index the workspace's definitions, reporting `$/progress`."""
        self._definitions_indexed = True
        if self.engine.root is None:
            return
        progress = await self.begin_progress("definitions")
        loop = asyncio.get_running_loop()

        def deliver(path: str, definitions: list[Any]) -> None:
            loop.call_soon_threadsafe(self.engine.set_file_definitions, path, definitions)

        started = time.perf_counter()
        try:
            count = await loop.run_in_executor(
                None, self.engine.index_workspace, deliver, progress.report
            )
        except Exception:
            log.exception("indexing the workspace failed")
            count = 0
        log.info(
            "indexed %d files, %d names in %.1f s",
            count,
            len(self.engine.symbols.by_name),
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
        self.protocol.notify(
            STATUS, {"state": "indexing", "message": "offline engine: indexing the workspace"}
        )
        progress = await self.begin_progress("offline engine") if self.engine.root else None
        started = time.perf_counter()
        try:
            loaded = await self.offline.start(
                self.engine, progress.report if progress is not None else None
            )
        except Exception:
            log.exception("building the offline engine's index failed")
            loaded = None
        if progress is not None:
            progress.end(f"{loaded.files} files" if loaded is not None else "failed")
        if loaded is None:
            self.protocol.notify(
                STATUS, {"state": "backend-error", "message": "offline engine: no index"}
            )
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
        # Editors show "offline" in their status bar: ready, with no model behind it.
        self.protocol.notify(STATUS, {"state": "offline", "message": message})

    async def watch_files(self) -> None:
        """Ask the client to report changes to source and ignore files it has not open."""
        workspace = self.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace is not None else None
        if self.engine.root is None or watched is None or not watched.dynamic_registration:
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
            await self.client_register_capability_async(
                lsp.RegistrationParams(registrations=[registration])
            )
        except Exception as exc:
            log.warning("the client refused to watch files: %s", exc)

    # -- the keystroke's two messages -------------------------------------------------------

    def take_plain(self, message: Any) -> bool:
        """Handle a keystroke's two messages, a didChange and an inlineCompletion of the usual
        shape, as parsed JSON: pygls's typed objects and dispatch took about half of a cached
        answer's time. Anything else, or anything odd about these two, goes to pygls and gets
        its errors there. True if handled."""
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return False
        if self.protocol._shutdown:
            return False
        method, params = message.get("method"), message.get("params")
        if method == lsp.TEXT_DOCUMENT_DID_CHANGE and "id" not in message:
            change = _plain_did_change(params)
            if change is None:
                return False
            self.apply_changes(*change)
            return True
        msg_id = message.get("id")
        if (
            method == lsp.TEXT_DOCUMENT_INLINE_COMPLETION
            and isinstance(msg_id, int | str)
            and not isinstance(msg_id, bool)
        ):
            asked = _plain_inline_completion(params)
            if asked is None:
                return False
            task = asyncio.ensure_future(self.inline_items(*asked))
            # Where pygls keeps its requests, so that $/cancelRequest finds this one too.
            self.protocol._request_futures[msg_id] = cast(Any, task)
            task.add_done_callback(
                functools.partial(self.protocol._send_handler_result, msg_id=msg_id)
            )
            return True
        return False

    def apply_changes(
        self,
        uri: str,
        version: int,
        changes: list[tuple[str, tuple[tuple[int, int], tuple[int, int]] | None]],
    ) -> None:
        """A didChange: all of its changes, or none if one cannot apply."""
        tracked = self.tracked(uri)
        if tracked is None:
            return
        try:
            if len(changes) > 1:
                check_changes(tracked.doc, changes)
            for text, span in changes:
                self.engine.apply(uri, text, span)
        except (InvalidEdit, ValueError) as exc:
            log.error("edit to %s refused, document left as it was: %s", uri, exc)
            return
        tracked.doc.version = version
        self.typing_speed(uri).edited()
        self.metrics.keystroke(uri)
        self.flights.abort_diverged(uri, tracked.doc.text)
        self.prefetch_when_ready(uri)
        self.refresh_definitions_later(uri)
        self.offline.document_changed(uri)

    async def inline_items(
        self, uri: str, position: lsp.Position, invoked: bool
    ) -> dict[str, Any] | None:
        """An InlineCompletionList, as JSON."""
        # Asked for explicitly, the user can wait for a choice; while typing, one is faster.
        candidates = self.settings.completion.candidates if invoked else 1
        answer = await self.suggest(uri, position, candidates, invoked)
        if answer is None or not answer.texts:
            return None
        at = {"line": position.line, "character": position.character}
        cursor = {"start": at, "end": at}
        return {
            "items": [
                {"insertText": text, "range": cursor, "command": command}
                for text, command in zip(answer.texts, self.offer(uri, answer), strict=True)
            ]
        }

    # -- completion ------------------------------------------------------------------------

    def prepare(self, uri: str, position: lsp.Position) -> Prepared | None:
        located = self.locate(uri, position)
        return self._prepare(uri, located[1]) if located else None

    def _prepare(self, uri: str, offset: int) -> Prepared | None:
        limits = self.completer.server_limits(self.settings.backend)
        return prepare(self.engine, uri, offset, self.settings, self.stable, limits)

    async def suggest(
        self, uri: str, position: lsp.Position, candidates: int = 1, invoked: bool = False
    ) -> Answer | None:
        """The suggestions at `position`, best first (up to `candidates`): from what was
        suggested before, from a request in flight that the user is typing along, or from
        the model after the debounce."""
        started = time.perf_counter()
        # A newer request for the same document supersedes this one: its answer would arrive
        # for a cursor the user has left. Only the waiting stops; a request to the model
        # goes on while its answer can still serve (see `Flights`).
        task = asyncio.current_task()
        previous = self._waiting.get(uri)
        if previous is not None and previous is not task and not previous.done():
            previous.cancel()
        if task is not None:
            self._waiting[uri] = task
        try:
            return await self._suggest(uri, position, candidates, invoked, started)
        except NotConfigured as exc:
            if not self._told_not_configured:
                self._told_not_configured = True
                self.show(lsp.MessageType.Warning, str(exc))
            return None
        finally:
            if self._waiting.get(uri) is task:
                del self._waiting[uri]

    async def _suggest(
        self, uri: str, position: lsp.Position, candidates: int, invoked: bool, started: float
    ) -> Answer | None:
        cursor = self._cursor(uri, position)
        if cursor is None:
            return None
        offset, prefix, suffix = cursor
        if candidates == 1:
            hit = self.cache.lookup(uri, prefix, suffix)
            if hit is not None:
                self._typed_into(hit)
                return self._answer(hit.texts, hit.source, prefix, suffix, {}, started)
            flight = self.flights.get(uri)
            typed = flight.serves(prefix, suffix) if flight is not None else None
            if flight is not None and typed is not None:
                texts = await self._answer_of(flight)
                rest = tuple(t[len(typed) :] for t in texts if t.startswith(typed))
                rest = tuple(r for r in rest if r.strip())
                if rest:
                    return self._answer(rest, "inflight", prefix, suffix, {}, started)
        if not invoked and prefix[prefix.rfind("\n") + 1 :].strip():
            # While typing mid-line, faster than the model answers: wait about as long as the
            # next key usually takes. At the start of a line (after Enter) there is no next
            # key to wait for.
            fixed = self.settings.completion.debounce_ms
            wait = self.typing_speed(uri).debounce_ms() if fixed is None else fixed
            if wait > 0:
                await asyncio.sleep(wait / 1000)
            cursor = self._cursor(uri, position)  # the document as it is after the wait
            if cursor is None:
                return None
            offset, prefix, suffix = cursor
        prepared = self._prepare(uri, offset)
        if prepared is None:
            return None
        self.typing_speed(uri).requested()
        flight = self.fly(uri, prefix, suffix, prepared, candidates, "backend")
        texts = await self._answer_of(flight)
        return self._answer(texts, "backend", prefix, suffix, prepared.timings, started)

    def _cursor(self, uri: str, position: lsp.Position) -> tuple[int, str, str] | None:
        """The offset of `position`, and the document before and after it."""
        located = self.locate(uri, position)
        if located is None:
            return None
        tracked, offset = located
        text = tracked.doc.text
        return offset, text[:offset], text[offset:]

    def locate(self, uri: str, position: lsp.Position) -> tuple[Tracked, int] | None:
        """The document and the offset of `position`; None where no suggestion may be made."""
        tracked = self.tracked(uri)
        if tracked is None:
            return None
        if position.line < 0 or position.character < 0:
            raise JsonRpcInvalidParams(f"invalid position {position.line}:{position.character}")
        if tracked.private:
            log.info("no completion in %s: the file is ignored or looks secret", tracked.path)
            return None
        return tracked, tracked.doc.offset_at(position.line, position.character)

    def fly(
        self,
        uri: str,
        prefix: str,
        suffix: str,
        prepared: Prepared,
        candidates: int,
        origin: str,
    ) -> Flight:
        """Ask the model; the answer is kept for typeahead and the cache when it comes."""

        async def ask() -> tuple[str, ...]:
            def streamed(text: str) -> None:
                flight.streamed = text
                # The user may have typed on while the model was silent: the text that comes
                # now may show that the answer is no longer theirs.
                tracked = self.tracked(uri)
                if tracked is not None:
                    self.flights.abort_diverged(uri, tracked.doc.text)

            found = await self.completer.run(prepared, self.settings, candidates, streamed)
            texts = tuple(s.text for s in found)
            if texts:
                self.cache.put(uri, Result(prefix, suffix, texts, origin))
            return texts

        flight = Flight(uri, prefix, suffix, asyncio.ensure_future(ask()), origin)
        self.flights.start(flight)
        return flight

    def _answer(
        self,
        texts: tuple[str, ...],
        source: str,
        prefix: str,
        suffix: str,
        timings: Mapping[str, float],
        started: float,
    ) -> Answer:
        total = (time.perf_counter() - started) * 1000
        self.metrics.request(source, {**timings, "total": total}, len(texts[0]) if texts else 0)
        return Answer(texts, source, prefix, suffix)

    def _typed_into(self, hit: Hit) -> None:
        """Typing what a suggestion shows is accepting it in part (an editor's word-by-word
        accept looks the same): counted once per character."""
        counted = self._typed_counted.get(id(hit.result), 0)
        if hit.typed > counted:
            self.metrics.accepted(hit.typed - counted, partial=True)
            self._typed_counted[id(hit.result)] = hit.typed
            while len(self._typed_counted) > OFFERED_KEPT:
                self._typed_counted.popitem(last=False)

    async def _answer_of(self, flight: Flight) -> tuple[str, ...]:
        """The flight's answer; nothing if it was called off (the document left it) while
        this request waited for it."""
        try:
            return await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if flight.task.cancelled() and task is not None and not task.cancelling():
                return ()
            raise

    def offer(self, uri: str, answer: Answer) -> list[dict[str, Any]]:
        """Commands (as JSON) for the answer's items: the editor runs one when its item is
        accepted."""
        commands = []
        for text in answer.texts:
            self._offer_id += 1
            self.offered[self._offer_id] = (uri, answer.prefix, answer.suffix, text)
            commands.append(
                {"title": "infill: accepted", "command": ACCEPTED, "arguments": [self._offer_id]}
            )
        while len(self.offered) > OFFERED_KEPT:
            self.offered.popitem(last=False)
        return commands

    def accepted(self, offer_id: Any) -> None:
        """An item was accepted: count it, and have the next suggestion ready (the user is on
        a streak) once the document shows the accepted text."""
        offered = self.offered.get(offer_id) if isinstance(offer_id, int) else None
        if offered is None:
            return
        uri, prefix, suffix, text = offered
        self.metrics.accepted(len(text), partial=False)
        self._prefetch_at[uri] = (prefix + text, suffix)
        self.prefetch_when_ready(uri)

    def prefetch_when_ready(self, uri: str) -> None:
        pending = self._prefetch_at.get(uri)
        tracked = self.tracked(uri)
        if pending is None or tracked is None:
            return
        prefix, suffix = pending
        if tracked.doc.text != prefix + suffix:
            return  # the edit that accepted it has not arrived yet
        del self._prefetch_at[uri]
        if tracked.private:
            return
        prepared = self._prepare(uri, len(prefix))
        if prepared is not None and self.settings.backend.configured:
            self.fly(uri, prefix, suffix, prepared, 1, "prefetch")

    def typing_speed(self, uri: str) -> TypingSpeed:
        return self.typing.setdefault(uri, TypingSpeed())


def _span(
    change: lsp.TextDocumentContentChangeEvent,
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """A content change's range as (line, character) pairs; None for the whole document."""
    if not isinstance(change, lsp.TextDocumentContentChangePartial):
        return None
    r = change.range
    return (r.start.line, r.start.character), (r.end.line, r.end.character)


_UINTEGER_MAX = 2**31 - 1


def _plain_position(value: Any) -> tuple[int, int] | None:
    """(line, character) of a JSON Position; None unless both are LSP uintegers."""
    if not isinstance(value, dict):
        return None
    line, character = value.get("line"), value.get("character")
    if type(line) is not int or type(character) is not int:
        return None
    if not (0 <= line <= _UINTEGER_MAX and 0 <= character <= _UINTEGER_MAX):
        return None
    return line, character


def _plain_did_change(
    params: Any,
) -> tuple[str, int, list[tuple[str, tuple[tuple[int, int], tuple[int, int]] | None]]] | None:
    """(uri, version, changes) of didChange params as JSON, as `did_change` takes them from
    pygls; None if anything is not as LSP has it (pygls then says what)."""
    if not isinstance(params, dict):
        return None
    document, content_changes = params.get("textDocument"), params.get("contentChanges")
    if not isinstance(document, dict) or not isinstance(content_changes, list):
        return None
    uri, version = document.get("uri"), document.get("version")
    if not isinstance(uri, str) or type(version) is not int or abs(version) > _UINTEGER_MAX:
        return None
    changes: list[tuple[str, tuple[tuple[int, int], tuple[int, int]] | None]] = []
    for change in content_changes:
        if not isinstance(change, dict) or not isinstance(change.get("text"), str):
            return None
        if "range" not in change:
            changes.append((change["text"], None))
            continue
        span = change["range"]
        if not isinstance(span, dict):
            return None
        start, end = _plain_position(span.get("start")), _plain_position(span.get("end"))
        if start is None or end is None:
            return None
        changes.append((change["text"], (start, end)))
    return uri, version, changes


def _plain_inline_completion(params: Any) -> tuple[str, lsp.Position, bool] | None:
    """(uri, position, invoked) of inlineCompletion params as JSON; None if anything is not
    as LSP has it."""
    if not isinstance(params, dict):
        return None
    document, context = params.get("textDocument"), params.get("context")
    position = _plain_position(params.get("position"))
    if not isinstance(document, dict) or not isinstance(context, dict) or position is None:
        return None
    uri, trigger = document.get("uri"), context.get("triggerKind")
    if not isinstance(uri, str) or trigger not in (1, 2) or type(trigger) is not int:
        return None
    invoked = trigger == lsp.InlineCompletionTriggerKind.Invoked
    return uri, lsp.Position(line=position[0], character=position[1]), invoked


def _workspace_root(params: lsp.InitializeParams) -> str | None:
    folders = params.workspace_folders or []
    uri = folders[0].uri if folders else params.root_uri
    if uri is None and params.root_path:
        return params.root_path
    return uri_to_path(uri) if uri else None


def create_server() -> InfillServer:
    server = InfillServer()

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: InfillServer, params: lsp.InitializeParams) -> None:
        ls.engine = ContextEngine(_workspace_root(params))
        try:
            ls.layers = {**ls.layers, "file": load_user_config()}
        except SettingsError as exc:
            ls.show(lsp.MessageType.Error, str(exc))
        ls.update_settings("file", ls.layers["file"])
        ls.update_settings("init", params.initialization_options)

    @server.feature(lsp.INITIALIZED)
    async def initialized(ls: InfillServer, params: lsp.InitializedParams) -> None:
        # Load the tokenizer off the event loop while the user opens files.
        loop = asyncio.get_running_loop()
        ls.keep(loop.run_in_executor(None, warm_up))
        ls.keep(asyncio.ensure_future(ls.index_workspace()))
        ls.warm_backend()
        await ls.pull_settings()
        await ls.watch_files()

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: InfillServer, params: lsp.DidChangeConfigurationParams
    ) -> None:
        pushed = params.settings
        if isinstance(pushed, Mapping) and SECTION in pushed:
            ls.update_settings("client", pushed[SECTION])
        else:
            # Clients on the pull model send a null (or foreign) payload as a mere signal.
            await ls.pull_settings()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: InfillServer, params: lsp.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        tracked = ls.engine.open(item.uri, item.text, item.language_id, item.version, ls.encoding)
        ls.refresh_definitions_later(item.uri, delay=0)
        if not tracked.private and not tracked.large:
            loop = asyncio.get_running_loop()
            ls.keep(loop.run_in_executor(None, count_document_lines, item.text, ls.settings))
            # The windows for similar snippets, made now rather than in the first request.
            loop.call_soon(tracked.words.windows)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: InfillServer, params: lsp.DidChangeTextDocumentParams) -> None:
        changes = [(change.text, _span(change)) for change in params.content_changes]
        ls.apply_changes(params.text_document.uri, params.text_document.version, changes)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: InfillServer, params: lsp.DidSaveTextDocumentParams) -> None:
        ls.refresh_definitions_later(params.text_document.uri, delay=0)
        ls.stable.refresh()

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: InfillServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.offline.document_closed(uri)
        ls.engine.close(uri)
        ls.flights.cancel(uri)
        ls.cache.forget(uri)
        ls.typing.pop(uri, None)
        ls._prefetch_at.pop(uri, None)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: InfillServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        for event in params.changes:
            path = uri_to_path(event.uri)
            if path is None or ls.engine.get(event.uri) is not None:
                continue  # open documents are followed through their edits
            if Path(path).name in IGNORE_FILES:
                ls.engine.ignore_file_changed(path)
                ls.offline.ignore_changed()
                ls.stable.refresh()  # other code kept for prompts may be ignored from now on
                continue
            deleted = event.type == lsp.FileChangeType.Deleted
            ls.offline.file_changed(path, deleted)
            if deleted or ls.engine.is_private_path(path):
                ls.engine.symbols.remove_file(ls.engine.display_path(path, event.uri))
                continue
            found = ls.engine.read_definitions(Path(path))
            if found is not None:
                ls.engine.set_file_definitions(*found)

    @server.feature(EXPLAIN)
    def explain_request(
        ls: InfillServer, params: lsp.TextDocumentPositionParams
    ) -> dict[str, Any] | None:
        prepared = ls.prepare(params.text_document.uri, params.position)
        last = ls.completer.last_prompt_cache
        return explain(prepared, last) if prepared is not None else None

    @server.feature(lsp.TEXT_DOCUMENT_INLINE_COMPLETION, lsp.InlineCompletionOptions())
    async def inline_completion(
        ls: InfillServer, params: lsp.InlineCompletionParams
    ) -> dict[str, Any] | None:
        invoked = params.context.trigger_kind == lsp.InlineCompletionTriggerKind.Invoked
        return await ls.inline_items(params.text_document.uri, params.position, invoked)

    @server.command(ACCEPTED)
    def accepted(ls: InfillServer, *arguments: Any) -> None:
        if len(arguments) != 1:
            raise JsonRpcInvalidParams(f"{ACCEPTED} takes one argument, the item's offer id")
        ls.accepted(arguments[0])

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION,
        lsp.CompletionOptions(trigger_characters=["."], resolve_provider=False),
    )
    async def completion(
        ls: InfillServer, params: lsp.CompletionParams
    ) -> lsp.CompletionList | None:
        answer = await ls.suggest(params.text_document.uri, params.position)
        if answer is None or not answer.texts:
            return None
        suggestion = answer.texts[0]  # one was asked for
        line_before = answer.prefix[answer.prefix.rfind("\n") + 1 :]
        # The item replaces the word being typed, so the client's filtering (which compares
        # the item with that word) keeps it; its text is the word plus the suggestion.
        word = _WORD_BEFORE.search(line_before)
        typed = word.group() if word else ""
        start = lsp.Position(
            line=params.position.line,
            character=params.position.character - code_units(typed, ls.encoding),
        )
        new_text = typed + suggestion
        label = new_text.strip().split("\n", 1)[0]
        item = lsp.CompletionItem(
            label=label if len(label) <= 80 else label[:79] + "…",
            kind=lsp.CompletionItemKind.Text,
            detail="infill",
            documentation=lsp.MarkupContent(kind=lsp.MarkupKind.PlainText, value=new_text)
            if "\n" in suggestion
            else None,
            filter_text=new_text,
            sort_text="0",
            insert_text_format=lsp.InsertTextFormat.PlainText,
            text_edit=lsp.TextEdit(
                range=lsp.Range(start=start, end=params.position), new_text=new_text
            ),
        )
        # Incomplete: the suggestion depends on every keystroke, so the client asks again.
        return lsp.CompletionList(is_incomplete=True, items=[item])

    @server.feature(lsp.SHUTDOWN)
    def shutdown(ls: InfillServer, params: None) -> None:
        # Not awaited here: a client may send exit right behind shutdown, and an answer to
        # shutdown that waited for the closing would be lost with the process.
        ls.closing()

    @server.feature(lsp.EXIT)
    async def exit(ls: InfillServer, params: None) -> None:
        await ls.closing()  # pygls ends the process once this returns

    return server
