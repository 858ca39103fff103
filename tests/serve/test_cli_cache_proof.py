"""`gatekeeper probe --cache-proof` through the real cache proxy and Redis: the proof's
metrics are printed and logged to the version's probe run. One 1 s step per search.

A loaded machine may fail to hold even 50/s (a step counts as held only if at most 5% of its
requests leave more than 10 ms late); the test then checks that the output says so
consistently instead of requiring that the machine kept up."""

from __future__ import annotations

import json
import re
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
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    # Exit 0 exactly when the replay through the cache held its rate; nothing else may fail.
    assert code == (0 if result["held_target_rate"] else 1), printed.out + printed.err
    assert result["usable"] == (code == 0)
    assert all("target rate NOT held" in p for p in result["problems"]), result["problems"]
    lines = printed.out.splitlines()
    # One request, repeated: 49 of 50 hit (a repeat sent before the first answer is stored
    # misses, which a starved proxy may cause a few times).
    assert re.fullmatch(r"cache: hit ratio 0\.[89]\d\d \(X-Cache\), expected 0\.980", lines[1]), (
        lines[1])
    client = mlflow_client(tracking_uri)
    run_id = client.get_model_version("fraud", version).tags["gatekeeper.probe.run_id"]
    metrics = client.get_run(run_id).data.metrics
    assert metrics["cache.expected_hit_ratio"] == pytest.approx(0.98)
    assert metrics["cache.hit_ratio"] > 0.8 and metrics["cache.hit_ratio_stats"] > 0.8
    # One step per search (--max-steps 1) at 50/s (--max-rate 50): capacity 50/s when it
    # passed, none when it did not (a loaded machine may not hold it), as the step was told.
    told = {prefix: line for line in printed.err.splitlines()
            for prefix in ("with cache", "without cache")
            if line.startswith(f"probe: {prefix}: step 1: 50/s, ")}
    assert told.keys() == {"with cache", "without cache"}, printed.err
    for line, prefix, key in ((lines[2], "with cache:    ", "cached"),
                              (lines[3], "without cache: ", "uncached")):
        name = prefix.rstrip(": ")
        passed = told[name].endswith(": pass")
        capacity = "50/s" if passed else "0/s, 50/s failed"
        stopped = "max_rate" if passed else "max_steps"
        assert line == (f"{prefix}capacity at p99 <= 200 ms: {capacity} (stopped by {stopped}, "
                        "1 steps)"), (line, told[name])
        assert metrics[f"capacity.{key}.rps"] == (50.0 if passed else 0.0)
    if metrics["capacity.cached.rps"] == metrics["capacity.uncached.rps"] == 50.0:
        # Same capacity both ways: the cache only adds its price (0.036 / 0.36 = 10% more).
        assert metrics["cache.cost_reduction"] == pytest.approx(-0.1)
