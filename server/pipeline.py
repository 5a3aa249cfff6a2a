"""The completion pipeline: context -> prompt -> streamed model output -> post-processing."""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing
from dataclasses import dataclass

from infill.backends import Backend, BackendConfig, BackendError, CompletionRequest, make_backend
from infill.context import CursorContext
from infill.postprocess import CompletionContext, completion_mode, postprocess, stop_index
from infill.prompts import build_prompt, template_for
from infill.settings import Settings

log = logging.getLogger(__name__)


class NotConfigured(Exception):
    """No backend to ask: the message says which setting to set."""


@dataclass(frozen=True)
class Suggestion:
    text: str  # with the document's line endings


class Completer:
    """Owns the backend client (one per configuration, so its connection pool is reused)."""

    def __init__(self) -> None:
        self._backend: Backend | None = None
        self._config: BackendConfig | None = None
        self._closing: set[asyncio.Task[None]] = set()  # referenced until done

    def backend(self, config: BackendConfig) -> Backend:
        if self._backend is None or config != self._config:
            if self._backend is not None:
                # Close the old client in the background; requests still on it finish first.
                task = asyncio.get_running_loop().create_task(self._backend.aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            self._backend = make_backend(config)
            self._config = config
        return self._backend

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None

    async def complete(self, ctx: CursorContext, settings: Settings) -> Suggestion | None:
        mode = completion_mode(ctx.line_before, ctx.line_after)
        if mode is None:
            return None
        config = settings.backend
        if not config.url:
            raise NotConfigured(
                "no backend configured: set backend.url to an OpenAI-compatible server "
                "(such as http://127.0.0.1:8080/v1 for llama.cpp's llama-server)"
            )
        template = template_for(config.template, config.model)
        prompt = build_prompt(ctx.prefix, ctx.suffix, template, settings.prompt.max_tokens)
        request = CompletionRequest(
            prompt=prompt.text,
            stop=prompt.stop,
            max_tokens=config.max_tokens,
            temperature=config.temperature,
        )
        text = ""
        try:
            async with asyncio.timeout(config.timeout_ms / 1000):
                async with aclosing(self.backend(config).stream(request)) as deltas:
                    async for delta in deltas:
                        text += delta
                        cut = stop_index(text, mode, prompt.stop)
                        if cut is not None:
                            text = text[:cut]
                            break  # leaving the block closes the HTTP stream now
        except BackendError as exc:
            log.warning("backend: %s", exc)
            return None
        except TimeoutError:
            log.warning("backend: no complete answer within %d ms", config.timeout_ms)
            return None
        shown = postprocess(
            text,
            CompletionContext(
                mode=mode,
                line_before=ctx.line_before,
                line_after=ctx.line_after,
                suffix=ctx.suffix,
            ),
        )
        if shown is None:
            return None
        return Suggestion(text=shown.replace("\n", ctx.line_ending))
