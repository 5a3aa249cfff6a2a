"""What all HTTP backends share: one pooled client (backends/wire.py), timeouts, retries before
the first token, error messages from each API's error shapes, and reading SSE or NDJSON bodies
line by line."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from infill.backends.base import BackendConfig, BackendError
from infill.backends.wire import (
    ConnectError,
    Disconnected,
    HttpClient,
    HttpError,
    ProxyError,
    Response,
    TlsError,
    env_proxy,
)

log = logging.getLogger(__name__)

ERROR_BODY_CHARS = 300
RETRY_STATUSES = (429, 503)
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 0.25  # doubled at each attempt, unless the server says when
MAX_LINE_BYTES = 1 << 20  # a "line" longer than this is not an event stream


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_message(body: bytes) -> str:
    """The human part of an error body, whatever the API's shape: OpenAI's and Anthropic's
    {"error": {"message"}}, Ollama's {"error": "..."}, Mistral's {"message"} or {"detail"}."""
    text = body[: ERROR_BODY_CHARS * 4].decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text[:ERROR_BODY_CHARS]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            kind = error.get("type") or error.get("code")
            message = error.get("message") or error.get("detail") or json.dumps(error)
            return (
                f"{kind}: {message}"[:ERROR_BODY_CHARS] if kind else str(message)[:ERROR_BODY_CHARS]
            )
        return str(error)[:ERROR_BODY_CHARS]
    return text[:ERROR_BODY_CHARS]


class HttpBackend:
    """A backend that talks HTTP: subclasses say which request to send and how to read it."""

    # A cheap request that opens a connection (and says whether the server is there).
    warm_path = ""
    takes_n = False

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        # One timeout for connecting and for each read: it catches a stall before the headers
        # and mid-stream. The environment's proxy is looked up once, not on every request.
        self._client = HttpClient(config.timeout_ms / 1000, env_proxy(config.base_url))
        self._warming: asyncio.Task[str | None] | None = None

    def url(self, path: str) -> str:
        return self.config.base_url + path

    def headers(self) -> dict[str, str]:
        key = self.config.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def warm(self) -> str | None:
        """Open the pooled connection (once per backend); why no connection could be made, if
        none could. A slow or odd answer is an answer: the requests judge those."""
        if self.warm_path and self._warming is None:
            self._warming = asyncio.ensure_future(self._warm())
        if self._warming is not None:
            return await asyncio.shield(self._warming)
        return None

    async def _warm(self) -> str | None:
        try:
            response = await self._client.request("GET", self.url(self.warm_path), self.headers())
            try:
                await response.read()
            finally:
                response.close()
        except (HttpError, TimeoutError, ValueError) as exc:
            reason = _describe(exc)
            log.info("warming %s: %s", self.config.base_url, reason)
            return reason if isinstance(exc, (ConnectError, TlsError, ProxyError)) else None
        return None

    async def aclose(self) -> None:
        await self._client.aclose()

    @asynccontextmanager
    async def post_stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[Response]:
        """POST, and the streaming response once its status is 200; leaving the block closes
        it, and with it the connection if the body was not read to its end."""
        response = await self._open(path, body)
        try:
            yield response
        finally:
            # Synchronous, so a second cancellation cannot cut it short.
            response.close()

    async def _open(self, path: str, body: dict[str, Any]) -> Response:
        """Retries happen only here, before any token: on connection errors and on 429/503,
        after the server's Retry-After or a doubling backoff."""
        if self._warming is not None and not self._warming.done():
            # The connection being opened is the one to use: wait rather than open a second.
            await asyncio.shield(self._warming)
        url = self.url(path)
        data = json.dumps(body).encode("utf-8")
        headers = {**self.headers(), "Content-Type": "application/json"}
        delay = BACKOFF_SECONDS
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                # Cancelled meanwhile (the user typed on), the client closes the connection.
                response = await self._client.request("POST", url, headers, data)
            except TimeoutError:
                raise BackendError(
                    f"timed out after {self.config.timeout_ms} ms waiting for {url}"
                ) from None
            except (HttpError, ValueError) as exc:
                # Refused connections and failed lookups may pass, as may a server that hung
                # up without answering (a kept-alive connection closed as it was reused is
                # asked again at once by the client); a TLS failure will not.
                retry = isinstance(exc, ConnectError | Disconnected)
                if attempt == MAX_ATTEMPTS or not retry:
                    raise BackendError(f"{_describe(exc)} talking to {url}") from None
                await asyncio.sleep(delay)
                delay *= 2
                continue
            if response.status == 200:
                return response
            try:
                raw = await response.read(ERROR_BODY_CHARS * 4)
            except (HttpError, TimeoutError):
                raw = b""
            finally:
                response.close()
            wait = retry_after_seconds(response.headers.get("retry-after"))
            message = f"HTTP {response.status} from {url}: {error_message(raw)}"
            if response.status not in RETRY_STATUSES or attempt == MAX_ATTEMPTS:
                raise BackendError(message, retry_after=wait, status=response.status)
            log.info("%s; retrying", message)
            await asyncio.sleep(wait if wait is not None else delay)
            delay *= 2
        raise AssertionError("unreachable")

    async def lines(self, response: Response) -> AsyncIterator[str]:
        """The body's lines, as they arrive; a line beyond MAX_LINE_BYTES is an error."""
        try:
            async for line in body_lines(response.chunks()):
                yield line.decode("utf-8", "replace")
        except OversizedLine:
            raise BackendError(f"oversized line from {response.url}") from None
        except TimeoutError:
            raise BackendError(
                f"stream from {response.url} stalled for {self.config.timeout_ms} ms"
            ) from None
        except HttpError as exc:
            raise BackendError(f"stream from {response.url} broke: {_describe(exc)}") from None


class OversizedLine(ValueError):
    pass


_LINE_END = re.compile(rb"\r\n|\r|\n")


async def body_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The lines of a body arriving in chunks, each as soon as its end is in: a line ends at
    CRLF, LF or CR (as event streams allow), wherever the chunks are cut."""
    pending = b""
    async for chunk in chunks:
        data = pending + chunk
        start = 0
        for match in _LINE_END.finditer(data):
            if match.end() == len(data) and match.group() == b"\r":
                break  # maybe the first half of a CRLF: wait for the next chunk
            yield data[start : match.start()]
            start = match.end()
        pending = data[start:]
        if len(pending) > MAX_LINE_BYTES:
            raise OversizedLine
    if pending.rstrip(b"\r"):  # a last line without its line end
        yield pending.rstrip(b"\r")


def _describe(exc: BaseException) -> str:
    """What went wrong, in words fit for a log line: the exception's class and its message."""
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def parse_json(data: str, url: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        raise BackendError(f"malformed event from {url}: {data[:ERROR_BODY_CHARS]!r}") from None
    if not isinstance(event, dict):
        raise BackendError(f"unexpected event from {url}: {data[:ERROR_BODY_CHARS]!r}")
    return event
