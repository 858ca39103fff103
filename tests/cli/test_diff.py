"""`gatekeeper diff` on real git repositories (GitPython, in tmp_path): every loosening is
flagged at its line, a comment or a reformat is no change, a policy can forbid a change (exit
1), and a bad ref or file is one line and exit 2."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import git
import pytest

from gatekeeper.cli import run
from gatekeeper.render import FORMATS

PLAYBOOK = """\
# The fraud model's gate.
model: fraud
baseline: champion
owners: {product: p@example.com, platform: o@example.com, data_science: d@example.com}
milestones:
  - id: poc
    title: POC validation
    stage: poc
    alias: poc-ok
    checks:
      - id: auc-floor
        kind: metric_threshold
        category: quality
        owner: ds
        key: auc
        min: 0.8
      - id: evidence
        kind: required_evidence
        category: governance
        owner: product
        tags: [data_classification]
        artifacts: [model_card.md]
  - id: serve
    title: Serve layer
    stage: serve
    alias: serve-ok
    checks:
      - id: latency-predict
        kind: latency
        category: latency
        owner: platform
        endpoint: predict
        p95_ms: 50
        p99_ms: 100
  - id: pilot
    title: Pilot
    stage: pilot
    alias: champion
    checks:
      - id: pilot-errors
        kind: metric_threshold
        category: latency
        owner: platform
        key: pilot.error_rate
        max: 0.01
"""
# Lines of PLAYBOOK, for exact locations.
AUC_MIN, EVIDENCE, P99, ERRORS_MAX = 16, 17, 34, 45

POLICY = """\
id: org
stages:
  serve:
    require_categories: [latency]
limits:
  latency_p99_ms: 500
"""
FORBIDDING = POLICY + """\
changes:
  forbid: [loosened_threshold, removed_check, relaxed_policy]
"""


def write(repo: git.Repo, path: str, text: str) -> None:
    file = Path(str(repo.working_tree_dir)) / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")


def commit(repo: git.Repo, message: str, **files: str) -> str:
    """Write ``files`` (``playbooks__fraud_yaml`` style names: ``__`` is ``/``, ``_yaml`` is
    ``.yaml``) and commit them; return the sha."""
    for name, text in files.items():
        path = name.replace("__", "/").replace("_yaml", ".yaml")
        write(repo, path, text)
        repo.index.add([path])
    return repo.index.commit(message).hexsha


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> git.Repo:
    """A repository whose first commit (tag `base`) holds the playbook and the policy."""
    repo = git.Repo.init(tmp_path / "repo", initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.com")
    commit(repo, "base", playbooks__fraud_yaml=PLAYBOOK, policies__org_yaml=POLICY)
    repo.create_tag("base")
    monkeypatch.chdir(str(repo.working_tree_dir))
    return repo


def diff(*args: str) -> int:
    return run(["diff", "--base", "base", *args])


def as_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = diff(*args, "-o", "json")
    return code, json.loads(capsys.readouterr().out)


def finding(result: Mapping[str, Any], check_id: str) -> dict[str, Any]:
    found = [c for c in result["checks"] if c["id"] == check_id]
    assert len(found) == 1, [c["id"] for c in result["checks"]]
    return dict(found[0])


def ids(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(c["id"], c["status"]) for c in result["checks"]]


def test_a_comment_and_reformat_only_change_is_no_finding(
        repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    reformatted = PLAYBOOK.replace("# The fraud model's gate.", "# Reviewed 2024.").replace(
        "        p95_ms: 50\n        p99_ms: 100\n",
        "        p99_ms: 100.0   # was measured\n        p95_ms: 50\n")
    commit(repo, "comments", playbooks__fraud_yaml=reformatted)
    assert diff("--head", "HEAD") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2] == ("  PASS   gatekeeper.diff  no gate changes in 2 file(s) between base "
                      "and HEAD")
    assert out[-1] == "PASSED (1 pass)"


def test_a_loosened_threshold_is_a_warning_at_its_line(
        repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, "looser", playbooks__fraud_yaml=PLAYBOOK.replace("max: 0.01", "max: 0.02"))
    code, result = as_json(capsys, "--head", "HEAD")
    assert code == 0
    assert ids(result) == [("fraud/pilot/pilot-errors.max", "warn")]
    check = finding(result, "fraud/pilot/pilot-errors.max")
    assert check["message"] == "threshold max 0.01 -> 0.02 (loosened)"
    assert (check["observed"], check["threshold"]) == (0.02, 0.01)
    assert check["location"] == {"file": "playbooks/fraud.yaml", "line": ERRORS_MAX}
    assert (check["kind"], check["category"], check["owner"]) == (
        "playbook_change", "latency", "platform")
    assert check["evidence"] == {"change": "loosened_threshold"}
    assert result["baseline"]["alias"] == "base"
    assert result["playbook"]["git_commit"] == repo.head.commit.hexsha


def test_a_policy_that_forbids_loosening_blocks_it(
        repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, "forbid", policies__org_yaml=FORBIDDING)
    repo.create_tag("base", force=True)
    commit(repo, "looser", playbooks__fraud_yaml=PLAYBOOK.replace("p99_ms: 100", "p99_ms: 200")
           .replace("min: 0.8", "min: 0.85"))
    code, result = as_json(capsys, "--head", "HEAD")
    assert code == 1
    assert result["decision"] == "block"
    assert ids(result) == [("fraud/poc/auc-floor.min", "pass"),
                           ("fraud/serve/latency-predict.p99_ms", "fail")]
    failed = finding(result, "fraud/serve/latency-predict.p99_ms")
    assert failed["message"] == "threshold p99_ms 100 -> 200 (loosened)"
    assert failed["location"] == {"file": "playbooks/fraud.yaml", "line": P99}
    assert failed["evidence"] == {"change": "loosened_threshold",
                                  "forbidden_by": "policy org (policies/org.yaml:8)"}
    assert failed["remedy"].startswith("policy org (policies/org.yaml:8) forbids "
                                       "loosened_threshold: revert this change")
    tightened = finding(result, "fraud/poc/auc-floor.min")
    assert tightened["message"] == "threshold min 0.8 -> 0.85 (tightened)"
    assert tightened["location"] == {"file": "playbooks/fraud.yaml", "line": AUC_MIN}


def test_a_removed_check_is_located_in_base_and_weakens_its_milestone(
        repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    start = PLAYBOOK.index("      - id: evidence")
    end = PLAYBOOK.index("  - id: serve")
    commit(repo, "drop evidence", playbooks__fraud_yaml=PLAYBOOK[:start] + PLAYBOOK[end:])
    code, result = as_json(capsys, "--head", "HEAD")
    assert code == 0
    assert ids(result) == [("fraud/poc.checks", "warn"), ("fraud/poc/evidence", "warn")]
    removed = finding(result, "fraud/poc/evidence")
    assert removed["message"] == "check removed (was blocking required_evidence)"
    assert removed["location"] == {"file": "playbooks/fraud.yaml", "line": EVIDENCE}
    assert removed["evidence"] == {"change": "removed_check"}
    assert removed["observed"] is None
    assert removed["threshold"]["tags"] == ["data_classification"]
    milestone = finding(result, "fraud/poc.checks")
    assert milestone["message"] == ("blocking checks 2 -> 1 (weakened; no blocking governance "
                                    "check left)")
    assert milestone["evidence"] == {"change": "weakened_milestone"}


def test_a_check_made_advisory_is_flagged(
        repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    advisory = PLAYBOOK.replace("        max: 0.01\n",
                                "        max: 0.01\n        blocking: false\n")
    commit(repo, "advisory", playbooks__fraud_yaml=advisory)
    code, result = as_json(capsys, "--head", "HEAD")
    assert code == 0
    assert ids(result) == [("fraud/pilot.checks", "warn"),
                           ("fraud/pilot/pilot-errors.blocking", "warn")]
    made = finding(result, "fraud/pilot/pilot-errors.blocking")
    assert made["message"] == "blocking true -> false (made advisory)"
    assert made["location"] == {"file": "playbooks/fraud.yaml", "line": ERRORS_MAX + 1}
    assert made["evidence"] == {"change": "made_advisory"}
    assert finding(result, "fraud/pilot.checks")["message"] == (
        "blocking checks 1 -> 0 (weakened; no blocking latency check left)")


def test_a_relaxed_policy_is_blocked_by_the_base_rule_a_pull_request_removes(
        repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, "forbid", policies__org_yaml=FORBIDDING)
    repo.create_tag("base", force=True)
    relaxed = POLICY.replace("latency_p99_ms: 500", "latency_p99_ms: 900").replace(
        "require_categories: [latency]", "require_categories: []")
    commit(repo, "relax", policies__org_yaml=relaxed)  # and drops the changes rule
    code, result = as_json(capsys, "--head", "HEAD")
    assert code == 1
    assert ids(result) == [("policy/org.changes.forbid", "fail"),
                           ("policy/org.limits.latency_p99_ms", "fail"),
                           ("policy/org.stages.serve.require_categories", "fail")]
    limit = finding(result, "policy/org.limits.latency_p99_ms")
    assert limit["message"] == "threshold limits.latency_p99_ms 500 -> 900 (relaxed)"
    assert limit["location"] == {"file": "policies/org.yaml", "line": 6}
    assert limit["kind"] == "policy_change"
    assert limit["evidence"]["forbidden_by"] == "policy org (policies/org.yaml:8)"
    forbid = finding(result, "policy/org.changes.forbid")
    assert forbid["message"] == ("changes.forbid [loosened_threshold, removed_check, "
                                 "relaxed_policy] -> [] (relaxed)")
    assert forbid["location"] == {"file": "policies/org.yaml", "line": 8}


def test_a_removed_policy_file_is_a_relaxed_policy(
        repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    repo.index.remove(["policies/org.yaml"], working_tree=True)
    repo.index.commit("no policy")
    code, result = as_json(capsys, "--head", "HEAD")
    assert code == 0
    assert ids(result) == [("policy/org", "warn")]
    removed = finding(result, "policy/org")
    assert removed["message"] == "policy org removed: its guardrails no longer apply"
    assert removed["location"] == {"file": "policies/org.yaml", "line": 1}
    assert removed["evidence"] == {"change": "relaxed_policy"}


def test_head_defaults_to_the_working_tree(repo: git.Repo,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    write(repo, "playbooks/fraud.yaml", PLAYBOOK.replace("p95_ms: 50", "p95_ms: 40"))
    code, result = as_json(capsys)
    assert code == 0
    assert ids(result) == [("fraud/serve/latency-predict.p95_ms", "pass")]
    assert result["playbook"]["git_commit"] == repo.head.commit.hexsha + "+dirty"
    assert result["milestone"]["title"] == "gate changes base..working tree"
    _, result = as_json(capsys, "--head", "HEAD")
    assert ids(result) == [("gatekeeper.diff", "pass")]


def test_a_moved_playbook_is_compared_with_itself(repo: git.Repo,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    repo.index.move(["playbooks/fraud.yaml", "playbooks/fraud-model.yaml"])
    repo.index.commit("rename")
    code, result = as_json(capsys, "--head", "HEAD")
    assert (code, ids(result)) == (0, [("gatekeeper.diff", "pass")])


def test_paths_limit_what_is_compared(repo: git.Repo,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, "both", playbooks__fraud_yaml=PLAYBOOK.replace("max: 0.01", "max: 0.02"),
           policies__org_yaml=POLICY.replace("500", "600"))
    _, result = as_json(capsys, "--head", "HEAD", "policies")
    assert ids(result) == [("policy/org.limits.latency_p99_ms", "warn")]
    _, result = as_json(capsys, "--head", "HEAD", "playbooks/fraud.yaml")
    assert ids(result) == [("fraud/pilot/pilot-errors.max", "warn")]


def test_an_unknown_ref_is_one_line_and_exit_2(repo: git.Repo,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["diff", "--base", "no-such-branch"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("gatekeeper: error: --base no-such-branch: not a commit in "
                      f"{repo.working_tree_dir}")
    assert run(["diff", "--base", "base", "--head", "--upload-pack=x"]) == 2
    assert capsys.readouterr().err.startswith(
        "gatekeeper: error: --head '--upload-pack=x': not a git revision")


def test_a_bad_file_at_either_side_is_named_with_its_line_and_exit_2(
        repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    commit(repo, "typo", playbooks__fraud_yaml=PLAYBOOK.replace("max: 0.01", "mx: 0.01"))
    assert diff("--head", "HEAD") == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("HEAD:playbooks/fraud.yaml:45:9: milestones[2].checks[0].mx: unknown "
                      "key 'mx'; did you mean 'max'?")
    assert run(["diff", "--base", "HEAD", "--head", "base"]) == 2
    assert capsys.readouterr().err.startswith("HEAD:playbooks/fraud.yaml:45:9:")


def test_outside_a_repository_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["diff", "--base", "main"]) == 2
    assert capsys.readouterr().err == (f"gatekeeper: error: {tmp_path}: not inside a git "
                                       "repository\nhint: run gatekeeper diff in a clone of "
                                       "the repository\n")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_output_format_renders_the_findings(
        repo: git.Repo, tmp_path: Path, fmt: str) -> None:
    commit(repo, "forbid", policies__org_yaml=FORBIDDING)
    repo.create_tag("base", force=True)
    commit(repo, "looser", playbooks__fraud_yaml=PLAYBOOK.replace("max: 0.01", "max: 0.02"))
    out = tmp_path / f"diff.{fmt}"
    assert diff("--head", "HEAD", "-o", f"{fmt}={out}") == 1
    text = out.read_text(encoding="utf-8")
    assert "pilot-errors" in text


def test_a_symlinked_playbook_is_read_through_its_link(
        repo: git.Repo, capsys: pytest.CaptureFixture[str]) -> None:
    """As in this project: playbooks/x.yaml is a link to the packaged file."""
    root = Path(str(repo.working_tree_dir))
    write(repo, "pkg/fraud.yaml", PLAYBOOK)
    (root / "playbooks" / "fraud.yaml").unlink()
    (root / "playbooks" / "fraud.yaml").symlink_to("../pkg/fraud.yaml")
    repo.index.add(["pkg/fraud.yaml", "playbooks/fraud.yaml"])
    repo.index.commit("link")
    repo.create_tag("base", force=True)
    write(repo, "pkg/fraud.yaml", PLAYBOOK.replace("max: 0.01", "max: 0.05"))
    repo.index.add(["pkg/fraud.yaml"])
    repo.index.commit("looser through the link")
    _, result = as_json(capsys, "--head", "HEAD", "playbooks")
    assert ids(result) == [("fraud/pilot/pilot-errors.max", "warn")]
