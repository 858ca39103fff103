"""Signed checkpoints of the audit log, and the anchors that keep them outside it.

After every append the log writes a checkpoint: its origin (the random ``log_id`` fixed by its
first record), its size (records) and its head (the last record's hash), signed with the
signing key when one is configured. The checkpoint goes beside the log (``<log>.checkpoint``)
and to every configured anchor. An anchor lives where whoever rewrites the log file cannot
follow: a tag on the MLflow version the record is about, a git ref in another repository. A
later ``audit verify --anchor ...`` compares the log with the anchor's latest checkpoint: a log
shorter than it was cut (truncated tail, rolled back), one whose record at that size has
another hash was rewritten.

MLflow and GitPython are imported lazily (inside methods): ``gatekeeper.record`` must stay
light for the ``audit`` commands.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from gatekeeper.errors import InvalidInputError
from gatekeeper.record.chain import canonical_json
from gatekeeper.record.signing import SignatureCheck, Signer, TrustedKeys

SCHEMA = "gatekeeper.checkpoint/v1"
#: The MLflow version tag holding the latest checkpoint of a record about that version.
TAG = "gatekeeper.audit.checkpoint"
GIT_REF = "refs/gatekeeper/audit"
SIDECAR_SUFFIX = ".checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """The log ``origin`` held ``size`` records ending with ``head``; signed by ``key_id``."""

    origin: str
    size: int
    head: str
    key_id: str | None = None
    signature: str | None = None

    def message(self) -> bytes:
        """What is signed: the canonical JSON of everything but the signature."""
        return canonical_json({"schema": SCHEMA, "origin": self.origin, "size": self.size,
                               "head": self.head, "key_id": self.key_id})

    def signed(self, signer: Signer | None) -> Checkpoint:
        if signer is None:
            return replace(self, key_id=None, signature=None)
        unsigned = replace(self, key_id=signer.key_id, signature=None)
        return replace(unsigned, signature=signer.sign(unsigned.message()))

    def check(self, trusted: TrustedKeys) -> SignatureCheck | None:
        """The signature's check against ``trusted``; None when unsigned."""
        if self.signature is None:
            return None
        return trusted.check(self.key_id, self.message(), self.signature)

    def to_json(self) -> str:
        data = {"schema": SCHEMA, **asdict(self)}
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """Raises ValueError when ``text`` is not a checkpoint."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError("not a gatekeeper checkpoint")
        origin, size, head = data.get("origin"), data.get("size"), data.get("head")
        key, signature = data.get("key_id"), data.get("signature")
        if not (isinstance(origin, str) and isinstance(size, int) and isinstance(head, str)):
            raise ValueError("a checkpoint needs origin, size and head")
        if not all(v is None or isinstance(v, str) for v in (key, signature)):
            raise ValueError("key_id and signature must be strings")
        return cls(origin, size, head, key, signature)


def sidecar_path(log: Path) -> Path:
    return Path(f"{os.path.realpath(log)}{SIDECAR_SUFFIX}")


def write_sidecar(log: Path, checkpoint: Checkpoint) -> None:
    """Replace ``<log>.checkpoint`` atomically; best effort (the anchors are what count)."""
    target = sidecar_path(log)
    with contextlib.suppress(OSError):
        tmp = Path(f"{target}.{os.getpid()}.tmp")
        tmp.write_text(checkpoint.to_json() + "\n", encoding="utf-8")
        os.replace(tmp, target)


def read_sidecar(log: Path) -> Checkpoint | None:
    """The checkpoint beside ``log``; None when missing. Raises ValueError when unreadable."""
    try:
        text = sidecar_path(log).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror or exc}") from None
    return Checkpoint.from_json(text)


@dataclass(frozen=True)
class AnchorReading:
    """What an anchor holds: its current checkpoint, and the most advanced one it ever held
    (where it keeps history); both None when it holds none."""

    latest: Checkpoint | None
    highest: Checkpoint | None = None


class AnchorError(Exception):
    """An anchor could not be written or read (the message names it)."""


class Anchor(Protocol):
    """A place outside the log that keeps its checkpoints."""

    @property
    def name(self) -> str: ...

    def covers(self, record: Mapping[str, Any]) -> bool:
        """Whether appending ``record`` publishes a checkpoint here."""
        ...

    def publish(self, checkpoint: Checkpoint, record: Mapping[str, Any]) -> None:
        """Keep ``checkpoint``, written after ``record``. Raises AnchorError."""
        ...

    def read(self) -> AnchorReading:
        """Raises AnchorError."""
        ...


class MlflowAnchor:
    """The version tag ``gatekeeper.audit.checkpoint`` on the model version a record is about.

    Writing, it tags the record's own version. Reading, ``model`` (and ``version``) name the
    version(s) to read: with the model alone, the most advanced checkpoint over its versions.
    """

    def __init__(self, tracking_uri: str, model: str | None = None,
                 version: str | None = None) -> None:
        self.tracking_uri, self.model, self.version = tracking_uri, model, version

    @property
    def name(self) -> str:
        target = self.model + (f"/{self.version}" if self.version else "") if self.model else ""
        return f"mlflow:{target}" if target else "mlflow"

    def covers(self, record: Mapping[str, Any]) -> bool:
        name, version = _model_version(record)
        if name is None or version is None:
            return False
        if self.model is None:
            return True
        return name == self.model and (self.version is None or version == self.version)

    def publish(self, checkpoint: Checkpoint, record: Mapping[str, Any]) -> None:
        name, version = _model_version(record)
        if name is None or version is None:
            return
        try:
            self._client().set_model_version_tag(name, version, TAG, checkpoint.to_json())
        except Exception as exc:  # any MLflow failure: the caller reports it as one line
            raise AnchorError(f"MLflow version {name}/{version}: cannot set {TAG}: "
                              f"{_first_line(exc)}") from None

    def read(self) -> AnchorReading:
        if self.model is None:
            raise AnchorError("--anchor mlflow:MODEL[/VERSION]: name the model to read")
        try:
            client = self._client()
            if self.version is not None:
                versions = [client.get_model_version(self.model, self.version)]
            else:
                versions = client.search_model_versions(f"name='{self.model}'")
        except Exception as exc:
            raise AnchorError(f"{self.name}: cannot read: {_first_line(exc)}") from None
        found = [c for c in (_tag_checkpoint(v.tags) for v in versions) if c is not None]
        best = max(found, key=lambda c: c.size, default=None)
        return AnchorReading(latest=best, highest=best)

    def _client(self) -> Any:
        from gatekeeper.evidence.mlflow_env import mlflow_client

        return mlflow_client(self.tracking_uri)


def _model_version(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    model = record.get("model")
    if not isinstance(model, Mapping):
        return None, None
    name, version = model.get("name"), model.get("version")
    return (str(name) if name is not None else None,
            str(version) if version is not None else None)


def _tag_checkpoint(tags: Mapping[str, str] | None) -> Checkpoint | None:
    text = (tags or {}).get(TAG)
    if text is None:
        return None
    try:
        return Checkpoint.from_json(text)
    except ValueError:
        return None


class GitAnchor:
    """A ref (``refs/gatekeeper/audit``) in the git repository at ``path``: each checkpoint
    is an empty-tree commit whose message is the checkpoint, on top of the previous one, and
    the ref's reflog keeps every move, so a ref set back to an older checkpoint still shows
    the newest it held."""

    def __init__(self, path: Path, ref: str = GIT_REF) -> None:
        self.path, self.ref = path, ref

    @property
    def name(self) -> str:
        return f"git:{self.path}"

    def covers(self, record: Mapping[str, Any]) -> bool:
        return True

    def publish(self, checkpoint: Checkpoint, record: Mapping[str, Any]) -> None:
        from io import BytesIO

        from git import Actor, Commit, Reference, Tree
        from gitdb import IStream  # type: ignore[import-untyped]

        try:
            repo = self._repo()
            empty = repo.odb.store(IStream("tree", 0, BytesIO(b""))).binsha
            parents = [Reference(repo, self.ref).commit] if self._exists(repo) else []
            who = Actor("gatekeeper", "gatekeeper@localhost")
            commit = Commit.create_from_tree(repo, Tree(repo, empty), checkpoint.to_json(),
                                             parent_commits=parents, head=False,
                                             author=who, committer=who)
            Reference.create(repo, self.ref, commit, logmsg=f"checkpoint {checkpoint.size}",
                             force=True)
        except Exception as exc:
            raise AnchorError(f"{self.name}: cannot update {self.ref}: {_first_line(exc)}"
                              ) from None

    def read(self) -> AnchorReading:
        from git import Reference

        try:
            repo = self._repo()
            if not self._exists(repo):
                return AnchorReading(None, None)
            ref = Reference(repo, self.ref)
            latest = _commit_checkpoint(ref.commit.message)
            seen = [latest] + [_commit_checkpoint(repo.commit(entry.newhexsha).message)
                               for entry in _reflog(ref)]
        except Exception as exc:
            raise AnchorError(f"{self.name}: cannot read {self.ref}: {_first_line(exc)}"
                              ) from None
        valid = [c for c in seen if c is not None]
        return AnchorReading(latest, max(valid, key=lambda c: c.size, default=None))

    def _repo(self) -> Any:
        from git import Repo

        return Repo(self.path)

    def _exists(self, repo: Any) -> bool:
        return (Path(repo.git_dir) / self.ref).exists() or self.ref in {
            r.path for r in repo.refs}


def _reflog(ref: Any) -> list[Any]:
    try:
        return list(ref.log())
    except (OSError, ValueError):
        return []


def _commit_checkpoint(message: str | bytes) -> Checkpoint | None:
    text = message.decode("utf-8") if isinstance(message, bytes) else message
    try:
        return Checkpoint.from_json(text)
    except ValueError:
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def parse_anchor(spec: str, tracking_uri: str | None) -> Anchor:
    """``git:PATH`` or ``mlflow:MODEL[/VERSION]`` (the registry at ``tracking_uri``, else
    the default). Raises InvalidInputError naming ``--anchor``."""
    kind, sep, rest = spec.partition(":")
    if kind == "git" and sep and rest:
        return GitAnchor(Path(rest))
    if kind == "mlflow" and sep and rest:
        model, _, version = rest.partition("/")
        return MlflowAnchor(tracking_uri or _default_uri(), model, version or None)
    raise InvalidInputError(f"--anchor {spec}: expected git:PATH or mlflow:MODEL[/VERSION]")


def _default_uri() -> str:
    from gatekeeper.evidence.mlflow_env import default_tracking_uri

    return default_tracking_uri()


#: Extra anchors for the commands that append: ``git:PATH`` specs separated by spaces.
ANCHOR_VARIABLE = "GATEKEEPER_ANCHOR"


def gate_anchors(tracking_uri: str, env: Mapping[str, str]) -> list[Anchor]:
    """The anchors a gate publishes to: the MLflow version tag (always, on the registry it
    gates against) and every ``git:PATH`` in ``GATEKEEPER_ANCHOR``. Raises InvalidInputError."""
    anchors: list[Anchor] = [MlflowAnchor(tracking_uri)]
    for spec in env.get(ANCHOR_VARIABLE, "").split():
        anchor = parse_anchor(spec, tracking_uri)
        if not isinstance(anchor, GitAnchor):
            raise InvalidInputError(f"{ANCHOR_VARIABLE}: {spec}: a gate anchors to git:PATH "
                                    "(MLflow version tags are always written)")
        anchors.append(anchor)
    return anchors
