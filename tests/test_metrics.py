"""Local metrics (server/metrics.py, infill.metrics) and `infill stats`."""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infill.metrics import (
    SCHEMA_VERSION,
    Metrics,
    MetricsError,
    default_path,
    percentile,
    percentiles,
    report,
    state_dir,
    summary,
)
from infill.settings import SettingsError, parse_settings

DAY = 86400


def record_session(path: Path) -> None:
    """A small session with known numbers (see test_events_are_written_and_read_back)."""
    metrics = Metrics(path)
    for _ in range(20):
        metrics.keystroke("file:///home/someone/secret_project/module.py")
    for _ in range(3):
        metrics.backend_request()
    metrics.request(
        "backend", {"context": 3.0, "prompt": 1.0, "backend": 180.0, "total": 190.0}, 12
    )
    metrics.request("backend", {"context": 5.0, "prompt": 1.0, "backend": 200.0, "total": 210.0}, 0)
    metrics.request("cache", {"context": 1.0, "total": 2.0}, 12)
    metrics.request("typeahead", {"total": 1.0}, 8)
    metrics.request("inflight", {"total": 90.0}, 30)
    metrics.request("prefetch", {"total": 0.5}, 4)
    metrics.request("none", {"total": 0.2}, 0)
    metrics.accepted(12, partial=False)
    metrics.accepted(3, partial=True)
    metrics.accepted(5, partial=True)
    metrics.close()


def age_all_events(path: Path, days: float) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE events SET ts = ts - ?", (days * DAY,))
    connection.close()


# -- recording and reading back --------------------------------------------------------------------


def test_events_are_written_and_read_back(tmp_path: Path):
    path = tmp_path / "state" / "metrics.sqlite3"  # the folder is created on first write
    record_session(path)
    numbers = report(path)
    assert numbers["exists"] is True
    assert numbers["sessions"] == 1
    assert numbers["keystrokes"] == 20
    assert numbers["requests"] == 7
    assert numbers["sources"] == {
        "backend": 2,
        "cache": 1,
        "typeahead": 1,
        "inflight": 1,
        "prefetch": 1,
        "none": 1,
    }
    # Hits over the requests some source answered ("none" answered nothing).
    assert numbers["answered"] == 6
    assert numbers["hit_rate"] == pytest.approx(4 / 6)
    assert numbers["backend_requests"] == 3
    assert numbers["backend_requests_per_100_keystrokes"] == pytest.approx(15.0)
    assert numbers["shown"] == 5
    assert (numbers["accepted_whole"], numbers["accepted_partly"]) == (1, 2)
    assert numbers["acceptance_rate"] == pytest.approx(3 / 5)
    assert numbers["chars_accepted"] == 20
    assert numbers["first"] is not None and numbers["first"] <= numbers["last"]

    timings = numbers["timings_ms"]
    # Pipeline order, then "total", then the total by source in the order of the sources.
    assert list(timings) == [
        "context",
        "prompt",
        "backend",
        "total",
        "total/backend",
        "total/cache",
        "total/typeahead",
        "total/inflight",
        "total/prefetch",
        "total/none",
    ]
    assert timings["backend"] == {
        "count": 2,
        "p50": 190.0,
        "p75": 195.0,
        "p95": 199.0,
        "p99": 199.8,
    }
    assert timings["total"]["count"] == 7
    assert timings["total/backend"]["p50"] == 200.0
    assert timings["total/cache"] == {"count": 1, "p50": 2.0, "p75": 2.0, "p95": 2.0, "p99": 2.0}

    text = summary(path)
    assert "keystrokes        20" in text
    assert "66.7 % of 6 answered" in text
    assert "15.0 per 100 keystrokes" in text
    assert "(whole 1, partly 2)  60.0 % of shown" in text
    assert "chars accepted    20" in text
    assert any(line.split()[:2] == ["backend", "2"] for line in text.splitlines())


def test_nothing_identifying_is_stored(tmp_path: Path):
    path = tmp_path / "metrics.sqlite3"
    record_session(path)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        dump = "\n".join(connection.iterdump())
    connection.close()
    assert "secret_project" not in dump and "file://" not in dump
    assert b"secret_project" not in path.read_bytes()


def test_keystrokes_of_one_batch_take_one_row(tmp_path: Path):
    path = tmp_path / "metrics.sqlite3"
    metrics = Metrics(path, flush_seconds=3600)  # one batch, written by close()
    for _ in range(50):
        metrics.keystroke("u")
    metrics.close()
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT kind, count FROM events").fetchall()
    connection.close()
    assert rows == [("keystroke", 50)]
    assert report(path)["keystrokes"] == 50


def test_timings_that_are_not_numbers_are_left_out(tmp_path: Path):
    path = tmp_path / "metrics.sqlite3"
    metrics = Metrics(path)
    timings = {"context": float("nan"), "total": float("inf"), "prompt": 2.0}
    metrics.request("backend", timings, 3)
    timings["prompt"] = 999.0  # the caller's dict changing later changes nothing recorded
    metrics.close()
    assert report(path)["timings_ms"] == {
        "prompt": {"count": 1, "p50": 2.0, "p75": 2.0, "p95": 2.0, "p99": 2.0}
    }


def test_no_database_yet(tmp_path: Path):
    path = tmp_path / "missing.sqlite3"
    numbers = report(path)
    assert numbers["exists"] is False
    assert numbers["requests"] == 0 and numbers["hit_rate"] is None
    assert summary(path) == f"no metrics recorded yet (no database at {path})"
    assert not path.exists()  # reading creates nothing


def test_an_idle_server_writes_no_file(tmp_path: Path):
    path = tmp_path / "metrics.sqlite3"
    Metrics(path).close()
    assert not path.exists()


# -- percentiles -----------------------------------------------------------------------------------


def test_percentiles_interpolate_between_ranks():
    assert percentiles([5, 1, 4, 2, 3], [0, 50, 100]) == [1, 3, 5]
    assert percentiles([1, 2, 3, 4], [50, 75]) == [2.5, 3.25]
    assert percentiles(range(1, 101), [50, 95, 99]) == pytest.approx([50.5, 95.05, 99.01])
    assert percentiles([7.0]) == [7.0, 7.0, 7.0, 7.0]  # P50, P75, P95, P99 by default
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 75) == 4.0


def test_a_percentile_that_reaches_an_infinite_value_is_infinite():
    # The benchmarks count a miss as infinitely late.
    assert percentile([1.0, 2.0, math.inf, math.inf], 50) == math.inf
    assert percentile([1.0, 2.0, 3.0, math.inf], 50) == 2.5
    assert percentile([1.0, math.inf], 0) == 1.0
    assert percentiles([math.inf, math.inf], [50, 100]) == [math.inf, math.inf]


def test_percentiles_refuse_nothing_and_out_of_range():
    with pytest.raises(ValueError):
        percentiles([])
    with pytest.raises(ValueError):
        percentiles([1.0], [101])


# -- disabled, failures ----------------------------------------------------------------------------


def test_disabled_is_a_no_op_and_creates_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    metrics = Metrics(None)
    assert metrics.enabled is False
    metrics.keystroke("file:///a.py")
    metrics.request("backend", {"total": 1.0}, 5)
    metrics.backend_request()
    metrics.accepted(5, partial=False)
    metrics.close()
    metrics.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("problem", ["corrupt", "parent is a file", "newer schema"])
def test_a_bad_database_disables_recording_without_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, problem: str
):
    path = tmp_path / "metrics.sqlite3"
    if problem == "corrupt":
        path.write_bytes(b"this is not a SQLite database, just some bytes " * 100)
    elif problem == "parent is a file":
        (tmp_path / "file").write_text("")
        path = tmp_path / "file" / "metrics.sqlite3"
    else:
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE schema_version (version INTEGER)")
            connection.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
        connection.close()
    caplog.set_level(logging.WARNING, logger="infill.metrics")
    metrics = Metrics(path, flush_seconds=0.01)
    for _ in range(3):
        metrics.keystroke("u")
        metrics.request("backend", {"total": 1.0}, 5)
        metrics.backend_request()
        metrics.accepted(5, partial=True)
    metrics.close()
    metrics.keystroke("u")  # after the failure and close: still nothing raised
    warnings = [r for r in caplog.records if r.name == "infill.metrics"]
    assert len(warnings) == 1
    assert "local metrics disabled" in warnings[0].getMessage()
    if problem != "parent is a file":
        with pytest.raises(MetricsError):
            report(path)


def test_two_writers_on_one_database(tmp_path: Path):
    path = tmp_path / "metrics.sqlite3"
    # Two in this process, interleaved.
    first, second = Metrics(path, flush_seconds=0.001), Metrics(path, flush_seconds=0.001)
    for i in range(200):
        (first if i % 2 else second).request("cache", {"total": 1.0}, 3)
        (second if i % 2 else first).keystroke("u")
    first.close()
    second.close()
    # Three processes at once, as three editor windows would, each writing in many batches.
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from infill.metrics import Metrics\n"
        "m = Metrics(Path(sys.argv[1]), flush_seconds=0.001)\n"
        "for i in range(300):\n"
        "    m.request('backend', {'total': 2.0}, 1)\n"
        "    m.backend_request()\n"
        "    if i % 30 == 0:\n"
        "        time.sleep(0.01)\n"
        "m.close()\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path)], stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    for process in processes:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "disabled" not in err
    numbers = report(path)
    assert numbers["sessions"] == 5
    assert numbers["sources"]["cache"] == 200
    assert numbers["sources"]["backend"] == 900
    assert numbers["keystrokes"] == 200
    assert numbers["backend_requests"] == 900


# -- time ------------------------------------------------------------------------------------------


def test_since_leaves_out_older_events(tmp_path: Path):
    path = tmp_path / "metrics.sqlite3"
    record_session(path)
    age_all_events(path, days=5)
    record_session(path)
    now = time.time()
    assert report(path)["requests"] == 14
    assert report(path, since=now - 1 * DAY)["requests"] == 7
    assert report(path, since=now - 1 * DAY)["sessions"] == 1
    assert report(path, since=now - 6 * DAY)["requests"] == 14
    assert report(path, since=now + DAY)["requests"] == 0
    assert summary(path, since=now + DAY).startswith("no metrics recorded since ")


def test_events_past_retention_are_deleted_when_a_writer_opens(tmp_path: Path):
    path = tmp_path / "metrics.sqlite3"
    record_session(path)
    age_all_events(path, days=100)
    assert report(path)["requests"] == 7
    metrics = Metrics(path)
    metrics.keystroke("u")
    metrics.close()
    numbers = report(path)
    assert (numbers["requests"], numbers["keystrokes"]) == (0, 1)


def test_state_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert state_dir() == tmp_path / "infill"
    assert default_path() == tmp_path / "infill" / "metrics.sqlite3"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for ignored in ("", "relative/state"):  # the XDG spec: a relative path is ignored
        monkeypatch.setenv("XDG_STATE_HOME", ignored)
        assert state_dir() == tmp_path / "home" / ".local" / "state" / "infill"


# -- the setting -----------------------------------------------------------------------------------


def test_metrics_enabled_setting():
    assert parse_settings()[0].metrics.enabled is True
    settings, unknown = parse_settings({"metrics.enabled": False})
    assert unknown == [] and settings.metrics.enabled is False
    assert parse_settings({"metrics": {"enabled": True}})[0].metrics.enabled is True
    for wrong in ("false", 0, 1):
        with pytest.raises(SettingsError, match=r"metrics\.enabled"):
            parse_settings({"metrics": {"enabled": wrong}})


# -- `infill stats` --------------------------------------------------------------------------------


def stats(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infill", "stats", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def stats_env(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    # The machine's own metrics must not be read.
    return {**env, "XDG_STATE_HOME": str(tmp_path / "xdg-state")}


def test_stats_json(tmp_path: Path, stats_env: dict[str, str]):
    path = tmp_path / "metrics.sqlite3"
    record_session(path)
    done = stats("--db", str(path), "--json", env=stats_env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == report(path)


def test_stats_text(tmp_path: Path, stats_env: dict[str, str]):
    path = tmp_path / "metrics.sqlite3"
    record_session(path)
    done = stats("--db", str(path), env=stats_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == summary(path) + "\n"


def test_stats_days(tmp_path: Path, stats_env: dict[str, str]):
    path = tmp_path / "metrics.sqlite3"
    record_session(path)
    age_all_events(path, days=3)
    record_session(path)
    counts = {}
    for days in ("1", "2.5", "4"):
        done = stats("--db", str(path), "--json", "--days", days, env=stats_env)
        assert done.returncode == 0, done.stderr
        counts[days] = json.loads(done.stdout)["requests"]
    assert counts == {"1": 7, "2.5": 7, "4": 14}
    for wrong in ("0", "-1", "soon"):
        done = stats("--db", str(path), "--days", wrong, env=stats_env)
        assert done.returncode == 2
        assert "number of days" in done.stderr


def test_stats_without_a_database(stats_env: dict[str, str]):
    done = stats(env=stats_env)  # the default path, under the empty XDG_STATE_HOME
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no metrics recorded yet")
    assert "xdg-state" in done.stdout
    done = stats("--json", env=stats_env)
    assert done.returncode == 0
    assert json.loads(done.stdout)["exists"] is False


def test_stats_reports_an_unreadable_database(tmp_path: Path, stats_env: dict[str, str]):
    path = tmp_path / "metrics.sqlite3"
    path.write_bytes(b"garbage " * 1000)
    done = stats("--db", str(path), env=stats_env)
    assert done.returncode == 1
    assert str(path) in done.stderr and done.stdout == ""
