"""Next edits over LSP: the edit the user's last change implies elsewhere in the document.

LSP has no method for an edit away from the cursor, so there are two ways to ask:

- infill's own request `infill/nextEdit`, params {textDocument: {uri, version}, position},
  answered {id, edits: [{range, newText}], cursor: Position} or null; the client tells how it
  went with the notifications `infill/nextEditShown`, `infill/nextEditAccepted` and
  `infill/nextEditRejected`, params {id}.
- copilot-language-server's de-facto `textDocument/copilotInlineEdit`, which existing Neovim
  and Emacs clients speak. Its shape, as verified in public clients: the params are
  {textDocument: {uri, version}, position} (copilot-lsp, lua/copilot-lsp/nes/init.lua; copilot.el,
  `copilot-nes--request`); the answer is {edits: [{text, range, textDocument: {uri, version},
  command}]} (copilot-lsp, lua/copilot-lsp/types.lua `copilotlsp.InlineEdit`; CopilotForXcode,
  `CopilotInlineEditsResponse`), where `command` is run with workspace/executeCommand once the
  edit is accepted; `textDocument/didShowInlineEdit` has params {item: {command: {arguments}}}
  (CopilotForXcode `TextDocumentDidShowInlineEditParams`; copilot-lsp sends the edit's command).

The edits come from the model-free rules (context/next_edit.py), else, where `next_edit.url`
names one, from a next-edit model (server/edit_model.py).

The server never applies an edit itself: the client applies what the user accepts.
An answer holds the nearest proposal only; the client asks again after applying it.
"""

from __future__ import annotations

import functools
import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, TypeGuard

from pygls.lsp.server import LanguageServer

from infill.context.document import Document
from infill.context.next_edit import NextEdit
from infill.suggestions import Suggestions

NEXT_EDIT = "infill/nextEdit"
NEXT_EDIT_SHOWN = "infill/nextEditShown"
NEXT_EDIT_ACCEPTED = "infill/nextEditAccepted"
NEXT_EDIT_REJECTED = "infill/nextEditRejected"
COPILOT_INLINE_EDIT = "textDocument/copilotInlineEdit"
COPILOT_SHOWN = "textDocument/didShowInlineEdit"
COPILOT_ACCEPTED = "infill.nextEditAccepted"  # the command a copilotInlineEdit edit runs
MAX_OFFERED = 64  # proposals remembered for the notifications that name them


class NextEdits:
    """Answers next-edit requests from the context engine, and counts what becomes of them."""

    def __init__(self, suggestions: Suggestions) -> None:
        self.suggestions = suggestions
        # The model's last proposals, by document, version and line: clients ask again as the
        # cursor moves, and the answer would be the same at a model's cost.
        self._modelled: tuple[tuple[str, int, int], list[NextEdit]] | None = None
        self._ids = itertools.count(1)
        self._offered: OrderedDict[int, None] = OrderedDict()

    async def propose(self, params: PositionParams) -> tuple[Document, NextEdit, int] | None:
        """The document, its next edit and the proposal's id; None when there is none or the
        request is for another version of the document than the server holds."""
        uri, version, line, character = params.uri, params.version, params.line, params.character
        tracked = self.suggestions.tracked(uri)
        if tracked is None or (version is not None and version != tracked.doc.version):
            return None
        doc = tracked.doc
        if line >= doc.line_count:
            return None
        engine, offset = self.suggestions.engine, doc.offset_at(line, character)
        proposals = engine.next_edits(uri, offset)
        settings = self.suggestions.settings.next_edit
        if not proposals and settings.url:
            key = (uri, doc.version, line)
            if self._modelled is not None and self._modelled[0] == key:
                proposals = self._modelled[1]
            else:
                model = self.suggestions.edit_model
                proposals = await model.propose(settings, engine, tracked, offset)
                if self.suggestions.engine.get(uri) is not tracked or doc.version != key[1]:
                    return None  # the user typed on (or closed it) while the model thought
                self._modelled = (key, proposals)
        if not proposals:
            return None
        offer_id = next(self._ids)
        self._offered[offer_id] = None
        while len(self._offered) > MAX_OFFERED:
            self._offered.popitem(last=False)
        self.suggestions.metrics.next_edit("proposed")
        return doc, proposals[0], offer_id

    async def next_edit(self, params: PositionParams) -> dict[str, Any] | None:
        """The answer to `infill/nextEdit`."""
        proposed = await self.propose(params)
        if proposed is None:
            return None
        doc, proposal, offer_id = proposed
        replacement = proposal.replacement
        return {
            "id": offer_id,
            "edits": [
                {
                    "range": _range(doc, replacement.start, replacement.end),
                    "newText": replacement.new_text,
                }
            ],
            "cursor": _position(doc, proposal.cursor),
        }

    async def copilot_inline_edit(self, params: PositionParams) -> dict[str, Any]:
        """The answer to `textDocument/copilotInlineEdit` (no edit: an empty list, which its
        clients expect rather than null)."""
        proposed = await self.propose(params)
        if proposed is None:
            return {"edits": []}
        doc, proposal, offer_id = proposed
        replacement = proposal.replacement
        command = {"title": "infill: next edit", "command": COPILOT_ACCEPTED}
        return {
            "edits": [
                {
                    "text": replacement.new_text,
                    "range": _range(doc, replacement.start, replacement.end),
                    "textDocument": {"uri": doc.uri, "version": doc.version},
                    "command": {**command, "arguments": [offer_id]},
                }
            ]
        }

    def outcome(self, event: str, offer_id: Any) -> None:
        """A proposal was shown, accepted or rejected; ids not offered are not counted."""
        if isinstance(offer_id, int) and offer_id in self._offered:
            if event != "shown":
                del self._offered[offer_id]  # accepted or rejected once
            self.suggestions.metrics.next_edit(event)

    def notified(self, method: str, params: Any) -> None:
        """One of the notifications about a proposal."""
        if method == COPILOT_SHOWN:
            item = params.get("item") if isinstance(params, dict) else None
            command = item.get("command") if isinstance(item, dict) else None
            arguments = command.get("arguments") if isinstance(command, dict) else None
            if isinstance(arguments, list) and len(arguments) == 1:
                self.outcome("shown", arguments[0])
            return
        event = {
            NEXT_EDIT_SHOWN: "shown",
            NEXT_EDIT_ACCEPTED: "accepted",
            NEXT_EDIT_REJECTED: "rejected",
        }[method]
        if isinstance(params, dict):
            self.outcome(event, params.get("id"))


def register_next_edits(server: LanguageServer, next_edits: NextEdits) -> None:
    """The next-edit requests, notifications and accept command, on `server` (pygls marks each
    handler with attributes: functions, not bound methods)."""

    @server.feature(NEXT_EDIT)
    async def next_edit(params: PositionParams) -> dict[str, Any] | None:
        return await next_edits.next_edit(params)

    @server.feature(COPILOT_INLINE_EDIT)
    async def copilot_inline_edit(params: PositionParams) -> dict[str, Any]:
        return await next_edits.copilot_inline_edit(params)

    for method in (NEXT_EDIT_SHOWN, NEXT_EDIT_ACCEPTED, NEXT_EDIT_REJECTED, COPILOT_SHOWN):
        server.feature(method)(functools.partial(next_edits.notified, method))

    @server.command(COPILOT_ACCEPTED)
    def accepted(*arguments: Any) -> None:
        next_edits.outcome("accepted", arguments[0] if len(arguments) == 1 else None)


@dataclass(frozen=True)
class PositionParams:
    """{textDocument: {uri, version}, position}; no version: the document as the server has it."""

    uri: str
    version: int | None
    line: int
    character: int


def read_position_params(params: Any) -> PositionParams:
    """The params of the requests, from JSON; ValueError when they are not of that shape."""
    document = params.get("textDocument") if isinstance(params, dict) else None
    position = params.get("position") if isinstance(params, dict) else None
    if not isinstance(document, dict) or not isinstance(position, dict):
        raise ValueError("expected {textDocument: {uri, version}, position}")
    uri, version = document.get("uri"), document.get("version")
    line, character = position.get("line"), position.get("character")
    if (
        not isinstance(uri, str)
        or not (version is None or _is_natural(version))
        or not _is_natural(line)
        or not _is_natural(character)
    ):
        raise ValueError("expected a uri, a version and a position of natural numbers")
    return PositionParams(uri, version, line, character)


def _as_sent(params: Any) -> Any:
    """Notifications' params: checked by their handler (a notification has no answer)."""
    return params


JSON_PARAMS = {
    NEXT_EDIT: read_position_params,
    COPILOT_INLINE_EDIT: read_position_params,
    **dict.fromkeys(
        (NEXT_EDIT_SHOWN, NEXT_EDIT_ACCEPTED, NEXT_EDIT_REJECTED, COPILOT_SHOWN), _as_sent
    ),
}


def _is_natural(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _position(doc: Document, offset: int) -> dict[str, int]:
    line, character = doc.position_at(offset)
    return {"line": line, "character": character}


def _range(doc: Document, start: int, end: int) -> dict[str, dict[str, int]]:
    return {"start": _position(doc, start), "end": _position(doc, end)}
