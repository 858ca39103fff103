"""The streaming probe's HTTP/1.1 client: keep-alive connections to one origin, each an asyncio
protocol whose answer llhttp (``httptools``, the parser uvicorn uses) takes apart as bytes
arrive.

Why not aiohttp, which the plain exchange uses: reading a stream through it wakes the reading
task once per socket read (the protocol feeds a ``StreamReader``, whose waiter resumes the task
that iterates it), about half of a read's cost; at tens of thousands of chunks a second that
is what decides how close to the truth the arrival times stay. Here the parser's body callback
hands each read to the stream's :class:`Reader` inside the loop's own read callback, with its
arrival time taken once, before parsing; the task that sent the request sleeps until the answer
ends. ``bench/llm_probe.py`` measures both side by side.

What it speaks: ``http`` and ``https`` (the default TLS context: certificates verified),
``Content-Length``, chunked and close-delimited bodies, keep-alive. What it does not: proxies
(the plain exchange ignores them too), redirects (never followed: a 3xx is a client error),
``Expect: 100-continue``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
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


class Reader(Protocol):
    """Where an answer goes as it arrives; ``at_s`` is the loop time the bytes were read."""

    def head(self, status: int, headers: Mapping[str, str], at_s: float) -> None: ...

    def body(self, data: bytes, at_s: float) -> None: ...


class WireError(ConnectionError):
    """The connection closed before the answer ended, or the answer was not HTTP/1.x."""


class Wire(asyncio.BufferedProtocol):
    """One connection; one exchange at a time (:meth:`exchange`).

    A buffered protocol: each read goes into the connection's own buffer (``recv_into``). A
    plain protocol gets a new bytes object per read, and asyncio asks for 256 KiB each time:
    allocating that is ~18 µs per read on Linux, more than parsing the chunk it holds."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
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
        self._buffer = memoryview(bytearray(READ_SIZE))

    @property
    def usable(self) -> bool:
        """Open, idle and fit for another exchange."""
        return (not self.lost and self.keep_alive and self.transport is not None
                and not self.transport.is_closing())

    async def exchange(self, request: bytes, reader: Reader) -> int:
        """Send ``request``, feed its answer to ``reader``; returns the status once the whole
        answer arrived. Raises :class:`WireError` when the connection breaks first."""
        assert self.transport is not None
        self.keep_alive = False
        self._reader, self._headers, self._status = reader, CaseInsensitiveDict(), 0
        self._parser = httptools.HttpResponseParser(self)
        self._done = self._loop.create_future()
        self.transport.write(request)
        try:
            return await self._done
        finally:
            self._parser = self._reader = self._done = None

    def abort(self) -> None:
        """Drop the connection at once (an exchange cut short cannot be reused)."""
        self.keep_alive = False
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._done is None or self._done.done():
            return
        if self._until_close and self._status:
            self._done.set_result(self._status)
        else:
            self._done.set_exception(WireError("the connection closed before the answer ended"))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self._parser is None:  # bytes nobody asked for: the connection is not reusable
            self.abort()
            return
        self._read_s = self._loop.time()
        try:
            self._parser.feed_data(self._buffer[:nbytes])
        except httptools.HttpParserError as error:
            self._fail(WireError(f"the answer is not HTTP/1.x ({type(error).__name__})"))

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost settles the exchange

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

    def _fail(self, error: Exception) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_exception(error)
        self.abort()


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
                _, wire = await loop.create_connection(
                    Wire, address[0], address[1], family=family, proto=proto, ssl=self.ssl,
                    server_hostname=self.host if self.ssl else None)
            except OSError as error:
                failure = error
                continue
            if found is not self._addresses[0]:  # next time, the address that answered first
                self._addresses.remove(found)
                self._addresses.insert(0, found)
            self._open.add(wire)
            return wire
        raise failure

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
