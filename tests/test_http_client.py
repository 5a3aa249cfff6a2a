"""The backends' HTTP (httpx, backends/http.py) against real servers on 127.0.0.1: kept-alive
connections and their expiry behind a relay that forgets idle flows, streams closed when left,
timeouts, the one layer of retries, compressed and interim answers, keys that cannot be sent,
the warm-up, TLS and the environment's proxies (HTTP, HTTPS, SOCKS5, NO_PROXY, ALL_PROXY)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import itertools
import logging
import os
import shutil
import socket
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from infill import __version__
from infill.backends import BackendConfig, BackendError, CompletionRequest
from infill.backends import http as backend_http
from infill.backends.http import MAX_LINE_BYTES, OversizedLine, body_lines
from infill.backends.openai import OpenAICompatible
from tests.fake_llm import FakeLLM, Reply
from tests.fuzzing import fuzz_settings

REQUEST = CompletionRequest(prompt="p", stop=(), max_tokens=8, temperature=0.0)

# An event stream with every line end it may use (CRLF, LF, CR), and a non-ASCII character.
EVENTS = b'data: {"a": 1}\r\n\r\ndata: two\n\ndata: three\r\rdata: \xc3\xa9\r\n\r\n'
LINES = [b'data: {"a": 1}', b"", b"data: two", b"", b"data: three", b"", b"data: \xc3\xa9", b""]


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            monkeypatch.delenv(name)
    yield


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
    made = OpenAICompatible(BackendConfig(kind="openai", url=fake.url, timeout_ms=2000))
    yield made
    await made.aclose()


async def until(condition: object, what: str) -> None:
    """Wait (a bounded number of loop turns) for `condition()` to hold."""
    assert callable(condition)
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- lines -----------------------------------------------------------------------------------------


async def pieces_of(data: bytes, positions: Sequence[int]) -> AsyncIterator[bytes]:
    edges = [0, *sorted(set(positions)), len(data)]
    for a, b in itertools.pairwise(edges):
        if b > a:
            yield data[a:b]


@fuzz_settings(100)
@given(positions=st.lists(st.integers(1, len(EVENTS) - 1), max_size=30))
async def test_lines_read_the_same_wherever_the_body_is_cut(positions: list[int]):
    assert [line async for line in body_lines(pieces_of(EVENTS, positions))] == LINES


async def test_a_line_without_an_end_is_not_buffered_past_the_limit():
    taken = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal taken
        while True:
            taken += 1 << 16
            yield b"x" * (1 << 16)

    with pytest.raises(OversizedLine):
        async for _ in body_lines(endless()):
            pass
    assert taken <= MAX_LINE_BYTES + (1 << 17)


# -- connections -----------------------------------------------------------------------------------


async def test_answers_read_to_their_end_share_one_connection(
    fake: FakeLLM, backend: OpenAICompatible
):
    fake.default = Reply(chunks=["a", "b"])
    await backend.warm()
    for _ in range(5):
        assert await stream(backend) == ["a", "b"]
    assert (len(fake.requests), len(fake.gets), fake.connections) == (5, 1, 1)
    assert fake.dropped_streams == 0
    headers = fake.requests[0].headers
    assert headers["user-agent"] == f"infill/{__version__}"
    assert headers["content-type"] == "application/json"


async def test_the_caller_hears_once_that_the_request_is_sent_before_the_model_answers(
    fake: FakeLLM, backend: OpenAICompatible
):
    fake.default = Reply(chunks=["a"], ttft=0.3)
    loop = asyncio.get_running_loop()
    sent: list[float] = []
    request = CompletionRequest(
        prompt="p", stop=(), max_tokens=8, temperature=0.0, on_sent=lambda: sent.append(loop.time())
    )
    async for event in backend.stream(request):
        first_event = loop.time()
        assert event.text == "a"
    assert len(sent) == 1
    assert first_event - sent[0] >= 0.2  # told when the body was written, not at the answer


async def test_an_answer_left_early_closes_its_connection(fake: FakeLLM, backend: OpenAICompatible):
    fake.default = Reply(chunks=["a"], keep_open=True)
    await backend.warm()
    assert await stream(backend, stop_after=1) == ["a"]
    await fake.wait_for_dropped(1)  # the server learned that nobody listens
    fake.default = Reply(chunks=["b"])
    assert await stream(backend) == ["b"]
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


@pytest.mark.parametrize("turns", range(4))
async def test_a_stream_cancelled_again_as_it_closes_still_closes_its_connection(
    turns: int, fake: FakeLLM, backend: OpenAICompatible
):
    """The first cancellation closes the stream; another, some loop turns later, lands in
    httpx's closing of the connection, which must not be cut short."""
    fake.default = Reply(chunks=["a"], keep_open=True)

    async def read(answered: asyncio.Event) -> None:
        async for _ in backend.stream(REQUEST):
            answered.set()

    for _ in range(10):
        answered = asyncio.Event()
        reading = asyncio.ensure_future(read(answered))
        await answered.wait()
        reading.cancel()
        for _ in range(turns):
            await asyncio.sleep(0)
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
    await fake.wait_for_dropped(10)
    await until(lambda: fake.open_connections == 0, "every connection closed")


async def test_closing_the_backend_closes_its_idle_connections(
    fake: FakeLLM, backend: OpenAICompatible
):
    await backend.warm()
    assert fake.open_connections == 1
    await backend.aclose()
    await until(lambda: fake.open_connections == 0, "the connection closed")


class LocalServer:
    """A TCP server on 127.0.0.1 (over TLS with `tls`) serving each connection with `_serve`."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class IdleCuttingRelay(LocalServer):
    """A TCP relay on 127.0.0.1 that, like a NAT or a cloud load balancer, forgets a flow idle
    for more than `idle_cut` seconds: from then on nothing passes either way, and neither end
    is told (no FIN, no RST)."""

    def __init__(self, target_port: int, idle_cut: float) -> None:
        super().__init__()
        self.target_port = target_port
        self.idle_cut = idle_cut
        self.swallowed = 0  # bytes that reached a forgotten flow
        self._writers: list[asyncio.StreamWriter] = []

    async def stop(self) -> None:
        await super().stop()
        for writer in self._writers:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        far_reader, far_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, far_writer]
        loop = asyncio.get_running_loop()
        last = loop.time()
        forgotten = False

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            nonlocal last, forgotten
            try:
                while data := await source.read(1 << 16):
                    forgotten = forgotten or loop.time() - last > self.idle_cut
                    if forgotten:
                        self.swallowed += len(data)
                        continue
                    last = loop.time()
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            if not forgotten:  # a forgotten flow's end goes nowhere either
                sink.close()

        await asyncio.gather(pipe(reader, far_writer), pipe(far_reader, writer))


@pytest.mark.parametrize("expiry", [0.2, 30.0])
async def test_a_connection_idle_past_the_expiry_is_not_reused_behind_a_relay_that_forgets_it(
    expiry: float, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
):
    """Kept-alive connections expire before a NAT forgets them: after a pause the request goes
    on a new connection and is answered. Kept longer than the relay keeps them (30 s here, a
    pooled connection that never expired before), the request after the pause is lost and
    waits out the whole timeout: what the relay does to the connection is real."""
    monkeypatch.setattr(backend_http, "KEEPALIVE_EXPIRY_S", expiry)
    relay = await IdleCuttingRelay(fake.port, idle_cut=0.5).start()
    url = f"http://127.0.0.1:{relay.port}/v1"
    backend = OpenAICompatible(BackendConfig(kind="openai", url=url, timeout_ms=1000))
    try:
        assert await stream(backend) == ["hello"]
        await asyncio.sleep(1.0)  # a pause in typing, longer than the relay's cut
        if expiry < relay.idle_cut:
            assert await stream(backend) == ["hello"]
            assert (fake.connections, len(fake.requests), relay.swallowed) == (2, 2, 0)
        else:
            with pytest.raises(BackendError, match=r"timed out|stalled"):
                await stream(backend)
            assert (fake.connections, len(fake.requests)) == (1, 1)
            assert relay.swallowed > 0
    finally:
        await backend.aclose()
        await relay.stop()


# -- timeouts and retries --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (Reply(stall_before_headers=30), "timed out after 300 ms"),
        (Reply(chunks=["a"], keep_open=True), "stalled for 300 ms"),
    ],
)
async def test_a_stall_before_the_headers_or_mid_stream_times_out(
    reply: Reply, problem: str, fake: FakeLLM
):
    fake.default = reply
    backend = OpenAICompatible(BackendConfig(kind="openai", url=fake.url, timeout_ms=300))
    try:
        with pytest.raises(BackendError, match=problem):
            await stream(backend)
    finally:
        await backend.aclose()
    assert len(fake.requests) == 1  # a timeout is not retried


async def test_a_refused_connection_is_tried_again_once_the_server_is_up():
    port = free_port()
    fake = FakeLLM()
    fake.default = Reply(chunks=["up"])
    backend = OpenAICompatible(BackendConfig(kind="openai", url=f"http://127.0.0.1:{port}/v1"))

    async def start_soon() -> None:
        await asyncio.sleep(backend_http.BACKOFF_SECONDS / 2)
        await fake.start(port)

    starting = asyncio.ensure_future(start_soon())
    try:
        assert await stream(backend) == ["up"]  # the first try was refused, the second not
    finally:
        await starting
        await backend.aclose()
        await fake.stop()
    assert len(fake.requests) == 1


async def test_a_request_the_server_hung_up_on_is_sent_once_more_and_no_more(
    fake: FakeLLM, backend: OpenAICompatible
):
    """One layer of retries: a server that reads each request and hangs up gets the
    completion's POST twice in all, on the kept-alive connection and on a new one."""
    await backend.warm()
    fake.default = Reply(hang_up=True)
    with pytest.raises(BackendError, match="talking to"):
        await stream(backend)
    assert len(fake.requests) == 2


async def test_a_kept_alive_connection_closed_as_it_is_reused_is_asked_again(
    fake: FakeLLM, backend: OpenAICompatible
):
    await backend.warm()  # the connection the first request reuses
    fake.replies = [Reply(hang_up=True)]  # the request is read, then the connection closed
    fake.default = Reply(chunks=["42"])
    assert await stream(backend) == ["42"]
    assert (len(fake.requests), fake.connections) == (2, 2)


@pytest.mark.parametrize(("retry_after", "requests"), [("0", 2), ("5", 1)])
async def test_a_429_is_retried_only_when_its_retry_after_ends_within_the_timeout(
    retry_after: str, requests: int, fake: FakeLLM
):
    fake.replies = [Reply(status=429, headers={"Retry-After": retry_after})]
    backend = OpenAICompatible(BackendConfig(kind="openai", url=fake.url, timeout_ms=1000))
    try:
        if requests == 2:
            assert await stream(backend) == ["hello"]
        else:
            with pytest.raises(BackendError, match="HTTP 429") as error:
                await stream(backend)
            assert error.value.retry_after == 5  # for the circuit breaker to wait as long
    finally:
        await backend.aclose()
    assert len(fake.requests) == requests


# -- what the answers hold -------------------------------------------------------------------------


async def test_a_gzip_encoded_stream_is_decoded(fake: FakeLLM, backend: OpenAICompatible):
    fake.default = Reply(chunks=["def ", "f():"], gzip=True)
    assert await stream(backend) == ["def ", "f():"]
    assert "gzip" in fake.requests[0].headers["accept-encoding"]


async def test_a_long_run_of_interim_answers_is_skipped(fake: FakeLLM, backend: OpenAICompatible):
    fake.default = Reply(chunks=["ok"], interim=5000)
    assert await stream(backend) == ["ok"]


# -- keys ------------------------------------------------------------------------------------------


BAD_KEYS = [
    ("sk-test-1234\n", "control"),
    ("sk-test\r\nX-Injected: 1", "control"),
    ("sk-tést-1234", "non-ASCII"),
    ("sk-test\x7f", "control"),
]


@pytest.mark.parametrize(
    ("key", "kind", "source"),
    [
        *[(key, kind, "environment") for key, kind in BAD_KEYS],
        *[(key, kind, "config.toml") for key, kind in BAD_KEYS],
        ("sk-test\x00tail", "control", "config.toml"),  # the environment cannot hold a NUL
    ],
)
async def test_a_key_with_a_control_or_non_ascii_character_is_refused_and_not_shown(
    key: str,
    kind: str,
    source: str,
    fake: FakeLLM,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    config = BackendConfig(kind="openai", url=fake.url, api_key_from_file=key)
    named = "backend.api_key"
    if source == "environment":
        monkeypatch.setenv("TEST_HTTP_KEY", key)
        config = BackendConfig(kind="openai", url=fake.url, api_key_env="TEST_HTTP_KEY")
        named = "TEST_HTTP_KEY"
    backend = OpenAICompatible(config)
    try:
        await backend.warm()
        with pytest.raises(BackendError, match=f"{named}.*holds a {kind} character") as error:
            await stream(backend)
    finally:
        await backend.aclose()
    assert (fake.connections, fake.requests) == (0, [])  # nothing was sent
    assert "sk-t" not in caplog.text + str(error.value)


# -- the warm-up -----------------------------------------------------------------------------------


async def test_an_endless_model_list_is_read_only_so_far_and_does_not_hold_up_completions(
    fake: FakeLLM,
):
    fake.endless_listings = True
    # A long timeout: a warm-up bounded by time alone would hold the completion for all of it.
    config = BackendConfig(kind="openai", url=fake.url, timeout_ms=60_000)
    backend = OpenAICompatible(config)
    try:
        warming = asyncio.ensure_future(backend.warm())
        await until(lambda: fake.listing_bytes_sent > 0, "the listing started")
        assert await stream(backend) == ["hello"]
        await warming
    finally:
        await backend.aclose()
    # What it read is bounded (plus what the sockets' buffers held when it let go).
    assert fake.listing_bytes_sent < backend_http.WARM_BODY_BYTES + (24 << 20)


async def test_a_backend_closed_during_its_warm_up_lets_the_request_waiting_for_it_go_on():
    # A server that takes the connection and never answers: the warm-up waits; the settings
    # change meanwhile, and the old backend is closed. The request waiting for the warm-up
    # (to learn the server's limits) goes on; only its own cancellation would stop it.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = BackendConfig(kind="openai", url=f"http://127.0.0.1:{port}/v1", timeout_ms=60_000)
    backend = OpenAICompatible(config)
    try:
        starting = asyncio.ensure_future(backend.warm())  # as the server does when it starts
        waiting = asyncio.ensure_future(backend.warm())  # as a request does
        await asyncio.sleep(0.2)
        await backend.aclose()
        assert await asyncio.wait_for(waiting, 5) is None
        assert await asyncio.wait_for(starting, 5) is None
    finally:
        server.close()


# -- TLS -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


@dataclass
class TlsServer:
    fake: FakeLLM
    server_names: list[str | None]  # the SNI of each handshake

    @property
    def url(self) -> str:
        return f"https://localhost:{self.fake.port}/v1"


@pytest.fixture
async def tls_fake(ca: trustme.CA) -> AsyncIterator[TlsServer]:
    context = server_context(ca)
    names: list[str | None] = []
    context.sni_callback = lambda _socket, name, _context: names.append(name)
    fake = await FakeLLM().start(tls=context)
    fake.default = Reply(chunks=["secure"])
    yield TlsServer(fake, names)
    await fake.stop()


@pytest.fixture
def trusted_ca(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA trusted the way OpenSSL lets anyone choose their CAs: SSL_CERT_FILE."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))


async def test_tls_end_to_end_with_sni_on_one_connection(tls_fake: TlsServer, trusted_ca: None):
    backend = OpenAICompatible(BackendConfig(kind="openai", url=tls_fake.url, timeout_ms=2000))
    try:
        await backend.warm()
        assert await stream(backend) == ["secure"]
        assert await stream(backend) == ["secure"]
    finally:
        await backend.aclose()
    assert tls_fake.server_names == ["localhost"]  # one handshake, with the host's name
    assert (len(tls_fake.fake.requests), tls_fake.fake.connections) == (2, 1)


@pytest.fixture
def trusted_ca_directory(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA in a directory of CAs named by their hashes, as SSL_CERT_DIR wants them."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "the openssl command names the CA files by their hashes"
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    subprocess.run([openssl, "rehash", str(tmp_path)], check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))


async def test_a_ca_directory_named_by_ssl_cert_dir_is_trusted(
    tls_fake: TlsServer, trusted_ca_directory: None
):
    backend = OpenAICompatible(BackendConfig(kind="openai", url=tls_fake.url, timeout_ms=2000))
    try:
        assert await stream(backend) == ["secure"]
    finally:
        await backend.aclose()


async def test_an_untrusted_certificate_fails_at_once_and_says_why(tls_fake: TlsServer):
    backend = OpenAICompatible(BackendConfig(kind="openai", url=tls_fake.url, timeout_ms=2000))
    try:
        with pytest.raises(
            BackendError, match=r"TLS handshake with localhost:\d+ failed: .*CERTIFICATE_VERIFY"
        ):
            await stream(backend)
    finally:
        await backend.aclose()
    assert tls_fake.server_names == ["localhost"]  # one handshake: not tried again
    assert tls_fake.fake.requests == []


# -- proxies ---------------------------------------------------------------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


class ForwardProxy(LocalServer):
    """A forward proxy on 127.0.0.1 (with `tls`, spoken to over TLS): CONNECT opens a tunnel to
    its target, any other request (absolute-form) is passed on to the host its URL names. Each
    request's method, target and Proxy-Authorization are recorded; without the expected
    credentials the answer is 407."""

    def __init__(self, authorization: str | None, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls)
        self.authorization = authorization
        self.seen: list[tuple[str, str, str | None]] = []

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
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()


class Socks5Proxy(LocalServer):
    """A SOCKS5 server on 127.0.0.1 (no authentication, CONNECT only): each target is recorded
    as the client named it, then the connection is relayed."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[tuple[str, int]] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            version, methods = await reader.readexactly(2)
            await reader.readexactly(methods)
            writer.write(b"\x05\x00")  # no authentication
            version, command, _, address_type = await reader.readexactly(4)
            if (version, command) != (5, 1):
                return
            if address_type == 1:
                host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
            elif address_type == 3:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            else:
                host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
            (port,) = struct.unpack("!H", await reader.readexactly(2))
            self.targets.append((host, port))
            far_reader, far_writer = await asyncio.open_connection(host, port)
            writer.write(b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")  # connected
            await asyncio.gather(_pipe(reader, far_writer), _pipe(far_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


PROXY_USER, PROXY_PASSWORD = "infill", "p@ss word"
PROXY_AUTHORIZATION = "Basic " + base64.b64encode(b"infill:p@ss word").decode()


def proxy_url(scheme: str, port: int) -> str:
    return f"{scheme}://{PROXY_USER}:p%40ss%20word@127.0.0.1:{port}"


@pytest.fixture
async def proxy(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ForwardProxy]:
    server = await ForwardProxy(PROXY_AUTHORIZATION).start()
    monkeypatch.setenv("HTTP_PROXY", proxy_url("http", server.port))
    monkeypatch.setenv("HTTPS_PROXY", proxy_url("http", server.port))
    yield server
    await server.stop()


async def one_answer(url: str) -> list[str]:
    backend = OpenAICompatible(BackendConfig(kind="openai", url=url, timeout_ms=2000))
    try:
        return await stream(backend)
    finally:
        await backend.aclose()


async def test_http_goes_through_the_proxy_in_absolute_form(fake: FakeLLM, proxy: ForwardProxy):
    fake.default = Reply(chunks=["proxied"])
    assert await one_answer(fake.url) == ["proxied"]
    target = f"{fake.url}/completions"
    assert proxy.seen == [("POST", target, PROXY_AUTHORIZATION)]
    assert [r.target for r in fake.requests] == [target]


async def test_https_goes_through_a_connect_tunnel(
    tls_fake: TlsServer, trusted_ca: None, proxy: ForwardProxy
):
    assert await one_answer(tls_fake.url) == ["secure"]
    assert proxy.seen == [("CONNECT", f"localhost:{tls_fake.fake.port}", PROXY_AUTHORIZATION)]
    assert tls_fake.server_names == ["localhost"]  # TLS end to end, through the tunnel
    assert [r.target for r in tls_fake.fake.requests] == ["/v1/completions"]


async def test_a_proxy_spoken_to_over_tls_is_used(
    fake: FakeLLM, ca: trustme.CA, trusted_ca: None, monkeypatch: pytest.MonkeyPatch
):
    proxy = await ForwardProxy(PROXY_AUTHORIZATION, tls=server_context(ca)).start()
    monkeypatch.setenv("HTTP_PROXY", proxy_url("https", proxy.port))
    try:
        assert await one_answer(fake.url) == ["hello"]
    finally:
        await proxy.stop()
    assert proxy.seen == [("POST", f"{fake.url}/completions", PROXY_AUTHORIZATION)]
    assert len(fake.requests) == 1


@pytest.mark.parametrize("variable", ["ALL_PROXY", "all_proxy"])
async def test_all_proxy_is_used_for_any_scheme(
    variable: str, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
):
    proxy = await ForwardProxy(PROXY_AUTHORIZATION).start()
    monkeypatch.setenv(variable, proxy_url("http", proxy.port))
    try:
        assert await one_answer(fake.url) == ["hello"]
    finally:
        await proxy.stop()
    assert [seen[:2] for seen in proxy.seen] == [("POST", f"{fake.url}/completions")]


@pytest.mark.parametrize("variable", ["ALL_PROXY", "HTTPS_PROXY"])
async def test_a_socks5_proxy_is_used(
    variable: str, tls_fake: TlsServer, trusted_ca: None, monkeypatch: pytest.MonkeyPatch
):
    proxy = await Socks5Proxy().start()
    monkeypatch.setenv(variable, f"socks5://127.0.0.1:{proxy.port}")
    try:
        assert await one_answer(tls_fake.url) == ["secure"]
    finally:
        await proxy.stop()
    assert proxy.targets == [("localhost", tls_fake.fake.port)]
    assert tls_fake.server_names == ["localhost"]  # TLS end to end, through the proxy


@pytest.mark.parametrize("scheme", ["socks4", "ftp"])
async def test_a_proxy_of_a_kind_it_cannot_speak_is_refused_not_bypassed(
    scheme: str, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ALL_PROXY", f"{scheme}://127.0.0.1:{free_port()}")
    with pytest.raises(BackendError, match="cannot use the proxy set in the environment"):
        await one_answer(fake.url)
    assert fake.connections == 0  # never went direct


@pytest.mark.parametrize("same_port", [True, False])
async def test_no_proxy_matches_a_host_and_port(
    same_port: bool, fake: FakeLLM, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
):
    port = fake.port if same_port else free_port()
    monkeypatch.setenv("NO_PROXY", f"example.org,127.0.0.1:{port}")
    assert await one_answer(fake.url) == ["hello"]
    assert len(proxy.seen) == (0 if same_port else 1)


async def test_a_proxy_that_refuses_the_tunnel_is_an_error_that_says_so(
    tls_fake: TlsServer, trusted_ca: None, proxy: ForwardProxy
):
    proxy.authorization = "Basic other"
    with pytest.raises(BackendError, match="proxy refused: 407"):
        await one_answer(tls_fake.url)
    assert tls_fake.fake.connections == 0


# -- secrets ---------------------------------------------------------------------------------------


async def test_no_failure_logs_or_says_the_api_key(
    tls_fake: TlsServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setenv("TEST_HTTP_KEY", "sk-wire-0000")
    caplog.set_level(logging.DEBUG)
    messages = []
    for url in (tls_fake.url, f"http://127.0.0.1:{free_port()}/v1"):  # TLS refused, no server
        backend = OpenAICompatible(
            BackendConfig(kind="openai", url=url, api_key_env="TEST_HTTP_KEY", timeout_ms=1000)
        )
        try:
            await backend.warm()
            with pytest.raises(BackendError) as error:
                await stream(backend)
            messages.append(str(error.value))
        finally:
            await backend.aclose()
    assert "TLS handshake with" in messages[0] and "cannot connect" in messages[1]
    assert not any("sk-wire-0000" in text for text in [*messages, caplog.text])
