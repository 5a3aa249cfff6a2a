"""The VS Code extension in editors/vscode: installed from its package-lock.json, compiled, its
unit tests run with node's test runner, and packaged as a .vsix with no network. Its settings
are checked against the server's. (The end-to-end run in a real VS Code is `make test-vscode`:
it needs Chromium, Node 24 and a ~3-minute native build of code-server.)"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from infill.settings import FIELDS
from tests.vscode_build import EXTENSION, compile_extension, npm, package_vsix

pytestmark = pytest.mark.timeout(900)  # the first `npm ci` on a machine downloads ~260 packages


@pytest.fixture(scope="module")
def compiled() -> Path:
    return compile_extension()


def test_unit_tests_pass(compiled: Path):
    output = npm("test")

    counts = dict(re.findall(r"^# (pass|fail) (\d+)$", output, re.MULTILINE))
    assert int(counts["pass"]) >= 10, output
    assert counts["fail"] == "0", output


def test_vsix_is_packaged_offline(compiled: Path):
    vsix = package_vsix()

    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("extension/package.json"))
    assert {
        "extension/out/extension.js",
        "extension/node_modules/vscode-languageclient/package.json",
        "extension.vsixmanifest",
    } <= names
    assert not any(name.startswith(("extension/src/", "extension/out/test/")) for name in names)
    assert manifest["main"] == "./out/extension.js"


def test_settings_are_the_servers_schema():
    manifest = json.loads((EXTENSION / "package.json").read_text())
    properties = manifest["contributes"]["configuration"]["properties"]
    # Not `backend.api_key`: config.toml only, never from an editor.
    server = {f"infill.{key}": field for key, field in FIELDS.items() if not field.setting.file_key}
    extension_keys = {"infill.enable", "infill.server.path", "infill.languages"}
    json_types = {bool: "boolean", int: "integer", float: "number", str: "string"}

    assert set(properties) == server.keys() | extension_keys
    for key, field in server.items():
        schema, prop = field.setting, properties[key]
        assert prop["type"] == json_types[field.type], key
        assert prop.get("minimum") == schema.minimum, key
        assert prop.get("maximum") == schema.maximum, key
        assert prop.get("enum") == (list(schema.choices) or None), key
        assert prop.get("scope") == ("machine" if schema.machine else None), key
        # No defaults for the server's keys: the extension sends only what the user set, so the
        # user's config.toml is not overridden by values they never chose; the description
        # tells the server's.
        assert "default" not in prop, key
        told = re.search(r"infill's default: ([^);]+)", prop["description"])
        assert told is None or json.loads(told.group(1)) == field.default, key
