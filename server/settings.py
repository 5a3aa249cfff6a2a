"""One settings object, the same shape everywhere: `initializationOptions`, the `infill` section
of `workspace/didChangeConfiguration` and `workspace/configuration`, the user's config.toml and
`infill complete --set`. Nested objects or dotted keys ("backend.url") are both accepted."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from infill.backends import BACKEND_KINDS, BackendConfig
from infill.prompts import TEMPLATES
from infill.xdg import xdg_base

# The kind a server's address means when no kind is given (as before the offline engine).
URL_KIND = "openai"


class SettingsError(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"invalid setting {key}: {problem}")
        self.key = key


@dataclass(frozen=True)
class PromptSettings:
    max_tokens: int = 2048  # the whole prompt: prefix, suffix and (later) snippets


@dataclass(frozen=True)
class ContextSettings:
    budget_ms: int = 50  # context gathering per request; what is not ready by then is left out


@dataclass(frozen=True)
class CompletionSettings:
    # Candidates asked for when the user invokes completion (the editor's shortcut), ranked;
    # completion while typing asks for one, for latency.
    candidates: int = 3
    # Wait before asking the model while typing mid-line; None: adapt to the user's typing
    # speed (about the time 3 of 4 of their keystrokes come within, 15 to 120 ms).
    debounce_ms: int | None = None


@dataclass(frozen=True)
class MetricsSettings:
    # Local counts and timings in a SQLite file under the user's state dir, for `infill stats`;
    # nothing is sent anywhere.
    enabled: bool = True


@dataclass(frozen=True)
class Settings:
    backend: BackendConfig = field(default_factory=BackendConfig)
    prompt: PromptSettings = field(default_factory=PromptSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"expected {low} to {high}, got {value}")
        return value

    return check


def _number(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"expected {low} to {high}, got {value}")
        return float(value)

    return check


def _boolean(value: Any) -> bool:
    # Strictly true/false: "false" (a string, as `--set metrics.enabled=False` would give) or 0
    # must not be read as a truth value.
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _kind(value: Any) -> str:
    value = _string(value)
    if value not in BACKEND_KINDS:
        raise ValueError(f"unknown kind {value!r} (available: {', '.join(BACKEND_KINDS)})")
    return value


def _url(value: Any) -> str:
    value = _string(value).strip()
    if value and not re.match(r"https?://[^/\s]+", value):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value


def _template(value: Any) -> str:
    value = _string(value)
    if value not in ("auto", "chat") and value not in TEMPLATES:
        choices = ", ".join(["auto", "chat", *TEMPLATES])
        raise ValueError(f"expected one of {choices}, got {value!r}")
    return value


def _env_name(value: Any) -> str:
    value = _string(value)
    if value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        # Catch the common mistake of pasting the key itself here: never echo it back.
        raise ValueError("expected the NAME of an environment variable (such as OPENAI_API_KEY)")
    return value


def _tokenizer_file(value: Any) -> str:
    value = _string(value)
    if value and not Path(value).expanduser().is_file():
        raise ValueError(f"no tokenizer.json at {value!r}")
    return str(Path(value).expanduser()) if value else value


VALIDATORS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "backend": {
        "kind": _kind,
        "url": _url,
        "model": _string,
        "template": _template,
        "api_key_env": _env_name,
        "max_tokens": _integer(1, 8192),
        "temperature": _number(0.0, 2.0),
        "timeout_ms": _integer(100, 600_000),
        "answer_ms": _integer(100, 600_000),
        "batch_tokens": _integer(32, 1_000_000),
        "context_tokens": _integer(0, 10_000_000),
        "tokenizer": _tokenizer_file,
        "api_key_from_file": _string,  # `backend.api_key` in config.toml, renamed on reading
    },
    "prompt": {
        "max_tokens": _integer(64, 131_072),
    },
    "context": {
        "budget_ms": _integer(0, 10_000),
    },
    "completion": {
        "candidates": _integer(1, 10),
        "debounce_ms": _integer(0, 2000),
    },
    "metrics": {
        "enabled": _boolean,
    },
}


def expand_dotted(values: Mapping[str, Any]) -> dict[str, Any]:
    """{"backend.url": x} -> {"backend": {"url": x}}, merged with nested objects."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        head, dot, rest = str(key).partition(".")
        if dot:
            value = expand_dotted({rest: value})
        if isinstance(value, Mapping):
            value = expand_dotted(value)
            if isinstance(result.get(head), dict):
                value = merge(result[head], value)
        result[head] = value
    return result


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        if value is None:
            # Editors send null for an option the user has not set: it must not erase the
            # value of an earlier layer (the user's config file).
            continue
        if isinstance(value, Mapping):
            earlier = result.get(key)
            result[key] = merge(earlier if isinstance(earlier, Mapping) else {}, value)
        else:
            result[key] = value
    return result


def take_file_api_key(values: Mapping[str, Any]) -> dict[str, Any]:
    """config.toml may hold `backend.api_key` (the file is the user's own, like their shell
    profile); it becomes `backend.api_key_from_file`, which no other source may set."""
    values = expand_dotted(values)
    backend = values.get("backend")
    if isinstance(backend, Mapping) and "api_key" in backend:
        backend = dict(backend)
        backend["api_key_from_file"] = backend.pop("api_key")
        values["backend"] = backend
    return values


def parse_settings(*layers: Mapping[str, Any]) -> tuple[Settings, list[str]]:
    """Settings from the layers, later ones winning. Returns the settings and the unknown keys
    (ignored, to be reported); raises SettingsError naming the first invalid key."""
    combined: dict[str, Any] = {}
    for layer in layers:
        combined = merge(combined, expand_dotted(layer))
    unknown: list[str] = []
    settings = Settings()
    for section, value in combined.items():
        validators = VALIDATORS.get(section)
        if validators is None:
            unknown.append(section)
            continue
        if not isinstance(value, Mapping):
            raise SettingsError(section, f"expected an object, got {value!r}")
        changes: dict[str, Any] = {}
        for key, raw in value.items():
            check = validators.get(key)
            if check is None:
                unknown.append(f"{section}.{key}")
                continue
            try:
                changes[key] = check(raw)
            except ValueError as exc:
                raise SettingsError(f"{section}.{key}", str(exc)) from None
        if section == "backend" and changes.get("url") and "kind" not in changes:
            changes["kind"] = URL_KIND  # an address without a kind: an OpenAI-compatible server
        current = getattr(settings, section)
        settings = replace(settings, **{section: replace(current, **changes)})
    return settings, unknown


def user_config_path() -> Path:
    """$XDG_CONFIG_HOME/infill/config.toml, else ~/.config/infill/config.toml."""
    return xdg_base("XDG_CONFIG_HOME", ".config") / "infill" / "config.toml"


def load_user_config(path: Path | None = None) -> dict[str, Any]:
    """The user's config.toml, or {} when there is none; SettingsError when it cannot be read."""
    path = path or user_config_path()
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(str(path), f"cannot read it: {exc}") from None


def parse_assignment(text: str) -> dict[str, Any]:
    """`--set backend.max_tokens=64`: the value is read as JSON when it parses, else a string."""
    key, eq, raw = text.partition("=")
    if not eq or not key.strip():
        raise SettingsError(
            text, "expected KEY=VALUE, such as backend.url=http://127.0.0.1:8080/v1"
        )
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return expand_dotted({key.strip(): value})
