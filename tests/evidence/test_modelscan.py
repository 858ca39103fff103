"""The modelscan scanner for real: modelscan 0.8.8 on model files logged to a real SQLite
registry. A pickle whose ``__reduce__`` runs ``os.system("touch <marker>")`` blocks
``gatekeeper check`` through the real CLI and is never unpickled (the marker never appears);
a plain pickle passes; safetensors and ONNX are accepted unscanned; a file modelscan cannot read
is ``error``; and the scikit-learn model MLflow itself logs is what modelscan says it is."""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.cli import run
from gatekeeper.errors import ValidationError
from gatekeeper.evaluate.interface import Outcome, Status
from gatekeeper.evaluate.model_scan import QUERY, ModelScanSpec, evaluate
from gatekeeper.evidence import scanners
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, VersionEvidence
from gatekeeper.evidence.mlflow_env import mlflow_client
from gatekeeper.evidence.mlflow_source import MlflowSource
from gatekeeper.evidence.scanners import modelscan
from gatekeeper.evidence.scanners.interface import ScanFailure, ScanReport, ScanTarget
from gatekeeper.evidence.scans import run_scan, with_scans
from gatekeeper.load.validate import validate_paths
from tests.support.registry import seed_version

MLMODEL = "artifact_path: model\nflavors:\n  sklearn:\n    pickled_model: model.pkl\n"


def payload(marker: Path) -> bytes:
    """A protocol-0 pickle that, when loaded, calls ``os.system("touch <marker>")``; written
    opcode by opcode (GLOBAL, MARK, STRING, TUPLE, REDUCE, STOP), so nothing here runs it."""
    return f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()


def safetensors() -> bytes:
    """A real (empty) safetensors file: an 8-byte little-endian header length, the header."""
    header = json.dumps({"__metadata__": {"format": "pt"}}).encode()
    return struct.pack("<Q", len(header)) + header


def log_model_files(tracking_uri: str, name: str, files: dict[str, bytes],
                    tmp_path: Path) -> str:
    """A version whose model files (its ``runs:/<run>/model`` folder) are ``files`` beside an
    MLmodel; returns the version number."""
    version = seed_version(tracking_uri, name, metrics={"accuracy": 0.9}, log_model=False,
                           artifacts={"model/MLmodel": MLMODEL,
                                      "model/requirements.txt": "scikit-learn\n"})
    client = mlflow_client(tracking_uri)
    run_id = client.get_model_version(name, version).run_id
    staged = tmp_path / "staged" / name / version
    for rel, data in files.items():
        (staged / rel).parent.mkdir(parents=True, exist_ok=True)
        (staged / rel).write_bytes(data)
        client.log_artifact(run_id, str(staged / rel), "/".join(["model", *Path(rel).parent.parts]))
    return version


def judged(tracking_uri: str, name: str, version: str, **fields: Any
           ) -> tuple[ScanReport, Outcome]:
    source = MlflowSource(tracking_uri)
    evidence = with_scans(source.collect(name, version, EvidenceRequest()), [QUERY], source)
    report = evidence.extra[QUERY.key]
    assert isinstance(report, ScanReport), report
    return report, evaluate(spec(**fields), evidence)


def spec(**fields: Any) -> ModelScanSpec:
    return ModelScanSpec(**{"id": "model-scan", "kind": "model_scan", "category": "security",
                            "owner": "security", **fields})


def test_the_payload_is_real_when_unpickled(tmp_path: Path) -> None:
    """The control: loading the payload does create its marker (in a child process), so the
    marker's absence below means the gate never loaded it."""
    marker = tmp_path / "control-marker"
    (tmp_path / "model.pkl").write_bytes(payload(marker))
    subprocess.run([sys.executable, "-c", "import pickle, sys; "
                    "pickle.loads(open(sys.argv[1], 'rb').read())", str(tmp_path / "model.pkl")],
                   check=True, timeout=120)
    assert marker.exists()


PLAYBOOK = """\
model: %(model)s
owners: {product: p@corp.test, platform: o@corp.test, data_science: d@corp.test}
milestones:
  - id: poc
    title: POC validation
    stage: poc
    alias: poc-ok
    checks:
      - {id: acc, kind: metric_threshold, category: quality, owner: ds, key: accuracy, min: 0.8}
      - {id: model-scan, kind: model_scan, category: security, owner: security}
  - id: serve
    title: Serve layer
    stage: serve
    alias: serve-ok
    checks:
      - {id: acc2, kind: metric_threshold, category: quality, owner: ds, key: accuracy, min: 0.8}
  - id: pilot
    title: Pilot
    stage: pilot
    alias: champion
    checks:
      - {id: acc3, kind: metric_threshold, category: quality, owner: ds, key: accuracy, min: 0.8}
"""
FORMATS = ("json", "sarif", "junit", "markdown", "html", "github")


def test_check_blocks_a_pickle_calling_os_system_without_unpickling_it(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned-marker"
    version = log_model_files(tracking_uri, "fraud", {"model.pkl": payload(marker)}, tmp_path)
    playbook = tmp_path / "fraud.yaml"
    playbook.write_text(PLAYBOOK % {"model": "fraud"})
    audit = tmp_path / "audit.jsonl"
    outputs = [a for f in FORMATS for a in ("-o", f"{f}={tmp_path / ('out.' + f)}")]
    code = run(["check", str(playbook), "--model", "fraud", "--version", version,
                "--milestone", "poc", "--tracking-uri", tracking_uri, "--audit-log", str(audit),
                "-o", "text", *outputs, "--promote"])
    captured = capsys.readouterr()
    assert code == 1
    assert not marker.exists()
    line = next(x for x in captured.out.splitlines() if "model-scan" in x)
    assert line.split()[0] == "FAIL"
    assert ("1 unsafe operator(s) at or above high in 1 model file(s) (blocks): "
            "model/model.pkl: critical os.system") in line
    result = json.loads((tmp_path / "out.json").read_text())
    [check] = [c for c in result["checks"] if c["id"] == "model-scan"]
    assert (check["status"], check["category"], check["blocking"]) == ("fail", "security", True)
    assert check["observed"]["issues"] == [{"file": "model/model.pkl", "rule": "os.system",
                                            "severity": "critical"}]
    assert check["evidence"]["model/model.pkl"].endswith("/model.pkl")
    assert result["promotion"] is None
    written = {f: (tmp_path / f"out.{f}").read_text() for f in FORMATS}
    written |= {"stdout": captured.out, "stderr": captured.err, "audit": audit.read_text()}
    for where, text in written.items():
        assert "os.system" in text or where in ("stderr", "github"), where
        assert f"touch {marker}" not in text, where  # the payload's argument is never echoed
    assert "modelscan" not in captured.err.lower()  # its log lines stay out of the CLI's output
    assert run(["audit", "verify", "--audit-log", str(audit)]) == 0


def test_plain_pickles_pass_and_safe_formats_are_accepted_unscanned(
        tracking_uri: str, tmp_path: Path) -> None:
    benign = log_model_files(tracking_uri, "plain", {
        "model.pkl": pickle.dumps({"weights": [0.1, 0.2], "bias": 0.3}, protocol=4)}, tmp_path)
    report, outcome = judged(tracking_uri, "plain", benign)
    assert report.scanned == ("model/model.pkl",)
    assert (report.findings, report.unscanned) == ((), ())
    assert report.facts["not_model"] == ("model/MLmodel", "model/requirements.txt")
    assert report.tool_version == "0.8.8"
    assert (outcome.status, outcome.message) == (
        Status.PASS, "no unsafe operator: 1 file(s) scanned")

    safe = log_model_files(tracking_uri, "tensors", {
        "model.safetensors": safetensors(), "model.onnx": b"\x08\x07\x12\x07pytorch"}, tmp_path)
    report, outcome = judged(tracking_uri, "tensors", safe)
    assert report.scanned == () and report.unscanned == ()
    assert report.facts["safe_format"] == ("model/model.onnx", "model/model.safetensors")
    assert outcome.status is Status.PASS
    assert outcome.message == ("no unsafe operator: 0 file(s) scanned, 2 in a safe format "
                               "(model/model.onnx; model/model.safetensors)")


def test_files_modelscan_cannot_read_are_error(tracking_uri: str, tmp_path: Path) -> None:
    marker = tmp_path / "disguised-marker"
    version = log_model_files(tracking_uri, "opaque", {
        "weights.bin2": bytes(range(256)) * 4,  # no scanner for the format
        "model.bin": b"\x00" * 64,  # a PyTorch name without PyTorch's magic number
        "notes.txt": payload(marker),  # a pickle named as text: a loader would still load it
        "fake.safetensors": b"\xff" * 32,  # no safetensors header
        "model.pkl": pickle.dumps([1, 2, 3])}, tmp_path)
    report, outcome = judged(tracking_uri, "opaque", version)
    assert dict(report.unscanned) == {
        "model/weights.bin2": "modelscan has no scanner for this format",
        "model/model.bin": "not the format its name claims (wrong magic number)",
        "model/notes.txt": "named as text but its bytes are a pickle",
        "model/fake.safetensors": "named .safetensors but without a safetensors header",
    }
    assert report.scanned == ("model/model.pkl",)
    assert outcome.status is Status.ERROR
    assert outcome.message.startswith("modelscan could not scan 4 model file(s) that are not "
                                      "a safe format: ")
    assert not marker.exists()


def test_the_sklearn_model_mlflow_logs_passes(tracking_uri: str) -> None:
    """MLflow 3's sklearn flavor saves ``model.skops``: a zip of ``schema.json`` and NumPy
    arrays, no pickle. modelscan 0.8.8's NumPy scanner fails on every array under NumPy 2.3+
    (it calls a function NumPy removed); arrays whose dtype holds no Python objects are then
    judged from their header and accepted as a safe format."""
    version = seed_version(tracking_uri, "sk", metrics={"accuracy": 0.9})
    report, outcome = judged(tracking_uri, "sk", version)
    assert report.findings == () and report.unscanned == ()
    arrays = [n for n in report.facts["safe_format"] if n.endswith(".npy")]
    assert arrays and all(n.startswith("model/model.skops:") for n in arrays)
    assert "model/model.skops:schema.json" in report.facts["not_model"]
    assert {"model/MLmodel", "model/conda.yaml", "model/requirements.txt"} <= set(
        report.facts["not_model"])
    assert outcome.status is Status.PASS


def test_an_object_array_is_never_accepted_unread(tmp_path: Path) -> None:
    """NumPy stores an array of Python objects as a pickle: unless modelscan reads it, it is
    unscanned; an array of numbers beside it is accepted."""
    import numpy as np

    target = local_target(tmp_path, {"MLmodel": MLMODEL.encode()})
    np.save(tmp_path / "model" / "weights.npy", np.arange(6, dtype=np.float32))
    np.save(tmp_path / "model" / "objects.npy", np.array([{"a": 1}, None], dtype=object),
            allow_pickle=True)
    report = modelscan.scan(target, QUERY, {})
    assert "model/weights.npy" in report.facts["safe_format"]
    assert "model/objects.npy" not in report.facts["safe_format"]
    assert "model/objects.npy" in report.scanned + tuple(n for n, _ in report.unscanned)


def test_a_pickle_inside_an_archive_is_named_by_its_member(tmp_path: Path) -> None:
    marker = tmp_path / "zip-marker"
    target = local_target(tmp_path, {"MLmodel": MLMODEL.encode()})
    with zipfile.ZipFile(tmp_path / "model" / "bundle.zip", "w") as archive:
        archive.writestr("inner/evil.pkl", payload(marker))
        archive.writestr("inner/meta.json", "{}")
    report = modelscan.scan(target, QUERY, {})
    [found] = report.findings
    assert (found.file, found.rule, found.severity) == (
        "model/bundle.zip:inner/evil.pkl", "os.system", "critical")
    assert found.ref == "model/bundle.zip"
    assert report.facts["not_model"] == ("model/MLmodel", "model/bundle.zip:inner/meta.json")
    assert not marker.exists()


def test_modelscan_not_installed_is_an_error_and_a_validate_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(scanners.SCANNERS, "modelscan", replace(
        modelscan.SCANNER, modules=("modelscan", "gatekeeper_no_such_module")))
    target = local_target(tmp_path, {"model.pkl": pickle.dumps(1)})
    answer = run_scan(QUERY, target, {})
    assert isinstance(answer, ScanFailure)
    outcome = evaluate(spec(), Evidence(fake_candidate(), extra={QUERY.key: answer}))
    assert outcome.status is Status.ERROR
    assert "pip install 'gatekeeper[security]'" in outcome.message

    playbook = tmp_path / "fraud.yaml"
    playbook.write_text(PLAYBOOK % {"model": "fraud"})
    with pytest.raises(ValidationError) as caught:
        validate_paths([playbook])
    [problem] = caught.value.problems
    assert problem.path == "milestones[0].checks[1].kind"
    assert "pip install 'gatekeeper[security]'" in problem.message


def local_target(root: Path, files: dict[str, bytes]) -> ScanTarget:
    """A scan target of model files, without a registry."""
    for name, data in files.items():
        (root / "model" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "model" / name).write_bytes(data)
    return ScanTarget(root, root / "model", None, "fraud v1")


def fake_candidate() -> VersionEvidence:
    from tests.evaluate.conftest import version

    return version()
