"""Signed attestations through the real CLI (docs/attestations.md): three workspaces, each with
its own empty JSONL audit log, share nothing but the SQLite MLflow registry. `poc` is gated in
the first, `serve` in the second, `promote` runs in the third: it works on signed attestations,
and an edited, re-signed, unsigned or misplaced tag never counts."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from gatekeeper.record.attestation import envelope_text, record_predicate, seal
from gatekeeper.record.signing import Signer
from tests.cli.test_check import PLAYBOOK, seed

TRUSTED = Ed25519PrivateKey.generate()
UNTRUSTED = Ed25519PrivateKey.generate()
TAG = "gatekeeper.attestation.poc"


def pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def policy() -> str:
    public = Signer(TRUSTED).public_key_text
    return ("id: org\nattestations:\n  trusted_keys:\n"
            f"    - {{id: ci-release, public_key: {public}}}\n")


class Workspaces:
    """Working folders that share only the registry: each gets the playbook, the policy and
    its own audit log (``audit.jsonl``, relative: never another folder's)."""

    def __init__(self, root: Path, uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root, self.uri, self.monkeypatch = root, uri, monkeypatch

    def enter(self, name: str, key: Ed25519PrivateKey | None = TRUSTED) -> Path:
        folder = self.root / name
        (folder / "policies").mkdir(parents=True)
        (folder / "fraud.yaml").write_text(PLAYBOOK.read_text())
        (folder / "policies" / "org.yaml").write_text(policy())
        self.monkeypatch.chdir(folder)
        if key is None:
            self.monkeypatch.delenv("GATEKEEPER_SIGNING_KEY", raising=False)
        else:
            self.monkeypatch.setenv("GATEKEEPER_SIGNING_KEY", pem(key))
        return folder

    def gatekeeper(self, command: str, milestone: str, *args: str, version: str = "1") -> int:
        return run([command, "fraud.yaml", "--model", "fraud", "--version", version,
                    "--milestone", milestone, "--tracking-uri", self.uri,
                    "--audit-log", "audit.jsonl", *args])


@pytest.fixture
def spaces(tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[Workspaces]:
    yield Workspaces(tmp_path / "ws", tracking_uri, monkeypatch)


def records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()]


def tags(uri: str, version: str = "1") -> dict[str, str]:
    return dict(mlflow_client(uri).get_model_version("fraud", version).tags)


def set_tag(uri: str, value: str, version: str = "1", tag: str = TAG) -> None:
    mlflow_client(uri).set_model_version_tag("fraud", version, tag, value)


def prerequisite(result: Path) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in json.loads(result.read_text())["checks"]
                                 if c["id"] == "gatekeeper.earlier-milestones")
    return found


def test_poc_and_serve_in_two_workspaces_then_promote_in_a_third(
        spaces: Workspaces, capsys: pytest.CaptureFixture[str]) -> None:
    seed(spaces.uri)
    a = spaces.enter("a")
    assert spaces.gatekeeper("check", "poc") == 0
    envelope = json.loads(tags(spaces.uri)[TAG])
    assert envelope["signatures"][0]["keyid"] == Signer(TRUSTED).key_id
    statement = json.loads(base64.b64decode(envelope["payload"]))
    poc = records(a)[0]
    audit = statement["predicate"]["audit"]
    assert (audit["seq"], audit["hash"]) == (1, poc["hash"])
    assert audit["log"] in ("audit.jsonl", (a / "audit.jsonl").as_uri())  # A's store
    # What was signed is what the record holds (`audit export` rebuilds it from the record).
    assert statement["predicate"] == record_predicate(poc, audit["log"])
    assert statement["predicate"]["milestone_digest"] == poc["playbook"]["milestone_digest"]
    assert statement["subject"][0]["name"] == "mlflow:models/fraud/1"
    # The model files' digest, when the gate took it (evidence/digests.py), is a second subject.
    files = (poc.get("evidence_digests") or {}).get("mlflow:models/fraud/1/model_files") or {}
    assert statement["subject"][1:] == ([{
        "name": "mlflow:models/fraud/1/model_files",
        "digest": {"sha256": files["sha256"].removeprefix("sha256:")}}] if "sha256" in files
        else [])

    b = spaces.enter("b")
    assert spaces.gatekeeper("check", "serve", "-o", "json=result.json") == 0
    check = prerequisite(b / "result.json")
    assert check["status"] == "pass"
    assert check["evidence"] == {
        "poc": f"attestation:mlflow:models/fraud/1/version_tags/{TAG}"}
    assert check["observed"] == {"poc": poc["hash"]}
    assert [r["milestone"] for r in records(b)] == ["serve"]  # B never gated poc

    c = spaces.enter("c", key=None)
    capsys.readouterr()
    assert spaces.gatekeeper("promote", "serve") == 0
    assert capsys.readouterr().out.startswith("promoted: alias 'serve-ok' -> version 1; ")
    assert mlflow_client(spaces.uri).get_registered_model("fraud").aliases == {"serve-ok": 1}
    [promotion] = records(c)
    assert promotion["action"] == "promotion"
    ref = promotion["decision_ref"]
    assert (ref["seq"], ref["hash"]) == (1, records(b)[0]["hash"])
    assert ref["log"] in ("audit.jsonl", (b / "audit.jsonl").as_uri())  # B's: it decided
    assert promotion["attestation"]["tag"] == "gatekeeper.attestation.serve"
    assert promotion["attestation"]["signer"] == "ci-release"

    assert run(["status", "--model", "fraud", "--tracking-uri", spaces.uri, "--audit-log",
                "audit.jsonl", "-o", "json=status.json"]) == 0
    standing = json.loads((c / "status.json").read_text())["versions"][0]
    assert [(m["milestone"], m["decision"], m["seq"]) for m in standing["milestones"]] == [
        ("poc", "pass", None), ("serve", "pass", None)]


def forged(uri: str, how: str) -> str:
    """The `poc` tag of version 1, forged: ``edited`` (a field of the signed statement changed,
    the signature kept), ``resigned`` (edited and signed by a key no policy trusts),
    ``unsigned`` (no signatures)."""
    envelope = json.loads(tags(uri)[TAG])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["decided_at"] = "2026-12-03T00:00:00.000Z"
    if how == "resigned":
        return envelope_text(seal(statement, Signer(UNTRUSTED)))
    body = base64.b64encode(json.dumps(statement).encode()).decode()
    signatures = [] if how == "unsigned" else envelope["signatures"]
    return json.dumps({**envelope, "payload": body, "signatures": signatures})


@pytest.mark.parametrize(("how", "reason"), [
    ("edited", "the signature does not verify (altered after signing)"),
    ("resigned", f"signed by untrusted key {Signer(UNTRUSTED).key_id}"),
    ("unsigned", "unsigned"),
])
def test_a_forged_tag_is_refused_at_check_and_promote(
        spaces: Workspaces, capsys: pytest.CaptureFixture[str], how: str, reason: str) -> None:
    seed(spaces.uri)
    spaces.enter("a")
    assert spaces.gatekeeper("check", "poc") == 0
    set_tag(spaces.uri, forged(spaces.uri, how))

    b = spaces.enter("b")
    assert spaces.gatekeeper("check", "serve", "-o", "json=result.json") == 1
    check = prerequisite(b / "result.json")
    assert check["status"] == "fail"
    assert check["message"] == (
        "earlier milestone poc not passed for this version (no passing decision in the audit "
        f"log); attestation {TAG} not counted: {reason}")

    spaces.enter("c")
    capsys.readouterr()
    assert spaces.gatekeeper("promote", "poc") == 1
    assert capsys.readouterr().out == (
        "refused: no passing decision for milestone 'poc' of this version in the audit log "
        f"(attestation {TAG} not counted: {reason}); run `gatekeeper check` first\n")
    assert mlflow_client(spaces.uri).get_registered_model("fraud").aliases == {}


def test_a_tag_copied_to_another_version_or_made_under_a_looser_playbook_never_counts(
        spaces: Workspaces, capsys: pytest.CaptureFixture[str]) -> None:
    seed(spaces.uri), seed(spaces.uri)
    a = spaces.enter("a")
    looser = PLAYBOOK.read_text().replace("min: 0.8,", "min: 0.5,")
    (a / "fraud.yaml").write_text(looser)
    assert spaces.gatekeeper("check", "poc") == 0  # signed, trusted, under a looser poc
    set_tag(spaces.uri, tags(spaces.uri)[TAG], version="2")

    b = spaces.enter("b")
    assert spaces.gatekeeper("check", "serve", "-o", "json=one.json") == 1
    message = prerequisite(b / "one.json")["message"]
    assert message.startswith(f"'poc' passed (attestation {TAG} signed by ci-release) under "
                              "milestone digest sha256:")
    assert "not this playbook's sha256:" in message
    assert spaces.gatekeeper("check", "serve", "-o", "json=two.json", version="2") == 1
    assert prerequisite(b / "two.json")["message"].endswith(
        f"attestation {TAG} not counted: its subject is not mlflow:models/fraud/2")


def test_without_a_key_no_tag_is_written_and_check_says_so_once(
        spaces: Workspaces, capsys: pytest.CaptureFixture[str]) -> None:
    seed(spaces.uri)
    spaces.enter("a", key=None)
    capsys.readouterr()
    assert spaces.gatekeeper("check", "poc") == 0
    assert capsys.readouterr().err == (
        "gatekeeper: note: no attestation written (GATEKEEPER_SIGNING_KEY is not set): a job "
        "that does not share this audit store cannot count this decision\n")
    assert TAG not in tags(spaces.uri)

    spaces.monkeypatch.setenv("GATEKEEPER_SIGNING_KEY", "not a key")
    assert spaces.gatekeeper("check", "poc") == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "gatekeeper: error: GATEKEEPER_SIGNING_KEY: not a key file, PEM text or the base64 "
        "of a 32-byte Ed25519 private key")
