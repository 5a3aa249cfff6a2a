"""Mistral's Codestral FIM endpoint: `/v1/fim/completions` with `prompt` (the prefix) and
`suffix`, streamed as Server-Sent Events shaped like chat completion chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from infill.backends.base import CompletionRequest, StreamEvent
from infill.backends.http import HttpBackend, parse_json
from infill.backends.openai import openai_events
from infill.backends.sse import sse_data

DEFAULT_MODEL = "codestral-latest"


class Mistral(HttpBackend):
    warm_path = "/models"

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model or DEFAULT_MODEL,
            "prompt": request.context_prefix or request.prefix,
            "suffix": request.suffix,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        return body

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        async with self.post_stream(
            "/fim/completions", self.body(request), request.on_sent
        ) as response:
            url = str(response.url)
            done = False
            async for data in sse_data(self.lines(response)):
                if done:
                    continue  # read to the end so the connection can be reused
                if data.strip() == "[DONE]":
                    done = True
                    continue
                for event in openai_events(parse_json(data, url), url):
                    yield event
