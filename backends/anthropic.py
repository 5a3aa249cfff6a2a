"""Anthropic's Messages API, streamed as Server-Sent Events, with infill's chat prompt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from infill.backends.base import BackendError, CompletionRequest, StreamEvent
from infill.backends.http import HttpBackend, checked_key, parse_json
from infill.backends.sse import sse_data

API_VERSION = "2023-06-01"
DEFAULT_MODEL = "claude-3-5-haiku-latest"


class Anthropic(HttpBackend):
    def headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        key = checked_key(self.config)
        if key:
            headers["x-api-key"] = key
        return headers

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model or DEFAULT_MODEL,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "messages": cached_messages(request),
            "stream": True,
        }
        if request.system:
            body["system"] = request.system
        stops = [s for s in request.stop if s.strip()]  # the API refuses blank sequences
        if stops:
            body["stop_sequences"] = stops
        return body

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        usage: dict[str, Any] = {}  # the prompt's tokens come first, the answer's last
        async with self.post_stream(
            "/v1/messages", self.body(request), request.on_sent
        ) as response:
            url = str(response.url)
            async for data in sse_data(self.lines(response)):
                event = parse_json(data, url)
                kind = event.get("type")
                if kind == "error":
                    error = event.get("error") or {}
                    raise BackendError(
                        f"error from {url}: {error.get('type')}: {error.get('message')}"
                    )
                if kind == "message_start":
                    started = (event.get("message") or {}).get("usage")
                    usage.update(started if isinstance(started, dict) else {})
                elif kind == "content_block_delta":
                    delta = event.get("delta") or {}
                    if delta.get("type") == "text_delta":
                        yield StreamEvent(text=str(delta.get("text", "")))
                elif kind == "message_delta":
                    delta = event.get("delta") or {}
                    ended = event.get("usage")
                    usage.update(ended if isinstance(ended, dict) else {})
                    yield StreamEvent(finish_reason=delta.get("stop_reason"), usage=usage)
                elif kind == "message_stop":
                    return


def cached_messages(request: CompletionRequest) -> list[dict[str, Any]]:
    """The messages, the other code at the start of the first one marked as a prompt cache
    breakpoint: the next keystroke's request reads it (and the system prompt) from the cache."""
    messages: list[dict[str, Any]] = list(request.messages)
    if not messages or request.stable_chars <= 0:
        return messages
    content = messages[0]["content"]
    stable, rest = content[: request.stable_chars], content[request.stable_chars :]
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": stable, "cache_control": {"type": "ephemeral"}}
    ]
    if rest:
        blocks.append({"type": "text", "text": rest})
    messages[0] = {**messages[0], "content": blocks}
    return messages
