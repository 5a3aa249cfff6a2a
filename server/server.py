"""The language server: thin pygls handlers that delegate to the pipeline."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
from collections.abc import Callable, Generator, Mapping
from pathlib import Path
from typing import Any

import attrs
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from infill import __version__
from infill.context import InvalidEdit
from infill.context.document import code_units
from infill.context.engine import SOURCE_EXTENSIONS, ContextEngine, Tracked, uri_to_path
from infill.context.ignore import IGNORE_FILES
from infill.pipeline import Completer, NotConfigured, Prepared, Suggestion, explain, prepare
from infill.prompts.tokens import warm_up
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

    @lsp_method(lsp.INITIALIZE)
    def lsp_initialize(self, params: lsp.InitializeParams) -> Generator[Any, Any, Any]:
        result = yield from super().lsp_initialize(params)
        # A client with inline completion shows ghost text; offering it the completion
        # fallback as well would put the same suggestion in its completion menu too.
        text_document = params.capabilities.text_document
        if text_document is not None and text_document.inline_completion is not None:
            result.capabilities.completion_provider = None
        return result


class InfillServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("infill", __version__, protocol_cls=InfillProtocol)
        self.engine = ContextEngine()
        self.completer = Completer(on_health=self.backend_health)
        self.settings = Settings()
        # Settings layers, later ones winning; a layer is only stored once the whole
        # combination validates, so the last good settings stay in force.
        self.layers: dict[str, Mapping[str, Any]] = {"file": {}, "init": {}, "client": {}}
        self._inflight: dict[str, asyncio.Task[Any]] = {}
        self._told_not_configured = False
        self._refresh_timers: dict[str, asyncio.TimerHandle] = {}
        self._background: set[asyncio.Future[Any]] = set()  # referenced until done

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
        self.protocol.notify(
            STATUS, {"state": "ready" if healthy else "backend-error", "message": reason}
        )

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
        self.settings = settings
        if changed and layer != "file":
            self.warm_backend()

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
        if (timer := self._refresh_timers.pop(uri, None)) is not None:
            timer.cancel()
        loop = asyncio.get_running_loop()
        self._refresh_timers[uri] = loop.call_later(delay, self._refresh_definitions, uri)

    def _refresh_definitions(self, uri: str) -> None:
        self._refresh_timers.pop(uri, None)
        try:
            self.engine.refresh_definitions(uri)
        except Exception:  # a parser failure must not take the server down
            log.exception("reading the definitions of %s failed", uri)

    def keep(self, future: asyncio.Future[Any]) -> None:
        self._background.add(future)
        future.add_done_callback(self._background.discard)

    async def index_workspace(self) -> None:
        """Index the workspace's definitions in a worker thread, reporting `$/progress`."""
        if self.engine.root is None:
            return
        loop = asyncio.get_running_loop()
        token = f"infill-index-{id(self)}"
        window = self.client_capabilities.window
        progress = window is not None and bool(window.work_done_progress)
        if progress:
            try:
                await self.work_done_progress.create_async(token)
                self.work_done_progress.begin(
                    token, lsp.WorkDoneProgressBegin(title="infill: indexing", percentage=0)
                )
            except Exception as exc:
                log.warning("progress not available: %s", exc)
                progress = False

        def deliver(path: str, definitions: list[Any]) -> None:
            loop.call_soon_threadsafe(self.engine.set_file_definitions, path, definitions)

        def report(done: int, total: int) -> None:
            if progress:
                message = lsp.WorkDoneProgressReport(
                    message=f"{done}/{total} files", percentage=done * 100 // max(total, 1)
                )
                loop.call_soon_threadsafe(self.work_done_progress.report, token, message)

        started = time.perf_counter()
        try:
            count = await loop.run_in_executor(None, self.engine.index_workspace, deliver, report)
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
        if progress:
            self.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message=f"{count} files"))

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

    # -- completion ------------------------------------------------------------------------

    def prepare(self, uri: str, position: lsp.Position) -> Prepared | None:
        tracked = self.tracked(uri)
        if tracked is None:
            return None
        if position.line < 0 or position.character < 0:
            raise JsonRpcInvalidParams(f"invalid position {position.line}:{position.character}")
        if tracked.private:
            log.info("no completion in %s: the file is ignored or looks secret", tracked.path)
            return None
        offset = tracked.doc.offset_at(position.line, position.character)
        return prepare(self.engine, uri, offset, self.settings)

    async def suggest(
        self, uri: str, position: lsp.Position, candidates: int = 1
    ) -> tuple[list[Suggestion], Prepared] | None:
        """The suggestions at `position`, best first (up to `candidates`), and what they were
        made from (the document may change while the model answers)."""
        prepared = self.prepare(uri, position)
        if prepared is None:
            return None
        # A newer request for the same document supersedes the one in flight: its answer
        # would arrive for a cursor the user has left. Cancelling it closes its HTTP stream.
        task = asyncio.current_task()
        previous = self._inflight.get(uri)
        if previous is not None and previous is not task and not previous.done():
            previous.cancel()
        if task is not None:
            self._inflight[uri] = task
        try:
            suggestions = await self.completer.run(prepared, self.settings, candidates)
        except NotConfigured as exc:
            if not self._told_not_configured:
                self._told_not_configured = True
                self.show(lsp.MessageType.Warning, str(exc))
            return None
        finally:
            if self._inflight.get(uri) is task:
                del self._inflight[uri]
        return (suggestions, prepared) if suggestions else None


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
        ls.engine.open(item.uri, item.text, item.language_id, item.version, ls.encoding)
        ls.refresh_definitions_later(item.uri, delay=0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: InfillServer, params: lsp.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        if ls.tracked(uri) is None:
            return
        for change in params.content_changes:
            span = None
            if isinstance(change, lsp.TextDocumentContentChangePartial):
                r = change.range
                span = ((r.start.line, r.start.character), (r.end.line, r.end.character))
            try:
                ls.engine.apply(uri, change.text, span)
            except (InvalidEdit, ValueError) as exc:
                log.error("edit to %s refused, document left as it was: %s", uri, exc)
                return
        ls.engine.documents[uri].doc.version = params.text_document.version
        ls.refresh_definitions_later(uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: InfillServer, params: lsp.DidSaveTextDocumentParams) -> None:
        ls.refresh_definitions_later(params.text_document.uri, delay=0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: InfillServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.engine.close(params.text_document.uri)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: InfillServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        for event in params.changes:
            path = uri_to_path(event.uri)
            if path is None or ls.engine.get(event.uri) is not None:
                continue  # open documents are followed through their edits
            if Path(path).name in IGNORE_FILES:
                ls.engine.ignore_file_changed(path)
                continue
            if event.type == lsp.FileChangeType.Deleted or ls.engine.is_private_path(path):
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
        return explain(prepared) if prepared is not None else None

    @server.feature(lsp.TEXT_DOCUMENT_INLINE_COMPLETION, lsp.InlineCompletionOptions())
    async def inline_completion(
        ls: InfillServer, params: lsp.InlineCompletionParams
    ) -> lsp.InlineCompletionList | None:
        # Asked for explicitly, the user can wait for a choice; while typing, one is faster.
        invoked = params.context.trigger_kind == lsp.InlineCompletionTriggerKind.Invoked
        candidates = ls.settings.completion.candidates if invoked else 1
        found = await ls.suggest(params.text_document.uri, params.position, candidates)
        if found is None:
            return None
        suggestions, _ = found
        cursor = lsp.Range(start=params.position, end=params.position)
        return lsp.InlineCompletionList(
            items=[lsp.InlineCompletionItem(insert_text=s.text, range=cursor) for s in suggestions]
        )

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION,
        lsp.CompletionOptions(trigger_characters=["."], resolve_provider=False),
    )
    async def completion(
        ls: InfillServer, params: lsp.CompletionParams
    ) -> lsp.CompletionList | None:
        found = await ls.suggest(params.text_document.uri, params.position)
        if found is None:
            return None
        suggestions, prepared = found
        suggestion = suggestions[0]  # one was asked for
        ctx = prepared.ctx
        # The item replaces the word being typed, so the client's filtering (which compares
        # the item with that word) keeps it; its text is the word plus the suggestion.
        word = _WORD_BEFORE.search(ctx.line_before)
        typed = word.group() if word else ""
        start = lsp.Position(
            line=params.position.line,
            character=params.position.character - code_units(typed, ls.encoding),
        )
        new_text = typed + suggestion.text
        label = new_text.strip().split("\n", 1)[0]
        item = lsp.CompletionItem(
            label=label if len(label) <= 80 else label[:79] + "…",
            kind=lsp.CompletionItemKind.Text,
            detail="infill",
            documentation=lsp.MarkupContent(kind=lsp.MarkupKind.PlainText, value=new_text)
            if "\n" in suggestion.text
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
    async def shutdown(ls: InfillServer, params: None) -> None:
        await ls.completer.aclose()

    return server
