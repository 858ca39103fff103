"""Which commit a playbook was read at, so an audit record can point at the exact criteria."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_TIMEOUT = 10.0


def playbook_commit(path: Path) -> str | None:
    """HEAD's sha if ``path`` is tracked in a git work tree, with ``+dirty`` when the file
    differs from HEAD; None outside git or without git (the digest still pins the content).

    Plain ``git`` calls rather than GitPython: importing GitPython costs ~70 ms of the
    ~1 s start-up budget of ``check``, for three commands.
    """
    folder, name = path.resolve().parent, path.resolve().name
    head = _git(folder, "rev-parse", "--verify", "--quiet", "HEAD")
    if not head or not _git(folder, "ls-files", "--", name):
        return None
    dirty = bool(_git(folder, "status", "--porcelain", "--", name))
    return head + ("+dirty" if dirty else "")


def _git(folder: Path, *args: str) -> str:
    """stdout of a git command in ``folder``, or "" when git is missing or the command fails."""
    try:
        proc = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""
