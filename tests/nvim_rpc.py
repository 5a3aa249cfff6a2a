"""A real Neovim driven through its msgpack-RPC API over the pipes of `nvim --embed`.

Requests only, answered in order: the tests ask, Neovim answers. (pynvim would do this too, but
its greenlets upset CPython 3.11's recursion bookkeeping, and pytest then fails to compile the
next module it imports.)"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgpack


class NvimError(Exception):
    pass


class Nvim:
    def __init__(self, binary: Path, env: Mapping[str, str]) -> None:
        # --headless: no UI to wait for; --clean: no user config or plugins; -n: no swap file.
        self.process = subprocess.Popen(
            [str(binary), "--embed", "--headless", "--clean", "-n"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(env),
        )
        self._unpacker = msgpack.Unpacker(raw=False)
        self._last_id = 0

    def request(self, method: str, *args: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self._last_id += 1
        self.process.stdin.write(msgpack.packb([0, self._last_id, method, list(args)]))
        self.process.stdin.flush()
        while True:
            for message in self._unpacker:
                # [1, id, error, result]; notifications ([2, ...]) are not subscribed to.
                if message[0] == 1 and message[1] == self._last_id:
                    if message[2] is not None:
                        raise NvimError(f"{method}: {message[2]}")
                    return message[3]
            data = os.read(self.process.stdout.fileno(), 65536)
            if not data:
                raise EOFError(f"nvim exited ({self.process.wait()}) during {method}")
            self._unpacker.feed(data)

    def lua(self, code: str, *args: Any) -> Any:
        return self.request("nvim_exec_lua", code, list(args))

    def command(self, command: str) -> None:
        self.request("nvim_command", command)

    def input(self, keys: str) -> None:
        """Keys as typed ones are: queued, and read by Neovim's main loop (`<Tab>` notation)."""
        self.request("nvim_input", keys)

    def set_cursor(self, row: int, col: int) -> None:
        """(row from 1, byte column from 0), as Neovim counts."""
        self.request("nvim_win_set_cursor", 0, [row, col])

    def cursor(self) -> tuple[int, int]:
        row, col = self.request("nvim_win_get_cursor", 0)
        return row, col

    def lines(self) -> list[str]:
        return list(self.request("nvim_buf_get_lines", 0, 0, -1, True))

    def buffer_name(self) -> str:
        return str(self.request("nvim_buf_get_name", 0))

    def close(self) -> None:
        """Quit (Neovim stops the language servers it started), or kill it if it hangs."""
        try:
            self.command("qa!")
        except (EOFError, BrokenPipeError):
            pass  # gone before it could answer, as expected
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
