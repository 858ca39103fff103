"""The `gatekeeper-validate` hook of .pre-commit-hooks.yaml, run by the real pre-commit on real
git repositories, as a user's repository runs it.

The hook repository is a copy of this working tree committed in a temporary folder (pre-commit
installs a hook from a commit). pre-commit builds the hook's environment itself, pip-installing
gatekeeper and its dependencies (MLflow among them) from the package registry: 2-3 minutes on
a loaded 2-core machine, so PRE_COMMIT_HOME lives for the session and the environment is built
once. Slow: listed in tests/conftest.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci.workflows import DOCS, REPO, doc_files

PRE_COMMIT = Path(sys.executable).with_name("pre-commit")
PLAYBOOK = REPO / "tests" / "assets" / "playbooks" / "fraud.yaml"
POLICY = """\
id: org
stages:
  serve:
    require_categories: [latency]
limits:
  latency_p99_ms: 200
"""
# The first hook run builds pre-commit's environment (2 minutes measured on a loaded 2-core
# machine, 119 s); the suite's 300 s default leaves too little room under heavier load.
pytestmark = pytest.mark.timeout(900)
GIT_IDENTITY = ("-c", "user.name=gatekeeper tests", "-c", "user.email=tests@example.com",
                "-c", "commit.gpgsign=false")


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=repo, check=True,
                          capture_output=True, text=True, env=git_env())
    return proc.stdout


def git_env() -> dict[str, str]:
    """The developer's own git configuration (hooks, templates, signing) stays out."""
    return {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def commit_all(repo: Path, message: str = "commit") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def new_repository(root: Path, files: Mapping[str, str]) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    commit_all(root)
    return root


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pre-commit's store (cloned hook repositories, their environments) for the session."""
    if not PRE_COMMIT.is_file():
        pytest.fail(f"{PRE_COMMIT} is missing: install the dev extra (`make test`)")
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="session")
def hook_repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This working tree as it is now (tracked files and new ones git does not ignore), as a
    one-commit repository; returns its path and the commit."""
    root = tmp_path_factory.mktemp("hook-repository")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if not source.is_symlink() and not source.is_file():
            continue  # deleted in the working tree
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, root / name, follow_symlinks=False)
    git(root, "init", "-q")
    return root, commit_all(root, "gatekeeper as it is in the working tree")


def pre_commit(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**git_env(), "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never",
           "GATEKEEPER_NO_HINTS": "1"}
    env.pop("GATEKEEPER_POLICIES", None)
    return subprocess.run([str(PRE_COMMIT), *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=900)


def run_hook(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`pre-commit run` of the repository's own configuration. (`pre-commit try-repo` would
    build the environment again on every call: it keeps its store in a temporary folder.)"""
    return pre_commit(repo, home, "run", "gatekeeper-validate", *args)


def hook_config(hook_repo: tuple[Path, str]) -> str:
    path, rev = hook_repo
    return yaml.safe_dump({"repos": [{"repo": str(path), "rev": rev,
                                      "hooks": [{"id": "gatekeeper-validate"}]}]})


@pytest.fixture
def project(tmp_path: Path, hook_repository: tuple[Path, str]) -> Path:
    """A user's repository with one valid playbook, one policy it keeps and the hook."""
    return new_repository(tmp_path / "project", {
        "playbooks/fraud.yaml": PLAYBOOK.read_text(encoding="utf-8"),
        "policies/org.yaml": POLICY,
        "README.md": "a project\n",
        ".pre-commit-config.yaml": hook_config(hook_repository)})


def test_hook_is_declared_as_documented() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    hook = next(h for h in hooks if h["id"] == "gatekeeper-validate")
    assert hook["entry"] == "gatekeeper validate" and hook["language"] == "python"
    assert hook["pass_filenames"] is False  # playbooks and policies are validated together
    files = re.compile(hook["files"])
    assert files.search("playbooks/fraud.yaml") and files.search("policies/org.yml")
    assert not files.search("src/model.py") and not files.search("playbooks/notes.md")


def test_valid_playbooks_and_policies_pass(project: Path, pre_commit_home: Path) -> None:
    proc = run_hook(project, pre_commit_home, "--all-files", "--verbose")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^gatekeeper validate \(playbooks and policies\)\.+Passed$",
                     proc.stdout, re.MULTILINE), proc.stdout
    assert "1 playbook(s) and 1 policy valid" in proc.stdout


def test_a_bad_playbook_fails_with_its_file_and_line(project: Path,
                                                     pre_commit_home: Path) -> None:
    playbook = project / "playbooks" / "fraud.yaml"
    playbook.write_text(playbook.read_text().replace(
        "category: quality, owner: ds, key: auc", "category: qualty, owner: ds, key: auc"))
    git(project, "add", "-A")
    proc = run_hook(project, pre_commit_home, "--all-files")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert re.search(r"^gatekeeper validate \(playbooks and policies\)\.+Failed$",
                     proc.stdout, re.MULTILINE), proc.stdout
    assert ("playbooks/fraud.yaml:10:49: milestones[0].checks[0].category: unknown value "
            "'qualty'; did you mean 'quality'? (known: latency, cost, quality, privacy, "
            "security, governance)\n") in proc.stdout
    assert "gatekeeper: 1 problem(s) in 1 file(s)" in proc.stdout


def test_a_tightened_policy_alone_fails_on_the_playbook_it_now_rejects(
        project: Path, pre_commit_home: Path) -> None:
    """Only the policy changed (what a commit hands the hook), yet the playbook is checked
    against it: the hook validates the folders, not the changed files alone."""
    (project / "policies" / "org.yaml").write_text(POLICY.replace("200", "50"))
    git(project, "add", "policies/org.yaml")
    proc = run_hook(project, pre_commit_home, "--files", "policies/org.yaml")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("playbooks/fraud.yaml:25:113: milestones[1].checks[0].p99_ms: policy org "
            "(policies/org.yaml:6): p99_ms 100 is looser than the limit 50") in proc.stdout


def test_the_hook_skips_commits_that_touch_no_playbook_or_policy(
        project: Path, pre_commit_home: Path) -> None:
    (project / "playbooks" / "fraud.yaml").write_text("model: [broken\n")  # not handed over
    proc = run_hook(project, pre_commit_home, "--files", "README.md")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\(no files to check\)Skipped$", proc.stdout, re.MULTILINE), proc.stdout


def docs_configs() -> list[dict[str, Any]]:
    return [f.data for f in doc_files(DOCS.read_text(encoding="utf-8"))
            if f.name == ".pre-commit-config.yaml"]


def test_the_documented_configurations_run(tmp_path: Path, pre_commit_home: Path,
                                           hook_repository: tuple[Path, str]) -> None:
    """docs/ci.md's two .pre-commit-config.yaml, pointed at the hook repository: the default
    folders, then other folders through `args` and `files`; each passes, then catches a typo."""
    configs = docs_configs()
    assert len(configs) == 2
    for index, config in enumerate(configs):
        (repo_entry,) = config["repos"]
        assert repo_entry["repo"].startswith("https://")
        repo_entry.update(repo=str(hook_repository[0]), rev=hook_repository[1])
        hook = repo_entry["hooks"][0]
        playbooks, policies = hook.get("args", ["playbooks", "policies"])
        project = new_repository(tmp_path / str(index), {
            f"{playbooks}/fraud.yaml": PLAYBOOK.read_text(encoding="utf-8"),
            f"{policies}/org.yaml": POLICY,
            ".pre-commit-config.yaml": yaml.safe_dump(config)})
        proc = pre_commit(project, pre_commit_home, "run", "--all-files")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert re.search(r"\.+Passed$", proc.stdout, re.MULTILINE), proc.stdout
        (project / playbooks / "fraud.yaml").write_text("model: fraud\nowners: 3\n")
        git(project, "add", "-A")
        proc = pre_commit(project, pre_commit_home, "run", "--all-files")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert f"{playbooks}/fraud.yaml:2:1: owners: " in proc.stdout, proc.stdout
