"""The benchmark's command line, its runs and its report (see the package's docstring)."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.latency.report import finite, fmt, results_folder
from bench.local.relay import Exchange, Relay
from bench.local.reuse import CTX_SIZE, DEFAULT_BATCH, Reuse, llama_server, replay, reused_share
from bench.local.session import Session, make_session
from bench.local.systems import Pause, type_into_infill, type_into_llama_vim
from infill.metrics import percentile
from infill.settings import merge, parse_assignment
from tests.llamacpp import QWEN_0_5B, TINY, ModelShape, ensure_llama_server, ensure_qwen_model

# What the README recommends (llama.vim's documentation recommends the same).
RECOMMENDED_FLAGS = "--cache-reuse 256 -b 1024 -ub 1024"
MODELS: dict[str, ModelShape] = {"tiny": TINY, "0.5b": QWEN_0_5B}
INFILL_KINDS = ("llamacpp", "openai")
NEWLINE_TOKEN = 198  # "\n" in the Qwen2 vocabulary
# Calibrated per model for greedy answers (infill's temperature 0) to end their first line now
# and then: the tiny model at 2.5 writes nothing but the line end, at 1.0 a word or a few before
# it; the 0.5B shape writes no line end below 2.0 and some at 2.5.
NEWLINE_BIAS: dict[str, float] = {"tiny": 1.0, "0.5b": 2.5}
LLAMA_VIM_HELP = (
    "llama.vim is on no package registry: clone https://github.com/ggml-org/llama.vim (MIT) "
    "anywhere and pass its folder as --peer-path (make bench-local LLAMA_VIM=DIR)"
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.local", description=__doc__)
    parser.add_argument(
        "--model",
        choices=list(MODELS),
        action="append",
        default=[],
        help="tiny (token accounting, fast) and/or 0.5b (Qwen2.5-Coder-0.5B's shape); "
        "default: both, tiny first",
    )
    parser.add_argument(
        "--server-flags",
        default=RECOMMENDED_FLAGS,
        help=f"llama-server flags under test (default: {RECOMMENDED_FLAGS!r}); "
        "'default' for llama-server's own defaults",
    )
    parser.add_argument("--chars", type=int, default=400, help="characters typed (whole lines)")
    parser.add_argument("--cap-s", type=float, default=10.0, help="longest wait in a pause")
    parser.add_argument(
        "--newline-bias",
        type=float,
        default=None,
        help="logit_bias of the line-end token in every completion request (0: none; default "
        + ", ".join(f"{bias} for {name}" for name, bias in NEWLINE_BIAS.items())
        + ")",
    )
    parser.add_argument("--seed", type=int, default=1, help="fixes the intervals between keys")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an infill setting, such as backend.max_tokens=64",
    )
    parser.add_argument("--peer", choices=["llama.vim"], action="append", default=[])
    parser.add_argument("--peer-path", type=Path, default=None, help="a llama.vim checkout")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SYSTEM",
        help="run only this system (infill-llamacpp, infill-openai, llama.vim)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    args.model = args.model or list(MODELS)
    if "llama.vim" in args.peer and (
        args.peer_path is None or not (args.peer_path / "autoload" / "llama.vim").is_file()
    ):
        parser.error(f"--peer llama.vim needs --peer-path: {LLAMA_VIM_HELP}")
    return args


def server_flags(text: str) -> list[str]:
    return [] if text.strip() == "default" else shlex.split(text)


# -- the numbers -------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, P50, P90 and max (a miss is infinitely late; None for no values)."""
    if not values:
        return {"n": 0, "mean": None, "p50": None, "p90": None, "max": None}
    finite_values = [v for v in values if not math.isinf(v)]
    return {
        "n": len(values),
        "mean": statistics.fmean(values) if len(finite_values) == len(values) else math.inf,
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "max": max(values),
    }


def summarise(
    exchanges: Sequence[Exchange], reuses: Sequence[Reuse], pauses: Sequence[Pause]
) -> dict[str, Any]:
    ttft = [t * 1000 for e in exchanges if (t := e.time_to_first_token()) is not None]
    ghost = [v if (v := p.to_ghost_ms()) is not None else math.inf for p in pauses]
    answered = [v if (v := p.to_answer_ms()) is not None else math.inf for p in pauses]
    share = reused_share(reuses)
    return {
        "requests": len(exchanges),
        "requests_without_tokens": sum(
            1 for e in exchanges if isinstance(e.body, dict) and e.body.get("n_predict") == 0
        ),
        "requests_cancelled": sum(1 for e in exchanges if e.closed_by_client),
        "prompt_tokens_reused_pct": None if share is None else 100 * share,
        "prompt_tokens_evaluated": sum(r.prompt_n for r in reuses),
        "evaluated_per_request": spread([r.prompt_n for r in reuses]),
        "prompt_tokens_per_request": spread([r.prompt_n + r.cache_n for r in reuses]),
        "time_to_first_token_ms": spread(ttft),
        "pauses": len(pauses),
        "pauses_shown": sum(1 for p in pauses if p.ghost is not None),
        "pauses_declined": sum(1 for p in pauses if p.ghost is None and p.answered is not None),
        "pauses_missed": sum(1 for p in pauses if p.answered is None),
        "pause_to_ghost_ms": spread(ghost),
        "pause_to_answer_ms": spread(answered),
    }


def exchange_record(exchange: Exchange, reuse: Reuse | None, origin: float) -> dict[str, Any]:
    body = exchange.body if isinstance(exchange.body, dict) else {}
    ttft = exchange.time_to_first_token()
    return {
        "path": exchange.path,
        "at_s": round(exchange.arrived - origin, 4),
        "ended_s": None if exchange.ended is None else round(exchange.ended - origin, 4),
        "status": exchange.status,
        "cancelled": exchange.closed_by_client,
        "n_predict": body.get("n_predict", body.get("max_tokens")),
        "ttft_ms": None if ttft is None else round(ttft * 1000, 1),
        "live_timings": exchange.timings(),
        "cache_n": None if reuse is None else reuse.cache_n,
        "prompt_n": None if reuse is None else reuse.prompt_n,
        "body": body,
    }


# -- the runs ----------------------------------------------------------------------------------


def run_system(
    model_name: str,
    name: str,
    args: argparse.Namespace,
    binary: Path,
    model: Path,
    session: Session,
    workspace: Path,
    scratch: Path,
    overrides: dict[str, Any],
) -> dict[str, Any]:
    """Type the session into one system with its own llama-server, then replay what it sent
    to a fresh one."""
    flags = server_flags(args.server_flags)
    bias = NEWLINE_BIAS[model_name] if args.newline_bias is None else args.newline_bias
    add = {"logit_bias": [[NEWLINE_TOKEN, bias]]} if bias else {}
    problems: list[str] = []
    log_lines: list[str] = []
    with llama_server(binary, model, flags) as upstream:
        relay = Relay(upstream, add)
        with relay as relay_url:
            origin = time.perf_counter()
            if name.startswith("infill-"):
                kind = name.removeprefix("infill-")
                pauses, log_lines = asyncio.run(
                    type_into_infill(
                        kind, relay_url, session, workspace, scratch / name, args.cap_s, overrides
                    )
                )
            else:
                pauses, problems = type_into_llama_vim(
                    args.peer_path, relay_url, session, workspace, args.cap_s, relay.answer_end
                )
            exchanges = relay.completions()
    wall = time.perf_counter() - origin
    recorded = [(e.path, e.body) for e in exchanges if isinstance(e.body, dict)]
    started = time.perf_counter()
    with llama_server(binary, ensure_qwen_model(TINY), flags) as fresh:
        reuses = replay(fresh, recorded)
    if name.startswith("infill-"):
        (args.out / f"{model.stem}-{name}.stderr.log").write_text(
            "".join(line + "\n" for line in log_lines)
        )
    replayable = iter(reuses)
    return {
        "summary": summarise(exchanges, reuses, pauses),
        "problems": problems,
        "typing_s": round(wall, 1),
        "replay_s": round(time.perf_counter() - started, 1),
        "requests": [
            exchange_record(e, next(replayable) if isinstance(e.body, dict) else None, origin)
            for e in exchanges
        ],
        "pauses": [
            {
                "key": p.key,
                "at_s": round(p.started - origin, 4),
                "to_answer_ms": p.to_answer_ms(),
                "to_ghost_ms": p.to_ghost_ms(),
                "shown": p.shown,
            }
            for p in pauses
        ],
    }


def goals(systems: dict[str, dict[str, Any]], against_peer: bool) -> list[dict[str, Any]]:
    """Issue 18's goals for this run, each with its measured value and whether it is met; the
    pauses compared with llama.vim's if `against_peer` (the 0.5B shape: the tiny model's
    time is the clients' own, not a model's)."""
    checks = []
    for name, result in systems.items():
        if not name.startswith("infill-"):
            continue
        summary = result["summary"]
        reused = summary["prompt_tokens_reused_pct"]
        evaluated = summary["evaluated_per_request"]["mean"]
        checks.append(
            {"goal": f"{name}: reuse >= 90 %", "value": reused, "met": (reused or 0) >= 90}
        )
        checks.append(
            {
                "goal": f"{name}: <= 250 prompt tokens evaluated per request",
                "value": evaluated,
                "met": evaluated is not None and evaluated <= 250,
            }
        )
        peer = systems.get("llama.vim")
        if peer is None or not against_peer:
            continue
        # The answer, shown or empty: with random weights infill declines most of what the
        # model writes, and the time it takes is the model's (its prompt) either way.
        ours, theirs = summary["pause_to_answer_ms"], peer["summary"]["pause_to_answer_ms"]
        ratio = None  # a P90 that is a miss (infinitely late) is no number
        if ours["p90"] is not None and not math.isinf(ours["p90"]) and theirs["p90"]:
            ratio = 0.0 if math.isinf(theirs["p90"]) else ours["p90"] / theirs["p90"]
        checks.append(
            {
                "goal": f"{name}: pause -> answer P90 <= 0.5 x llama.vim's",
                "value": ratio,
                "met": ratio is not None and ratio <= 0.5,
            }
        )
        checks.append(
            {
                "goal": f"{name}: no pause slower than llama.vim's slowest",
                "value": ours["max"],
                "met": ours["max"] is not None
                and theirs["max"] is not None
                and ours["max"] <= theirs["max"],
            }
        )
    return checks


def llama_server_version(binary: Path) -> str:
    found = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    return "; ".join((found.stdout + found.stderr).strip().splitlines())


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for assignment in args.settings:
        overrides = merge(overrides, parse_assignment(assignment))
    session = make_session(args.chars, args.seed)
    binary = ensure_llama_server()
    names = [f"infill-{kind}" for kind in INFILL_KINDS] + list(args.peer)
    if args.only:
        names = [name for name in names if name in args.only]
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="infill-bench-local-") as scratch_dir:
        scratch = Path(scratch_dir)
        workspace = scratch / "workspace"
        workspace.mkdir()
        for file_name, text in session.files.items():  # on disk as the editors open them
            (workspace / file_name).write_text(text, encoding="utf-8")
        for model_name in args.model:
            model = ensure_qwen_model(MODELS[model_name])
            systems: dict[str, dict[str, Any]] = {}
            for name in names:
                print(f"[bench-local] {model_name}: typing into {name} ...", flush=True)
                systems[name] = run_system(
                    model_name, name, args, binary, model, session, workspace, scratch, overrides
                )
                print_system(model_name, name, systems[name]["summary"])
            runs[model_name] = {
                "model": model.name,
                "newline_bias": NEWLINE_BIAS[model_name]
                if args.newline_bias is None
                else args.newline_bias,
                "systems": systems,
                "goals": goals(systems, against_peer=model_name == "0.5b"),
            }
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": {
            "models": args.model,
            "server_flags": args.server_flags,
            "fixed_server_flags": f"--ctx-size {CTX_SIZE} --parallel 1 (batch {DEFAULT_BATCH} "
            "unless the flags say otherwise)",
            "replayed_on": TINY.file_name,
            "chars": args.chars,
            "cap_s": args.cap_s,
            "newline_bias": args.newline_bias,
            "seed": args.seed,
            "settings": overrides,
            "peer": args.peer,
            "peer_path": str(args.peer_path) if args.peer_path else None,
        },
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "llama_server": llama_server_version(binary),
        },
        "session": {
            "files": list(session.files),
            "typed_file": session.typed_file,
            "typed": session.typed,
            "keys": len(session.keys),
            "pauses": session.pauses,
            "gaps_s": [round(k.gap_after, 4) for k in session.keys],
        },
        "runs": runs,
    }


# -- output ------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else ("miss" if math.isinf(value) else f"{value / 1000:.2f}")


def row(model_name: str, name: str, summary: dict[str, Any]) -> list[str]:
    evaluated = summary["evaluated_per_request"]
    ttft = summary["time_to_first_token_ms"]
    answer = summary["pause_to_answer_ms"]
    reused = summary["prompt_tokens_reused_pct"]
    return [
        model_name,
        name,
        str(summary["requests"]),
        "-" if reused is None else f"{reused:.0f} %",
        f"{fmt(evaluated['mean'])} ({fmt(evaluated['p50'])} / {fmt(evaluated['p90'])})",
        f"{_ms(ttft['p50'])} / {_ms(ttft['p90'])}",
        f"{_ms(answer['p50'])} / {_ms(answer['p90'])} / {_ms(answer['max'])}",
        f"{summary['pauses_shown']}/{summary['pauses_declined']}/{summary['pauses_missed']}",
    ]


HEADER = [
    "model",
    "system",
    "requests",
    "reused",
    "evaluated/request mean (P50 / P90)",
    "TTFT s P50 / P90",
    "pause -> answer s P50 / P90 / max",
    "pauses: ghost text / empty / no answer",
]


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    head = " | ".join(c.ljust(w) for c, w in zip(HEADER, widths, strict=True))
    return "\n".join([head, "-+-".join("-" * w for w in widths), *lines])


def print_system(model_name: str, name: str, summary: dict[str, Any]) -> None:
    print(table([row(model_name, name, summary)]), flush=True)


def print_report(results: dict[str, Any]) -> None:
    rows = [
        row(model_name, name, result["summary"])
        for model_name, run in results["runs"].items()
        for name, result in run["systems"].items()
    ]
    print(f"\nllama-server flags: {results['args']['server_flags']}")
    print(table(rows))
    for model_name, run in results["runs"].items():
        for check in run["goals"]:
            value = check["value"]
            shown = "-" if value is None else f"{value:.3g}"
            mark = "met" if check["met"] else "NOT met"
            print(f"  {model_name}: {mark:7} {check['goal']}: {shown}")
        for name, result in run["systems"].items():
            for problem in result["problems"]:
                print(f"  {model_name}: {name}: {problem}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.out = out = results_folder(args.out, "local")
    started = time.perf_counter()
    results = benchmark(args)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(finite(results), indent=1) + "\n")
    print_report(results)
    print(f"wrote {out / 'results.json'} ({results['wall_s']} s)")
    return 0
