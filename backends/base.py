"""What every backend takes and gives."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import attrs

from infill.prompts.templates import TEMPLATES

REDACTED = "[REDACTED]"
# The API keys and URL passwords in use: taken out of every log line and message (a server's
# error may echo the key it was sent). Values are only ever added: a key replaced is still
# one not to show.
_SECRETS: set[str] = set()

# "ngram" is the built-in offline engine (no server): the default when none is configured.
BACKEND_KINDS = ("ngram", "openai", "llamacpp", "ollama", "anthropic", "mistral")
OFFLINE_KIND = "ngram"

# Where a kind's server usually is, when `backend.url` is not set.
DEFAULT_URLS = {
    "llamacpp": "http://127.0.0.1:8080",
    "ollama": "http://127.0.0.1:11434",
    "anthropic": "https://api.anthropic.com",
    "mistral": "https://codestral.mistral.ai/v1",
}


_T = TypeVar("_T")

# The key of a settings field's `Setting` in its attrs metadata.
SETTING = "infill.setting"


@attrs.frozen
class Setting:
    """A settings field's schema besides its type (the annotation) and default: what
    server/settings.py validates with, and what the README's table and the VS Code extension's
    settings are checked against. Declared here, where the backends' own section (BackendConfig)
    uses it; the server's sections use it too."""

    doc: str  # the README's meaning
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    # A further check of a value of the right type: the value to keep, or ValueError.
    check: Callable[[Any], Any] | None = None
    # Decides where code goes: editors take it from the user's own settings only, never from a
    # workspace's (VS Code's "machine" scope).
    machine: bool = False
    # Set only in config.toml, under this name (the file is the user's own; editors sync theirs).
    file_key: str | None = None
    secret: bool = False  # its value is never shown, not even when invalid
    shown_default: str | None = None  # the README's default, where the value alone misleads


def setting(default: _T, doc: str, **schema: Any) -> _T:
    """A settings field: its default, and its `Setting` (doc, bounds, choices...) as metadata."""
    field: _T = attrs.field(default=default, metadata={SETTING: Setting(doc, **schema)})
    return field


def http_url(value: str) -> str:
    value = value.strip()
    if not value:
        return value  # the kind's default address
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (a port that is not a number raises ValueError)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise ValueError(f"expected an http:// or https:// URL with a host, got {value!r}")
    return value


def environment_variable_name(value: str) -> str:
    if value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        # Catch the common mistake of pasting the key itself here: never echo it back.
        raise ValueError("expected the NAME of an environment variable (such as OPENAI_API_KEY)")
    return value


def _tokenizer_file(value: str) -> str:
    if value and not Path(value).expanduser().is_file():
        raise ValueError(f"no tokenizer.json at {value!r}")
    return str(Path(value).expanduser()) if value else value


@attrs.frozen
class BackendConfig:
    """The `backend` section of the settings, and its schema."""

    kind: str = setting(
        OFFLINE_KIND,
        ", ".join(
            f"`{kind}` (the offline engine)" if kind == OFFLINE_KIND else f"`{kind}`"
            for kind in BACKEND_KINDS
        ),
        choices=BACKEND_KINDS,
        machine=True,
        shown_default="`ngram`; `openai` when `backend.url` is set",
    )
    # For openai and mistral the base URL including /v1 (as their SDKs' base_url), for
    # llamacpp, ollama and anthropic the server's root.
    url: str = setting(
        "",
        "the server (see the table above)",
        check=http_url,
        machine=True,
        shown_default="per kind",
    )
    model: str = setting("", "model name sent to the server; also picks the template when `auto`")
    template: str = setting(
        "auto",
        "`auto`, `chat`, or a family: " + ", ".join(f"`{name}`" for name in TEMPLATES),
        choices=("auto", "chat", *TEMPLATES),
    )
    api_key_env: str = setting(
        "",
        "NAME of the environment variable holding the API key",
        check=environment_variable_name,
        machine=True,
    )
    api_key_from_file: str = attrs.field(
        default="",
        repr=False,
        metadata={
            SETTING: Setting(
                "the key itself, in `config.toml` only", file_key="api_key", secret=True
            )
        },
    )
    max_tokens: int = setting(128, "most tokens to generate", minimum=1, maximum=8192)
    temperature: float = setting(0.0, "sampling temperature", minimum=0.0, maximum=2.0)
    # A server silent this long is failing (the circuit breaker counts it); one that has
    # started answering is slow, not dead, and gets `answer_ms` more.
    timeout_ms: int = setting(
        5000,
        "until the first token (and the longest a stream may stall): a backend silent this long"
        " has failed, and the circuit breaker counts it",
        minimum=100,
        maximum=600_000,
    )
    answer_ms: int = setting(
        3000,
        "after the first token, how long the answer may go on; then the lines it completed are"
        " shown, and llama.cpp stops generating by itself (`t_max_predict_ms`)",
        minimum=100,
        maximum=600_000,
    )
    context_tokens: int = setting(
        0,
        "the model's context window: the prompt never exceeds it minus `backend.max_tokens`"
        " (0: unknown)",
        minimum=0,
        maximum=10_000_000,
    )
    # /infill keeps 3/4 of the batch of the prefix, and a quarter holds the suffix and the
    # line being typed: a prompt laid out within those keeps its head in the server's cache.
    batch_tokens: int = setting(
        1024,
        "llama-server's `--batch-size`: `/infill` keeps 3/4 of it of the prefix, so infill sends"
        " no more (with a margin for the tokenizer)",
        minimum=32,
        maximum=1_000_000,
    )
    # With several slots (llama-server's default), a request sent while the one before it is
    # still being stopped goes to another slot, whose cache holds none of its prompt.
    slot: int = setting(
        0,
        "llama.cpp: the server's slot (and so KV cache) every request goes to, so each finds the"
        " one before it cached; -1 lets the server choose (a server shared by several users)",
        minimum=-1,
        maximum=1024,
    )
    tokenizer: str = setting(
        "",
        "path of the model's Hugging Face `tokenizer.json`, to count tokens exactly (else cl100k)",
        check=_tokenizer_file,
    )

    @property
    def base_url(self) -> str:
        return (self.url or DEFAULT_URLS.get(self.kind, "")).rstrip("/")

    @property
    def offline(self) -> bool:
        """The built-in engine: answers from the workspace's index, no server to reach."""
        return self.kind == OFFLINE_KIND

    @property
    def configured(self) -> bool:
        """Whether there is something to ask: the offline engine, or a server's address."""
        return self.offline or bool(self.base_url)

    @property
    def uses_chat(self) -> bool:
        """Chat APIs get a fill-the-hole message instead of a FIM prompt."""
        return self.kind == "anthropic" or self.template == "chat"

    def api_key(self) -> str | None:
        """Read at request time, so a key exported after start-up is used; never logged."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        key = key or self.api_key_from_file or None
        keep_out_of_messages(key)
        keep_out_of_messages(urlsplit(self.base_url).password)
        return key


def keep_out_of_messages(secret: str | None) -> None:
    """From now on, `without_secrets` takes `secret` out of any text."""
    if secret:
        _SECRETS.add(secret)


def without_secrets(text: str) -> str:
    """`text` (a log line, an error message) with every known secret replaced by REDACTED."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str  # the whole FIM prompt, for endpoints that take raw text
    stop: tuple[str, ...]
    max_tokens: int
    temperature: float
    prefix: str = ""  # the code before the cursor, as the prompt has it
    suffix: str = ""  # the code after the cursor
    # Other code for APIs that place it themselves (llama.cpp's input_extra): (path, text).
    extra: tuple[tuple[str, str], ...] = ()
    # The prefix with the other code in front of it as comments, for FIM APIs that take a
    # prefix and a suffix only (Ollama's suffix mode, Mistral's FIM endpoint).
    context_prefix: str = ""
    indent: int = 0  # the cursor line's indentation, for servers that keep answers inside it
    system: str = ""  # chat APIs
    messages: tuple[dict[str, str], ...] = ()
    n: int = 1  # candidates wanted, for backends whose API answers several (`takes_n`)
    # The document's language family (`python`, `js`, `c`, …, as the context engine names
    # them), for the offline engine, whose index keeps each family apart.
    language_family: str = ""
    path: str = ""  # the document's path as the workspace shows it (relative to its root)
    # How many characters at the start of the first message stay the same from keystroke to
    # keystroke (the other code): a prompt cache breakpoint for chat APIs that take one.
    stable_chars: int = 0
    # Called when the request is on its way (its body written; perhaps more than once, after
    # a retry): work that would compete with sending it for the CPU starts then.
    on_sent: Callable[[], object] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ServerLimits:
    """What a server said about itself (llama.cpp's /props)."""

    context_tokens: int  # per slot: the most a prompt and its answer can take together


# Until a server has said how fast it reads a prompt, it is expected to read no slower than a
# 7B model on a laptop's CPU; and it may take half as long again as its speed so far says.
SLOWEST_READING = 50  # prompt tokens per second
READING_SLACK = 1.5


def reading_silence_s(batch_tokens: int) -> float:
    """The longest a server that reports its reading (llama.cpp, once per batch) may stay
    silent while it reads: one batch at SLOWEST_READING, with READING_SLACK."""
    return READING_SLACK * batch_tokens / SLOWEST_READING


@dataclass(frozen=True)
class PromptProgress:
    """llama-server's word while it reads a prompt: of `total` tokens, `cache` were in its
    cache and it has read up to `processed`, `time_ms` after it began."""

    total: int
    cache: int
    processed: int
    time_ms: float

    def seconds_left(self) -> float:
        """Seconds the server should still need to read the prompt, at the speed it has read
        so far (SLOWEST_READING before it has read any), with READING_SLACK."""
        read = self.processed - self.cache
        speed = read / self.time_ms * 1000 if read > 0 and self.time_ms > 0 else 0
        return READING_SLACK * (self.total - self.processed) / max(speed, SLOWEST_READING)

    @staticmethod
    def of(event: dict[str, Any]) -> PromptProgress | None:
        """The progress an event (a JSON object) reports, if it reports one."""
        progress = event.get("prompt_progress")
        if not isinstance(progress, dict):
            return None
        numbers = [progress.get(key) for key in ("total", "cache", "processed", "time_ms")]
        valid = [n for n in numbers if isinstance(n, int | float) and n >= 0]
        if len(valid) < len(numbers):
            return PromptProgress(0, 0, 0, 0)  # an odd report still says the server is at work
        total, cache, processed, time_ms = valid
        return PromptProgress(int(total), int(cache), int(processed), float(time_ms))


@dataclass(frozen=True)
class StreamEvent:
    """A piece of the answer; the last one of a stream may carry how and why it ended."""

    text: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None  # tokens and timings, as the API reports them
    index: int = 0  # which candidate it belongs to (0 to n - 1); their pieces interleave
    # The server says how far it has read the prompt (llama.cpp's `prompt_progress`): slow,
    # not dead.
    reading: PromptProgress | None = None


class BackendError(Exception):
    """A failed backend call, with a message fit for the log (never a key or a header).

    `retry_after` (seconds) is set when the server said when to come back; `status` when it
    refused the request with an HTTP status."""

    def __init__(
        self, message: str, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class Backend(Protocol):
    # Whether the API answers `n` candidates in one request; others are asked for one only
    # (a request per candidate would multiply the cost and the load).
    takes_n: bool
    # What the server said it keeps (llama-server's /props), once its connection is warm.
    limits: ServerLimits | None

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        """The answer as it is produced; closing the iterator closes the HTTP stream."""
        ...

    async def warm(self) -> str | None:
        """Open a connection ahead of the first request; why the backend could not be
        reached, if it could not."""
        ...

    async def prime(self, request: CompletionRequest) -> None:
        """Have the server compute `request`'s prompt into its cache, generating nothing, so
        that a request starting the same way finds it there; nothing where the API has no such
        request."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class PromptCache:
    """How much of a prompt the server read from its cache, and how much it computed."""

    cached: int
    evaluated: int

    @property
    def total(self) -> int:
        return self.cached + self.evaluated


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def prompt_cache_of(usage: dict[str, Any]) -> PromptCache | None:
    """The prompt cache's share, in whichever shape the API reports it: llama.cpp's timings
    (`cache_n`, `prompt_n`), Anthropic's usage (`cache_read_input_tokens`; `input_tokens` and
    `cache_creation_input_tokens` computed), OpenAI's (`prompt_tokens`, of which
    `prompt_tokens_details.cached_tokens`). None where it says nothing of it."""
    if "cache_n" in usage and "prompt_n" in usage:
        return PromptCache(_count(usage["cache_n"]), _count(usage["prompt_n"]))
    if "cache_read_input_tokens" in usage:
        computed = _count(usage.get("input_tokens"))
        computed += _count(usage.get("cache_creation_input_tokens"))
        return PromptCache(_count(usage["cache_read_input_tokens"]), computed)
    details = usage.get("prompt_tokens_details")
    if "prompt_tokens" in usage and isinstance(details, dict) and "cached_tokens" in details:
        cached = _count(details["cached_tokens"])
        return PromptCache(cached, max(_count(usage["prompt_tokens"]) - cached, 0))
    return None
