"""Meaningless evidence fails closed through the real CLI: an infinite metric, a NaN param, a
secret pasted into a tag a check reads, a free cost model. Each run blocks (exit 1), promotes
nothing, and never echoes the unparsable value anywhere it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.faults.harness import Run, aliases, assert_fails_closed, gatekeeper
from tests.support.registry import seed_version

MODEL = "fraud"
# Looks like a live API key: what a careless `mlflow.set_tag` might carry.
SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e"

PLAYBOOK = """\
model: {model}
owners: {{product: p@example.com, data_science: d@example.com, platform: o@example.com}}
milestones:
  - id: poc
    title: POC validation
    stage: poc
    alias: poc-ok
    checks:
{checks}
  - id: serve
    title: Serve layer
    stage: serve
    alias: serve-ok
    checks:
      - {{id: p99, kind: metric_threshold, category: latency, owner: platform, key: p99_ms,
          max: 100}}
  - id: pilot
    title: Pilot
    stage: pilot
    alias: champion
    checks:
      - {{id: err, kind: metric_threshold, category: latency, owner: platform,
          key: error_rate, max: 0.01}}
"""


def playbook(folder: Path, *checks: str) -> Path:
    """A three-milestone playbook whose ``poc`` milestone holds ``checks`` (flow mappings)."""
    path = folder / "playbook.yaml"
    lines = "\n".join(f"      - {check}" for check in checks)
    path.write_text(PLAYBOOK.format(model=MODEL, checks=lines), encoding="utf-8")
    return path


def check_poc(book: Path, tracking_uri: str, tmp_path: Path, version: str
              ) -> tuple[Run, Path, Path]:
    """The gate on ``version`` at ``poc`` with --promote: text on stdout, a JSON result file
    and an audit log."""
    audit, result = tmp_path / "audit.jsonl", tmp_path / "result.json"
    run = gatekeeper("check", str(book), "--model", MODEL, "--version", version,
                     "--milestone", "poc", "--tracking-uri", tracking_uri,
                     "--audit-log", str(audit), "-o", "text", "-o", f"json={result}",
                     "--promote",
                     cwd=tmp_path)
    assert_fails_closed(run, codes={1})
    return run, audit, result


def checks_of(result: Path) -> dict[str, dict[str, object]]:
    return {c["id"]: c for c in json.loads(result.read_text(encoding="utf-8"))["checks"]}


def test_an_infinite_metric_blocks(tracking_uri: str, tmp_path: Path) -> None:
    # MLflow stores inf as the largest float; before, that passed a 'min' bound.
    version = seed_version(tracking_uri, MODEL, metrics={"auc": float("inf")}, log_model=False)
    before = aliases(tracking_uri, MODEL)
    book = playbook(tmp_path, "{id: auc-floor, kind: metric_threshold, category: quality, "
                    "owner: data_science, key: auc, min: 0.8}")
    run, audit, result = check_poc(book, tracking_uri, tmp_path, version)
    found = checks_of(result)["auc-floor"]
    assert (found["status"], found["message"]) == ("error",
                                                   "metric 'auc' = inf is not a finite number")
    assert aliases(tracking_uri, MODEL) == before == {}
    assert "metric 'auc' = inf is not a finite number" in audit.read_text(encoding="utf-8")
    assert "metric 'auc' = inf is not a finite number" in run.out


def test_a_nan_param_blocks(tracking_uri: str, tmp_path: Path) -> None:
    version = seed_version(tracking_uri, MODEL, metrics={"auc": 0.9},
                           params={"max_depth": "NaN"}, log_model=False)
    book = playbook(tmp_path, "{id: depth, kind: metric_threshold, category: quality, "
                    "owner: data_science, source: params, key: max_depth, min: 1}")
    _, _, result = check_poc(book, tracking_uri, tmp_path, version)
    found = checks_of(result)["depth"]
    assert (found["status"], found["message"]) == (
        "error", "param 'max_depth' = nan is not a finite number")
    assert aliases(tracking_uri, MODEL) == {}


def test_an_inf_param_blocks_a_min_bound(tracking_uri: str, tmp_path: Path) -> None:
    # Before: float("inf") parsed from the param and passed 'min: 1'.
    version = seed_version(tracking_uri, MODEL, metrics={"auc": 0.9},
                           params={"max_depth": "inf"}, log_model=False)
    book = playbook(tmp_path, "{id: depth, kind: metric_threshold, category: quality, "
                    "owner: data_science, source: params, key: max_depth, min: 1}")
    _, _, result = check_poc(book, tracking_uri, tmp_path, version)
    found = checks_of(result)["depth"]
    assert (found["status"], found["message"]) == (
        "error", "param 'max_depth' = inf is not a finite number")
    assert aliases(tracking_uri, MODEL) == {}


def test_a_secret_in_an_unparsable_tag_is_never_echoed(tracking_uri: str,
                                                       tmp_path: Path) -> None:
    version = seed_version(tracking_uri, MODEL, metrics={"auc": 0.9},
                           run_tags={"security.critical_vulnerabilities": SECRET},
                           log_model=False)
    book = playbook(tmp_path, "{id: vulns, kind: metric_threshold, category: security, "
                    "owner: platform, source: tags, key: security.critical_vulnerabilities, "
                    "max: 0}")
    run, audit, result = check_poc(book, tracking_uri, tmp_path, version)
    found = checks_of(result)["vulns"]
    assert found["status"] == "error"
    assert re.fullmatch(r"tag 'security\.critical_vulnerabilities' is not a number "
                        r"\(str, 44 chars, sha256:[0-9a-f]{8}…\)", str(found["message"]))
    written = {"stdout": run.out, "stderr": run.err, "json": result.read_text(encoding="utf-8"),
               "audit": audit.read_text(encoding="utf-8")}
    # Each was written, and names the check, so the absence below means something.
    assert all("vulns" in text for text in written.values() if text is not run.err)
    for where, text in written.items():
        assert SECRET not in text, where
        assert SECRET[8:24] not in text, where  # no part of it either
    assert aliases(tracking_uri, MODEL) == {}


def test_a_free_cost_model_is_refused_at_load(tmp_path: Path) -> None:
    # A replica that costs nothing makes every cost zero, which passes any budget.
    book = playbook(tmp_path, "{id: cost, kind: cost, category: cost, owner: platform, "
                    "budget_per_1k: 0.01, cost_model: {hardware_per_hour: 0}}")
    run = gatekeeper("validate", str(book), cwd=tmp_path)
    assert_fails_closed(run, codes={2})
    assert re.search(rf"^{re.escape(str(book))}:9:\d+: \S*cost_model\.hardware_per_hour: "
                     "Input should be greater than 0$", run.err, re.MULTILINE), run.err
