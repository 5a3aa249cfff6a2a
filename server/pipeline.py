"""The completion pipeline: context -> prompt -> streamed model output -> post-processing.

`prepare` is everything before the model (synchronous, bounded by the context time budget);
`Completer.complete` streams and post-processes. `infill/explain` shows what `prepare` made.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from infill.backends import (
    Backend,
    BackendConfig,
    BackendError,
    CircuitBreaker,
    CompletionRequest,
    NgramIndex,
    PromptCache,
    ServerLimits,
    StreamEvent,
    make_backend,
    prompt_cache_of,
)
from infill.context import CursorContext, cursor_context
from infill.context.credentials import redact_credentials, typing_credential
from infill.context.cursor import normalize_newlines
from infill.context.engine import ContextEngine, Gathered
from infill.context.snippets import Snippet
from infill.deadlines import Deadlines, complete_lines
from infill.postprocess import (
    CompletionContext,
    Cutter,
    Mode,
    completion_mode,
    compute_document_parts,
    is_prose,
    rank,
)
from infill.prompts import (
    ChatPrompt,
    Counter,
    FimTemplate,
    Prompt,
    build_prompt,
    comment_for,
    count_tokens,
    counter_for,
    prompt_budget,
    restore,
    template_for,
    widest_window,
)
from infill.prompts.budget import count_each_line
from infill.prompts.chat import build_chat_prompt, extract_completion
from infill.prompts.layout import COUNT_MARGIN, NO_LIMITS, StableContext, infill_room
from infill.prompts.templates import DEFAULT_TEMPLATE, commented
from infill.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")


# More characters than a token ever has (runs of blanks aside): an answer longer than
# max_tokens of these comes from a server that does not stop, and is not read to its end.
MAX_CHARS_PER_TOKEN = 64


class NotConfigured(Exception):
    """No backend to ask: the message says which setting to set."""


@dataclass
class Prepared:
    """A request made ready for the model."""

    ctx: CursorContext
    mode: Mode
    template: FimTemplate
    prompt: Prompt
    gathered: Gathered
    timings: dict[str, float] = field(default_factory=dict)  # ms per stage
    chat: ChatPrompt | None = None  # for chat APIs
    comment: str = "#"  # the language's line comment
    language: str | None = None  # tree-sitter grammar name
    family: str = "text"  # its language family (context.syntax.language_family)
    path: str = ""  # the document's, relative to the workspace root when inside it


_failed_tokenizers: set[str] = set()
WARM_LINES = 4000  # of a document just opened; a prompt rarely holds more than a few hundred


def _counter(tokenizer_file: str) -> Counter:
    """The model's own tokenizer if set and loadable, else cl100k (with one log line)."""
    try:
        return counter_for(tokenizer_file)
    except Exception as exc:
        if tokenizer_file not in _failed_tokenizers:
            _failed_tokenizers.add(tokenizer_file)
            log.warning("cannot load tokenizer %s (%s); counting with cl100k", tokenizer_file, exc)
        return count_tokens


def count_document_lines(text: str, settings: Settings) -> None:
    """Count a document's lines ahead of its first request (in a worker thread: tiktoken
    releases the GIL). Most of what the first prompt's budget costs is counting them."""
    count_each_line(normalize_newlines(text), _counter(settings.backend.tokenizer), WARM_LINES)


def prepare(
    engine: ContextEngine,
    uri: str,
    offset: int,
    settings: Settings,
    stable: StableContext[Snippet] | None = None,
    limits: ServerLimits | None = None,
) -> Prepared | None:
    """The cursor's context and the prompt for the model. None where no suggestion can be made:
    a private file, code right of the cursor, a secret being typed.

    With `stable`, the other code is the same from request to request until it is due to be
    chosen again, and the prefix window starts at a coarse step (see prompts/layout.py);
    `limits` is what the server said about itself."""
    started = time.perf_counter()
    tracked = engine.get(uri)
    if tracked is None or tracked.private:
        return None
    doc = tracked.doc
    ctx = cursor_context(doc, offset)
    mode = completion_mode(ctx.line_before, ctx.line_after, is_prose(ctx.language_id))
    if mode is None or typing_credential(ctx.line_before):
        return None  # (a secret half typed would be sent, and not recognized as one)
    config = settings.backend
    comment = comment_for(tracked.language)
    chat: ChatPrompt | None = None
    if config.offline:
        # The offline engine reads the code around the cursor itself: no snippets, no prompt.
        template, gathered = DEFAULT_TEMPLATE, Gathered([])
        prompt = Prompt("", (), ctx.prefix, ctx.suffix)
        timings = {"window": (time.perf_counter() - started) * 1000}
    else:
        if tracked.tree is not None:
            # The definitions need the tree reparsed after the last keystrokes: that runs on
            # the other core while the window and the similar snippets are worked out here.
            tracked.tree.parse_ahead()
        # Chat APIs get the chat prompt; the FIM prompt built alongside (for explain) needs a
        # template, not a warning about a chat model's name.
        template = (
            DEFAULT_TEMPLATE if config.uses_chat else template_for(config.template, config.model)
        )
        context_tokens = config.context_tokens or (limits.context_tokens if limits else 0)
        if not config.tokenizer:  # counted with cl100k, not the model's own tokenizer
            context_tokens = int(context_tokens * COUNT_MARGIN)
        budget = prompt_budget(settings.prompt.max_tokens, context_tokens, config.max_tokens)
        count = _counter(config.tokenizer)
        room = NO_LIMITS
        if config.kind == "llamacpp" and config.template == "auto":
            room = infill_room(config.batch_tokens, limits.context_tokens if limits else None)
        # Snippets must not repeat lines the prompt shows anyway: exclude the widest window.
        widest_prefix, widest_suffix = widest_window(
            ctx.prefix, ctx.suffix, template, budget, count, room
        )
        line, _ = doc.position_at(offset)
        first_line = line - widest_prefix.count("\n")
        exclude = (first_line, line + widest_suffix.count("\n"))
        window_done = time.perf_counter()
        if stable is None or stable.due(uri, line):
            deadline = time.monotonic() + settings.context.budget_ms / 1000
            gathered = engine.gather(uri, offset, exclude, deadline)
            if stable is not None:
                stable.choose(uri, line, gathered.snippets)
        else:
            gathered = Gathered(list(stable.chosen))
        gathered_done = time.perf_counter()
        # What may be sent, and no more, is searched for credentials.
        prefix, suffix = redact_credentials(widest_prefix), redact_credentials(widest_suffix)
        prompt = build_prompt(
            prefix,
            suffix,
            template,
            budget,
            gathered.snippets,
            path=tracked.path,
            repo=engine.root.name if engine.root is not None else "",
            comment=comment,
            count=count,
            first_line=first_line if stable is not None else None,
            server=room,
            previous_start=stable.prefix_start if stable is not None else None,
        )
        if stable is not None:
            stable.prefix_start = line - prompt.prefix.count("\n")
        if config.uses_chat:
            chat = build_chat_prompt(
                prefix,
                suffix,
                budget,
                gathered.snippets,
                path=tracked.path,
                language=tracked.language or "",
                count=count,
            )
        timings = {
            "window": (window_done - started) * 1000,
            "context": (gathered_done - window_done) * 1000,
            "prompt": (time.perf_counter() - gathered_done) * 1000,
        }
    return Prepared(
        ctx=ctx,
        mode=mode,
        template=template,
        prompt=prompt,
        gathered=gathered,
        timings=timings,
        chat=chat,
        comment=comment,
        language=tracked.language,
        family=tracked.family,
        path=tracked.path,
    )


def completion_request(
    prepared: Prepared,
    config: BackendConfig,
    n: int = 1,
    on_sent: Callable[[], object] | None = None,
) -> CompletionRequest:
    """The prompt in every form a backend kind may want, for `n` candidates; `on_sent`: see
    `CompletionRequest.on_sent`."""
    prompt, chat = prepared.prompt, prepared.chat
    context = "".join(
        commented(s.path, s.text, prepared.comment) for s in reversed(prompt.snippets)
    )
    return CompletionRequest(
        prompt=prompt.text,
        stop=() if chat is not None else prompt.stop,
        max_tokens=config.max_tokens,
        temperature=config.temperature,
        prefix=prompt.prefix,
        suffix=prompt.suffix,
        extra=tuple((s.path, s.text) for s in prompt.snippets),
        context_prefix=context + prompt.prefix if context else "",
        indent=len(prepared.ctx.line_before) - len(prepared.ctx.line_before.lstrip(" \t")),
        system=chat.system if chat is not None else "",
        messages=tuple(chat.messages) if chat is not None else (),
        n=n,
        language_family=prepared.family,
        path=prepared.path,
        stable_chars=chat.stable_chars if chat is not None else 0,
        on_sent=on_sent,
    )


def explain(prepared: Prepared, last_cache: PromptCache | None = None) -> dict[str, Any]:
    """What the model would be sent, and why: for `infill/explain`; with `last_cache`, how
    much of the last prompt the server had in its cache."""
    included = {id(s) for s in prepared.prompt.snippets}
    return {
        "prompt": prepared.prompt.text,
        "template": prepared.template.family,
        "mode": prepared.mode.value,
        "stop": list(prepared.prompt.stop),
        "tokens": prepared.prompt.tokens,
        "snippets": [
            {
                "source": s.source,
                "path": s.path,
                "startLine": s.start_line,
                "endLine": s.end_line,
                "score": s.score,
                "included": id(s) in included,
            }
            for s in prepared.gathered.snippets
        ],
        "timingsMs": {
            **{k: round(v, 3) for k, v in prepared.timings.items()},
            **{f"context.{k}": round(v, 3) for k, v in prepared.gathered.timings.items()},
        },
        "skippedSources": prepared.gathered.skipped,
        "lastPromptCache": {"cached": last_cache.cached, "evaluated": last_cache.evaluated}
        if last_cache is not None
        else None,
        # What a chat API is sent instead of the FIM prompt.
        "chat": {"system": prepared.chat.system, "messages": prepared.chat.messages}
        if prepared.chat is not None
        else None,
    }


class Completer:
    """Owns the backend client (one per configuration, so its connection pool is reused)."""

    def __init__(
        self,
        on_health: Callable[[bool, str], None] | None = None,
        offline_index: Callable[[], NgramIndex | None] = lambda: None,
    ) -> None:
        """`on_health(healthy, reason)`: the backend went down or came back (once each);
        `offline_index()`: the offline engine's index (None while it is built)."""
        self._offline_index = offline_index
        self._backend: Backend | None = None
        self._config: BackendConfig | None = None
        self._background: set[asyncio.Future[Any]] = set()  # referenced until done
        self._on_health = on_health
        self.breaker = CircuitBreaker(on_health)
        self.on_backend_request: Callable[[], None] | None = None  # each request sent
        # What the server read of each prompt from its cache, where its API says so.
        self.on_prompt_cache: Callable[[PromptCache], None] | None = None
        self.last_prompt_cache: PromptCache | None = None

    def note_prompt_cache(self, usage: dict[str, Any]) -> None:
        cache = prompt_cache_of(usage)
        if cache is not None:
            self.last_prompt_cache = cache
            if self.on_prompt_cache is not None:
                self.on_prompt_cache(cache)

    def server_limits(self, config: BackendConfig) -> ServerLimits | None:
        """What the server of `config` said about itself, once its client has asked."""
        if self._backend is not None and config == self._config:
            return self._backend.limits
        return None

    def backend(self, config: BackendConfig) -> Backend:
        if self._backend is None or config != self._config:
            if self._backend is not None:
                # Close the old client in the background; requests still on it finish first.
                self._keep(asyncio.ensure_future(self._backend.aclose()))
            self._backend = make_backend(config, self._offline_index)
            self._config = config
            self.breaker = CircuitBreaker(self._on_health)  # a new backend starts healthy
        return self._backend

    def _keep(self, future: asyncio.Future[T]) -> asyncio.Future[T]:
        """Referenced until done (the event loop keeps only a weak reference to a task)."""
        self._background.add(future)
        future.add_done_callback(self._background.discard)
        return future

    def prime(self, prepared: Prepared, settings: Settings) -> None:
        """Have the backend's server compute `prepared`'s prompt into its cache, generating
        nothing, in the background (where the backend kind has such a request). It is never
        called off: the next request starts with the same prompt and would compute it anyway."""
        config = settings.backend
        backend = self.backend(config)
        if self.breaker.down:
            return

        async def prime() -> None:
            try:
                await backend.prime(completion_request(prepared, config))
            except BackendError as exc:  # the requests that need an answer judge the backend
                log.info("priming the server's cache: %s", exc)

        self._keep(asyncio.ensure_future(prime()))

    async def warm(self, config: BackendConfig) -> None:
        """Open the backend's connection ahead of the first request; a backend that cannot
        be reached is reported down at once (editors' status bars say so before anyone types)."""
        backend = self.backend(config)
        reason = await backend.warm()
        if reason is not None and backend is self._backend:  # not replaced meanwhile
            self.breaker.unreachable(reason)

    async def server_known(self, config: BackendConfig) -> None:
        """Once the backend's warm-up has ended (at once after the first requests; at most its
        timeout): what the server says of itself there (the context it keeps, llama-server
        or not) shapes the prompt, which must not be laid out before."""
        await self.backend(config).warm()

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None

    async def complete(
        self,
        prepared: Prepared,
        settings: Settings,
        candidates: int = 1,
        on_streamed: Callable[[str], None] | None = None,
    ) -> tuple[str, ...]:
        """The model's suggestions, post-processed, best first, with the document's line endings
        (none: nothing to show). Up to `candidates` of them from a backend that answers several
        in one request (`takes_n`), else one. `on_streamed` gets the first candidate's text so
        far as it streams. Adds the "backend" (request to last byte read) and "postprocess"
        stages to `prepared.timings`."""
        config = settings.backend
        if not config.configured:
            raise NotConfigured(
                f"backend.kind is {config.kind} but no backend.url is set: set it to your "
                "server (such as http://127.0.0.1:8080/v1 for llama.cpp's llama-server), or "
                "leave backend.kind unset for the built-in offline engine"
            )
        backend = self.backend(config)
        if not self.breaker.allow():
            return ()  # the backend is down; its cool-down is not over
        context = completion_context(prepared)

        # The stream's cuts need the document's tree, and the filters its bracket balance:
        # both are computed while the model thinks, in a thread started once the request is
        # on its way (or at the first event), not before: the thread's Python work would
        # compete with sending the request for the GIL.
        @functools.cache
        def parsing() -> asyncio.Future[Any]:
            return self._keep(
                asyncio.ensure_future(asyncio.to_thread(compute_document_parts, context))
            )

        n = candidates if backend.takes_n else 1
        request = completion_request(prepared, config, n, on_sent=parsing)
        cutters: dict[int, Cutter] = {}  # per candidate (the events' index)
        finished: set[int] = set()  # the candidates cut complete
        answers: dict[int, str] = {}  # chat: per candidate, its whole answer
        started = time.perf_counter()
        if self.on_backend_request is not None:
            self.on_backend_request()
        deadlines = Deadlines(config.timeout_ms, config.answer_ms)
        try:
            async with deadlines.scope() as scope:

                def observe(event: StreamEvent) -> None:
                    deadlines.streamed(scope, event)
                    if event.usage is not None:
                        self.note_prompt_cache(event.usage)

                checked = _checked_events(backend, request, config, parsing, observe)
                async with aclosing(checked) as events:
                    if prepared.chat is None:
                        await _stream_fim(events, context, request, cutters, finished, on_streamed)
                    else:
                        answers = await _stream_chat(events)
        except BackendError as exc:
            log.warning("backend: %s", exc)
            self.breaker.failure(str(exc), exc.retry_after)
            return ()
        except TimeoutError:
            if deadlines.reading and not deadlines.answered:
                log.info("backend: still reading the prompt when it should have been done")
                return ()
            if not deadlines.answered:
                log.warning("backend: no first token within %d ms", config.timeout_ms)
                self.breaker.failure(f"no first token within {config.timeout_ms} ms")
                return ()
            # Slow, not dead: the candidates not done by the answer's deadline show the lines
            # they completed (a chat answer, read whole, has none to show).
            log.info(
                "backend: %d of %d candidates complete within %d ms of the first token",
                len(finished),
                request.n,
                config.answer_ms,
            )
            for index, cutter in list(cutters.items()):
                if index not in finished:
                    cutters[index] = Cutter(context, request.stop)
                    cutters[index].feed(complete_lines(cutter.text))
        self.breaker.success()
        streamed = time.perf_counter()
        if prepared.chat is not None:
            cutters = _cut_chat_answers(answers, prepared.chat, context, request.stop)
        # In the model's order, as the user would get them.
        shown = [
            restore(text, prepared.template)
            for _, cutter in sorted(cutters.items())
            if (text := cutter.result()) is not None
        ]
        ranked = tuple(
            text.replace("\n", prepared.ctx.line_ending) for text in rank(shown, context)
        )
        prepared.timings["backend"] = (streamed - started) * 1000
        first_token = deadlines.first_token_ms_taken()
        if first_token is not None:
            prepared.timings["first_token"] = first_token
        prepared.timings["postprocess"] = (time.perf_counter() - streamed) * 1000
        return ranked


def completion_context(prepared: Prepared) -> CompletionContext:
    """What post-processing needs to know of the cursor."""
    ctx = prepared.ctx
    return CompletionContext(
        prepared.mode, ctx.prefix, ctx.suffix, prepared.language, prose=is_prose(ctx.language_id)
    )


async def _checked_events(
    backend: Backend,
    request: CompletionRequest,
    config: BackendConfig,
    parsing: Callable[[], asyncio.Future[Any]],
    observe: Callable[[StreamEvent], None],
) -> AsyncGenerator[StreamEvent]:
    """The backend's events, each shown to `observe` as it comes and yielded once the
    document's parts are computed; an error once the answer is longer than `max_tokens` can
    be."""
    received, most = 0, config.max_tokens * MAX_CHARS_PER_TOKEN * request.n
    async with aclosing(backend.stream(request)) as events:
        async for event in events:
            observe(event)
            received += len(event.text)
            if received > most:
                raise BackendError(
                    f"{config.base_url} sent more than {config.max_tokens} tokens "
                    "can be: it ignores max_tokens"
                )
            if not (parsed := parsing()).done():
                await parsed
            yield event


async def _stream_fim(
    events: AsyncIterator[StreamEvent],
    context: CompletionContext,
    request: CompletionRequest,
    cutters: dict[int, Cutter],
    finished: set[int],
    on_streamed: Callable[[str], None] | None,
) -> None:
    """FIM: each candidate cut as it streams, into `cutters`; `finished` holds those cut
    complete (kept if the time runs out). Returns once all of them are: the caller then closes
    the HTTP stream."""
    async for event in events:
        index = event.index
        if index in finished:
            continue
        if index not in cutters:
            cutters[index] = Cutter(context, request.stop)
        done = cutters[index].feed(event.text)
        if index == 0 and on_streamed is not None:
            on_streamed(cutters[0].text)
        if done:
            finished.add(index)
            if len(finished) >= request.n:
                return


async def _stream_chat(events: AsyncIterator[StreamEvent]) -> dict[int, str]:
    """Chat: each candidate's answer, read whole (its code is taken out of it afterwards)."""
    answers: dict[int, str] = {}
    async for event in events:
        answers[event.index] = answers.get(event.index, "") + event.text
    return answers


def _cut_chat_answers(
    answers: dict[int, str], chat: ChatPrompt, context: CompletionContext, stop: tuple[str, ...]
) -> dict[int, Cutter]:
    """The code of each chat answer, cut as a FIM answer would be."""
    cutters: dict[int, Cutter] = {}
    for index, answer in answers.items():
        cutters[index] = Cutter(context, stop)
        cutters[index].feed(extract_completion(answer, chat.prefix, chat.suffix))
    return cutters
