"""Checkpoints anchored outside the log: a real SQLite MLflow registry's version tags, and the
sidecar index that keeps a gate's cost independent of the log's length."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.record import AuditLog, AuditReadError
from gatekeeper.record.checkpoint import TAG, Checkpoint, MlflowAnchor, gate_anchors
from gatekeeper.record.index import index_path
from gatekeeper.record.signing import SignatureCheck, Signer, TrustedKeys
from gatekeeper.record.verify import parse_line
from tests.support.registry import seed_version

MakeEntry = Callable[..., dict[str, Any]]
SIGNER = Signer(Ed25519PrivateKey.generate())
TRUSTED = TrustedKeys({SIGNER.key_id: SIGNER.public_key})


def model(version: str) -> dict[str, str]:
    return {"name": "churn", "version": version, "run_id": f"run-{version}", "source": "s"}


def test_mlflow_anchor_tags_the_version_each_record_is_about(
        tracking_uri: str, log_path: Path, make_entry: MakeEntry) -> None:
    one = seed_version(tracking_uri, "churn", metrics={"auc": 0.9}, log_model=False)
    two = seed_version(tracking_uri, "churn", metrics={"auc": 0.9}, log_model=False)
    log = AuditLog(log_path, env={}, signer=SIGNER, anchors=[MlflowAnchor(tracking_uri)])
    for version in (one, two, one):
        log.append(make_entry(model=model(version)))
    log.append({"action": "repair", "actor": "ops"})  # about no version: no tag

    from gatekeeper.evidence.mlflow_env import mlflow_client

    tags = {v: mlflow_client(tracking_uri).get_model_version("churn", v).tags[TAG]
            for v in (one, two)}
    sizes = {v: Checkpoint.from_json(text).size for v, text in tags.items()}
    assert sizes == {one: 3, two: 2}
    assert Checkpoint.from_json(tags[one]).check(TRUSTED) is SignatureCheck.VALID

    anchor = MlflowAnchor(tracking_uri, "churn")
    assert AuditLog(log_path, env={}).inspect(TRUSTED, anchors=[anchor]).findings == ()
    # The tag on version one set back to the checkpoint it had after record 1: rolled back.
    first = Checkpoint.from_json(tags[one])
    lines = log_path.read_text().splitlines()
    older = Checkpoint(first.origin, 1, json.loads(lines[0])["hash"]).signed(SIGNER)
    mlflow_client(tracking_uri).set_model_version_tag("churn", one, TAG, older.to_json())
    pinned = MlflowAnchor(tracking_uri, "churn", one)
    report = AuditLog(log_path, env={}).inspect(TRUSTED, anchors=[pinned])
    assert [(f.code, f.seq) for f in report.findings] == [("anchor-rolled-back", 2)]


def test_a_gate_anchors_to_mlflow_and_the_git_refs_it_is_given(tmp_path: Path) -> None:
    anchors = gate_anchors("sqlite:///x.db", {"GATEKEEPER_ANCHOR": f"git:{tmp_path}"})
    assert [a.name for a in anchors] == ["mlflow", f"git:{tmp_path}"]


def test_record_package_does_not_import_mlflow_or_git() -> None:
    code = ("import sys, gatekeeper.record, gatekeeper.record.checkpoint, "
            "gatekeeper.cli.audit_integrity;"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'git'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout == "[]\n"


# -- the index ---------------------------------------------------------------------------------


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many lines the gate parses, by counting calls of jsonl's parse_line."""
    calls = [0]

    def counting(raw: bytes) -> Any:
        calls[0] += 1
        return parse_line(raw)

    monkeypatch.setattr("gatekeeper.record.jsonl.parse_line", counting)
    return calls


def fill(log: AuditLog, make_entry: MakeEntry, count: int) -> None:
    for n in range(count):
        log.append(make_entry(model=model(str(n % 7)), milestone=("poc", "serve")[n % 2], n=n))


def test_a_gate_reads_what_it_uses_not_the_whole_log(
        log_path: Path, make_entry: MakeEntry, counted: list[int]) -> None:
    log = AuditLog(log_path, env={})
    fill(log, make_entry, 300)
    counted[0] = 0
    with log.session() as session:
        found = session.latest_decisions("churn", "3", "run-3", ["poc", "serve"])
        session.append(make_entry(model=model("3"), milestone="pilot"))
    # The head the index names, then each record found (and the one after it is read raw).
    assert counted[0] <= 3
    latest = {m: max(n for n in range(300) if n % 7 == 3 and ("poc", "serve")[n % 2] == m)
              for m in ("poc", "serve")}
    assert {m: (r or {}).get("n") for m, r in found.items()} == latest == {"poc": 290,
                                                                           "serve": 297}


def test_a_missing_or_unreadable_index_is_rebuilt(
        log_path: Path, make_entry: MakeEntry, counted: list[int]) -> None:
    log = AuditLog(log_path, env={})
    fill(log, make_entry, 20)
    expected = log.latest_decisions("churn", "3", "run-3", ["poc", "serve"])
    index_path(log_path).write_bytes(b"not sqlite at all")
    counted[0] = 0
    assert log.latest_decisions("churn", "3", "run-3", ["poc", "serve"]) == expected
    assert counted[0] >= 20  # a full verification rebuilt it
    index_path(log_path).unlink()
    assert log.latest_decisions("churn", "3", "run-3", ["poc", "serve"]) == expected


def test_a_stale_index_is_rebuilt_and_the_log_checked(
        log_path: Path, make_entry: MakeEntry) -> None:
    log = AuditLog(log_path, env={})
    fill(log, make_entry, 10)
    log.latest_decisions("churn", "3", "run-3", ["poc"])
    lines = log_path.read_text().splitlines()
    del lines[4]  # the log no longer agrees with the index's head offset
    log_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditReadError, match=r"record 5 \(line 5\): seq 6 where 5 belongs"):
        log.latest_decisions("churn", "3", "run-3", ["poc"])


def test_an_index_pointing_at_an_edited_record_fails_closed(
        log_path: Path, make_entry: MakeEntry) -> None:
    log = AuditLog(log_path, env={})
    fill(log, make_entry, 10)
    log.latest_decisions("churn", "3", "run-3", ["poc"])
    lines = log_path.read_text().splitlines()
    found = next(i for i, line in enumerate(lines) if '"n":3,' in line)
    lines[found] = lines[found].replace('"decision":"pass"', '"decision":"PASS"')
    log_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditReadError, match=f"record {found + 1}: hash mismatch"):
        log.latest_decisions("churn", "3", "run-3", ["poc", "serve"])


def test_a_signed_gate_refuses_a_log_cut_below_its_signed_checkpoint(
        log_path: Path, make_entry: MakeEntry) -> None:
    log = AuditLog(log_path, env={}, signer=SIGNER)
    fill(log, make_entry, 5)
    lines = log_path.read_text().splitlines()
    log_path.write_text("\n".join(lines[:3]) + "\n")  # a valid chain, two records short
    index_path(log_path).unlink()
    with pytest.raises(AuditReadError, match="vouches for 5 records, the log ends at record 3"):
        log.append(make_entry())
    assert len(log_path.read_text().splitlines()) == 3
