"""Next edits from a model: the user's recent edits and the excerpt around the cursor in the
model's prompt format (prompts/next_edit.py), sent to the server of `next_edit.url` as a plain
completion or as chat messages, as the format asks (a chat-only API, Anthropic's, gets a
completion prompt as its one message); the region it rewrites becomes the edits it makes
(postprocess/next_edit.py). Nothing is proposed when the answer is cut short, does not parse,
undoes the user's last change, or comes after `next_edit.timeout_ms`."""

from __future__ import annotations

import asyncio
import logging
from contextlib import aclosing

from infill.backends import KINDS, BackendConfig, BackendError, CompletionRequest
from infill.backends.http import HttpBackend
from infill.context.credentials import redact_credentials
from infill.context.edit_history import change_diff
from infill.context.engine import ContextEngine, Tracked
from infill.context.next_edit import NextEdit
from infill.postprocess.next_edit import LastChange, acceptable, region_edits
from infill.prompts.next_edit import FORMATS, EditEvent, excerpt_around
from infill.settings import NextEditSettings

log = logging.getLogger(__name__)


class EditModel:
    """The next-edit model's server, asked when the model-free rules have nothing."""

    def __init__(self) -> None:
        self._backend: HttpBackend | None = None
        self._background: set[asyncio.Future[None]] = set()

    def backend(self, settings: NextEditSettings) -> HttpBackend:
        config = BackendConfig(
            kind=settings.kind,
            url=settings.url,
            model=settings.model,
            # A completion prompt is sent as written (any FIM family); "chat": as messages.
            template="chat" if FORMATS[settings.format].chat else "qwen",
            api_key_env=settings.api_key_env,
            max_tokens=settings.max_tokens,
            timeout_ms=settings.timeout_ms,
            answer_ms=settings.timeout_ms,
        )
        if self._backend is None or self._backend.config != config:
            if self._backend is not None:
                closing = asyncio.ensure_future(self._backend.aclose())
                self._background.add(closing)
                closing.add_done_callback(self._background.discard)
            self._backend = KINDS[settings.kind](config)
        return self._backend

    async def propose(
        self, settings: NextEditSettings, engine: ContextEngine, tracked: Tracked, cursor: int
    ) -> list[NextEdit]:
        """The model's edits around `cursor`, the nearest after it first; none on any doubt."""
        form = FORMATS[settings.format]
        text = tracked.doc.text
        excerpt = excerpt_around(tracked.path, text, cursor, form.editable, form.shown)
        context = text[excerpt.context[0] : excerpt.context[1]]
        if tracked.private or redact_credentials(context) != context:
            return []  # a secret in what would be sent, or in the region to rewrite
        events = [EditEvent(c.path, redact_credentials(c.diff)) for c in engine.history.changes]
        change = tracked.changes.change
        if change is not None:
            events.append(EditEvent(tracked.path, redact_credentials(change_diff(change, text))))
        prompt = form.prompt(events, excerpt)
        backend = self.backend(settings)
        chat = backend.config.uses_chat
        request = CompletionRequest(
            prompt="" if chat else prompt,
            system=form.system,
            messages=({"role": "user", "content": prompt},) if chat else (),
            stop=form.stop,
            max_tokens=settings.max_tokens,
            temperature=0.0,
        )
        pieces: list[str] = []
        finish: str | None = None
        try:
            async with (
                asyncio.timeout(settings.timeout_ms / 1000),
                aclosing(backend.stream(request)) as stream,
            ):
                async for event in stream:
                    pieces.append(event.text)
                    finish = event.finish_reason or finish
        except (BackendError, TimeoutError) as exc:
            log.info("next-edit model: %s", exc or f"no answer within {settings.timeout_ms} ms")
            return []
        rewrite = form.rewrite("".join(pieces))
        if rewrite is None or finish in ("length", "max_tokens"):
            log.info("next-edit model: an answer cut short or without its region")
            return []
        edits = region_edits(text, excerpt.editable, rewrite)
        last = LastChange.of(change)
        if not acceptable(text, edits, tracked.language, last):
            return []
        ordered = sorted(edits, key=lambda e: (e.start < cursor, e.start))
        return [NextEdit(edit, edit.start + len(edit.new_text), "model") for edit in ordered]

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
        if self._background:
            await asyncio.wait(self._background)
