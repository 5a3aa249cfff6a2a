"""Everything that reaches into pygls: the protocol subclass, the read loop and stdin served by
the event loop. No other module uses a private member of a pygls object; what they need of
one is a public method here.

The read loop: pygls' own (`pygls.io_.run_async`) reads stdin in a worker thread and gives up
on a stream after one bad frame; this one runs on the event loop, finds its place again
(`infill.framing.Frames`), and answers what it cannot read with a JSON-RPC error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import stat
import threading
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, BinaryIO, cast

import attrs
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from infill.framing import AsyncReader, Frames

log = logging.getLogger(__name__)

# infill's own methods: a request (what the model would be sent) and a notification (the
# backend's state, for editors' status bars).
EXPLAIN = "infill/explain"
# The user is at a position: entered the document, or the cursor rests there (editors/).
DID_FOCUS = "infill/didFocus"
STATUS = "infill/status"
HEADER_LINE_LIMIT = 64 * 1024  # bytes; a longer header line is skipped
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
# Signals that stop the server as cleanly as `exit` does (an editor ending its servers, a
# terminal closing, Ctrl-C).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)
)


def _delegate_to_user(method: str) -> Callable[..., Generator[Any, Any, None]]:
    """A built-in handler that only calls ours, so pygls keeps no second copy of each document
    (its copy is rebuilt line by line on every change, and its positions clamp differently)."""

    @lsp_method(method)
    def handler(self: LanguageServerProtocol, params: Any) -> Generator[Any, Any, None]:
        if (user_handler := self.fm.features.get(method)) is not None:
            yield user_handler, (params,), None

    return handler


@attrs.define
class ExplainRequest:
    """`infill/explain`: the params of `textDocument/inlineCompletion` (its `context` is
    optional here), the answer a report."""

    id: int | str
    params: lsp.TextDocumentPositionParams
    method: str = EXPLAIN
    jsonrpc: str = "2.0"


class MalformedMessage(JsonRpcException):
    """A message that could not be read; if it was a request, it has been answered already."""


class InfillProtocol(LanguageServerProtocol):
    lsp_text_document__did_open = _delegate_to_user(lsp.TEXT_DOCUMENT_DID_OPEN)
    lsp_text_document__did_change = _delegate_to_user(lsp.TEXT_DOCUMENT_DID_CHANGE)
    lsp_text_document__did_close = _delegate_to_user(lsp.TEXT_DOCUMENT_DID_CLOSE)
    # Methods pygls does not know (it would turn their params into named tuples), each with
    # the function that reads its params from JSON (raising ValueError when they are wrong).
    json_params: Mapping[str, Callable[[Any], Any]] = {}

    @property
    def shut_down(self) -> bool:
        """Whether the client has sent `shutdown`."""
        return self._shutdown

    def send_json(self, message: dict[str, Any]) -> None:
        """A message that is JSON already, as it is."""
        self._send_data(message)

    def answer_when_done(self, msg_id: int | str, task: asyncio.Task[Any]) -> None:
        """Answer request `msg_id` with the task's result (or its error) once it is done."""
        # Where pygls keeps its requests, so that $/cancelRequest finds this one too.
        self._request_futures[msg_id] = cast(Any, task)
        task.add_done_callback(functools.partial(self._send_handler_result, msg_id=msg_id))

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            if data.get("method") == EXPLAIN and "id" in data and "jsonrpc" in data:
                # Our own request is typed too, so its params are validated like the others.
                try:
                    return self._converter.structure(data, ExplainRequest)
                except Exception as exc:
                    raise JsonRpcInvalidParams() from exc
            method = data.get("method")
            read_params = self.json_params.get(method) if isinstance(method, str) else None
            if isinstance(method, str) and read_params and data.get("jsonrpc") == "2.0":
                try:
                    params = read_params(data.get("params"))
                except ValueError as exc:
                    raise JsonRpcInvalidParams(str(exc)) from exc
                if "id" in data:
                    return JsonRPCRequestMessage(
                        id=data["id"], method=method, params=params, jsonrpc="2.0"
                    )
                return JsonRPCNotification(method=method, params=params, jsonrpc="2.0")
            return super().structure_message(data)
        except JsonRpcException as exc:
            # pygls gives up on a message it cannot read without answering it, which would
            # leave the client waiting forever for a malformed request.
            if "method" in data and isinstance(data.get("id"), int | str):
                self._send_response(data["id"], error=exc.to_response_error())
            raise MalformedMessage(f"malformed {data.get('method', 'message')!r}") from exc

    def _handle_notification(self, method_name: str, params: Any) -> None:
        # pygls files the handling of each notification under a made-up id and never takes it
        # out again: a future (and, for an async handler, its task) kept per keystroke. Each
        # one goes when its handling is done.
        before = set(self._request_futures)
        super()._handle_notification(method_name, params)
        for made_up in set(self._request_futures) - before:
            forget = functools.partial(self._forget_future, made_up)
            self._request_futures[made_up].add_done_callback(forget)

    def _forget_future(self, msg_id: int | str, future: Any) -> None:
        self._request_futures.pop(msg_id, None)

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        # A result that is JSON already goes out as it is: pygls would walk it with cattrs.
        if error is None and (result is None or type(result) in (dict, list)):
            self._result_types.pop(msg_id, None)
            self._send_data({"jsonrpc": "2.0", "id": msg_id, "result": result})
            return
        super()._send_response(msg_id, result, error)

    @lsp_method(lsp.INITIALIZE)
    def lsp_initialize(self, params: lsp.InitializeParams) -> Generator[Any, Any, Any]:
        result = yield from super().lsp_initialize(params)
        # A client with inline completion shows ghost text; offering it the completion
        # fallback as well would put the same suggestion in its completion menu too.
        text_document = params.capabilities.text_document
        if text_document is not None and text_document.inline_completion is not None:
            result.capabilities.completion_provider = None
        return result


class PipeReader:
    """stdin read by the event loop itself. pygls reads it in a worker thread, a thread hop
    for every header line and body: on two busy cores that was most of a keystroke's round
    trip."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream

    async def readline(self) -> bytes:
        try:
            return await self._stream.readline()
        except ValueError:
            # A header line longer than the limit (the stream has dropped it): a junk line,
            # skipped like any other line that is not Content-Length.
            return b"?\r\n"

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self._stream.readexactly(n)
        except asyncio.IncompleteReadError:
            return b""  # the client went away mid-message


def readable_by_event_loop(stream: BinaryIO) -> bool:
    """Pipes, sockets and terminals can be watched by the event loop; regular files and the
    other character devices (/dev/null: epoll refuses it) cannot."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)


def serve_pipe(
    server: LanguageServer,
    stdin: BinaryIO,
    stdout: BinaryIO,
    take_plain: Callable[[Any], bool],
    log_state: Callable[[], None],
    closing: Callable[[], Awaitable[None]],
) -> None:
    """Serve the client on `stdin` (readable by the event loop) until it goes, says exit, or
    a signal stops the server; then await `closing()`. `log_state` runs on SIGUSR1."""
    server._stop_event = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout))

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stream = asyncio.StreamReader(limit=HEADER_LINE_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), stdin)
        reading = asyncio.ensure_future(
            serve_messages(
                PipeReader(stream),
                cast(InfillProtocol, server.protocol),
                server.report_server_error,
                take_plain,
            )
        )
        with contextlib.suppress(NotImplementedError, ValueError):  # not on Windows
            for signum in STOP_SIGNALS:
                loop.add_signal_handler(signum, reading.cancel)
            loop.add_signal_handler(signal.SIGUSR1, log_state)
        try:
            await reading
        except asyncio.CancelledError:
            if not reading.cancelled():
                raise
            log.info("stopping: asked to by a signal")
        finally:
            # The client is gone (stdin ended), said exit, or a signal came: let go of the
            # backend's connections and write the metrics still queued.
            await closing()

    try:
        asyncio.run(serve())
    except BrokenPipeError:
        log.error("the client's pipe is closed; shutting down")
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


def _request_id(data: Any) -> int | str | None:
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


async def serve_messages(
    reader: AsyncReader,
    protocol: InfillProtocol,
    on_error: Callable[[Exception, Any], None],
    take_plain: Callable[[Any], bool] | None = None,
) -> None:
    """Read and dispatch messages until the stream ends. `on_error(exception, source)` hears of
    messages that failed; a request that cannot be read is answered with an error.
    `take_plain(message)` sees each message as parsed JSON first and says whether it handled
    it; the others are made typed objects and go to pygls."""
    frames = Frames(reader)
    while (body := await frames.next_body()) is not None:
        try:
            data = json.loads(body.decode("utf-8", "replace"))
        except json.JSONDecodeError as exc:
            frames.resync(body)
            log.warning("a message that is not JSON (%s): %r", exc.msg, body[:80])
            _answer_error(protocol, None, PARSE_ERROR, "Parse error")
            continue
        try:
            if take_plain is not None and take_plain(data):
                continue
        except BrokenPipeError:
            raise  # the client is gone
        except Exception as exc:
            log.exception("cannot handle a message")
            on_error(exc, JsonRpcException)
            continue
        try:
            message = protocol.structure_message(data) if isinstance(data, dict) else data
        except Exception as exc:  # structure_message refused it (and answered a request)
            on_error(exc, JsonRpcException)
            continue
        if not hasattr(message, "jsonrpc"):
            # Valid JSON but no JSON-RPC message: an array (batch), a number, no "jsonrpc".
            log.warning("not a JSON-RPC message: %r", body[:80])
            _answer_error(protocol, _request_id(message), INVALID_REQUEST, "Invalid Request")
            continue
        if protocol.shut_down and hasattr(message, "method") and hasattr(message, "id"):
            # pygls drops requests after shutdown without an answer; LSP wants an error.
            _answer_error(protocol, message.id, INVALID_REQUEST, "the server is shutting down")
            continue
        try:
            protocol.handle_message(message)
        except BrokenPipeError:
            raise  # the client is gone
        except Exception as exc:
            log.exception("cannot handle a message")
            on_error(exc, JsonRpcException)


def _answer_error(
    protocol: InfillProtocol, request_id: int | str | None, code: int, text: str
) -> None:
    protocol.send_json(
        {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": text}}
    )
