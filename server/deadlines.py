"""Slow is not dead: a backend is judged on its first token, an answer on its time.

A stream has two deadlines. Until its first token it has `timeout_ms`: a server that says
nothing by then is failing, and the circuit breaker counts it; one that says how far it has
read the prompt (llama.cpp) has until it should be done reading, and running out of time
while reading is no failure either. Once it streams, the answer has
`answer_ms` more: a model on a CPU writing a long answer is slow, not broken, and when the
time is up the lines it completed are shown rather than thrown away.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from infill.backends import StreamEvent


@dataclass
class Deadlines:
    """The two deadlines of one stream, moved along as it goes (see `streamed`)."""

    first_token_ms: int
    answer_ms: int
    started: float = 0.0  # time.perf_counter() when the request went out
    first_token: float | None = None  # when the first token came
    reading: bool = False  # the server said it was reading the prompt

    def scope(self) -> asyncio.Timeout:
        """The timeout to run the stream in: the first token's deadline, until it comes."""
        self.started = time.perf_counter()
        return asyncio.timeout(self.first_token_ms / 1000)

    def streamed(self, scope: asyncio.Timeout, event: StreamEvent) -> None:
        """A piece of the answer came: the first one moves the deadline to the answer's. Before
        it, word that the server is reading the prompt moves the first token's deadline to
        when it should be done reading (`PromptProgress.seconds_left`), `first_token_ms` from
        then at least: a long prompt on a CPU is slow, not dead, and a request given up while
        its prompt is read throws that work away."""
        if self.first_token is not None:
            return
        now = asyncio.get_running_loop().time()
        if event.text:
            self.first_token = time.perf_counter()
            scope.reschedule(now + self.answer_ms / 1000)
        elif event.reading is not None:
            self.reading = True
            scope.reschedule(now + max(self.first_token_ms / 1000, event.reading.seconds_left()))

    @property
    def answered(self) -> bool:
        """Whether the backend sent a token: after that, running out of time is no failure."""
        return self.first_token is not None

    def first_token_ms_taken(self) -> float | None:
        if self.first_token is None:
            return None
        return (self.first_token - self.started) * 1000


def complete_lines(text: str) -> str:
    """The lines of a cut-short answer that the model finished (each with its line end)."""
    return text[: text.rfind("\n") + 1]
