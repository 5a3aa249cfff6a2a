"""Base directories of the XDG spec: where the user's own configuration and state live."""

from __future__ import annotations

import os
from pathlib import Path


def xdg_base(variable: str, *default: str) -> Path:
    """The directory in the environment variable, else ~/`default`. A relative path in the
    variable is ignored, as the spec says: read relative to the directory the server runs in
    (often the workspace), it would let a cloned repository stand in for the user's own files."""
    base = os.environ.get(variable, "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), *default)
    return Path(base)
