"""The pipeline with a fake registry and the real audit log: verdicts, prerequisites,
promotion only on a pass, fail closed when the audit log cannot be written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.decide.result import Decision
from gatekeeper.evaluate.interface import Status
from gatekeeper.pipeline import Adapters, GateRequest, RolledBackError, run_gate, run_promote
from gatekeeper.record import AuditLog, AuditWriteError, Identity
from tests.fakes import FakeRegistry, FakeSource, version

PLAYBOOK = Path(__file__).parent / "assets" / "playbooks" / "valid-minimal.yaml"
IDENTITY = Identity(actor="ci-bot", actor_source="test", ci={})
GOOD = {"accuracy": 0.9, "p99_ms": 80.0, "error_rate": 0.001}


def gate(source: FakeSource, audit: AuditLog, registry: FakeRegistry, milestone: str,
         number: str = "2", promote: bool = True):  # type: ignore[no-untyped-def]
    request = GateRequest(PLAYBOOK, "tiny", number, None, milestone, promote=promote)
    return run_gate(request, Adapters(source, audit, registry, IDENTITY))


@pytest.fixture
def audit(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "audit.jsonl")


def test_pass_is_recorded_then_promoted(audit: AuditLog) -> None:
    registry = FakeRegistry(aliases={"poc-ok": "1"})
    result = gate(FakeSource({"2": version("2", GOOD)}), audit, registry, "poc")
    assert result.decision is Decision.PASS
    assert result.promotion is not None
    assert (result.promotion.alias, result.promotion.previous_version) == ("poc-ok", "1")
    assert registry.aliases["poc-ok"] == "2"
    assert result.audit is not None
    assert registry.tags["2"] == {"gatekeeper.poc.decision": "pass",
                                  "gatekeeper.poc.playbook_digest": result.playbook.digest,
                                  "gatekeeper.poc.milestone_digest":
                                      result.playbook.milestone_digest,
                                  "gatekeeper.poc.audit_hash": result.audit.hash}
    actions = [r.record["action"] for r in audit.records()]
    assert actions == ["decision", "promotion"]
    assert audit.verify().ok


def test_block_is_recorded_and_alias_stays(audit: AuditLog) -> None:
    registry = FakeRegistry(aliases={"poc-ok": "1"})
    source = FakeSource({"2": version("2", {**GOOD, "accuracy": 0.79})})
    result = gate(source, audit, registry, "poc")
    assert result.decision is Decision.BLOCK
    assert int(result.exit_code) == 1
    assert [(c.id, c.status) for c in result.checks] == [("acc", Status.FAIL)]
    assert registry.aliases == {"poc-ok": "1"} and registry.calls == 0
    assert [r.record["decision"] for r in audit.records()] == ["block"]


def test_missing_metric_is_an_error_that_blocks(audit: AuditLog) -> None:
    source = FakeSource({"2": version("2", {"p99_ms": 10.0})})
    result = gate(source, audit, FakeRegistry(), "poc")
    assert [c.status for c in result.checks] == [Status.ERROR]
    assert result.decision is Decision.BLOCK


def test_later_milestone_needs_earlier_passes_for_this_version(audit: AuditLog) -> None:
    source = FakeSource({"2": version("2", GOOD)})
    registry = FakeRegistry()
    blocked = gate(source, audit, registry, "serve")
    prerequisite = blocked.checks[0]
    assert (prerequisite.id, prerequisite.status) == ("gatekeeper.earlier-milestones",
                                                      Status.FAIL)
    assert prerequisite.message == ("earlier milestone poc not passed for this version (no "
                                    "passing decision in the audit log)")
    assert blocked.decision is Decision.BLOCK and registry.calls == 0
    assert gate(source, audit, registry, "poc").decision is Decision.PASS
    passed = gate(source, audit, registry, "serve")
    assert passed.decision is Decision.PASS
    assert passed.checks[0].status is Status.PASS
    assert registry.aliases == {"poc-ok": "2", "serve-ok": "2"}


def test_a_pass_of_another_run_does_not_count(audit: AuditLog) -> None:
    registry = FakeRegistry()
    gate(FakeSource({"2": version("2", GOOD)}), audit, registry, "poc")
    rebuilt = FakeSource({"2": version("2", GOOD, run_id="another-run")})
    assert gate(rebuilt, audit, registry, "serve").decision is Decision.BLOCK


def test_unwritable_audit_log_means_no_verdict_and_no_promotion(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    audit = AuditLog(tmp_path / "file" / "audit.jsonl")  # parent is a file: cannot be created
    registry = FakeRegistry()
    with pytest.raises(AuditWriteError):
        gate(FakeSource({"2": version("2", GOOD)}), audit, registry, "poc")
    assert registry.calls == 0


def test_without_promote_flag_nothing_moves(audit: AuditLog) -> None:
    registry = FakeRegistry()
    result = gate(FakeSource({"2": version("2", GOOD)}), audit, registry, "poc", promote=False)
    assert result.decision is Decision.PASS and result.promotion is None
    assert registry.calls == 0


def test_collects_only_what_the_milestone_needs(audit: AuditLog) -> None:
    source = FakeSource({"2": version("2", GOOD)})
    gate(source, audit, FakeRegistry(), "poc")
    assert source.requests[0].artifacts is False
    assert source.requests[0].baseline_aliases == frozenset()


def test_a_decision_stamped_in_the_future_does_not_promote(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    ahead = AuditLog(path, clock=lambda: datetime.now(UTC) + timedelta(hours=2))
    source, registry = FakeSource({"2": version("2", GOOD)}), FakeRegistry()
    assert gate(source, ahead, registry, "poc", promote=False).decision is Decision.PASS
    request = GateRequest(PLAYBOOK, "tiny", "2", None, "poc")
    outcome = run_promote(request, Adapters(source, AuditLog(path), registry, IDENTITY),
                          max_age=timedelta(days=1), now=datetime.now(UTC) + timedelta(hours=3))
    assert outcome.promoted is None
    assert outcome.reason.endswith("is stamped in the future")
    assert registry.aliases == {}


def test_promotion_is_moved_back_when_its_record_cannot_be_written(tmp_path: Path) -> None:
    class FailsSecondAppend(AuditLog):
        """A real log whose disk fills up right after the decision is written."""

        appended = 0

        @contextmanager
        def session(self) -> Iterator[Any]:
            with super().session() as real:
                outer = self

                class Session:
                    def append(self, entry: Any) -> Any:
                        outer.appended += 1
                        if outer.appended > 1:
                            raise AuditWriteError("audit log x: cannot write: No space left")
                        return real.append(entry)

                yield Session()

    registry = FakeRegistry(aliases={"poc-ok": "1"})
    with pytest.raises(RolledBackError) as caught:
        gate(FakeSource({"2": version("2", GOOD)}), FailsSecondAppend(tmp_path / "a.jsonl"),
             registry, "poc")
    assert registry.aliases == {"poc-ok": "1"}
    assert str(caught.value).endswith("alias 'poc-ok' was moved back (version 1): nothing was "
                                      "promoted")
