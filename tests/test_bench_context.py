"""The context benchmark (bench/context.py) measures prompts that have context in them: with the
default settings (the offline engine, no prompt) it measured nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.context import run_latency


def test_latency_times_the_context_gathered_for_each_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    for number in range(21):  # 20 open besides the current one, of more than 4 KB each
        functions = "".join(
            f"def step_{number}_{i}(value, limit):\n    return helper_{i}(value) + limit\n\n"
            for i in range(80)
        )
        (tmp_path / f"module_{number}.py").write_text(functions)
    run_latency(tmp_path, requests=20, seed=1)
    printed = capsys.readouterr().out
    gathered = re.search(r"context gathering\s+n=(\d+)", printed)
    assert gathered is not None and int(gathered.group(1)) == 20, printed
