"""The numbers: pause to ghost text, server overhead, beyond the floor, hits, backend
requests; and the server's own account of where each answer came from."""

from __future__ import annotations

import contextlib
import math
import re
import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.latency.fake_model import Answered
from bench.latency.replay import Asked
from bench.latency.systems import System
from infill.metrics import PERCENTILES, percentiles

PAUSE_S = 0.5  # a gap after a key at least this long is a pause


def distribution(values: Sequence[float]) -> dict[str, Any]:
    """P50/P75/P95/P99 (None for no values; a miss counts as infinitely late) and n."""
    quantiles = percentiles(values, PERCENTILES) if values else [None] * len(PERCENTILES)
    stats: dict[str, Any] = {f"p{q}": v for q, v in zip(PERCENTILES, quantiles, strict=True)}
    stats["n"] = len(values)
    return stats


def single_line_position(line_before: str) -> bool:
    """Where infill asks for one line (README, "How a completion is made"): after code on the
    line, not after a block opener, not in a string opened on the line. The same positions
    count for every system."""
    code = line_before.rstrip()
    opened_string = code.count('"""') % 2 == 1 or code.count("'''") % 2 == 1
    return bool(code.strip()) and not code.endswith((":", "{")) and not opened_string


def first_line_end(text: str) -> int:
    """Where the first line of a suggestion made from `text` ends: the first line end after
    something other than blanks (the model may start with the line end of the cursor's line)."""
    match = re.search(r"\S[^\n]*\n", text)
    return match.end() if match else len(text)


@dataclass
class Backend:
    """A backend request as the analysis sees it."""

    arrived: float
    ended: float
    sent: list[float]
    pieces: list[str]
    closed_early: bool


def backend_of(answered: Answered) -> Backend:
    request = answered.request
    pieces = request.reply.chunks if request.reply is not None else []
    ended = request.ended if request.ended is not None else math.inf
    return Backend(request.arrived, ended, list(request.sent), pieces, request.closed_early)


def floor_of(backend: Backend) -> float | None:
    """Seconds from the request's arrival to the piece that completed the first line."""
    text, needed = "", first_line_end("".join(backend.pieces))
    for piece, moment in zip(backend.pieces, backend.sent, strict=False):
        text += piece
        if len(text) >= needed:
            return moment - backend.arrived
    # Sent whole (Tabby) or cut before: the last piece sent is when the text was there.
    return backend.sent[-1] - backend.arrived if backend.sent else None


def analyse(
    asked: Sequence[Asked],
    answered: Sequence[Answered],
    keys: int,
    sources: Mapping[Any, str] | None = None,
) -> dict[str, Any]:
    """Samples and summary of one system's replay. `sources`: where the server says each
    answer came from (by request id), where it says so (infill's local metrics)."""
    sources = sources or {}
    by_cursor: dict[tuple[int, int | None], list[Backend]] = {}
    by_segment: dict[int, list[Backend]] = {}
    for record in answered:
        backend = backend_of(record)
        by_cursor.setdefault((record.segment, record.offset), []).append(backend)
        by_segment.setdefault(record.segment, []).append(backend)

    samples: list[dict[str, Any]] = []
    pause_ms: list[float] = []
    model_pause_ms: list[float] = []  # the pauses whose suggestion had to come from the model
    outcomes = {"shown": 0, "late": 0, "declined": 0}
    overhead_ms: list[float] = []
    to_backend_ms: list[float] = []
    after_backend_ms: list[float] = []
    beyond_floor_ms: list[float] = []
    hit_ms: list[float] = []
    joined_ms: list[float] = []
    for item in asked:
        in_time = item.answered is not None and item.answered <= item.until and not item.error
        wait = (item.answered - item.sent) * 1000 if item.answered is not None else None
        sample: dict[str, Any] = {
            "segment": item.segment,
            "key": item.key,
            "offset": item.offset,
            "pause_ms": round(item.pause * 1000, 1),
            "wait_ms": wait,
            "in_time": in_time,
            "shown": item.shown,
            "error": item.error,
        }
        if item.request_id in sources:
            sample["server_source"] = sources[item.request_id]
        if in_time and item.shown:
            assert item.answered is not None and wait is not None
            answered_at = item.answered
            own = [
                b
                for b in by_cursor.get((item.segment, item.offset), [])
                if item.sent <= b.arrived <= answered_at
            ]
            used = [t for t in own[0].sent if t <= answered_at] if own else []
            if own and used:
                backend = own[0]
                backend_ms = (used[-1] - backend.arrived) * 1000
                sample["source"] = "backend"
                sample["backend_ms"] = backend_ms
                sample["overhead_ms"] = wait - backend_ms
                overhead_ms.append(wait - backend_ms)
                # The overhead's two parts: before the backend was asked (for a debounce, the
                # prompt), and after its last piece (the post-processing, the answer's way).
                to_backend_ms.append((backend.arrived - item.sent) * 1000)
                after_backend_ms.append((answered_at - used[-1]) * 1000)
                floor = floor_of(backend)
                # One line asked and shown (it may start with the line end of the cursor's line).
                one_line = "\n" not in item.shown.lstrip("\n")
                if one_line and single_line_position(item.line_before) and floor is not None:
                    sample["floor_ms"] = floor * 1000
                    sample["beyond_floor_ms"] = wait - floor * 1000
                    beyond_floor_ms.append(wait - floor * 1000)
            else:
                # Joined: a request for an earlier cursor was on its way and went on (not
                # called off when this key came) until it could answer. The server's word
                # where it has one: a stream open meanwhile may not have been what served.
                streaming = any(
                    b.arrived < item.sent
                    and b.ended > item.sent
                    and (not b.closed_early or b.ended >= answered_at)
                    for b in by_segment.get(item.segment, [])
                )
                if item.request_id in sources:
                    streaming = sources[item.request_id] == "inflight"
                sample["source"] = "joined" if streaming else "hit"
                (joined_ms if streaming else hit_ms).append(wait)
        if item.pause >= PAUSE_S:
            if in_time and item.shown:
                outcomes["shown"] += 1
                pause_ms.append(wait if wait is not None else math.inf)
                if sample["source"] in ("backend", "joined"):
                    model_pause_ms.append(pause_ms[-1])
            elif in_time:
                outcomes["declined"] += 1
            else:
                outcomes["late"] += 1
                pause_ms.append(math.inf)
                model_pause_ms.append(math.inf)  # nothing was ready: it waited for the model
        samples.append(sample)

    shown = sum(1 for s in samples if s.get("source"))
    told = [s for s in samples if s.get("source") and "server_source" in s]
    disagree = sum(
        1 for s in told if (s["source"] == "backend") != (s["server_source"] == "backend")
    )
    hits = len(hit_ms) + len(joined_ms)
    summary = {
        "keystrokes": keys,
        "pauses": sum(outcomes.values()),
        **{f"pauses_{k}": v for k, v in outcomes.items()},
        "pause_to_ghost_ms": distribution(pause_ms),
        "pause_to_model_ghost_ms": distribution(model_pause_ms),
        "server_overhead_ms": distribution(overhead_ms),
        "to_backend_ms": distribution(to_backend_ms),
        "after_backend_ms": distribution(after_backend_ms),
        "beyond_floor_ms": distribution(beyond_floor_ms),
        "hit_ms": distribution(hit_ms + joined_ms),
        "hit_cache_ms": distribution(hit_ms),
        "hit_joined_ms": distribution(joined_ms),
        "suggestions_shown": shown,
        "hits": hits,
        "hit_rate": hits / shown if shown else None,
        "backend_requests": len(answered),
        "backend_requests_per_100_keys": 100 * len(answered) / keys if keys else None,
        "backend_streams_closed_early": sum(1 for a in answered if a.request.closed_early),
        "backend_requests_not_located": sum(1 for a in answered if a.offset is None),
        # The server's own account of the answers shown, where it gives one, and how often it
        # disagrees with the inference (backend or not).
        "server_sources": dict(Counter(s["server_source"] for s in told)) if told else None,
        "server_source_disagreements": disagree if told else None,
    }
    backend_samples = [
        {
            "segment": a.segment,
            "offset": a.offset,
            "arrived": a.request.arrived,
            "sent": a.request.sent,
            "ended": a.request.ended,
            "closed_early": a.request.closed_early,
            "answer": a.text,
            "wrong": a.wrong,
        }
        for a in answered
    ]
    return {
        "summary": summary,
        "requests": samples,
        "backend_requests": backend_samples,
        "pause_to_ghost_ms": pause_ms,
    }


def metrics_database(system: System) -> Path | None:
    """Where infill keeps its local metrics (in the run's own state directory)."""
    state = system.env.get("XDG_STATE_HOME") if system.command is None else None
    return Path(state) / "infill" / "metrics.sqlite3" if state else None


def server_metrics(database: Path | None) -> dict[str, Any] | None:
    """infill's own summary of the run (`infill stats --json`), if it keeps metrics."""
    if database is None or not database.is_file():
        return None
    try:
        from infill.metrics import report

        found: dict[str, Any] = report(database)
        return found
    except Exception as exc:  # a format in flux must not cost the run
        return {"error": str(exc)}


def server_sources(
    database: Path | None, asked: Sequence[Asked], wall_minus_perf: float
) -> dict[Any, str]:
    """Where infill says each answer came from. Its local metrics hold one event per answered
    request (its source, the wall-clock time just before the answer left): each is matched
    with the first answer the client received after it. Empty if there are no such events."""
    if database is None or not database.is_file():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            query = "SELECT ts, source FROM events WHERE kind = 'request' ORDER BY ts"
            rows = db.execute(query).fetchall()
    except sqlite3.Error:
        return {}
    answers = sorted(
        (item.answered, item.request_id)
        for item in asked
        if item.answered is not None and not item.error
    )
    found: dict[Any, str] = {}
    next_answer = 0
    for ts, source in rows:
        at = ts - wall_minus_perf  # on the client's clock
        while next_answer < len(answers) and answers[next_answer][0] < at - 0.002:
            next_answer += 1  # answers the server did not record (or the clocks' jitter)
        if next_answer < len(answers) and answers[next_answer][0] - at < 0.05:
            found[answers[next_answer][1]] = source
            next_answer += 1
    return found
