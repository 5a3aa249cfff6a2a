"""How much of each prompt a real llama-server finds in its KV cache during a typing session.

A session is recorded through `infill serve`: five asyncio modules of the standard library open,
the body of `connection_lost` in streams.py (360 characters) typed back key by key, a request at
every key. The fake backend of the tests answers at once and records each request body. The
bodies are then replayed in order against a fresh llama-server (tests/llamacpp.py: the tiny
random-weight model, Qwen2.5-Coder's vocabulary) with one token to generate, and each answer's
`timings` say how many prompt tokens the server reused (`cache_n`) and computed (`prompt_n`).
Replaying measures the layout, independent of timing: what a 0.5B model on a CPU computes is
the same count, at ~330 tokens/s.

    python bench/prompt_reuse.py --kind llamacpp
    python bench/prompt_reuse.py --kind openai --server-args="-b 1024 -ub 1024 --cache-reuse 256"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
# The fake backend and the real server's builder live in the test suite.
sys.path.insert(0, str(REPO))

from infill.harness import LspClient  # noqa: E402
from tests.fake_llm import FakeLLM, Reply  # noqa: E402
from tests.llamacpp import LlamaServer, ensure_llama_server, ensure_tiny_qwen_model  # noqa: E402

STDLIB = Path(asyncio.__file__).parent
OPEN = ("events.py", "tasks.py", "locks.py", "queues.py", "streams.py")
CURRENT = "streams.py"
METHOD = "    def connection_lost(self, exc):\n"


def session_texts() -> tuple[str, str, str]:
    """streams.py without the method's body, the body, and what follows it."""
    text = (STDLIB / CURRENT).read_text()
    start = text.index(METHOD) + len(METHOD)
    end = text.index("\n    async def _drain_helper", start) + 1
    return text[:start], text[start:end], text[end:]


async def record(kind: str, root: Path) -> list[tuple[str, dict[str, Any]]]:
    """The request bodies (path, JSON) infill sends while the body is typed back."""
    fake = await FakeLLM().start()
    fake.default = Reply(chunks=["pass"])
    url = fake.root if kind == "llamacpp" else fake.url
    backend: dict[str, Any] = {"kind": kind, "url": url, "max_tokens": 64}
    if kind == "openai":
        backend["template"] = "qwen"
    client = await LspClient.start()
    try:
        await client.initialize(
            root=str(root),
            initialization_options={
                "backend": backend,
                "completion": {"debounce_ms": 0},
                "metrics": {"enabled": False},
            },
        )
        before, body, after = session_texts()
        for name in OPEN:
            if name != CURRENT:
                client.open((root / name).as_uri(), (root / name).read_text())
        uri = (root / CURRENT).as_uri()
        client.open(uri, before + after)
        position = (before.count("\n"), 0)
        for char in body:
            position = client.type_text(uri, position, char)
            await client.inline_completion(uri, position, timeout=60)
    finally:
        await client.shutdown()
        await fake.stop()
    return [(r.path, r.body) for r in fake.requests if r.method == "POST"]


def replay(
    bodies: list[tuple[str, dict[str, Any]]], server_args: list[str]
) -> list[dict[str, int]]:
    binary, model = ensure_llama_server(), ensure_tiny_qwen_model()
    results = []
    with LlamaServer(binary, model, ctx_size=4096, batch_size=2048, extra_args=server_args) as url:
        with httpx.Client(base_url=url, timeout=120) as http:
            for path, body in bodies:
                body = {**body, "stream": False, "n_predict": 1, "max_tokens": 1}
                body.pop("stream_options", None)
                body.pop("t_max_predict_ms", None)
                timings = http.post(path, json=body).json()["timings"]
                results.append({"cached": timings["cache_n"], "evaluated": timings["prompt_n"]})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kind", choices=("llamacpp", "openai"), default="llamacpp")
    parser.add_argument("--server-args", default="", help="more llama-server flags")
    parser.add_argument("--bodies", help="write the recorded bodies to this JSON file")
    parser.add_argument("--replay", help="replay the bodies of this JSON file; record none")
    args = parser.parse_args()
    if args.replay:
        bodies = [(path, body) for path, body in json.loads(Path(args.replay).read_text())]
    else:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            for name in OPEN:
                (root / name).write_text((STDLIB / name).read_text())
            bodies = asyncio.run(record(args.kind, root))
    if args.bodies:
        Path(args.bodies).write_text(json.dumps(bodies))
        return
    results = replay(bodies, shlex.split(args.server_args))
    cached = sum(r["cached"] for r in results)
    evaluated = [r["evaluated"] for r in results]
    print(
        json.dumps(
            {
                "session": args.replay or args.kind,
                "server_args": args.server_args,
                "requests": len(results),
                "reuse": round(cached / (cached + sum(evaluated)), 3),
                "evaluated_mean": round(statistics.mean(evaluated), 1),
                "evaluated_p50": statistics.median(evaluated),
                "evaluated_p90": sorted(evaluated)[int(0.9 * (len(evaluated) - 1))],
                "prompt_tokens_mean": round(
                    statistics.mean(r["cached"] + r["evaluated"] for r in results), 1
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
