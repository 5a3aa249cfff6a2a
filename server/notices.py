"""What the server tells the user and the editor: messages (never with a secret in them), and
`infill/status` (the backend's state) for editors' status bars."""

from __future__ import annotations

import logging

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from infill.backends import without_secrets
from infill.protocol import STATUS

log = logging.getLogger(__name__)

# What the user is told (and the log says) when the circuit breaker opens.
BREAKER_TRIP = "backend unavailable, pausing requests"
_LOG_LEVELS = {lsp.MessageType.Error: logging.ERROR, lsp.MessageType.Warning: logging.WARNING}


class Notices:
    def __init__(self, server: LanguageServer) -> None:
        self._server = server

    def show(self, kind: lsp.MessageType, message: str) -> None:
        """A message for the user, logged too."""
        message = without_secrets(message)
        log.log(_LOG_LEVELS.get(kind, logging.INFO), message)
        params = lsp.ShowMessageParams(type=kind, message=f"infill: {message}")
        self._server.window_show_message(params)

    def warn(self, message: str) -> None:
        self.show(lsp.MessageType.Warning, message)

    def status(self, state: str, message: str) -> None:
        """`infill/status`: "ready", "indexing", "offline" or "backend-error", and why."""
        self._server.protocol.notify(STATUS, {"state": state, "message": message})

    def backend_health(self, healthy: bool, reason: str) -> None:
        """Once when the backend goes down and once when it is back: a message for the user,
        and the status for the editor."""
        if healthy:
            self.show(lsp.MessageType.Info, "the backend answers again")
        else:
            self.warn(f"{BREAKER_TRIP}: {reason}")
        self.status("ready" if healthy else "backend-error", without_secrets(reason))
