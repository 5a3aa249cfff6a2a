"""What every backend takes and gives."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

BACKEND_KINDS = ("openai",)


@dataclass(frozen=True)
class BackendConfig:
    kind: str = "openai"
    url: str = ""  # for openai: the base URL including /v1, as the OpenAI SDK's base_url
    model: str = ""
    template: str = "auto"
    api_key_env: str = ""  # name of the environment variable that holds the key
    max_tokens: int = 128
    temperature: float = 0.0
    timeout_ms: int = 5000
    context_tokens: int = 0  # the model's context window; 0 = not known
    tokenizer: str = ""  # path of the model's Hugging Face tokenizer.json, for exact counts

    def api_key(self) -> str | None:
        """Read at request time, so a key exported after start-up is used; never stored."""
        if not self.api_key_env:
            return None
        return os.environ.get(self.api_key_env) or None


@dataclass(frozen=True)
class CompletionRequest:
    prompt: str
    stop: tuple[str, ...]
    max_tokens: int
    temperature: float


class BackendError(Exception):
    """A failed backend call, with a message fit for the log (never a key or a header)."""


class Backend(Protocol):
    def stream(self, request: CompletionRequest) -> AsyncIterator[str]:
        """Text deltas as the model produces them; closing the iterator closes the stream."""
        ...

    async def aclose(self) -> None: ...
