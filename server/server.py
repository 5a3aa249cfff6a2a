"""The language server: thin pygls handlers that delegate to plain code. Where the work is:
`infill.suggestions` (a cursor's suggestions: reuse, flights, prefetch), `infill.pipeline`
(context -> prompt -> model -> post-processing), `infill.indexing` (the workspace's indexes and
file watching), `infill.layers` (settings), `infill.notices` (messages to the user),
`infill.explaining` (`infill/explain`), `infill.items` (suggestions as LSP items),
`infill.fast_path` (a keystroke's messages as plain JSON) and `infill.protocol` (all that
reaches into pygls: the protocol subclass, the read loop, stdin)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Mapping
from typing import Any, BinaryIO, cast

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from infill import __version__, next_edits
from infill.context import InvalidEdit
from infill.context.document import check_changes
from infill.context.engine import ContextEngine
from infill.explaining import NoSuggestionHere, explain_position
from infill.fast_path import Change, FastPath, change_span
from infill.indexing import Indexing, workspace_root
from infill.items import ACCEPTED, completion_list, inline_items
from infill.layers import Refused, SettingsLayers
from infill.metrics import Metrics, default_path
from infill.notices import Notices
from infill.offline import OfflineIndex
from infill.pipeline import Completer
from infill.prompts.tokens import warm_up
from infill.protocol import (
    DID_FOCUS,
    EXPLAIN,
    InfillProtocol,
    MalformedMessage,
    readable_by_event_loop,
    serve_pipe,
)
from infill.settings import Settings, SettingsError, describe_unknown
from infill.suggestions import Suggestions

log = logging.getLogger(__name__)

SECTION = "infill"


class InfillServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("infill", __version__, protocol_cls=InfillProtocol)
        self.notices = Notices(self)
        self.offline = OfflineIndex()
        self.completer = Completer(self.notices.backend_health, self.offline.current)
        self.suggestions = Suggestions(ContextEngine(), self.completer, self.notices.warn)
        self.completer.on_backend_request = lambda: self.suggestions.metrics.backend_request()
        self.indexing = Indexing(self)
        self.layers = SettingsLayers()
        self.next_edits = next_edits.NextEdits(self.suggestions)
        protocol = cast(InfillProtocol, self.protocol)
        protocol.json_params = next_edits.JSON_PARAMS | {DID_FOCUS: next_edits.read_position_params}
        self.take_plain = FastPath(protocol, self.apply_changes, self.inline_items).take
        self.background: set[asyncio.Future[Any]] = set()  # referenced until done
        self.closing_task: asyncio.Future[None] | None = None

    # The suggestions' state is the server's.
    @property
    def engine(self) -> ContextEngine:
        return self.suggestions.engine

    @property
    def settings(self) -> Settings:
        return self.suggestions.settings

    @property
    def encoding(self) -> str:
        # pygls gives the client's string when negotiated, else the enum (str() is not its value).
        chosen = self.workspace.position_encoding or lsp.PositionEncodingKind.Utf16
        return chosen.value if isinstance(chosen, lsp.PositionEncodingKind) else str(chosen)

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        stdin = stdin or sys.stdin.buffer
        if not readable_by_event_loop(stdin):
            super().start_io(stdin, stdout)
            return
        stdout = stdout or sys.stdout.buffer
        serve_pipe(self, stdin, stdout, self.take_plain, self.log_state, self.closing)

    def log_state(self) -> None:
        """On SIGUSR1: what the server holds, for whoever looks for a leak (`make soak`)."""
        gc.collect()
        state = len(asyncio.all_tasks()), len(gc.get_objects()), len(self.engine.documents)
        log.info("state: %d tasks, %d Python objects, %d open documents", *state)

    def keep(self, future: asyncio.Future[Any]) -> None:
        self.background.add(future)
        future.add_done_callback(self.background.discard)

    def closing(self) -> asyncio.Future[None]:
        """`close`, started once (at shutdown, exit, the end of stdin or a signal)."""
        if self.closing_task is None:
            self.closing_task = asyncio.ensure_future(self.suggestions.aclose())
        return self.closing_task

    def report_server_error(self, error: Exception, source: Any) -> None:
        # Malformed input is the client's problem: log it, don't pop up a message per keystroke.
        if isinstance(error, MalformedMessage):
            log.warning("%s", error)
            return
        if isinstance(error, NoSuggestionHere):
            return  # an answer, not a fault
        super().report_server_error(error, source)

    def warm_backend(self) -> None:
        """A model's tokenizer and connection, ready before the first keystroke needs them."""
        if not self.settings.backend.offline:  # the offline engine counts no tokens
            self.keep(asyncio.get_running_loop().run_in_executor(None, warm_up))
        if self.settings.backend.base_url:
            self.keep(asyncio.ensure_future(self.completer.warm(self.settings.backend)))

    # -- settings --------------------------------------------------------------------------

    def update_settings(self, layer: str, value: Any) -> None:
        try:
            settings, unknown = self.layers.combine(layer, value)
        except Refused as exc:
            self.notices.show(lsp.MessageType.Error, str(exc))
            return
        if unknown:
            self.notices.warn(f"unknown settings ignored: {describe_unknown(unknown)}")
        backend_changed = settings.backend != self.settings.backend
        self.suggestions.use_settings(settings)
        if settings.metrics.enabled != self.suggestions.metrics.enabled:
            self.suggestions.metrics.close()
            path = default_path() if settings.metrics.enabled else None
            self.suggestions.metrics = Metrics(path)
        if backend_changed:
            # Before the old backend's connections close under them (a stream cut that way
            # only ends at the timeout, and counts as the new backend's failure).
            self.suggestions.call_off_requests()
            if layer != "file":
                self.warm_backend()
        self.indexing.settings_changed()

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

    # -- a keystroke's two messages (also taken as plain JSON: `infill.fast_path`) -----------

    def apply_changes(self, uri: str, version: int, changes: list[Change]) -> None:
        """A didChange: all of its changes, or none if one cannot apply."""
        tracked = self.suggestions.tracked(uri)
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
        self.suggestions.edited(uri, tracked.doc.text)
        removed = any(span is None or span[0] != span[1] for _, span in changes)
        self.indexing.document_changed(uri, removed)

    async def inline_items(
        self, uri: str, position: lsp.Position, invoked: bool
    ) -> dict[str, Any] | None:
        """An InlineCompletionList, as JSON."""
        # Asked for explicitly, the user can wait for a choice; while typing, one is faster.
        candidates = self.settings.completion.candidates if invoked else 1
        line, character = position.line, position.character
        suggestion = await self.suggestions.suggest(uri, line, character, candidates, invoked)
        if suggestion is None or not suggestion.texts:
            return None
        offer_ids = self.suggestions.offer(uri, suggestion)
        return inline_items(suggestion, line, character, offer_ids, self.encoding)


def create_server() -> InfillServer:
    server = InfillServer()
    next_edits.register_next_edits(server, server.next_edits)

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: InfillServer, params: lsp.InitializeParams) -> None:
        ls.suggestions.engine = ContextEngine(workspace_root(params))
        try:
            ls.layers.read_file()
        except SettingsError as exc:
            ls.notices.show(lsp.MessageType.Error, str(exc))
        ls.update_settings("file", ls.layers.by_name["file"])
        ls.update_settings("init", params.initialization_options)

    @server.feature(lsp.INITIALIZED)
    async def initialized(ls: InfillServer, params: lsp.InitializedParams) -> None:
        ls.keep(asyncio.ensure_future(ls.indexing.index_workspace()))
        ls.warm_backend()
        await ls.pull_settings()
        await ls.indexing.watch_files()

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
        ls.indexing.document_opened(item.uri, tracked)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: InfillServer, params: lsp.DidChangeTextDocumentParams) -> None:
        changes = [(change.text, change_span(change)) for change in params.content_changes]
        ls.apply_changes(params.text_document.uri, params.text_document.version, changes)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: InfillServer, params: lsp.DidSaveTextDocumentParams) -> None:
        ls.indexing.refresh_definitions_later(params.text_document.uri, delay=0)
        ls.suggestions.saved(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: InfillServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.offline.document_closed(uri)
        ls.engine.close(uri)
        ls.suggestions.closed(uri)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: InfillServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        ls.indexing.files_changed(params.changes)

    @server.feature(DID_FOCUS)
    async def did_focus(ls: InfillServer, params: next_edits.PositionParams) -> None:
        await ls.suggestions.focused(params.uri, params.line, params.character)

    @server.feature(EXPLAIN)
    def explain_request(ls: InfillServer, params: lsp.TextDocumentPositionParams) -> dict[str, Any]:
        at, uri = params.position, params.text_document.uri
        return explain_position(ls.suggestions, ls.offline, uri, at.line, at.character)

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
        ls.suggestions.accepted(arguments[0])

    @server.feature(
        lsp.TEXT_DOCUMENT_COMPLETION,
        lsp.CompletionOptions(trigger_characters=["."], resolve_provider=False),
    )
    async def completion(
        ls: InfillServer, params: lsp.CompletionParams
    ) -> lsp.CompletionList | None:
        at = params.position
        suggestion = await ls.suggestions.suggest(params.text_document.uri, at.line, at.character)
        if suggestion is None or not suggestion.texts:
            return None
        return completion_list(suggestion, params.position, ls.encoding)

    @server.feature(lsp.SHUTDOWN)
    def shutdown(ls: InfillServer, params: None) -> None:
        ls.closing()  # not awaited: an answer that waited would be lost if exit came behind

    @server.feature(lsp.EXIT)
    async def exit(ls: InfillServer, params: None) -> None:
        await ls.closing()  # pygls ends the process once this returns

    return server
