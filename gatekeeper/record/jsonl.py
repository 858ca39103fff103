"""The append-only JSONL audit log: appending under a cross-process lock, reading, verifying.

Every line is one record. ``append`` adds the integrity fields: ``schema``, ``seq`` (1-based,
consecutive), ``recorded_at`` (UTC), ``log_id`` (the log's origin: random, fixed by its first
record), ``prev_hash`` (the previous record's ``hash``, or ``GENESIS_HASH``), ``hash`` (see
``chain``) and, when a signing key is configured (``GATEKEEPER_SIGNING_KEY``), ``key_id`` and an
Ed25519 ``signature`` of the hash. After each append a signed checkpoint (origin, size, head) is
written beside the log and to every anchor (record/checkpoint.py), and the sidecar index
(record/index.py) learns where the record is.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import FileIO
from pathlib import Path
from typing import Any

import rfc8785

# The errors come first: modules imported below import them back from here (a cycle through
# query -> records), so they must exist before those imports run.
from gatekeeper.record.errors import AuditReadError as AuditReadError  # isort: skip
from gatekeeper.record.errors import AuditWriteError as AuditWriteError  # isort: skip

from gatekeeper.decide.result import AuditRef
from gatekeeper.errors import InfrastructureError, InvalidInputError
from gatekeeper.record import chain
from gatekeeper.record.checkpoint import (
    Anchor,
    AnchorError,
    AnchorReading,
    Checkpoint,
    read_sidecar,
    write_sidecar,
)
from gatekeeper.record.index import Head, Index, decision_key
from gatekeeper.record.query import RecordFilter, nested
from gatekeeper.record.records import REPAIR
from gatekeeper.record.scan import Line, scan
from gatekeeper.record.signing import (
    LEGACY_HMAC_VARIABLE,
    SIGNING_KEY_VARIABLE,
    BadKeyError,
    SignatureCheck,
    Signer,
    TrustedKeys,
    signer_from_env,
)
from gatekeeper.record.verify import SCHEMA as SCHEMA
from gatekeeper.record.verify import (
    Finding,
    Inspector,
    Report,
    _Unusable,
    legacy_origin,
    parse_line,
    strict_parse,
)

DEFAULT_PATH = Path(".gatekeeper/audit.jsonl")
KEY_VARIABLE = SIGNING_KEY_VARIABLE
LOCK_TIMEOUT = 30.0
LOCK_POLL_S = 0.002
INTEGRITY_FIELDS = frozenset(
    {"schema", "seq", "recorded_at", "log_id", "prev_hash", "key_id", "hash", "signature"}
)
TORN = "the last line is incomplete (no trailing newline), probably from an interrupted write"


class RepairRefused(Exception):
    """``repair`` found more than a torn tail; ``report`` says what."""

    def __init__(self, report: Report) -> None:
        super().__init__("the log has findings other than a torn last line")
        self.report = report


@dataclass(frozen=True)
class Verification:
    """The outcome of ``AuditLog.verify`` in brief (``inspect`` has every finding).

    ``count`` is the number of records before the first bad one (all, when intact).
    ``key_id`` names the key signatures were checked with; None when none was.
    """

    ok: bool
    count: int
    first_bad_seq: int | None = None
    line: int | None = None
    reason: str | None = None
    key_id: str | None = None


@dataclass(frozen=True)
class StoredRecord:
    """One record with its line number and the exact text stored (without the newline)."""

    line: int
    raw: str
    record: dict[str, Any]


@dataclass(frozen=True)
class Repaired:
    """What ``repair`` removed (line number, byte count, sha256) and the record it wrote."""

    line: int
    size: int
    sha256: str
    ref: AuditRef


def _utc_now() -> datetime:
    return datetime.now(UTC)


_FROM_ENV: Any = object()


def normalize_entry(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``entry`` as it will be hashed and stored, by every store: no integrity field of its own,
    JSON, and with a canonical form; AuditWriteError naming ``where`` otherwise."""
    clash = sorted(INTEGRITY_FIELDS & set(entry))
    if clash:
        raise ValueError(f"audit entries must not set integrity fields: {', '.join(clash)}")
    # A JSON round trip makes the hashed value exactly what a reader will parse back, and
    # encoding up front means a bad entry fails before the store is touched.
    try:
        body: dict[str, Any] = json.loads(json.dumps(entry, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise AuditWriteError(f"{where}: entry is not JSON: {exc}") from exc
    try:
        chain.canonical_json(body)
    except rfc8785.CanonicalizationError as exc:
        raise AuditWriteError(f"{where}: entry has no canonical JSON form: {exc}") from exc
    return body


class AuditLog:
    """One audit log file: the JSONL implementation of ``AuditStore`` (record/interface.py).

    ``env`` is where ``GATEKEEPER_SIGNING_KEY`` (and the legacy ``GATEKEEPER_AUDIT_KEY``,
    checked by ``verify`` only) are read from (default ``os.environ``); ``signer`` overrides
    it. ``anchors`` receive a checkpoint after every append. ``clock`` stamps
    ``recorded_at``. The lock is an ``flock`` on the log file itself, so every path to the
    same file (a symlink, a hard link) shares it. Readers take a shared lock only for a
    moment, to learn how much of the file holds whole records, then read without blocking
    appends.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        env: Mapping[str, str] | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        clock: Callable[[], datetime] = _utc_now,
        signer: Signer | None = _FROM_ENV,
        anchors: Sequence[Anchor] = (),
    ) -> None:
        self.path = Path(path)
        if not str(path).strip():
            raise InvalidInputError("--audit-log: the path is empty")
        self.lock_timeout = lock_timeout
        self._clock = clock
        variables = os.environ if env is None else env
        if signer is _FROM_ENV:
            try:
                signer = signer_from_env(variables)
            except BadKeyError as exc:
                raise InvalidInputError(f"{SIGNING_KEY_VARIABLE}: {exc}") from None
        self.signer: Signer | None = signer
        legacy = variables.get(LEGACY_HMAC_VARIABLE, "")
        self.legacy_key = legacy.encode("utf-8") if legacy else None
        self.anchors = list(anchors)
        #: Things the caller should tell the user (signing started on an unsigned log).
        self.notices: list[str] = []

    @property
    def location(self) -> str:
        """The log's absolute ``file://`` URI: a reference that still names this file when
        read from another folder or machine (docs/audit.md, "What a record holds")."""
        return self.path.absolute().as_uri()

    @property
    def key_id(self) -> str | None:
        """The configured signing key's id, or None when records are not signed."""
        return self.signer.key_id if self.signer else None

    # -- appending ---------------------------------------------------------------------------

    def append(self, entry: Mapping[str, Any]) -> AuditRef:
        """Add one record; returns where it landed. Raises AuditWriteError (exit 3), or
        AuditReadError when the chain it would extend is broken.

        Raises ValueError if ``entry`` sets an integrity field: only the log assigns those.
        """
        self._normalize(entry)  # a bad entry fails before the log is touched
        with self.session() as session:
            return session.append(entry)

    @contextlib.contextmanager
    def session(self) -> Iterator[AuditSession]:
        """Hold the log exclusively: the chain's end is verified first (from the index's
        head, see record/index.py), then records can be read and appended, and the caller
        can act between appends (move an alias) with no other writer in between."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            file = open(self.path, "a+b", buffering=0)  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise AuditWriteError(f"audit log {self.path}: cannot write: {_describe(exc)}") from exc
        with file, Index(self.path) as index:
            self._lock(file, fcntl.LOCK_EX, AuditWriteError)
            try:
                head = self._verified_head(file, index)
                yield AuditSession(self, file, index, head, created)
            finally:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)

    def _lock(self, file: FileIO, mode: int, error: type[InfrastructureError]) -> None:
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(file.fileno(), mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise error(
                        f"audit log {self.path}: gave up waiting {self.lock_timeout:g}s"
                        " for its lock",
                        hint="another gatekeeper process is writing the log, or one hung "
                             "holding the lock",
                    ) from None
                time.sleep(LOCK_POLL_S)
            except OSError as exc:
                raise error(f"audit log {self.path}: cannot lock: {_describe(exc)}") from exc

    def _verified_head(self, file: FileIO, index: Index) -> Head:
        """The chain's end after checking every record since the index's head (all of them
        when the index is missing or the log no longer agrees with it); raises AuditReadError
        on a broken chain, AuditWriteError on a torn last line."""
        size = os.fstat(file.fileno()).st_size
        head = index.head()
        reset = head is None or not _head_holds(self.path, head, size)
        if reset or head is None:
            head = Head()
        decisions: dict[str, tuple[int, int]] = {}
        for number, offset, raw, terminated in _read_lines(self.path, size, head.bytes,
                                                           head.lines):
            if not terminated:
                raise AuditWriteError(
                    f"audit log {self.path}: {TORN}; nothing was appended",
                    hint=f"run `gatekeeper audit verify --audit-log {self.path}`, then "
                         f"`gatekeeper audit repair --audit-log {self.path}`",
                )
            head = self._extend(head, number, offset, raw, decisions)
        if reset or decisions or head.bytes != (index.head() or Head()).bytes:
            index.update(head, decisions, reset=reset)
        self._check_signed_checkpoint(head)
        return head

    def _check_signed_checkpoint(self, head: Head) -> None:
        """With a signing key, the chain's end must agree with the checkpoint this key signed
        last: a log cut below it, or rewritten at its size, fails closed (exit 3) even when
        the index was rebuilt from the rewritten file. A checkpoint behind the head is an
        append that stopped before writing it: no finding."""
        if self.signer is None:
            return
        try:
            checkpoint = read_sidecar(self.path)
        except ValueError:
            return
        if checkpoint is None or checkpoint.key_id != self.signer.key_id:
            return
        trusted = TrustedKeys({self.signer.key_id: self.signer.public_key})
        problem = None
        if checkpoint.check(trusted) is not SignatureCheck.VALID:
            problem = "the checkpoint beside it does not verify with the signing key"
        elif checkpoint.size > head.seq:
            problem = (f"the signed checkpoint vouches for {checkpoint.size} records, the log "
                       f"ends at record {head.seq} (cut or rolled back)")
        elif checkpoint.size == head.seq and checkpoint.head != head.hash:
            problem = f"record {head.seq} is not the one the signed checkpoint vouches for"
        if problem:
            raise AuditReadError(
                f"audit log {self.path}: failed verification: {problem}; nothing was appended",
                hint=f"run `gatekeeper audit verify --audit-log {self.path} --public-key ...`",
            )

    def _extend(self, head: Head, number: int, offset: int, raw: bytes,
                decisions: dict[str, tuple[int, int]]) -> Head:
        """``head`` after checking the next record against it; raises AuditReadError."""
        seq = head.seq + 1
        try:
            parsed = parse_line(raw)
            record = parsed.record
            reason = _link_problem(head, parsed.hash, parsed.hash_ok, record)
        except _Unusable as bad:
            reason = str(bad)
        if reason:
            raise AuditReadError(
                f"audit log {self.path}: failed verification: record {seq} (line {number}): "
                f"{reason}; nothing was appended",
                hint=f"run `gatekeeper audit verify --audit-log {self.path}`",
            )
        if record.get("action") == "decision":
            decisions[_decision_key_of(record)] = (seq, offset)
        origin = head.origin or _origin_of(record, parsed.hash)
        return Head(offset + len(raw) + 1, number, seq, parsed.hash, offset, origin,
                    head.signed or "signature" in record)

    def _normalize(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        return normalize_entry(entry, f"audit log {self.path}")

    def _seal(self, body: dict[str, Any], head: Head, origin: str) -> tuple[bytes, str]:
        recorded_at = self._clock().astimezone(UTC).isoformat(timespec="milliseconds")
        record = {
            "schema": SCHEMA,
            "seq": head.seq + 1,
            "recorded_at": recorded_at.replace("+00:00", "Z"),
            **body,
            "log_id": origin,
            "prev_hash": head.hash or chain.GENESIS_HASH,
        }
        if self.signer is not None:
            record["key_id"] = self.signer.key_id
        signer = self.signer
        return chain.encode_line(record, None if signer is None else
                                 lambda digest: signer.sign(digest.encode("ascii")))

    def _anchor(self, checkpoint: Checkpoint, record: Mapping[str, Any]) -> None:
        write_sidecar(self.path, checkpoint)
        for anchor in self.anchors:
            if not anchor.covers(record):
                continue
            try:
                anchor.publish(checkpoint, record)
            except AnchorError as exc:
                raise AuditWriteError(
                    f"audit log {self.path}: record {checkpoint.size} was written but its "
                    f"checkpoint was not anchored: {exc}",
                    hint="the next append anchors the log again; `gatekeeper audit verify "
                         "--anchor ...` reports the anchor as behind until then",
                ) from None

    # -- reading -----------------------------------------------------------------------------

    def records(self) -> Iterator[StoredRecord]:
        """Every record, parsed but not verified. Raises AuditReadError on a line that does
        not parse (or a missing file)."""
        for number, _offset, raw, terminated in _read_lines(self.path, self._stable_size()):
            try:
                if not terminated:
                    raise _Unusable(TORN)
                record = strict_parse(raw)
            except _Unusable as bad:
                raise AuditReadError(
                    f"audit log {self.path}: line {number}: {bad}",
                    hint=f"run `gatekeeper audit verify --audit-log {self.path}`",
                ) from None
            yield StoredRecord(number, raw.decode("utf-8"), record)

    def verified_records(self) -> Iterator[StoredRecord]:
        """Every record, checking the chain as it goes. Raises AuditReadError at the first
        record that fails verification, so a caller can fail closed."""
        inspector = Inspector()
        for number, _offset, raw, terminated, last in _with_last(
                _read_lines(self.path, self._stable_size())):
            record = inspector.feed(number, raw, terminated, last)
            if inspector.findings:
                self._fail(inspector.findings[0])
            if record is not None:
                yield StoredRecord(number, raw.decode("utf-8"), record)
        inspector.finish_walk()
        if inspector.findings:
            self._fail(inspector.findings[0])

    def _fail(self, finding: Finding) -> None:
        raise AuditReadError(
            f"audit log {self.path}: failed verification: {_reason(finding)}",
            hint=f"run `gatekeeper audit verify --audit-log {self.path}`",
        )

    def inspect(self, trusted: TrustedKeys | None = None, *, legacy_key: bytes | None = None,
                anchors: Sequence[Anchor] = ()) -> Report:
        """Verify the whole log: every finding (record/verify.py), against the checkpoint
        beside it and ``anchors``. Raises AuditReadError when the log cannot be read and
        AnchorError when an anchor cannot."""
        return self._inspect(self._stable_size(), trusted or TrustedKeys(), legacy_key,
                             anchors)

    def _inspect(self, size: int | None, trusted: TrustedKeys, legacy_key: bytes | None,
                 anchors: Sequence[Anchor]) -> Report:
        inspector = Inspector(trusted=trusted, legacy_key=legacy_key)
        for number, (_offset, outcome, terminated), last in self._scan(size):
            record = inspector.judge(number, outcome, terminated, last)
            if record is not None:
                for anchor in anchors:
                    if anchor.covers(record):
                        inspector.note_covered(anchor.name, record["seq"])
        inspector.finish_walk()
        notes = list(self._compare_sidecar(inspector))
        for anchor in anchors:
            inspector.compare(anchor.name, anchor.read(), anchor=True)
        if inspector.signed and not trusted:
            notes.append(f"signatures were not checked: no --public-key given "
                         f"({inspector.signed} of {inspector.records} records signed)")
        return inspector.report(tuple(notes))

    def _scan(self, size: int | None) -> Iterator[tuple[int, Line, bool]]:
        """(line number, the parsed line, whether it is the last), for ``_inspect``."""
        try:
            lines = scan(self.path, size)
            previous = next(lines, None)
            number = 0
            for current in lines:
                number += 1
                assert previous is not None
                yield number, previous, False
                previous = current
            if previous is not None:
                yield number + 1, previous, True
        except FileNotFoundError:
            raise AuditReadError(f"audit log {self.path} does not exist") from None
        except OSError as exc:
            raise AuditReadError(f"audit log {self.path}: cannot read: {_describe(exc)}"
                                 ) from exc

    def _compare_sidecar(self, inspector: Inspector) -> Iterator[str]:
        try:
            checkpoint = read_sidecar(self.path)
        except ValueError as exc:
            yield f"the checkpoint file beside the log is unreadable ({exc}): not compared"
            return
        if checkpoint is None:
            return
        inspector.compare("checkpoint file", AnchorReading(checkpoint, checkpoint),
                          anchor=False)
        if checkpoint.size < inspector.last_seq:
            yield (f"the checkpoint file is at record {checkpoint.size}, the log at "
                   f"{inspector.last_seq} (an append that stopped before writing it)")

    def verify(self) -> Verification:
        """Check the whole chain; the first finding in brief (``inspect`` has them all).
        Signatures are checked with this log's own signing key, and legacy HMAC ones with
        ``GATEKEEPER_AUDIT_KEY``, when set. Raises AuditReadError if the file cannot be read."""
        trusted = TrustedKeys({self.signer.key_id: self.signer.public_key}) \
            if self.signer else TrustedKeys()
        report = self._inspect(self._stable_size(), trusted, self.legacy_key, ())
        key = self.key_id if self.signer else None
        if report.ok:
            return Verification(ok=True, count=report.count, key_id=key)
        first = report.findings[0]
        seq = first.seq if first.seq is not None else report.count + 1
        return Verification(ok=False, count=max(seq - 1, 0), first_bad_seq=seq,
                            line=first.line, reason=_reason(first), key_id=key)

    def latest_decisions(
        self, model: str, version: str, run_id: str | None, milestones: Sequence[str]
    ) -> dict[str, dict[str, Any] | None]:
        """The latest decision record (pass or block) for each of ``milestones`` of this model
        version and run, found through the index and checked; None where there is none. A log
        that fails verification raises AuditReadError; a missing log holds no decision."""
        if not milestones or not self.path.exists():
            return dict.fromkeys(milestones)
        with self.session() as session:
            return session.latest_decisions(model, version, run_id, milestones)

    def model_records(self, model: str) -> list[dict[str, Any]]:
        """Every record about ``model``, oldest first, in one verified pass (``gatekeeper
        status``, protected aliases). A log that fails verification raises AuditReadError: a
        forged promotion must not hide an alias moved by hand. A missing log holds none."""
        if not self.path.exists():
            return []
        wanted = RecordFilter(model=model)
        return [s.record for s in self.verified_records() if wanted.matches(s.record)]

    def repair(self, entry: Mapping[str, Any]) -> Repaired | None:
        """Remove a torn last line, then append ``entry`` (a ``repair`` record, to which the
        removed line's number, size and sha256 are added). None when there is nothing to
        repair; raises RepairRefused when the log has any other finding (nothing is changed)."""
        with self.session_for_repair() as (file, size):
            report = self._inspect(size, TrustedKeys(), None, ())
            torn = [f for f in report.findings if f.code == "torn"]
            if not report.findings:
                return None
            if len(torn) != len(report.findings):
                raise RepairRefused(report)
            removed = self._cut_last_line(file, size)
        return self._record_repair(entry, removed)

    @contextlib.contextmanager
    def session_for_repair(self) -> Iterator[tuple[FileIO, int]]:
        if not self.path.exists():
            raise AuditReadError(f"audit log {self.path} does not exist")
        try:
            file = open(self.path, "r+b", buffering=0)  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise AuditWriteError(f"audit log {self.path}: cannot write: {_describe(exc)}") from exc
        with file:
            self._lock(file, fcntl.LOCK_EX, AuditWriteError)
            try:
                yield file, os.fstat(file.fileno()).st_size
            finally:
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)

    def _cut_last_line(self, file: FileIO, size: int) -> tuple[int, int, str]:
        import hashlib

        last = None
        for number, offset, raw, _terminated in _read_lines(self.path, size):
            last = (number, offset, raw)
        assert last is not None  # a torn line was found, so there is one
        number, offset, _ = last
        file.seek(offset)
        data = file.read(size - offset)
        try:
            file.truncate(offset)
            os.fsync(file.fileno())
        except OSError as exc:
            raise AuditWriteError(f"audit log {self.path}: cannot cut the torn line: "
                                  f"{_describe(exc)}") from exc
        return number, len(data), "sha256:" + hashlib.sha256(data).hexdigest()

    def _record_repair(self, entry: Mapping[str, Any], removed: tuple[int, int, str]) -> Repaired:
        number, size, digest = removed
        ref = self.append({**entry, "action": REPAIR,
                           "removed": {"line": number, "bytes": size, "sha256": digest}})
        return Repaired(number, size, digest, ref)

    def _stable_size(self) -> int | None:
        """How many bytes of the file hold whole records; None if that cannot be known.

        Taking the shared lock for a moment waits out any append in progress, so a reader
        never mistakes a line being written for a truncated one.
        """
        if not self.path.exists():
            raise AuditReadError(f"audit log {self.path} does not exist")
        try:
            with open(self.path, "rb", buffering=0) as file:
                self._lock(file, fcntl.LOCK_SH, AuditReadError)
                return os.fstat(file.fileno()).st_size
        except OSError:
            return None


class AuditSession:
    """The log held exclusively (see :meth:`AuditLog.session`)."""

    def __init__(self, log: AuditLog, file: FileIO, index: Index, head: Head,
                 created: bool) -> None:
        self._log, self._file, self._index, self._head = log, file, index, head
        self._created = created

    def append(self, entry: Mapping[str, Any]) -> AuditRef:
        """Add one record after the verified end of the chain. Raises AuditWriteError."""
        log, head = self._log, self._head
        body = log._normalize(entry)
        origin = head.origin or uuid.uuid4().hex
        line, digest = log._seal(body, head, origin)
        size = os.fstat(self._file.fileno()).st_size
        try:
            _write_line(self._file, line + b"\n", size,
                        log.path.parent if self._created else None)
        except OSError as exc:
            raise AuditWriteError(f"audit log {log.path}: cannot write: {_describe(exc)}") from exc
        self._created = False
        seq = head.seq + 1
        if log.signer is not None and head.seq and not head.signed:
            log.notices.append(f"audit log {log.path}: signing starts at record {seq}; "
                               f"records 1-{head.seq} stay unsigned")
        self._head = Head(size + len(line) + 1, head.lines + 1, seq, digest, size, origin,
                          head.signed or log.signer is not None)
        decisions = {_decision_key_of(body): (seq, size)} if body.get("action") == "decision" \
            else {}
        self._index.update(self._head, decisions)
        log._anchor(Checkpoint(origin, seq, digest).signed(log.signer), body)
        return AuditRef(log=log.location, seq=seq, hash=digest)

    def latest_decisions(
        self, model: str, version: str, run_id: str | None, milestones: Sequence[str]
    ) -> dict[str, dict[str, Any] | None]:
        """As :meth:`AuditLog.latest_decisions`, through the index (no second lock: the
        session holds it). Each record found is read back and checked before it is used."""
        found: dict[str, dict[str, Any] | None] = {}
        for milestone in milestones:
            hit = self._index.decision(decision_key(model, version, run_id, milestone))
            found[milestone] = None if hit is None else self._checked(*hit)
        if self._index.head() is None and self._head.seq:  # no usable index: read them all
            return _latest(self._scan(), model, version, run_id, milestones)
        return found

    def _checked(self, seq: int, offset: int) -> dict[str, Any]:
        """The record at ``offset``, checked: its own hash, its seq, and that the record after
        it (when there is one) follows it. Raises AuditReadError."""
        log = self._log
        raw, after = _line_at(self._file, offset)
        problem = None
        try:
            parsed = parse_line(raw)
            if not parsed.hash_ok:
                problem = "hash mismatch: content changed after it was written"
            elif parsed.record["seq"] != seq:
                problem = f"the index expected record {seq} here (records moved)"
            elif after < self._head.bytes:
                following, _ = _line_at(self._file, after)
                if strict_parse(following).get("prev_hash") != parsed.hash:
                    problem = f"record {seq + 1} does not follow it (prev_hash mismatch)"
        except _Unusable as bad:
            problem = str(bad)
        if problem:
            log_path = log.path
            raise AuditReadError(
                f"audit log {log_path}: failed verification: record {seq}: {problem}",
                hint=f"run `gatekeeper audit verify --audit-log {log_path}`",
            )
        return parsed.record

    def _scan(self) -> Iterator[StoredRecord]:
        for number, _offset, raw, _ in _read_lines(self._log.path, self._head.bytes):
            yield StoredRecord(number, "", strict_parse(raw))


def _head_holds(path: Path, head: Head, size: int) -> bool:
    """Whether the log still ends its first ``head.bytes`` with the record the index names."""
    if head.bytes == 0:
        return True
    if head.bytes > size or head.hash is None:
        return False
    try:
        with open(path, "rb") as file:
            file.seek(head.offset)
            raw = file.read(head.bytes - head.offset)
        if not raw.endswith(b"\n") or b"\n" in raw[:-1]:
            return False
        parsed = parse_line(raw[:-1])
    except (OSError, _Unusable):
        return False
    return parsed.hash_ok and parsed.hash == head.hash and parsed.record["seq"] == head.seq


def _link_problem(head: Head, digest: str, hash_ok: bool, record: Mapping[str, Any]) -> str:
    """Why ``record`` cannot follow ``head`` ("" when it can)."""
    seq = head.seq + 1
    if not hash_ok:
        return "hash mismatch: content changed after it was written"
    if record["seq"] != seq:
        return f"seq {record['seq']} where {seq} belongs (records removed, repeated or moved)"
    if record.get("prev_hash") != (head.hash or chain.GENESIS_HASH):
        return ("prev_hash mismatch: does not follow the record before it (a record was "
                "removed, inserted or rewritten)")
    log_id = record.get("log_id")
    if head.origin is not None and log_id is not None and log_id != head.origin:
        return f"log_id {log_id!r} is not this log's (a record spliced from another log)"
    return ""


def _origin_of(record: Mapping[str, Any], digest: str) -> str:
    log_id = record.get("log_id")
    return log_id if isinstance(log_id, str) else legacy_origin(digest)


def _decision_key_of(record: Mapping[str, Any]) -> str:
    return decision_key(nested(record, "model", "name"), nested(record, "model", "version"),
                        nested(record, "model", "run_id"), record.get("milestone"))


def _reason(finding: Finding) -> str:
    """A finding as the one-line reason of a Verification or an error."""
    where = f"record {finding.seq}" if finding.seq is not None else "the log"
    if finding.line is not None:
        where += f" (line {finding.line})"
    return f"{where}: {finding.code}: {finding.message}"


def _latest(records: Iterable[StoredRecord], model: str, version: str, run_id: str | None,
            milestones: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    found: dict[str, dict[str, Any] | None] = dict.fromkeys(milestones)
    wanted = {m: RecordFilter(model=model, version=version, milestone=m, action="decision")
              for m in milestones}
    for stored in records:
        for milestone, filter_ in wanted.items():
            if (filter_.matches(stored.record)
                    and nested(stored.record, "model", "run_id") == run_id):
                found[milestone] = stored.record
    return found


def _line_at(file: FileIO, offset: int) -> tuple[bytes, int]:
    """The line starting at ``offset`` (without its newline) and where the next one starts."""
    chunks = []
    position = offset
    while True:
        chunk = os.pread(file.fileno(), 1 << 16, position)
        if not chunk:
            break
        end = chunk.find(b"\n")
        if end >= 0:
            chunks.append(chunk[:end])
            position += end + 1
            return b"".join(chunks), position
        chunks.append(chunk)
        position += len(chunk)
    return b"".join(chunks), position


def _with_last(lines: Iterator[tuple[int, int, bytes, bool]]
               ) -> Iterator[tuple[int, int, bytes, bool, bool]]:
    """Each line with whether it is the last one."""
    previous = next(lines, None)
    for current in lines:
        assert previous is not None
        yield (*previous, False)
        previous = current
    if previous is not None:
        yield (*previous, True)


def _read_lines(path: Path, limit: int | None, start: int = 0, start_line: int = 0
                ) -> Iterator[tuple[int, int, bytes, bool]]:
    """(line number, offset, line without its newline, whether it had one), for the lines
    that start within the first ``limit`` bytes (all if None), from byte ``start`` (line
    ``start_line`` ended there). Raises AuditReadError."""
    offset = start
    try:
        with open(path, "rb", buffering=1 << 20) as file:
            file.seek(start)
            for number, line in enumerate(file, start=start_line + 1):
                if limit is not None and offset >= limit:
                    return  # appended after the reader started: not part of this snapshot
                at = offset
                offset += len(line)
                terminated = line.endswith(b"\n")
                yield number, at, line[:-1] if terminated else line, terminated
    except FileNotFoundError:
        raise AuditReadError(f"audit log {path} does not exist") from None
    except OSError as exc:
        raise AuditReadError(f"audit log {path}: cannot read: {_describe(exc)}") from exc


def _write_line(file: FileIO, data: bytes, size: int, new_directory: Path | None) -> None:
    """Append ``data`` durably (syncing ``new_directory`` too when the file is new); on any
    failure cut the file back to ``size`` and re-raise."""
    try:
        view = memoryview(data)
        # One write() normally takes the whole line; a short write is finished rather than
        # left behind, and the lock keeps every other writer out meanwhile.
        while view:
            written = file.write(view)
            if not written:
                raise OSError(errno.EIO, "write made no progress")
            view = view[written:]
        os.fsync(file.fileno())
        if new_directory is not None:
            _fsync_directory(new_directory)
    except OSError:
        _truncate_quietly(file, size)
        raise


def _fsync_directory(directory: Path) -> None:
    # A new file's directory entry is only durable once its directory is synced (POSIX);
    # Windows cannot open a directory for this.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _truncate_quietly(file: FileIO, size: int) -> None:
    # Best effort: the original error is the one worth reporting.
    try:
        file.truncate(size)
        os.fsync(file.fileno())
    except OSError:
        pass


def _describe(exc: OSError) -> str:
    """The OS's reason, naming the file it concerns (the lock, a parent folder, ...)."""
    reason = exc.strerror or str(exc)
    return f"{reason}: {exc.filename}" if exc.filename else reason
