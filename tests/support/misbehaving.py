"""Loopback HTTP servers that misbehave on purpose: trickle bytes, answer wrong JSON.

:func:`misbehaving_server` serves whatever its ``answer`` function says for each request (by
path and query), on 127.0.0.1 only, in a thread of the test's own process. It stands in for an
MLflow tracking server or a Prometheus that is up but broken, which a real one will not do on
demand.

    with misbehaving_server(lambda path: Reply(body=b"{}")) as url:
        ...  # every request is answered 200 `{}`
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """What to send: a status and body, or (``trickle_s``) a status line and headers
    trickled one byte every ``trickle_s`` seconds, for as long as ``trickle_bytes`` lasts."""

    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    trickle_s: float | None = None
    trickle_bytes: int = 600


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(value).encode())


def trickle(every_s: float = 1.0, total_bytes: int = 600) -> Reply:
    """A reply that would take ``every_s * total_bytes`` seconds (10 minutes by default)."""
    return Reply(trickle_s=every_s, trickle_bytes=total_bytes)


Answer = Callable[[str], Reply]


class MisbehavingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.stopping = threading.Event()
        self.paths: list[str] = []  # every request's path and query, in arrival order
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, path: str) -> None:
        with self._lock:
            self.paths.append(path)


class _Handler(BaseHTTPRequestHandler):
    server: MisbehavingServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._reply()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._reply()

    def do_PATCH(self) -> None:
        self.do_POST()

    def _reply(self) -> None:
        self.server.record(self.path)
        reply = self.server.answer(self.path)
        if reply.trickle_s is not None:
            self._trickle(reply)
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _trickle(self, reply: Reply) -> None:
        """A status line, then an endless header: each byte resets the client's read timeout."""
        assert reply.trickle_s is not None
        data = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * reply.trickle_bytes
        with contextlib.suppress(OSError):
            for i in range(len(data)):
                if self.server.stopping.wait(reply.trickle_s if i > 16 else 0):
                    return
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@contextlib.contextmanager
def misbehaving_server(answer: Answer) -> Iterator[MisbehavingServer]:
    server = MisbehavingServer(answer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
