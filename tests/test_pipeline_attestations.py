"""Attestations in the pipeline (docs/attestations.md) with a fake registry whose version tags
the attestor writes, and a real audit log per workspace: the latest attested decision counts
(a block overrides a pass), the audit store wins over a tag, a tag never moves to another run
or milestone, and a tag that cannot be written stops the promotion."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.act.attest import AttestationError, Attestor
from gatekeeper.act.mlflow_registry import PromotionError
from gatekeeper.decide.result import Decision, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.pipeline import Adapters, GateRequest, run_gate, run_promote
from gatekeeper.record import AuditLog, Identity
from gatekeeper.record.signing import Signer
from tests.fakes import FakeRegistry, FakeSource, version

PLAYBOOK = Path(__file__).parent / "assets" / "playbooks" / "valid-minimal.yaml"
IDENTITY = Identity(actor="ci-bot", actor_source="test", ci={})
GOOD = {"accuracy": 0.9, "p99_ms": 80.0, "error_rate": 0.001}
SIGNER = Signer(Ed25519PrivateKey.generate())
POC = "gatekeeper.attestation.poc"


class Registry:
    """One model's versions (a FakeSource) whose tags an attestor writes, shared by every
    workspace of a test, as an MLflow registry would be."""

    def __init__(self, metrics: Mapping[str, float] = GOOD) -> None:
        self.source = FakeSource({"2": version("2", metrics)})
        self.aliases = FakeRegistry()
        self.fail_tags = False

    def tag(self, name: str, number: str, tags: Mapping[str, str]) -> None:
        if self.fail_tags:
            raise PromotionError("registry down")
        found = self.source.versions[number]
        self.source.versions[number] = dataclasses.replace(
            found, version_tags={**found.version_tags, **tags})

    def metrics(self, metrics: Mapping[str, float]) -> None:
        self.source.versions["2"] = dataclasses.replace(self.source.versions["2"],
                                                        metrics=dict(metrics))

    def tags(self) -> Mapping[str, str]:
        return self.source.versions["2"].version_tags


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "org.yaml"
    path.write_text("id: org\nattestations:\n  trusted_keys:\n"
                    f"    - {{id: ci, public_key: {SIGNER.public_key_text}}}\n")
    return path


def adapters(registry: Registry, folder: Path) -> Adapters:
    """A workspace: its own audit log, the shared registry, the signing key."""
    return Adapters(registry.source, AuditLog(folder / "audit.jsonl"), registry.aliases,
                    IDENTITY, attestor=Attestor(SIGNER, registry.tag))


def gate(registry: Registry, folder: Path, milestone: str, policy: Path,
         promote: bool = False) -> Result:
    request = GateRequest(PLAYBOOK, "tiny", "2", None, milestone, promote=promote,
                          policies=policy)
    return run_gate(request, adapters(registry, folder))


def prerequisite_message(result: Result) -> str:
    return str(next(c for c in result.checks if c.kind == "prerequisite").message)


def test_a_block_attested_elsewhere_overrides_an_attested_pass(
        tmp_path: Path, policy: Path) -> None:
    registry = Registry()
    assert gate(registry, tmp_path / "a", "poc", policy).decision is Decision.PASS
    registry.metrics({**GOOD, "accuracy": 0.5})
    assert gate(registry, tmp_path / "c", "poc", policy).decision is Decision.BLOCK
    registry.metrics(GOOD)
    result = gate(registry, tmp_path / "b", "serve", policy)
    assert result.decision is Decision.BLOCK
    assert prerequisite_message(result) == (
        f"the latest decision for 'poc' is block (attestation {POC} signed by ci)")


def test_the_audit_store_wins_over_a_tag(tmp_path: Path, policy: Path) -> None:
    registry = Registry({**GOOD, "accuracy": 0.5})
    assert gate(registry, tmp_path / "b", "poc", policy).decision is Decision.BLOCK
    registry.metrics(GOOD)
    assert gate(registry, tmp_path / "a", "poc", policy).decision is Decision.PASS  # tag: pass
    result = gate(registry, tmp_path / "b", "serve", policy)  # b's own log: block
    assert prerequisite_message(result) == "the latest decision for 'poc' is block (record 1)"


def test_a_tag_never_counts_for_another_run_or_milestone(tmp_path: Path, policy: Path) -> None:
    registry = Registry()
    assert gate(registry, tmp_path / "a", "poc", policy).decision is Decision.PASS
    registry.source.versions["2"] = dataclasses.replace(registry.source.versions["2"],
                                                        run_id="registered-anew")
    result = gate(registry, tmp_path / "b", "serve", policy)
    assert prerequisite_message(result).endswith(
        f"attestation {POC} not counted: its subject digest is not this version's (source "
        "run registered-anew): made for a version registered anew")

    registry = Registry()
    assert gate(registry, tmp_path / "c", "serve", policy).decision is Decision.BLOCK
    registry.tag("tiny", "2", {POC: registry.tags()["gatekeeper.attestation.serve"]})
    result = gate(registry, tmp_path / "d", "serve", policy)
    assert prerequisite_message(result).endswith(
        f"attestation {POC} not counted: it is about milestone 'serve', not 'poc'")


def test_untrusted_without_a_policy_and_the_prerequisite_cites_the_tag(
        tmp_path: Path, policy: Path) -> None:
    registry = Registry()
    assert gate(registry, tmp_path / "a", "poc", policy).decision is Decision.PASS
    empty = tmp_path / "none.yaml"
    empty.write_text("id: other\n")
    result = gate(registry, tmp_path / "b", "serve", empty)
    assert prerequisite_message(result).endswith(
        f"attestation {POC} not counted: signed by {SIGNER.key_id}, and no policy lists "
        "trusted keys (attestations)")
    passed = gate(registry, tmp_path / "c", "serve", policy)
    check = next(c for c in passed.checks if c.kind == "prerequisite")
    assert check.status is Status.PASS
    assert check.evidence == {"poc": f"attestation:mlflow:models/tiny/2/version_tags/{POC}"}


def test_a_tag_that_cannot_be_written_stops_before_the_alias_moves(
        tmp_path: Path, policy: Path) -> None:
    registry = Registry()
    registry.fail_tags = True
    with pytest.raises(AttestationError) as caught:
        gate(registry, tmp_path / "a", "poc", policy, promote=True)
    assert str(caught.value).startswith("the decision is recorded (record 1) but its "
                                        f"attestation tag {POC} could not be written: ")
    assert registry.aliases.aliases == {}
    assert [r.record["action"] for r in AuditLog(tmp_path / "a" / "audit.jsonl").records()
            ] == ["decision"]


def test_promote_refuses_an_attested_pass_past_max_age(tmp_path: Path, policy: Path) -> None:
    registry = Registry()
    assert gate(registry, tmp_path / "a", "poc", policy).decision is Decision.PASS
    request = GateRequest(PLAYBOOK, "tiny", "2", None, "poc", policies=policy)
    later = datetime.now(UTC) + timedelta(days=2)
    outcome = run_promote(request, adapters(registry, tmp_path / "c"),
                          max_age=timedelta(hours=24), now=later)
    assert outcome.promoted is None
    assert outcome.reason.startswith(f"the passing decision (attestation {POC} signed by ci, ")
    assert outcome.reason.endswith("is older than 1 day, 0:00:00; run `gatekeeper check` again")
