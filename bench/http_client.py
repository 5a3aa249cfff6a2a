"""The backends' HTTP client's own time per request, against `tests/fake_llm.py` on 127.0.0.1,
in another process (so the fake's work does not share this event loop) or, with
`--in-process`, in this one (so its records tell where the time goes).

    python bench/http_client.py [--requests 200] [--idle-ms 200] [--in-process]

Three cases, each a 6 KB OpenAI completion request streamed to its end (three events), with
`--idle-ms` of idle between requests, as between a user's keystrokes: on a kept-alive
connection; right after a stream left early (its connection closed, so the next one is new);
from a backend made for the request (a new connection, the client's construction not counted).
For each: P50 and P90, in ms, from asking (`stream()`) to the first event and to the end; in
process also the P50 from asking to the fake's having read the whole request ("to the fake"),
and from the fake's write of the first event to the client's having it ("back"). The fake
answers at once, so what is measured is the client's own work and the loopback's.

It only uses the backend interface (`OpenAICompatible.stream`), so the same script measures
another version of infill installed in another environment.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from infill.backends import BackendConfig, CompletionRequest  # noqa: E402
from infill.backends.openai import OpenAICompatible  # noqa: E402
from tests.fake_llm import FakeLLM, Received, Reply  # noqa: E402

PROMPT = "x = 1\n" * 1000  # 6 KB, a prompt's usual size
LEFT_EARLY = "left early: "


def fake_llm() -> FakeLLM:
    """The fake: streams that are to be left early never end; the others answer three events."""
    fake = FakeLLM()

    def reply(request: Received) -> Reply:
        if str(request.body.get("prompt", "")).startswith(LEFT_EARLY):
            return Reply(chunks=["a"], keep_open=True)
        return Reply(chunks=["a", "b", "c"])

    fake.on_request = reply
    return fake


async def serve() -> None:
    fake = await fake_llm().start()
    print(fake.port, flush=True)
    await asyncio.Event().wait()


def request(prompt: str = PROMPT) -> CompletionRequest:
    return CompletionRequest(prompt=prompt, stop=(), max_tokens=8, temperature=0.0)


Sample = tuple[float, float, float, float]


async def timed(backend: OpenAICompatible, fake: FakeLLM | None) -> Sample:
    """Milliseconds from asking to the first event, and to the end; with the fake in this
    process, from asking to its having read the request, and from its first write to the first
    event (else NaN)."""
    started = time.perf_counter()
    first = 0.0
    async for _ in backend.stream(request()):
        if not first:
            first = time.perf_counter()
    ended = time.perf_counter()
    arrived = back = float("nan")
    if fake is not None:
        received = fake.requests[-1]
        arrived, back = received.arrived - started, first - received.sent[0]
    return (first - started) * 1000, (ended - started) * 1000, arrived * 1000, back * 1000


async def leave_early(backend: OpenAICompatible) -> None:
    events = backend.stream(request(LEFT_EARLY + PROMPT))
    async for _ in events:
        break
    await events.aclose()


async def measure(
    url: str, count: int, idle: float, fake: FakeLLM | None = None
) -> dict[str, list[Sample]]:
    config = BackendConfig(kind="openai", url=url, timeout_ms=5000)
    results: dict[str, list[Sample]] = {"kept-alive": [], "after an abort": []}
    results["new connection"] = []
    backend = OpenAICompatible(config)
    try:
        await backend.warm()
        for _ in range(count):
            await asyncio.sleep(idle)
            results["kept-alive"].append(await timed(backend, fake))
        for _ in range(count):
            await leave_early(backend)
            await asyncio.sleep(idle)
            results["after an abort"].append(await timed(backend, fake))
    finally:
        await backend.aclose()
    for _ in range(count):
        fresh = OpenAICompatible(config)
        try:
            await asyncio.sleep(idle)
            results["new connection"].append(await timed(fresh, fake))
        finally:
            await fresh.aclose()
    return results


def percentile(values: Sequence[float], share: float) -> float:
    return statistics.quantiles(values, n=100)[round(share * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--idle-ms", type=float, default=200)
    parser.add_argument("--in-process", action="store_true", help="the fake in this process")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    if args.in_process:
        results = asyncio.run(in_process(args.requests, args.idle_ms / 1000))
    else:
        results = cross_process(args.requests, args.idle_ms / 1000)
    where = "this process" if args.in_process else "another process"
    print(
        f"{args.requests} requests a case, {args.idle_ms:.0f} ms idle before each, fake in {where}"
    )
    print(
        f"{'case (ms)':<16} {'first P50':>9} {'first P90':>9} {'end P50':>8} {'end P90':>8}", end=""
    )
    print(f" {'to the fake':>11} {'back':>6}" if args.in_process else "")
    for case, samples in results.items():
        columns = list(zip(*samples, strict=True))
        print(
            f"{case:<16} {percentile(columns[0], 0.5):>9.2f} {percentile(columns[0], 0.9):>9.2f}"
            f" {percentile(columns[1], 0.5):>8.2f} {percentile(columns[1], 0.9):>8.2f}",
            end="",
        )
        if args.in_process:
            print(
                f" {percentile(columns[2], 0.5):>11.2f} {percentile(columns[3], 0.5):>6.2f}", end=""
            )
        print()


async def in_process(count: int, idle: float) -> dict[str, list[Sample]]:
    fake = await fake_llm().start()
    try:
        return await measure(fake.url, count, idle, fake)
    finally:
        await fake.stop()


def cross_process(count: int, idle: float) -> dict[str, list[Sample]]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/v1"
        return asyncio.run(measure(url, count, idle))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
