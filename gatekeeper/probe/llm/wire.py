"""The streaming probe's HTTP/1.1 client: keep-alive connections to one origin, whose answers
llhttp (``httptools``, the parser uvicorn uses) takes apart as bytes arrive, each read timed
by the kernel where it can be.

Why not aiohttp, which the plain exchange uses: reading a stream through it wakes the reading
task once per socket read (the protocol feeds a ``StreamReader``, whose waiter resumes the task
that iterates it), about half of a read's cost; at tens of thousands of chunks a second that
is what decides how close to the truth the arrival times stay. Here the parser's body callback
hands each read to the stream's :class:`Reader` inside the loop's own read callback; the task
that sent the request sleeps until the answer ends. ``bench/llm_probe.py`` measures both.

**When a read arrived.** On ``http`` (:class:`SocketWire`) every read comes with the time the
kernel received its last segment (``SO_TIMESTAMPNS``), moved onto the loop's clock: a chunk is
timed when it reached this machine, not when the probe's loop got to it, so a busy probe core
does not add its own queueing to TTFT and ITL. Chunks of one stream that reached the socket
before the probe read them share one read, timed at its last segment. Where the kernel gives
no time (the first packets after timestamps are switched on, non-Linux systems) the read is
timed when the loop reads it, as on ``https`` (:class:`TransportWire`: asyncio's TLS).

What it speaks: ``http`` and ``https`` (the default TLS context: certificates verified),
``Content-Length``, chunked and close-delimited bodies, keep-alive. What it does not: proxies
(the plain exchange ignores them too), redirects (never followed: a 3xx is a client error),
``Expect: 100-continue``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import sys
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httptools
from requests.structures import CaseInsensitiveDict

DEFAULT_PORTS = {"http": 80, "https": 443}
# One getaddrinfo() answer: family, type, proto, canonical name, address.
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]
# Bytes one read may take: a few hundred events, far more than a stream sends between reads.
READ_SIZE = 64 * 1024
# Linux's SO_TIMESTAMPNS (== SCM_TIMESTAMPNS; asm-generic/socket.h), which Python's socket
# module does not name: each read's ancillary data carries the kernel's receive time
# (CLOCK_REALTIME, struct timespec).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35) if sys.platform == "linux" else None
TIMESPEC = struct.Struct("@ll")
ANCILLARY_SIZE = socket.CMSG_SPACE(TIMESPEC.size)
# A kernel time further than this from the loop's reading is not trusted (a clock stepped).
KERNEL_SKEW_S = 5.0


class Reader(Protocol):
    """Where an answer goes as it arrives; ``at_s`` is when its bytes arrived (loop clock)."""

    def head(self, status: int, headers: Mapping[str, str], at_s: float) -> None: ...

    def body(self, data: bytes, at_s: float) -> None: ...


class WireError(ConnectionError):
    """The connection closed before the answer ended, or the answer was not HTTP/1.x."""


class Wire:
    """One connection; one exchange at a time (:meth:`exchange`). Subclasses move the bytes:
    they call :meth:`_feed` with each read and :meth:`_closed` when the connection ends."""

    def __init__(self) -> None:
        self.lost = False
        self.keep_alive = False
        self._loop = asyncio.get_running_loop()
        self._parser: httptools.HttpResponseParser | None = None
        self._reader: Reader | None = None
        self._done: asyncio.Future[int] | None = None
        self._headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        self._status = 0
        self._until_close = False  # a body with neither a length nor chunks ends at close
        self._read_s = 0.0

    @property
    def usable(self) -> bool:
        """Open, idle and fit for another exchange."""
        return not self.lost and self.keep_alive

    async def exchange(self, request: bytes, reader: Reader) -> int:
        """Send ``request``, feed its answer to ``reader``; returns the status once the whole
        answer arrived. Raises :class:`WireError` when the connection breaks first."""
        self.keep_alive = False
        self._reader, self._headers, self._status = reader, CaseInsensitiveDict(), 0
        self._parser = httptools.HttpResponseParser(self)
        self._done = self._loop.create_future()
        try:
            await self._send(request)
            return await self._done
        finally:
            self._parser = self._reader = self._done = None

    async def _send(self, request: bytes) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        """Drop the connection at once (an exchange cut short cannot be reused)."""
        raise NotImplementedError

    def _feed(self, data: bytes | memoryview, at_s: float) -> None:
        """Bytes read at ``at_s``: to the parser, or, between exchanges, the end of the
        connection (a server sends nothing unasked)."""
        if self._parser is None:
            self.abort()
            return
        self._read_s = at_s
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(WireError(f"the answer is not HTTP/1.x ({type(error).__name__})"))

    def _closed(self) -> None:
        """The connection ended: an answer that runs until close is whole, any other is cut."""
        self.lost = True
        if self._done is None or self._done.done():
            return
        if self._until_close and self._status:
            self._done.set_result(self._status)
        else:
            self._done.set_exception(WireError("the connection closed before the answer ended"))

    def _fail(self, error: Exception) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(error)
        self.abort()

    # -- httptools callbacks -------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1")] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self._parser is not None and self._reader is not None
        self._status = self._parser.get_status_code()
        chunked = "chunked" in self._headers.get("Transfer-Encoding", "").lower()
        self._until_close = not chunked and "Content-Length" not in self._headers
        self._reader.head(self._status, self._headers, self._read_s)

    def on_body(self, body: bytes) -> None:
        assert self._reader is not None
        self._reader.body(body, self._read_s)

    def on_message_complete(self) -> None:
        assert self._parser is not None
        self.keep_alive = self._parser.should_keep_alive()
        if self._done is not None and not self._done.done():
            self._done.set_result(self._status)


class SocketWire(Wire):
    """A plain TCP connection read by the loop's reader callback with ``recvmsg_into``, each
    read timed by the kernel (see the module's docstring). The socket is watched while idle
    too, so a server closing a kept-alive connection is noticed before it is used again."""

    def __init__(self, sock: socket.socket, buffer: bytearray) -> None:
        super().__init__()
        self.sock = sock
        self._buffer = buffer
        self._view = memoryview(buffer)
        self._stamped = enable_timestamps(sock)
        self._loop.add_reader(sock.fileno(), self._readable)

    async def _send(self, request: bytes) -> None:
        await self._loop.sock_sendall(self.sock, request)

    def abort(self) -> None:
        self.keep_alive = False
        if not self.lost:
            self.lost = True
            self._loop.remove_reader(self.sock.fileno())
            self.sock.close()

    def _readable(self) -> None:
        try:
            if self._stamped:
                size, ancillary, _, _ = self.sock.recvmsg_into([self._buffer], ANCILLARY_SIZE)
                at_s = kernel_time(ancillary, self._loop.time())
            else:
                size, at_s = self.sock.recv_into(self._buffer), self._loop.time()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._fail(WireError("the connection broke while reading"))
            self._closed()
            return
        if size == 0:  # the server closed its side
            self.abort()
            self._closed()
            return
        self._feed(self._view[:size], at_s)


class TransportWire(Wire, asyncio.BufferedProtocol):
    """A connection through an asyncio transport (TLS), read into its own buffer; each read is
    timed when the loop reads it. A buffered protocol: a plain protocol gets a new bytes object
    per read, and asyncio asks for 256 KiB each time: allocating that is ~18 µs per read on
    Linux, more than parsing the chunk it holds."""

    def __init__(self, buffer: bytearray) -> None:
        super().__init__()
        self.transport: asyncio.Transport | None = None
        self._buffer = memoryview(buffer)

    @property
    def usable(self) -> bool:
        return (super().usable and self.transport is not None
                and not self.transport.is_closing())

    async def _send(self, request: bytes) -> None:
        assert self.transport is not None
        self.transport.write(request)

    def abort(self) -> None:
        self.keep_alive = False
        if self.transport is not None:
            self.transport.abort()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._feed(self._buffer[:nbytes], self._loop.time())

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost settles the exchange


def enable_timestamps(sock: socket.socket) -> bool:
    """Ask the kernel to time every segment ``sock`` receives; False where it cannot."""
    if SO_TIMESTAMPNS is None:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def kernel_time(ancillary: list[tuple[int, int, bytes]], now_s: float) -> float:
    """The kernel's receive time of a read, on the loop's clock (``now_s`` is the loop's time
    now), or ``now_s`` when the read carries none. The kernel's time is the wall clock: the
    wall clock's distance to the monotonic one, read now, moves it across (the two advance
    together; only a step of the wall clock parts them, and a time that far off is not used).
    """
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            seconds, nanoseconds = TIMESPEC.unpack_from(data)
            at_s: float = seconds + nanoseconds / 1e9 - time.time() + now_s
            if now_s - KERNEL_SKEW_S <= at_s <= now_s:
                return at_s
    return now_s


class Pool:
    """Keep-alive connections to the origin of ``url``; requests go to its path + theirs.

    ``headers`` go on every request (an ``Authorization`` header, ``Cache-Control`` ...). The
    pool does not limit how many connections are open: the engine's slots do."""

    def __init__(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        self.host = parts.hostname
        self.port = parts.port or DEFAULT_PORTS[parts.scheme]
        self.base = parts.path.rstrip("/")
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        host = parts.netloc.rpartition("@")[2]  # never credentials in a Host header
        fixed = {"Host": host, "User-Agent": "gatekeeper-probe", **(headers or {})}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._idle: list[Wire] = []
        self._open: set[Wire] = set()
        self._addresses: list[AddrInfo] = []
        # One read buffer for every connection: a read is parsed (its bytes copied out) before
        # the loop reads again, and thousands of streams need not hold 64 KiB each.
        self._buffer = bytearray(READ_SIZE)

    def request(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
                ) -> bytes:
        """The bytes of one request (``path`` is appended to the URL's path)."""
        lines = [f"{method} {self.base}{path} HTTP/1.1\r\n".encode("latin-1"), self._fixed]
        lines += [f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}\r\n".encode())
        lines.append(b"\r\n")
        return b"".join(lines) + (body or b"")

    async def acquire(self) -> Wire:
        """An idle connection, or a new one."""
        while self._idle:
            wire = self._idle.pop()
            if wire.usable:
                return wire
            self._open.discard(wire)
        loop = asyncio.get_running_loop()
        if not self._addresses:
            # Resolved once per run, as aiohttp's cache did: a lookup per new connection runs
            # in a thread and takes the loop's time while streams are being read.
            self._addresses = list[AddrInfo](await loop.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM))
        failure: OSError = OSError(f"{self.host} did not resolve")
        for found in list(self._addresses):  # each in turn, as asyncio does for a name
            family, _, proto, _, address = found
            try:
                wire = await self.connect(family, proto, address)
            except OSError as error:
                failure = error
                continue
            if found is not self._addresses[0]:  # next time, the address that answered first
                self._addresses.remove(found)
                self._addresses.insert(0, found)
            self._open.add(wire)
            return wire
        raise failure

    async def connect(self, family: int, proto: int, address: tuple[Any, ...]) -> Wire:
        """A new connection to one address: a plain socket for http, TLS over a transport."""
        loop = asyncio.get_running_loop()
        if self.ssl is not None:
            _, wire = await loop.create_connection(
                lambda: TransportWire(self._buffer), address[0], address[1], family=family,
                proto=proto, ssl=self.ssl, server_hostname=self.host)
            return wire
        sock = socket.socket(family, socket.SOCK_STREAM, proto)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, address)
        except BaseException:
            sock.close()
            raise
        return SocketWire(sock, self._buffer)

    def release(self, wire: Wire) -> None:
        """Back to the pool after a whole exchange (closed when the server wants it closed)."""
        if wire.usable:
            self._idle.append(wire)
        else:
            self.discard(wire)

    def discard(self, wire: Wire) -> None:
        """Drop a connection whose exchange was cut short."""
        wire.abort()
        self._open.discard(wire)

    def close(self) -> None:
        """Close every connection, busy or idle."""
        for wire in self._open:
            wire.abort()
        self._open.clear()
        self._idle.clear()
