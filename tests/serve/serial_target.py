"""A loopback target with a known capacity: it serves one request at a time, each taking
exactly ``--service-ms`` (capacity = 1000 / service-ms requests/s).

Requests are put on a virtual clock: each one completes ``service`` after the later of its
arrival and the previous completion, so the capacity does not depend on how fast this process
handles HTTP. The answer is a digest of method, path and body (equal requests, equal answers),
or a 500 for paths starting with ``/fail``.

    python tests/serve/serial_target.py --port 8080 --service-ms 5
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib

from aiohttp import web


class SerialClock:
    """When the single imaginary worker is next free (event-loop time)."""

    def __init__(self, service_s: float) -> None:
        self.service_s = service_s
        self.free_at = 0.0

    def book(self, now: float) -> float:
        """Seconds until a request arriving ``now`` is done."""
        self.free_at = max(now, self.free_at) + self.service_s
        return self.free_at - now


def build_app(service_s: float) -> web.Application:
    clock = SerialClock(service_s)

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        await asyncio.sleep(clock.book(asyncio.get_running_loop().time()))
        if request.path.startswith("/fail"):
            return web.json_response({"error": "asked to fail"}, status=500)
        digest = hashlib.sha256(b"%s %s %s" % (request.method.encode(),
                                               request.path_qs.encode(), body)).hexdigest()
        return web.json_response({"digest": digest})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--service-ms", type=float, default=5.0)
    args = parser.parse_args()
    web.run_app(build_app(args.service_ms / 1000), host="127.0.0.1", port=args.port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()
