"""End to end: ``examples/serve/run_serve_gate.py`` seeds the demo registry, serves a demo
version with ``mlflow models serve`` behind the cache proxy, Redis and Prometheus, probes it,
logs the probe run and gates the serve milestone; run as a user runs it (a subprocess). Its
report (the gate's report.html and the replay's pictures) is opened in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gatekeeper.evidence.interface import PROBE_RUN_TAG
from gatekeeper.evidence.mlflow_env import mlflow_client
from gatekeeper.render.probe.plots import SLO_COLOURS
from tests.render.test_probe_objectives import pixels_of
from tests.support.chromium import Elements, colours, png_size, render_page

REPO = Path(__file__).resolve().parents[2]
# Short steps and few of them keep the whole run (seeding included) under about a minute on an
# idle machine; a loaded one may take several times as long.
QUICK = ["--rate", "120", "--replay-seconds", "4", "--step-seconds", "1.5", "--max-steps", "3"]


def listening(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


def held_by_the_rule(endpoint: dict[str, float]) -> bool:
    """What ``held_target_rate`` must say of a reported endpoint under the default rule."""
    return (endpoint["lagging_share"] <= 0.05
            and endpoint["achieved_rps"] >= 0.95 * endpoint["target_rps"])


#: Metrics only the cache proof's capacity searches produce (``CacheProof.metrics``).
CACHE_PROOF_FIGURES = ("cache.cost_reduction", "cost.per_1k_", "capacity.")


@pytest.mark.timeout(900)
def test_end_to_end_serve_gate_on_mlflow_models_serve(tmp_path: Path) -> None:
    work = tmp_path / "serve-demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    proc = subprocess.run([sys.executable, "examples/serve/run_serve_gate.py", "--workdir",
                           str(work), *QUICK], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=800)
    out = proc.stdout
    assert proc.returncode in (0, 1), out + proc.stderr  # a verdict, whichever it is
    assert "starting the serve stack for demo-classifier v2" in out
    result = json.loads((work / "results" / "v2-serve-probe.json").read_text())
    statuses = {c["id"]: c["status"] for c in result["checks"]}
    assert len(statuses) == 10
    client = mlflow_client(f"sqlite:///{work / 'mlflow.db'}")
    logged = re.search(r"^mlflow: run (\w+) ", out, re.MULTILINE)
    assert logged, out
    run_id = logged[1]
    metrics = client.get_run(run_id).data.metrics
    # Only a usable run is linked to the version (an unusable one never replaces evidence).
    tags = client.get_model_version("demo-classifier", "2").tags
    assert (tags.get(PROBE_RUN_TAG) == run_id) == (metrics["probe.held_target_rate"] == 1)
    # A loaded machine may not hold 120/s; the logged flag must follow the rule either way.
    replay = json.loads((work / "probe" / "serve-gate.json").read_text())["replay"]
    assert metrics["probe.held_target_rate"] == all(
        held_by_the_rule(e) for e in replay["endpoints"]), replay["endpoints"]
    if metrics["probe.held_target_rate"] == 1:
        # Every figure the replay feeds was measured and linked: none is an error. A figure of
        # the cache proof's capacity searches that a loaded machine could not measure is left
        # out of the run, and the check reading it is an error for that reason alone.
        for check in result["checks"]:
            if check["status"] == "error":
                ref = check["evidence"].get("missing", "")
                key = ref.rsplit("/", 1)[-1]
                assert key.startswith(CACHE_PROOF_FIGURES) and key not in metrics, check
    else:
        # Evidence from a run that did not hold its rate is never judged: it blocks.
        assert proc.returncode == 1 and "error" in statuses.values(), statuses
    assert metrics["cache.hit_ratio"] == pytest.approx(0.4, abs=0.05)  # the trace repeats 40%
    assert metrics["cache.hit_ratio_stats"] == metrics["cache.hit_ratio"]
    assert metrics["capacity.cached.rps"] > 0 and metrics["capacity.uncached.rps"] > 0
    assert "prometheus scraped the proxy: " in out
    urls = re.findall(r"http://127\.0\.0\.1:\d+", out.split("probing")[0])
    assert len(urls) == 3 and not any(listening(url) for url in urls)  # the stack is stopped
    assert_report(work, out, result, tmp_path)


def assert_report(work: Path, out: str, result: dict[str, object], tmp_path: Path) -> None:
    """The report's files are in the workdir, their paths printed last; the pictures carry
    the SLO lines, and Chromium shows the gate's verdict on report.html."""
    files = [work / "report.html", work / "latency.png", work / "percentiles.png"]
    assert out.splitlines()[-3:] == [f"  report  {files[0]}", f"  picture {files[1]}",
                                     f"  picture {files[2]}"]
    for picture in files[1:]:
        png = picture.read_bytes()
        assert all(pixels_of(png, c) > 100 for c in SLO_COLOURS.values()), picture
    shown = render_page(files[0], tmp_path / "serve-demo-report.png", 1280, 1800)
    assert png_size(shown.png.read_bytes()) == (1280, 1800) and colours(shown.png) > 20
    dom = Elements(shown.dom)
    word = "PASSED" if result["decision"] == "pass" else "BLOCKED"
    assert dom.lines[0] == word, dom.lines[:5]
    assert "latency-predict" in dom.text and "cost-per-1k" in dom.text
