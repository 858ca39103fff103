"""evidence/digests.py on a real SQLite MLflow registry: digests of the model files, required
artifacts and the input example, tag values (sensitive ones hashed only), the size cap, and a
change in MLflow after the decision detected by re-hashing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import rfc8785

from gatekeeper.common.sensitive import SALT_ENV, keyed_digest
from gatekeeper.evidence.digests import (
    MODEL_COPY,
    changed_evidence,
    evidence_digests,
    model_ref,
)
from gatekeeper.evidence.interface import (
    MODEL_FILES,
    Evidence,
    EvidenceRequest,
    ScanQuery,
    VersionEvidence,
)
from gatekeeper.evidence.mlflow_env import mlflow_client
from gatekeeper.evidence.mlflow_source import MlflowSource
from gatekeeper.evidence.scans import with_scans
from tests.support.registry import seed_version

CARD = "# churn model card\nOwner: the churn team\n"
TOKEN = "ghp_Zq3xT9vLm2Kp8Rw4Yb6Nc1Hd5Fg7Js0QaEu"
WANTED = EvidenceRequest(model_info=True, read_artifacts=frozenset({"model_card.md", "docs"}),
                         read_tags=frozenset({"approval.ref", "data.classification",
                                              "deploy.token", "owner.contact"}))


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def seeded(uri: str) -> tuple[MlflowSource, VersionEvidence]:
    version = seed_version(
        uri, "churn", metrics={"auc": 0.9},
        artifacts={"model_card.md": CARD, "docs/a.txt": "a", "docs/deep/b.txt": "b"},
        version_tags={"approval.ref": "CAB-1234", "deploy.token": TOKEN},
        run_tags={"data.classification": "internal", "owner.contact": "jane.doe@example.com"})
    source = MlflowSource(uri)
    return source, source.collect("churn", version, EvidenceRequest()).candidate


def model_folder(uri: str, cand: VersionEvidence) -> Path:
    """Where the registry keeps the model's files (a local folder for a SQLite registry)."""
    return Path(mlflow_client(uri).get_model_version_download_uri(cand.name, cand.version))


def test_digests_of_the_model_artifacts_example_and_tag_values(tracking_uri: str) -> None:
    source, cand = seeded(tracking_uri)
    found = evidence_digests(cand, WANTED, source, env={})

    files = {p.relative_to(model_folder(tracking_uri, cand)).as_posix(): sha(p.read_bytes())
             for p in sorted(model_folder(tracking_uri, cand).rglob("*")) if p.is_file()}
    model = found[model_ref(cand)]
    assert model["files"] == files and model["file_count"] == len(files) >= 3
    pairs = [[path, files[path]] for path in sorted(files)]
    assert model["sha256"] == sha(rfc8785.dumps(pairs))
    assert found[cand.ref("model", "input_example")] == {
        "sha256": files["input_example.json"], "file": "input_example.json",
        "bytes": len((model_folder(tracking_uri, cand) / "input_example.json").read_bytes())}
    assert found[cand.ref("model", "signature")]["sha256"] == files["MLmodel"]
    assert found[cand.ref("artifacts", "model_card.md")] == {
        "sha256": sha(CARD.encode()), "bytes": len(CARD.encode())}
    docs = {"a.txt": sha(b"a"), "deep/b.txt": sha(b"b")}
    assert found[cand.ref("artifacts", "docs")] == {
        "sha256": sha(rfc8785.dumps([[p, docs[p]] for p in sorted(docs)])), "bytes": 2,
        "file_count": 2, "files": docs}
    assert found[cand.ref("version_tags", "approval.ref")] == {"value": "CAB-1234"}
    assert found[cand.ref("tags", "data.classification")] == {"value": "internal"}


def test_sensitive_tag_values_are_kept_as_keyed_hashes_only(tracking_uri: str) -> None:
    source, cand = seeded(tracking_uri)
    found = evidence_digests(cand, WANTED, source, env={SALT_ENV: "org-salt"})
    assert found[cand.ref("version_tags", "deploy.token")] == {
        "hmac": keyed_digest(TOKEN, b"org-salt"), "key": SALT_ENV,
        "why": "its name suggests a credential"}
    assert found[cand.ref("tags", "owner.contact")] == {
        "hmac": keyed_digest("jane.doe@example.com", b"org-salt"), "key": SALT_ENV,
        "why": "it holds an e-mail address (personal data)"}
    text = json.dumps(found)
    assert TOKEN not in text and "jane.doe" not in text


def test_missing_artifact_and_the_size_cap_are_said_not_hidden(tracking_uri: str) -> None:
    source, cand = seeded(tracking_uri)
    wanted = EvidenceRequest(read_artifacts=frozenset({"model_card.md", "absent.md"}))
    found = evidence_digests(cand, wanted, source, max_bytes=len(CARD.encode()) + 5)
    model = found[model_ref(cand)]
    assert model["error"].startswith("not copied: ") and model["bytes"] > 5
    assert model["error"].endswith(f"bytes, over the {len(CARD.encode()) + 5} bytes left of "
                                   "the digest cap")
    assert found[cand.ref("artifacts", "absent.md")] == {"error": "not found"}
    # The model was refused before anything was copied, so the card still fits the cap.
    assert found[cand.ref("artifacts", "model_card.md")]["sha256"] == sha(CARD.encode())


def test_an_artifact_replaced_in_mlflow_after_the_decision_is_detected(
        tracking_uri: str) -> None:
    source, cand = seeded(tracking_uri)
    recorded = evidence_digests(cand, WANTED, source, env={})
    sealed = {cand.ref("version_tags", "approval.ref"): {"value": "CAB-1234", "salt": "00"}}
    unchanged = changed_evidence(recorded, cand, source, sealed, env={})
    assert {c.status for c in unchanged if "token" not in c.ref and "contact" not in c.ref} == {
        "unchanged"}

    assert cand.run_id is not None
    mlflow_client(tracking_uri).log_text(cand.run_id, "# rewritten\n", "model_card.md")
    (model_folder(tracking_uri, cand) / "input_example.json").write_text('{"x": [0]}')
    changes = {c.ref: c for c in changed_evidence(recorded, cand, source, sealed, env={})}
    assert changes[cand.ref("artifacts", "model_card.md")].status == "changed"
    assert changes[model_ref(cand)].line() == (
        f"changed    {model_ref(cand)}  (files changed: input_example.json)")
    assert changes[cand.ref("model", "input_example")].status == "changed"
    assert changes[cand.ref("artifacts", "docs")].status == "unchanged"
    assert changes[cand.ref("version_tags", "approval.ref")].status == "unchanged"
    # Without the organisation's salt, sensitive values cannot be compared: said so.
    assert changes[cand.ref("version_tags", "deploy.token")].status == "unchecked"


class CountingSource(MlflowSource):
    """The real source, counting the downloads of the model's files."""

    model_downloads = 0

    def download(self, version: VersionEvidence, where: str, dest: Path) -> Path | None:
        self.model_downloads += where == MODEL_FILES
        return super().download(version, where, dest)


def test_the_scanners_copy_is_hashed_instead_of_downloading_the_model_twice(
        tracking_uri: str) -> None:
    _, cand = seeded(tracking_uri)
    source = CountingSource(tracking_uri)
    alone = evidence_digests(cand, WANTED, source, env={})
    assert source.model_downloads == 1

    scanned = with_scans(Evidence(cand), [ScanQuery("no-such-scanner")], source)
    reused = evidence_digests(cand, WANTED, source, env={}, copied=scanned.extra[MODEL_COPY])
    assert source.model_downloads == 1  # the scanners' copy (fetch_files) was hashed
    assert reused == alone
