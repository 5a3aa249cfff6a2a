"""A headless LSP client that drives `infill serve` over stdio as an editor would.

Used by the tests, the benchmarks and `infill complete`. It speaks plain JSON-RPC (no pygls on
this side) and keeps its own copy of each document, to which it applies the edits it sends and
the suggestions it accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from infill.context.document import Document

CANCELLED = -32800


class LspError(Exception):
    def __init__(self, error: Mapping[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.code = error.get("code")
        self.message = error.get("message", "")


def serve_command() -> list[str]:
    # -P: the directory the server starts in (often a workspace) is not put on sys.path, so an
    # `infill` folder in a cloned repository is not imported in place of infill.
    return [sys.executable, "-P", "-m", "infill", "serve"]


class LspClient:
    def __init__(
        self,
        process: asyncio.subprocess.Process,
        reader: asyncio.StreamReader | None = None,
        writer: asyncio.StreamWriter | None = None,
    ) -> None:
        """Talk to `process` over its stdio, or over `reader`/`writer` (a TCP connection)."""
        self.process = process
        self._in = reader or process.stdout
        self._out = writer or process.stdin
        self._ids = itertools.count(1)
        self._pending: dict[int | str, asyncio.Future[Any]] = {}
        self.documents: dict[str, Document] = {}
        self.messages: list[dict[str, Any]] = []  # window/showMessage params, in order
        self.notifications: list[tuple[str, Any]] = []
        self.stderr_lines: list[str] = []
        # Answers to workspace/configuration, by section.
        self.configuration: dict[str, Any] = {}
        self.encoding = "utf-16"
        self.capabilities: dict[str, Any] = {}
        self._notified = asyncio.Event()
        self._reader = asyncio.create_task(self._read_messages())
        self._stderr_reader = asyncio.create_task(self._read_stderr())

    @classmethod
    async def start(
        cls,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> LspClient:
        process = await asyncio.create_subprocess_exec(
            *(command or serve_command()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
        return cls(process)

    @classmethod
    async def start_tcp(
        cls, host: str, port: int, env: Mapping[str, str] | None = None
    ) -> LspClient:
        """Start `infill serve --tcp HOST:PORT` and connect to it."""
        process = await asyncio.create_subprocess_exec(
            *serve_command(),
            "--tcp",
            f"{host}:{port}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env) if env is not None else None,
        )
        for _ in range(100):  # the server needs a moment to import and listen
            try:
                reader, writer = await asyncio.open_connection(host, port)
                return cls(process, reader, writer)
            except OSError:
                if process.returncode is not None:
                    raise
                await asyncio.sleep(0.1)
        process.kill()
        raise ConnectionError(f"infill serve --tcp {host}:{port} did not start listening")

    # -- wire ------------------------------------------------------------------------------

    def _write(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self._out is not None
        self._out.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async def _read_messages(self) -> None:
        stdout = self._in
        assert stdout is not None
        try:
            while True:
                length = None
                while True:
                    line = await stdout.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                if length is None:
                    continue
                self._dispatch(json.loads(await stdout.readexactly(length)))
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the server closed its output"))

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:
            self._answer_server_request(message)
        elif "method" in message:
            self.notifications.append((message["method"], message.get("params")))
            if message["method"] == "window/showMessage":
                self.messages.append(message["params"])
            self._notified.set()
        else:
            future = self._pending.pop(message.get("id", ""), None)
            if future is not None and not future.done():
                if "error" in message:
                    future.set_exception(LspError(message["error"]))
                else:
                    future.set_result(message.get("result"))

    def _answer_server_request(self, message: dict[str, Any]) -> None:
        result: Any = None
        if message["method"] == "workspace/configuration":
            items = message.get("params", {}).get("items", [])
            result = [self.configuration.get(item.get("section", "")) for item in items]
        self._write({"id": message["id"], "result": result})

    # -- JSON-RPC --------------------------------------------------------------------------

    def send_request(self, method: str, params: Any) -> tuple[int, asyncio.Future[Any]]:
        """Send a request without waiting: its id (to cancel it) and the future of its result."""
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._write({"id": request_id, "method": method, "params": params})
        return request_id, future

    async def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        _, future = self.send_request(method, params)
        return await asyncio.wait_for(future, timeout)

    def notify(self, method: str, params: Any) -> None:
        self._write({"method": method, "params": params})

    def cancel(self, request_id: int) -> None:
        self.notify("$/cancelRequest", {"id": request_id})

    async def wait_for_notification(
        self, method: str, predicate: Any = None, timeout: float = 10
    ) -> Any:
        """The params of the first `method` notification (matching `predicate`), waiting for
        it if need be."""

        async def find() -> Any:
            while True:
                for name, params in self.notifications:
                    if name == method and (predicate is None or predicate(params)):
                        return params
                self._notified.clear()
                await self._notified.wait()

        return await asyncio.wait_for(find(), timeout)

    async def wait_for_message(self, predicate: Any = None, timeout: float = 10) -> dict[str, Any]:
        """The first window/showMessage (matching `predicate`), waiting for it if need be."""
        message: dict[str, Any] = await self.wait_for_notification(
            "window/showMessage", predicate, timeout
        )
        return message

    # -- LSP -------------------------------------------------------------------------------

    async def initialize(
        self,
        *,
        position_encodings: Sequence[str] = ("utf-16",),
        initialization_options: Any = None,
        inline_completion: bool = True,
        pull_configuration: bool = True,
        root: str | os.PathLike[str] | None = None,
    ) -> dict[str, Any]:
        text_document: dict[str, Any] = {
            "synchronization": {"dynamicRegistration": False},
            "completion": {"completionItem": {"snippetSupport": False}},
        }
        if inline_completion:
            text_document["inlineCompletion"] = {"dynamicRegistration": False}
        params: dict[str, Any] = {
            "processId": os.getpid(),
            "clientInfo": {"name": "infill-harness"},
            "capabilities": {
                "general": {"positionEncodings": list(position_encodings)},
                "textDocument": text_document,
                "workspace": {"configuration": pull_configuration},
                "window": {"workDoneProgress": True},
            },
            "initializationOptions": initialization_options,
        }
        if root is not None:
            uri = Path(root).resolve().as_uri()
            params["rootUri"] = uri
            params["workspaceFolders"] = [{"uri": uri, "name": Path(root).name}]
        result = await self.request("initialize", params)
        self.capabilities = result["capabilities"]
        self.encoding = self.capabilities.get("positionEncoding", "utf-16")
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, language_id: str = "python", version: int = 1) -> None:
        self.documents[uri] = Document(uri, text, language_id, version, self.encoding)
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": language_id,
                    "version": version,
                    "text": text,
                }
            },
        )

    def edit(self, uri: str, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
        """Replace a range (LSP positions in the negotiated encoding) and tell the server."""
        doc = self.documents[uri]
        doc.apply_change(text, (start, end))
        doc.version += 1
        self.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": doc.version},
                "contentChanges": [
                    {
                        "range": {
                            "start": {"line": start[0], "character": start[1]},
                            "end": {"line": end[0], "character": end[1]},
                        },
                        "text": text,
                    }
                ],
            },
        )

    def type_text(self, uri: str, position: tuple[int, int], text: str) -> tuple[int, int]:
        """Insert `text` at `position`; returns the position after it."""
        self.edit(uri, position, position, text)
        doc = self.documents[uri]
        return doc.position_at(doc.offset_at(*position) + len(text))

    @staticmethod
    def _position_params(uri: str, position: tuple[int, int]) -> dict[str, Any]:
        return {
            "textDocument": {"uri": uri},
            "position": {"line": position[0], "character": position[1]},
        }

    def start_inline_completion(
        self, uri: str, position: tuple[int, int], invoked: bool = False
    ) -> tuple[int, asyncio.Future[Any]]:
        """Ask without waiting: the request id (to cancel it) and the future of its result.
        `invoked`: asked for explicitly (the editor's shortcut), not automatically as while
        typing."""
        params = self._position_params(uri, position)
        params["context"] = {"triggerKind": 1 if invoked else 2}
        return self.send_request("textDocument/inlineCompletion", params)

    async def inline_completion(
        self, uri: str, position: tuple[int, int], timeout: float = 30, invoked: bool = False
    ) -> list[dict[str, Any]]:
        _, future = self.start_inline_completion(uri, position, invoked)
        result = await asyncio.wait_for(future, timeout)
        if result is None:
            return []
        return result["items"] if isinstance(result, dict) else result

    async def explain(
        self, uri: str, position: tuple[int, int], timeout: float = 30
    ) -> dict[str, Any] | None:
        """`infill/explain`: the prompt the server would send, and why."""
        result: dict[str, Any] | None = await self.request(
            "infill/explain", self._position_params(uri, position), timeout
        )
        return result

    async def completion(
        self, uri: str, position: tuple[int, int], timeout: float = 30
    ) -> list[dict[str, Any]]:
        result = await self.request(
            "textDocument/completion", self._position_params(uri, position), timeout
        )
        if result is None:
            return []
        return result["items"] if isinstance(result, dict) else result

    def accept(self, uri: str, position: tuple[int, int], item: dict[str, Any]) -> str:
        """Apply an inline completion item (or a completion item's textEdit) to the document
        as an editor would, tell the server, and return the new text."""
        if "textEdit" in item:
            edit = item["textEdit"]
            rng, text = edit.get("range") or edit["replace"], edit["newText"]
        else:
            default = {"line": position[0], "character": position[1]}
            rng = item.get("range") or {"start": default, "end": default}
            text = item["insertText"]
            if isinstance(text, dict):
                text = text["value"]
        start = (rng["start"]["line"], rng["start"]["character"])
        end = (rng["end"]["line"], rng["end"]["character"])
        self.edit(uri, start, end, text)
        command = item.get("command")
        if command:
            # As VS Code and Neovim do: the edit first, then the item's command, unawaited.
            params = {"command": command["command"], "arguments": command.get("arguments", [])}
            self.send_request("workspace/executeCommand", params)
        return self.documents[uri].text

    async def shutdown(self, timeout: float = 10) -> int | None:
        """Orderly shutdown/exit; kills the process if it does not go."""
        with contextlib.suppress(Exception):
            await self.request("shutdown", None, timeout)
            self.notify("exit", None)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._stderr_reader
        return self.process.returncode

    async def __aenter__(self) -> LspClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()
