"""Where a version's training commit comes from: the git facts a policy's ``lineage`` section
is judged on (``gatekeeper.decide.integrity.lineage_result``), read with GitPython.

    facts = lineage_facts(Path("playbooks/fraud.yaml"), run_tags.get(GIT_COMMIT_TAG),
                          ["main", "release/*"])
    facts.found, facts.reaching          # True, ("main",)

The repository is the playbook's (as ``gitinfo.playbook_commit`` finds it): in CI that is the
checkout the gate runs in. GitPython is imported only when a policy asks for lineage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import git

#: The run tag MLflow sets to the commit the training code ran at.
GIT_COMMIT_TAG = "mlflow.source.git.commit"
#: A commit id and nothing else: a tag saying "main" or "HEAD~1" must not resolve to a commit.
_SHA = re.compile(r"[0-9a-f]{7,40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class LineageFacts:
    """What git says about one training commit.

    ``commit`` is the run tag's value (None: not set); ``repository`` the work tree searched
    (None with ``problem`` when there is none); ``found`` whether the commit is in it;
    ``named`` the branches matching a policy's patterns; ``reaching`` those whose tip has the
    commit in its history. Branch names are as a policy writes them: ``origin/main`` is ``main``.
    """

    commit: str | None
    repository: str | None
    found: bool = False
    named: tuple[str, ...] = ()
    reaching: tuple[str, ...] = ()
    problem: str | None = None


def lineage_facts(playbook: Path, commit: str | None,
                  patterns: Sequence[str]) -> LineageFacts:
    """The git facts about ``commit`` in the repository holding ``playbook``."""
    import git

    try:
        repo = git.Repo(playbook.resolve().parent, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return LineageFacts(commit, None, problem=f"the playbook {playbook} is not in a git "
                                                  "repository, so the commit cannot be found")
    with repo:
        where = str(repo.working_tree_dir or repo.git_dir)
        try:
            return _facts(repo, where, commit, patterns)
        except git.GitCommandError as exc:
            return LineageFacts(commit, where, problem=f"git failed in {where}: "
                                f"{str(exc.stderr).strip() or exc}")


def _facts(repo: git.Repo, where: str, commit: str | None,
           patterns: Sequence[str]) -> LineageFacts:
    target = _find_commit(repo, commit)
    if target is None:
        return LineageFacts(commit, where)
    named = {n: tips for n, tips in _branch_tips(repo).items()
             if any(fnmatchcase(n, p) for p in patterns)}
    reaching = tuple(n for n, tips in sorted(named.items())
                     if any(repo.is_ancestor(target, tip) for tip in tips))
    return LineageFacts(commit, where, True, tuple(sorted(named)), reaching)


def _find_commit(repo: git.Repo, commit: str | None) -> git.Commit | None:
    import git

    if commit is None or not _SHA.fullmatch(commit):
        return None
    try:
        # Verified by git itself: GitPython builds a Commit for any 40-digit sha, present or not.
        full = repo.git.rev_parse("--verify", "--quiet", f"{commit}^{{commit}}")
        return repo.commit(full)
    except (git.BadName, git.BadObject, ValueError, git.GitCommandError):
        return None


def _branch_tips(repo: git.Repo) -> dict[str, list[git.Commit]]:
    """Every branch name → its tips: the local branch and each remote's branch of that name
    (a CI checkout often has only ``origin/main``)."""
    import git

    tips: dict[str, list[git.Commit]] = {}
    for ref in repo.references:
        if isinstance(ref, git.RemoteReference):
            name = ref.remote_head
        elif isinstance(ref, git.Head):
            name = ref.name
        else:
            continue
        if name == "HEAD":
            continue
        try:
            tips.setdefault(name, []).append(ref.commit)
        except ValueError:  # a branch pointing at something other than a commit
            continue
    return tips
