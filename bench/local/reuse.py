"""How much of each prompt llama-server could reuse from its KV cache, independent of timing.

The recorded completion requests are replayed in order against a fresh llama-server started
with the same flags, each asking for one token, whole (not streamed), with the prompt cache on:
the server's `timings` then say how many prompt tokens it took from its cache (`cache_n`) and
how many it had to evaluate (`prompt_n`). A request cancelled live was still replayed whole: the
server processes a prompt to its end before it notices a closed connection.

What is reused depends on the prompts' tokens and the server's flags and context size, never on
the weights: both models share the vocabulary, and every run has the same context size, so the
replay runs on the tiny model (seconds, where the 0.5B shape takes minutes).
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.llamacpp import LlamaServer

# The context every run gets: the tiny model's own (it caps any larger one at 4096), so a replay
# on it sees the same prompts cut the same way as the 0.5B-shape run did.
CTX_SIZE = 4096
# llama-server's own default batch, which LlamaServer (made for the tests) would set to 512; the
# flags under test override it.
DEFAULT_BATCH = 2048
REPLAY_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Reuse:
    path: str
    cache_n: int  # prompt tokens taken from the cache
    prompt_n: int  # prompt tokens evaluated


@contextlib.contextmanager
def llama_server(binary: Path, model: Path, flags: Sequence[str]) -> Iterator[str]:
    """llama-server on 127.0.0.1 with `flags` over llama-server's defaults: its URL."""
    server = LlamaServer(
        binary,
        model,
        ctx_size=CTX_SIZE,
        batch_size=DEFAULT_BATCH,
        startup_timeout=300,
        extra_args=list(flags),
    )
    try:
        with server as url:
            yield url
    except RuntimeError as exc:
        raise RuntimeError(f"llama-server {shlex.join(flags)}: {exc}") from None


def replay_body(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The recorded body, asking for one token whole with the prompt cache on. Everything that
    shapes the prompt (and `n_cache_reuse`, if the client sent it) is kept."""
    replayed = {**body, "n_predict": 1, "stream": False, "cache_prompt": True}
    if path.startswith("/v1/"):
        replayed["max_tokens"] = 1
    replayed.pop("response_fields", None)  # the timings must come back
    return replayed


def replay(url: str, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[Reuse]:
    """Send (path, body) pairs one after the other to the llama-server at `url`."""
    found = []
    with httpx.Client(timeout=REPLAY_TIMEOUT_S) as client:
        for path, body in requests:
            response = client.post(url + path, json=replay_body(path, body))
            response.raise_for_status()
            timings = response.json().get("timings")
            if not isinstance(timings, dict):
                raise RuntimeError(f"no timings in llama-server's answer to {path}")
            found.append(Reuse(path, int(timings["cache_n"]), int(timings["prompt_n"])))
    return found


def reused_share(reuses: Sequence[Reuse]) -> float | None:
    """Prompt tokens taken from the cache over all prompt tokens."""
    total = sum(r.cache_n + r.prompt_n for r in reuses)
    return sum(r.cache_n for r in reuses) / total if total else None
