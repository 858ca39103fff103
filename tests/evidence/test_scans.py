"""The scan seam on a real SQLite registry: the candidate's files copied once, named model/...
and run/..., every scanner failure an answer the checks report as ``error``, and ``validate``
naming the extra of a scanner that is not installed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from gatekeeper.errors import ValidationError
from gatekeeper.evidence import scanners
from gatekeeper.evidence.interface import EvidenceRequest, ScanQuery
from gatekeeper.evidence.mlflow_source import MlflowSource
from gatekeeper.evidence.scanners.interface import (
    Finding,
    ScanError,
    ScanFailure,
    Scanner,
    ScanReport,
    ScanTarget,
)
from gatekeeper.evidence.scans import with_scans
from gatekeeper.load.validate import validate_paths
from tests.support.registry import seed_version

SEEN: list[list[str]] = []


def listing(target: ScanTarget, query: ScanQuery, env: Mapping[str, str]) -> ScanReport:
    """A scanner that reports every file it was given, and the card's first line number."""
    names = [target.name(p) for p in target.files()]
    SEEN.append(names)
    return ScanReport("listing", "1", tuple(names), findings=tuple(
        Finding("card", "info", n, 1, ref=target.ref(n)) for n in names if n.endswith(".md")))


def crashing(target: ScanTarget, query: ScanQuery, env: Mapping[str, str]) -> ScanReport:
    raise ValueError("line 3: AKIAIOSFODNN7EXAMPLE is not valid")


def offline(target: ScanTarget, query: ScanQuery, env: Mapping[str, str]) -> ScanReport:
    raise ScanError("vulnerability service unreachable")


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(scanners.SCANNERS, "listing", Scanner("listing", "security", ("json",),
                                                              listing))
    monkeypatch.setitem(scanners.SCANNERS, "crashing", Scanner("crashing", "security", (),
                                                               crashing))
    monkeypatch.setitem(scanners.SCANNERS, "offline", Scanner("offline", "security", (),
                                                              offline))
    monkeypatch.setitem(scanners.SCANNERS, "absent", Scanner(
        "absent", "privacy", ("gatekeeper_no_such_module",), listing))


def test_scanners_see_the_model_files_and_the_run_artifacts_once(
        tracking_uri: str, registered: None) -> None:
    version = seed_version(tracking_uri, "scanned", metrics={"auc": 0.9},
                           artifacts={"model_card.md": "# card\n", "conf/serve.yaml": "a: 1\n"})
    source = MlflowSource(tracking_uri)
    evidence = source.collect("scanned", version, EvidenceRequest())
    queries = [ScanQuery("listing"), ScanQuery("listing"), ScanQuery("crashing"),
               ScanQuery("offline"), ScanQuery("absent"), ScanQuery("nonesuch")]
    SEEN.clear()
    extra = with_scans(evidence, queries, source).extra

    report = extra[ScanQuery("listing").key]
    assert isinstance(report, ScanReport)
    assert len(SEEN) == 1  # two checks asking the same share one run
    assert "model/MLmodel" in report.scanned and "model/requirements.txt" in report.scanned
    assert {"run/model_card.md", "run/conf/serve.yaml"} <= set(report.scanned)
    [card] = report.findings
    assert card.ref == "mlflow:models/scanned/1/artifacts/model_card.md"

    crash = extra[ScanQuery("crashing").key]
    assert isinstance(crash, ScanFailure) and "ValueError" in crash.message
    assert "AKIA" not in crash.message  # the tool's text may quote what it scanned
    assert extra[ScanQuery("offline").key] == ScanFailure(
        "offline: vulnerability service unreachable")
    absent = extra[ScanQuery("absent").key]
    assert isinstance(absent, ScanFailure)
    assert "pip install 'gatekeeper[privacy]'" in absent.message
    assert "unknown scanner 'nonesuch'" in extra[ScanQuery("nonesuch").key].message  # type: ignore[attr-defined]


def test_a_model_inside_its_run_is_copied_once(tracking_uri: str, registered: None) -> None:
    version = seed_version(tracking_uri, "inrun", metrics={}, log_model=False,
                           artifacts={"model/MLmodel": "flavors: {}\n", "notes.txt": "n\n"})
    source = MlflowSource(tracking_uri)
    evidence = source.collect("inrun", version, EvidenceRequest())
    report = with_scans(evidence, [ScanQuery("listing")], source).extra[
        ScanQuery("listing").key]
    assert isinstance(report, ScanReport)
    assert sorted(report.scanned) == ["model/MLmodel", "run/notes.txt"]


def test_an_unreadable_registry_fails_every_scan(tmp_path: Path, registered: None) -> None:
    from tests.fakes import FakeSource, version

    source = FakeSource({"1": version("1")})
    evidence = source.collect("tiny", "1", EvidenceRequest())
    answer = with_scans(evidence, [ScanQuery("listing")], source).extra[
        ScanQuery("listing").key]
    assert isinstance(answer, ScanFailure) and "could not be copied" in answer.message


PLAYBOOK = Path(__file__).parents[1] / "assets" / "playbooks" / "valid-minimal.yaml"


def test_validate_names_the_extra_of_a_scanner_that_is_not_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registered: None) -> None:
    from gatekeeper.evaluate import CHECK_KINDS

    kind = CHECK_KINDS["metric_threshold"]
    path = tmp_path / "p.yaml"
    path.write_text(PLAYBOOK.read_text())
    assert validate_paths([path]).playbooks == 1
    monkeypatch.setitem(CHECK_KINDS, "metric_threshold",
                        type(kind)(kind.spec, kind.evaluate, kind.needs, kind.summary,
                                   scanners=("absent",)))
    with pytest.raises(ValidationError) as caught:
        validate_paths([path])
    problem = caught.value.problems[0]  # one per metric_threshold check, the first here
    assert (problem.line, problem.path) == (10, "milestones[0].checks[0].kind")
    assert "pip install 'gatekeeper[privacy]'" in problem.message
