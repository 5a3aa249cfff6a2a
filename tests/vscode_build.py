"""Building the VS Code extension in editors/vscode with npm, for its tests."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

EXTENSION = Path(__file__).resolve().parent.parent / "editors" / "vscode"


def npm(*args: str, offline: bool = False) -> str:
    """Run npm in the extension's folder; its output, or an AssertionError with all of it."""
    # Offline: in a network namespace of its own, with no interface but a loopback that is down
    # (in a user namespace of its own too when not run as root, which may not make one).
    isolation = ["unshare", "--net", "--map-root-user"] if offline else []
    done = subprocess.run(
        [*isolation, "npm", *args],
        cwd=EXTENSION,
        capture_output=True,
        text=True,
        env={**os.environ, "npm_config_update_notifier": "false"},
        timeout=800,
    )
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@functools.cache  # once per test session: tests/test_vscode.py and tests/test_vscode_e2e.py
def compile_extension() -> Path:
    """`npm ci` from the committed package-lock.json, then `tsc`."""
    npm("ci", "--no-audit", "--no-fund")
    npm("run", "compile")
    return EXTENSION


def package_vsix() -> Path:
    """The compiled extension as a .vsix, built with the network cut off."""
    vsix = EXTENSION / "infill.vsix"
    vsix.unlink(missing_ok=True)
    npm("run", "package", offline=True)
    return vsix
