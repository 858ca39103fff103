"""Cost per 1,000 through the real CLI: the same version probed at 20/s and then at 200/s,
plus one capacity search, against a loopback target with a fixed 5 ms service time, logged to
a real SQLite registry and gated by `gatekeeper check`.

Priced at capacity (the default) the cost does not move with the rate the probe happened to
send; priced at the offered rate (only when asked) it moves ten-fold. About 6 s of load.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gatekeeper.cli import run
from tests.probe.target import Reply, Target, always
from tests.support.registry import seed_version

STEADY = ["--duration", "1.5s", "--warmup", "0.3s", "--min-samples", "10"]
# 0.36 an hour: at 100/s a thousand requests cost 0.36 / 360 = 0.001; at 20/s, 0.005.
PLAYBOOK = """\
model: fraud
owners: {product: p@example.com, platform: o@example.com, data_science: d@example.com}
cost_model: {currency: EUR, hardware_per_hour: 0.36}
milestones:
  - {id: poc, title: POC, stage: poc, alias: poc-ok, checks: [
      {id: acc, kind: metric_threshold, category: quality, owner: ds, key: accuracy, min: 0.5}]}
  - id: serve
    title: Serve layer
    stage: serve
    alias: serve-ok
    checks:
      - {id: at-capacity, kind: cost, category: cost, owner: platform, budget_per_1k: 1}
      - {id: at-offered, kind: cost, category: cost, owner: platform, budget_per_1k: 1,
         price_at: offered, source: probe}
  - {id: pilot, title: Pilot, stage: pilot, alias: champion, checks: [
      {id: err, kind: metric_threshold, category: latency, owner: platform, key: e, max: 1}]}
"""


def probe(url: str, tracking_uri: str, version: str, out: Path, *args: str) -> bool:
    """One probe logged against ``version``; whether it was usable (and so linked)."""
    run(["probe", url, "--endpoint", "predict=/", *args, "--model", "fraud", "--version",
         version, "--tracking-uri", tracking_uri, "--out", str(out)])
    return bool(json.loads((out / "result.json").read_text())["usable"])


def gate(book: Path, tracking_uri: str, version: str, folder: Path, name: str
         ) -> dict[str, dict[str, Any]]:
    """The serve milestone's checks by id (the prerequisite blocks; the checks still run)."""
    out = folder / f"{name}.json"
    run(["check", str(book), "--model", "fraud", "--version", version, "--milestone", "serve",
         "--tracking-uri", tracking_uri, "--audit-log", str(folder / "audit.jsonl"),
         "-o", f"json={out}", "-o", f"text={folder / name}.txt"])
    result = json.loads(out.read_text())
    return {c["id"]: c for c in result["checks"]}


def test_cost_at_capacity_does_not_move_with_the_probed_rate(tracking_uri: str,
                                                              tmp_path: Path) -> None:
    book = tmp_path / "playbook.yaml"
    book.write_text(PLAYBOOK)
    version = seed_version(tracking_uri, "fraud", metrics={"accuracy": 0.9}, log_model=False)
    with Target(always(Reply(delay_s=0.005))) as url:
        slow_held = probe(url, tracking_uri, version, tmp_path / "at20", "--rate", "20",
                          *STEADY)
        searched = probe(url, tracking_uri, version, tmp_path / "capacity", "--rate", "50",
                         "--duration", "1s", "--warmup", "0.3s", "--min-samples", "10",
                         "--find-capacity", "--slo-p99-ms", "500", "--max-rate", "100",
                         "--max-steps", "2")
        assert searched, "no step of the capacity search met a 500 ms P99 on a 5 ms target"
        after_20 = gate(book, tracking_uri, version, tmp_path, "after-20")
        fast_held = probe(url, tracking_uri, version, tmp_path / "at200", "--rate", "200",
                          *STEADY)
    after_200 = gate(book, tracking_uri, version, tmp_path, "after-200")

    capacity = json.loads((tmp_path / "capacity" / "result.json").read_text())
    found = capacity["capacity"]["capacity_rps"]
    for checks in (after_20, after_200):
        priced = checks["at-capacity"]
        assert priced["status"] == "pass", priced["message"]
        assert priced["observed"]["operating_point"] == {
            "price_at": "capacity", "rate_rps": found, "replicas": 1, "capacity_rps": found}
        assert priced["observed"]["currency"] == "EUR"
        assert priced["observed"]["profile"] == "capacity"
    # Whatever rate the last steady probe sent, the price is that of the capacity found.
    assert after_20["at-capacity"]["observed"]["total"] == \
        after_200["at-capacity"]["observed"]["total"] == 0.36 / (found * 3.6)
    assert after_20["at-capacity"]["message"] == (
        f"cost = {0.36 / (found * 3.6):g} EUR per 1k <= budget 1 EUR, priced at capacity "
        f"{found:g}/s on 1 replica (probe run {capacity['mlflow']['run_id']}, profile "
        "capacity)")

    if not (slow_held and fast_held):
        return  # a loaded machine lagged: an unusable steady run is (rightly) never priced
    offered = [c["at-offered"]["observed"] for c in (after_20, after_200)]
    rates = [o["operating_point"]["rate_rps"] for o in offered]
    assert 18 < rates[0] < 22 and 180 < rates[1] < 220, rates
    # Priced at the rate the probe sent, the same version costs ten times less at 200/s.
    assert 8 < offered[0]["total"] / offered[1]["total"] < 12.5, offered
    text = (tmp_path / "after-200.txt").read_text()
    assert re.search(r"at-offered +cost = 0\.000\d+ EUR per 1k <= budget 1 EUR, priced at "
                     r"the offered rate [\d.]+/s on 1 replica \(probe run \w+, profile "
                     r"steady\)", text), text
    assert "e-0" not in text
