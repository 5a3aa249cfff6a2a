"""What all HTTP backends share: one pooled client, timeouts, retries before the first token,
error messages from each API's error shapes, and reading SSE or NDJSON bodies line by line."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from infill.backends.base import BackendConfig, BackendError

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
        seconds = config.timeout_ms / 1000
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(seconds),
            # No cap on connections: a response whose close is cut short by cancellation
            # (seen with httpcore 1.0.9 when typing cancels requests in quick succession) can
            # leave its connection marked in use, and a capped pool then makes every later
            # request wait until it times out. One connection is kept alive for reuse.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=1),
        )
        self._warming: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Future[None]] = set()  # responses nobody wants, closing

    def url(self, path: str) -> str:
        return self.config.base_url + path

    def headers(self) -> dict[str, str]:
        key = self.config.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def warm(self) -> None:
        """Open the pooled connection (once per backend)."""
        if self.warm_path and self._warming is None:
            self._warming = asyncio.ensure_future(self._warm())
        if self._warming is not None:
            await asyncio.shield(self._warming)

    async def _warm(self) -> None:
        try:
            response = await self._client.get(self.url(self.warm_path), headers=self.headers())
            await response.aread()
        except httpx.HTTPError as exc:
            log.info("warming %s: %s", self.config.base_url, type(exc).__name__)

    async def aclose(self) -> None:
        await self._client.aclose()

    @asynccontextmanager
    async def post_stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """POST, and the streaming response once its status is 200; leaving the block closes
        it, and with it the connection if the body was not read to its end."""
        response = await self._open(path, body)
        try:
            yield response
        finally:
            await self._close(response)

    async def _open(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """Retries happen only here, before any token: on connection errors and on 429/503,
        after the server's Retry-After or a doubling backoff."""
        if self._warming is not None and not self._warming.done():
            # The connection being opened is the one to use: wait rather than open a second.
            await asyncio.shield(self._warming)
        url = self.url(path)
        delay = BACKOFF_SECONDS
        for attempt in range(1, MAX_ATTEMPTS + 1):
            request = self._client.build_request("POST", url, json=body, headers=self.headers())
            try:
                response = await self._send(request)
            except httpx.TimeoutException as exc:
                raise BackendError(
                    f"timed out after {self.config.timeout_ms} ms waiting for {url} "
                    f"({type(exc).__name__})"
                ) from None
            except httpx.TransportError as exc:
                if attempt == MAX_ATTEMPTS or not isinstance(exc, httpx.ConnectError):
                    raise BackendError(f"{type(exc).__name__} talking to {url}: {exc}") from None
                await asyncio.sleep(delay)
                delay *= 2
                continue
            if response.status_code == 200:
                return response
            try:
                raw = await response.aread()
            except httpx.HTTPError:
                raw = b""
            finally:
                await response.aclose()
            wait = retry_after_seconds(response.headers.get("retry-after"))
            message = f"HTTP {response.status_code} from {url}: {error_message(raw)}"
            if response.status_code not in RETRY_STATUSES or attempt == MAX_ATTEMPTS:
                raise BackendError(message, retry_after=wait, status=response.status_code)
            log.info("%s; retrying", message)
            await asyncio.sleep(wait if wait is not None else delay)
            delay *= 2
        raise AssertionError("unreachable")

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send, and the response once its headers are in. Cancelled meanwhile (the user typed
        on), the request still completes in the background and its response is closed:
        httpcore cancelled inside a request can leave its connection marked in use, and after
        a few of those the pool has none left."""
        sending = asyncio.ensure_future(self._client.send(request, stream=True))
        try:
            return await asyncio.shield(sending)
        except asyncio.CancelledError:
            sending.add_done_callback(self._close_unwanted)
            raise

    def _close_unwanted(self, sending: asyncio.Future[httpx.Response]) -> None:
        if sending.cancelled() or sending.exception() is not None:
            return
        self._closing_task(sending.result())

    def _closing_task(self, response: httpx.Response) -> asyncio.Future[None]:
        closing = asyncio.ensure_future(response.aclose())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        return closing

    async def _close(self, response: httpx.Response) -> None:
        """Close a response, even if the request is cancelled again meanwhile: a close cut
        short leaves the pooled connection marked in use."""
        await asyncio.shield(self._closing_task(response))

    async def lines(self, response: httpx.Response) -> AsyncIterator[str]:
        """The body's lines, as they arrive; a line beyond MAX_LINE_BYTES is an error."""
        try:
            async for line in response.aiter_lines():
                if len(line) > MAX_LINE_BYTES:
                    raise BackendError(f"oversized line from {response.url}")
                yield line
        except httpx.TimeoutException:
            raise BackendError(
                f"stream from {response.url} stalled for {self.config.timeout_ms} ms"
            ) from None
        except httpx.HTTPError as exc:
            raise BackendError(f"stream from {response.url} broke: {type(exc).__name__}") from None


def parse_json(data: str, url: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        raise BackendError(f"malformed event from {url}: {data[:ERROR_BODY_CHARS]!r}") from None
    if not isinstance(event, dict):
        raise BackendError(f"unexpected event from {url}: {data[:ERROR_BODY_CHARS]!r}")
    return event
