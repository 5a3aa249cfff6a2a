"""What all HTTP backends share: one httpx client per backend (kept-alive connections that
expire when idle, the environment's proxies, TLS with the system's CAs), timeouts, retries
before the first token, error messages from each API's error shapes, and reading SSE or NDJSON
bodies line by line."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import certifi
import httpx

from infill import __version__
from infill.backends.base import (
    BackendConfig,
    BackendError,
    CompletionRequest,
    ServerLimits,
    reading_silence_s,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = f"infill/{__version__}"
ERROR_BODY_CHARS = 300
RETRY_STATUSES = (429, 503)
MAX_ATTEMPTS = 3  # tries of a request nobody answered: refused connections, 429 and 503
BACKOFF_SECONDS = 0.25  # doubled at each attempt, unless the server says when
PRIME_ANSWER_BYTES = 1 << 16  # a prime's answer is a few hundred bytes
MAX_LINE_BYTES = 1 << 20  # a "line" longer than this is not an event stream
# A kept-alive connection idle for longer is not used again: NATs and load balancers drop idle
# flows without a word, and a request sent on one would wait out the whole timeout.
KEEPALIVE_EXPIRY_S = 5.0
# The warm-up's answer (a model list) is read up to this much, then its connection closed.
WARM_BODY_BYTES = 4 << 20
# An API key is sent in a header: visible ASCII only (a line end, a NUL or a non-ASCII letter
# is a key pasted wrong, and would make a malformed request or one with a different key).
_KEY_CHARACTER = re.compile(r"[\x20-\x7e]")


def tls_context() -> ssl.SSLContext:
    """The system's trusted CAs (OpenSSL reads SSL_CERT_FILE and SSL_CERT_DIR for others), or
    certifi's where the system has none; host names checked."""
    context = ssl.create_default_context()
    named = os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")
    if not named and not context.cert_store_stats()["x509_ca"]:
        context.load_verify_locations(certifi.where())
    return context


def make_client(config: BackendConfig) -> httpx.AsyncClient:
    """A client for `config`'s server: one timeout for connecting and for each read (it catches
    a stall before the headers and mid-stream), the environment's proxies (HTTP(S)_PROXY,
    ALL_PROXY, NO_PROXY, read once here), compressed answers decoded. Raises ValueError or
    ImportError for a proxy it cannot use."""
    return httpx.AsyncClient(
        timeout=config.timeout_ms / 1000,
        limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S),
        headers={"User-Agent": USER_AGENT},
        verify=tls_context(),
        trust_env=True,
    )


def checked_key(config: BackendConfig) -> str | None:
    """The API key, refused (never sent, never shown) if it holds a character a header cannot
    carry as it is."""
    key = config.api_key()
    if key is not None:
        for position, character in enumerate(key):
            if not _KEY_CHARACTER.fullmatch(character):
                source = f"${config.api_key_env}" if config.api_key_env else "backend.api_key"
                kind = "a non-ASCII" if ord(character) > 0x7F else "a control"
                raise BackendError(
                    f"the API key ({source}) holds {kind} character at position {position + 1} "
                    f"of {len(key)}: it is not sent; set the key without it"
                )
    return key


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


async def read_at_most(response: httpx.Response, limit: int) -> bytes:
    """The (decoded) body's first `limit` bytes: a body that never ends is not waited for."""
    data = bytearray()
    async for chunk in body_chunks(response):
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit])


# httpx's work in tasks of its own (see `guarded`), referenced until they are done.
_detached: set[asyncio.Future[Any]] = set()


def _detach(task: asyncio.Future[Any]) -> None:
    _detached.add(task)
    task.add_done_callback(_detached.discard)


async def guarded(
    work: Awaitable[T], on_abandoned: Callable[[T], asyncio.Future[None]] | None = None
) -> T:
    """`work` (a step of httpx's) in a task of its own, cancelled at most once however often
    the caller is: httpx cleans up after a cancellation (closes the connection) with awaits of
    its own, and a second cancellation there leaves the connection open, neither pooled nor
    closed (encode/httpx#3782: the user's typing cancels requests, often twice). If the caller
    is cancelled as the work finishes, `on_abandoned` gets its result."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        _detach(task)
        if on_abandoned is not None:
            task.add_done_callback(
                lambda done: (
                    on_abandoned(done.result())
                    if not done.cancelled() and done.exception() is None
                    else None
                )
            )
        raise


async def body_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    """The (decoded) body as it arrives, each read `guarded`."""
    chunks = response.aiter_bytes()
    while (chunk := await guarded(anext(chunks, None))) is not None:
        yield chunk


def closing(response: httpx.Response) -> asyncio.Future[None]:
    """Close `response`, and its connection if its body was not read to its end, in a task of
    its own that is never cancelled: cut short, httpx's close leaves the connection open."""
    task = asyncio.ensure_future(response.aclose())
    _detach(task)
    return task


async def close(response: httpx.Response) -> None:
    """`closing`, waited for (a cancellation of the caller stops the wait, not the close)."""
    await asyncio.shield(closing(response))


class HttpBackend:
    """A backend that talks HTTP: subclasses say which request to send and how to read it."""

    # A cheap request that opens a connection (and says whether the server is there).
    warm_path = ""
    takes_n = False

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.limits: ServerLimits | None = None  # what the server said it keeps, if it did
        self._warming: asyncio.Task[str | None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._refusal = ""  # why there is no client: a proxy the environment names is unusable
        try:
            self._client = make_client(config)
        except (ValueError, ImportError, httpx.InvalidURL) as exc:
            # Going direct where the user's network says to use a proxy is not an option.
            self._refusal = f"cannot use the proxy set in the environment: {exc}"
            log.warning("%s", self._refusal)

    def url(self, path: str) -> str:
        return self.config.base_url + path

    def headers(self) -> dict[str, str]:
        key = checked_key(self.config)
        return {"Authorization": f"Bearer {key}"} if key else {}

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise BackendError(self._refusal)
        return self._client

    async def warm(self) -> str | None:
        """Open a kept-alive connection (once per backend); why no connection could be made,
        if none could. A slow or odd answer is an answer: the requests judge those."""
        if self.warm_path and self._warming is None:
            self._warming = asyncio.ensure_future(self._warm())
        await self.warm_up_done()
        if self._warming is None or self._warming.cancelled():
            return None  # none, or the backend was closed meanwhile (the settings changed)
        return self._warming.result()

    async def _warm(self) -> str | None:
        """A GET whose answer is read up to WARM_BODY_BYTES, all within the timeout: requests
        wait for it (to use its connection), so it must end."""
        url = self.url(self.warm_path)
        try:
            async with asyncio.timeout(self.config.timeout_ms / 1000):
                self.warmed(*await self.get(url))
        except TimeoutError:
            log.info("warming %s: no answer within %d ms", url, self.config.timeout_ms)
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, BackendError) as exc:
            reason = describe(exc)
            log.info("warming %s: %s", url, reason)
            # No connection at all (refused, DNS, TLS, a proxy): the backend is down now.
            unreachable = (httpx.ConnectError, httpx.ProxyError, BackendError)
            return reason if isinstance(exc, unreachable) else None
        return None

    @property
    def reports_reading(self) -> bool:
        """Whether the server says how far it has read a prompt (llama.cpp), once per batch."""
        return False

    @property
    def silence_s(self) -> float:
        """The longest an answer may stay silent (before its headers, between its pieces): a
        server reading a prompt speaks once per batch (see `reading_silence_s`); the first
        token's deadline, not this, judges a server that says nothing at all."""
        silence = self.config.timeout_ms / 1000
        if self.reports_reading:
            return max(silence, reading_silence_s(self.config.batch_tokens))
        return silence

    async def warm_up_done(self) -> None:
        """The warm-up's end, if one is under way: its connection is the one to use (rather
        than opening a second), and its answer may change what requests say. At most the
        warm-up's own timeout. Waited for, not owned: a backend closed meanwhile ends its
        warm-up, which is no reason to cancel the request waiting for it."""
        if self._warming is not None and not self._warming.done():
            await asyncio.wait((self._warming,))

    def warmed(self, status: int, body: bytes) -> None:
        """What the warm-up's answer says about the server (its status and body, read up to
        WARM_BODY_BYTES)."""

    async def prime(self, request: CompletionRequest) -> None:
        """Hosted APIs and vLLM cache prompt prefixes by themselves, as requests come."""

    async def post_for_the_cache(self, path: str, body: dict[str, Any]) -> None:
        """POST a prompt for the server to compute into its cache; the answer, which says
        nothing of use, is read (up to PRIME_ANSWER_BYTES) and dropped."""
        try:
            async with self.post_stream(path, body) as response:
                await read_at_most(response, PRIME_ANSWER_BYTES)
        except httpx.HTTPError as exc:
            raise BackendError(f"{describe(exc)} talking to {self.url(path)}") from None

    async def get(self, url: str) -> tuple[int, bytes]:
        """GET `url`: the status, and the body read up to WARM_BODY_BYTES (the caller bounds
        the time)."""
        request = self.client.build_request("GET", url, headers=self.headers())
        response = await guarded(self.client.send(request, stream=True), closing)
        try:
            return response.status_code, await read_at_most(response, WARM_BODY_BYTES)
        finally:
            await close(response)

    async def aclose(self) -> None:
        if self._warming is not None:
            self._warming.cancel()
            await asyncio.wait((self._warming,))
        if self._client is not None:
            await self._client.aclose()

    @asynccontextmanager
    async def post_stream(
        self, path: str, body: dict[str, Any], on_sent: Callable[[], object] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """POST, and the streaming response once its status is 200; leaving the block closes
        it, and with it the connection if the body was not read to its end (which is how the
        server learns that nobody listens). `on_sent`: see `CompletionRequest.on_sent`."""
        response = await self._open(path, body, on_sent)
        try:
            yield response
        finally:
            # Not waited for: the answer is ready now, and a connection being closed is not
            # one the next request could use either (closing one cut short takes ~0.5 ms).
            closing(response)

    async def _open(
        self, path: str, body: dict[str, Any], on_sent: Callable[[], object] | None = None
    ) -> httpx.Response:
        """Retries happen only here, before any token: refused connections and 429/503 after
        the server's Retry-After or a doubling backoff; a request the server may have read
        before it hung up is sent once more, at once (the connection may have been one it
        closed as it was reused), and no more."""
        await self.warm_up_done()
        url = self.url(path)
        content = json.dumps(body).encode("utf-8")
        try:
            request = self.client.build_request(
                "POST", url, content=content, headers=self.headers()
            )
        except (httpx.InvalidURL, ValueError) as exc:  # ValueError: urllib's reading of it
            raise BackendError(f"not a URL to send requests to: {url}: {exc}") from None
        request.headers["Content-Type"] = "application/json"
        if on_sent is not None:
            request.extensions["trace"] = _calling_when_sent(on_sent)
        request.extensions["timeout"] = {**self.client.timeout.as_dict(), "read": self.silence_s}
        # A pause that would end past the request's own timeout is not waited out: the caller
        # has given up by then, and the next request would go sooner than the server asked.
        deadline = time.monotonic() + self.config.timeout_ms / 1000
        delay = BACKOFF_SECONDS
        resent = False
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                # Cancelled meanwhile (the user typed on), httpx closes the connection.
                response = await guarded(self.client.send(request, stream=True), closing)
            except httpx.TimeoutException:
                raise BackendError(
                    f"timed out after {self.config.timeout_ms} ms waiting for {url}"
                ) from None
            except httpx.HTTPError as exc:
                unanswered = isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError)
                refused = isinstance(exc, httpx.ConnectError) and not tls_failure(exc)
                more = attempt < MAX_ATTEMPTS
                if unanswered and not resent and more:
                    resent = True
                    continue
                if refused and more and time.monotonic() + delay <= deadline:
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                raise BackendError(f"{describe(exc)} talking to {url}") from None
            if response.status_code == 200:
                return response
            try:
                raw = await read_at_most(response, ERROR_BODY_CHARS * 4)
            except httpx.HTTPError:
                raw = b""
            finally:
                await close(response)
            wait = retry_after_seconds(response.headers.get("retry-after"))
            message = f"HTTP {response.status_code} from {url}: {error_message(raw)}"
            pause = wait if wait is not None else delay
            last = attempt == MAX_ATTEMPTS or time.monotonic() + pause > deadline
            if response.status_code not in RETRY_STATUSES or last:
                raise BackendError(message, retry_after=wait, status=response.status_code)
            log.info("%s; retrying", message)
            await asyncio.sleep(pause)
            delay *= 2
        raise AssertionError("unreachable")

    async def lines(self, response: httpx.Response) -> AsyncIterator[str]:
        """The (decoded) body's lines, as they arrive; a line beyond MAX_LINE_BYTES is an
        error."""
        try:
            async for line in body_lines(body_chunks(response)):
                yield line.decode("utf-8", "replace")
        except OversizedLine:
            raise BackendError(f"oversized line from {response.url}") from None
        except httpx.TimeoutException:
            raise BackendError(
                f"stream from {response.url} stalled for {self.silence_s * 1000:.0f} ms"
            ) from None
        except httpx.HTTPError as exc:
            raise BackendError(f"stream from {response.url} broke: {describe(exc)}") from None


def _calling_when_sent(on_sent: Callable[[], object]) -> Callable[[str, Any], Awaitable[None]]:
    """An httpcore trace hook (the `trace` request extension) that calls `on_sent` once the
    request's body is written."""

    async def trace(event: str, info: Any) -> None:
        if event.endswith(".send_request_body.complete"):
            on_sent()

    return trace


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


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it was raised from, outermost first (httpx keeps the socket's or the ssl
    module's error at the end of the chain)."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def tls_failure(exc: BaseException) -> bool:
    """Whether a failed connection failed in its TLS handshake (another try would fail the
    same way)."""
    return any(isinstance(cause, ssl.SSLError) for cause in _causes(exc))


def describe(exc: BaseException) -> str:
    """What went wrong, in words fit for a log line (httpx's messages name no header)."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        url = exc.request.url
        where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        if tls_failure(exc):
            return f"TLS handshake with {where} failed: {detail}"
        for cause in _causes(exc):
            if isinstance(cause, socket.gaierror):
                return f"DNS lookup of {url.host} failed: {cause.strerror}"
            if isinstance(cause, OSError) and cause.errno:
                return f"cannot connect to {where}: {os.strerror(cause.errno)}"
        return f"cannot connect to {where}: {detail}"
    if isinstance(exc, httpx.ProxyError):
        return f"the proxy refused: {detail}"
    return f"{type(exc).__name__}: {detail}"


def parse_json(data: str, url: str) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        raise BackendError(f"malformed event from {url}: {data[:ERROR_BODY_CHARS]!r}") from None
    if not isinstance(event, dict):
        raise BackendError(f"unexpected event from {url}: {data[:ERROR_BODY_CHARS]!r}")
    return event
