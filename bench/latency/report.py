"""The output: the table, the ratios and goals, and the CDF plot."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from infill.metrics import PERCENTILES, percentile

RESULTS = Path(__file__).resolve().parents[1] / "results"  # bench/results, git-ignored


def results_folder(chosen: Path | None, kind: str) -> Path:
    """Where a run writes: the folder asked for, else bench/results/<kind>-<time>; made."""
    out = chosen or RESULTS / time.strftime(f"{kind}-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    return out


def finite(value: Any) -> Any:
    """JSON has no infinity: a miss is written as null."""
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "miss"
    return f"{value:.1f}"


METRICS = (
    ("pause_to_ghost_ms", "pause → ghost text (ms)"),
    ("pause_to_model_ghost_ms", "  when the model was needed (ms)"),
    ("server_overhead_ms", "server overhead (ms)"),
    ("to_backend_ms", "  key → backend request (ms)"),
    ("after_backend_ms", "  backend's last piece → answer (ms)"),
    ("beyond_floor_ms", "single line beyond floor (ms)"),
    ("hit_ms", "hit latency (ms)"),
    ("hit_cache_ms", "  cache/typeahead, at once (ms)"),
    ("hit_joined_ms", "  joined a request in flight (ms)"),
)


def ratios(systems: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """infill / each peer."""
    ours = systems["infill"]["summary"]
    found = {}
    for name, result in systems.items():
        if name == "infill":
            continue
        theirs = result["summary"]
        entry: dict[str, float | None] = {}
        for q in PERCENTILES:
            a, b = ours["pause_to_ghost_ms"][f"p{q}"], theirs["pause_to_ghost_ms"][f"p{q}"]
            entry[f"pause_to_ghost_p{q}"] = _ratio(a, b)
        a, b = ours["pause_to_model_ghost_ms"]["p50"], theirs["pause_to_model_ghost_ms"]["p50"]
        entry["pause_to_model_ghost_p50"] = _ratio(a, b)
        entry["backend_requests_per_100_keys"] = _ratio(
            ours["backend_requests_per_100_keys"], theirs["backend_requests_per_100_keys"]
        )
        found[name] = entry
    return found


def _ratio(a: float | None, b: float | None) -> float | None:
    """a / b; None where either is missing or a miss."""
    if a is None or b is None or b == 0 or math.isinf(a) or math.isinf(b):
        return None
    return a / b


def goals(systems: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The card's latency goals, each with the measured value and whether it is met."""
    ours = systems["infill"]["summary"]
    checks = []

    def check(goal: str, value: float | None, met: bool | None) -> None:
        checks.append({"goal": goal, "value": value, "met": met})

    p95 = ours["server_overhead_ms"]["p95"]
    check("server overhead P95 <= 10 ms", p95, None if p95 is None else p95 <= 10)
    p95 = ours["hit_cache_ms"]["p95"]
    check("typeahead/cache hit P95 <= 2 ms", p95, None if p95 is None else p95 <= 2)
    trips = ours.get("breaker_trips")
    check("no breaker trip (backend unavailable)", trips, None if trips is None else trips == 0)
    p95 = ours["beyond_floor_ms"]["p95"]
    check(
        "single-line suggestion P95 within 5 ms of the floor",
        p95,
        None if p95 is None else p95 <= 5,
    )
    for name, result in systems.items():
        if name == "infill":
            continue
        theirs = result["summary"]
        ratio = _ratio(ours["pause_to_ghost_ms"]["p50"], theirs["pause_to_ghost_ms"]["p50"])
        check(f"pause → ghost P50 <= 0.5 x {name}'s", ratio, ratio is not None and ratio <= 0.5)
        a = ours["backend_requests_per_100_keys"]
        b = theirs["backend_requests_per_100_keys"]
        check(f"fewer backend requests per 100 keys than {name}", a, None not in (a, b) and a < b)
    return checks


def print_report(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    # Wide enough for four systems side by side, also when the output is not a terminal.
    console = Console(width=max(Console().width, 150))
    systems = results["systems"]
    table = Table(title="Latency (ms) — P50 / P75 / P95 / P99 (n)")
    table.add_column("metric")
    for name in systems:
        table.add_column(name, justify="right")
    for key, label in METRICS:
        row = [label]
        for result in systems.values():
            stats = result["summary"][key]
            cells = " / ".join(fmt(stats[f"p{q}"]) for q in PERCENTILES)
            row.append(f"{cells} ({stats['n']})")
        table.add_row(*row)
    for key, label in (
        ("pauses", "pauses"),
        ("pauses_shown", "  ghost text shown in the pause"),
        ("pauses_late", "  answer too late (miss)"),
        ("pauses_declined", "  nothing to show (declined)"),
        ("suggestions_shown", "suggestions shown"),
        ("hits", "  without their own backend request"),
        ("backend_requests", "backend requests"),
        ("backend_requests_per_100_keys", "backend requests / 100 keys"),
        ("backend_streams_closed_early", "backend requests dropped early"),
    ):
        row = [label]
        for result in systems.values():
            value = result["summary"][key]
            row.append(f"{value:.1f}" if isinstance(value, float) else str(value))
        table.add_row(*row)
    console.print(table)
    for name, entry in results["ratios"].items():
        parts = ", ".join(f"{k} {v:.3g}" if v is not None else f"{k} -" for k, v in entry.items())
        console.print(f"infill / {name}: {parts}")
    for check in results["goals"]:
        mark = {True: "[green]met[/]", False: "[red]not met[/]", None: "[yellow]n/a[/]"}
        value = check["value"]
        shown = "-" if value is None else f"{value:.3g}"
        console.print(f"  {mark[check['met']]}  {check['goal']}: {shown}")
    for name, result in systems.items():
        told = result["summary"].get("server_sources")
        disagree = result["summary"].get("server_source_disagreements")
        if told:
            console.print(
                f"{name}'s own account of the suggestions shown: {told}; "
                f"it disagrees with the inference (backend or not) on {disagree}"
            )
    reported = systems.get("infill", {}).get("server_metrics")
    if isinstance(reported, dict) and "error" not in reported:
        # The server's own count covers the warm-up keys too.
        sources = reported.get("sources")
        per_100 = reported.get("backend_requests_per_100_keystrokes")
        console.print(f"infill's own metrics (with the warm-up): answers by source {sources}")
        console.print(f"  and backend requests per 100 keys {per_100}")


def plot_cdf(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    longest = 0.0
    for name, result in results["systems"].items():
        values = result["pause_to_ghost_ms"]
        if not values:
            continue
        shown = sorted(v for v in values if not math.isinf(v))
        # Misses are in the total, so a line that never reaches 1 shows how many there were.
        xs = [0.0, *shown]
        ys = [0.0, *((i + 1) / len(values) for i in range(len(shown)))]
        axes.step(xs, ys, where="post", label=f"{name} (P50 {fmt(percentile(values, 50))} ms)")
        longest = max(longest, *shown) if shown else longest
    args = results["args"]
    axes.axvline(args["ttft_ms"], color="grey", linestyle=":", label="time to first token")
    axes.set_xlim(0, longest * 1.05 if longest else 1000)
    axes.set_ylim(0, 1)
    axes.set_xlabel("last keystroke of a pause → ghost text (ms)")
    axes.set_ylabel("share of pauses (misses never get there)")
    axes.set_title(
        f"Pause to ghost text, fake model {args['ttft_ms']:g} ms to first token, "
        f"{args['tps']:g} tokens/s"
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
