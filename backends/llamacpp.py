"""llama.cpp's `llama-server`, natively: `/infill`, where the server lays out the prompt with
the model's own FIM tokens and the other files (`input_extra`), reusing its prompt cache; or
`/completion` with infill's prompt when a template is chosen explicitly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from infill.backends.base import BackendError, CompletionRequest, StreamEvent
from infill.backends.http import HttpBackend, parse_json
from infill.backends.sse import sse_data


class LlamaCpp(HttpBackend):
    warm_path = "/health"

    @property
    def infill(self) -> bool:
        return self.config.template == "auto"

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "n_predict": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "cache_prompt": True,  # the next keystroke's prompt mostly repeats this one
            # The server stops generating by itself once the answer is too late to show.
            "t_max_predict_ms": self.config.timeout_ms,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if self.infill:
            # Lines of the answer indented less than the cursor's line end the generation.
            body["n_indent"] = request.indent
            body["input_prefix"] = request.prefix
            body["input_suffix"] = request.suffix
            body["input_extra"] = [{"filename": path, "text": text} for path, text in request.extra]
            body["prompt"] = ""
        else:
            body["prompt"] = request.prompt
        return body

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        path = "/infill" if self.infill else "/completion"
        async with self.post_stream(path, self.body(request)) as response:
            url = str(response.url)
            async for data in sse_data(self.lines(response)):
                event = parse_json(data, url)
                if "error" in event:
                    raise BackendError(f"error from {url}: {event['error']}")
                text = event.get("content")
                stopped = bool(event.get("stop"))
                yield StreamEvent(
                    text=text if isinstance(text, str) else "",
                    finish_reason=event.get("stop_type") or ("stop" if stopped else None),
                    usage=event.get("timings") if stopped else None,
                )
                if stopped:
                    return
