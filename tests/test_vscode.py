"""The VS Code extension in editors/vscode: installed from its package-lock.json, compiled, its
unit tests run with node's test runner, and packaged as a .vsix with no network. Its settings
are checked against the server's. (The run in a real VS Code is tests/test_vscode_e2e.py.)"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest

from infill.backends import BACKEND_KINDS
from infill.prompts import TEMPLATES
from infill.settings import VALIDATORS
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


def test_vsix_is_packaged_offline_as_one_bundle(compiled: Path):
    vsix = package_vsix()

    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("extension/package.json"))
        bundle = archive.read("extension/dist/extension.js").decode()
    # The extension and vscode-languageclient in one file: a few files to install, not the
    # hundreds of an unbundled node_modules.
    assert manifest["main"] == "./dist/extension.js"
    assert len(names) <= 10, sorted(names)
    assert not [name for name in names if name.startswith("extension/node_modules/")]
    assert not any(name.startswith(("extension/src/", "extension/out/")) for name in names)
    assert "textDocument/inlineCompletion" in bundle  # the client's protocol, inlined
    assert 'require("vscode")' in bundle  # which VS Code itself provides


def test_settings_are_the_servers():
    manifest = json.loads((EXTENSION / "package.json").read_text())
    properties = manifest["contributes"]["configuration"]["properties"]
    server_keys = {
        f"infill.{section}.{key}"
        for section, keys in VALIDATORS.items()
        for key in keys
        if key != "api_key_from_file"  # config.toml only, never from an editor
    }
    extension_keys = {"infill.enable", "infill.server.path", "infill.languages"}

    assert set(properties) == server_keys | extension_keys
    assert properties["infill.backend.kind"]["enum"] == list(BACKEND_KINDS)
    assert properties["infill.backend.template"]["enum"] == ["auto", "chat", *TEMPLATES]
    # No defaults for the server's keys: the extension sends only what the user set, so the
    # user's config.toml is not overridden by values they never chose.
    assert not [key for key in server_keys if "default" in properties[key]]
