"""Which commit a playbook was read at, so an audit record can point at the exact criteria."""

from __future__ import annotations

from pathlib import Path


def playbook_commit(path: Path) -> str | None:
    """HEAD's sha if ``path`` is tracked in a git work tree, with ``+dirty`` when the file
    differs from HEAD; None outside git (the digest still pins the content)."""
    try:
        import git  # gitpython; imported here so commands that never need git stay fast
    except ImportError:  # pragma: no cover - declared dependency
        return None
    try:
        repo = git.Repo(path.resolve().parent, search_parent_directories=True)
        relative = path.resolve().relative_to(Path(repo.working_tree_dir or "").resolve())
        if not repo.head.is_valid() or not repo.git.ls_files("--", str(relative)):
            return None
        dirty = bool(repo.git.status("--porcelain", "--", str(relative)))
        return repo.head.commit.hexsha + ("+dirty" if dirty else "")
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, git.GitCommandError,
            ValueError, OSError):
        return None
