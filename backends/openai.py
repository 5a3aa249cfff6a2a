"""OpenAI-compatible servers (vLLM, llama.cpp, LM Studio, hosted APIs): `/completions` with the
FIM prompt, or `/chat/completions` for chat models; both streamed as Server-Sent Events."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx

from infill.backends.base import (
    BackendConfig,
    BackendError,
    CompletionRequest,
    PromptProgress,
    StreamEvent,
)
from infill.backends.http import ERROR_BODY_CHARS, HttpBackend, closing, parse_json
from infill.backends.llamacpp import LlamaServerFields
from infill.backends.sse import sse_data

log = logging.getLogger(__name__)

# Several candidates sampled at temperature 0 are one text n times (greedy decoding), so they
# are sampled at least this hot. The Codex paper (Chen et al., 2021, "Evaluating Large Language
# Models Trained on Code") found the best temperature rising with the number of samples: 0.2
# for one, 0.8 for a hundred; a handful sits in between.
CANDIDATES_MIN_TEMPERATURE = 0.6
# How servers that do not take `n` > 1 refuse it: llama-server answers 400 ("Field 'n': Value
# must be between 1 <= value <= 1"), servers validating with pydantic 422.
REFUSED = (400, 422)


class OpenAICompatible(HttpBackend):
    warm_path = "/models"
    takes_n = True  # until the server refuses it
    llamacpp = False  # the server is llama-server (its /models says so): it takes its own fields

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self.server = LlamaServerFields(config)  # used once the server is known as llama-server

    @property
    def reports_reading(self) -> bool:
        return self.llamacpp

    async def _warm(self) -> str | None:
        """Open the connection and read /models; llama-server is then asked what it keeps (its
        /props, beside its OpenAI API's /v1)."""
        reason = await super()._warm()
        if reason is None and self.llamacpp:
            root = self.config.base_url.removesuffix("/v1")
            self.limits = await self.server.limits(self, root)
        return reason

    def warmed(self, status: int, body: bytes) -> None:
        """llama-server lists its models as `owned_by: llamacpp`."""
        try:
            models = json.loads(body)["data"] if status == 200 else []
            self.llamacpp = any(model.get("owned_by") == "llamacpp" for model in models)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.llamacpp = False

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        temperature = request.temperature
        if request.n > 1:
            temperature = max(temperature, CANDIDATES_MIN_TEMPERATURE)
        max_tokens = request.max_tokens
        if self.llamacpp:
            max_tokens = self.server.predict_tokens(max_tokens)
        body: dict[str, Any] = {
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
            # The last chunk then says how many prompt tokens the server had cached.
            "stream_options": {"include_usage": True},
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
        if request.n > 1:
            body["n"] = request.n  # the candidates stream interleaved, told apart by `index`
        if self.llamacpp:
            # What the llamacpp kind asks for (see there): the answer's deadline kept by the
            # server, events while the prompt is read, one slot, the cache's reuse.
            body.update(self.server.fields())
        return body

    async def prime(self, request: CompletionRequest) -> None:
        """llama-server is given the prompt to compute into its cache, as the llamacpp kind
        does (its OpenAI API writes at least one token); other servers cache by themselves."""
        await self.warm_up_done()  # which says whether the server is llama-server
        if not self.llamacpp or self.config.uses_chat:
            return
        body = {**self.body(request), "max_tokens": 1, "stream": False}
        del body["stream_options"]
        await self.post_for_the_cache("/completions", body)

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """Closing this generator early (cancellation, an early stop) closes the response
        before its body is read, which closes the connection."""
        path = "/chat/completions" if self.config.uses_chat else "/completions"
        candidates: set[int] = set()  # the indexes answered
        response = await self._post(path, request)
        try:
            url = str(response.url)
            done = False
            reported = False  # the prompt cache's part (llama-server's timings)
            # After [DONE] the body still ends with its last chunk: reading on to the end
            # (not returning at once) is what lets the connection go back to the pool.
            async for data in sse_data(self.lines(response)):
                if done:
                    continue
                if data.strip() == "[DONE]":
                    done = True
                    continue
                chunk = parse_json(data, url)
                events = openai_events(chunk, url)
                if self.llamacpp:
                    events = self._told_by_llama_server(chunk, events, reported)
                    reported = reported or any(event.usage for event in events)
                for event in events:
                    candidates.add(event.index)
                    yield event
        finally:
            closing(response)  # see post_stream
        if request.n > 1 and self.takes_n and candidates == {0}:
            # A server that ignores `n` answers one candidate, and the caller, waiting for the
            # others, read it to its end: ask for one from now on, and stop early again.
            self.takes_n = False
            log.info("%s answered 1 of %d candidates; asking for one from now on", url, request.n)

    def _told_by_llama_server(
        self, chunk: dict[str, Any], events: list[StreamEvent], reported: bool
    ) -> list[StreamEvent]:
        """llama-server's timings, in every chunk (`timings_per_token`): its speed, and the
        prompt cache's part from the first token on, told once in place of the usage at the
        stream's end, which a stream closed at its first complete line never reads."""
        reading = any(event.reading is not None for event in events)
        usage = self.server.cache_report(chunk.get("timings"), reading, reported)
        return [
            replace(event, usage=usage if number == 0 else None)
            for number, event in enumerate(events)
        ]

    async def _post(self, path: str, request: CompletionRequest) -> httpx.Response:
        """The streaming response. A server that refuses `n` > 1 is asked for one candidate,
        now and from then on."""
        await self.warm_up_done()  # the body depends on what it learns of the server
        try:
            return await self._open(path, self.body(request), request.on_sent)
        except BackendError as exc:
            if exc.status not in REFUSED or request.n == 1:
                raise
            refusal = str(exc)
        response = await self._open(path, self.body(replace(request, n=1)), request.on_sent)
        self.takes_n = False
        log.info("%s; asking for one candidate from now on", refusal)
        return response


def openai_events(chunk: dict[str, Any], url: str) -> list[StreamEvent]:
    """A chunk in OpenAI's shape, one event per choice in it: a completion's `text` or a chat
    chunk's `delta.content`. With `n` > 1 the choices of the candidates interleave, each with
    its `index`, one or several per chunk; a last chunk may carry no choice, only the usage.
    Mistral's FIM endpoint streams the same chunks."""
    if "error" in chunk or "detail" in chunk:
        error = str(chunk.get("error", chunk.get("detail")))[:ERROR_BODY_CHARS]
        raise BackendError(f"error from {url}: {error}")
    usage = chunk.get("usage")
    usage = usage if isinstance(usage, dict) else None
    choices = [c for c in chunk.get("choices") or [] if isinstance(c, dict)]
    if not choices:
        return [StreamEvent(usage=usage)]
    events = []
    for choice in choices:
        delta = choice.get("delta")
        delta = delta if isinstance(delta, dict) else {}
        text = choice.get("text", delta.get("content"))
        index = choice.get("index")
        events.append(
            StreamEvent(
                text=text if isinstance(text, str) else "",
                finish_reason=choice.get("finish_reason"),
                usage=usage,
                index=index if isinstance(index, int) and index >= 0 else 0,
                reading=PromptProgress.of(chunk),
            )
        )
    return events
