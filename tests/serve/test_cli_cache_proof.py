"""`gatekeeper probe --cache-proof` through the real cache proxy and Redis: the proof's
metrics are printed and logged to the version's probe run. One 1 s step per search."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from tests.support.registry import seed_version


def test_cache_proof_logs_hit_ratio_capacities_and_costs(
        proxy_url: str, redis_url: str, tracking_uri: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cost = tmp_path / "cost.yaml"
    cost.write_text("hardware_per_hour: 0.36\ncache_per_hour: 0.036\n")
    version = seed_version(tracking_uri, "fraud", metrics={}, log_model=False)

    code = run(["probe", proxy_url, "--endpoint", "predict=/invocations", "--rate", "50",
                "--duration", "1s", "--warmup", "0.3s", "--min-samples", "10",
                "--cache-proof", "--slo-p99-ms", "200", "--max-rate", "50", "--max-steps", "1",
                "--cost-model", str(cost), "--redis-url", redis_url, "--model", "fraud",
                "--version", version, "--tracking-uri", tracking_uri,
                "--out", str(tmp_path / "out")])

    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err
    lines = printed.out.splitlines()
    assert lines[1].startswith("cache: hit ratio 0.9")  # one request, repeated: 49 of 50 hit
    assert lines[2] == ("with cache:    capacity at p99 <= 200 ms: 50/s (stopped by max_rate, "
                        "1 steps)")
    assert lines[3] == ("without cache: capacity at p99 <= 200 ms: 50/s (stopped by max_rate, "
                        "1 steps)")
    client = mlflow_client(tracking_uri)
    run_id = client.get_model_version("fraud", version).tags["gatekeeper.probe.run_id"]
    metrics = client.get_run(run_id).data.metrics
    assert metrics["cache.expected_hit_ratio"] == pytest.approx(0.98)
    assert metrics["cache.hit_ratio"] > 0.9 and metrics["cache.hit_ratio_stats"] > 0.9
    assert metrics["capacity.cached.rps"] == metrics["capacity.uncached.rps"] == 50.0
    # Same capacity both ways: the cache only adds its price (0.036 / 0.36 = 10% more).
    assert metrics["cache.cost_reduction"] == pytest.approx(-0.1)
