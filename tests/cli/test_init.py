"""`gatekeeper init` against a real SQLite MLflow registry: the playbook it writes validates
with the real `gatekeeper validate`, its poc milestone gates the same version with a verdict
(never exit 2 or 3), and it never overwrites a file unasked."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.cli import run
from tests.support.registry import seed_version

LOGGED = {"accuracy": 0.95, "f1": 0.93, "log_loss": 0.21, "latency.predict.p95_ms": 32.0,
          "latency.predict.p99_ms": 71.0, "throughput_rps": 120.0,
          "security.critical_vulnerabilities": 0.0, "privacy.pii_findings": 0.0,
          "epochs": 12.0}


def seed(uri: str, **kw: object) -> str:
    return seed_version(uri, "churn", metrics=LOGGED, run_tags={"data_classification": "internal"},
                        artifacts={"model_card.md": "# churn\n"}, description="churn v",
                        **kw)  # type: ignore[arg-type]


def init(uri: str, out: Path, *args: str) -> int:
    return run(["init", "--model", "churn", "--tracking-uri", uri, "--out", str(out), *args])


def test_the_playbook_validates_and_gates_the_version_it_came_from(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tracking_uri, aliases=["champion"])
    version = seed(tracking_uri)
    out = tmp_path / "churn.yaml"
    assert init(tracking_uri, out, "--version", version) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"wrote {out}: 10 checks for model churn version 2",
        f"next: settle every DECIDE comment, then `gatekeeper validate {out}`"]
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Starting playbook for churn, written by `gatekeeper init` from "
                           "version 2 (run ")
    for expected in (
        "baseline: champion",
        "      # DECIDE: the lowest accuracy you would ship; version 2 logged 0.95\n"
        "      # (min is 2% below it, warn_min at it).\n",
        "      - id: accuracy-floor\n        kind: metric_threshold\n        category: quality\n"
        "        owner: data_science\n        key: accuracy\n        min: 0.931\n"
        "        warn_min: 0.95\n",
        "      - id: log_loss-cap\n", "        max: 0.215\n        warn_max: 0.21\n",
        "      # Also logged, not gated: epochs",
        "      - id: accuracy-vs-champion\n        kind: baseline_comparison\n",
        "        tags: [data_classification]\n        artifacts: [model_card.md]\n"
        "        signature: true\n        input_example: true\n"
        "        version_description: true\n",
        "        endpoint: predict\n        p95_ms: 40\n        p99_ms: 88.8\n",
        "      - id: cost-per-1k\n",
        # The currency and the operating point are written, never assumed silently.
        "  currency: USD               # DECIDE: the ISO 4217 code of your prices\n",
        "        price_at: offered\n",
        "        key: security.critical_vulnerabilities\n"
        "        max: 0\n",
        "    alias: champion\n",
    ):
        assert expected in text
    assert run(["validate", str(out)]) == 0
    assert capsys.readouterr().out == "1 playbook(s) and 0 policies valid\n"
    code = run(["check", str(out), "--model", "churn", "--version", version, "--milestone",
                "poc", "--tracking-uri", tracking_uri, "--audit-log",
                str(tmp_path / "audit.jsonl")])
    assert code == 0, capsys.readouterr()


def test_without_version_or_evidence_it_uses_the_newest_and_fails_closed(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tracking_uri)
    seed_version(tracking_uri, "churn", metrics={}, log_model=False)
    out = tmp_path / "churn.yaml"
    assert init(tracking_uri, out) == 0
    assert "churn version 2" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert "baseline:" not in text and "baseline_comparison" not in text
    assert "cost_model" not in text
    assert "Version 2 has neither yet: this check errors until both are logged." in text
    assert run(["validate", str(out)]) == 0
    code = run(["check", str(out), "--model", "churn", "--version", "2", "--milestone", "poc",
                "--tracking-uri", tracking_uri, "--audit-log", str(tmp_path / "a.jsonl")])
    assert code == 1  # no evidence logged: blocked, not a pass


def test_an_existing_file_is_kept_without_force(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tracking_uri)
    out = tmp_path / "churn.yaml"
    out.write_text("# mine\n", encoding="utf-8")
    assert init(tracking_uri, out) == 2
    assert capsys.readouterr().err == (f"gatekeeper: error: --out {out}: already exists; not "
                                       "overwritten\nhint: pass --force to replace it, or "
                                       "choose another --out\n")
    assert out.read_text(encoding="utf-8") == "# mine\n"
    assert init(tracking_uri, out, "--force") == 0
    assert out.read_text(encoding="utf-8").startswith("# Starting playbook for churn")


def test_the_default_file_is_under_playbooks(tracking_uri: str) -> None:
    seed(tracking_uri)
    assert run(["init", "--model", "churn", "--tracking-uri", tracking_uri]) == 0
    assert Path("playbooks/churn.yaml").is_file()


def test_an_unknown_model_or_version_is_exit_2(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tracking_uri)
    out = tmp_path / "x.yaml"
    assert run(["init", "--model", "nope", "--tracking-uri", tracking_uri,
                "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("gatekeeper: error: model 'nope' is not "
                                              "registered at ")
    assert init(tracking_uri, out, "--version", "7") == 2
    assert capsys.readouterr().err.startswith("gatekeeper: error: model 'churn' has no "
                                              "version 7; its versions: 1")
    assert not out.exists()
