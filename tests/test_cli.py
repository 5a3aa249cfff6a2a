"""The command line: `infill complete`, `infill serve --tcp`, `python -m infill`."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import pytest

from infill.harness import LspClient
from tests.fake_llm import FakeLLM, Reply

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLE = REPOSITORY / "bench" / "example_workspace" / "inventory.py"


async def run(*args: str, env: dict[str, str], cwd: Path | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infill",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
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


async def test_the_readme_example_as_written_answers(env: dict[str, str]):
    # Run from the repository, without --root: the example's own project is the workspace
    # (the whole repository continues `return sum(` in too many ways to suggest one).
    status, out, err = await run(
        "complete", "bench/example_workspace/inventory.py:24:20", env=env, cwd=REPOSITORY
    )
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
        " backend.foo,"
        " temprature (did you mean backend.temperature?)\n"
        "infill: answered by the offline engine (no backend.url set)\n"
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


async def test_stats_into_a_pipe_closed_early_ends_quietly(env: dict[str, str]):
    # `infill stats --json | head -0`: the reader is gone before the numbers are written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "infill",
            "stats",
            "--json",
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    finally:
        os.close(write_end)
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 1
    assert err.decode() == ""


async def test_serve_with_no_input_ends_at_once(env: dict[str, str]):
    # `infill serve < /dev/null`: the end of the input, quietly, not a hang.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "infill",
        "serve",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert out == b""


async def test_complete_says_which_engine_answered_and_stays_out_of_the_stats(
    env: dict[str, str],
):
    status, _, err = await run(
        "complete", f"{EXAMPLE}:24:20", "--root", str(EXAMPLE.parent), env=env
    )
    assert status == 0, err
    assert "answered by the offline engine" in err
    # A one-shot run is not an editor's use: nothing recorded for `infill stats`.
    assert not (Path(env["XDG_STATE_HOME"]) / "infill" / "metrics.sqlite3").exists()


async def test_complete_refuses_a_root_that_is_no_folder(env: dict[str, str], tmp_path: Path):
    status, out, err = await run(
        "complete", f"{EXAMPLE}:24:20", "--root", str(tmp_path / "nowhere"), env=env
    )
    assert (status, out) == (2, "")
    assert "nowhere" in err and "no such folder" in err


@pytest.mark.parametrize(
    ("source", "sent", "warned"),
    [
        # Its PEP 263 coding line says Latin-1.
        (b'# -*- coding: latin-1 -*-\nname = "caf\xe9"\nsize = \n', 'name = "caf\xe9"', False),
        # Nothing declared, and not UTF-8: the byte becomes U+FFFD, with a word on stderr.
        (b'name = "caf\xe9"\n\nsize = \n', 'name = "caf\ufffd"', True),
    ],
)
async def test_complete_reads_a_file_that_is_not_utf8(
    source: bytes, sent: str, warned: bool, fake: FakeLLM, env: dict[str, str], tmp_path: Path
):
    fake.default = Reply(chunks=["len(name)\n"])
    path = tmp_path / "cafe.py"
    path.write_bytes(source)
    status, out, err = await run(
        "complete", f"{path}:3:8", "--set", f"backend.url={fake.url}", env=env
    )
    assert (status, out) == (0, "len(name)\n"), err
    assert sent in fake.requests[0].body["prompt"]
    assert ("replacement characters" in err) == warned


async def test_serve_refuses_to_listen_beyond_this_machine_unless_asked(env: dict[str, str]):
    status, _, err = await run("serve", "--tcp", f"0.0.0.0:{free_port()}", env=env)
    assert status == 2
    assert "explain" in err and "--allow-remote" in err


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("dead backend", "the backend did not answer (`infill doctor` says why)"),
        ("secret-looking file", "the file is ignored (an ignore file) or looks secret"),
        ("line past the end", "the position is past the end of its line or of the document"),
        ("declined", "a rule declines this position (code right of the cursor, a secret being"),
        ("no confident answer", "the engine has no confident answer here"),
    ],
)
async def test_no_suggestion_says_why_in_one_line(
    case: str, reason: str, env: dict[str, str], tmp_path: Path
):
    source, position, settings = tmp_path / "shop.py", "2:8", []
    source.write_text("import os\nsize = \n")
    if case == "dead backend":
        settings = ["--set", f"backend.url=http://127.0.0.1:{free_port()}/v1"]
    elif case == "secret-looking file":
        source = tmp_path / ".env"
        source.write_text("DEBUG=1\nLEVEL=\n")
        position = "2:7"
    elif case == "line past the end":
        position = "9:1"
    elif case == "declined":
        position = "1:1"  # code right of the cursor
    status, out, err = await run("complete", f"{source}:{position}", *settings, env=env)
    assert (status, out) == (1, "")
    assert err.splitlines()[-1].startswith(f"infill: no suggestion at this position: {reason}")
