"""Soak: a long typing session against the real server — a key, then a suggestion asked for,
thousands of times — with answers from the model that are right or wrong, accepted now and then.
After a warm-up the server's memory may not grow by 10 % or more, and its tasks, file handles and
sockets may not pile up; no request may fail.

INFILL_SOAK_REQUESTS sets the length: 2,000 in `make test`, 10,000 in `make soak`. The figures
are printed (pytest -s shows them)."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
from pathlib import Path

from infill.harness import LspClient
from infill.metrics import report
from tests.conftest import StartClient
from tests.fake_llm import FakeLLM, Received, Reply

REQUESTS = int(os.environ.get("INFILL_SOAK_REQUESTS", "2000"))
WARM_UP = REQUESTS // 5
URI = "file:///work/soak/inventory.py"
SOURCE = (Path(__file__).parent.parent / "bench" / "example_workspace" / "inventory.py").read_text()
MAX_RSS_GROWTH = 0.10
MAX_OBJECT_GROWTH = 0.02
# Between two samples, a connection or a timer may be open at one and not the other.
SLACK = 3


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None
    return int(match.group(1))


def handles(pid: int) -> tuple[int, int]:
    """(open file descriptors, of those sockets)."""
    fds = Path(f"/proc/{pid}/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:  # closed meanwhile
            continue
    return len(targets), sum(t.startswith("socket:") for t in targets)


async def state(client: LspClient) -> tuple[int, int]:
    """The server's asyncio tasks and Python objects, as it logs them on SIGUSR1."""
    seen = len(client.stderr_lines)
    client.process.send_signal(signal.SIGUSR1)
    for _ in range(200):
        for line in client.stderr_lines[seen:]:
            if (match := re.search(r"state: (\d+) tasks, (\d+) Python objects", line)) is not None:
                return int(match.group(1)), int(match.group(2))
        await asyncio.sleep(0.05)
    raise AssertionError("the server did not report its state")


async def sample(client: LspClient) -> dict[str, int]:
    await asyncio.sleep(1.0)  # debounced work (definitions, metrics) settles
    pid = client.process.pid
    fds, sockets = handles(pid)
    tasks, objects = await state(client)
    return {
        "rss_kib": rss_kib(pid),
        "fds": fds,
        "sockets": sockets,
        "tasks": tasks,
        "objects": objects,
    }


async def test_a_long_typing_session_leaks_nothing(
    fake: FakeLLM, env: dict[str, str], start_client: StartClient
):
    rng = random.Random(10)
    typed = 0  # how much of SOURCE the document holds

    def answer(request: Received) -> Reply:
        """The rest of the line as the source has it, or (one in three) something else."""
        rest = SOURCE[typed:].split("\n", 1)[0] + "\n"
        wrong = rng.random() < 1 / 3
        return Reply(chunks=["wrong_guess()\n" if wrong else rest])

    fake.on_request = answer
    client = await start_client(
        initialization_options={
            "backend": {"kind": "llamacpp", "url": fake.root},
            "completion": {"debounce_ms": 0},
        }
    )
    client.open(URI, "")
    position = (0, 0)
    errors: list[Exception] = []
    before: dict[str, int] = {}
    for number in range(1, REQUESTS + 1):
        if typed == len(SOURCE):  # the file is written: start it again
            end = client.documents[URI].position_at(typed)
            client.edit(URI, (0, 0), end, "")
            typed, position = 0, (0, 0)
        position = client.type_text(URI, position, SOURCE[typed])
        typed += 1
        try:
            items = await client.inline_completion(URI, position, timeout=60)
        except Exception as exc:
            errors.append(exc)
            continue
        if items and rng.random() < 0.05 and SOURCE[typed:].startswith(items[0]["insertText"]):
            client.accept(URI, position, items[0])
            typed += len(items[0]["insertText"])
            position = client.documents[URI].position_at(typed)
        if number == WARM_UP:
            before = await sample(client)
    after = await sample(client)

    growth = after["rss_kib"] / before["rss_kib"] - 1
    numbers = report(Path(env["XDG_STATE_HOME"]) / "infill" / "metrics.sqlite3")
    print(
        f"\nsoak: {REQUESTS} requests ({numbers['sources']}), "
        f"{len(fake.requests)} to the backend; after {WARM_UP} (warm-up) → at the end: "
        f"RSS {before['rss_kib'] / 1024:.1f} → {after['rss_kib'] / 1024:.1f} MiB "
        f"({growth:+.1%}), fds {before['fds']} → {after['fds']}, "
        f"sockets {before['sockets']} → {after['sockets']}, "
        f"tasks {before['tasks']} → {after['tasks']}, "
        f"Python objects {before['objects']} → {after['objects']}"
    )
    assert errors == []
    assert not [line for line in client.stderr_lines if " ERROR " in line or "Traceback" in line]
    assert growth < MAX_RSS_GROWTH
    assert after["fds"] <= before["fds"] + SLACK
    assert after["sockets"] <= before["sockets"] + SLACK
    assert after["tasks"] <= before["tasks"] + SLACK
    # Memory that grows a little per keystroke shows here long before it shows in the RSS.
    assert after["objects"] < before["objects"] * (1 + MAX_OBJECT_GROWTH)
