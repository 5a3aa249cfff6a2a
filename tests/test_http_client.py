"""infill's HTTP/1.1 client (backends/wire.py) against real servers on 127.0.0.1: how bodies are
framed and cut, kept-alive and spare connections, TLS, proxies, timeouts and retries."""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from infill import __version__
from infill.backends import BackendConfig, BackendError, CompletionRequest, wire
from infill.backends.http import BACKOFF_SECONDS, body_lines
from infill.backends.openai import OpenAICompatible
from infill.backends.wire import (
    MAX_HEAD_BYTES,
    Connection,
    Disconnected,
    Headers,
    HttpClient,
    Origin,
    ProxyError,
    Response,
    ResponseError,
    env_proxy,
)
from tests.fake_llm import FakeLLM, Reply
from tests.fuzzing import fuzz_settings

REQUEST = CompletionRequest(prompt="p", stop=(), max_tokens=8, temperature=0.0)
JSON = {"Content-Type": "application/json"}

# An event stream with every line end it may use (CRLF, LF, CR), and a non-ASCII character.
EVENTS = b'data: {"a": 1}\r\n\r\ndata: two\n\ndata: three\r\rdata: \xc3\xa9\r\n\r\n'
LINES = [b'data: {"a": 1}', b"", b"data: two", b"", b"data: three", b"", b"data: \xc3\xa9", b""]


def chunked(body: bytes, size: int) -> bytes:
    """`body` in chunks of `size` bytes, with a chunk extension on each and a trailer."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    chunks = b"".join(b"%x;name=value\r\n%s\r\n" % (len(p), p) for p in pieces)
    return chunks + b"0\r\nX-Trailer: ignored\r\n\r\n"


def answer(framing: str, body: bytes = EVENTS) -> bytes:
    """A 200 answer carrying `body`, framed by Content-Length, chunked or by the close."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    if framing == "length":
        return head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    if framing == "chunked":
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, 7)
    return head + b"\r\n" + body


def cut(data: bytes, positions: Sequence[int]) -> list[bytes]:
    edges = [0, *sorted(set(positions)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges) if b > a]


@dataclass
class Read:
    status: int
    headers: Headers
    body: bytes
    lines: list[bytes]
    reusable: bool  # the connection would go back to the pool


async def read_in_pieces(pieces: Sequence[bytes], close: bool = False) -> Read:
    """What the client reads when an answer's bytes reach it in these pieces, each one read
    before the next comes: the pieces go to the connection's protocol as its transport would
    hand them over (a connected socket pair carries the request); with `close` the other end
    closes after them."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    _, connection = await loop.create_connection(
        lambda: Connection(HttpClient(5), Origin("http", "127.0.0.1", 80)), sock=ours
    )

    async def consume() -> Read:
        await connection.exchange(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        response = Response(connection, "http://127.0.0.1/")
        chunks: list[bytes] = []

        async def recorded() -> AsyncIterator[bytes]:
            async for chunk in response.chunks():
                chunks.append(chunk)
                yield chunk

        lines = [line async for line in body_lines(recorded())]
        reusable = connection.complete and connection.keep_alive and not connection.closed
        response.close()
        return Read(response.status, response.headers, b"".join(chunks), lines, reusable)

    consuming = asyncio.ensure_future(consume())
    try:
        await asyncio.sleep(0)  # the request is written; the answer is awaited
        for piece in pieces:
            connection.data_received(piece)
            await asyncio.sleep(0)  # the reader takes it
        if close:
            theirs.recv(1 << 16)  # the request: closing with it unread would be a reset
            theirs.close()
        return await asyncio.wait_for(consuming, 5)
    finally:
        theirs.close()
        connection.close()


@dataclass
class Answer:
    pieces: list[bytes]  # written one by one, each drained
    close: bool = False  # then the connection is closed
    hold: asyncio.Event | None = None  # after the pieces, wait for it, then write `then`
    then: list[bytes] = field(default_factory=list)


class Scripted:
    """An HTTP server on 127.0.0.1 that answers each request (read whole: head and body) with
    the next of `answers`, and records what it read."""

    def __init__(self) -> None:
        self.answers: list[Answer] = []
        self.first_reads: list[bytes] = []  # what each request's first read returned
        self.connections = 0
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> Scripted:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1/x"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while data := await reader.read(1 << 16):
                self.first_reads.append(data)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (int(line.split(b":")[1]) for line in head.split(b"\r\n")
                     if line.lower().startswith(b"content-length:")),
                    0,
                )  # fmt: skip
                if length > len(body):
                    await reader.readexactly(length - len(body))
                reply = self.answers.pop(0)
                for piece in reply.pieces:
                    writer.write(piece)
                    await writer.drain()
                if reply.hold is not None:
                    await reply.hold.wait()
                    for piece in reply.then:
                        writer.write(piece)
                        await writer.drain()
                if reply.close:
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    server = await Scripted().start()
    yield server
    await server.stop()


# -- framing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
async def test_an_answer_cut_at_any_byte_reads_the_same(framing: str):
    data = answer(framing)
    for position in range(1, len(data)):
        read = await read_in_pieces([data[:position], data[position:]], close=framing == "close")
        assert (read.status, read.body, read.lines) == (200, EVENTS, LINES), position
        assert read.reusable == (framing != "close"), position


@fuzz_settings(100)
@given(
    framing=st.sampled_from(["length", "chunked", "close"]),
    size=st.integers(1, 40),
    positions=st.lists(st.integers(1, 400), max_size=30),
)
async def test_an_answer_cut_anywhere_in_many_pieces_reads_the_same(
    framing: str, size: int, positions: list[int]
):
    data = answer(framing)
    if framing == "chunked":  # chunks of any size, as servers flush them
        head = answer("length").split(b"Content-Length")[0]
        data = head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(EVENTS, size)
    pieces = cut(data, [p for p in positions if p < len(data)])
    read = await read_in_pieces(pieces, close=framing == "close")
    assert (read.body, read.lines) == (EVENTS, LINES)


async def test_bodies_arrive_as_they_come_not_when_they_end(scripted: Scripted):
    """The first event is read while the rest of the body has not been sent."""
    held = asyncio.Event()
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    first = chunked(b"data: first\n\n", 100).removesuffix(b"0\r\nX-Trailer: ignored\r\n\r\n")
    scripted.answers = [Answer([head + first], hold=held, then=[b"0\r\n\r\n"])]
    client = HttpClient(5)
    try:
        response = await client.request("GET", scripted.url, {})
        chunks = response.chunks()
        assert await asyncio.wait_for(anext(chunks), 2) == b"data: first\n\n"
        held.set()
        assert [chunk async for chunk in chunks] == []
        response.close()
    finally:
        held.set()
        await client.aclose()


async def test_interim_answers_are_skipped_and_headers_found_in_any_case():
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    final = b"HTTP/1.1 200 OK\r\nRetry-AFTER: 3\r\nContent-Length: 2\r\n\r\nok"
    read = await read_in_pieces([interim + final])
    assert (read.status, read.body) == (200, b"ok")
    assert read.headers["retry-after"] == read.headers.get("Retry-After") == "3"
    assert "RETRY-after" in read.headers and read.headers.get("X-Missing") is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * MAX_HEAD_BYTES, "header block over 64 KiB"),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.x answer"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "malformed Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "longer than"),
    ],
)
async def test_malformed_answers_are_errors(data: bytes, problem: str):
    with pytest.raises(ResponseError, match=problem):
        await read_in_pieces([data[i : i + 1000] for i in range(0, len(data), 1000)])


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_a_body_cut_short_by_the_server_is_an_error(framing: str):
    data = answer(framing)
    with pytest.raises(ResponseError, match="closed before the end of the body"):
        await read_in_pieces([data[:-3]], close=True)


# -- the request on the wire -----------------------------------------------------------------------


async def test_the_request_goes_in_one_write_with_its_headers(scripted: Scripted):
    scripted.answers = [Answer([answer("length", b"{}")])]
    client = HttpClient(5)
    body = b'{"prompt": "' + b"p" * 6000 + b'"}'
    try:
        response = await client.request(
            "POST", scripted.url, {**JSON, "Authorization": "Bearer k"}, body
        )
        assert await response.read() == b"{}"
        response.close()
    finally:
        await client.aclose()
    head, _, sent = scripted.first_reads[0].partition(b"\r\n\r\n")
    assert sent == body  # the body came in the same read as the head
    lines = head.decode().split("\r\n")
    port = urlsplit(scripted.url).port
    assert lines[0] == "POST /v1/x HTTP/1.1"
    assert set(lines[1:]) == {
        f"Host: 127.0.0.1:{port}",
        f"User-Agent: infill/{__version__}",
        "Accept-Encoding: identity",
        f"Content-Length: {len(body)}",
        "Content-Type: application/json",
        "Authorization: Bearer k",
    }


async def test_a_header_with_a_line_break_is_never_sent(scripted: Scripted):
    client = HttpClient(5)
    try:
        with pytest.raises(ValueError, match="line break") as error:
            await client.request("GET", scripted.url, {"Authorization": "k\r\nX-Evil: 1"})
    finally:
        await client.aclose()
    assert "k\r\n" not in str(error.value)
    assert scripted.connections == 0


async def test_credentials_in_the_url_are_sent_as_basic_authorization(scripted: Scripted):
    scripted.answers = [Answer([answer("length", b"")])]
    client = HttpClient(5)
    try:
        url = scripted.url.replace("127.0.0.1", "user:s%40cret@127.0.0.1")
        (await client.request("GET", url, {})).close()
    finally:
        await client.aclose()
    expected = base64.b64encode(b"user:s@cret").decode()
    assert f"Authorization: Basic {expected}\r\n".encode() in scripted.first_reads[0]


# -- connections -----------------------------------------------------------------------------------


async def stream(backend: OpenAICompatible, stop_after: int | None = None) -> list[str]:
    """The texts of one streamed answer; with `stop_after`, the stream is left after so many."""
    texts = []
    events = backend.stream(REQUEST)
    async for event in events:
        texts.append(event.text)
        if len(texts) == stop_after:
            break
    await events.aclose()
    return texts


@pytest.fixture
async def backend(fake: FakeLLM) -> AsyncIterator[OpenAICompatible]:
    made = OpenAICompatible(BackendConfig(url=fake.url, timeout_ms=2000))
    yield made
    await made.aclose()


async def test_answers_read_to_their_end_share_one_connection(
    fake: FakeLLM, backend: OpenAICompatible
):
    fake.default = Reply(chunks=["a", "b"])
    await backend.warm()
    for _ in range(5):
        assert await stream(backend) == ["a", "b"]
    assert (len(fake.requests), len(fake.gets), fake.connections) == (5, 1, 1)
    assert fake.dropped_streams == 0


async def test_an_answer_left_early_closes_its_connection_and_a_spare_takes_over(
    fake: FakeLLM, backend: OpenAICompatible
):
    fake.default = Reply(chunks=["a"], keep_open=True)
    await backend.warm()
    assert await stream(backend, stop_after=1) == ["a"]
    await fake.wait_for_dropped(1)  # the server learned that nobody listens
    # The spare connection opens by itself, before any request asks for it...
    for _ in range(500):
        if fake.connections == 2:
            break
        await asyncio.sleep(0.01)
    assert (fake.connections, fake.open_connections) == (2, 1)
    # ...and the next request goes out on it: no connection is opened for it.
    fake.default = Reply(chunks=["b"])
    assert await stream(backend) == ["b"]
    assert (fake.connections, fake.open_connections) == (2, 1)


@pytest.mark.parametrize("spare_delay", [0.0, 60.0])
async def test_a_request_right_after_an_abort_makes_one_connection_not_two(
    spare_delay: float, fake: FakeLLM, backend: OpenAICompatible, monkeypatch: pytest.MonkeyPatch
):
    """Asked while the spare connects, the request waits for it; asked before the spare has
    started (it lets the answer go out first), it connects itself, not waiting for the spare,
    which is called off."""
    monkeypatch.setattr(wire, "SPARE_DELAY_S", spare_delay)
    fake.default = Reply(chunks=["a"], keep_open=True)
    await backend.warm()
    assert await stream(backend, stop_after=1) == ["a"]
    fake.default = Reply(chunks=["b"])
    assert await asyncio.wait_for(stream(backend), 30) == ["b"]
    await asyncio.sleep(0.1)
    assert fake.connections == 2


async def test_a_request_cancelled_before_its_headers_closes_its_connection(
    fake: FakeLLM, backend: OpenAICompatible
):
    fake.default = Reply(stall_before_headers=30)
    await backend.warm()
    asking = asyncio.ensure_future(stream(backend))
    await fake.wait_for_requests(1)
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    await fake.wait_for_dropped(1)


async def test_closing_the_client_closes_its_idle_connections(
    fake: FakeLLM, backend: OpenAICompatible
):
    await backend.warm()
    assert fake.open_connections == 1
    await backend.aclose()
    for _ in range(500):
        if fake.open_connections == 0:
            break
        await asyncio.sleep(0.01)
    assert fake.open_connections == 0


async def get_ok_twice(url: str) -> None:
    """Two GETs in a row from one client, each answered "ok"."""
    client = HttpClient(5)
    try:
        for _ in range(2):
            response = await client.request("GET", url, {})
            assert await response.read() == b"ok"
            response.close()
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
    ],
)
async def test_a_connection_the_server_will_close_is_not_reused(scripted: Scripted, head: bytes):
    # The server keeps the connection open after all: reusing it would answer on it.
    scripted.answers = [Answer([head + b"ok"]), Answer([head + b"ok"])]
    await get_ok_twice(scripted.url)
    assert scripted.connections == 2


# -- timeouts and retries --------------------------------------------------------------------------


async def test_a_stall_before_the_headers_or_mid_body_times_out(scripted: Scripted):
    held = asyncio.Event()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
    scripted.answers = [Answer([], hold=held), Answer([head + b"12345"], hold=held)]
    client = HttpClient(0.2)
    try:
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await client.request("GET", scripted.url, {})
        response = await client.request("GET", scripted.url, {})
        with pytest.raises(TimeoutError):
            await response.read()
        response.close()
        assert 0.4 <= time.perf_counter() - started < 2
    finally:
        held.set()
        await client.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_a_refused_connection_is_tried_again_once_the_server_is_up():
    port = free_port()
    fake = FakeLLM()
    fake.default = Reply(chunks=["up"])
    backend = OpenAICompatible(BackendConfig(url=f"http://127.0.0.1:{port}/v1"))

    async def start_soon() -> None:
        await asyncio.sleep(BACKOFF_SECONDS / 2)
        await fake.start(port)

    starting = asyncio.ensure_future(start_soon())
    try:
        assert await stream(backend) == ["up"]  # the first try was refused, the second not
    finally:
        await starting
        await backend.aclose()
        await fake.stop()
    assert len(fake.requests) == 1


async def test_a_kept_alive_connection_closed_as_it_is_reused_is_asked_again_at_once(
    fake: FakeLLM, backend: OpenAICompatible
):
    await backend.warm()  # the connection the first request reuses
    fake.replies = [Reply(hang_up=True)]  # the request is read, then the connection closed
    fake.default = Reply(chunks=["42"])
    assert await stream(backend) == ["42"]
    assert (len(fake.requests), fake.connections) == (2, 2)
    first, again = fake.requests
    assert again.arrived - first.arrived < BACKOFF_SECONDS  # at once, not after a backoff


async def test_a_connection_the_server_closes_right_after_an_answer_is_not_a_failure(
    scripted: Scripted,
):
    """The server's close may reach the client after its next request went out on the
    connection: that request went unanswered, and is sent again on a new connection."""
    ok = answer("length", b"ok")
    scripted.answers = [Answer([ok], close=True), Answer([ok])]
    await get_ok_twice(scripted.url)
    assert scripted.connections == 2


async def test_a_new_connection_closed_without_an_answer_is_not_asked_again_by_the_client(
    fake: FakeLLM,
):
    fake.replies = [Reply(hang_up=True)]
    client = HttpClient(5)
    try:
        with pytest.raises(Disconnected):
            await client.request("POST", fake.url + "/completions", JSON, b"{}")
    finally:
        await client.aclose()
    assert len(fake.requests) == 1


# -- TLS -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@dataclass
class TlsServer:
    fake: FakeLLM
    server_names: list[str | None]  # the SNI of each handshake

    @property
    def url(self) -> str:
        return f"https://localhost:{self.fake.port}/v1"


@pytest.fixture
async def tls_fake(ca: trustme.CA) -> AsyncIterator[TlsServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    names: list[str | None] = []
    context.sni_callback = lambda _socket, name, _context: names.append(name)
    fake = await FakeLLM().start(tls=context)
    fake.default = Reply(chunks=["secure"])
    yield TlsServer(fake, names)
    await fake.stop()


@pytest.fixture
def trusted_ca(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA trusted the way OpenSSL lets anyone choose their CAs: SSL_CERT_FILE. The
    client's own TLS settings are the users' (ssl.create_default_context)."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    yield


async def test_tls_end_to_end_with_sni_on_one_connection(tls_fake: TlsServer, trusted_ca: None):
    backend = OpenAICompatible(BackendConfig(url=tls_fake.url, timeout_ms=2000))
    try:
        await backend.warm()
        assert await stream(backend) == ["secure"]
        assert await stream(backend) == ["secure"]
    finally:
        await backend.aclose()
    assert tls_fake.server_names == ["localhost"]  # one handshake, with the host's name
    assert (len(tls_fake.fake.requests), tls_fake.fake.connections) == (2, 1)


async def test_an_untrusted_certificate_fails_at_once_and_says_why(tls_fake: TlsServer):
    backend = OpenAICompatible(BackendConfig(url=tls_fake.url, timeout_ms=2000))
    try:
        with pytest.raises(BackendError, match=r"TlsError: TLS handshake with localhost:.*CERTIF"):
            await stream(backend)
    finally:
        await backend.aclose()
    assert tls_fake.server_names == ["localhost"]  # one handshake: not tried again
    assert tls_fake.fake.requests == []


async def test_a_spare_connection_is_a_tls_one(tls_fake: TlsServer, trusted_ca: None):
    tls_fake.fake.default = Reply(chunks=["a"], keep_open=True)
    backend = OpenAICompatible(BackendConfig(url=tls_fake.url, timeout_ms=2000))
    try:
        await backend.warm()
        assert await stream(backend, stop_after=1) == ["a"]
        await tls_fake.fake.wait_for_dropped(1)
        for _ in range(500):
            if len(tls_fake.server_names) == 2:
                break
            await asyncio.sleep(0.01)
        tls_fake.fake.default = Reply(chunks=["b"])
        assert await stream(backend) == ["b"]
    finally:
        await backend.aclose()
    assert tls_fake.server_names == ["localhost", "localhost"]


# -- proxies ---------------------------------------------------------------------------------------


class ForwardProxy:
    """A forward proxy on 127.0.0.1: CONNECT opens a tunnel to its target, any other request
    (absolute-form) is passed on to the host its URL names. Each request's method, target and
    Proxy-Authorization are recorded; without the expected credentials the answer is 407."""

    def __init__(self, authorization: str) -> None:
        self.authorization = authorization
        self.seen: list[tuple[str, str, str | None]] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, target, _ = request_line.split(" ")
            fields = {n.strip().lower(): v.strip() for n, _, v in (f.partition(":") for f in lines)}
            self.seen.append((method, target, fields.get("proxy-authorization")))
            if fields.get("proxy-authorization") != self.authorization:
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n")
                writer.write(b"Content-Length: 0\r\n\r\n")
                return
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                far_reader, far_writer = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                url = urlsplit(target)
                far_reader, far_writer = await asyncio.open_connection(url.hostname, url.port)
                far_writer.write(head)  # as it is: the fake takes absolute-form targets too
            await asyncio.gather(_pipe(reader, far_writer), _pipe(far_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


PROXY_USER, PROXY_PASSWORD = "infill", "p@ss word"
PROXY_AUTHORIZATION = "Basic " + base64.b64encode(b"infill:p@ss word").decode()


@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ForwardProxy]:
    server = await ForwardProxy(PROXY_AUTHORIZATION).start()
    url = f"http://{PROXY_USER}:p%40ss%20word@127.0.0.1:{server.port}"
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("HTTPS_PROXY", url)
    yield server
    await server.stop()


async def test_http_goes_through_the_proxy_in_absolute_form(fake: FakeLLM, proxy: ForwardProxy):
    fake.default = Reply(chunks=["proxied"])
    backend = OpenAICompatible(BackendConfig(url=fake.url, timeout_ms=2000))
    try:
        assert await stream(backend) == ["proxied"]
    finally:
        await backend.aclose()
    target = f"{fake.url}/completions"
    assert proxy.seen == [("POST", target, PROXY_AUTHORIZATION)]
    assert [r.target for r in fake.requests] == [target]


async def test_https_goes_through_a_connect_tunnel(
    tls_fake: TlsServer, trusted_ca: None, proxy: ForwardProxy
):
    backend = OpenAICompatible(BackendConfig(url=tls_fake.url, timeout_ms=2000))
    try:
        assert await stream(backend) == ["secure"]
    finally:
        await backend.aclose()
    assert proxy.seen == [("CONNECT", f"localhost:{tls_fake.fake.port}", PROXY_AUTHORIZATION)]
    assert tls_fake.server_names == ["localhost"]  # TLS end to end, through the tunnel
    assert [r.target for r in tls_fake.fake.requests] == ["/v1/completions"]


async def test_a_proxy_that_refuses_the_tunnel_is_an_error(
    tls_fake: TlsServer, proxy: ForwardProxy
):
    proxy.authorization = "Basic other"
    client = HttpClient(2, env_proxy(tls_fake.url))
    try:
        with pytest.raises(ProxyError, match=r"CONNECT localhost:.* with 407"):
            await client.request("GET", tls_fake.url + "/models", {})
    finally:
        await client.aclose()


def test_no_proxy_names_the_hosts_reached_directly(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal")
    assert env_proxy("https://api.example.com/v1") is not None
    assert env_proxy("https://llm.internal/v1") is None
    assert env_proxy("http://api.example.com/v1") is None  # HTTP_PROXY is not set
    monkeypatch.setenv("HTTPS_PROXY", "https://proxy.example:3128")  # TLS to the proxy
    assert env_proxy("https://api.example.com/v1") is None


# -- secrets ---------------------------------------------------------------------------------------


async def test_no_failure_logs_or_says_the_api_key(
    tls_fake: TlsServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setenv("TEST_HTTP_KEY", "sk-wire-0000")
    caplog.set_level(logging.DEBUG)
    messages = []
    for url in (tls_fake.url, f"http://127.0.0.1:{free_port()}/v1"):  # TLS refused, no server
        backend = OpenAICompatible(
            BackendConfig(url=url, api_key_env="TEST_HTTP_KEY", timeout_ms=1000)
        )
        try:
            await backend.warm()
            with pytest.raises(BackendError) as error:
                await stream(backend)
            messages.append(str(error.value))
        finally:
            await backend.aclose()
    assert "TLS" in messages[0] and "cannot connect" in messages[1]
    assert not any("sk-wire-0000" in text for text in [*messages, caplog.text])
