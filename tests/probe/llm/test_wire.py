"""The streaming probe's own HTTP/1.1 client (gatekeeper/probe/llm/wire.py), against real
sockets on 127.0.0.1: the bodies HTTP/1.1 allows (chunked, Content-Length, until close),
keep-alive, answers cut short or not HTTP, a timeout mid-stream, reads bigger than its
buffer, TLS with the system's trust store, and the headers it sends."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gatekeeper.probe.engine import StatusClass
from gatekeeper.probe.llm.protocols import APIS
from gatekeeper.probe.llm.stream import Streamed, Streams, stream_exchange
from gatekeeper.probe.llm.wire import SO_TIMESTAMPNS, Pool
from gatekeeper.probe.requests_mix import MixRequest

API = APIS["openai-completions"]
REQUEST = MixRequest("gen", "POST", "/v1/completions", b'{"prompt": "hi", "stream": true}')


def event(text: str) -> bytes:
    data = {"id": "c", "object": "text_completion", "model": "m",
            "choices": [{"index": 0, "text": text, "finish_reason": None}], "usage": None}
    return b"data: " + json.dumps(data).encode() + b"\n\n"


USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":3}}\n\n'
EVENTS = [event(" a"), event(" b"), event(" c"), USAGE, b"data: [DONE]\n\n"]
SSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


def chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


class Server:
    """A raw HTTP/1.1 server on 127.0.0.1 in its own thread; ``answer`` writes each answer.
    Keeps every request's bytes and counts connections."""

    def __init__(self, answer: Callable[[bytes, asyncio.StreamWriter], object],
                 tls: ssl.SSLContext | None = None) -> None:
        self.answer, self.tls = answer, tls
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> int:
        self._thread.start()
        assert self._ready.wait(10)
        return self.port

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())  # cancels the answers still running at the end

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = int(server.sockets[0].getsockname()[1])
        self._ready.set()
        await self._stop.wait()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                done = self.answer(request, writer)
                if asyncio.iscoroutine(done):
                    await done
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def stream(url: str, requests: int = 1, timeout_s: float = 10.0,
           headers: dict[str, str] | None = None) -> list[Streamed]:
    """``requests`` exchanges one after the other on one pool."""
    async def main() -> list[Streamed]:
        pool = Pool(url, headers)
        streams = Streams(pool, asyncio.Semaphore(4), timeout_s)
        try:
            return [await stream_exchange(streams, REQUEST, asyncio.get_running_loop().time(),
                                          API) for _ in range(requests)]
        finally:
            pool.close()
    return asyncio.run(main())


def tokens(done: Streamed) -> tuple[StatusClass, int, int | None]:
    usage = done.chunks.usage
    return (done.exchange.status, len(done.chunks.token_s),
            usage.completion_tokens if usage else None)


@pytest.mark.parametrize("body", [
    pytest.param(lambda: SSE + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(EVENTS),
                 id="chunked"),
    pytest.param(lambda: SSE + b"Content-Length: %d\r\n\r\n" % len(b"".join(EVENTS))
                 + b"".join(EVENTS), id="content-length"),
])
def test_a_stream_is_read_whole_and_the_connection_kept(body: Callable[[], bytes]) -> None:
    server = Server(lambda _r, w: w.write(body()))
    with server as port:
        done = stream(f"http://127.0.0.1:{port}", requests=3)

    assert server.connections == 1
    assert [tokens(d) for d in done] == [(StatusClass.OK, 3, 3)] * 3
    assert all(d.exchange.body_bytes == len(b"".join(EVENTS)) for d in done)


def test_keep_alive_reuses_one_connection_and_close_does_not() -> None:
    keep = Server(lambda _r, w: w.write(SSE + b"Transfer-Encoding: chunked\r\n\r\n"
                                        + chunked(EVENTS)))
    with keep as port:
        stream(f"http://127.0.0.1:{port}", requests=4)
    closing = Server(lambda _r, w: w.write(SSE + b"Connection: close\r\n"
                                           b"Transfer-Encoding: chunked\r\n\r\n"
                                           + chunked(EVENTS)))
    with closing as port:
        done = stream(f"http://127.0.0.1:{port}", requests=4)

    assert keep.connections == 1 and len(keep.requests) == 4
    assert closing.connections == 4
    assert [tokens(d) for d in done] == [(StatusClass.OK, 3, 3)] * 4


def test_a_body_that_ends_at_close_is_whole() -> None:
    def answer(_r: bytes, w: asyncio.StreamWriter) -> None:
        w.write(SSE + b"Connection: close\r\n\r\n" + b"".join(EVENTS[:3]))
        w.close()

    with Server(answer) as port:
        (done,) = stream(f"http://127.0.0.1:{port}")

    # No [DONE] and no usage: the stream is what arrived before the close.
    assert tokens(done) == (StatusClass.OK, 3, None)


def test_an_answer_cut_short_or_not_http_is_a_connection_failure() -> None:
    def cut(_r: bytes, w: asyncio.StreamWriter) -> None:
        w.write(SSE + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(EVENTS[:2])[:-5])
        w.close()

    def garbage(_r: bytes, w: asyncio.StreamWriter) -> None:
        w.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    with Server(cut) as port:
        (short,) = stream(f"http://127.0.0.1:{port}")
    with Server(garbage) as port:
        (junk,) = stream(f"http://127.0.0.1:{port}")

    assert short.exchange.status is StatusClass.CONNECTION
    assert len(short.chunks.token_s) == 2  # what came before the cut was read
    assert junk.exchange.status is StatusClass.CONNECTION


def test_a_timeout_mid_stream_drops_the_connection() -> None:
    async def slow(request: bytes, w: asyncio.StreamWriter) -> None:
        w.write(SSE + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(EVENTS[:1])[:-5])
        if b"slow" in request or len(server.requests) == 1:
            await asyncio.sleep(3)  # the rest comes too late

    server = Server(slow)
    with server as port:
        first, second = stream(f"http://127.0.0.1:{port}", requests=2, timeout_s=0.5)

    assert first.exchange.status is StatusClass.TIMEOUT
    assert len(first.chunks.token_s) == 1
    # The timed-out connection held a half-read answer: the next request got a new one.
    assert server.connections == 2 and second.exchange.status is StatusClass.TIMEOUT


def test_reads_bigger_than_the_buffer_and_events_split_across_reads() -> None:
    big = event("x" * 200_000)  # one event three times the size of one read

    def answer(_r: bytes, w: asyncio.StreamWriter) -> None:
        w.write(SSE + b"Transfer-Encoding: chunked\r\n\r\n"
                + chunked([big, *EVENTS[1:]]))

    with Server(answer) as port:
        (done,) = stream(f"http://127.0.0.1:{port}")

    assert tokens(done) == (StatusClass.OK, 3, 3)
    assert done.chunks.error is None


def test_headers_and_path_on_the_wire() -> None:
    server = Server(lambda _r, w: w.write(SSE + b"Content-Length: 0\r\n\r\n"))
    with server as port:
        stream(f"http://127.0.0.1:{port}/base/", headers={"Authorization": "Bearer t0k"})

    (request,) = server.requests
    head, _, body = request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /base/v1/completions HTTP/1.1"
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    assert fields[b"host"] == b"127.0.0.1:%d" % port
    assert fields[b"authorization"] == b"Bearer t0k"
    assert fields[b"accept"] == b"text/event-stream"
    assert fields[b"content-type"] == b"application/json"
    assert int(fields[b"content-length"]) == len(body) and body == REQUEST.body


@pytest.fixture
def certificate(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    yield cert_file, key_file


def test_https_verifies_the_server_against_the_trust_store(
        certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(*certificate)
    server = Server(lambda _r, w: w.write(SSE + b"Transfer-Encoding: chunked\r\n\r\n"
                                          + chunked(EVENTS)), tls=tls)
    with server as port:
        (untrusted,) = stream(f"https://127.0.0.1:{port}")
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # read by OpenSSL's defaults
        (trusted,) = stream(f"https://127.0.0.1:{port}")

    assert untrusted.exchange.status is StatusClass.CONNECTION
    assert tokens(trusted) == (StatusClass.OK, 3, 3)


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        Pool("ftp://127.0.0.1/")


def test_a_name_is_resolved_once_per_pool_and_every_address_tried() -> None:
    lookups: list[str] = []

    class Resolver(asyncio.SelectorEventLoop):
        """A resolver answering the name with two loopback addresses, the first one nothing
        listens on (as a name with an IPv6 and an IPv4 address answers for a server that
        listens on one of them)."""

        async def getaddrinfo(self, host: Any, port: Any, **kwargs: Any) -> Any:
            lookups.append(str(host))
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                    for address in ("127.0.0.2", "127.0.0.1")]

    async def main(url: str) -> list[Streamed]:
        pool = Pool(url)
        streams = Streams(pool, asyncio.Semaphore(4), 10.0)
        try:
            return [await stream_exchange(streams, REQUEST, 0.0, API) for _ in range(3)]
        finally:
            pool.close()

    server = Server(lambda _r, w: w.write(SSE + b"Connection: close\r\n"
                                          b"Transfer-Encoding: chunked\r\n\r\n"
                                          + chunked(EVENTS)))
    with server as port, asyncio.Runner(loop_factory=Resolver) as runner:
        done = runner.run(main(f"http://model.internal:{port}"))

    assert [tokens(d) for d in done] == [(StatusClass.OK, 3, 3)] * 3
    assert server.connections == 3 and lookups == ["model.internal"]
    assert all(b"\r\nHost: model.internal:%d\r\n" % port in r for r in server.requests)


@pytest.mark.skipif(SO_TIMESTAMPNS is None, reason="kernel receive times are Linux's")
def test_a_chunk_is_timed_when_it_arrived_not_when_a_busy_probe_read_it() -> None:
    sent: list[float] = []

    async def answer(request: bytes, w: asyncio.StreamWriter) -> None:
        w.write(SSE + b"Transfer-Encoding: chunked\r\n\r\n")
        sent.append(time.monotonic())
        w.write(chunked([EVENTS[0]])[:-5])  # the first event alone
        await w.drain()
        if b"measured" in request:
            await asyncio.sleep(1.5)  # the rest after the probe's loop is free again
        w.write(chunked(EVENTS[1:]))

    async def main(url: str) -> tuple[Streamed, float]:
        pool = Pool(url)
        streams = Streams(pool, asyncio.Semaphore(1), 10.0)
        loop = asyncio.get_running_loop()
        try:
            await stream_exchange(streams, REQUEST, loop.time(), API)  # timestamps on
            busy_until: list[float] = []

            def busy() -> None:  # the probe's core taken for a second by other work
                time.sleep(1.0)
                busy_until.append(time.monotonic())

            loop.call_soon(busy)
            measured = MixRequest("gen", "POST", "/v1/completions", b'{"prompt": "measured"}')
            done = await stream_exchange(streams, measured, loop.time(), API)
            return done, busy_until[0]
        finally:
            pool.close()

    with Server(answer) as port, asyncio.Runner() as runner:
        done, busy_until = runner.run(main(f"http://127.0.0.1:{port}"))

    first = done.chunks.token_s[0]
    assert tokens(done) == (StatusClass.OK, 3, 3)
    assert sent[-1] < busy_until - 0.5  # the first event did arrive while the loop was busy
    assert abs(first - sent[-1]) < 0.05  # timed at its arrival (a loop read: ~busy_until)


def test_a_kept_alive_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def answer(_r: bytes, w: asyncio.StreamWriter) -> None:
        w.write(SSE + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(EVENTS))
        await w.drain()
        await asyncio.sleep(0.05)
        w.close()  # an idle timeout on the server's side, no Connection: close said

    async def main(url: str) -> list[Streamed]:
        pool = Pool(url)
        streams = Streams(pool, asyncio.Semaphore(1), 10.0)
        try:
            first = await stream_exchange(streams, REQUEST, 0.0, API)
            await asyncio.sleep(0.5)  # the server closes meanwhile
            return [first, await stream_exchange(streams, REQUEST, 0.0, API)]
        finally:
            pool.close()

    server = Server(answer)
    with server as port, asyncio.Runner() as runner:
        done = runner.run(main(f"http://127.0.0.1:{port}"))

    assert [tokens(d) for d in done] == [(StatusClass.OK, 3, 3)] * 2
    assert server.connections == 2
