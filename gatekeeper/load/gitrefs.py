"""Playbooks and policies as they were at a git commit (or are in the working tree), loaded
with the same loaders as ``validate`` and ``check``, for ``gatekeeper diff``.

    repo = open_repo(Path.cwd())
    base = load_revision(repo, "origin/main", [Path("playbooks"), Path("policies")])
    head = load_revision(repo, None, [Path("playbooks"), Path("policies")])   # working tree

Every file is named by its path in the repository (``playbooks/fraud.yaml``), so findings
point at lines a pull request shows. A file read from a commit is written to a private
temporary folder and read from there, so it gets the same bounds and checks as any other.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from gatekeeper.errors import InvalidInputError, Problem, ValidationError
from gatekeeper.load.playbook import LoadedPlaybook, load_playbook
from gatekeeper.load.policy import YAML_SUFFIXES, LoadedPolicy, load_policy
from gatekeeper.load.yamlsrc import Document, read_document

if TYPE_CHECKING:
    import git

#: A symlink to a symlink to ...: followed this many times inside a commit, then refused.
MAX_LINK_HOPS = 8
WORKING_TREE = "working tree"


@dataclass(frozen=True)
class PlaybookFile:
    """A loaded playbook and its document (for the line of every key, not only of checks)."""

    loaded: LoadedPlaybook
    doc: Document


@dataclass(frozen=True)
class Revision:
    """The playbooks and policies under the asked paths at one commit or the working tree."""

    label: str  # the ref as given, or "working tree"
    commit: str | None  # the commit's sha; for the working tree, HEAD's (None before any)
    dirty: bool  # working tree only: the asked paths differ from HEAD
    playbooks: tuple[PlaybookFile, ...]
    policies: tuple[LoadedPolicy, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(sorted([p.doc.file for p in self.playbooks]
                            + [p.doc.file for p in self.policies]))


def open_repo(start: Path) -> git.Repo:
    """The git repository holding ``start``; InvalidInputError outside one."""
    import git

    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise InvalidInputError(f"{start.resolve()}: not inside a git repository",
                                hint="run gatekeeper diff in a clone of the repository") from None
    if repo.bare or repo.working_tree_dir is None:
        raise InvalidInputError(f"{repo.git_dir}: a bare repository has no working tree")
    return repo


def resolve_commit(repo: git.Repo, ref: str, flag: str) -> git.Commit:
    """The commit ``ref`` names (a branch, tag, sha, ``HEAD~1``...); InvalidInputError naming
    ``flag`` and the ref when it names none."""
    import git

    if not ref.strip() or ref.startswith("-"):
        raise InvalidInputError(f"{flag} {ref!r}: not a git revision")
    try:
        return repo.commit(ref)
    except (git.BadName, git.BadObject, ValueError, IndexError, git.GitCommandError):
        raise InvalidInputError(f"{flag} {ref}: not a commit in {repo.working_tree_dir}",
                                hint="fetch it first (git fetch origin <branch>) or check "
                                     "the spelling") from None


def repo_paths(repo: git.Repo, paths: Sequence[Path]) -> tuple[PurePosixPath, ...]:
    """``paths`` (relative to the working folder) as paths relative to the repository root."""
    root = Path(str(repo.working_tree_dir)).resolve()
    out = []
    for path in paths:
        absolute = path if path.is_absolute() else Path.cwd() / path
        # Not resolve(): a link in the repository is named by its own path, as git names it.
        normal = Path(posixpath.normpath(absolute.as_posix()))
        try:
            out.append(PurePosixPath(normal.relative_to(root).as_posix()))
        except ValueError:
            raise InvalidInputError(f"{path}: outside the repository {root}") from None
    return tuple(out)


def load_revision(repo: git.Repo, ref: str | None, paths: Sequence[PurePosixPath],
                  flag: str = "--head") -> Revision:
    """Load every playbook and policy under ``paths`` at ``ref`` (None: the working tree).
    Raises ValidationError with every problem of every file, each naming ``ref:path``."""
    if ref is None:
        head = repo.head.commit.hexsha if repo.head.is_valid() else None
        files = dict(_worktree_files(repo, paths))
        dirty = head is None or bool(repo.git.status("--porcelain", "--",
                                                     *[p.as_posix() or "." for p in paths]))
        return _load(WORKING_TREE, head, dirty, files, shown_as="")
    commit = resolve_commit(repo, ref, flag)
    return _load(ref, commit.hexsha, False, dict(_commit_files(commit, paths)),
                 shown_as=f"{ref}:")


def _load(label: str, commit: str | None, dirty: bool, files: dict[str, bytes],
          shown_as: str) -> Revision:
    playbooks: list[PlaybookFile] = []
    policies: list[LoadedPolicy] = []
    problems: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="gatekeeper-diff-") as folder:
        for index, (name, data) in enumerate(sorted(files.items())):
            copy = Path(folder) / f"{index}{PurePosixPath(name).suffix}"
            copy.write_bytes(data)
            found = _load_file(copy, name, playbooks, policies)
            problems += [replace(p, file=shown_as + p.file) for p in found]
    if problems:
        raise ValidationError(problems)
    return Revision(label, commit, dirty, tuple(playbooks), tuple(policies))


def _load_file(copy: Path, name: str, playbooks: list[PlaybookFile],
               policies: list[LoadedPolicy]) -> list[Problem]:
    """Load one file into ``playbooks`` or ``policies``; return its problems."""
    doc, problems = read_document(copy, name)
    if doc is None:
        return problems
    if is_policy(PurePosixPath(name), doc):
        policy, found = load_policy(copy, name)
        policies += [policy] if policy else []
        return found
    try:
        playbooks.append(PlaybookFile(load_playbook(copy, display=name), doc))
    except ValidationError as exc:
        return list(exc.problems)
    return []


def is_policy(path: PurePosixPath, doc: Document) -> bool:
    """The rule ``gatekeeper validate`` uses: under a ``policies`` folder, or a mapping with
    ``stages`` and no ``milestones``."""
    if "policies" in path.parts:
        return True
    data = doc.data
    return isinstance(data, dict) and "milestones" not in data and "stages" in data


def _worktree_files(repo: git.Repo, paths: Sequence[PurePosixPath]
                    ) -> Iterator[tuple[str, bytes]]:
    root = Path(str(repo.working_tree_dir))
    for path in paths:
        full = root / path
        if full.is_dir():
            for file in sorted(full.rglob("*")):
                if file.suffix in YAML_SUFFIXES and file.is_file():
                    yield file.relative_to(root).as_posix(), _read(file)
        elif full.is_file():
            yield path.as_posix(), _read(full)


def _read(file: Path) -> bytes:
    """The file's bytes; one past the loader's limit is enough for it to refuse the file."""
    from gatekeeper.load.yamlsrc import MAX_BYTES

    try:
        with file.open("rb") as handle:
            return handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidInputError(f"{file}: cannot read file: {exc.strerror or exc}") from None


def _commit_files(commit: git.Commit, paths: Sequence[PurePosixPath]
                  ) -> Iterator[tuple[str, bytes]]:
    import git

    for path in paths:
        item = _lookup(commit, path.as_posix())
        if isinstance(item, git.Tree):
            for blob in item.traverse():
                if (isinstance(blob, git.Blob)
                        and PurePosixPath(str(blob.path)).suffix in YAML_SUFFIXES):
                    yield str(blob.path), _blob_bytes(commit, blob)
        elif isinstance(item, git.Blob):
            yield path.as_posix(), _blob_bytes(commit, item)


def _lookup(commit: git.Commit, path: str) -> object:
    """The tree, blob (or submodule) at ``path`` in the commit, None if there is none."""
    if path in ("", "."):
        return commit.tree
    try:
        return commit.tree / path
    except KeyError:
        return None


def _blob_bytes(commit: git.Commit, blob: git.Blob) -> bytes:
    """The blob's content; a symlink is followed inside the commit, as a checkout would."""
    import git

    for _ in range(MAX_LINK_HOPS):
        if blob.mode != blob.link_mode:
            data: bytes = blob.data_stream.read()
            return data
        target = posixpath.normpath(posixpath.join(posixpath.dirname(str(blob.path)),
                                                   blob.data_stream.read().decode()))
        found = None if target.startswith("../") else _lookup(commit, target)
        if not isinstance(found, git.Blob):
            raise InvalidInputError(f"{commit.hexsha[:12]}:{blob.path}: a link to "
                                    f"{target}, which is not a file in that commit")
        blob = found
    raise InvalidInputError(f"{commit.hexsha[:12]}:{blob.path}: more than {MAX_LINK_HOPS} "
                            "links in a row")
