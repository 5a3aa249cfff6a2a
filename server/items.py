"""Suggestions as the LSP shows them: inline completion items (ghost text) and, for clients
without inline completion, an item of the completion menu."""

from __future__ import annotations

import re
from typing import Any

from lsprotocol import types as lsp

from infill.context.document import code_units
from infill.reuse import Suggestion

ACCEPTED = "infill.accepted"  # the command an accepted inline item runs
_WORD_BEFORE = re.compile(r"[\w$]*$")


def inline_items(
    suggestion: Suggestion, line: int, character: int, offer_ids: list[int], encoding: str
) -> dict[str, Any]:
    """An InlineCompletionList, as JSON: an item per text, each running `ACCEPTED` with its
    offer id when accepted."""
    at = {"line": line, "character": character}
    return {
        "items": [
            {
                "insertText": text,
                "range": {
                    "start": at,
                    "end": {
                        "line": line,
                        "character": character + code_units(suggestion.replaced(text), encoding),
                    },
                },
                "command": {"title": "infill: accepted", "command": ACCEPTED, "arguments": [id_]},
            }
            for text, id_ in zip(suggestion.texts, offer_ids, strict=True)
        ]
    }


def completion_list(
    suggestion: Suggestion, position: lsp.Position, encoding: str
) -> lsp.CompletionList:
    """The suggestion's first text as the completion menu's item."""
    text = suggestion.texts[0]
    line_before = suggestion.prefix[suggestion.prefix.rfind("\n") + 1 :]
    # The item replaces the word being typed, so the client's filtering (which compares the
    # item with that word) keeps it; its text is the word plus the suggestion.
    word = _WORD_BEFORE.search(line_before)
    typed = word.group() if word else ""
    start = lsp.Position(
        line=position.line, character=position.character - code_units(typed, encoding)
    )
    new_text = typed + text
    end = lsp.Position(
        line=position.line,
        character=position.character + code_units(suggestion.replaced(text), encoding),
    )
    label = new_text.strip().split("\n", 1)[0]
    item = lsp.CompletionItem(
        label=label if len(label) <= 80 else label[:79] + "…",
        kind=lsp.CompletionItemKind.Text,
        detail="infill",
        documentation=lsp.MarkupContent(kind=lsp.MarkupKind.PlainText, value=new_text)
        if "\n" in text
        else None,
        filter_text=new_text,
        sort_text="0",
        insert_text_format=lsp.InsertTextFormat.PlainText,
        text_edit=lsp.TextEdit(range=lsp.Range(start=start, end=end), new_text=new_text),
    )
    # Incomplete: the suggestion depends on every keystroke, so the client asks again.
    return lsp.CompletionList(is_incomplete=True, items=[item])
