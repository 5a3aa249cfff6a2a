"""Work per document that waits for the user to pause."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Debouncer:
    """Calls `action(key)` once `delay` seconds pass without another `later(key)`."""

    def __init__(self, action: Callable[[str], None]) -> None:
        self._action = action
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def later(self, key: str, delay: float) -> None:
        if (timer := self._timers.pop(key, None)) is not None:
            timer.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._run, key)

    def flush(self, key: str) -> None:
        """Run a pending call for `key` now."""
        if (timer := self._timers.pop(key, None)) is not None:
            timer.cancel()
            self._action(key)

    def _run(self, key: str) -> None:
        del self._timers[key]
        self._action(key)
