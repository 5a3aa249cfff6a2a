"""`python -m bench.latency`: the benchmark, as the package's docstring describes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import bench.latency
from bench.latency.analysis import (
    PAUSE_S,
    analyse,
    metrics_database,
    server_metrics,
    server_sources,
)
from bench.latency.fake_model import TypedFileModel
from bench.latency.replay import run_system
from bench.latency.report import finite, goals, plot_cdf, print_report, ratios, results_folder
from bench.latency.systems import (
    TABBY_AGENT_VERSION,
    ensure_tabby_agent,
    infill_system,
    tabby_system,
)
from bench.latency.typing_model import TypingModel, make_session
from infill.notices import BREAKER_TRIP
from infill.settings import (
    SettingsError,
    describe_unknown,
    merge,
    parse_assignment,
    parse_settings,
)
from tests.fake_llm import FakeLLM


def _setting(text: str) -> dict[str, Any]:
    """`--set KEY=VALUE`, checked by infill's settings schema: a typo would measure the
    defaults instead."""
    try:
        layer = parse_assignment(text)
        _, unknown = parse_settings(layer)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown setting {describe_unknown(unknown)}")
    return layer


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    summary = (bench.latency.__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=summary)
    parser.add_argument("--peer", choices=["tabby-agent"], action="append", default=[])
    parser.add_argument("--ttft-ms", type=float, default=150, help="fake model's first token")
    parser.add_argument("--tps", type=float, default=60, help="fake model's tokens per second")
    parser.add_argument("--answer-lines", type=int, default=2, help="lines after the cursor's")
    parser.add_argument(
        "--wrong",
        type=float,
        default=0.5,
        help="share of answers with a wrong word in their first line (0: always right)",
    )
    parser.add_argument("--lines", type=int, default=3, help="lines typed per file")
    parser.add_argument(
        "--probes", type=int, default=3, help="probes per file: a value asked for elsewhere"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only this system"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--set",
        dest="settings",
        type=_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an infill setting, such as completion.debounce_ms=0",
    )
    return parser.parse_args(argv)


async def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    session = make_session(args.lines, args.seed, probes=args.probes)
    keys = sum(len(s.keys) for s in session)
    overrides: dict[str, Any] = {}
    for layer in args.settings:
        overrides = merge(overrides, layer)
    cli = ensure_tabby_agent() if "tabby-agent" in args.peer else None
    fake = await FakeLLM().start()
    model = TypedFileModel(args.ttft_ms / 1000, args.tps, args.answer_lines, args.wrong, args.seed)
    fake.on_request = model.reply
    systems: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="infill-latency-") as scratch_dir:
            scratch = Path(scratch_dir)
            workspace = scratch / "workspace"
            workspace.mkdir()
            for segment in session:  # the documents as they are on disk when opened
                (workspace / segment.name).write_text(segment.source[: segment.start])
            runs = [infill_system(fake, scratch / "infill", overrides)]
            if cli is not None:
                runs.append(tabby_system("tabby-agent", cli, fake, scratch / "tabby", False))
                runs.append(
                    tabby_system("tabby-agent debounce 0", cli, fake, scratch / "tabby0", True)
                )
            if args.only:
                runs = [system for system in runs if system.name in args.only]
            columns = (*Progress.get_default_columns()[:2], MofNCompleteColumn())
            # Drawn once a second: each drawing holds this process (the client and the fake
            # model) for a few milliseconds, which would show in the measured waits.
            bar = (*columns, BarColumn(), TimeElapsedColumn())
            with Progress(*bar, refresh_per_second=1) as progress:
                tasks = {s.name: progress.add_task(s.name, total=keys) for s in runs}
                for system in runs:
                    task = tasks[system.name]
                    wall_minus_perf = time.time() - time.perf_counter()
                    try:
                        asked, answered = await run_system(
                            system,
                            session,
                            workspace,
                            fake,
                            model,
                            lambda task=task: progress.advance(task),  # type: ignore[misc]
                        )
                    finally:
                        log = args.out / f"{system.name.replace(' ', '-')}.stderr.log"
                        log.write_text("".join(line + "\n" for line in system.stderr))
                    database = metrics_database(system)  # complete: the server has exited
                    sources = server_sources(database, asked, wall_minus_perf)
                    systems[system.name] = analyse(asked, answered, keys, sources)
                    systems[system.name]["server_metrics"] = server_metrics(database)
                    # A slow model mistaken for a dead one (the circuit breaker opening).
                    systems[system.name]["summary"]["breaker_trips"] = sum(
                        BREAKER_TRIP in line for line in system.stderr
                    )
    finally:
        await fake.stop()
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {
            "peer": args.peer,
            "ttft_ms": args.ttft_ms,
            "tps": args.tps,
            "answer_lines": args.answer_lines,
            "wrong": args.wrong,
            "lines": args.lines,
            "probes": args.probes,
            "seed": args.seed,
            "settings": overrides,
            "pause_s": PAUSE_S,
        },
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "tabby_agent": TABBY_AGENT_VERSION if cli is not None else None,
        },
        "session": {
            "keystrokes": keys,
            "typing": asdict(TypingModel()),
            "segments": [
                {
                    "name": s.name,
                    "origin": s.origin,
                    "start": s.start,
                    "typed": s.typed,
                    "gaps_s": [round(k.gap_after, 4) for k in s.keys],
                }
                for s in session
            ],
        },
        "systems": systems,
        "ratios": ratios(systems) if "infill" in systems else {},
        "goals": goals(systems) if "infill" in systems else [],
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.out = out = results_folder(args.out, "latency")
    started = time.perf_counter()
    results = asyncio.run(benchmark(args))
    results["wall_s"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(finite(results), indent=1) + "\n")
    plot_cdf(results, out / "latency_cdf.png")
    print_report(results)
    print(f"wrote {out / 'results.json'} and {out / 'latency_cdf.png'} ({results['wall_s']} s)")
    print(f"(and each system's stderr: {out}/*.stderr.log)")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
