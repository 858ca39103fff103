"""A loopback HTTP/1.1 target for probe tests: keep-alive, behaviour chosen per request.

It runs its own event loop in a thread on 127.0.0.1 and an ephemeral port. ``stall_every_s``
blocks that loop (like a stop-the-world GC pause) for ``stall_s`` at a fixed period, so every
request arriving meanwhile waits.

``precise_timers`` runs that loop on ``select()`` (the probe engine's own precise loop): asyncio's
default epoll loop wakes a ``delay_s`` sleep 0-1 ms late (whole-millisecond timeouts), and how
late depends on when requests arrive, so two clients with different arrival patterns would see
different delays from the same target. Off by default: ``select()`` takes descriptors below
1,024 only, and tests run an engine beside the target in one process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from gatekeeper.probe.engine import precise_loop


@dataclass(frozen=True)
class Reply:
    """What to do with one request: wait ``delay_s``, then answer ``status`` or hang up.

    ``chunks``: stream the body instead (chunked transfer encoding), each ``(delay_s, data)``
    written after its own delay, like an LLM's token stream."""

    status: int = 200
    delay_s: float = 0.0
    hang_up: bool = False
    chunks: tuple[tuple[float, bytes], ...] = ()


# (request number from 0, path) -> reply
Behaviour = Callable[[int, str], Reply]


def always(reply: Reply) -> Behaviour:
    """The same reply to every request."""
    return lambda _n, _path: reply


class Target:
    """Context manager: ``with Target(behaviour) as url: ...``."""

    def __init__(self, behaviour: Behaviour, stall_every_s: float = 0.0, stall_s: float = 0.0,
                 precise_timers: bool = False) -> None:
        self.behaviour = behaviour
        self.stall_every_s = stall_every_s
        self.stall_s = stall_s
        self.requests = 0
        self._ready = threading.Event()
        self._loop = precise_loop() if precise_timers else asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._handlers: set[asyncio.Task[None]] = set()

    def __enter__(self) -> str:
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("target did not start")
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None
                 ) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _serve(self) -> None:
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        stall = asyncio.create_task(self._stall()) if self.stall_every_s else None
        self._ready.set()
        await self._stop.wait()
        server.close()
        # Cancel open connections (and the stall) so the loop closes without orphaned tasks.
        pending = [*self._handlers, *([stall] if stall else [])]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _stall(self) -> None:
        while True:
            await asyncio.sleep(self.stall_every_s)
            time.sleep(self.stall_s)  # blocks the whole server loop on purpose

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            while await self._answer(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Shutting down. Ending normally, not as cancelled: Python 3.11's stream callback
            # logs a traceback for every cancelled connection task.
            pass
        finally:
            self._handlers.discard(handler)
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode()
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        number, self.requests = self.requests, self.requests + 1
        reply = self.behaviour(number, path)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.hang_up:
            return False
        if reply.chunks:
            await self._stream(writer, reply)
            return True
        writer.write(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\nContent-Type: application/json"
                     b"\r\n\r\n{}" % reply.status)
        await writer.drain()
        return True

    async def _stream(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        writer.write(b"HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n\r\n" % reply.status)
        await writer.drain()
        for delay_s, data in reply.chunks:
            await asyncio.sleep(delay_s)
            writer.write(b"%x\r\n%s\r\n" % (len(data), data))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
