"""OpenAI-compatible `/v1/completions` with streaming (vLLM, llama.cpp, LM Studio, hosted APIs)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx

from infill.backends.base import BackendConfig, BackendError, CompletionRequest
from infill.backends.sse import sse_data

log = logging.getLogger(__name__)

# How much of an error body goes into the log line.
ERROR_BODY_CHARS = 300


class OpenAICompletions:
    """One backend: one pooled keep-alive connection, reused request after request."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        seconds = config.timeout_ms / 1000
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(seconds),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=1),
        )

    @property
    def endpoint(self) -> str:
        return self.config.url.rstrip("/") + "/completions"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream"}
        key = self.config.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _body(self, request: CompletionRequest) -> dict[str, object]:
        body: dict[str, object] = {
            "prompt": request.prompt,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        if self.config.model:
            body["model"] = self.config.model
        if request.stop:
            body["stop"] = list(request.stop)
        return body

    async def stream(self, request: CompletionRequest) -> AsyncIterator[str]:
        """Yield text deltas. Closing this generator early (cancellation, an early stop) exits
        the `client.stream` block before the body is read, which closes the connection."""
        try:
            async with self._client.stream(
                "POST", self.endpoint, json=self._body(request), headers=self._headers()
            ) as response:
                if response.status_code != 200:
                    body = (await response.aread())[:ERROR_BODY_CHARS]
                    raise BackendError(
                        f"HTTP {response.status_code} from {self.endpoint}: "
                        f"{body.decode('utf-8', 'replace').strip()}"
                    )
                done = False
                # After [DONE] the body still ends with its last chunk: reading on to the end
                # (not returning at once) is what lets the connection go back to the pool.
                async for data in sse_data(response.aiter_lines()):
                    if done:
                        continue
                    if data.strip() == "[DONE]":
                        done = True
                        continue
                    text = _delta_text(data, self.endpoint)
                    if text:
                        yield text
        except httpx.TimeoutException as exc:
            raise BackendError(
                f"timed out after {self.config.timeout_ms} ms waiting for {self.endpoint} "
                f"({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise BackendError(f"{type(exc).__name__} talking to {self.endpoint}: {exc}") from None

    async def aclose(self) -> None:
        await self._client.aclose()


def _delta_text(data: str, endpoint: str) -> str:
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        raise BackendError(
            f"malformed event from {endpoint}: {data[:ERROR_BODY_CHARS]!r}"
        ) from None
    if not isinstance(event, dict):
        raise BackendError(f"unexpected event from {endpoint}: {data[:ERROR_BODY_CHARS]!r}")
    if "error" in event:
        raise BackendError(f"error from {endpoint}: {str(event['error'])[:ERROR_BODY_CHARS]}")
    choices = event.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    text = choices[0].get("text")
    return text if isinstance(text, str) else ""
