"""External evidence: gathering answers before checks run, and a pilot gate through
``gatekeeper.pipeline.run_gate`` with the fake registry, a real audit log and a real Prometheus."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.decide.result import Decision, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.evidence.external import ExternalFailure, gather, with_external
from gatekeeper.evidence.interface import Evidence, ExternalQuery
from gatekeeper.evidence.prometheus import URL_ENV, PromAnswer, external_query
from gatekeeper.pipeline import Adapters, GateRequest, run_gate
from gatekeeper.record import AuditLog, Identity
from tests.evidence.conftest import PilotPrometheus
from tests.fakes import FakeRegistry, FakeSource, version
from tests.support.server import free_port

IDENTITY = Identity(actor="ci-bot", actor_source="test", ci={})
METRICS = {"accuracy": 0.9, "p99_ms": 80.0}


def test_gather_answers_each_query_by_its_key(pilot_prometheus: PilotPrometheus) -> None:
    queries = [external_query("a", "vector(1)", pilot_prometheus.url),
               external_query("b", "vector(2)", pilot_prometheus.url)]
    found = gather(queries, {})
    values = {k: v.samples[0].value for k, v in found.items() if isinstance(v, PromAnswer)}
    assert values == {"a": 1.0, "b": 2.0}


def test_a_failing_query_is_a_value_not_an_exception() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    found = gather([external_query("a", "vector(1)", url)], {})
    assert found == {"a": ExternalFailure(f"cannot reach Prometheus at {url}: connection refused")}


def test_an_unknown_source_is_a_failure() -> None:
    found = gather([ExternalQuery("graphite", "a")], {})
    assert found == {"a": ExternalFailure("unknown evidence source 'graphite' (known: "
                                          "prometheus)")}


def test_two_queries_with_one_key_are_a_bug() -> None:
    with pytest.raises(ValueError, match="different external queries share a key: a"):
        gather([external_query("a", "vector(1)"), external_query("a", "vector(2)")], {})


def test_with_external_adds_to_extra_and_asks_nothing_when_nothing_is_needed() -> None:
    evidence = Evidence(candidate=version("2"), extra={"kept": 1})
    assert with_external(evidence, [], {}) is evidence
    url = f"http://127.0.0.1:{free_port()}"
    merged = with_external(evidence, [external_query("a", "vector(1)", url)], {})
    assert set(merged.extra) == {"kept", "a"}
    assert merged.candidate is evidence.candidate


# --- a pilot gate, end to end ----------------------------------------------------------------

def playbook(tmp_path: Path, prom: PilotPrometheus, url_line: str, min_requests: int = 1000
             ) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(f"""\
model: tiny
owners: {{product: p@example.com, platform: o@example.com, data_science: d@example.com}}
milestones:
  - id: poc
    title: POC validation
    stage: poc
    alias: poc-ok
    checks:
      - {{id: acc, kind: metric_threshold, category: quality, owner: ds, key: accuracy, min: 0.8}}
  - id: serve
    title: Serve layer
    stage: serve
    alias: serve-ok
    checks:
      - {{id: p99, kind: metric_threshold, category: latency, owner: platform, key: p99_ms,
          max: 100}}
  - id: pilot
    title: Pilot on live traffic
    stage: pilot
    alias: champion
    checks:
      - id: pilot-slo
        kind: pilot_slo
        category: latency
        owner: platform
        {url_line}
        window: 1h
        at: {prom.at.isoformat()}
        selector: 'arm="quantized"'
        histogram: http_request_duration_seconds
        requests: http_requests_total
        errors_selector: 'code=~"5.."'
        p95_ms: 50
        p99_ms: 100
        max_error_rate: 0.02
        min_requests: {min_requests}
""")
    return path


def gate(path: Path, audit: AuditLog, registry: FakeRegistry, milestone: str) -> Result:
    source = FakeSource({"2": version("2", METRICS)})
    request = GateRequest(path, "tiny", "2", None, milestone, promote=True)
    return run_gate(request, Adapters(source, audit, registry, IDENTITY))


def through_pilot(path: Path, audit: AuditLog, registry: FakeRegistry) -> Result:
    for earlier in ("poc", "serve"):
        assert gate(path, audit, registry, earlier).decision is Decision.PASS
    return gate(path, audit, registry, "pilot")


PASSING = ("2000 requests in 1h (min 1000), p95 = 41.67 ms <= 50 ms, p99 = 87.5 ms <= 100 ms, "
           "error rate = 1.2% <= 2%")


def test_pilot_gate_passes_records_the_live_numbers_and_promotes(
        tmp_path: Path, pilot_prometheus: PilotPrometheus) -> None:
    path = playbook(tmp_path, pilot_prometheus, f"prometheus_url: {pilot_prometheus.url}")
    audit, registry = AuditLog(tmp_path / "audit.jsonl"), FakeRegistry()
    result = through_pilot(path, audit, registry)
    check = result.checks[-1]
    assert (check.id, check.status, check.message) == ("pilot-slo", Status.PASS, PASSING)
    assert result.decision is Decision.PASS and registry.aliases["champion"] == "2"
    decision = [r.record for r in audit.records() if r.record["action"] == "decision"][-1]
    recorded = decision["evidence"]["pilot-slo"]
    assert recorded["observed"]["p99_ms"] == pytest.approx(87.5)
    assert recorded["observed"]["requests"] == 2000.0
    assert recorded["evidence"]["requests"].startswith(
        f"prometheus:{pilot_prometheus.url}/api/v1/query?query=sum%28increase%28")
    assert decision["criteria"]["pilot-slo"]["threshold"]["min_requests"] == 1000
    assert audit.verify().ok


def test_the_url_may_come_from_the_environment(
        tmp_path: Path, pilot_prometheus: PilotPrometheus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, pilot_prometheus.url)
    path = playbook(tmp_path, pilot_prometheus, "# prometheus_url: from the environment")
    result = through_pilot(path, AuditLog(tmp_path / "audit.jsonl"), FakeRegistry())
    assert (result.checks[-1].status, result.checks[-1].message) == (Status.PASS, PASSING)


def test_too_little_traffic_blocks(tmp_path: Path, pilot_prometheus: PilotPrometheus) -> None:
    path = playbook(tmp_path, pilot_prometheus, f"prometheus_url: {pilot_prometheus.url}",
                    min_requests=5000)
    registry = FakeRegistry()
    result = through_pilot(path, AuditLog(tmp_path / "audit.jsonl"), registry)
    assert (result.checks[-1].status, result.checks[-1].message) == (
        Status.ERROR, "too few requests in the pilot window: 2000 < 5000")
    assert result.decision is Decision.BLOCK and int(result.exit_code) == 1
    assert "champion" not in registry.aliases


def test_unreachable_prometheus_blocks_with_a_recorded_verdict(
        tmp_path: Path, pilot_prometheus: PilotPrometheus) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    path = playbook(tmp_path, pilot_prometheus, f"prometheus_url: {url}")
    audit, registry = AuditLog(tmp_path / "audit.jsonl"), FakeRegistry()
    result = through_pilot(path, audit, registry)
    message = f"cannot reach Prometheus at {url}: connection refused"
    assert (result.checks[-1].status, result.checks[-1].message) == (Status.ERROR, message)
    assert result.decision is Decision.BLOCK and "champion" not in registry.aliases
    decision = list(audit.records())[-1].record
    assert (decision["decision"], decision["reasons"]) == ("block", [f"pilot-slo: {message}"])
