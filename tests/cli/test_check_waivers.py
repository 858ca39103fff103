"""`gatekeeper check --waivers` end to end on a real SQLite MLflow registry: a failing check
waived passes (exit 0) with the waiver in the JSON result and the audit log; the same waiver
judged after its expiry (--now) does nothing, is reported, and the version is blocked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatekeeper.cli import run
from tests.cli.test_check import GOOD, PLAYBOOK, seed

WAIVERS = """\
waivers:
  - id: W-7
    check: auc-*
    model: fraud
    versions: ">=1,<3"
    milestone: poc
    reason: the evaluation set is being relabelled
    owner: ds-lead@example.com
    approver: risk@example.com
    ticket: RISK-7
    granted: 2026-12-01
    expires: 2026-12-31
"""


def test_a_waived_failure_passes_and_an_expired_waiver_blocks(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed(tracking_uri, {**GOOD, "auc": 0.7})
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS, encoding="utf-8")
    audit, out = tmp_path / "audit.jsonl", tmp_path / "result.json"

    def gate(now: str) -> int:
        return run(["check", str(PLAYBOOK), "--model", "fraud", "--version", version,
                    "--milestone", "poc", "--tracking-uri", tracking_uri, "--audit-log",
                    str(audit), "--waivers", str(waivers), "--now", now, "-o", "text",
                    "-o", f"json={out}"])

    assert gate("2026-12-15T00:00:00Z") == 0
    text = capsys.readouterr().out.splitlines()
    assert "  WAIVED auc-floor        auc = 0.7, outside min 0.8, warn_min 0.85" in text
    assert ("         waiver W-7: the evaluation set is being relabelled (approved by "
            "risk@example.com, expires 2026-12-31)") in text
    assert "PASSED (1 pass, 1 skip, 1 waived)" in text
    assert "waivers: 1 used, 0 ignored, 0 unmatched" in text
    result = json.loads(out.read_text())
    floor = next(c for c in result["checks"] if c["id"] == "auc-floor")
    assert (result["decision"], result["exit_code"], floor["status"]) == ("pass", 0, "waived")
    assert floor["waiver"] == {
        "id": "W-7", "reason": "the evaluation set is being relabelled",
        "owner": "ds-lead@example.com", "approver": "risk@example.com", "ticket": "RISK-7",
        "granted": "2026-12-01", "expires": "2026-12-31", "where": f"{waivers}:2"}
    assert result["waivers"]["used"] == [
        {"id": "W-7", "where": f"{waivers}:2", "checks": ["auc-floor"], "note": ""}]
    assert result["summary"]["waived"] == 1

    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["action"] for r in records] == ["decision", "waiver_use"]
    assert records[0]["waivers"] == [{"check": "auc-floor", "waiver": floor["waiver"]}]
    assert records[0]["waiver_files"] == result["waivers"]["files"]
    assert (records[1]["check"], records[1]["waiver"]["id"],
            records[1]["decision_ref"]["hash"]) == ("auc-floor", "W-7", records[0]["hash"])
    assert run(["audit", "verify", "--audit-log", str(audit)]) == 0
    capsys.readouterr()

    assert gate("2026-12-31T00:00:00Z") == 1
    captured = capsys.readouterr()
    assert (f"gatekeeper: warning: waiver W-7 ({waivers}:2) ignored: expired 2026-12-31"
            in captured.err.splitlines())
    assert "BLOCKED by auc-floor (1 pass, 1 fail, 1 skip)" in captured.out
    result = json.loads(out.read_text())
    assert result["decision"] == "block"
    assert result["waivers"]["ignored"] == [
        {"id": "W-7", "where": f"{waivers}:2", "checks": ["auc-floor"],
         "note": "expired 2026-12-31"}]
    last = json.loads(audit.read_text().splitlines()[-1])
    assert (last["action"], last["waivers"], last["waivers_ignored"]) == (
        "decision", [], result["waivers"]["ignored"])


def test_a_bad_waiver_file_or_now_is_invalid_input_before_evaluating(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "waivers.yaml"
    bad.write_text(WAIVERS.replace("versions: \">=1,<3\"", "versions: latest"),
                   encoding="utf-8")
    args = ["check", str(PLAYBOOK), "--model", "fraud", "--version", "1", "--milestone", "poc",
            "--tracking-uri", "sqlite:///" + str(tmp_path / "absent.db"),
            "--audit-log", str(tmp_path / "audit.jsonl")]
    assert run([*args, "--waivers", str(bad)]) == 2
    assert (f"{bad}:5:5: waivers[0].versions: 'latest' in 'latest' is not a version or a "
            "comparison like '>=3'") in capsys.readouterr().err
    assert run([*args, "--waivers", str(bad), "--now", "soon"]) == 2
    assert capsys.readouterr().err.startswith(
        "gatekeeper: error: --now: 'soon' is not an ISO 8601 date/time")
    assert not (tmp_path / "audit.jsonl").exists()
