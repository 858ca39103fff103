"""A real audit trail for the review tests (`audit log | export | report`, the dossier):
records built from the shared sample result by the record module itself, two versions of churn
at serve, a waiver used, an approval, the champion alias moved none → v2 → v3, and a refusal.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gatekeeper.decide.result import AuditRef, Decision, Promotion
from gatekeeper.decide.result import Result as GateResult
from gatekeeper.evaluate.interface import Status
from gatekeeper.record import (
    AuditLog,
    AuditStore,
    Identity,
    decision_entry,
    promotion_entry,
    refusal_entry,
)
from gatekeeper.record.records import approval_entry, waiver_use_entries
from tests.support.results import sample_result

ALICE = Identity("alice", "GITHUB_ACTOR", {"GITHUB_RUN_ID": "7"})
BOB = Identity("bob", "GITHUB_ACTOR", {})
MODEL_SHA = "9f" * 32


def at(day: int, hour: int = 9) -> Callable[[], datetime]:
    return lambda: datetime(2024, 5, day, hour, 30, tzinfo=UTC)


def version(number: str, decision: Decision) -> GateResult:
    """The sample result (blocked) for another version; passing once its blockers pass."""
    result = sample_result()
    checks = result.checks if decision is Decision.BLOCK else tuple(
        dataclasses.replace(c, status=Status.PASS) if c.blocks else c for c in result.checks)
    return dataclasses.replace(
        result, model=dataclasses.replace(result.model, version=number,
                                          run_id=f"run-{number}"),
        checks=checks,
        evidence_digests={f"mlflow:models/churn/{number}/artifacts/model.pkl":
                          {"sha256": MODEL_SHA, "bytes": 2048}})


#: Opens the store the trail is written to, with the given clock.
StoreAt = Callable[[Callable[[], datetime]], AuditStore]


@dataclasses.dataclass
class Trail:
    """The log and the results its decisions were recorded from (their ``audit`` set)."""

    path: Path
    decided: dict[int, GateResult]
    location: str

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.path.read_text().splitlines()]


def build_trail(log_path: Path, store_at: StoreAt | None = None) -> Trail:
    """A real log at ``log_path`` (or in the store ``store_at`` opens), May 1-5 2024:
    1 v2 pass (alice)  2 champion none → v2  3 v3 block with a waiver  4 its waiver_use
    5 approval of v3  6 v3 pass (bob)  7 champion v2 → v3 (bob)  8 v4 refused champion."""
    decided: dict[int, GateResult] = {}
    opened = store_at or (lambda clock: AuditLog(log_path, env={}, clock=clock))

    def append(entry: dict[str, Any], day: int) -> AuditRef:
        return opened(at(day)).append(entry)

    def decide(result: GateResult, who: Identity, day: int) -> GateResult:
        ref = append(decision_entry(result, who, now=at(day)()), day)
        recorded = dataclasses.replace(result, audit=ref, actor=who.actor)
        decided[ref.seq] = recorded
        return recorded

    v2 = decide(version("2", Decision.PASS), ALICE, 1)
    append(promotion_entry(v2, Promotion("champion", "2", None), ALICE), 1)
    v3 = decide(version("3", Decision.BLOCK), ALICE, 2)
    for entry in waiver_use_entries(v3, ALICE):
        append(entry, 2)
    assert v3.audit is not None
    envelope = {"payload": {"model": "churn", "version": "3", "run_id": "run-3",
                            "milestone": "serve", "role": "risk", "approver": "carol",
                            "expires_at": "2024-06-01T00:00:00Z", "key_id": "k-4f2a"},
                "signature": "ed25519:c2ln"}
    append(approval_entry(envelope, ALICE, v3.audit), 3)
    v3 = decide(version("3", Decision.PASS), BOB, 4)
    append(promotion_entry(v3, Promotion("champion", "3", "2"), BOB), 4)
    v4 = version("4", Decision.BLOCK)
    append(refusal_entry(v4.model, "serve", v4.playbook,
                         "no passing decision for churn version 4 at serve", ALICE,
                         alias="champion"), 5)
    return Trail(log_path, decided, opened(at(1)).location)
