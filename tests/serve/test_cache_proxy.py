"""The cache proxy (examples/serve/cache_proxy.py) as a real process, between a real
redis-server and a loopback target."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from examples.serve.stack import running_proxy, running_redis
from gatekeeper.probe.cache_proof import Lookups, RedisStats
from tests.serve.conftest import START_TIMEOUT_S

JSON = {"Content-Type": "application/json"}


def post(base: str, body: bytes, path: str = "/invocations", **headers: str
         ) -> requests.Response:
    return requests.post(base + path, data=body, headers={**JSON, **headers}, timeout=5)


def cache_header(response: requests.Response) -> str:
    return response.headers["X-Cache"]


def samples(proxy_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by prometheus_client, keyed by name and labels."""
    text = requests.get(proxy_url + "/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_repeats_hit_and_redis_counts_the_same_lookups(proxy_url: str, redis_url: str) -> None:
    stats = RedisStats(redis_url)
    before = stats.lookups()
    bodies = [b'{"x": 1}', b'{"x": 1}', b'{"x": 2}', b'{"x": 1}', b'{"x": 2}']
    answers = [post(proxy_url, body) for body in bodies]
    assert [cache_header(a) for a in answers] == ["MISS", "HIT", "MISS", "HIT", "HIT"]
    assert [a.json() for a in answers[:2]] == [answers[0].json()] * 2
    assert answers[2].json() != answers[0].json()
    assert stats.lookups() - before == Lookups(hits=3, misses=2)


def test_the_key_is_method_path_and_body(proxy_url: str) -> None:
    first = [post(proxy_url, b"{}", path="/invocations?a=1"),
             post(proxy_url, b"{}", path="/invocations?a=2"),
             post(proxy_url, b"{ }", path="/invocations?a=1")]
    got = requests.get(proxy_url + "/invocations?a=1", timeout=5)
    assert [cache_header(a) for a in [*first, got]] == ["MISS"] * 4


def test_no_cache_and_no_store_neither_read_nor_fill_the_cache(proxy_url: str, redis_url: str
                                                               ) -> None:
    stats = RedisStats(redis_url)
    before = stats.lookups()
    body = b'{"bypass": true}'
    assert cache_header(post(proxy_url, body, **{"Cache-Control": "no-cache"})) == "BYPASS"
    assert cache_header(post(proxy_url, body)) == "MISS"  # the bypass stored nothing
    assert cache_header(post(proxy_url, body, **{"Cache-Control": "no-store"})) == "BYPASS"
    assert cache_header(post(proxy_url, body)) == "HIT"
    assert stats.lookups() - before == Lookups(hits=1, misses=1)


def test_errors_are_counted_and_never_cached(proxy_url: str) -> None:
    answers = [post(proxy_url, b"{}", path="/fail") for _ in range(2)]
    assert [(a.status_code, cache_header(a)) for a in answers] == [(500, "MISS")] * 2
    assert samples(proxy_url)[("serve_request_errors_total",
                               (("class", "5xx"), ("endpoint", "other")))] == 2


def test_metrics_are_exposed_in_prometheus_text_format(proxy_url: str) -> None:
    for body in (b"1", b"1", b"2"):
        post(proxy_url, body)
    post(proxy_url, b"3", **{"Cache-Control": "no-cache"})
    text = requests.get(proxy_url + "/metrics", timeout=5).text
    kinds = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert kinds == {"serve_request_duration_seconds": "histogram",
                     "serve_request_errors": "counter", "serve_cache_hits": "counter",
                     "serve_cache_misses": "counter", "serve_cache_errors": "counter"}
    found = samples(proxy_url)
    predict = (("endpoint", "predict"),)
    assert found[("serve_cache_hits_total", predict)] == 1
    assert found[("serve_cache_misses_total", predict)] == 2
    counts = {cache: found[("serve_request_duration_seconds_count",
                            (("cache", cache), ("endpoint", "predict")))]
              for cache in ("hit", "miss", "bypass")}
    assert counts == {"hit": 1, "miss": 2, "bypass": 1}


def test_answers_expire_after_the_ttl(fast_target: str, redis_url: str, tmp_path: Path) -> None:
    with running_proxy(fast_target, redis_url, 1, tmp_path, START_TIMEOUT_S) as url:
        seen = [cache_header(post(url, b"ttl")) for _ in range(2)]
        time.sleep(1.2)
        seen.append(cache_header(post(url, b"ttl")))
    assert seen == ["MISS", "HIT", "MISS"]


def test_requests_are_still_answered_when_redis_is_down(fast_target: str, tmp_path: Path
                                                        ) -> None:
    with contextlib.ExitStack() as redis:
        redis_url = redis.enter_context(running_redis(tmp_path, START_TIMEOUT_S))
        with running_proxy(fast_target, redis_url, 300, tmp_path, START_TIMEOUT_S) as url:
            assert cache_header(post(url, b"up")) == "MISS"
            redis.close()  # stops redis-server
            answer = post(url, b"up")
            assert (answer.status_code, cache_header(answer)) == (200, "MISS")
            assert samples(url)[("serve_cache_errors_total", ())] >= 1
            assert requests.get(url + "/healthz", timeout=5).status_code == 503
