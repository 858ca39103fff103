"""Entries built from a Result: contents per the contract, and nothing that must not be there."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.decide.result import AuditRef, CheckResult, ModelRef, PlaybookRef, Promotion, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.record import (
    AuditLog,
    Identity,
    decision_entry,
    promotion_entry,
    recorded_promotion_entry,
    refusal_entry,
)
from gatekeeper.record.records import to_plain

MakeResult = Callable[..., Result]
MakeCheck = Callable[..., CheckResult]
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def blocked(make_result: MakeResult, make_check: MakeCheck) -> Result:
    return make_result(
        make_check("auc", Status.PASS, observed=0.91, threshold={"min": 0.8},
                   evidence={"metric": "runs:/run-3/auc"}),
        make_check("p95", Status.FAIL, observed=412.0, threshold={"max": 300},
                   message="p95 latency 412 ms > 300 ms"),
        make_check("pii", Status.ERROR, message="scanner unreachable"),
        make_check("drift", Status.FAIL, blocking=False, message="drift 0.3"),
        make_check("card", Status.WAIVED, message="model card missing",
                   waiver={"id": "W-1", "expires": "2024-06-01", "approved_by": "bob"}),
    )


def test_decision_entry(blocked: Result, identity: Identity) -> None:
    entry = decision_entry(blocked, identity, now=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))

    assert entry == {
        "action": "decision",
        "actor": "alice",
        "actor_source": "GITHUB_ACTOR",
        "ci": {"GITHUB_REPOSITORY": "acme/models", "GITHUB_RUN_ID": "42"},
        "model": {"name": "churn", "version": "3", "run_id": "run-3", "source": "models:/m/3"},
        "milestone": "staging",
        "playbook": {"path": "playbooks/churn.yaml", "digest": DIGEST, "git_commit": "c0ffee",
                     "milestone_digest": None},
        "criteria": {
            "auc": crit(threshold={"min": 0.8}),
            "p95": crit(threshold={"max": 300}),
            "pii": crit(),
            "drift": crit(blocking=False),
            "card": crit(),
        },
        "evidence": {
            "auc": {"status": "pass", "observed": 0.91, "message": "auc is pass",
                    "evidence": {"metric": "runs:/run-3/auc"}},
            "p95": {"status": "fail", "observed": 412.0, "message": "p95 latency 412 ms > 300 ms",
                    "evidence": {}},
            "pii": {"status": "error", "observed": None, "message": "scanner unreachable",
                    "evidence": {}},
            "drift": {"status": "fail", "observed": None, "message": "drift 0.3", "evidence": {}},
            "card": {"status": "waived", "observed": None, "message": "model card missing",
                     "evidence": {}},
        },
        "decision": "block",
        "reasons": ["p95: p95 latency 412 ms > 300 ms", "pii: scanner unreachable"],
        "waivers": [
            {"check": "card",
             "waiver": {"id": "W-1", "expires": "2024-06-01", "approved_by": "bob"}},
        ],
        "baseline": {"alias": "champion", "version": "2", "run_id": "run-2"},
        "policies": [],
        "summary": {"pass": 1, "warn": 0, "fail": 2, "error": 1, "skip": 0, "waived": 1},
        "started_at": "2024-05-01T11:59:58Z",
        "finished_at": "2024-05-01T11:59:59Z",
        "gatekeeper_version": "0.1.0",
        "evidence_digests": {},
        "retain_until": "2024-11-02T00:00:00Z",  # the end of the day after 183 days
    }
    # Plain JSON all the way down: the enums became their values.
    assert json.loads(json.dumps(entry)) == entry


def crit(blocking: bool = True, threshold: Any = None) -> dict[str, Any]:
    return {"kind": "metric_threshold", "category": "quality", "blocking": blocking,
            "threshold": threshold}


def test_passing_decision_has_no_reasons(make_result: MakeResult, identity: Identity) -> None:
    entry = decision_entry(make_result(), identity)
    assert (entry["decision"], entry["reasons"], entry["waivers"]) == ("pass", [], [])


def test_empty_gate_says_why_it_blocks(make_result: MakeResult, identity: Identity) -> None:
    result = make_result()
    empty = Result(**{**result.__dict__, "checks": ()})
    entry = decision_entry(empty, identity)
    assert (entry["decision"], entry["reasons"]) == (
        "block", ["no checks: an empty gate never passes"]
    )


def test_duplicate_check_ids_are_refused(
    make_result: MakeResult, make_check: MakeCheck, identity: Identity
) -> None:
    result = make_result(make_check("auc", Status.PASS), make_check("auc", Status.FAIL))
    with pytest.raises(ValueError, match="duplicate check id 'auc'"):
        decision_entry(result, identity)


def test_promotion_entry(make_result: MakeResult, identity: Identity) -> None:
    result = make_result().with_audit(AuditRef(log="a.jsonl", seq=7, hash="sha256:77"))
    entry = promotion_entry(result, Promotion("staging", "3", "2"), identity)

    assert entry["action"] == "promotion"
    assert entry["promotion"] == {"alias": "staging", "version": "3", "previous_version": "2"}
    assert entry["decision_ref"] == {"log": "a.jsonl", "seq": 7, "hash": "sha256:77"}
    assert (entry["decision"], entry["milestone"]) == ("pass", "staging")
    assert "criteria" not in entry and "evidence" not in entry


def test_recorded_promotion_entry(identity: Identity) -> None:
    entry = recorded_promotion_entry(
        ModelRef("churn", "3", "run-3", "models:/m/3"),
        "staging",
        PlaybookRef("playbooks/churn.yaml", DIGEST, None),
        Promotion("staging", "3", None),
        AuditRef(log="a.jsonl", seq=7, hash="sha256:77"),
        identity,
        now=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        max_age=timedelta(hours=24),
    )
    assert_kept_six_months(entry.pop("retain_until"))
    assert entry == {
        "action": "promotion",
        "actor": "alice",
        "actor_source": "GITHUB_ACTOR",
        "ci": {"GITHUB_REPOSITORY": "acme/models", "GITHUB_RUN_ID": "42"},
        "model": {"name": "churn", "version": "3", "run_id": "run-3", "source": "models:/m/3"},
        "milestone": "staging",
        "playbook": {"path": "playbooks/churn.yaml", "digest": DIGEST, "git_commit": None,
                     "milestone_digest": None},
        "decision": "pass",
        "reasons": [],
        "promotion": {"alias": "staging", "version": "3", "previous_version": None},
        "decision_ref": {"log": "a.jsonl", "seq": 7, "hash": "sha256:77"},
        "judged_at": "2024-05-01T12:00:00.000Z",
        "max_age_s": 86400.0,
    }


def test_promotion_of_a_blocked_result_is_a_bug(blocked: Result, identity: Identity) -> None:
    with pytest.raises(ValueError, match="cannot record a promotion of a 'block' result"):
        promotion_entry(blocked, Promotion("staging", "3", None), identity)


def test_refusal_entry(identity: Identity) -> None:
    entry = refusal_entry(
        ModelRef("churn", "3", "run-3", "models:/m/3"),
        "production",
        PlaybookRef("playbooks/churn.yaml", DIGEST, None),
        "no passing decision for milestone staging",
        identity,
        alias="prod",
    )
    assert_kept_six_months(entry.pop("retain_until"))
    assert entry == {
        "action": "promotion_refused",
        "actor": "alice",
        "actor_source": "GITHUB_ACTOR",
        "ci": {"GITHUB_REPOSITORY": "acme/models", "GITHUB_RUN_ID": "42"},
        "model": {"name": "churn", "version": "3", "run_id": "run-3", "source": "models:/m/3"},
        "milestone": "production",
        "playbook": {"path": "playbooks/churn.yaml", "digest": DIGEST, "git_commit": None,
                     "milestone_digest": None},
        "reasons": ["no passing decision for milestone staging"],
        "promotion": {"alias": "prod"},
        "decision_ref": None,
    }


def test_hand_built_identity_cannot_leak_tokens(make_result: MakeResult) -> None:
    leaky = Identity("alice", "os_user", {"GITHUB_TOKEN": "ghp_secret", "GITHUB_RUN_ID": "1"})
    entry = decision_entry(make_result(), leaky)
    assert entry["ci"] == {"GITHUB_RUN_ID": "1"}
    assert "ghp_secret" not in json.dumps(entry)


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (2**60, str(2**60)),
        ((1, 2.5, True, None), [1, 2.5, True, None]),
        (Status.WAIVED, "waived"),
        ({1: Path("/x")}, {"1": "/x"}),
        ("https://bob:hunter2@mlflow.example/#/m", "https://bob:***@mlflow.example/#/m"),
        ("s3://bucket/model", "s3://bucket/model"),
    ],
)
def test_to_plain(value: Any, plain: Any) -> None:
    assert to_plain(value) == plain


def test_nan_observation_is_recorded(
    make_result: MakeResult, make_check: MakeCheck, identity: Identity, tmp_path: Path
) -> None:
    # A metric can be NaN; the decision must still reach the log.
    result = make_result(make_check("auc", Status.ERROR, observed=float("nan")))
    log = AuditLog(tmp_path / "audit.jsonl", env={})
    ref = log.append(decision_entry(result, identity))
    assert ref.seq == 1
    found = log.latest_decisions("churn", "3", "run-3", ["staging"])["staging"]
    assert found is not None and found["evidence"]["auc"]["observed"] == "NaN"


def assert_kept_six_months(retain_until: str) -> None:
    """Records without a policy are kept at least 183 days from now, at most a day more."""
    until = datetime.fromisoformat(retain_until.replace("Z", "+00:00"))
    now = datetime.now(UTC)
    assert now + timedelta(days=183) <= until <= now + timedelta(days=185)
