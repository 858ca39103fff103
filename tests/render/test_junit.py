"""``-o junit`` renders the shared sample result as JUnit XML that the Jenkins xUnit plugin's
XSD accepts, with one testcase per check and the counts, outcomes and properties CI reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import xmlschema

from gatekeeper.decide.result import Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.render import FORMATS, junit
from tests.support.results import check, sample_result

XSD = Path(__file__).parents[1] / "assets" / "reference" / "junit-10.xsd"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(XSD)


def rendered(schema: xmlschema.XMLSchema, result: Result) -> ET.Element:
    """The XML of ``result``, after the XSD has accepted it."""
    text = junit.render(result)
    schema.validate(text)
    return ET.fromstring(text)


def test_registered_as_the_junit_format() -> None:
    assert FORMATS["junit"] is junit.render


def test_sample_is_valid_with_one_testcase_per_check(schema: xmlschema.XMLSchema) -> None:
    root = rendered(schema, sample_result())
    suite = root.find("testsuite")
    assert suite is not None
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("errors")) == (
        "testsuites", "8", "1", "1")
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped", "time",
                                      "timestamp", "name")} == {
        "tests": "8", "failures": "1", "errors": "1", "skipped": "1", "time": "2.500",
        "timestamp": "2026-12-03T08:00:00", "name": "gatekeeper churn v3 serve"}
    cases = [(c.get("classname"), c.get("name"), [e.tag for e in c])
             for c in suite.iter("testcase")]
    assert cases == [
        ("serve.prerequisite", "gatekeeper.earlier-milestones", ["system-out"]),
        ("serve", "latency-predict", ["failure"]),
        ("serve", "model-card", ["error"]),
        ("serve", "cost-per-1k", ["system-out"]),
        ("serve", "accuracy-floor", ["system-out"]),
        ("serve", "pii-findings", ["system-out"]),
        ("serve", "gpu-util", ["skipped"]),
        ("serve", "f1-advisory", ["system-out"]),
    ]


def test_failure_and_error_carry_message_owner_remedy_and_line(
        schema: xmlschema.XMLSchema) -> None:
    suite = rendered(schema, sample_result()).find("testsuite")
    assert suite is not None
    failure = suite.find("testcase[@name='latency-predict']/failure")
    assert failure is not None
    assert failure.get("message") == "predict: p95 = 74 ms > 40 ms, p99 = 161 ms > 80 ms"
    assert failure.get("type") == "latency"
    assert (failure.text or "").splitlines() == [
        "predict: p95 = 74 ms > 40 ms, p99 = 161 ms > 80 ms",
        "observed: p95_ms 74, p99_ms 161",
        "threshold: p95_ms 40, p99_ms 80",
        "owner: platform@example.com",
        "remedy: p95_ms 74 is 34 (85%) above the limit 40; "
        "p99_ms 161 is 81 (101%) above the limit 80",
        "location: playbooks/churn.yaml:44",
    ]
    error = suite.find("testcase[@name='model-card']/error")
    assert error is not None
    assert error.get("message") == "missing on churn v3: artifact 'model_card.md'"
    assert "owner: product@example.com" in (error.text or "")
    skipped = suite.find("testcase[@name='gpu-util']/skipped")
    assert skipped is not None
    assert skipped.get("message") == "not applicable: no accelerator in the cost model"


def test_properties_hold_observed_threshold_owner_and_waiver(
        schema: xmlschema.XMLSchema) -> None:
    suite = rendered(schema, sample_result()).find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["decision"] == "block"
    assert props["exit_code"] == "1"
    assert props["audit.hash"] == "sha256:" + "ef" * 32
    assert props["check.latency-predict.observed"] == "p95_ms 74, p99_ms 161"
    assert props["check.latency-predict.threshold"] == "p95_ms 40, p99_ms 80"
    assert props["check.latency-predict.owner"] == "platform@example.com"
    assert props["check.latency-predict.status"] == "fail"
    # numbers as people write them, never 1.63991e-05
    assert props["check.cost-per-1k.observed"] == "total 0.0000163991"
    assert props["check.pii-findings.status"] == "waived"
    assert props["check.pii-findings.waiver"] == (
        "W-7: synthetic test data (approved by ciso@example.com, expires 2027-01-01)")
    assert props["check.f1-advisory.blocking"] == "false"
    assert str(props["check.model-card.remedy"]).startswith("add the missing evidence: ")
    assert props["check.gatekeeper.earlier-milestones.location"] == "playbooks/churn.yaml:40"
    assert "check.accuracy-floor.remedy" not in props  # nothing to do about a pass


def test_time_is_cut_to_three_decimals_and_left_out_when_unreadable(
        schema: xmlschema.XMLSchema) -> None:
    precise = replace(sample_result(), finished_at="2026-12-03T08:00:02.123456+00:00")
    suite = rendered(schema, precise).find("testsuite")
    assert suite is not None and suite.get("time") == "2.123"
    unreadable = replace(sample_result(), finished_at="yesterday")
    suite = rendered(schema, unreadable).find("testsuite")
    assert suite is not None and "time" not in suite.attrib


def test_text_xml_cannot_hold_is_replaced_and_markup_escaped(
        schema: xmlschema.XMLSchema) -> None:
    message = 'bad <tag> & "quote"\x01 in\ntwo lines'
    result = replace(sample_result(), checks=(
        check("odd", Status.FAIL, 3, message=message, owner="a&b <team>"),))
    failure = rendered(schema, result).find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == 'bad <tag> & "quote"\ufffd in\ntwo lines'
    assert "owner: a&b <team>" in (failure.text or "")


def test_advisory_failure_is_reported_as_a_failure(schema: xmlschema.XMLSchema) -> None:
    result = replace(sample_result(), checks=(
        check("pass-one", Status.PASS, 3), check("advisory", Status.FAIL, 5, blocking=False)))
    root = rendered(schema, result)
    assert (root.get("failures"), root.get("errors")) == ("1", "0")
    assert result.decision.value == "pass"  # the gate passes; CI still shows the failure
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["decision"] == "pass"
    assert props["check.advisory.blocking"] == "false"
