"""`infill/explain`: what the model would be sent at a position and why, or why no suggestion
may be made there (an error answer)."""

from __future__ import annotations

import logging
from typing import Any

from pygls.exceptions import JsonRpcException

from infill.offline import OfflineIndex
from infill.pipeline import explain
from infill.suggestions import NoSuggestion, Suggestions


class NoSuggestionHere(JsonRpcException):
    """`infill/explain` where no suggestion may be made: a RequestFailed error whose message
    says why (`data.reason`: its code)."""

    CODE = -32803

    def __init__(self, why: NoSuggestion) -> None:
        super().__init__(f"no suggestion at this position: {why.value}", data={"reason": why.code})


class _NoSuggestionTraceback(logging.Filter):
    """pygls logs each error answer with a traceback: not this one, which is no fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], NoSuggestionHere))


logging.getLogger("pygls.protocol.json_rpc").addFilter(_NoSuggestionTraceback())


def explain_position(
    suggestions: Suggestions, offline: OfflineIndex, uri: str, line: int, character: int
) -> dict[str, Any]:
    """The report; raises NoSuggestionHere where no suggestion may be made. The report's
    `noSuggestion` says why the last request at the position got none, and with the offline
    engine (whose prompt is empty) `offline` says what it matched."""
    why = suggestions.why_not(uri, line, character)
    prepared = suggestions.prepare(uri, line, character) if why is None else None
    if prepared is None:
        raise NoSuggestionHere(why or NoSuggestion.DECLINED)
    last = suggestions.last_reason(uri, line, character)
    reason = {"reason": last.code, "message": last.value} if last is not None else None
    report = {**explain(prepared, suggestions.completer.last_prompt_cache), "noSuggestion": reason}
    if suggestions.settings.backend.offline:
        ctx = prepared.ctx
        report["offline"] = offline.explain(prepared.family, ctx.prefix, ctx.suffix, prepared.path)
    return report
