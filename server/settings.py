"""One settings object, the same shape everywhere: `initializationOptions`, the `infill` section
of `workspace/didChangeConfiguration` and `workspace/configuration`, the user's config.toml and
`infill complete --set`. Nested objects or dotted keys ("backend.url") are both accepted."""

from __future__ import annotations

import difflib
import json
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from infill.backends import BackendConfig
from infill.backends.base import SETTING, Setting, environment_variable_name, http_url, setting
from infill.xdg import xdg_base

# The kind a server's address means when no kind is given (as before the offline engine).
URL_KIND = "openai"


class SettingsError(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"invalid setting {key}: {problem}")
        self.key = key


# The schema: each section an attrs class, each field's type its annotation, its default, and
# its `Setting` (doc, bounds, choices) in metadata. The backend section is the backends' own
# BackendConfig, so its defaults and bounds are declared once, where the backends read them.


@attrs.frozen
class PromptSettings:
    max_tokens: int = setting(
        2048, "prompt budget shared by prefix, suffix and snippets", minimum=64, maximum=131_072
    )


@attrs.frozen
class ContextSettings:
    budget_ms: int = setting(
        50,
        "time for gathering snippets per request; what is not ready by then is left out",
        minimum=0,
        maximum=10_000,
    )


@attrs.frozen
class CompletionSettings:
    candidates: int = setting(
        3,
        "suggestions asked for when completion is invoked explicitly (while typing: one, for"
        " latency), shown fewest parse errors first, then in the model's order; only `openai`"
        " servers that take `n` give several, sampled at a temperature of at least 0.6 (a server"
        " that refuses or ignores `n` is asked for one from then on)",
        minimum=1,
        maximum=10,
    )
    debounce_ms: int | None = setting(
        None,
        "wait before asking the model while typing mid-line; unset: none, unless your typing"
        " outruns the model (3 requests within a second), then about the time 3 of 4 of your"
        " keystrokes come within (15–120 ms). Never applied at the start of a line, to invoked"
        " requests or to answers from the cache",
        minimum=0,
        maximum=2000,
    )


@attrs.frozen
class MetricsSettings:
    enabled: bool = setting(
        True,
        "record local metrics for `infill stats` (see [Local metrics](#local-metrics)), in a"
        " SQLite file under the user's state dir; nothing leaves the machine",
    )


@attrs.frozen
class NextEditSettings:
    # Next-edit models rewrite a region from a prompt of their own: a plain completion or chat
    # messages, which every OpenAI-compatible server takes (llama-server, vLLM, Ollama's /v1,
    # LM Studio).
    url: str = setting(
        "",
        "the server of a next-edit model (OpenAI-compatible: its base URL, with /v1); unset:"
        " next edits need no model (renames, signatures, repeated edits)",
        check=http_url,
        machine=True,
    )
    model: str = setting("", "the next-edit model's name on that server")
    kind: str = setting(
        "openai",
        "the next-edit server's API: `openai` (any OpenAI-compatible server), `anthropic`",
        choices=("openai", "anthropic"),
    )
    format: str = setting(
        "zeta",
        "the model's prompt format: `zeta` (Zed's open Zeta, a completion prompt), `instinct`"
        " (Continue's open Instinct), `chat` (any chat model: Claude, GPT, an instruct model)",
        choices=("zeta", "instinct", "chat"),
    )
    api_key_env: str = setting(
        "",
        "NAME of the environment variable holding that server's API key",
        check=environment_variable_name,
        machine=True,
    )
    max_tokens: int = setting(512, "most tokens of the rewritten region", minimum=16, maximum=8192)
    timeout_ms: int = setting(
        10_000,
        "until the model's rewrite is complete; later, nothing is proposed",
        minimum=100,
        maximum=600_000,
    )


@attrs.frozen
class Settings:
    backend: BackendConfig = attrs.field(factory=BackendConfig)
    prompt: PromptSettings = attrs.field(factory=PromptSettings)
    context: ContextSettings = attrs.field(factory=ContextSettings)
    completion: CompletionSettings = attrs.field(factory=CompletionSettings)
    metrics: MetricsSettings = attrs.field(factory=MetricsSettings)
    next_edit: NextEditSettings = attrs.field(factory=NextEditSettings)


@attrs.frozen
class Field:
    """One setting of the schema, by its dotted key."""

    key: str  # "backend.url"
    written: str  # as the user writes it: "backend.api_key" for `backend.api_key_from_file`
    name: str  # the attribute: "url"
    type: type  # int, float, bool or str (None, "unset", is never given: nulls are dropped)
    default: Any
    setting: Setting


def _fields() -> Iterator[Field]:
    sections = typing.get_type_hints(Settings)
    for section in attrs.fields(Settings):
        hints = typing.get_type_hints(sections[section.name])
        for attribute in attrs.fields(sections[section.name]):
            schema = attribute.metadata[SETTING]
            kinds = typing.get_args(hints[attribute.name]) or (hints[attribute.name],)
            yield Field(
                key=f"{section.name}.{attribute.name}",
                written=f"{section.name}.{schema.file_key or attribute.name}",
                name=attribute.name,
                type=next(kind for kind in kinds if kind is not types.NoneType),
                default=attribute.default,
                setting=schema,
            )


FIELDS: dict[str, Field] = {field.key: field for field in _fields()}
SECTIONS = tuple(section.name for section in attrs.fields(Settings))


def _checked(field: Field, value: Any) -> Any:
    """`value` as the field's, strictly: of its type (no true for 1, no "5" for 5), within its
    bounds and choices; ValueError saying what was expected."""
    schema = field.setting
    got = "a value not shown" if schema.secret else repr(value)
    if field.type is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {got}")
    elif field.type is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {got}")
    elif field.type is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {got}")
        value = float(value)
    elif not isinstance(value, str):
        raise ValueError(f"expected a string, got {got}")
    low, high = schema.minimum, schema.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"expected {low} to {high}, got {got}")
    if schema.choices and value not in schema.choices:
        raise ValueError(f"expected one of {', '.join(schema.choices)}, got {got}")
    return schema.check(value) if schema.check else value


def _leaves(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every setting in nested objects; an object where a setting is
    expected is that setting's (invalid) value."""
    for key, value in values.items():
        if isinstance(value, Mapping) and f"{prefix}{key}" not in FIELDS:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def closest_key(key: str) -> str | None:
    """The known setting `key` was most likely meant to be (a typo, a wrong section), if any."""
    head, _, leaf = key.rpartition(".")
    # Leaf names compared, not whole keys: a shared "backend." makes any two keys look alike.
    in_section = {
        known.name: known.key for known in FIELDS.values() if known.key.startswith(f"{head}.")
    }
    close = difflib.get_close_matches(leaf, list(in_section), n=1, cutoff=0.6)
    if close:
        return in_section[close[0]]
    # A known name in a wrong place or none ("temprature", "kindd", "prompt.model").
    by_name: dict[str, str] = {}
    for known in FIELDS.values():
        by_name.setdefault(known.name, known.key)
    close = difflib.get_close_matches(leaf, list(by_name), n=1, cutoff=0.6)
    return by_name[close[0]] if close else None


def describe_unknown(unknown: Sequence[str]) -> str:
    """The unknown keys, for one warning: each with the known one it is closest to."""
    described = []
    for key in unknown:
        closest = closest_key(key)
        described.append(f"{key} (did you mean {closest}?)" if closest else key)
    return ", ".join(described)


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
    changes: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for section, value in combined.items():
        if section in SECTIONS and not isinstance(value, Mapping):
            raise SettingsError(section, f"expected an object, got {value!r}")
    for key, value in _leaves(combined):
        field = FIELDS.get(key)
        if field is None:
            unknown.append(key)
            continue
        try:
            changes[key.partition(".")[0]][field.name] = _checked(field, value)
        except ValueError as exc:
            raise SettingsError(field.written, str(exc)) from None
    if changes["backend"].get("url") and "kind" not in changes["backend"]:
        changes["backend"]["kind"] = URL_KIND  # an address without a kind: OpenAI-compatible
    settings = Settings()
    sections = {name: attrs.evolve(getattr(settings, name), **changes[name]) for name in SECTIONS}
    return attrs.evolve(settings, **sections), unknown


def settings_table() -> str:
    """The README's table of settings, from the schema."""
    rows = ["| key | meaning | default |", "|---|---|---|"]
    for field in FIELDS.values():
        default = field.setting.shown_default or _shown(field)
        rows.append(f"| `{field.written}` | {field.setting.doc} | {default} |")
    return "\n".join(rows) + "\n"


def _shown(field: Field) -> str:
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return str(value)


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
