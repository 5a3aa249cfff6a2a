"""LLM clients behind one streaming interface."""

from infill.backends.anthropic import Anthropic
from infill.backends.base import (
    BACKEND_KINDS,
    DEFAULT_URLS,
    Backend,
    BackendConfig,
    BackendError,
    CompletionRequest,
    StreamEvent,
    without_secrets,
)
from infill.backends.breaker import CircuitBreaker
from infill.backends.llamacpp import LlamaCpp
from infill.backends.mistral import Mistral
from infill.backends.ollama import Ollama
from infill.backends.openai import OpenAICompatible

KINDS: dict[str, type[OpenAICompatible | LlamaCpp | Ollama | Anthropic | Mistral]] = {
    "openai": OpenAICompatible,
    "llamacpp": LlamaCpp,
    "ollama": Ollama,
    "anthropic": Anthropic,
    "mistral": Mistral,
}


def make_backend(config: BackendConfig) -> Backend:
    try:
        return KINDS[config.kind](config)
    except KeyError:
        raise ValueError(f"unknown backend kind {config.kind!r}") from None


__all__ = [
    "BACKEND_KINDS",
    "DEFAULT_URLS",
    "Backend",
    "BackendConfig",
    "BackendError",
    "CircuitBreaker",
    "CompletionRequest",
    "StreamEvent",
    "make_backend",
    "without_secrets",
]
