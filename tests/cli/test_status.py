"""`gatekeeper status` and the policy results of `check`, end to end through the real CLI on a
real SQLite MLflow registry and real git repositories: a protected alias moved by the gate is
fine (exit 0), moved by hand with MlflowClient it is flagged (exit 1) and a check comparing
against it warns, or blocks where the policy says so; lineage passes for a commit on a named
branch and fails for one on another branch or a run without the tag."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from tests.cli.test_check import GOOD, PLAYBOOK
from tests.support.registry import seed_version

ACTOR = git.Actor("Test", "test@example.com")


def playbook(folder: Path) -> Path:
    """The fraud playbook with poc promoting to (and comparing against) champion."""
    text = PLAYBOOK.read_text(encoding="utf-8")
    text = text.replace("alias: champion", "alias: pilot-ok").replace("alias: poc-ok",
                                                                      "alias: champion")
    path = folder / "fraud.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def seed(uri: str, auc: float = 0.9, commit: str | None = None) -> str:
    tags = {"data_classification": "internal"}
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return seed_version(uri, "fraud", metrics={**GOOD, "auc": auc}, run_tags=tags,
                        artifacts={"model_card.md": "# fraud\n"})


def test_status_flags_a_protected_alias_moved_by_hand_and_check_says_so(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book, audit = playbook(tmp_path), tmp_path / "audit.jsonl"
    policy = tmp_path / "org.yaml"
    policy.write_text("id: org\nprotected_aliases: [champion]\n", encoding="utf-8")
    v1, v2, v3 = seed(tracking_uri), seed(tracking_uri, auc=0.89), seed(tracking_uri)
    common = ["--model", "fraud", "--tracking-uri", tracking_uri, "--audit-log", str(audit),
              "--policies", str(policy)]

    def check(version: str, *extra: str) -> int:
        return run(["check", str(book), "--version", version, "--milestone", "poc", *common,
                    *extra])

    def status(*extra: str) -> int:
        return run(["status", *common, *extra])

    assert check(v1, "--promote") == 0
    capsys.readouterr()
    assert status() == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"fraud · 3 versions · audit {audit.as_uri()}"
    assert out[4].startswith("  v1  poc pass 20") and out[4].endswith("  [champion]")
    assert out[7].startswith("           champion (protected) -> v1: set by the gate (record 2, ")
    assert out[-1] == "OK: 1 protected alias, none moved outside the gate"

    mlflow_client(tracking_uri).set_registered_model_alias("fraud", "champion", v2)
    document = tmp_path / "status.json"
    assert status("-o", f"json={document}", "-o", "text") == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-3] == ("  FLAGGED  champion (protected) -> v2: moved outside the gate: the gate "
                       "last moved it to v1 (record 2)")
    assert out[-1] == "FLAGGED: 1 protected alias moved outside the gate: champion"
    found = json.loads(document.read_text())
    assert (found["schema"], found["exit_code"], found["flagged"]) == (
        "gatekeeper.status/v1", 1, ["champion"])
    assert found["policies"][0]["id"] == "org"

    # a check comparing against the moved champion says so: a warning by default...
    result = tmp_path / "result.json"
    assert check(v3, "-o", f"json={result}") == 0
    checks = {c["id"]: c for c in json.loads(result.read_text())["checks"]}
    moved = checks["gatekeeper.baseline-alias"]
    assert (moved["kind"], moved["category"], moved["status"], moved["blocking"]) == (
        "alias_integrity", "governance", "warn", False)
    assert moved["message"] == ("'champion' -> v2 was moved outside the gate (the gate last "
                                "moved it to v1); the comparison is against a version no gate "
                                "promoted")
    assert checks["auc-vs-champion"]["observed"]["baseline"] == 0.89  # still against v2
    # ...and blocking where the policy says it must
    policy.write_text("id: org\nprotected_aliases: [champion]\nblock_on_moved_baseline: true\n",
                      encoding="utf-8")
    capsys.readouterr()
    assert check(v3, "-o", f"json={result}") == 1
    checks = {c["id"]: c for c in json.loads(result.read_text())["checks"]}
    assert (checks["gatekeeper.baseline-alias"]["status"],
            checks["gatekeeper.baseline-alias"]["blocking"]) == ("fail", True)
    assert run(["audit", "verify", "--audit-log", str(audit)]) == 0


def test_status_bad_input_and_unreadable_audit_log(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tracking_uri)
    args = ["status", "--tracking-uri", tracking_uri]
    assert run([*args, "--model", "nope", "--audit-log", str(tmp_path / "a.jsonl")]) == 2
    assert "model 'nope' is not registered" in capsys.readouterr().err
    assert run([*args, "--model", "fraud", "-o", "yaml"]) == 2
    assert capsys.readouterr().err.startswith(
        "gatekeeper: error: -o/--output: unknown format 'yaml' (available: json, text)")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"seq": 1}\n', encoding="utf-8")
    assert run([*args, "--model", "fraud", "--audit-log", str(broken)]) == 3
    assert "failed verification" in capsys.readouterr().err


def repository(folder: Path) -> tuple[git.Repo, str, str]:
    """A repository with the playbook on main and one commit on a branch off it."""
    repo = git.Repo.init(folder, initial_branch="main")
    playbook(folder)
    repo.index.add(["fraud.yaml"])
    on_main = repo.index.commit("playbook", author=ACTOR, committer=ACTOR).hexsha
    repo.create_head("experiment").checkout()
    (folder / "train.py").write_text("print('try')\n", encoding="utf-8")
    repo.index.add(["train.py"])
    elsewhere = repo.index.commit("experiment", author=ACTOR, committer=ACTOR).hexsha
    repo.heads.main.checkout()
    return repo, on_main, elsewhere


def test_lineage_reachable_passes_other_branch_and_missing_tag_fail(
        tracking_uri: str, tmp_path: Path) -> None:
    repo, on_main, elsewhere = repository(tmp_path / "repo")
    policy = tmp_path / "org.yaml"
    policy.write_text("id: org\nlineage: {branches: [main, release/*]}\n", encoding="utf-8")
    good, other, untagged = (seed(tracking_uri, commit=on_main),
                             seed(tracking_uri, commit=elsewhere), seed(tracking_uri))
    unknown = seed(tracking_uri, commit="0" * 40)
    result = tmp_path / "result.json"

    def lineage(version: str, code: int) -> dict[str, object]:
        assert run(["check", str(tmp_path / "repo" / "fraud.yaml"), "--model", "fraud",
                    "--version", version, "--milestone", "poc", "--tracking-uri",
                    tracking_uri, "--audit-log", str(tmp_path / "audit.jsonl"),
                    "--policies", str(policy), "-o", f"json={result}"]) == code
        checks = json.loads(result.read_text())["checks"]
        found: dict[str, object] = next(c for c in checks if c["id"] == "gatekeeper.lineage")
        return found

    passed = lineage(good, 0)
    assert (passed["kind"], passed["status"], passed["observed"]) == ("lineage", "pass", on_main)
    assert passed["message"] == f"training commit {on_main} is on main"
    failed = lineage(other, 1)
    assert (failed["status"], failed["message"]) == ("fail", (
        f"training commit {elsewhere} is reachable from no branch the policy names "
        "(policy org: main, release/*; matching branches: main)"))
    repo.create_head("release/2", elsewhere)  # now it is on a listed branch
    assert lineage(other, 0)["message"] == f"training commit {elsewhere} is on release/2"
    missing = lineage(untagged, 1)
    assert missing["status"] == "fail"
    assert str(missing["message"]).endswith(
        "has no tag mlflow.source.git.commit: the training commit is unknown")
    assert lineage(unknown, 1)["message"] == (
        f"training commit {'0' * 40} is not in the repository {tmp_path / 'repo'}")
