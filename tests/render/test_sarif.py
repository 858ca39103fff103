"""``-o sarif`` renders the shared sample result as SARIF 2.1.0 that the OASIS schema
accepts: one rule per check id, a result at the playbook line of each check that needs
attention, levels by state and blocking, fingerprints that follow a check across runs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gatekeeper.decide.result import Location, ModelRef, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.render import FORMATS, sarif
from tests.support.results import check, sample_result

SCHEMA = Path(__file__).parents[1] / "assets" / "reference" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())


def run_of(validator: jsonschema.Draft4Validator, result: Result) -> dict[str, Any]:
    """The one run of ``result``'s SARIF log, after the schema has accepted the log."""
    log = json.loads(sarif.render(result))
    validator.validate(log)
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    run: dict[str, Any] = log["runs"][0]
    return run


def test_registered_as_the_sarif_format() -> None:
    assert FORMATS["sarif"] is sarif.render


def test_one_rule_per_check_id(validator: jsonschema.Draft4Validator) -> None:
    rules = run_of(validator, sample_result())["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [c.id for c in sample_result().checks]
    assert rules[0]["shortDescription"]["text"] == (
        "gatekeeper prerequisite gatekeeper.earlier-milestones (milestone serve)")
    assert rules[7]["defaultConfiguration"]["level"] == "warning"  # f1-advisory
    assert rules[1]["properties"]["tags"] == ["gatekeeper", "latency"]


def test_results_at_playbook_lines_with_levels_by_state(
        validator: jsonschema.Draft4Validator) -> None:
    run = run_of(validator, sample_result())
    rules = run["tool"]["driver"]["rules"]
    found = [(r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["region"]
              ["startLine"]) for r in run["results"]]
    # pass and skip leave no result (GitHub would open an alert for each); waived is a note
    assert found == [("latency-predict", "error", 44), ("model-card", "error", 52),
                     ("cost-per-1k", "warning", 58), ("pii-findings", "note", 70),
                     ("f1-advisory", "warning", 82)]
    for result in run["results"]:
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "playbooks/churn.yaml"
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result.get("kind", "fail") == "fail"  # any other kind needs level "none"
    waived = run["results"][3]
    assert waived["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": "W-7: synthetic test data (approved by ciso@example.com, "
                         "expires 2027-01-01)"}]
    assert all("suppressions" not in r for i, r in enumerate(run["results"]) if i != 3)


def test_message_carries_owner_and_remedy(validator: jsonschema.Draft4Validator) -> None:
    latency = run_of(validator, sample_result())["results"][0]
    assert latency["message"]["text"].splitlines() == [
        "predict: p95 = 74 ms > 40 ms, p99 = 161 ms > 80 ms",
        "observed: p95_ms 74, p99_ms 161",
        "threshold: p95_ms 40, p99_ms 80",
        "owner: platform@example.com",
        "remedy: p95_ms 74 is 34 (85%) above the limit 40; "
        "p99_ms 161 is 81 (101%) above the limit 80",
    ]
    assert latency["properties"]["observed"] == {"p95_ms": 74.0, "p99_ms": 161.0}
    assert latency["properties"]["blocking"] is True


def test_run_says_the_verdict_and_its_category(validator: jsonschema.Draft4Validator) -> None:
    run = run_of(validator, sample_result())
    assert run["automationDetails"] == {"id": "gatekeeper/churn/serve/"}
    assert run["properties"]["decision"] == "block"
    assert run["properties"]["exitCode"] == 1
    assert run["properties"]["audit"]["hash"] == "sha256:" + "ef" * 32
    assert run["invocations"][0]["exitCode"] == 1


def fingerprints(validator: jsonschema.Draft4Validator, result: Result) -> dict[str, str]:
    return {r["ruleId"]: r["partialFingerprints"][sarif.FINGERPRINT_KEY]
            for r in run_of(validator, result)["results"]}


def test_fingerprints_follow_the_check_not_its_message(
        validator: jsonschema.Draft4Validator) -> None:
    before = fingerprints(validator, sample_result())
    assert len(set(before.values())) == len(before)  # one per check
    # another version, another run: new message, new line, other state
    later = sample_result()
    later = replace(later, model=replace(later.model, version="4"), checks=tuple(
        replace(c, message="p95 = 90 ms > 40 ms", location=Location("playbooks/churn.yaml", 99),
                status=Status.ERROR) if c.id == "latency-predict" else c
        for c in later.checks))
    assert fingerprints(validator, later) == before
    # another model or another milestone: another alert
    other = replace(sample_result(), model=ModelRef("fraud", "3", None, "models:/x"))
    assert set(fingerprints(validator, other).values()).isdisjoint(before.values())
    elsewhere = replace(sample_result(), milestone=replace(sample_result().milestone, id="pilot"))
    assert set(fingerprints(validator, elsewhere).values()).isdisjoint(before.values())


def test_paths_become_uri_references(validator: jsonschema.Draft4Validator) -> None:
    result = replace(sample_result(), checks=(
        check("spaced", Status.FAIL, 7, location=Location("play books/a b.yaml", 7)),
        check("absolute", Status.FAIL, 9, location=Location("/srv/pb/churn.yaml", 9)),
        check("nowhere", Status.FAIL, 0, location=None)))
    uris = [(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]["startLine"])
            for r in run_of(validator, result)["results"]]
    # a check without a line is placed on the playbook's first line: code scanning needs one
    assert uris == [("play%20books/a%20b.yaml", 7), ("file:///srv/pb/churn.yaml", 9),
                    ("playbooks/churn.yaml", 1)]


def test_a_clean_pass_has_rules_and_no_results(validator: jsonschema.Draft4Validator) -> None:
    result = replace(sample_result(), checks=(check("a", Status.PASS, 3),
                                              check("b", Status.SKIP, 5)))
    run = run_of(validator, result)
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["a", "b"]
    assert run["results"] == []
    assert run["properties"]["decision"] == "pass"
