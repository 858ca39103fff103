"""The append-only JSONL audit log: appending under a cross-process lock, reading, verifying.

Every line is one record. ``append`` adds the integrity fields: ``schema``, ``seq`` (1-based,
consecutive), ``recorded_at`` (UTC), ``prev_hash`` (the previous record's ``hash``, or
``GENESIS_HASH``), ``hash`` (see ``chain``) and, when ``GATEKEEPER_AUDIT_KEY`` is set, ``key_id``
and ``signature``.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import FileIO
from pathlib import Path
from typing import Any

import rfc8785
from filelock import FileLock, Timeout

from gatekeeper.decide.result import AuditRef
from gatekeeper.errors import InfrastructureError
from gatekeeper.record import chain
from gatekeeper.record.query import RecordFilter, nested

SCHEMA = "gatekeeper.audit/v1"
DEFAULT_PATH = Path(".gatekeeper/audit.jsonl")
KEY_VARIABLE = "GATEKEEPER_AUDIT_KEY"
LOCK_TIMEOUT = 30.0
INTEGRITY_FIELDS = frozenset(
    {"schema", "seq", "recorded_at", "prev_hash", "key_id", "hash", "signature"}
)
# Tail reads go backwards in blocks this size; a record is usually well under one block.
_TAIL_BLOCK = 64 * 1024
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
    """One audit log file.

    ``env`` is where ``GATEKEEPER_AUDIT_KEY`` is read from (default ``os.environ``); ``clock``
    stamps ``recorded_at``. Readers take the lock only for a moment, to learn how much of the
    file holds whole records (see ``_stable_size``), then read without blocking appends.
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
        self.lock_path = Path(f"{self.path}.lock")
        self.lock_timeout = lock_timeout
        self._clock = clock
        # An empty key counts as unset: CI systems expand a secret unavailable to the job
        # (e.g. a fork's pull request) to "", and an empty HMAC key protects nothing.
        key = (os.environ if env is None else env).get(KEY_VARIABLE, "")
        self._key = key.encode("utf-8") if key else None

    @property
    def key_id(self) -> str | None:
        """The configured signing key's id, or None when records are not signed."""
        return chain.key_id(self._key) if self._key else None

    # -- appending ---------------------------------------------------------------------------

    def append(self, entry: Mapping[str, Any]) -> AuditRef:
        """Add one record; returns where it landed. Raises AuditWriteError (exit 3).

        Raises ValueError if ``entry`` sets an integrity field: only the log assigns those.
        """
        clash = sorted(INTEGRITY_FIELDS & set(entry))
        if clash:
            raise ValueError(f"audit entries must not set integrity fields: {', '.join(clash)}")
        body = self._normalize(entry)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(self.lock_path, timeout=self.lock_timeout):
                return self._append_locked(body)
        except Timeout as exc:
            raise AuditWriteError(
                f"audit log {self.path}: gave up waiting {self.lock_timeout:g}s"
                f" for the lock {self.lock_path}",
                hint="another gatekeeper process is writing the log, or one hung holding the lock",
            ) from exc
        except OSError as exc:
            raise AuditWriteError(f"audit log {self.path}: cannot write: {_describe(exc)}") from exc

    def _normalize(self, entry: Mapping[str, Any]) -> dict[str, Any]:
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

    def _append_locked(self, body: dict[str, Any]) -> AuditRef:
        created = not self.path.exists()
        with open(self.path, "a+b", buffering=0) as file:
            size = os.fstat(file.fileno()).st_size
            seq, prev_hash = self._tail(file, size)
            record = self._seal(body, seq + 1, prev_hash)
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            new_directory = self.path.parent if created else None
            _write_line(file, (line + "\n").encode("utf-8"), size, new_directory)
        return AuditRef(log=str(self.path), seq=record["seq"], hash=record["hash"])

    def _tail(self, file: FileIO, size: int) -> tuple[int, str]:
        """The last record's seq and hash, after checking it is whole and unaltered."""
        if size == 0:
            return 0, chain.GENESIS_HASH
        last = _last_line(file, size)
        if last is None:
            raise AuditWriteError(
                f"audit log {self.path}: the last line is incomplete (no trailing newline),"
                " probably from an interrupted write; nothing was appended",
                hint=f"run `gatekeeper audit verify --audit-log {self.path}`",
            )
        try:
            record = _parse(last)
            seq, stored_hash = _integrity_fields(record)
            _check_hash(record, stored_hash)
        except _Bad as bad:
            raise AuditWriteError(
                f"audit log {self.path}: the last record is not intact ({bad});"
                " nothing was appended",
                hint=f"run `gatekeeper audit verify --audit-log {self.path}`",
            ) from None
        return seq, stored_hash

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

    def find_decision(
        self,
        model: str,
        version: str,
        run_id: str | None,
        milestone: str,
        decision: str = "pass",
        playbook_digest: str | None = None,
    ) -> dict[str, Any] | None:
        """The latest ``decision`` record for this model version, run and milestone.

        The whole chain is verified on the way: a log that fails verification raises
        AuditReadError rather than answering, and a missing log holds no decision.
        """
        return self.find_decisions(model, version, run_id, [milestone], decision,
                                   playbook_digest)[milestone]

    def find_decisions(
        self,
        model: str,
        version: str,
        run_id: str | None,
        milestones: Sequence[str],
        decision: str = "pass",
        playbook_digest: str | None = None,
    ) -> dict[str, dict[str, Any] | None]:
        """:meth:`find_decision` for several milestones in one verified pass over the log."""
        found: dict[str, dict[str, Any] | None] = dict.fromkeys(milestones)
        if not milestones or not self.path.exists():
            return found
        wanted = {m: RecordFilter(model=model, version=version, milestone=m, decision=decision,
                                  action="decision") for m in milestones}
        for stored in self.verified_records():
            for milestone, filter_ in wanted.items():
                if filter_.matches(stored.record) and _same_run(stored.record, run_id,
                                                                playbook_digest):
                    found[milestone] = stored.record
        return found

    def _stable_size(self) -> int | None:
        """How many bytes of the file hold whole records; None if that cannot be known.

        Taking the lock for a moment waits out any append in progress, so a reader never
        mistakes a line being written for a truncated one. Without write access to the lock
        (e.g. a read-only copy under review) the whole file is read as it is.
        """
        if not self.path.exists():
            raise AuditReadError(f"audit log {self.path} does not exist")
        try:
            with FileLock(self.lock_path, timeout=self.lock_timeout):
                return self.path.stat().st_size
        except Timeout as exc:
            raise AuditReadError(
                f"audit log {self.path}: gave up waiting {self.lock_timeout:g}s"
                f" for the lock {self.lock_path}"
            ) from exc
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


def _same_run(record: Mapping[str, Any], run_id: str | None, digest: str | None) -> bool:
    same_digest = digest is None or nested(record, "playbook", "digest") == digest
    same_run_id: bool = nested(record, "model", "run_id") == run_id
    return same_digest and same_run_id


@dataclass
class _ChainState:
    """Where a verification walk stands: records accepted so far and the last hash."""

    key: bytes | None
    count: int = 0
    prev_hash: str = chain.GENESIS_HASH

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


def _read_lines(path: Path, limit: int | None) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line without its newline, whether it had one), for the lines that start
    within the first ``limit`` bytes (all if None). Raises AuditReadError."""
    offset = 0
    try:
        with open(path, "rb") as file:
            for number, line in enumerate(file, start=1):
                if limit is not None and offset >= limit:
                    return  # appended after the reader started: not part of this snapshot
                offset += len(line)
                terminated = line.endswith(b"\n")
                yield number, line[:-1] if terminated else line, terminated
    except FileNotFoundError:
        raise AuditReadError(f"audit log {path} does not exist") from None
    except OSError as exc:
        raise AuditReadError(f"audit log {path}: cannot read: {_describe(exc)}") from exc


def _last_line(file: FileIO, size: int) -> bytes | None:
    """The last line of a non-empty file without its newline; None if it has no newline."""
    file.seek(size - 1)
    if file.read(1) != b"\n":
        return None
    end = start = size - 1
    tail = b""
    while start > 0:
        start = max(0, start - _TAIL_BLOCK)
        file.seek(start)
        tail = _read_exactly(file, end - start) + tail
        end = start
        newline = tail.rfind(b"\n")
        if newline != -1:
            return tail[newline + 1 :]
    return tail


def _read_exactly(file: FileIO, count: int) -> bytes:
    chunks: list[bytes] = []
    while count > 0:
        chunk = file.read(count)
        if not chunk:
            raise OSError(errno.EIO, "file shrank while reading its last record")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


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
