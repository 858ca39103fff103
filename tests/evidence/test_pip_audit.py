"""The pip-audit scanner for real: the model's requirements.txt and conda.yaml read, every pin
audited by pip-audit 2.10 against a loopback OSV API (tests/support/osv.py) that knows
PYSEC-2018-28 for requests 2.19.0; then ``gatekeeper check`` through the real CLI on a real
SQLite registry in every output format.

No request may leave 127.0.0.1: ``osv_api`` points GATEKEEPER_OSV_URL at the loopback server and
every proxy variable at a closed loopback port (with only 127.0.0.1 exempt), so any other host
pip-audit tried would fail the scan, and each test asserts the server saw the queries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.cli import run
from gatekeeper.errors import ValidationError
from gatekeeper.evidence import scanners
from gatekeeper.evidence.scanners import pip_audit
from gatekeeper.evidence.scanners.interface import ScanError, ScanQuery, ScanReport, ScanTarget
from gatekeeper.evidence.scanners.pip_audit import (
    Requirement,
    conda_pip_entries,
    judge,
    layers,
    numbered_lines,
    osv_url,
    parse_output,
    read_lines,
)
from gatekeeper.load.validate import validate_paths
from gatekeeper.render import FORMATS
from tests.support.osv import KNOWN_ALIASES, KNOWN_ID, OsvServer, osv_server
from tests.support.registry import seed_version
from tests.support.server import free_port

REQS = "model/requirements.txt"
CONDA_FILE = "model/conda.yaml"
VULNERABLE = "mlflow==3.1.0\nrequests==2.19.0\nnumpy==1.26.4\n"
CLEAN = "mlflow==3.1.0\nrequests==2.20.0\nnumpy==1.26.4\n"
#: What MLflow writes beside a model, with the pins of requirements.txt repeated.
CONDA = """\
channels:
- conda-forge
dependencies:
- python=3.11.9
- pip<=24.0
- pip:
  - mlflow==3.1.0
  - requests==2.19.0
  - urllib3==2.2.1
name: mlflow-env
"""
#: A credential in the mirror's URL: it must never reach an output, a record or a message.
MIRROR_TOKEN = "s3cr3t-mirror-token"


@pytest.fixture
def osv_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[OsvServer]:
    """The loopback OSV API as GATEKEEPER_OSV_URL, and every other host unreachable."""
    with osv_server() as server:
        monkeypatch.setenv("GATEKEEPER_OSV_URL", server.url)
        dead = f"http://127.0.0.1:{free_port()}"
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                     "all_proxy"):
            monkeypatch.setenv(name, dead)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "127.0.0.1")
        yield server
        assert server.invalid == []  # pip-audit only ever sent queries the real API takes


def model_dir(tmp_path: Path, requirements: str | None = VULNERABLE,
              conda: str | None = None) -> ScanTarget:
    model = tmp_path / "files" / "model"
    model.mkdir(parents=True)
    (model / "MLmodel").write_text("flavors: {}\n")
    if requirements is not None:
        (model / "requirements.txt").write_text(requirements)
    if conda is not None:
        (model / "conda.yaml").write_text(conda)
    return ScanTarget(tmp_path / "files", model, None, "fraud v1",
                      model_ref="mlflow:models/fraud/1/model_files/{path}")


def scan(target: ScanTarget, env: dict[str, str] | None = None) -> ScanReport:
    import os

    return pip_audit.scan(target, ScanQuery("pip-audit"), dict(os.environ) | (env or {}))


# -- reading what the model declares (no tool) -----------------------------------------------

def lines(text: str, file: str = REQS) -> tuple[list[Requirement], list[tuple[str, str]]]:
    unscanned: list[tuple[str, str]] = []
    return read_lines(file, numbered_lines(text), unscanned), unscanned


def test_only_name_equals_version_is_pinned_and_nothing_is_echoed() -> None:
    found, unscanned = lines(
        "# comment\n"
        "--index-url https://user:tok3n@pypi.internal/simple\n"
        "Requests[socks]==2.19 ; python_version > '3' --hash=sha256:abcd\n"
        "numpy\n"
        "scipy>=1.0,<2\n"
        "torch==2.*\n"
        "weird===1.0\n"
        "pkg @ https://tok3n@files.internal/pkg-1.0.whl\n"
        "-e ./local\n"
        "./wheels/thing-1.0-py3-none-any.whl\n"
        "pandas==2.2.2 \\\n"
        "    --hash=sha256:ef01  # pinned over two lines\n"
        "-r extra.txt\n"
        "-rmore.txt\n"
        "--require-hashes\n"
        "-e./other\n")
    assert [(r.name, r.line, r.version, r.why) for r in found] == [
        ("requests", 3, "2.19", ""),
        ("numpy", 4, None, "no version"),
        ("scipy", 5, None, "not pinned to one version (<2,>=1.0)"),
        ("torch", 6, None, "not pinned to one version (==2.*)"),
        ("weird", 7, None, "not pinned to one version (===1.0)"),
        ("pkg", 8, None, "a direct URL reference"),
        ("", 9, None, "an editable requirement"),
        ("", 10, None, "not a name==version requirement (a URL, a path or unparseable)"),
        ("pandas", 11, "2.2.2", ""),
        ("", 16, None, "an editable requirement"),
    ]
    assert unscanned == [(REQS, f"line {n}: includes another requirements file, which was not "
                                "audited") for n in (13, 14)]
    assert "tok3n" not in repr(found)


def test_the_pip_list_of_conda_yaml_is_read_with_its_lines() -> None:
    entries = conda_pip_entries(CONDA.replace("name: mlflow-env\n", "- pip:\n  - -r "
                                              "requirements.txt\nname: mlflow-env\n"))
    assert entries == [(7, "mlflow==3.1.0"), (8, "requests==2.19.0"), (9, "urllib3==2.2.1"),
                       (11, "-r requirements.txt")]
    unscanned: list[tuple[str, str]] = []
    found = read_lines(CONDA_FILE, entries, unscanned)
    assert [r.name for r in found] == ["mlflow", "requests", "urllib3"]
    assert unscanned == []  # its include of requirements.txt is the file read beside it
    assert conda_pip_entries("name: env\n") == []
    with pytest.raises(ValueError, match=r"not valid YAML \(line 2\)"):
        conda_pip_entries("name: env\ndependencies: x: y\n")
    with pytest.raises(ValueError, match="line 2: a pip entry that is not a string"):
        conda_pip_entries("dependencies:\n- pip: [{a: 1}]\n")


def test_two_pins_of_one_package_are_audited_in_separate_runs() -> None:
    pins = [Requirement(REQS, 1, "a", "1"), Requirement(REQS, 2, "b", "1"),
            Requirement(CONDA_FILE, 7, "a", "2")]
    assert [[p.version for p in g] for g in layers(pins)] == [["1", "1"], ["2"]]


def test_a_skipped_or_unreported_pin_is_unjudged() -> None:
    pins = [Requirement(REQS, 1, "torch", "2.1.0"), Requirement(REQS, 2, "numpy", "1.26.4")]
    vulns, unjudged = judge(pins, {("torch", "2.1.0"): {"name": "torch", "skip_reason": "x"}})
    assert vulns == ()
    assert unjudged == ((REQS, "line 1: pip-audit skipped torch==2.1.0 (x)"),
                        (REQS, "line 2: numpy==1.26.4 is missing from pip-audit's report"))


@pytest.mark.parametrize(("code", "report", "stderr", "message"), [
    (1, "", "requests.exceptions.ConnectionError: refused",
     "pip-audit could not reach the vulnerability service at U (set GATEKEEPER_OSV_URL to an "
     "OSV mirror it can reach)"),
    (1, "", "ERROR:pip_audit._cli:Could not connect to OSV's vulnerability feed", "could not"),
    (1, "", "requests.exceptions.HTTPError: 503", "refused pip-audit's queries"),
    (1, "", "Traceback\nKeyError: 'vulns'\n", "pip-audit exited 1 without a report: KeyError"),
    (2, "", "usage: pip-audit", "pip-audit exited 2 without a report: usage: pip-audit"),
    (1, "{\"dependencies\": [{\"name\": \"a\", \"version\": \"1\", \"vulns\": []}]}", "",
     "pip-audit exited 1, which contradicts its report"),
    (0, "{\"dependencies\": [{\"name\": \"a\", \"version\": \"1\", \"vulns\": [{}]}]}", "",
     "pip-audit exited 0, which contradicts its report"),
    (0, "[1, 2]", "", "a report gatekeeper cannot read (exit 0)"),
])
def test_a_run_without_a_readable_report_is_a_scan_error(code: int, report: str, stderr: str,
                                                          message: str) -> None:
    with pytest.raises(ScanError) as caught:
        parse_output(code, report, stderr, "U")
    assert message in str(caught.value)


def test_a_malformed_service_url_is_refused() -> None:
    with pytest.raises(ScanError, match="GATEKEEPER_OSV_URL is not an http"):
        osv_url({"GATEKEEPER_OSV_URL": "osv.internal/v1/query"})
    assert osv_url({}) == "https://api.osv.dev/v1/query"


def test_a_model_without_requirements_is_unscanned(tmp_path: Path) -> None:
    report = scan(model_dir(tmp_path, requirements=None))
    assert report.unscanned == ((REQS, "not logged with the model, so its dependencies cannot "
                                       "be audited"),)
    assert report.facts["requirements"] == 0 and report.findings == ()
    assert scan(ScanTarget(tmp_path, None, None, "fraud v1")).unscanned == (
        (REQS, "the version has no model files"),)


# -- real pip-audit against the loopback OSV API ---------------------------------------------

def test_a_vulnerable_pin_is_found_with_its_id_aliases_and_fix(tmp_path: Path,
                                                               osv_api: OsvServer) -> None:
    report = scan(model_dir(tmp_path, VULNERABLE + "scikit-learn\n", conda=CONDA))
    assert sorted(osv_api.asked()) == [("mlflow", "3.1.0"), ("numpy", "1.26.4"),
                                       ("requests", "2.19.0"), ("urllib3", "2.2.1")]
    [finding] = report.findings
    assert (finding.rule, finding.severity, finding.file, finding.line) == (
        KNOWN_ID, "high", REQS, 2)
    assert finding.detail == "requests 2.19.0; fixed in: 2.20.0"
    assert finding.ref == "mlflow:models/fraud/1/model_files/requirements.txt"
    assert report.facts["vulnerabilities"] == ({
        "package": "requests", "version": "2.19.0", "id": KNOWN_ID, "aliases": KNOWN_ALIASES,
        "fix_versions": ("2.20.0",), "file": REQS, "line": 2},)
    assert report.facts["unpinned"] == (
        {"name": "scikit-learn", "file": REQS, "line": 4, "why": "no version"},)
    assert report.scanned == (REQS, CONDA_FILE) and report.unscanned == ()
    assert report.facts["service"] == osv_api.url
    assert report.tool_version == "2.10.1"


def test_clean_pins_have_no_finding(tmp_path: Path, osv_api: OsvServer) -> None:
    report = scan(model_dir(tmp_path, CLEAN))
    assert report.findings == () and report.unscanned == ()
    assert report.facts["audited"] == ("mlflow==3.1.0", "requests==2.20.0", "numpy==1.26.4")
    assert len(osv_api.queries) == 3


def test_two_versions_of_one_package_are_both_audited(tmp_path: Path,
                                                      osv_api: OsvServer) -> None:
    report = scan(model_dir(tmp_path, CLEAN, conda=CONDA))
    assert ("requests", "2.19.0") in osv_api.asked() and ("requests", "2.20.0") in osv_api.asked()
    assert [(f.rule, f.file, f.line) for f in report.findings] == [(KNOWN_ID, CONDA_FILE, 8)]


def test_an_unreachable_or_failing_service_is_a_scan_error(tmp_path: Path,
                                                           osv_api: OsvServer) -> None:
    target = model_dir(tmp_path)
    down = f"http://127.0.0.1:{free_port()}/v1/query"
    with pytest.raises(ScanError, match="could not reach the vulnerability service at "
                       f"{down}"):
        scan(target, {"GATEKEEPER_OSV_URL": down})
    osv_api.fail_with(503)
    with pytest.raises(ScanError, match=f"the vulnerability service at {osv_api.url} refused"):
        scan(target)


def test_a_run_past_its_time_limit_is_a_scan_error(tmp_path: Path, osv_api: OsvServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pip_audit, "RUN_TIMEOUT", 0.01)
    with pytest.raises(ScanError, match=r"pip-audit did not finish within 0\.01 s"):
        scan(model_dir(tmp_path))


# -- gatekeeper check through the real CLI ----------------------------------------------------

PLAYBOOK: dict[str, Any] = {
    "model": "fraud",
    "owners": {"product": "p@example.com", "platform": "o@example.com",
               "data_science": "d@example.com"},
    "milestones": [
        {"id": "poc", "title": "POC validation", "stage": "poc", "alias": "poc-ok",
         "checks": [{"id": "deps", "kind": "dependency_audit", "category": "security",
                     "owner": "security"}]},
        {"id": "serve", "title": "Serve layer", "stage": "serve", "alias": "serve-ok",
         "checks": [{"id": "auc", "kind": "metric_threshold", "category": "quality",
                     "owner": "ds", "key": "auc", "min": 0.8}]},
        {"id": "pilot", "title": "Pilot", "stage": "pilot", "alias": "champion",
         "checks": [{"id": "auc", "kind": "metric_threshold", "category": "quality",
                     "owner": "ds", "key": "auc", "min": 0.8}]},
    ],
}


def write_playbook(path: Path, **check: Any) -> Path:
    book = json.loads(json.dumps(PLAYBOOK))
    book["milestones"][0]["checks"][0].update(check)
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    return path


def seed(tracking_uri: str, requirements: str | None) -> str:
    files = {"model/MLmodel": "artifact_path: model\nflavors: {}\n", "model/conda.yaml": CONDA}
    if requirements is not None:
        files["model/requirements.txt"] = requirements
    return seed_version(tracking_uri, "fraud", metrics={"auc": 0.9}, log_model=False,
                        artifacts=files)


def gate(tracking_uri: str, version: str, playbook: Path, out: Path, audit: Path) -> int:
    out.mkdir(exist_ok=True)
    outputs = [f"-o{name}={out / name}" for name in sorted(FORMATS)]
    return run(["check", str(playbook), "--model", "fraud", "--version", version,
                "--milestone", "poc", "--tracking-uri", tracking_uri, "--audit-log",
                str(audit), "-o", "text", *outputs])


def only_check(out: Path) -> dict[str, Any]:
    [check] = json.loads((out / "json").read_text())["checks"]
    return dict(check)


def test_check_blocks_a_vulnerable_pin_in_every_format_and_passes_a_clean_one(
        tracking_uri: str, tmp_path: Path, osv_api: OsvServer,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    mirror = osv_api.url.replace("http://", f"http://gatekeeper:{MIRROR_TOKEN}@")
    monkeypatch.setenv("GATEKEEPER_OSV_URL", mirror)
    playbook = write_playbook(tmp_path / "p.yaml")
    bad, good = seed(tracking_uri, VULNERABLE), seed(tracking_uri, CLEAN)
    out, audit = tmp_path / "out", tmp_path / "audit.jsonl"

    assert gate(tracking_uri, bad, playbook, out, audit) == 1
    check = only_check(out)
    assert (check["kind"], check["category"], check["status"]) == (
        "dependency_audit", "security", "fail")
    # conda.yaml repeats requests==2.19.0: audited once, reported at its first place.
    assert check["message"] == ("1 known vulnerability in 1 pinned requirement: requests "
                                "2.19.0 (model/requirements.txt:2): PYSEC-2018-28 fixed in "
                                "2.20.0")
    assert check["evidence"]["model/requirements.txt"] == (
        f"mlflow:models/fraud/{bad}/model_files/requirements.txt")
    assert check["evidence"]["service"] == mirror.replace(MIRROR_TOKEN, "***")
    assert check["observed"]["audited"] == 4
    texts = {name: (out / name).read_text() for name in FORMATS}
    captured = capsys.readouterr()
    texts |= {"stdout": captured.out, "stderr": captured.err, "audit": audit.read_text()}
    assert {w for w, text in texts.items() if MIRROR_TOKEN in text} == set()
    assert KNOWN_ID in texts["sarif"] and KNOWN_ID in texts["audit"]
    assert "PYSEC-2018-28 fixed in 2.20.0" in captured.out

    conda_clean = CONDA.replace("requests==2.19.0", "requests==2.20.0")
    files_ok = seed_version(tracking_uri, "fraud", metrics={"auc": 0.9}, log_model=False,
                            artifacts={"model/MLmodel": "flavors: {}\n",
                                       "model/requirements.txt": CLEAN,
                                       "model/conda.yaml": conda_clean})
    assert gate(tracking_uri, files_ok, playbook, out, audit) == 0
    assert only_check(out)["status"] == "pass"
    assert good  # seeded with CONDA's vulnerable pin: blocked through conda.yaml
    assert gate(tracking_uri, good, playbook, out, audit) == 1
    assert "(model/conda.yaml:8)" in only_check(out)["message"]
    assert ("requests", "2.20.0") in osv_api.asked()


def test_check_is_an_error_when_the_service_is_down_or_requirements_are_missing(
        tracking_uri: str, tmp_path: Path, osv_api: OsvServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    playbook = write_playbook(tmp_path / "p.yaml",
                              ignore=[{"id": "CVE-2018-18074", "reason": "no redirects"}])
    out, audit = tmp_path / "out", tmp_path / "audit.jsonl"
    no_reqs = seed(tracking_uri, None)
    assert gate(tracking_uri, no_reqs, playbook, out, audit) == 1
    check = only_check(out)
    assert check["status"] == "error"
    assert check["message"].startswith("not audited: model/requirements.txt (not logged with "
                                       "the model")

    version = seed(tracking_uri, VULNERABLE)
    assert gate(tracking_uri, version, playbook, out, audit) == 0  # ignored, with its reason
    assert only_check(out)["observed"]["ignored"][0]["reason"] == "no redirects"
    down = f"http://127.0.0.1:{free_port()}/v1/query"
    monkeypatch.setenv("GATEKEEPER_OSV_URL", down)
    assert gate(tracking_uri, version, playbook, out, audit) == 1
    check = only_check(out)
    assert (check["status"], check["message"]) == (
        "error", f"pip-audit: pip-audit could not reach the vulnerability service at {down} "
        "(set GATEKEEPER_OSV_URL to an OSV mirror it can reach)")


def test_without_pip_audit_the_check_is_an_error_and_validate_names_the_extra(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(scanners.SCANNERS, "pip-audit", replace(
        pip_audit.SCANNER, modules=("gatekeeper_no_such_module",)))
    playbook = write_playbook(tmp_path / "p.yaml")
    with pytest.raises(ValidationError) as caught:
        validate_paths([playbook])
    [problem] = caught.value.problems
    assert problem.path == "milestones[0].checks[0].kind"
    assert "pip install 'gatekeeper[security]'" in problem.message

    out, audit = tmp_path / "out", tmp_path / "audit.jsonl"
    assert gate(tracking_uri, seed(tracking_uri, CLEAN), playbook, out, audit) == 1
    check = only_check(out)
    assert (check["status"], check["message"]) == (
        "error", "pip-audit needs the Python module 'gatekeeper_no_such_module', which is not "
        "installed: pip install 'gatekeeper[security]'")
