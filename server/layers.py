"""The user's settings in layers, later ones winning: config.toml ("file"), the editor's
initializationOptions ("init") and its configuration ("client")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infill.settings import (
    Settings,
    SettingsError,
    expand_dotted,
    load_user_config,
    parse_settings,
    take_file_api_key,
)


class Refused(Exception):
    """A layer that was not taken, and why (a message for the user)."""


class SettingsLayers:
    """A layer is only stored once the whole combination validates, so the last good settings
    stay in force."""

    def __init__(self) -> None:
        self.by_name: dict[str, Mapping[str, Any]] = {"file": {}, "init": {}, "client": {}}
        self.unknown_told: set[str] = set()  # each unknown key is warned about once

    def read_file(self) -> None:
        """Read config.toml into the "file" layer (not yet validated with the others); raises
        SettingsError if it cannot be read."""
        self.by_name = {**self.by_name, "file": load_user_config()}

    def combine(self, layer: str, value: Any) -> tuple[Settings, list[str]]:
        """The settings with `layer` set to `value` (None: empty), and the unknown keys not
        warned about before; raises Refused, keeping the layers as they were."""
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise Refused(f"settings must be an object, got {value!r}")
        if layer == "file":
            value = take_file_api_key(value)
        else:
            backend = expand_dotted(value).get("backend")
            if isinstance(backend, Mapping) and {"api_key", "api_key_from_file"} & set(backend):
                # Editors show and sync their settings; a key belongs in the environment.
                raise Refused(
                    "backend.api_key is only read from config.toml: name an environment "
                    "variable in backend.api_key_env instead; keeping the previous settings"
                )
        candidate = {**self.by_name, layer: value}
        try:
            settings, unknown = parse_settings(*candidate.values())
        except SettingsError as exc:
            raise Refused(f"{exc}; keeping the previous settings") from exc
        self.by_name = candidate
        untold = [key for key in unknown if key not in self.unknown_told]
        self.unknown_told.update(untold)
        return settings, untold
