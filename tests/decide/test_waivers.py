"""Applying waivers: which failures a waiver covers (model, version range, milestone, check id
or pattern), and every way one does nothing (expired, not yet granted, not approved, over a
policy's cap, a forbidden category, an error, the prerequisite, nothing to waive)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.decide.result import CheckResult, Decision, Result, WaiverReport
from gatekeeper.decide.verdict import decide
from gatekeeper.decide.waivers import Scope, apply_waivers, warnings
from gatekeeper.evaluate.interface import Category, Status
from gatekeeper.load.policy import LoadedPolicy, load_policy
from gatekeeper.load.waivers import LoadedWaivers, load_waivers
from tests.support.results import sample_result

NOW = datetime(2026, 12, 15, tzinfo=UTC)
SCOPE = Scope("churn", "3", "serve")


def check(check_id: str, status: Status, category: Category = Category.LATENCY,
          **extra: Any) -> CheckResult:
    return CheckResult(id=check_id, kind=extra.pop("kind", "latency"), category=category,
                       status=status, blocking=extra.pop("blocking", True),
                       message=f"{check_id} {status.value}", **extra)


CHECKS = (
    check("gatekeeper.earlier-milestones", Status.FAIL, Category.GOVERNANCE,
          kind="prerequisite"),
    check("latency-predict", Status.FAIL),
    check("latency-batch", Status.FAIL),
    check("model-card", Status.ERROR, Category.GOVERNANCE, kind="required_evidence"),
    check("pii-findings", Status.FAIL, Category.PRIVACY, kind="metric_threshold"),
    check("accuracy-floor", Status.PASS, Category.QUALITY, kind="metric_threshold"),
)


def waivers(tmp_path: Path, *items: dict[str, Any]) -> LoadedWaivers:
    lines = ["waivers:"]
    for item in items:
        fields = {"id": "W-1", "check": "latency-predict", "model": "churn", "versions": "3",
                  "milestone": "serve", "reason": "shared node", "owner": "alice",
                  "approver": "carol", "ticket": "RISK-1", "granted": "2026-12-01",
                  "expires": "2026-12-31", **item}
        lines.append("  - " + "\n    ".join(f"{k}: {v!r}" if isinstance(v, str) else
                                            f"{k}: {v}" for k, v in fields.items()
                                            if v is not None))
    path = tmp_path / "waivers.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_waivers(path)


def policy(tmp_path: Path, rules: str) -> LoadedPolicy:
    path = tmp_path / "org.yaml"
    path.write_text(f"id: org\nwaivers:\n{rules}", encoding="utf-8")
    loaded, problems = load_policy(path)
    assert loaded is not None, problems
    return loaded


def applied(loaded: LoadedWaivers, policies: tuple[LoadedPolicy, ...] = (),
            now: datetime = NOW, checks: tuple[CheckResult, ...] = CHECKS
            ) -> tuple[dict[str, str], WaiverReport]:
    out, report = apply_waivers(checks, loaded, SCOPE, policies, now)
    return {c.id: c.status.value for c in out}, report


def test_a_valid_waiver_turns_the_failure_it_names_into_waived(tmp_path: Path) -> None:
    loaded = waivers(tmp_path, {})
    out, report = apply_waivers(CHECKS, loaded, SCOPE, (), NOW)
    waived = next(c for c in out if c.id == "latency-predict")
    assert waived.status is Status.WAIVED and not waived.blocks
    assert waived.waiver == {
        "id": "W-1", "reason": "shared node", "owner": "alice", "approver": "carol",
        "ticket": "RISK-1", "granted": "2026-12-01", "expires": "2026-12-31",
        "where": f"{tmp_path / 'waivers.yaml'}:2"}
    assert [(n.id, n.checks, n.note) for n in report.used] == [
        ("W-1", ("latency-predict",), "")]
    assert report.ignored == report.unmatched == ()
    assert report.files[0].digest == loaded.sources[0].digest
    assert [c.status for c in out if c.id == "latency-batch"] == [Status.FAIL]


def test_a_pattern_covers_every_failing_check_it_matches(tmp_path: Path) -> None:
    statuses, report = applied(waivers(tmp_path, {"check": "latency-*"}))
    assert (statuses["latency-predict"], statuses["latency-batch"]) == ("waived", "waived")
    assert report.used[0].checks == ("latency-predict", "latency-batch")


def test_the_verdict_passes_once_every_blocking_failure_is_waived(tmp_path: Path) -> None:
    checks = CHECKS[1:3] + CHECKS[5:]
    out, _ = apply_waivers(checks, waivers(tmp_path, {"check": "latency-*"}), SCOPE, (), NOW)
    assert decide(checks) is Decision.BLOCK
    assert decide(out) is Decision.PASS


@pytest.mark.parametrize(("field", "value"), [
    ("model", "fraud"), ("milestone", "pilot"), ("versions", ">=4"), ("versions", "[1, 2]"),
])
def test_a_waiver_for_another_model_version_or_milestone_is_out_of_scope(
        tmp_path: Path, field: str, value: str) -> None:
    item: dict[str, Any] = {field: value}
    if value.startswith("["):
        item[field] = [1, 2]
    statuses, report = applied(waivers(tmp_path, item))
    assert statuses["latency-predict"] == "fail"
    assert report.used == report.ignored == report.unmatched == ()


@pytest.mark.parametrize(("versions", "waived"), [
    (">=3,<5", True), ([1, ">=3"], True), ("*", True), ("!=3", False), ("<3", False)])
def test_version_ranges_decide_scope(tmp_path: Path, versions: Any, waived: bool) -> None:
    statuses, _ = applied(waivers(tmp_path, {"versions": versions}))
    assert statuses["latency-predict"] == ("waived" if waived else "fail")


@pytest.mark.parametrize(("item", "now", "note"), [
    ({}, datetime(2026, 12, 31, tzinfo=UTC), "expired 2026-12-31"),
    ({"expires": "2026-12-15T00:00:00Z"}, NOW, "expired 2026-12-15T00:00:00Z"),
    ({}, datetime(2026, 11, 30, tzinfo=UTC), "not yet granted (granted 2026-12-01)"),
    ({"approver": "Alice "}, NOW, "not approved: the approver is the owner (alice); another "
                                  "person must approve"),
    ({"approver": None}, NOW, "not approved: no approver (someone other than the owner must "
                              "approve)"),
])
def test_an_expired_early_or_unapproved_waiver_does_nothing_and_says_why(
        tmp_path: Path, item: dict[str, Any], now: datetime, note: str) -> None:
    statuses, report = applied(waivers(tmp_path, item), now=now)
    assert statuses["latency-predict"] == "fail"
    assert report.used == ()
    assert [(n.id, n.checks, n.note) for n in report.ignored] == [
        ("W-1", ("latency-predict",), note)]
    assert warnings(report) == [f"waiver W-1 ({tmp_path / 'waivers.yaml'}:2) ignored: {note}"]


def test_the_last_instant_before_expiry_still_waives(tmp_path: Path) -> None:
    statuses, _ = applied(waivers(tmp_path, {}), now=datetime(2026, 12, 30, 23, 59, 59,
                                                               tzinfo=UTC))
    assert statuses["latency-predict"] == "waived"


def test_a_policy_cap_on_duration_is_enforced(tmp_path: Path) -> None:
    org = policy(tmp_path, "  max_days: 14\n")
    statuses, report = applied(waivers(tmp_path, {}), (org,))
    assert statuses["latency-predict"] == "fail"
    assert report.ignored[0].note == (
        f"policy org ({tmp_path / 'org.yaml'}:3) caps waivers at 14 days; this one runs 30 "
        "days (2026-12-01 to 2026-12-31)")
    statuses, _ = applied(waivers(tmp_path, {"granted": "2026-12-02",
                                               "expires": "2026-12-16"}), (org,))
    assert statuses["latency-predict"] == "waived"


def test_a_forbidden_category_is_never_waived_and_others_still_are(tmp_path: Path) -> None:
    org = policy(tmp_path, "  forbid_categories: [privacy, security]\n")
    statuses, report = applied(waivers(tmp_path, {"check": "*"}), (org,))
    assert statuses["pii-findings"] == "fail"
    assert (statuses["latency-predict"], statuses["latency-batch"]) == ("waived", "waived")
    assert report.used[0].checks == ("latency-predict", "latency-batch")
    assert report.ignored[0].checks == (
        "gatekeeper.earlier-milestones", "model-card", "pii-findings")
    assert report.ignored[0].note == (
        "gatekeeper.earlier-milestones: the prerequisite (earlier milestones passed) can never "
        "be waived; model-card: an error (evidence not seen) is never waived: only a failure "
        "the gate measured can be accepted; pii-findings: policy org "
        f"({tmp_path / 'org.yaml'}:3) forbids waiving privacy checks")


def test_the_prerequisite_is_never_waived(tmp_path: Path) -> None:
    statuses, report = applied(waivers(tmp_path, {"check": "gatekeeper.*"}))
    assert statuses["gatekeeper.earlier-milestones"] == "fail"
    assert report.ignored[0].note == ("the prerequisite (earlier milestones passed) can never "
                                      "be waived")


@pytest.mark.parametrize(("check_id", "kind"), [("gatekeeper.baseline-alias", "alias_integrity"),
                                                ("gatekeeper.lineage", "lineage")])
def test_a_policy_guardrail_is_never_waived(tmp_path: Path, check_id: str, kind: str) -> None:
    guardrail = check(check_id, Status.FAIL, Category.GOVERNANCE, kind=kind)
    statuses, report = applied(waivers(tmp_path, {"check": check_id}), checks=(guardrail,))
    assert statuses[check_id] == "fail"
    assert report.ignored[0].note == (f"{kind} is an organisation policy's guardrail, checked "
                                      "by gatekeeper itself: no waiver covers it")


def test_an_error_is_never_waived(tmp_path: Path) -> None:
    statuses, report = applied(waivers(tmp_path, {"check": "model-card"}))
    assert statuses["model-card"] == "error"
    assert report.ignored[0].note.startswith("an error (evidence not seen) is never waived")


def test_a_waiver_that_matches_nothing_is_a_warning(tmp_path: Path) -> None:
    loaded = waivers(tmp_path, {"check": "latncy-*"}, {"id": "W-2", "check": "accuracy-floor"})
    statuses, report = applied(loaded)
    assert statuses["latency-predict"] == "fail"
    assert [(n.id, n.checks, n.note) for n in report.unmatched] == [
        ("W-1", (), "no check of milestone serve matches 'latncy-*'"),
        ("W-2", ("accuracy-floor",), "nothing to waive: accuracy-floor is pass")]
    where = tmp_path / "waivers.yaml"
    assert warnings(report) == [
        f"waiver W-1 ({where}:2) matched nothing: no check of milestone serve matches "
        "'latncy-*'",
        f"waiver W-2 ({where}:13) matched nothing: nothing to waive: accuracy-floor is pass"]


def test_an_advisory_failure_has_nothing_to_waive(tmp_path: Path) -> None:
    checks = (check("f1", Status.WARN, Category.QUALITY, blocking=False),)
    statuses, report = applied(waivers(tmp_path, {"check": "f1"}), checks=checks)
    assert statuses == {"f1": "warn"}
    assert report.unmatched[0].note == "nothing to waive: f1 is warn"


def test_the_first_valid_waiver_wins_and_a_later_one_has_nothing_left(tmp_path: Path) -> None:
    loaded = waivers(tmp_path, {}, {"id": "W-2", "check": "latency-*"})
    _, report = applied(loaded)
    assert [(n.id, n.checks) for n in report.used] == [
        ("W-1", ("latency-predict",)), ("W-2", ("latency-batch",))]


def test_the_waiver_report_survives_the_json_round_trip(tmp_path: Path) -> None:
    loaded = waivers(tmp_path, {"check": "latency-*"}, {"id": "W-2", "check": "model-card"},
                     {"id": "W-3", "check": "nothing"})
    out, report = apply_waivers(sample_result().checks, loaded, SCOPE, (), NOW)
    result = Result(**{**sample_result().__dict__, "checks": out, "waivers": report})
    data = json.loads(json.dumps(result.to_dict()))
    assert data["waivers"]["used"] == [{"id": "W-1", "where": f"{tmp_path / 'waivers.yaml'}:2",
                                        "checks": ["latency-predict"], "note": ""}]
    assert Result.from_dict(data) == result
    assert Result.from_dict({**data, "waivers": None}).waivers is None
