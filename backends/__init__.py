"""LLM clients and the built-in offline engine, behind one streaming interface."""

from collections.abc import Callable

from infill.backends.anthropic import Anthropic
from infill.backends.base import (
    BACKEND_KINDS,
    DEFAULT_URLS,
    OFFLINE_KIND,
    Backend,
    BackendConfig,
    BackendError,
    CompletionRequest,
    PromptCache,
    PromptProgress,
    ServerLimits,
    StreamEvent,
    prompt_cache_of,
    without_secrets,
)
from infill.backends.breaker import CircuitBreaker
from infill.backends.llamacpp import LlamaCpp
from infill.backends.mistral import Mistral
from infill.backends.ngram import NgramBackend, NgramIndex
from infill.backends.ollama import Ollama
from infill.backends.openai import OpenAICompatible

KINDS: dict[str, type[OpenAICompatible | LlamaCpp | Ollama | Anthropic | Mistral]] = {
    "openai": OpenAICompatible,
    "llamacpp": LlamaCpp,
    "ollama": Ollama,
    "anthropic": Anthropic,
    "mistral": Mistral,
}


def make_backend(
    config: BackendConfig, offline_index: Callable[[], NgramIndex | None] = lambda: None
) -> Backend:
    """The client for `config`; the offline engine reads the index `offline_index()` gives."""
    if config.kind == OFFLINE_KIND:
        return NgramBackend(offline_index)
    try:
        return KINDS[config.kind](config)
    except KeyError:
        raise ValueError(f"unknown backend kind {config.kind!r}") from None


__all__ = [
    "BACKEND_KINDS",
    "DEFAULT_URLS",
    "OFFLINE_KIND",
    "Backend",
    "BackendConfig",
    "BackendError",
    "CircuitBreaker",
    "CompletionRequest",
    "LlamaCpp",
    "NgramIndex",
    "PromptCache",
    "PromptProgress",
    "ServerLimits",
    "StreamEvent",
    "make_backend",
    "prompt_cache_of",
    "without_secrets",
]
