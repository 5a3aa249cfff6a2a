"""The command line: `infill complete`, `infill serve --tcp`, `python -m infill`."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from infill.harness import LspClient
from tests.fake_llm import FakeLLM, Reply

EXAMPLE = Path(__file__).resolve().parent.parent / "bench" / "example_workspace" / "inventory.py"


async def run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infill",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_version(env: dict[str, str]):
    status, out, _ = await run("--version", env=env)
    assert status == 0
    assert out.startswith("infill ")


async def test_complete_prints_the_suggestion(fake: FakeLLM, env: dict[str, str]):
    fake.default = Reply(chunks=["item.price * item.quantity for item in self.items.values())\n"])
    status, out, err = await run(
        "complete",
        f"{EXAMPLE}:24:20",
        "--set",
        f"backend.url={fake.url}",
        "--set",
        "backend.max_tokens=64",
        env=env,
    )
    assert (status, out) == (0, "item.price * item.quantity for item in self.items.values())\n"), (
        err
    )
    body = fake.requests[0].body
    assert body["max_tokens"] == 64
    prefix = body["prompt"].split("<|fim_suffix|>")[0]
    assert prefix.endswith('"""The value of everything in stock."""\n        return sum(')


async def test_complete_without_settings_answers_from_the_offline_engine(env: dict[str, str]):
    status, out, err = await run(
        "complete", f"{EXAMPLE}:24:20", "--root", str(EXAMPLE.parent), env=env
    )
    # As the workspace's other files continue `return sum(` after a docstring.
    assert (status, out) == (0, "item.price * item.quantity for item in self.items.values())\n"), (
        err
    )


async def test_complete_with_a_kind_but_no_address_explains_the_setting(env: dict[str, str]):
    status, out, err = await run(
        "complete", f"{EXAMPLE}:24:20", "--set", "backend.kind=openai", env=env
    )
    assert status == 1
    assert out == ""
    assert "backend.url" in err


async def test_complete_rejects_a_bad_position(env: dict[str, str]):
    status, _, err = await run("complete", f"{EXAMPLE}:0:3", env=env)
    assert status == 2
    assert "FILE:LINE:COLUMN" in err


@pytest.mark.parametrize(
    ("assignment", "key"),
    [
        ("backend.timeout_ms=-5", "backend.timeout_ms"),
        ("backend.timeout_ms=abc", "backend.timeout_ms"),
        ("backend.kind=gpt", "backend.kind"),
        ("backend.url=notaurl", "backend.url"),
        ("metrics.enabled=yes", "metrics.enabled"),
    ],
)
async def test_complete_stops_on_an_invalid_setting(env: dict[str, str], assignment: str, key: str):
    status, out, err = await run("complete", f"{EXAMPLE}:24:20", "--set", assignment, env=env)
    assert (status, out) == (2, "")
    assert err.startswith(f"infill: invalid setting {key}: "), err
    assert len(err.splitlines()) == 1, err


def write_config(env: dict[str, str], text: str) -> Path:
    path = Path(env["XDG_CONFIG_HOME"]) / "infill" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def test_complete_stops_on_a_config_file_it_cannot_read(env: dict[str, str]):
    path = write_config(env, "[backend\nurl = 'http://127.0.0.1:8080'\n")
    status, out, err = await run("complete", f"{EXAMPLE}:24:20", env=env)
    assert (status, out) == (2, "")
    assert err.startswith(f"infill: invalid setting {path}: cannot read it"), err


async def test_complete_stops_on_an_invalid_value_in_the_config_file(env: dict[str, str]):
    write_config(env, '[backend]\nmax_tokens = "many"\n')
    status, out, err = await run("complete", f"{EXAMPLE}:24:20", env=env)
    assert (status, out) == (2, "")
    assert "backend.max_tokens" in err


async def test_complete_warns_once_about_unknown_keys_and_answers(env: dict[str, str]):
    write_config(env, "[backend]\nkindd = 'ngram'\n")
    status, out, err = await run(
        "complete", f"{EXAMPLE}:24:20", "--root", str(EXAMPLE.parent),
        "--set", "temprature=0.2", "--set", "backend.foo=1", env=env,
    )  # fmt: skip
    assert (status, out) == (0, "item.price * item.quantity for item in self.items.values())\n")
    assert err == (
        "infill: unknown settings ignored: backend.kindd (did you mean backend.kind?),"
        " backend.foo (did you mean backend.model?),"
        " temprature (did you mean backend.temperature?)\n"
    )


async def test_doctor_stops_on_an_invalid_setting_and_warns_about_unknown_keys(
    env: dict[str, str],
):
    status, out, _ = await run("doctor", "--set", "backend.timeout_ms=abc", env=env)
    assert status == 2
    assert out.startswith("FAIL  settings   invalid setting backend.timeout_ms: "), out

    status, out, _ = await run("doctor", "--set", "backend.kindd=ngram", env=env)
    assert status == 0, out
    assert out.startswith(
        "warn  settings   unknown settings ignored: backend.kindd (did you mean backend.kind?)\n"
        "ok    settings   ngram"
    ), out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_serve_over_tcp(fake: FakeLLM, env: dict[str, str]):
    fake.default = Reply(chunks=["42\n"])
    client = await LspClient.start_tcp("127.0.0.1", free_port(), env=env)
    try:
        await client.initialize(initialization_options={"backend": {"url": fake.url}})
        client.open("file:///tcp.py", "answer = \n")
        items = await client.inline_completion("file:///tcp.py", (0, 9))
        assert [item["insertText"] for item in items] == ["42"]
    finally:
        await client.shutdown(timeout=5)
