"""A circuit breaker: after a few failures in a row, stop asking a dead backend on every
keystroke; try again after a cool-down that grows while it stays dead."""

from __future__ import annotations

import time
from collections.abc import Callable

FAILURES_TO_OPEN = 3
FIRST_COOLDOWN = 2.0  # seconds
MAX_COOLDOWN = 60.0


class CircuitBreaker:
    def __init__(
        self,
        on_change: Callable[[bool, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`on_change(healthy, reason)` is called when the backend goes down or comes back:
        once per change, not once per request."""
        self._on_change = on_change
        self._clock = clock
        self.failures = 0
        self.open_until = 0.0
        self.cooldown = FIRST_COOLDOWN
        self.down = False

    def allow(self) -> bool:
        """Whether to send a request now: always while healthy; once the cool-down is over,
        a single trial while down."""
        if not self.down:
            return True
        now = self._clock()
        if now < self.open_until:
            return False
        self.open_until = now + self.cooldown  # the trial; others wait for its outcome
        return True

    def success(self) -> None:
        self.failures = 0
        self.cooldown = FIRST_COOLDOWN
        if self.down:
            self.down = False
            if self._on_change:
                self._on_change(True, "the backend answers again")

    def unreachable(self, reason: str) -> None:
        """The backend could not be reached at all (the connection opened ahead of the first
        request failed): down now, not after requests have failed as well."""
        if not self.down:
            self.failures = FAILURES_TO_OPEN - 1
            self.failure(reason)

    def failure(self, reason: str, retry_after: float | None = None) -> None:
        self.failures += 1
        if self.down:
            self.cooldown = min(self.cooldown * 2, MAX_COOLDOWN)
            self.open_until = self._clock() + max(self.cooldown, retry_after or 0.0)
            return
        if self.failures >= FAILURES_TO_OPEN or retry_after:
            self.down = True
            self.open_until = self._clock() + max(self.cooldown, retry_after or 0.0)
            if self._on_change:
                self._on_change(False, reason)
