"""llama.cpp's `llama-server`, natively: `/infill`, where the server lays out the prompt with
the model's own FIM tokens and the other files (`input_extra`), reusing its prompt cache; or
`/completion` with infill's prompt when a template is chosen explicitly."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx

from infill.backends.base import (
    BackendConfig,
    BackendError,
    CompletionRequest,
    PromptProgress,
    ServerLimits,
    StreamEvent,
)
from infill.backends.http import HttpBackend, parse_json
from infill.backends.sse import sse_data

log = logging.getLogger(__name__)

# The shortest run of tokens the server moves in its cache rather than computing again, where
# a request's prompt shifts (llama.vim's and llama.cpp's recommended --cache-reuse).
CACHE_REUSE_TOKENS = 256
# Asked of a server whose speed is not measured yet, and never fewer: the first line or two.
MIN_PREDICT = 16
# Tokens written before the speed reported is taken as the server's: one is a single step.
MEASURED_AFTER = 2


class LlamaServerFields:
    """What llama-server takes beyond a completion request, and the generation speed it
    reports, for both kinds that talk to it: its own API and its OpenAI-compatible one."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.tokens_per_second = 0.0  # as the server measured its last answer; 0: not yet

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            # The next keystroke's prompt repeats this one up to the line being typed; a
            # part that moved (another file's code chosen again) is moved in the cache.
            "cache_prompt": True,
            "n_cache_reuse": CACHE_REUSE_TOKENS,
            # Once a line is complete, the server stops at the answer's deadline by itself.
            "t_max_predict_ms": self.config.answer_ms,
            # Events while the prompt is read: a long one on a CPU takes seconds (~330 tokens/s
            # for a 0.5B model on 2 cores) and is no sign of a dead server.
            "return_progress": True,
            # The speed and the cache's part in every event: a stream is mostly closed once its
            # first line is complete, before the last event, which alone would have them.
            "timings_per_token": True,
        }
        if self.config.slot >= 0:
            fields["id_slot"] = self.config.slot
        return fields

    def predict_tokens(self, max_tokens: int) -> int:
        """As many tokens as the server can write within the answer's time, at the speed it
        measured last; `max_tokens` at most."""
        if self.tokens_per_second <= 0:
            return max_tokens
        can = math.ceil(self.tokens_per_second * self.config.answer_ms / 1000)
        return max(MIN_PREDICT, min(max_tokens, can))

    def measured(self, timings: object) -> None:
        """An answer's `timings`: its generation speed, when it wrote enough to tell."""
        if not isinstance(timings, dict):
            return
        speed = timings.get("predicted_per_second")
        written = timings.get("predicted_n", 0)
        if (
            isinstance(speed, int | float)
            and isinstance(written, int)
            and written >= MEASURED_AFTER
        ):
            self.tokens_per_second = float(speed)

    def cache_report(self, timings: object, reading: bool, reported: bool) -> dict[str, Any] | None:
        """An event's `timings` (`timings_per_token`): the speed kept; returned as the prompt
        cache's part by the first event past the prompt's reading (`reported`: one was), since
        a stream is mostly closed before its last event."""
        self.measured(timings)
        return timings if isinstance(timings, dict) and not reading and not reported else None

    async def limits(self, backend: HttpBackend, root: str) -> ServerLimits | None:
        """What the server at `root` keeps (its context, from /props); None if it does not
        say."""
        url = f"{root}/props"
        try:
            async with asyncio.timeout(self.config.timeout_ms / 1000):
                status, body = await backend.get(url)
            props = json.loads(body) if status == 200 else {}
            n_ctx = props["default_generation_settings"]["n_ctx"]
        except (
            httpx.HTTPError,
            BackendError,
            TimeoutError,
            ValueError,
            KeyError,
            TypeError,
        ) as exc:
            log.info("no answer from %s (%s): the server's context is not known", url, exc)
            return None
        return ServerLimits(context_tokens=n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None


class LlamaCpp(HttpBackend):
    warm_path = "/health"

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.server = LlamaServerFields(config)

    @property
    def reports_reading(self) -> bool:
        return True  # asked for with `return_progress`

    @property
    def infill(self) -> bool:
        return self.config.template == "auto"

    async def _warm(self) -> str | None:
        """Open the connection, then read what the server keeps (its context) from /props."""
        reason = await super()._warm()
        if reason is None:
            self.limits = await self.server.limits(self, self.config.base_url)
        return reason

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "n_predict": self.server.predict_tokens(request.max_tokens),
            "temperature": request.temperature,
            "stream": True,
            **self.server.fields(),
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if self.infill:
            # Lines of the answer indented less than the cursor's line end the generation.
            body["n_indent"] = request.indent
            # The line being typed goes in `prompt`, after the prefix: the prefix's tokens,
            # up to that line, stay the same from keystroke to keystroke.
            line_start = request.prefix.rfind("\n") + 1
            body["input_prefix"] = request.prefix[:line_start]
            body["prompt"] = request.prefix[line_start:]
            body["input_suffix"] = request.suffix
            body["input_extra"] = [{"filename": path, "text": text} for path, text in request.extra]
        else:
            body["prompt"] = request.prompt
        return body

    @property
    def path(self) -> str:
        return "/infill" if self.infill else "/completion"

    async def prime(self, request: CompletionRequest) -> None:
        """The request's prompt with nothing to generate (as llama.vim fills its cache with
        other files' code while the user is idle), answered with no fields."""
        body = {**self.body(request), "n_predict": 0, "stream": False, "response_fields": [""]}
        await self.post_for_the_cache(self.path, body)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        path = self.path
        async with self.post_stream(path, self.body(request), request.on_sent) as response:
            url = str(response.url)
            reported = False
            async for data in sse_data(self.lines(response)):
                event = parse_json(data, url)
                if "error" in event:
                    raise BackendError(f"error from {url}: {event['error']}")
                text = event.get("content")
                stopped = bool(event.get("stop"))
                reading = PromptProgress.of(event)
                usage = self.server.cache_report(
                    event.get("timings"), reading is not None, reported
                )
                reported = reported or usage is not None
                yield StreamEvent(
                    text=text if isinstance(text, str) else "",
                    finish_reason=event.get("stop_type") or ("stop" if stopped else None),
                    usage=usage,
                    reading=reading,
                )
                if stopped:
                    return
