"""Local metrics: counts and timings of the server's work, kept in a SQLite file on this machine
and read by `infill stats`. Nothing is sent anywhere, and no document text, path or URI is
stored: only event kinds, where an answer came from, stage timings and character counts.

Recording (the server; every method returns at once, whatever happens to the file)::

    metrics = Metrics(default_path() if settings.metrics.enabled else None)  # None: all no-ops
    metrics.keystroke(uri)          # a didChange that typed text (the URI is not stored)
    metrics.backend_request()       # an HTTP request to the model
    metrics.request(source, timings_ms, shown_chars)
        # one inline request answered. source: "backend", "cache", "typeahead", "inflight"
        # (joined a request in flight), "prefetch", or "none" (nothing to show, or declined).
        # timings_ms: milliseconds per stage, such as {"context": 3.1, "prompt": 0.8,
        # "backend": 180.0, "postprocess": 0.6, "total": 190.2}; "total" is also reported by
        # source. shown_chars: characters of the suggestion shown, 0 = nothing shown.
    metrics.accepted(chars, partial)  # a shown suggestion accepted, whole or in part
    metrics.next_edit(event)        # a next edit "proposed", "shown", "accepted" or "rejected"
    metrics.prompt_cache(cached, evaluated)  # prompt tokens the server read from its cache,
        # and those it computed, where its API says so (llama.cpp, Anthropic, OpenAI)
    metrics.close()                 # at shutdown: writes what is pending, stops the writer

Reading::

    report(path, since=None) -> dict   # the numbers (`infill stats --json`)
    summary(path, since=None) -> str   # the same as text (`infill stats`)

The methods only append to an in-memory queue; a daemon thread writes it to the database in one
transaction about every second, and on close(). Several server processes (editor windows) may
share the file: it is in WAL mode and writers wait for each other. On any error with the file
(unwritable, corrupt, written by a newer infill) the writer logs one warning and the object turns
into a no-op for the rest of the process. Events older than RETENTION_DAYS are deleted when a
process first writes, so the file stays small.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from infill.xdg import xdg_base

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RETENTION_DAYS = 90
# Answers that did not wait for a new model request.
HIT_SOURCES = ("cache", "typeahead", "inflight", "prefetch")
SOURCES = ("backend", *HIT_SOURCES, "none")
# Report order of the stages the pipeline names; others follow alphabetically, then "total",
# then the total by source ("total/cache").
STAGE_ORDER = ("window", "context", "prompt", "backend", "postprocess")
PERCENTILES = (50, 75, 95, 99)

# Counters carry nothing but their time: each batch writes them as one row with a count, so
# keystrokes do not add a row each.
NEXT_EDIT_EVENTS = ("proposed", "shown", "accepted", "rejected")
_COUNTERS = ("keystroke", "backend_request", *(f"next_edit_{e}" for e in NEXT_EDIT_EVENTS))
# A writer that cannot keep up (a file locked for long) drops the oldest events, not memory.
_QUEUE_LIMIT = 100_000
# How long a writer waits for another process's transaction before giving up (and disabling).
_BUSY_TIMEOUT_S = 10.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,        -- Unix time, seconds
        session TEXT NOT NULL,   -- random per server process
        kind TEXT NOT NULL,      -- keystroke, backend_request, request, accept, prompt_cache,
                                 -- next_edit_*
        source TEXT,             -- request: where the answer came from
        timings TEXT,            -- request: JSON object, milliseconds per stage;
                                 -- prompt_cache: {"cached": tokens, "evaluated": tokens}
        chars INTEGER,           -- request: characters shown, accept: characters accepted
        partial INTEGER,         -- accept: 1 when accepted in part
        count INTEGER NOT NULL DEFAULT 1  -- counters: events in this row
    )""",
    "CREATE INDEX IF NOT EXISTS events_ts ON events (ts)",
)

# (ts, kind, source, timings, chars, partial): what the recording methods queue.
_Event = tuple[float, str, str | None, dict[str, float] | None, int | None, int | None]


class MetricsError(Exception):
    """The database cannot be read (corrupt, not a database, a newer schema)."""


def state_dir() -> Path:
    """$XDG_STATE_HOME/infill, else ~/.local/state/infill."""
    return xdg_base("XDG_STATE_HOME", ".local", "state") / "infill"


def default_path() -> Path:
    return state_dir() / "metrics.sqlite3"


class Metrics:
    """Counts and timings of one server process, written to SQLite in the background."""

    def __init__(self, path: Path | None, flush_seconds: float = 1.0) -> None:
        self.path = path
        self.enabled = path is not None
        self._session = secrets.token_hex(8)
        self._flush_seconds = flush_seconds
        # deque.append is atomic: the request path takes no lock.
        self._queue: collections.deque[_Event] = collections.deque(maxlen=_QUEUE_LIMIT)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if path is not None:
            self._thread = threading.Thread(target=self._run, name="infill-metrics", daemon=True)
            self._thread.start()

    def keystroke(self, uri: str) -> None:
        """A didChange that typed text. The URI is not stored."""
        if self.enabled:
            self._queue.append((time.time(), "keystroke", None, None, None, None))

    def request(self, source: str, timings_ms: Mapping[str, float], shown_chars: int) -> None:
        """One inline request answered (see the module docstring for the sources)."""
        if self.enabled:
            # A copy: the caller may go on changing its dict.
            timings = dict(timings_ms)
            self._queue.append((time.time(), "request", source, timings, shown_chars, None))

    def backend_request(self) -> None:
        """An HTTP request to the model."""
        if self.enabled:
            self._queue.append((time.time(), "backend_request", None, None, None, None))

    def accepted(self, chars: int, partial: bool) -> None:
        """A shown suggestion accepted, whole or (partial) in part."""
        if self.enabled:
            self._queue.append((time.time(), "accept", None, None, chars, int(partial)))

    def next_edit(self, event: str) -> None:
        """A next edit proposed, shown, accepted or rejected (NEXT_EDIT_EVENTS)."""
        if self.enabled:
            self._queue.append((time.time(), f"next_edit_{event}", None, None, None, None))

    def prompt_cache(self, cached: int, evaluated: int) -> None:
        """Of one prompt, the tokens the server had in its cache and those it computed."""
        if self.enabled:
            tokens = {"cached": float(cached), "evaluated": float(evaluated)}
            self._queue.append((time.time(), "prompt_cache", None, tokens, None, None))

    def close(self) -> None:
        """Write what is pending and stop. Waits a few seconds at most: the thread is a daemon,
        so a file locked by another process cannot hold up the server's exit."""
        self.enabled = False  # what is recorded from now on is not kept
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_BUSY_TIMEOUT_S + 2)
            self._thread = None

    # -- the writer thread ------------------------------------------------------------------------

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                stopping = self._stop.wait(self._flush_seconds)
                batch = self._drain()
                if batch:
                    if connection is None:
                        assert self.path is not None
                        connection = _open_for_writing(self.path)
                    _write(connection, self._session, batch)
                if stopping:
                    return
        except Exception as exc:  # never let metrics take the server down: any failure disables
            log.warning("local metrics disabled: %s: %s", self.path, exc)
            self.enabled = False
            self._queue.clear()
        finally:
            if connection is not None:
                connection.close()

    def _drain(self) -> list[_Event]:
        batch = []
        while True:
            try:
                batch.append(self._queue.popleft())
            except IndexError:
                return batch


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are begun explicitly, as BEGIN IMMEDIATE, so that a
    # writer waits for the write lock up front (a deferred transaction in WAL mode can fail
    # with "database is locked" without waiting when it upgrades from reading to writing).
    return sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)


def _open_for_writing(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = _connect(path)
    try:
        _use_wal(connection)
        # Metrics can lose the last second at a power cut; they need not wait for the disk.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            row = connection.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                connection.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise MetricsError(f"schema version {row[0]}, this infill writes {SCHEMA_VERSION}")
            for statement in _SCHEMA:
                connection.execute(statement)
            cutoff = time.time() - RETENTION_DAYS * 86400
            connection.execute("DELETE FROM events WHERE ts < ?", (cutoff,))
            connection.execute("COMMIT")
        except BaseException:
            _rollback(connection)
            raise
    except BaseException:
        connection.close()
        raise
    return connection


def _use_wal(connection: sqlite3.Connection) -> None:
    """Switch the file to WAL (it stays so). The switch needs the file to itself and SQLite
    may refuse it at once, without its busy wait, while another writer is at work: retried,
    and left to that writer (who switched it already) if it keeps failing."""
    for attempt in range(20):
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            time.sleep(0.05 * (attempt + 1))


def _rollback(connection: sqlite3.Connection) -> None:
    # SQLite rolls back by itself after some errors (disk full, I/O): a second ROLLBACK would
    # raise and hide the first error.
    if connection.in_transaction:
        connection.execute("ROLLBACK")


def _write(connection: sqlite3.Connection, session: str, batch: list[_Event]) -> None:
    rows: list[tuple[Any, ...]] = []
    counters: dict[str, tuple[float, int]] = {}
    for ts, kind, source, timings, chars, partial in batch:
        if kind in _COUNTERS:
            _, count = counters.get(kind, (ts, 0))
            counters[kind] = (ts, count + 1)
            continue
        timings_json = None
        if timings is not None:
            # NaN and infinity are not JSON; a stage that has no time is left out.
            clean = {str(k): float(v) for k, v in timings.items() if math.isfinite(float(v))}
            timings_json = json.dumps(clean, separators=(",", ":"))
        chars = None if chars is None else max(0, int(chars))
        rows.append((ts, session, kind, source, timings_json, chars, partial, 1))
    for kind, (ts, count) in counters.items():
        rows.append((ts, session, kind, None, None, None, None, count))
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(
            "INSERT INTO events (ts, session, kind, source, timings, chars, partial, count)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        connection.execute("COMMIT")
    except BaseException:
        _rollback(connection)
        raise


# -- reading ---------------------------------------------------------------------------------------


def percentiles(values: Iterable[float], ps: Sequence[float] = PERCENTILES) -> list[float]:
    """The ps-th percentiles (0 to 100) of values, interpolating linearly between the closest
    ranks (as numpy's default and Excel's PERCENTILE.INC do). An infinite value (a benchmark's
    miss, infinitely late) is later than every other: a percentile that reaches it is infinite.
    ValueError when values is empty. The one definition for infill's metrics and bench/."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentiles of no values")
    result = []
    for p in ps:
        if not 0 <= p <= 100:
            raise ValueError(f"percentile {p} is not between 0 and 100")
        rank = (len(ordered) - 1) * p / 100
        low = math.floor(rank)
        fraction = rank - low
        if fraction == 0:
            result.append(ordered[low])
        elif math.isinf(ordered[low + 1]):
            # inf - inf and inf * 0 are NaN: reaching an infinite value is infinite.
            result.append(ordered[low + 1])
        else:
            result.append(ordered[low] + (ordered[low + 1] - ordered[low]) * fraction)
    return result


def percentile(values: Iterable[float], p: float) -> float:
    """The p-th percentile of values, as `percentiles`."""
    return percentiles(values, (p,))[0]


def _stage_key(stage: str) -> tuple[int, int, str]:
    if stage == "total":
        return (2, 0, stage)
    if stage.startswith("total/"):
        source = stage.removeprefix("total/")
        return (3, SOURCES.index(source) if source in SOURCES else len(SOURCES), stage)
    if stage in STAGE_ORDER:
        return (0, STAGE_ORDER.index(stage), stage)
    return (1, 0, stage)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def report(path: Path, since: float | None = None) -> dict[str, Any]:
    """The numbers `infill stats` shows, for events at or after `since` (Unix time; None: all).
    With no database at `path`, every count is 0 and "exists" is false. Raises MetricsError
    when the file cannot be read."""
    sources: dict[str, int] = dict.fromkeys(SOURCES, 0)
    timings: dict[str, list[float]] = {}
    counts = collections.Counter[str]()
    first: float | None = None
    last: float | None = None
    sessions: set[str] = set()
    exists = path.is_file()
    if exists:
        for ts, session, kind, source, timings_json, chars, partial, count in _read(path, since):
            first = ts if first is None else min(first, ts)
            last = ts if last is None else max(last, ts)
            sessions.add(session)
            counts[kind] += count
            if kind == "request":
                source = source or "none"
                sources[source] = sources.get(source, 0) + 1
                if chars:
                    counts["shown"] += 1
                stage_ms = json.loads(timings_json or "{}")
                for stage, ms in stage_ms.items():
                    timings.setdefault(stage, []).append(ms)
                # The total by source as well: a cache hit and a model request differ a
                # hundredfold, and one mixed distribution hides both.
                if "total" in stage_ms:
                    timings.setdefault(f"total/{source}", []).append(stage_ms["total"])
            elif kind == "accept":
                counts["accepted_partly" if partial else "accepted_whole"] += 1
                counts["chars_accepted"] += chars or 0
            elif kind == "prompt_cache":
                tokens = json.loads(timings_json or "{}")
                counts["prompt_tokens_cached"] += int(tokens.get("cached", 0))
                counts["prompt_tokens_evaluated"] += int(tokens.get("evaluated", 0))
    hits = sum(sources.get(s, 0) for s in HIT_SOURCES)
    answered = hits + sources.get("backend", 0)
    accepted = counts["accepted_whole"] + counts["accepted_partly"]
    per_100 = _ratio(100 * counts["backend_request"], counts["keystroke"])
    stages = {}
    for stage in sorted(timings, key=_stage_key):
        values = timings[stage]
        quantiles = percentiles(values)
        stages[stage] = {
            "count": len(values),
            **{f"p{p}": round(q, 3) for p, q in zip(PERCENTILES, quantiles, strict=True)},
        }
    return {
        "database": str(path),
        "exists": exists,
        "since": since,
        "first": first,
        "last": last,
        "sessions": len(sessions),
        "keystrokes": counts["keystroke"],
        "requests": counts["request"],
        "sources": sources,
        "answered": answered,
        "hit_rate": _ratio(hits, answered),
        "backend_requests": counts["backend_request"],
        "backend_requests_per_100_keystrokes": per_100,
        "shown": counts["shown"],
        "accepted_whole": counts["accepted_whole"],
        "accepted_partly": counts["accepted_partly"],
        "acceptance_rate": _ratio(accepted, counts["shown"]),
        "chars_accepted": counts["chars_accepted"],
        "next_edits": {event: counts[f"next_edit_{event}"] for event in NEXT_EDIT_EVENTS},
        # Prompts the server reported on: the share of their tokens read from its cache, and
        # the tokens it computed per prompt (what time to first token costs on a local model).
        "prompts_reported": counts["prompt_cache"],
        "prompt_cache_rate": _ratio(
            counts["prompt_tokens_cached"],
            counts["prompt_tokens_cached"] + counts["prompt_tokens_evaluated"],
        ),
        "prompt_tokens_evaluated_per_prompt": _ratio(
            counts["prompt_tokens_evaluated"], counts["prompt_cache"]
        ),
        "timings_ms": stages,
    }


def _read(path: Path, since: float | None) -> list[tuple[Any, ...]]:
    # Read-only: `infill stats` must not create, migrate or lock out the servers' file (SQLite
    # may leave the -wal and -shm files beside it, as running servers do).
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise MetricsError(f"cannot open {path}: {exc}") from None
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if "schema_version" in tables:
            row = connection.execute("SELECT version FROM schema_version").fetchone()
            if row is not None and row[0] != SCHEMA_VERSION:
                raise MetricsError(
                    f"{path} has schema version {row[0]}; this infill reads {SCHEMA_VERSION}"
                )
        if "events" not in tables:
            return []  # an empty file: no writer has set it up yet
        return connection.execute(
            "SELECT ts, session, kind, source, timings, chars, partial, count FROM events"
            " WHERE ts >= ? ORDER BY ts",
            (since if since is not None else float("-inf"),),
        ).fetchall()
    except sqlite3.Error as exc:
        raise MetricsError(f"cannot read {path}: {exc}") from None
    finally:
        connection.close()


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def format_report(numbers: Mapping[str, Any]) -> str:
    """`infill stats` text for a report() result."""
    if not numbers["exists"]:
        return f"no metrics recorded yet (no database at {numbers['database']})"
    if numbers["first"] is None:
        when = "since " + _when(numbers["since"]) if numbers["since"] is not None else "so far"
        return f"no metrics recorded {when} (database {numbers['database']})"
    sources = numbers["sources"]
    source_text = "  ".join(f"{name} {n:,}" for name, n in sources.items() if n)
    per_100 = numbers["backend_requests_per_100_keystrokes"]
    accepted = numbers["accepted_whole"] + numbers["accepted_partly"]
    lines = [
        f"database          {numbers['database']}",
        f"period            {_when(numbers['first'])} to {_when(numbers['last'])}"
        f", {numbers['sessions']:,} server session(s)",
        f"keystrokes        {numbers['keystrokes']:,}",
        f"inline requests   {numbers['requests']:,}"
        + (f"  ({source_text})" if source_text else ""),
        f"hit rate          {_percent(numbers['hit_rate'])}"
        f" of {numbers['answered']:,} answered (cache, typeahead, inflight, prefetch)",
        f"backend requests  {numbers['backend_requests']:,}"
        + (f"  ({per_100:.1f} per 100 keystrokes)" if per_100 is not None else ""),
        f"shown             {numbers['shown']:,}",
        f"accepted          {accepted:,}  (whole {numbers['accepted_whole']:,}"
        f", partly {numbers['accepted_partly']:,})"
        f"  {_percent(numbers['acceptance_rate'])} of shown",
        f"chars accepted    {numbers['chars_accepted']:,}",
        "next edits        "
        + ", ".join(f"{event} {n:,}" for event, n in numbers["next_edits"].items()),
    ]
    if numbers["prompts_reported"]:
        lines.append(
            f"prompt cache      {_percent(numbers['prompt_cache_rate'])} of prompt tokens cached"
            f", {numbers['prompt_tokens_evaluated_per_prompt']:,.0f} computed per prompt"
            f" ({numbers['prompts_reported']:,} prompts)"
        )
    if numbers["timings_ms"]:
        header = "".join(f"{'P' + str(p):>10}" for p in PERCENTILES)
        lines += ["", f"{'time ms':<16}{'count':>10}{header}"]
        for stage, row in numbers["timings_ms"].items():
            cells = "".join(f"{row[f'p{p}']:>10.1f}" for p in PERCENTILES)
            lines.append(f"{stage:<16}{row['count']:>10,}{cells}")
    return "\n".join(lines)


def summary(path: Path, since: float | None = None) -> str:
    """What `infill stats` prints. Raises MetricsError when the file cannot be read."""
    return format_report(report(path, since))
