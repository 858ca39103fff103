"""``text`` from the shared sample result, line for line: the prerequisite apart, under each
failing or erroring check its playbook line, owner and remedy, plain numbers, and the verdict
counting the playbook's checks apart from the prerequisite."""

from __future__ import annotations

import dataclasses

from gatekeeper.decide.result import Promotion
from gatekeeper.evaluate.interface import Status
from gatekeeper.render import FORMATS
from gatekeeper.render.text import render
from tests.support.results import sample_result

EXPECTED = """\
churn version 3 · milestone serve (Production-ready serve layer), baseline champion = version 2

prerequisite: PASS gatekeeper.earlier-milestones  earlier milestones passed: poc

  FAIL   latency-predict  predict: p95 = 74 ms > 40 ms, p99 = 161 ms > 80 ms
         playbooks/churn.yaml:44 · owner platform@example.com
         remedy: p95_ms 74 is 34 (85%) above the limit 40; p99_ms 161 is 81 (101%) above the limit 80
  ERROR  model-card       missing on churn v3: artifact 'model_card.md'
         playbooks/churn.yaml:52 · owner product@example.com
         remedy: add the missing evidence: log artifact 'model_card.md' with the model (mlflow.log_artifact)
  WARN   cost-per-1k      0.0000163991 per 1k > warn 0.00001
  PASS   accuracy-floor   accuracy = 0.953216 >= 0.9
  WAIVED pii-findings     privacy.pii_findings = 2 > 0
         waiver W-7: synthetic test data (approved by ciso@example.com, expires 2027-01-01)
  SKIP   gpu-util         not applicable: no accelerator in the cost model
  WARN   f1-advisory      f1 = 0.88 < 0.9 (advisory) (advisory)

BLOCKED by latency-predict, model-card (1 pass, 2 warn, 1 fail, 1 error, 1 skip, 1 waived; prerequisite: pass)
audit: .gatekeeper/audit.jsonl record 17 sha256:efefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef
"""  # noqa: E501  (the lines a user sees)


def test_sample_result_line_for_line() -> None:
    assert render(sample_result()) == EXPECTED
    assert FORMATS["text"] is render


def test_a_failed_prerequisite_blocks_apart_with_its_remedy() -> None:
    result = sample_result()
    pre = dataclasses.replace(
        result.checks[0], status=Status.FAIL,
        message="earlier milestone poc not passed for this version",
        remedy="gate the earlier milestones for this version first")
    lines = render(dataclasses.replace(result, checks=(pre, *result.checks[3:6]))).splitlines()
    assert lines[2:6] == [
        "prerequisite: FAIL gatekeeper.earlier-milestones  earlier milestone poc not passed for "
        "this version",
        "         playbooks/churn.yaml:40",
        "         remedy: gate the earlier milestones for this version first",
        ""]
    assert lines[-2] == ("BLOCKED by gatekeeper.earlier-milestones (1 pass, 1 warn, 1 waived; "
                         "prerequisite: fail)")


def test_a_pass_counts_the_playbook_checks_and_names_the_promotion() -> None:
    result = sample_result()
    passing = dataclasses.replace(result, checks=(result.checks[0], result.checks[4]),
                                  promotion=Promotion("serve-ready", "3", "2"))
    assert render(passing).splitlines()[-3:] == [
        "PASSED (1 pass; prerequisite: pass)",
        "promoted: alias 'serve-ready' -> version 3 (was version 2)",
        "audit: .gatekeeper/audit.jsonl record 17 sha256:" + "ef" * 32]


def test_without_prerequisite_the_verdict_keeps_its_first_form() -> None:
    result = sample_result()
    first = dataclasses.replace(result, checks=result.checks[4:7], audit=None)
    assert render(first).splitlines()[2:] == [
        "  PASS   accuracy-floor  accuracy = 0.953216 >= 0.9",
        "  WAIVED pii-findings    privacy.pii_findings = 2 > 0",
        "         waiver W-7: synthetic test data (approved by ciso@example.com, "
        "expires 2027-01-01)",
        "  SKIP   gpu-util        not applicable: no accelerator in the cost model",
        "",
        "PASSED (1 pass, 1 skip, 1 waived)"]
