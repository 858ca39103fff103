"""The audit store in PostgreSQL, shared by every CI runner that can reach the database.

The records are the JSONL log's records, byte for byte: the same fields, the same ``seq`` and
hash chain (``chain.py``), the same optional Ed25519 signature (``signing.py``). Each row keeps
the record's exact JSON text (``raw``), which is what is hashed and verified; the other columns
are copies for the indexes, and are checked against the text whenever a row is relied on.

Writers are serialised by a PostgreSQL advisory lock on the store: ``append`` takes it for its
one transaction (``pg_advisory_xact_lock``); ``session`` holds it on its connection until the
session ends (the server drops it if the process dies), committing each record as it is
appended, so a promotion's read, alias move and record see no other writer in between. The
primary key on ``seq`` and unique ``prev_hash`` make a lost or forked append impossible even
for a writer that skipped the lock.

Like the JSONL log, the store has an origin (``log_id``: a row of ``gatekeeper_audit_meta``,
fixed when the store is first written, and carried by every record), and each append writes a
checkpoint (origin, size, head; signed with the signing key) into that table in the record's
transaction, then to every anchor (record/checkpoint.py: the MLflow version tag, git refs).
``inspect`` compares the rows with both, so rows deleted at the end, a suffix rewritten with
its hashes recomputed and a database restored from an older backup are caught.

Sealed values (record/sealed.py) are rows of ``gatekeeper_audit_sealed`` (seq, ref, salt,
value), written in the same transaction as their decision record.

    store = PostgresStore("postgresql://gate@db.internal:5432/audit")   # password: PGPASSWORD
    store.append(entry)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import rfc8785
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    Engine,
    Index,
    MetaData,
    Row,
    Table,
    Text,
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from gatekeeper.common.redact import redact_secrets
from gatekeeper.decide.result import AuditRef
from gatekeeper.errors import InfrastructureError, InvalidInputError
from gatekeeper.record import chain
from gatekeeper.record.checkpoint import (
    Anchor,
    AnchorError,
    AnchorReading,
    Checkpoint,
)
from gatekeeper.record.jsonl import (
    SCHEMA,
    AuditReadError,
    AuditWriteError,
    StoredRecord,
    Verification,
    normalize_entry,
)
from gatekeeper.record.query import nested
from gatekeeper.record.sealed import Sealed
from gatekeeper.record.signing import (
    PUBLIC_KEY_VARIABLE,
    BadKeyError,
    SignatureCheck,
    Signer,
    TrustedKeys,
    signer_from_env,
)
from gatekeeper.record.verify import (
    Finding,
    Inspector,
    Report,
    _Parsed,
    _Unusable,
    legacy_origin,
    parse_line,
    strict_parse,
)

TABLE = "gatekeeper_audit"
META_TABLE = f"{TABLE}_meta"
SEALED_TABLE = f"{TABLE}_sealed"
#: The meta rows: the store's origin, and the latest checkpoint (the JSONL sidecar's twin).
ORIGIN, CHECKPOINT = "log_id", "checkpoint"
LOCK_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 10
#: The advisory lock's key: one 64-bit number per store table, the same for every writer.
LOCK_KEY = int.from_bytes(hashlib.sha256(f"gatekeeper.audit:{TABLE}".encode()).digest()[:8],
                          "big", signed=True)
FETCH_ROWS = 1000

metadata = MetaData()
audit_table = Table(
    TABLE, metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("prev_hash", Text, nullable=False, unique=True),
    Column("hash", Text, nullable=False, unique=True),
    Column("recorded_at", Text, nullable=False),
    Column("action", Text),
    Column("model", Text),
    Column("version", Text),
    Column("run_id", Text),
    Column("milestone", Text),
    Column("raw", Text, nullable=False),
    CheckConstraint("seq >= 1", name=f"{TABLE}_seq_positive"),
    # latest_decisions: the newest decision of a version at a milestone is one index probe.
    Index(f"{TABLE}_subject", "model", "version", "milestone", "seq"),
)
#: One row per name (``ORIGIN``, ``CHECKPOINT``): what the store says about itself.
meta_table = Table(
    META_TABLE, metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
)
#: The values a decision record's digests stand for (record/sealed.py); ``redact`` deletes.
sealed_table = Table(
    SEALED_TABLE, metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ref", Text, primary_key=True),
    Column("salt", Text, nullable=False),
    Column("value", Text, nullable=False),
)
#: The row columns copied out of a record, and where in the record each comes from.
INDEXED = {"action": ("action",), "model": ("model", "name"), "version": ("model", "version"),
           "run_id": ("model", "run_id"), "milestone": ("milestone",)}


class _Bad(Exception):
    """What is wrong with one row."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PostgresStore:
    """An ``AuditStore`` (record/interface.py) in one PostgreSQL table, ``gatekeeper_audit``.

    ``url`` is ``postgresql://[user[:password]@]host[:port]/database[?param=...]``; leave the
    password out and libpq reads ``PGPASSWORD`` or ``~/.pgpass``. ``env`` is where the signing
    key (``GATEKEEPER_SIGNING_KEY``) and trusted public key (``GATEKEEPER_PUBLIC_KEY``) are
    read from (default ``os.environ``). ``anchors`` receive a checkpoint after every append.
    Nothing connects until the store is used.
    """

    def __init__(self, url: str, *, env: Mapping[str, str] | None = None,
                 lock_timeout: float = LOCK_TIMEOUT_S,
                 clock: Callable[[], datetime] = _utc_now,
                 anchors: Sequence[Anchor] = ()) -> None:
        self._url = _parse_url(url)
        self.lock_timeout = lock_timeout
        self._clock = clock
        self.anchors = list(anchors)
        self.notices: list[str] = []
        values = os.environ if env is None else env
        try:
            self._signer: Signer | None = signer_from_env(values)
            public = values.get(PUBLIC_KEY_VARIABLE, "")
            self._trusted = TrustedKeys.parse([public] if public.strip() else [])
        except BadKeyError as exc:
            raise InvalidInputError(f"audit store {self.location}: signing key: {exc}") from None
        self._engine: Engine | None = None

    @property
    def location(self) -> str:
        """The store's URL without user name or password: the same store for every runner,
        whichever account it connects with."""
        url = self._url
        safe = URL.create("postgresql", host=url.host, port=url.port, database=url.database,
                          query=url.query)
        return redact_secrets(safe.render_as_string(hide_password=True))

    @property
    def key_id(self) -> str | None:
        """The signing key's id, or None when records are not signed."""
        return self._signer.key_id if self._signer else None

    # -- appending ---------------------------------------------------------------------------

    def append(self, entry: Mapping[str, Any]) -> AuditRef:
        """Add one record in one transaction under the store's lock. Raises AuditWriteError
        (exit 3), or AuditReadError when the chain it would extend is broken; ValueError if
        ``entry`` sets an integrity field."""
        body = self._normalize(entry)
        with self._connected("write", AuditWriteError) as connection, connection.begin():
            self._prepare(connection, transaction_lock=True)
            head = self._verified_head(connection)
            ref, checkpoint = self._insert(connection, body, head, self._origin(connection))
        self._anchor(checkpoint, body)
        return ref

    @contextlib.contextmanager
    def session(self) -> Iterator[PostgresSession]:
        """Hold the store's lock on one connection: its head verified first, then records
        can be read and appended (each committed at once), and the caller can act between
        appends (move an alias) with no other writer in between."""
        with self._connected("write", AuditWriteError) as connection:
            with self._database("write", AuditWriteError), connection.begin():
                self._prepare(connection, transaction_lock=False)
            try:
                with self._database("write", AuditWriteError), connection.begin():
                    head = self._verified_head(connection)
                    origin = self._origin(connection)
                yield PostgresSession(self, connection, head, origin)
            finally:
                with contextlib.suppress(SQLAlchemyError):  # closing the connection frees it
                    connection.rollback()
                    connection.execute(select(func.pg_advisory_unlock(LOCK_KEY)))
                    connection.commit()

    def _prepare(self, connection: Connection, *, transaction_lock: bool) -> None:
        """Take the lock (waiting at most ``lock_timeout``), then create the table and its
        index when missing, and fix the store's origin: under the lock, so two first writers
        cannot race to create."""
        connection.execute(text(f"SET lock_timeout = '{int(self.lock_timeout * 1000)}ms'"))
        lock = func.pg_advisory_xact_lock if transaction_lock else func.pg_advisory_lock
        try:
            connection.execute(select(lock(LOCK_KEY)))
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                raise AuditWriteError(
                    f"audit store {self.location}: gave up waiting {self.lock_timeout:g}s "
                    "for its lock",
                    hint="another gatekeeper process is writing the store, or one hung "
                         "holding the lock") from None
            raise
        metadata.create_all(connection, checkfirst=True)
        if self._origin(connection) is None:
            # A store written before it had an origin is named by its first record, as a
            # JSONL log without log_id is: its checkpoints and records keep agreeing.
            first = connection.execute(select(audit_table.c.hash).where(
                audit_table.c.seq == 1)).scalar()
            origin = legacy_origin(str(first)) if first is not None else uuid.uuid4().hex
            connection.execute(pg_insert(meta_table).values(name=ORIGIN, value=origin)
                               .on_conflict_do_nothing())

    def _origin(self, connection: Connection) -> str | None:
        return self._meta(connection, ORIGIN)

    def _meta(self, connection: Connection, name: str) -> str | None:
        value = connection.execute(select(meta_table.c.value).where(
            meta_table.c.name == name)).scalar()
        return None if value is None else str(value)

    def _checkpoint(self, connection: Connection) -> Checkpoint | None:
        """The checkpoint row; None when there is none. Raises ValueError when unreadable."""
        text_ = self._meta(connection, CHECKPOINT) if self._has_meta(connection) else None
        return None if text_ is None else Checkpoint.from_json(text_)

    def _verified_head(self, connection: Connection) -> tuple[int, str]:
        """(seq, hash) of the last record, after checking it and every link of the chain;
        raises AuditReadError on a broken chain."""
        row = connection.execute(
            select(audit_table).order_by(audit_table.c.seq.desc()).limit(1)).first()
        if row is None:
            return 0, chain.GENESIS_HASH
        self._check_links(connection)
        try:
            _check_row(row)
        except _Bad as bad:
            self._broken(str(bad), int(row.seq))
        head = int(row.seq), str(row.hash)
        self._check_signed_checkpoint(connection, head)
        return head

    def _check_signed_checkpoint(self, connection: Connection, head: tuple[int, str]) -> None:
        """With a signing key, the chain's end must agree with the checkpoint this key signed:
        rows deleted at the end or rewritten with their hashes recomputed would otherwise be
        extended as if nothing happened. (A checkpoint behind the head is an append that died
        between its record and its checkpoint: harmless.)"""
        if self._signer is None:
            return
        try:
            checkpoint = self._checkpoint(connection)
        except ValueError:
            checkpoint = None
        if checkpoint is None or checkpoint.key_id != self._signer.key_id:
            return
        trusted = TrustedKeys({self._signer.key_id: self._signer.public_key})
        problem = None
        if checkpoint.check(trusted) is not SignatureCheck.VALID:
            problem = "the checkpoint row does not verify with the signing key"
        elif checkpoint.size > head[0]:
            problem = (f"the signed checkpoint vouches for {checkpoint.size} records, the store "
                       f"holds {head[0]} (records removed from the end)")
        elif checkpoint.size == head[0] and checkpoint.head != head[1]:
            problem = f"record {head[0]} is not the one the signed checkpoint vouches for"
        if problem:
            self._broken(problem, None)

    def _insert(self, connection: Connection, body: dict[str, Any], head: tuple[int, str],
                origin: str | None, sealed: Sealed | None = None
                ) -> tuple[AuditRef, Checkpoint]:
        """Insert the record after ``head``, its ``sealed`` values and the checkpoint row, in
        the caller's transaction."""
        if self._signer is not None and head[0] and self._unsigned(connection, head[0]):
            self.notices.append(f"audit store {self.location}: signing starts at record "
                                f"{head[0] + 1}; records 1-{head[0]} stay unsigned")
        record, raw = self._seal(body, head[0] + 1, head[1], origin)
        seq, digest = record["seq"], record["hash"]
        try:
            connection.execute(audit_table.insert().values(
                seq=seq, prev_hash=record["prev_hash"], hash=digest,
                recorded_at=record["recorded_at"], raw=raw, **_columns(record)))
        except IntegrityError:
            raise AuditWriteError(
                f"audit store {self.location}: record {seq} was written by another "
                "writer that did not take the store's lock; nothing was appended") from None
        if sealed:  # INSERT only: a runner needs no UPDATE or DELETE on the values
            connection.execute(sealed_table.insert(), [
                {"seq": seq, "ref": ref, "salt": part["salt"], "value": part["value"]}
                for ref, part in sorted(sealed.items())])
        checkpoint = Checkpoint(origin or "", seq, digest).signed(self._signer)
        connection.execute(pg_insert(meta_table).values(name=CHECKPOINT,
                                                        value=checkpoint.to_json())
                           .on_conflict_do_update(index_elements=[meta_table.c.name],
                                                  set_={"value": checkpoint.to_json()}))
        return AuditRef(log=self.location, seq=seq, hash=digest), checkpoint

    @staticmethod
    def _unsigned(connection: Connection, seq: int) -> bool:
        """Whether record ``seq`` carries no signature (signing is being turned on)."""
        raw = connection.execute(select(audit_table.c.raw).where(
            audit_table.c.seq == seq)).scalar()
        return raw is not None and "signature" not in json.loads(str(raw))

    def _anchor(self, checkpoint: Checkpoint, record: Mapping[str, Any]) -> None:
        """Publish ``checkpoint`` (its record committed) to every anchor covering ``record``."""
        for anchor in self.anchors:
            if not anchor.covers(record):
                continue
            try:
                anchor.publish(checkpoint, record)
            except AnchorError as exc:
                raise AuditWriteError(
                    f"audit store {self.location}: record {checkpoint.size} was written but "
                    f"its checkpoint was not anchored: {exc}",
                    hint="the next append anchors the store again; `gatekeeper audit verify "
                         "--anchor ...` reports the anchor as behind until then") from None

    def _normalize(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        return normalize_entry(entry, f"audit store {self.location}")

    def _seal(self, body: dict[str, Any], seq: int, prev_hash: str, origin: str | None = None
              ) -> tuple[dict[str, Any], str]:
        """The record and its stored text, exactly as the JSONL log writes a line
        (``chain.encode_line``): integrity fields around the entry, signed when a key is set."""
        recorded_at = self._clock().astimezone(UTC).isoformat(timespec="milliseconds")
        record = {"schema": SCHEMA, "seq": seq, "recorded_at": recorded_at.replace("+00:00", "Z"),
                  **body}
        if origin is not None:
            record["log_id"] = origin
        record["prev_hash"] = prev_hash
        if self._signer:
            record["key_id"] = self._signer.key_id
        digest = chain.record_hash(record)
        signature = self._signer.sign(digest.encode("ascii")) if self._signer else None
        line, record["hash"] = chain.encode_line(record, signature)
        if signature is not None:
            record["signature"] = signature
        return record, line.decode("utf-8")

    # -- reading -----------------------------------------------------------------------------

    def records(self) -> Iterator[StoredRecord]:
        """Every record in ``seq`` order, parsed but not verified (``line`` is the seq).
        Raises AuditReadError on a row that does not parse, or a store never written."""
        with self._connected("read", AuditReadError) as connection:
            self._require_table(connection)
            with self._database("read", AuditReadError):
                rows = connection.execution_options(yield_per=FETCH_ROWS).execute(
                    select(audit_table.c.seq, audit_table.c.raw).order_by(audit_table.c.seq))
                for row in rows:
                    try:
                        record = _parse(row.raw)
                    except _Bad as bad:
                        raise AuditReadError(f"audit store {self.location}: record {row.seq}: "
                                             f"{bad}", hint=self._hint) from None
                    yield StoredRecord(int(row.seq), row.raw, record)

    def verify(self) -> Verification:
        """Walk the whole chain: each row's text, hash, links and index columns, and each
        signature when ``GATEKEEPER_PUBLIC_KEY`` names a trusted key."""
        keys = self._trusted if self._trusted else None
        key_id = keys.ids[0] if keys else None
        count, prev_hash = 0, chain.GENESIS_HASH
        with self._connected("read", AuditReadError) as connection:
            self._require_table(connection)
            with self._database("read", AuditReadError):
                rows = connection.execution_options(yield_per=FETCH_ROWS).execute(
                    select(audit_table).order_by(audit_table.c.seq))
                for row in rows:
                    try:
                        record = _check_row(row, count + 1, prev_hash)
                        if keys is not None:
                            _check_signature(record, keys)
                    except _Bad as bad:
                        return Verification(ok=False, count=count, first_bad_seq=count + 1,
                                            line=int(row.seq),
                                            reason=f"record {count + 1}: {bad}", key_id=key_id)
                    count, prev_hash = count + 1, str(row.hash)
        return Verification(ok=True, count=count, key_id=key_id)

    def inspect(self, trusted: TrustedKeys | None = None, *, legacy_key: bytes | None = None,
                anchors: Sequence[Anchor] = ()) -> Report:
        """Verify the whole store as ``AuditLog.inspect`` verifies a file: every finding
        (record/verify.py; ``line`` is the row's seq), the checkpoint row and ``anchors``.
        Raises AuditReadError when the store cannot be read, AnchorError when an anchor
        cannot."""
        trusted = trusted or TrustedKeys()
        inspector = Inspector(trusted=trusted, legacy_key=legacy_key)
        with self._connected("read", AuditReadError) as connection:
            self._require_table(connection)
            with self._database("read", AuditReadError):
                rows = connection.execution_options(yield_per=FETCH_ROWS).execute(
                    select(audit_table).order_by(audit_table.c.seq))
                for row in rows:
                    self._judge(inspector, row, anchors)
                try:
                    checkpoint, unreadable = self._checkpoint(connection), None
                except ValueError as exc:
                    checkpoint, unreadable = None, str(exc)
        inspector.finish_walk()
        notes = []
        if unreadable:
            notes.append(f"the checkpoint row is unreadable ({unreadable}): not compared")
        if checkpoint is not None:
            inspector.compare("checkpoint row", AnchorReading(checkpoint, checkpoint),
                              anchor=False)
            if checkpoint.size < inspector.last_seq:
                notes.append(f"the checkpoint row is at record {checkpoint.size}, the store "
                             f"at {inspector.last_seq}")
        for anchor in anchors:
            inspector.compare(anchor.name, anchor.read(), anchor=True)
        if inspector.signed and not trusted:
            notes.append(f"signatures were not checked: no --public-key given "
                         f"({inspector.signed} of {inspector.records} records signed)")
        return inspector.report(tuple(notes))

    def _judge(self, inspector: Inspector, row: Row[Any], anchors: Sequence[Anchor]) -> None:
        """One row into ``inspector``; a column edited apart from the record is ``edited``."""
        try:
            outcome: _Parsed | str = parse_line(row.raw.encode("utf-8"))
        except _Unusable as bad:
            outcome = str(bad)
        record = inspector.judge(int(row.seq), outcome, True, False)
        if record is None:
            return
        columns = {"seq": record.get("seq"), "hash": record.get("hash"),
                   "prev_hash": record.get("prev_hash"), **_columns(record)}
        changed = sorted(name for name, value in columns.items()
                         if getattr(row, name) != value)
        if changed:
            inspector.findings.append(Finding(
                "edited", int(row.seq), int(row.seq),
                f"column {', '.join(changed)} disagrees with the record (edited in the table)"))
        for anchor in anchors:
            if anchor.covers(record):
                inspector.note_covered(anchor.name, int(record["seq"]))

    def sealed_values(self) -> PostgresSealed:
        """The sealed values kept in ``gatekeeper_audit_sealed`` (record/sealed.py)."""
        return PostgresSealed(self)

    def latest_decisions(self, model: str, version: str, run_id: str | None,
                         milestones: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """The latest decision record per milestone of this version and run, found through
        the index; each one checked (text, hash, columns, both its links) with every link of
        the chain. None where there is none; a store never written holds none."""
        if not milestones:
            return {}
        with self._connected("read", AuditReadError) as connection:
            if not self._has_table(connection):
                return dict.fromkeys(milestones)
            with self._database("read", AuditReadError):
                return self._latest(connection, model, version, run_id, milestones)

    def model_records(self, model: str) -> list[dict[str, Any]]:
        """Every record about ``model``, oldest first, each checked with every link of the
        chain; raises AuditReadError on a broken one."""
        with self._connected("read", AuditReadError) as connection:
            if not self._has_table(connection):
                return []
            with self._database("read", AuditReadError):
                self._check_links(connection)
                rows = connection.execute(select(audit_table).where(
                    audit_table.c.model == model).order_by(audit_table.c.seq))
                return [self._relied_on(connection, row, links=False) for row in rows]

    def _latest(self, connection: Connection, model: str, version: str, run_id: str | None,
                milestones: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        self._check_links(connection)
        found: dict[str, dict[str, Any] | None] = {}
        for milestone in milestones:
            row = connection.execute(select(audit_table).where(
                audit_table.c.model == model, audit_table.c.version == str(version),
                audit_table.c.milestone == milestone, audit_table.c.action == "decision",
                audit_table.c.run_id.is_not_distinct_from(run_id),
            ).order_by(audit_table.c.seq.desc()).limit(1)).first()
            found[milestone] = None if row is None else self._relied_on(connection, row)
        return found

    def _relied_on(self, connection: Connection, row: Row[Any], *, links: bool = True
                   ) -> dict[str, Any]:
        """The record of a row a gate is about to rely on, after checking it; raises
        AuditReadError."""
        try:
            record = _check_row(row)
            if links:
                problem = self._neighbour_problem(connection, row)
                if problem:
                    raise _Bad(problem)
        except _Bad as bad:
            self._broken(str(bad), int(row.seq))
        return record

    def _neighbour_problem(self, connection: Connection, row: Row[Any]) -> str | None:
        before = connection.execute(select(audit_table.c.hash).where(
            audit_table.c.seq == row.seq - 1)).scalar()
        expected = chain.GENESIS_HASH if row.seq == 1 else before
        if row.prev_hash != expected:
            return "prev_hash mismatch: does not follow the record before it"
        after = connection.execute(select(audit_table.c.prev_hash).where(
            audit_table.c.seq == row.seq + 1)).scalar()
        if after is not None and after != row.hash:
            return "hash mismatch: the next record does not follow it (content rewritten)"
        return None

    def _check_links(self, connection: Connection) -> None:
        """Every record follows the one before it and none is missing: checked by the
        server, without reading the records out. Raises AuditReadError."""
        problem = self._link_problem(connection)
        if problem:
            self._broken(problem, None)

    def _link_problem(self, connection: Connection) -> str | None:
        count, highest = connection.execute(
            select(func.count(), func.coalesce(func.max(audit_table.c.seq), 0))).one()
        if count != highest:
            return (f"seq gap: {highest - count} of records 1..{highest} missing "
                    "(records removed)")
        first = connection.execute(select(audit_table.c.prev_hash).where(
            audit_table.c.seq == 1)).scalar()
        if first is not None and first != chain.GENESIS_HASH:
            return "prev_hash mismatch: record 1 must follow the genesis hash"
        earlier, later = audit_table.alias("earlier"), audit_table.alias("later")
        broken = connection.execute(
            select(func.min(later.c.seq)).select_from(
                earlier.join(later, later.c.seq == earlier.c.seq + 1))
            .where(later.c.prev_hash != earlier.c.hash)).scalar()
        if broken is not None:
            return (f"prev_hash mismatch at record {broken}: does not match the hash of record "
                    f"{broken - 1} (a record before it was removed, inserted or rewritten)")
        return None

    def _has_meta(self, connection: Connection) -> bool:
        """Whether the meta table exists (a store written before it had one has none)."""
        return connection.execute(select(func.to_regclass(META_TABLE))).scalar() is not None

    def _has_table(self, connection: Connection) -> bool:
        with self._database("read", AuditReadError):
            found = connection.execute(select(func.to_regclass(TABLE))).scalar()
            connection.rollback()
        return found is not None

    def _require_table(self, connection: Connection) -> None:
        if not self._has_table(connection):
            raise AuditReadError(f"audit store {self.location} holds no audit records "
                                 f"(no table {TABLE}: nothing was ever recorded there)")

    def _broken(self, reason: str, seq: int | None) -> NoReturn:
        where = f"record {seq}: " if seq is not None else ""
        raise AuditReadError(f"audit store {self.location}: failed verification: {where}"
                             f"{reason}; nothing was appended", hint=self._hint)

    @property
    def _hint(self) -> str:
        return f"run `gatekeeper audit verify --audit-store {self.location}`"

    # -- connecting --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connected(self, action: str, error: type[InfrastructureError]
                   ) -> Iterator[Connection]:
        with self._database(action, error), self._engine_().connect() as connection:
            yield connection

    @contextlib.contextmanager
    def _database(self, action: str, error: type[InfrastructureError]) -> Iterator[None]:
        """Database failures as ``error`` (exit 3): one line, no password."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise error(f"audit store {self.location}: cannot {action}: "
                        f"{self._reason(exc)}") from None

    def _reason(self, exc: SQLAlchemyError) -> str:
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        reason = lines[0] if lines else type(cause).__name__
        password = self._url.password
        if password:
            reason = reason.replace(str(password), "***")
        return redact_secrets(reason)

    def _engine_(self) -> Engine:
        # NullPool: a CLI process connects once or twice, and a pooled connection could
        # otherwise outlive a session with its lock.
        if self._engine is None:
            self._engine = create_engine(
                self._url, poolclass=NullPool,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_S,
                              "application_name": "gatekeeper"})
        return self._engine


class PostgresSession:
    """The store held exclusively (see :meth:`PostgresStore.session`)."""

    def __init__(self, store: PostgresStore, connection: Connection,
                 head: tuple[int, str], origin: str | None) -> None:
        self._store, self._connection, self._head = store, connection, head
        self._origin = origin

    def append(self, entry: Mapping[str, Any]) -> AuditRef:
        """Add one record after the head and commit it. Raises AuditWriteError."""
        return self.append_sealed(entry, {})

    def append_sealed(self, entry: Mapping[str, Any], sealed: Sealed) -> AuditRef:
        """Add one record and the ``sealed`` values its digests stand for, in one transaction
        (both or neither), then anchor its checkpoint. Raises AuditWriteError."""
        store = self._store
        body = store._normalize(entry)
        with store._database("write", AuditWriteError), self._connection.begin():
            ref, checkpoint = store._insert(self._connection, body, self._head, self._origin,
                                            sealed)
        self._head = (ref.seq, ref.hash)
        store._anchor(checkpoint, body)
        return ref

    def latest_decisions(self, model: str, version: str, run_id: str | None,
                         milestones: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """As :meth:`PostgresStore.latest_decisions`, on the session's connection."""
        if not milestones:
            return {}
        with self._store._database("read", AuditReadError), self._connection.begin():
            return self._store._latest(self._connection, model, version, run_id, milestones)


class PostgresSealed:
    """The sealed values of a PostgreSQL store: ``of`` and ``drop`` as record/sealed.py's
    ``SideStore`` (they are written by :meth:`PostgresSession.append_sealed`)."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def of(self, seq: int, record_hash: str) -> Sealed:
        """The values kept for record ``seq`` while its row still has hash ``record_hash``."""
        store = self._store
        with store._connected("read", AuditReadError) as connection:
            if connection.execute(select(func.to_regclass(SEALED_TABLE))).scalar() is None:
                return {}
            rows = connection.execute(
                select(sealed_table.c.ref, sealed_table.c.value, sealed_table.c.salt)
                .join(audit_table, audit_table.c.seq == sealed_table.c.seq)
                .where(sealed_table.c.seq == seq, audit_table.c.hash == record_hash))
            return {str(r.ref): {"value": str(r.value), "salt": str(r.salt)} for r in rows}

    def drop(self, seq: int, record_hash: str, ref: str) -> None:
        """Delete one value (committed at once)."""
        store = self._store
        matching = select(audit_table.c.seq).where(audit_table.c.seq == seq,
                                                   audit_table.c.hash == record_hash)
        with store._connected("write", AuditWriteError) as connection, connection.begin():
            connection.execute(sealed_table.delete().where(
                sealed_table.c.seq == seq, sealed_table.c.ref == ref,
                sealed_table.c.seq.in_(matching.scalar_subquery())))


def _parse_url(url: str) -> URL:
    """``postgresql://...`` for psycopg 3; exit 2 on anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInputError(f"--audit-store: not a database URL: {redact_secrets(url)}"
                                ) from None
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() not in (
            "psycopg", "psycopg2", "postgresql"):
        raise InvalidInputError(f"--audit-store: not a postgresql:// URL: "
                                f"{redact_secrets(url)}")
    return parsed.set(drivername="postgresql+psycopg")


def _columns(record: Mapping[str, Any]) -> dict[str, str | None]:
    """The indexed columns of a record, as text (a version may be written 3 or "3")."""
    values = {name: nested(record, *path) for name, path in INDEXED.items()}
    return {name: None if value is None else str(value) for name, value in values.items()}


def _check_row(row: Row[Any], seq: int | None = None, prev_hash: str | None = None
               ) -> dict[str, Any]:
    """The row's record after checking its text against its hash and columns (and its place
    in the chain when ``seq`` and ``prev_hash`` are given); raises _Bad."""
    record = _parse(row.raw)
    if record.get("schema") != SCHEMA:
        raise _Bad(f"unknown schema {record.get('schema')!r} (expected {SCHEMA!r})")
    if seq is not None:
        if row.seq > seq:
            raise _Bad(f"seq gap: expected {seq}, found {row.seq} (records removed)")
        if record.get("prev_hash") != prev_hash:
            raise _Bad("prev_hash mismatch: does not match the hash of the record before "
                       "(a record before it was removed, inserted or rewritten)")
    if record.get("seq") != row.seq:
        raise _Bad(f"seq mismatch: the row is {row.seq}, its record says {record.get('seq')}")
    try:
        actual = chain.record_hash(record)
    except rfc8785.CanonicalizationError:
        raise _Bad("hash mismatch: content changed after it was written") from None
    if actual != record.get("hash") or actual != row.hash:
        raise _Bad("hash mismatch: content changed after it was written")
    if record.get("prev_hash") != row.prev_hash:
        raise _Bad("prev_hash column disagrees with the record")
    columns = _columns(record)
    changed = sorted(name for name in INDEXED if getattr(row, name) != columns[name])
    if changed:
        raise _Bad(f"column {', '.join(changed)} disagrees with the record (edited in the "
                   "table, which would hide or misplace it in queries)")
    return record


def _check_signature(record: Mapping[str, Any], keys: TrustedKeys) -> None:
    outcome = keys.check(record.get("key_id"), str(record.get("hash")).encode("ascii"),
                         record.get("signature"))
    if record.get("signature") is None:
        raise _Bad("unsigned: a public key was given but the record has no signature")
    if outcome is not SignatureCheck.VALID:
        raise _Bad(f"signature {outcome.value}: key_id {record.get('key_id')!r}")


def _parse(raw: str) -> dict[str, Any]:
    """A stored record's JSON, read as strictly as a JSONL log's line (no duplicate keys, no
    NaN)."""
    try:
        return strict_parse(raw.encode("utf-8", "surrogatepass"))
    except _Unusable as exc:
        raise _Bad(str(exc)) from None
