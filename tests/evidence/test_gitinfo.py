"""The playbook's commit, from a real git repository made with GitPython."""

from __future__ import annotations

from pathlib import Path

import git

from gatekeeper.evidence.gitinfo import playbook_commit


def make_repo(folder: Path) -> git.Repo:
    repo = git.Repo.init(folder)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.com")
    return repo


def test_tracked_clean_file_gives_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    playbook = tmp_path / "playbooks" / "p.yaml"
    playbook.parent.mkdir()
    playbook.write_text("model: m\n")
    repo.index.add([str(playbook)])
    commit = repo.index.commit("add playbook")
    assert playbook_commit(playbook) == commit.hexsha


def test_modified_file_is_marked_dirty(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    playbook = tmp_path / "p.yaml"
    playbook.write_text("model: m\n")
    repo.index.add([str(playbook)])
    commit = repo.index.commit("add playbook")
    playbook.write_text("model: changed\n")
    assert playbook_commit(playbook) == commit.hexsha + "+dirty"


def test_untracked_file_or_no_repository_gives_none(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (tmp_path / "repo" / "tracked.yaml").write_text("a: 1\n")
    repo.index.add([str(tmp_path / "repo" / "tracked.yaml")])
    repo.index.commit("first")
    (tmp_path / "repo" / "new.yaml").write_text("a: 1\n")
    assert playbook_commit(tmp_path / "repo" / "new.yaml") is None
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "p.yaml").write_text("a: 1\n")
    assert playbook_commit(tmp_path / "outside" / "p.yaml") is None
