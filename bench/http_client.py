"""The backends' HTTP client's own time per request, against `tests/fake_llm.py` in another
process on 127.0.0.1 (so the fake's work does not share this event loop).

    python bench/http_client.py [--requests 200] [--idle-ms 200]

Three cases, each a 6 KB OpenAI completion request streamed to its end (three events), with
`--idle-ms` of idle between requests, as between a user's keystrokes: on a kept-alive
connection; right after a stream left early (its connection closed, so the next one is new);
from a backend made for the request (a new connection, the client's construction not counted).
For each: P50 and P90, in ms, from asking (`stream()`) to the first event and to the end. The
fake answers at once, so what is measured is the client's own work and the loopback's.

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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from infill.backends import BackendConfig, CompletionRequest  # noqa: E402
from infill.backends.openai import OpenAICompatible  # noqa: E402
from tests.fake_llm import FakeLLM, Received, Reply  # noqa: E402

PROMPT = "x = 1\n" * 1000  # 6 KB, a prompt's usual size
LEFT_EARLY = "left early: "


async def serve() -> None:
    """The fake: streams that are to be left early never end; the others answer three events."""
    fake = FakeLLM()

    def reply(request: Received) -> Reply:
        if str(request.body.get("prompt", "")).startswith(LEFT_EARLY):
            return Reply(chunks=["a"], keep_open=True)
        return Reply(chunks=["a", "b", "c"])

    fake.on_request = reply
    await fake.start()
    print(fake.port, flush=True)
    await asyncio.Event().wait()


def request(prompt: str = PROMPT) -> CompletionRequest:
    return CompletionRequest(prompt=prompt, stop=(), max_tokens=8, temperature=0.0)


async def timed(backend: OpenAICompatible) -> tuple[float, float]:
    """Milliseconds from asking to the first event, and to the end."""
    started = time.perf_counter()
    first = 0.0
    async for _ in backend.stream(request()):
        if not first:
            first = time.perf_counter()
    ended = time.perf_counter()
    return (first - started) * 1000, (ended - started) * 1000


async def leave_early(backend: OpenAICompatible) -> None:
    events = backend.stream(request(LEFT_EARLY + PROMPT))
    async for _ in events:
        break
    await events.aclose()


async def measure(url: str, count: int, idle: float) -> dict[str, list[tuple[float, float]]]:
    config = BackendConfig(kind="openai", url=url, timeout_ms=5000)
    results: dict[str, list[tuple[float, float]]] = {"kept-alive": [], "after an abort": []}
    results["new connection"] = []
    backend = OpenAICompatible(config)
    try:
        await backend.warm()
        for _ in range(count):
            await asyncio.sleep(idle)
            results["kept-alive"].append(await timed(backend))
        for _ in range(count):
            await leave_early(backend)
            await asyncio.sleep(idle)
            results["after an abort"].append(await timed(backend))
    finally:
        await backend.aclose()
    for _ in range(count):
        fresh = OpenAICompatible(config)
        try:
            await asyncio.sleep(idle)
            results["new connection"].append(await timed(fresh))
        finally:
            await fresh.aclose()
    return results


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100)[round(share * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--idle-ms", type=float, default=200)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve())
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/v1"
        results = asyncio.run(measure(url, args.requests, args.idle_ms / 1000))
    finally:
        server.terminate()
        server.wait()
    print(f"{args.requests} requests per case, {args.idle_ms:.0f} ms idle before each (ms)")
    print(f"{'case':<16} {'first P50':>10} {'first P90':>10} {'end P50':>9} {'end P90':>9}")
    for case, samples in results.items():
        firsts = [first for first, _ in samples]
        ends = [end for _, end in samples]
        print(
            f"{case:<16} {percentile(firsts, 0.5):>10.2f} {percentile(firsts, 0.9):>10.2f}"
            f" {percentile(ends, 0.5):>9.2f} {percentile(ends, 0.9):>9.2f}"
        )


if __name__ == "__main__":
    main()
