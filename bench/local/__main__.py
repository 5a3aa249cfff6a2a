"""`python -m bench.local`: the local-model benchmark (`make bench-local`); see bench/local/."""

from __future__ import annotations

import contextlib
import sys

from bench.local.run import main

if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
