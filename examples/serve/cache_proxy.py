"""A response cache on Redis in front of a model server, with Prometheus metrics.

Run it beside ``mlflow models serve``::

    python examples/serve/cache_proxy.py --port 8081 --upstream http://127.0.0.1:8080 \\
        --redis redis://127.0.0.1:6379/0 --ttl 300

Every request is forwarded to ``--upstream`` unless an identical one (same method, path with
query, and body) was answered with a 2xx within the TTL; then the stored answer is returned.
Each answer carries ``X-Cache: HIT``, ``MISS`` or ``BYPASS`` (the client sent
``Cache-Control: no-cache`` or ``no-store``, or the path is never cached). The proxy's own
routes are ``/metrics`` (Prometheus text format) and ``/healthz`` (200 once Redis answers).

A cache must never take the service down: when Redis fails, requests are forwarded as on a miss
and ``serve_cache_errors_total`` counts the failures.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import generate_latest

# Metric label values come from this table, never from the raw path: a label per path would
# let any client grow Prometheus' series without bound.
ENDPOINTS = {"/invocations": "predict", "/ping": "ping", "/health": "health",
             "/version": "version"}
# Liveness must reach the model server itself, or a dead server would look alive.
NEVER_CACHED = frozenset({"/ping", "/health"})
CACHEABLE_METHODS = frozenset({"GET", "POST"})
BYPASS_DIRECTIVES = ("no-cache", "no-store")
KEY_PREFIX = "gk:resp:"
# Latency buckets (seconds): a cache hit is well under a millisecond, a cold model call tens.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Settings:
    """Where to listen, what to forward to, and how long answers stay cached."""

    upstream: str
    redis_url: str
    ttl_s: int = 300
    timeout_s: float = 10.0
    host: str = "127.0.0.1"
    port: int = 8081


@dataclass(frozen=True)
class Answer:
    """A response as stored in the cache: status, content type, body."""

    status: int
    content_type: str
    body: bytes

    def encode(self) -> bytes:
        return b"%d\n%s\n" % (self.status, self.content_type.encode()) + self.body

    @classmethod
    def decode(cls, blob: bytes) -> Answer:
        status, content_type, body = blob.split(b"\n", 2)
        return cls(int(status), content_type.decode(), body)


class Metrics:
    """The proxy's Prometheus series, on a registry of its own (no process-wide state)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "serve_request_duration_seconds", "Time to answer a request, by endpoint and "
            "cache outcome.", ["endpoint", "cache"], buckets=BUCKETS, registry=self.registry)
        self.errors = Counter("serve_request_errors_total", "Failed requests by endpoint and "
                              "class (4xx, 5xx, timeout, connection).", ["endpoint", "class"],
                              registry=self.registry)
        self.hits = Counter("serve_cache_hits_total", "Requests answered from the cache.",
                            ["endpoint"], registry=self.registry)
        self.misses = Counter("serve_cache_misses_total", "Cacheable requests not in the "
                              "cache (forwarded).", ["endpoint"], registry=self.registry)
        self.cache_errors = Counter("serve_cache_errors_total", "Redis calls that failed; the "
                                    "request was forwarded instead.", registry=self.registry)


def endpoint_of(path: str) -> str:
    """The endpoint label of a path (``other`` for anything not in ENDPOINTS)."""
    return ENDPOINTS.get(path, "other")


def cache_key(method: str, path_qs: str, body: bytes) -> str:
    """Identical requests share a key; the NUL separators keep fields from running together."""
    digest = hashlib.sha256(b"\0".join((method.encode(), path_qs.encode(), body)))
    return KEY_PREFIX + digest.hexdigest()


def wants_bypass(request: web.Request) -> bool:
    """True when the request must neither read nor fill the cache."""
    if request.method not in CACHEABLE_METHODS or request.path in NEVER_CACHED:
        return True
    directives = request.headers.get("Cache-Control", "").lower()
    return any(d in directives for d in BYPASS_DIRECTIVES)


def error_class(status: int) -> str | None:
    """The errors-counter class of an answer, or None for a success."""
    if status >= 500:
        return "5xx"
    if status >= 400:
        return "4xx"
    return None


class Proxy:
    """The request handlers; one instance per process."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.redis = aioredis.Redis.from_url(settings.redis_url, socket_timeout=0.5,
                                             socket_connect_timeout=0.5)
        self.session: ClientSession | None = None

    async def start(self, _app: web.Application) -> None:
        # One pooled session for the whole process: a new TCP connection per request would
        # cost more than the model call it forwards.
        self.session = ClientSession(
            connector=TCPConnector(limit=256), auto_decompress=False,
            timeout=ClientTimeout(total=self.settings.timeout_s))

    async def stop(self, _app: web.Application) -> None:
        if self.session is not None:
            await self.session.close()
        await self.redis.aclose()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer from the cache or forward; record latency, outcome and errors."""
        started = time.perf_counter()
        endpoint = endpoint_of(request.path)
        body = await request.read()
        if wants_bypass(request):
            outcome, answer = "bypass", await self.forward(request, body, endpoint)
        else:
            outcome, answer = await self.cached(request, body, endpoint)
        response = web.Response(status=answer.status, body=answer.body,
                                content_type=None, headers={"X-Cache": outcome.upper()})
        if answer.content_type:
            response.headers["Content-Type"] = answer.content_type
        self.metrics.latency.labels(endpoint, outcome).observe(time.perf_counter() - started)
        return response

    async def cached(self, request: web.Request, body: bytes, endpoint: str
                     ) -> tuple[str, Answer]:
        """The stored answer (hit), or the upstream's, stored when it is a 2xx (miss)."""
        key = cache_key(request.method, request.path_qs, body)
        stored = await self.lookup(key)
        if stored is not None:
            self.metrics.hits.labels(endpoint).inc()
            return "hit", stored
        self.metrics.misses.labels(endpoint).inc()
        answer = await self.forward(request, body, endpoint)
        if 200 <= answer.status < 300:
            await self.store(key, answer)
        return "miss", answer

    async def lookup(self, key: str) -> Answer | None:
        try:
            blob = await self.redis.get(key)
        except (aioredis.RedisError, OSError):
            self.metrics.cache_errors.inc()
            return None
        if blob is None:
            return None
        assert isinstance(blob, bytes)  # the client does not decode responses to str
        return Answer.decode(blob)

    async def store(self, key: str, answer: Answer) -> None:
        try:
            await self.redis.set(key, answer.encode(), ex=self.settings.ttl_s)
        except (aioredis.RedisError, OSError):
            self.metrics.cache_errors.inc()

    async def forward(self, request: web.Request, body: bytes, endpoint: str) -> Answer:
        """The upstream's answer; 502/504 when it cannot be reached or is too slow."""
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "accept")}
        try:
            async with self.session.request(request.method, self.settings.upstream
                                            + request.path_qs, data=body, headers=headers,
                                            allow_redirects=False) as upstream:
                payload = await upstream.read()
                answer = Answer(upstream.status, upstream.headers.get("Content-Type", ""),
                                payload)
        except TimeoutError:
            self.metrics.errors.labels(endpoint, "timeout").inc()
            return Answer(504, "text/plain", b"upstream timed out")
        except (ClientError, OSError):
            self.metrics.errors.labels(endpoint, "connection").inc()
            return Answer(502, "text/plain", b"upstream unreachable")
        if (kind := error_class(answer.status)) is not None:
            self.metrics.errors.labels(endpoint, kind).inc()
        return answer

    async def metrics_page(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(self, _request: web.Request) -> web.Response:
        try:
            await self.redis.ping()
        except (aioredis.RedisError, OSError) as exc:
            return web.Response(status=503, text=f"redis: {exc}\n")
        return web.Response(text="ok\n")


def build_app(settings: Settings) -> web.Application:
    """The proxy as an aiohttp application (own routes first, then the catch-all)."""
    proxy = Proxy(settings, Metrics())
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.on_startup.append(proxy.start)
    app.on_cleanup.append(proxy.stop)
    app.router.add_get("/metrics", proxy.metrics_page)
    app.router.add_get("/healthz", proxy.healthz)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    return app


def parse_settings(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="model server URL")
    parser.add_argument("--redis", required=True, dest="redis_url", help="redis:// URL")
    parser.add_argument("--ttl", type=int, default=300, dest="ttl_s", help="seconds")
    parser.add_argument("--timeout", type=float, default=10.0, dest="timeout_s",
                        help="upstream timeout, seconds")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    return Settings(args.upstream.rstrip("/"), args.redis_url, args.ttl_s, args.timeout_s,
                    args.host, args.port)


def main(argv: list[str] | None = None) -> None:
    settings = parse_settings(argv)
    # One `_created` series per counter and histogram doubles what Prometheus stores and is
    # of no use to rate() and histogram_quantile().
    disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream
    # No access log: one line per request would cost more than a cache hit does.
    web.run_app(build_app(settings), host=settings.host, port=settings.port,
                access_log=None, print=None, handle_signals=True)


if __name__ == "__main__":
    main()
