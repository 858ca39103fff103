"""``gatekeeper status`` built purely from registry facts and audit records: milestones per
version (latest decision, same run only), aliases per version, and a protected alias flagged
exactly when it points somewhere the gate did not last move it; both renderings."""

from __future__ import annotations

import json
from typing import Any

from gatekeeper.decide.status import SCHEMA, build_status
from gatekeeper.errors import ExitCode
from gatekeeper.evidence.mlflow_versions import ModelAliases, RegisteredVersion
from gatekeeper.render.status import render_json, render_text


def decision(seq: int, version: str, milestone: str, verdict: str,
             run: str = "r") -> dict[str, Any]:
    return {"seq": seq, "action": "decision", "model": {"name": "fraud", "version": version,
                                                        "run_id": run + version},
            "milestone": milestone, "decision": verdict, "recorded_at": f"T{seq}"}


def promotion(seq: int, version: str, alias: str) -> dict[str, Any]:
    return {"seq": seq, "action": "promotion", "model": {"name": "fraud", "version": version},
            "milestone": "pilot", "promotion": {"alias": alias, "version": version,
                                                "previous_version": None},
            "recorded_at": f"T{seq}"}


REGISTRY = ModelAliases("fraud", (RegisteredVersion("1", "r1"), RegisteredVersion("2", "r2")),
                        {"champion": "2", "poc-ok": "1"})
RECORDS = [decision(1, "1", "poc", "block"), decision(2, "1", "poc", "pass"),
           promotion(3, "1", "poc-ok"), decision(4, "2", "poc", "pass"),
           decision(5, "2", "pilot", "pass"), promotion(6, "2", "champion"),
           decision(7, "1", "serve", "pass", run="other")]


def status(records: list[dict[str, Any]], registry: ModelAliases = REGISTRY) -> Any:
    return build_status(registry, records, ["champion"], tracking_uri="sqlite:///m.db",
                        audit_log="audit.jsonl")


def test_each_version_has_its_latest_decisions_and_aliases() -> None:
    built = status(RECORDS)
    one, two = built.versions
    # the serve pass of version 1 came from another run: not this version's
    assert [(m.milestone, m.decision, m.seq) for m in one.milestones] == [("poc", "pass", 2)]
    assert (one.aliases, two.aliases, two.passed) == (("poc-ok",), ("champion",),
                                                      ("poc", "pilot"))
    assert built.flagged == () and built.exit_code is ExitCode.PASSED


def test_a_protected_alias_the_gate_did_not_last_move_is_flagged() -> None:
    moved = ModelAliases("fraud", REGISTRY.versions, {"champion": "1", "poc-ok": "2"})
    built = status(RECORDS, moved)
    assert [a.alias for a in built.flagged] == ["champion"]  # poc-ok is not protected
    assert built.exit_code is ExitCode.BLOCKED
    champion = built.flagged[0]
    assert champion.describe() == "moved outside the gate: the gate last moved it to v2 (record 6)"
    never = status([], moved).flagged[0]
    assert never.describe() == "moved outside the gate: the gate never moved it"


def test_an_unset_protected_alias_is_listed_not_flagged() -> None:
    built = status(RECORDS, ModelAliases("fraud", REGISTRY.versions, {}))
    assert [(a.alias, a.version, a.flagged) for a in built.aliases] == [
        ("champion", None, False)]


def test_text_and_json_renderings() -> None:
    moved = ModelAliases("fraud", REGISTRY.versions, {"champion": "1", "poc-ok": "1"})
    text = render_text(status(RECORDS, moved)).splitlines()
    assert text == [
        "fraud · 2 versions · audit audit.jsonl",
        "",
        "  v2  poc pass T4, pilot pass T5",
        "  v1  poc pass T2  [champion, poc-ok]",
        "",
        "aliases:",
        "  FLAGGED  champion (protected) -> v1: moved outside the gate: the gate last moved it "
        "to v2 (record 6)",
        "           poc-ok -> v1: set by the gate (record 3, T3)",
        "",
        "FLAGGED: 1 protected alias moved outside the gate: champion",
    ]
    document = json.loads(render_json(status(RECORDS, moved)))
    assert (document["schema"], document["exit_code"], document["flagged"]) == (
        SCHEMA, 1, ["champion"])
    assert document["aliases"][0] == {
        "alias": "champion", "version": "1", "protected": True, "promoted": "2",
        "promoted_at": "T6", "promotion_seq": 6, "by_gate": False, "flagged": True}
    assert document["versions"][1]["passed"] == ["poc", "pilot"]
    assert render_text(status(RECORDS)).splitlines()[-1] == (
        "OK: 1 protected alias, none moved outside the gate")
