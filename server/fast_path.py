"""A keystroke's two messages, a didChange and an inlineCompletion of the usual shape, handled as
parsed JSON: pygls's typed objects and dispatch took about half of a cached answer's time.
Anything else, or anything odd about these two, goes to pygls and gets its errors there."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from lsprotocol import types as lsp

from infill.protocol import InfillProtocol

Span = tuple[tuple[int, int], tuple[int, int]]  # a change's range as (line, character) pairs
Change = tuple[str, Span | None]  # a change's text, and its range (None: the whole document)

_UINTEGER_MAX = 2**31 - 1


class FastPath:
    """`take(message)` handles the message if it is one of the two, with `apply_changes(uri,
    version, changes)` and `inline_items(uri, position, invoked)` (whose result answers it)."""

    def __init__(
        self,
        protocol: InfillProtocol,
        apply_changes: Callable[[str, int, list[Change]], None],
        inline_items: Callable[[str, lsp.Position, bool], Coroutine[Any, Any, Any]],
    ) -> None:
        self._protocol = protocol
        self._apply_changes = apply_changes
        self._inline_items = inline_items

    def take(self, message: Any) -> bool:
        """True if handled."""
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return False
        if self._protocol.shut_down:
            return False
        method, params = message.get("method"), message.get("params")
        if method == lsp.TEXT_DOCUMENT_DID_CHANGE and "id" not in message:
            change = plain_did_change(params)
            if change is None:
                return False
            self._apply_changes(*change)
            return True
        msg_id = message.get("id")
        if (
            method == lsp.TEXT_DOCUMENT_INLINE_COMPLETION
            and isinstance(msg_id, int | str)
            and not isinstance(msg_id, bool)
        ):
            asked = plain_inline_completion(params)
            if asked is None:
                return False
            self._protocol.answer_when_done(
                msg_id, asyncio.ensure_future(self._inline_items(*asked))
            )
            return True
        return False


def change_span(change: lsp.TextDocumentContentChangeEvent) -> Span | None:
    """A typed content change's range as (line, character) pairs; None for the whole document."""
    if not isinstance(change, lsp.TextDocumentContentChangePartial):
        return None
    r = change.range
    return (r.start.line, r.start.character), (r.end.line, r.end.character)


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


def plain_did_change(params: Any) -> tuple[str, int, list[Change]] | None:
    """(uri, version, changes) of didChange params as JSON, as the typed handler makes them of
    pygls's; None if anything is not as LSP has it (pygls then says what)."""
    if not isinstance(params, dict):
        return None
    document, content_changes = params.get("textDocument"), params.get("contentChanges")
    if not isinstance(document, dict) or not isinstance(content_changes, list):
        return None
    uri, version = document.get("uri"), document.get("version")
    if not isinstance(uri, str) or type(version) is not int or abs(version) > _UINTEGER_MAX:
        return None
    changes: list[Change] = []
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


def plain_inline_completion(params: Any) -> tuple[str, lsp.Position, bool] | None:
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
