"""`infill doctor`: is the configured backend there, does it have the model, does a FIM request
work, and how long until its first token? Each problem explained in plain words."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import attrs
import httpx

from infill.backends import (
    BackendConfig,
    BackendError,
    CompletionRequest,
    make_backend,
    without_secrets,
)
from infill.backends.http import (
    WARM_BODY_BYTES,
    checked_key,
    describe,
    make_client,
    read_at_most,
    tls_failure,
)
from infill.backends.ngram.index import NgramIndex
from infill.backends.ngram.predictor import predict
from infill.local_models import USUAL_SERVERS, LocalServer, answering
from infill.offline import describe_calibration
from infill.prompts import TEMPLATES, build_prompt
from infill.prompts.chat import build_chat_prompt
from infill.prompts.templates import DEFAULT_TEMPLATE, detect_family
from infill.settings import Settings

PROBE_PREFIX = "def add(a, b):\n    return "
PROBE_SUFFIX = "\n"

# Where each kind lists its models, and how to read the names out of the answer.
MODEL_LISTS = {
    "openai": "/models",
    "mistral": "/models",
    "llamacpp": "/v1/models",
    "ollama": "/api/tags",
}
START_HINTS = {
    "llamacpp": "start it with `llama-server -m MODEL.gguf --port 8080`",
    "ollama": "start it with `ollama serve`",
    "openai": "start your server (vLLM: `vllm serve MODEL`; LM Studio: its local server tab)",
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _model_names(kind: str, data: Any) -> list[str]:
    if kind == "ollama":
        return [m.get("name", "") for m in data.get("models", []) if isinstance(m, dict)]
    return [m.get("id", "") for m in data.get("data", []) if isinstance(m, dict)]


async def diagnose(
    settings: Settings, local_servers: Sequence[LocalServer] = USUAL_SERVERS
) -> list[Check]:
    """The checks of the configured backend; with none, of the offline engine, and which
    model server on this machine's usual ports could be the backend (`local_servers`)."""
    config = settings.backend
    checks: list[Check] = []
    if config.offline:
        found = await answering(local_servers)
        return [*_offline_checks(), *(Check("local", True, f.advice()) for f in found)]
    if not config.base_url:
        return [Check("settings", False, "no backend.url: set it to your server's address")]
    key_note = ""
    if config.api_key_env:
        present = config.api_key() is not None
        key_note = f", key from ${config.api_key_env}" + ("" if present else " (NOT SET)")
    checks.append(Check("settings", True, f"{config.kind} at {config.base_url}{key_note}"))
    if config.api_key_env and config.api_key() is None:
        checks.append(
            Check("api key", False, f"the environment variable {config.api_key_env} is empty")
        )

    path = MODEL_LISTS.get(config.kind)
    if path is not None:
        try:
            key = checked_key(config)
            client = make_client(config)
        except BackendError as exc:
            checks.append(Check("api key", False, str(exc)))
            return checks
        except (ValueError, ImportError) as exc:
            checks.append(Check("proxy", False, f"cannot use the proxy set: {exc}"))
            return checks
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            async with client.stream("GET", config.base_url + path, headers=headers) as response:
                status = response.status_code
                answer = await read_at_most(response, WARM_BODY_BYTES) if status == 200 else b""
            listing = json.loads(answer) if answer.strip() else None
        except httpx.ConnectError as exc:
            if tls_failure(exc):
                checks.append(Check("reachable", False, f"{config.base_url}: {describe(exc)}"))
                return checks
            hint = START_HINTS.get(config.kind, "check backend.url")
            checks.append(
                Check("reachable", False, f"nothing is listening at {config.base_url}: {hint}")
            )
            return checks
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            checks.append(Check("reachable", False, f"{config.base_url}: {describe(exc)}"))
            return checks
        finally:
            await client.aclose()
        checks.append(Check("reachable", True, f"HTTP {status} from {path}"))
        if status in (401, 403):
            checks.append(Check("api key", False, "the server refused the API key"))
        elif isinstance(listing, dict) and config.model:
            names = _model_names(config.kind, listing)
            if names and config.model not in names:
                shown = ", ".join(names[:8])
                checks.append(
                    Check("model", False, f"{config.model!r} is not served here: {shown}")
                )
            elif names:
                checks.append(Check("model", True, f"{config.model!r} is served"))

    checks.append(await _probe(config, settings))
    return checks


async def _probe(config: BackendConfig, settings: Settings) -> Check:
    """One short FIM (or chat) request: does it answer, and how fast is the first token?"""
    probe = attrs.evolve(config, max_tokens=4)
    if config.uses_chat:
        chat = build_chat_prompt(PROBE_PREFIX, PROBE_SUFFIX, settings.prompt.max_tokens)
        request = CompletionRequest(
            prompt="",
            stop=(),
            max_tokens=16,
            temperature=0.0,
            system=chat.system,
            messages=tuple(chat.messages),
        )
    else:
        # No warning for an unknown model name here: a probe needs any FIM template.
        template = TEMPLATES.get(config.template) or detect_family(config.model) or DEFAULT_TEMPLATE
        prompt = build_prompt(PROBE_PREFIX, PROBE_SUFFIX, template, settings.prompt.max_tokens)
        request = CompletionRequest(
            prompt=prompt.text,
            stop=prompt.stop,
            max_tokens=4,
            temperature=0.0,
            prefix=prompt.prefix,
            suffix=prompt.suffix,
        )
    backend = make_backend(probe)
    started = time.perf_counter()
    first: float | None = None
    text = ""
    try:
        async for event in backend.stream(request):
            if first is None:
                first = time.perf_counter() - started
            text += event.text
    except BackendError as exc:
        return Check("completion", False, str(exc))
    finally:
        await backend.aclose()
    if first is None:
        return Check("completion", False, "the stream ended without a single event")
    total = time.perf_counter() - started
    return Check(
        "completion",
        True,
        f"first token in {first * 1000:.0f} ms, answer in {total * 1000:.0f} ms: {text!r}",
    )


def _offline_checks() -> list[Check]:
    """The offline engine has no server: see that it learns from code and answers from it."""
    index = NgramIndex()
    sample = PROBE_PREFIX + "a + b\n\n\n"
    for name in ("add", "plus", "total"):
        data = index.encode(sample.replace("add", name), "python")
        if data is not None:
            index.put(f"{name}.py", "python", data)
    plan = index.snapshot()
    index.install(NgramIndex.build(plan), plan)
    started = time.perf_counter()
    text = predict(index, "python", PROBE_PREFIX, PROBE_SUFFIX)
    elapsed = (time.perf_counter() - started) * 1000
    settings = Check("settings", True, "ngram: the built-in offline engine (no server, no key)")
    if text != "a + b":
        return [settings, Check("completion", False, f"unexpected answer {text!r}")]
    measured = describe_calibration(Path.cwd())
    precision = [Check("precision", True, measured)] if measured is not None else []
    return [
        settings,
        Check("completion", True, f"answer in {elapsed:.1f} ms: {text!r}"),
        *precision,
    ]


def report(checks: list[Check]) -> str:
    """The checks, one a line; an API key a server echoed in an error is not printed."""
    return without_secrets(
        "\n".join(f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<10} {c.detail}" for c in checks)
    )
