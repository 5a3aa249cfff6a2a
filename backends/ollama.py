"""Ollama: `/api/generate`, streamed as NDJSON. With the template on "auto", Ollama's own model
template places the prefix and `suffix`; with an explicit template, infill's prompt goes `raw`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from infill.backends.base import BackendError, CompletionRequest, StreamEvent
from infill.backends.http import HttpBackend, parse_json

KEEP_ALIVE = "30m"  # keep the model loaded between bursts of typing


class Ollama(HttpBackend):
    warm_path = "/api/version"

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_predict": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            options["stop"] = list(request.stop)
        body: dict[str, Any] = {
            "model": self.config.model,
            "stream": True,
            "keep_alive": KEEP_ALIVE,
            "options": options,
        }
        if self.config.template == "auto":
            body["prompt"] = request.context_prefix or request.prefix
            body["suffix"] = request.suffix
        else:
            body["prompt"] = request.prompt
            body["raw"] = True
        return body

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        async with self.post_stream(
            "/api/generate", self.body(request), request.on_sent
        ) as response:
            url = str(response.url)
            async for line in self.lines(response):
                if not line.strip():
                    continue
                event = parse_json(line, url)
                if "error" in event:
                    raise BackendError(f"error from {url}: {event['error']}")
                text = event.get("response")
                done = bool(event.get("done"))
                usage = {k: v for k, v in event.items() if k.endswith(("_count", "_duration"))}
                yield StreamEvent(
                    text=text if isinstance(text, str) else "",
                    finish_reason=event.get("done_reason", "stop") if done else None,
                    usage=usage if done else None,
                )
                if done:
                    return
