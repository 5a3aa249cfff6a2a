"""OpenAI-compatible servers (vLLM, llama.cpp, LM Studio, hosted APIs): `/completions` with the
FIM prompt, or `/chat/completions` for chat models; both streamed as Server-Sent Events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from infill.backends.base import BackendError, CompletionRequest, StreamEvent
from infill.backends.http import ERROR_BODY_CHARS, HttpBackend, parse_json
from infill.backends.sse import sse_data


class OpenAICompatible(HttpBackend):
    warm_path = "/models"

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        if self.config.uses_chat:
            system = [{"role": "system", "content": request.system}] if request.system else []
            body["messages"] = [*system, *request.messages]
        else:
            body["prompt"] = request.prompt
        if self.config.model:
            body["model"] = self.config.model
        if request.stop:
            body["stop"] = list(request.stop)
        return body

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Closing this generator early (cancellation, an early stop) leaves the `async with`
        before the body is read, which closes the connection."""
        path = "/chat/completions" if self.config.uses_chat else "/completions"
        async with self.post_stream(path, self.body(request)) as response:
            done = False
            # After [DONE] the body still ends with its last chunk: reading on to the end
            # (not returning at once) is what lets the connection go back to the pool.
            async for data in sse_data(self.lines(response)):
                if done:
                    continue
                if data.strip() == "[DONE]":
                    done = True
                    continue
                yield openai_event(parse_json(data, str(response.url)), str(response.url))


def openai_event(event: dict[str, Any], url: str) -> StreamEvent:
    """A chunk in OpenAI's shape (a completion's `text` or a chat chunk's `delta.content`);
    Mistral's FIM endpoint streams the same chunks."""
    if "error" in event or "detail" in event:
        error = str(event.get("error", event.get("detail")))[:ERROR_BODY_CHARS]
        raise BackendError(f"error from {url}: {error}")
    choices = event.get("choices") or []
    choice = choices[0] if choices and isinstance(choices[0], dict) else {}
    delta = choice.get("delta")
    delta = delta if isinstance(delta, dict) else {}
    text = choice.get("text", delta.get("content"))
    usage = event.get("usage")
    return StreamEvent(
        text=text if isinstance(text, str) else "",
        finish_reason=choice.get("finish_reason"),
        usage=usage if isinstance(usage, dict) else None,
    )
