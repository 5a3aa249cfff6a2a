"""LLM clients behind one streaming interface."""

from infill.backends.base import (
    BACKEND_KINDS,
    Backend,
    BackendConfig,
    BackendError,
    CompletionRequest,
)
from infill.backends.openai import OpenAICompletions


def make_backend(config: BackendConfig) -> Backend:
    if config.kind == "openai":
        return OpenAICompletions(config)
    raise ValueError(f"unknown backend kind {config.kind!r}")


__all__ = [
    "BACKEND_KINDS",
    "Backend",
    "BackendConfig",
    "BackendError",
    "CompletionRequest",
    "OpenAICompletions",
    "make_backend",
]
