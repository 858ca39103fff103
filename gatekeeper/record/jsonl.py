"""The append-only JSONL audit log: appending under a cross-process lock, reading, verifying.

Every line is one record. ``append`` adds the integrity fields: ``schema``, ``seq`` (1-based,
consecutive), ``recorded_at`` (UTC), ``prev_hash`` (the previous record's ``hash``, or
``GENESIS_HASH``), ``hash`` (see ``chain``) and, when ``GATEKEEPER_AUDIT_KEY`` is set, ``key_id``
and ``signature``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import FileIO
from pathlib import Path
from typing import Any

import rfc8785

from gatekeeper.decide.result import AuditRef
from gatekeeper.errors import InfrastructureError, InvalidInputError
from gatekeeper.record import chain
from gatekeeper.record.query import RecordFilter, nested

SCHEMA = "gatekeeper.audit/v1"
DEFAULT_PATH = Path(".gatekeeper/audit.jsonl")
KEY_VARIABLE = "GATEKEEPER_AUDIT_KEY"
LOCK_TIMEOUT = 30.0
LOCK_POLL_S = 0.02
#: Beside the log: where the chain was last verified whole, so a gate re-checks only what was
#: appended since (and a sha256 of the bytes before), not the whole history.
CHECKPOINT_SUFFIX = ".verified"
INTEGRITY_FIELDS = frozenset(
    {"schema", "seq", "recorded_at", "prev_hash", "key_id", "hash", "signature"}
)
TRUNCATED = "truncated: the last line has no newline (an append was interrupted)"
HASH_MISMATCH = "hash mismatch: content changed after it was written"


class AuditWriteError(InfrastructureError):
    """The audit log could not be written: no verdict may be reported (exit 3)."""


class AuditReadError(InfrastructureError):
    """The audit log could not be read or trusted: callers must fail closed (exit 3)."""


@dataclass(frozen=True)
class Verification:
    """The outcome of ``AuditLog.verify``.

    ``count`` is the number of intact records (before the first bad one, if any). ``key_id``
    names the key signatures were checked with; None when no key was available.
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


class _Bad(Exception):
    """What is wrong with one line; becomes a Verification reason or an AuditReadError."""


class _Broken(Exception):
    def __init__(self, verification: Verification) -> None:
        super().__init__(verification.reason)
        self.verification = verification


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    """One audit log file: the JSONL implementation of ``AuditStore`` (record/interface.py).

    ``env`` is where ``GATEKEEPER_AUDIT_KEY`` is read from (default ``os.environ``); ``clock``
    stamps ``recorded_at``. The lock is an ``flock`` on the log file itself, so every path to
    the same file (a symlink, a hard link) shares it. Readers take a shared lock only for a
    moment, to learn how much of the file holds whole records (see ``_stable_size``), then
    read without blocking appends.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        *,
        env: Mapping[str, str] | None = None,
        lock_timeout: float = LOCK_TIMEOUT,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.path = Path(path)
        if not str(path).strip():
            raise InvalidInputError("--audit-log: the path is empty")
        self.lock_timeout = lock_timeout
        self._clock = clock
        # An empty key counts as unset: CI systems expand a secret unavailable to the job
        # (e.g. a fork's pull request) to "", and an empty HMAC key protects nothing.
        key = (os.environ if env is None else env).get(KEY_VARIABLE, "")
        self._key = key.encode("utf-8") if key else None

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def key_id(self) -> str | None:
        """The configured signing key's id, or None when records are not signed."""
        return chain.key_id(self._key) if self._key else None

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
        """Hold the log exclusively: the chain is verified first (incrementally, from the last
        verified checkpoint), then records can be read and appended, and the caller can act
        between appends (move an alias) with no other writer in between."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            file = open(self.path, "a+b", buffering=0)  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise AuditWriteError(f"audit log {self.path}: cannot write: {_describe(exc)}") from exc
        with file:
            self._lock(file, fcntl.LOCK_EX, AuditWriteError)
            try:
                state = self._verified_state(file)
                yield AuditSession(self, file, state, created)
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

    def _verified_state(self, file: FileIO) -> _ChainState:
        """The chain's end after checking every record since the last checkpoint (and that
        the bytes before it are unchanged); raises AuditReadError on a broken chain."""
        size = os.fstat(file.fileno()).st_size
        start = _Checkpoint.read(self._checkpoint_path()).valid_for(self.path, size)
        # Signatures are the reviewer's check (`audit verify` with the key); a gate checks
        # that the chain it extends is whole.
        state = _ChainState(key=None, count=start.seq, prev_hash=start.hash)
        number = start.lines
        for number, raw, terminated in _read_lines(self.path, size, start.size, start.lines):
            try:
                if not terminated:
                    raise _Bad(TRUNCATED)
                state.accept(_parse(raw))
            except _Bad as bad:
                if not terminated:
                    raise AuditWriteError(
                        f"audit log {self.path}: the last line is incomplete (no trailing "
                        "newline), probably from an interrupted write; nothing was appended",
                        hint=f"run `gatekeeper audit verify --audit-log {self.path}`",
                    ) from None
                raise AuditReadError(
                    f"audit log {self.path}: failed verification: record {state.count + 1} "
                    f"(line {number}): {bad}; nothing was appended",
                    hint=f"run `gatekeeper audit verify --audit-log {self.path}`",
                ) from None
        state.lines = number
        return state

    def _checkpoint_path(self) -> Path:
        return Path(f"{os.path.realpath(self.path)}{CHECKPOINT_SUFFIX}")

    def _normalize(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        clash = sorted(INTEGRITY_FIELDS & set(entry))
        if clash:
            raise ValueError(f"audit entries must not set integrity fields: {', '.join(clash)}")
        # A JSON round trip makes the hashed value exactly what a reader will parse back, and
        # encoding up front means a bad entry fails before the log is touched.
        try:
            body: dict[str, Any] = json.loads(json.dumps(entry, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise AuditWriteError(f"audit log {self.path}: entry is not JSON: {exc}") from exc
        try:
            chain.canonical_json(body)
        except rfc8785.CanonicalizationError as exc:
            raise AuditWriteError(
                f"audit log {self.path}: entry has no canonical JSON form: {exc}"
            ) from exc
        return body

    def _seal(self, body: dict[str, Any], seq: int, prev_hash: str) -> dict[str, Any]:
        recorded_at = self._clock().astimezone(UTC).isoformat(timespec="milliseconds")
        record = {
            "schema": SCHEMA,
            "seq": seq,
            "recorded_at": recorded_at.replace("+00:00", "Z"),
            **body,
            "prev_hash": prev_hash,
        }
        if self._key:
            record["key_id"] = chain.key_id(self._key)
        record["hash"] = chain.record_hash(record)  # encodable: checked by _normalize
        if self._key:
            record["signature"] = chain.sign(record["hash"], self._key)
        return record

    # -- reading -----------------------------------------------------------------------------

    def records(self) -> Iterator[StoredRecord]:
        """Every record, parsed but not verified. Raises AuditReadError on a line that does
        not parse (or a missing file)."""
        for number, raw, terminated in _read_lines(self.path, self._stable_size()):
            try:
                if not terminated:
                    raise _Bad(TRUNCATED)
                record = _parse(raw)
            except _Bad as bad:
                raise AuditReadError(
                    f"audit log {self.path}: line {number}: {bad}",
                    hint=f"run `gatekeeper audit verify --audit-log {self.path}`",
                ) from None
            yield StoredRecord(number, raw.decode("utf-8"), record)

    def verified_records(self) -> Iterator[StoredRecord]:
        """Every record, checking the chain as it goes. Raises AuditReadError at the first
        record that fails verification, so a caller can fail closed."""
        try:
            yield from self._walk()
        except _Broken as broken:
            raise AuditReadError(
                f"audit log {self.path}: failed verification: {broken.verification.reason}",
                hint=f"run `gatekeeper audit verify --audit-log {self.path}`",
            ) from None

    def verify(self) -> Verification:
        """Check the whole chain. Raises AuditReadError if the file cannot be read at all."""
        count = 0
        try:
            for _ in self._walk():
                count += 1
        except _Broken as broken:
            return broken.verification
        return Verification(ok=True, count=count, key_id=self.key_id)

    def latest_decisions(
        self, model: str, version: str, run_id: str | None, milestones: Sequence[str]
    ) -> dict[str, dict[str, Any] | None]:
        """The latest decision record (pass or block) for each of ``milestones`` of this model
        version and run, in one verified pass; None where there is none. A log that fails
        verification raises AuditReadError; a missing log holds no decision."""
        if not milestones or not self.path.exists():
            return dict.fromkeys(milestones)
        return _latest(self.verified_records(), model, version, run_id, milestones)

    def model_records(self, model: str) -> list[dict[str, Any]]:
        """Every record about ``model``, oldest first, in one verified pass (``gatekeeper
        status``, protected aliases). A log that fails verification raises AuditReadError: a
        forged promotion must not hide an alias moved by hand. A missing log holds none."""
        if not self.path.exists():
            return []
        wanted = RecordFilter(model=model)
        return [s.record for s in self.verified_records() if wanted.matches(s.record)]

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

    def _walk(self) -> Iterator[StoredRecord]:
        """Records in order, each checked against the chain; raises _Broken at the first bad."""
        state = _ChainState(key=self._key)
        for number, raw, terminated in _read_lines(self.path, self._stable_size()):
            try:
                if not terminated:
                    raise _Bad(TRUNCATED)
                record = _parse(raw)
                state.accept(record)
            except _Bad as bad:
                position = state.count + 1
                raise _Broken(Verification(
                    ok=False,
                    count=state.count,
                    first_bad_seq=position,
                    line=number,
                    reason=f"record {position} (line {number}): {bad}",
                    key_id=self.key_id,
                )) from None
            yield StoredRecord(number, raw.decode("utf-8"), record)


class AuditSession:
    """The log held exclusively (see :meth:`AuditLog.session`)."""

    def __init__(self, log: AuditLog, file: FileIO, state: _ChainState, created: bool) -> None:
        self._log, self._file, self._state, self._created = log, file, state, created

    def append(self, entry: Mapping[str, Any]) -> AuditRef:
        """Add one record after the verified end of the chain. Raises AuditWriteError."""
        log, state = self._log, self._state
        body = log._normalize(entry)
        record = log._seal(body, state.count + 1, state.prev_hash)
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        size = os.fstat(self._file.fileno()).st_size
        try:
            _write_line(self._file, (line + "\n").encode("utf-8"), size,
                        log.path.parent if self._created else None)
        except OSError as exc:
            raise AuditWriteError(f"audit log {log.path}: cannot write: {_describe(exc)}") from exc
        self._created = False
        state.count, state.prev_hash, state.lines = record["seq"], record["hash"], state.lines + 1
        _Checkpoint.write(log, self._file, state)
        return AuditRef(log=str(log.path), seq=record["seq"], hash=record["hash"])

    def latest_decisions(
        self, model: str, version: str, run_id: str | None, milestones: Sequence[str]
    ) -> dict[str, dict[str, Any] | None]:
        """As :meth:`AuditLog.latest_decisions`, on the chain verified when the session began
        (no second lock: the session holds it)."""
        size = os.fstat(self._file.fileno()).st_size
        records = (StoredRecord(n, "", _parse(raw))
                   for n, raw, _ in _read_lines(self._log.path, size))
        return _latest(records, model, version, run_id, milestones)


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


@dataclass(frozen=True)
class _Checkpoint:
    """Where the chain was last seen whole: the first ``size`` bytes (with their sha256) end
    at record ``seq`` with ``hash``, on line ``lines``. Only a cache: a missing, stale or
    unreadable checkpoint means a full verification, never a skipped one."""

    size: int = 0
    sha256: str = hashlib.sha256(b"").hexdigest()
    seq: int = 0
    hash: str = chain.GENESIS_HASH
    lines: int = 0

    @classmethod
    def read(cls, path: Path) -> _Checkpoint:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(data["size"]), str(data["sha256"]), int(data["seq"]),
                       str(data["hash"]), int(data["lines"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    def valid_for(self, path: Path, size: int) -> _Checkpoint:
        """Itself when the log still starts with the bytes it vouches for, else the start."""
        if self.size == 0 or self.size > size:
            return _Checkpoint()
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as file:
                remaining = self.size
                while remaining:
                    chunk = file.read(min(remaining, 1 << 20))
                    if not chunk:
                        return _Checkpoint()
                    digest.update(chunk)
                    remaining -= len(chunk)
        except OSError:
            return _Checkpoint()
        return self if digest.hexdigest() == self.sha256 else _Checkpoint()

    @staticmethod
    def write(log: AuditLog, file: FileIO, state: _ChainState) -> None:
        size = os.fstat(file.fileno()).st_size
        file.seek(0)
        digest = hashlib.sha256()
        remaining = size
        while remaining:
            chunk = file.read(min(remaining, 1 << 20))
            if not chunk:
                return
            digest.update(chunk)
            remaining -= len(chunk)
        data = {"size": size, "sha256": digest.hexdigest(), "seq": state.count,
                "hash": state.prev_hash, "lines": state.lines}
        target = log._checkpoint_path()
        with contextlib.suppress(OSError):  # a cache: without it the next gate verifies all
            tmp = Path(f"{target}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, target)


@dataclass
class _ChainState:
    """Where a verification walk stands: records accepted so far and the last hash."""

    key: bytes | None
    count: int = 0
    prev_hash: str = chain.GENESIS_HASH
    lines: int = 0

    def accept(self, record: dict[str, Any]) -> None:
        """Check one record against the chain so far; raises _Bad."""
        seq, stored_hash = _integrity_fields(record)
        self._check_seq(seq)
        if record.get("prev_hash") != self.prev_hash:
            raise _Bad(self._prev_hash_mismatch())
        _check_hash(record, stored_hash)
        if self.key is not None:
            _check_signature(record, stored_hash, self.key)
        self.count, self.prev_hash = seq, stored_hash

    def _prev_hash_mismatch(self) -> str:
        if self.count == 0:
            return "prev_hash mismatch: the first record must follow the genesis hash"
        return (
            f"prev_hash mismatch: does not match the hash of record {self.count}"
            " (a record before it was removed, inserted or rewritten)"
        )

    def _check_seq(self, seq: int) -> None:
        expected = self.count + 1
        if seq > expected:
            raise _Bad(f"seq gap: expected {expected}, found {seq} (records removed)")
        if seq < expected:
            raise _Bad(f"seq repeated: expected {expected}, found {seq}")


def _integrity_fields(record: dict[str, Any]) -> tuple[int, str]:
    if record.get("schema") != SCHEMA:
        raise _Bad(f"unknown schema {record.get('schema')!r} (expected {SCHEMA!r})")
    seq, stored_hash = record.get("seq"), record.get("hash")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise _Bad("seq is missing or not an integer")
    if not isinstance(stored_hash, str):
        raise _Bad("hash is missing or not a string")
    return seq, stored_hash


def _check_hash(record: dict[str, Any], stored_hash: str) -> None:
    try:
        actual = chain.record_hash(record)
    except rfc8785.CanonicalizationError:
        # Only an edit can put a value without a canonical form into a record we wrote.
        raise _Bad(HASH_MISMATCH) from None
    if actual != stored_hash:
        raise _Bad(HASH_MISMATCH)


def _check_signature(record: dict[str, Any], stored_hash: str, key: bytes) -> None:
    signature = record.get("signature")
    if signature is None:
        raise _Bad(f"unsigned: {KEY_VARIABLE} is set but the record has no signature")
    ours = chain.key_id(key)
    if record.get("key_id") != ours:
        raise _Bad(
            f"signature mismatch: signed with key_id {record.get('key_id')!r},"
            f" {KEY_VARIABLE} has key_id {ours!r}"
        )
    if not isinstance(signature, str) or not chain.signature_valid(stored_hash, signature, key):
        raise _Bad(f"signature mismatch: not a signature of this record's hash by key_id {ours!r}")


def _parse(raw: bytes) -> dict[str, Any]:
    """One line as a JSON object; raises _Bad."""
    if not raw.strip():
        raise _Bad("empty line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Bad("not valid UTF-8") from None
    try:
        value = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        raise _Bad(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise _Bad("malformed JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise _Bad("not a JSON object")
    return value


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last duplicate while other readers (and eyes) may see the first:
    # a duplicated key could show one value and hash another.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Bad(f"malformed JSON: duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise _Bad(f"malformed JSON: {name} is not a JSON value")


def _read_lines(path: Path, limit: int | None, start: int = 0, start_line: int = 0
                ) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line without its newline, whether it had one), for the lines that start
    within the first ``limit`` bytes (all if None), from byte ``start`` (line ``start_line``
    ended there). Raises AuditReadError."""
    offset = start
    try:
        with open(path, "rb") as file:
            file.seek(start)
            for number, line in enumerate(file, start=start_line + 1):
                if limit is not None and offset >= limit:
                    return  # appended after the reader started: not part of this snapshot
                offset += len(line)
                terminated = line.endswith(b"\n")
                yield number, line[:-1] if terminated else line, terminated
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
