"""Verifying an audit log whole: every finding, each with its own code and record number.

``Inspector`` walks the stored lines once (``feed``) and then compares what it saw with the
checkpoints kept beside and outside the log (``compare``). It never stops at the first problem:
a reviewer needs to know everything that is wrong, and one edit must not hide another. Each
finding names one record; what follows it is judged against what the log *should* hold, so an
edited record is one finding, not a cascade.

    inspector = Inspector(trusted=TrustedKeys.parse(["k.pub"]))
    for number, raw, terminated in lines: inspector.feed(number, raw, terminated, is_last)
    inspector.compare("git:/repo", anchor.read(), covered=True)
    report = inspector.report()        # Report(count, findings, notes, ...)

The codes (``CODES``) are stable: scripts may match on them (docs/audit.md lists them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import rfc8785

from gatekeeper.record import chain
from gatekeeper.record.checkpoint import AnchorReading, Checkpoint
from gatekeeper.record.signing import SignatureCheck, TrustedKeys

SCHEMA = "gatekeeper.audit/v1"

#: Every finding's code, with what it means. Ordered as docs/audit.md shows them.
CODES: dict[str, str] = {
    "edited": "a record's content changed after it was written (its hash no longer matches)",
    "rehashed": "a record was edited and its own hash recomputed (or records before the next "
                "one were removed and renumbered): the next record does not follow it",
    "deleted": "records are missing: a gap in the sequence numbers",
    "inserted": "a record with the sequence number of another, different record",
    "duplicated": "a record stored twice",
    "reordered": "a record stored after records that came later",
    "malformed": "a line that is not a record (not JSON, not an object, no schema, seq or hash)",
    "torn": "the last write was interrupted: the last line is incomplete",
    "truncated": "records were removed from the end, or the log was rolled back: a checkpoint "
                 "vouches for more records than the log holds",
    "rewritten": "the records up to a checkpoint were rewritten: the record at its size has "
                 "another hash",
    "spliced": "a record from another log (its log_id is not this log's)",
    "unsigned": "an unsigned record after signed ones (its signature was removed)",
    "bad-signature": "a signature that does not verify with its (trusted) key",
    "untrusted-key": "signed by a key that is not among the trusted public keys",
    "anchor-rolled-back": "an anchor holds an older checkpoint than it was given",
    "checkpoint-signature": "a checkpoint's signature does not verify (or is missing where the "
                            "log is signed)",
    "foreign-checkpoint": "a checkpoint of another log (its origin is not this log's)",
}


@dataclass(frozen=True)
class Finding:
    """One problem: its code (``CODES``), the record (``seq``) and line it concerns."""

    code: str
    seq: int | None
    line: int | None
    message: str

    def text(self) -> str:
        where = []
        if self.seq is not None:
            where.append(f"record {self.seq}")
        if self.line is not None:
            where.append(f"(line {self.line})")
        prefix = " ".join(where)
        return f"{prefix}: {self.code}: {self.message}" if prefix else \
            f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Report:
    """The whole verification: records read, findings, and what was (not) checked."""

    count: int
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]
    origin: str | None
    head: str | None
    signed: int
    signatures_checked: bool
    key_ids: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass
class _Parsed:
    record: dict[str, Any]
    hash: str
    hash_ok: bool


class _Unusable(Exception):
    """A line that is not a record; the message says why."""


@dataclass
class Inspector:
    """Walks the lines of one log; see the module docstring."""

    trusted: TrustedKeys = field(default_factory=TrustedKeys)
    legacy_key: bytes | None = None
    findings: list[Finding] = field(default_factory=list)
    origin: str | None = None
    last_seq: int = 0
    records: int = 0
    signed: int = 0
    legacy_signed: int = 0
    unsigned_before_signing: int = 0
    first_signed_seq: int | None = None
    key_ids: set[str] = field(default_factory=set)
    covered: dict[str, int] = field(default_factory=dict)
    head: str | None = None
    _hashes: list[str | None] = field(default_factory=list)
    _links: set[str] | None = field(default_factory=lambda: {chain.GENESIS_HASH})
    _missing: set[int] = field(default_factory=set)
    _missing_at: dict[int, int] = field(default_factory=dict)
    _prev_line: int | None = None
    _prev_seq: int | None = None
    _prev_intact: bool = False
    _seen_log_id: bool = False

    # -- one line --------------------------------------------------------------------------

    def feed(self, number: int, raw: bytes, terminated: bool,
             is_last: bool) -> dict[str, Any] | None:
        """Judge one stored line; returns its record when it is one."""
        try:
            outcome: _Parsed | str = parse_line(raw)
        except _Unusable as bad:
            outcome = str(bad)
        return self.judge(number, outcome, terminated, is_last)

    def judge(self, number: int, outcome: _Parsed | str, terminated: bool,
              is_last: bool) -> dict[str, Any] | None:
        """Judge one line already parsed (``outcome``: the parsed line, or why it is not a
        record); returns its record when it is one."""
        if isinstance(outcome, str):
            if is_last:
                self._add("torn", self.last_seq + 1, number,
                          f"the last line is incomplete ({outcome}): an append was "
                          "interrupted; `gatekeeper audit repair` removes it")
            else:
                self._add("malformed", None, number, outcome)
            return None
        if is_last and not terminated:
            self._add("torn", outcome.record["seq"], number,
                      "the last line has no newline: an append was interrupted; "
                      "`gatekeeper audit repair` removes it")
            return None
        self._judge(number, outcome)
        return outcome.record

    def _judge(self, number: int, parsed: _Parsed) -> None:
        record, seq = parsed.record, parsed.record["seq"]
        self.records += 1
        if not parsed.hash_ok:
            self._add("edited", seq, number,
                      "hash mismatch: content changed after it was written")
        spliced = self._check_origin(number, parsed)
        placed = self._place(number, seq, parsed, spliced)
        self._check_signature(number, seq, record, parsed.hash)
        if placed:
            self._prev_line, self._prev_seq = number, seq
            self._prev_intact = parsed.hash_ok and not spliced
            self.head = parsed.hash

    def _check_origin(self, number: int, parsed: _Parsed) -> bool:
        log_id = parsed.record.get("log_id")
        if self.origin is None:
            self.origin = log_id if isinstance(log_id, str) else legacy_origin(parsed.hash)
            self._seen_log_id = isinstance(log_id, str)
            return False
        if isinstance(log_id, str) and log_id != self.origin:
            self._add("spliced", parsed.record["seq"], number,
                      f"log_id {log_id!r} is not this log's ({self.origin!r})")
            return True
        if log_id is None and self._seen_log_id:
            self._add("spliced", parsed.record["seq"], number,
                      f"no log_id, after records of log {self.origin!r}")
            return True
        if isinstance(log_id, str):
            self._seen_log_id = True
        return False

    def _place(self, number: int, seq: int, parsed: _Parsed, spliced: bool) -> bool:
        """Where this record stands in the sequence; True when it extends the chain."""
        digest = parsed.hash
        if seq <= self.last_seq:
            return self._out_of_place(number, seq, parsed)
        if seq > self.last_seq + 1:
            for missing in range(self.last_seq + 1, seq):
                self._missing.add(missing)
                self._missing_at[missing] = number
        elif not spliced and self._links is not None and parsed.record.get("prev_hash") \
                not in self._links:
            self._broken_link(number, seq)
        self._remember(seq, digest)
        self.last_seq = seq
        # After a spliced record, the next one follows a record we never saw.
        self._links = None if spliced else {digest}
        return True

    def _broken_link(self, number: int, seq: int) -> None:
        if self._prev_seq is None:
            self._add("rehashed", seq, number,
                      "prev_hash is not the genesis hash: the first record was rewritten or "
                      "records before it were removed")
        elif self._prev_intact:
            self._add("rehashed", self._prev_seq, self._prev_line,
                      f"record {seq} does not follow it (prev_hash mismatch): it was edited "
                      f"and its hash recomputed, or records before {seq} were removed and "
                      "renumbered")

    def _out_of_place(self, number: int, seq: int, parsed: _Parsed) -> bool:
        known = self._stored(seq)
        if seq in self._missing:
            self._missing.discard(seq)
            self._add("reordered", seq, number,
                      f"stored after record {self.last_seq} (line {self._missing_at[seq]} "
                      "skipped it)")
            self._remember(seq, parsed.hash)
        elif known == parsed.hash:
            self._add("duplicated", seq, number, f"a second copy of record {seq}")
        else:
            self._add("inserted", seq, number,
                      f"a second, different record numbered {seq} (after record "
                      f"{self.last_seq})")
            if self._links is not None:
                self._links.add(parsed.hash)
        return False

    def _remember(self, seq: int, digest: str) -> None:
        # A list indexed by seq: the hash strings already exist (the parsed records), so this
        # costs a pointer per record.
        hashes = self._hashes
        if seq == len(hashes) + 1:
            hashes.append(digest)
        elif seq <= len(hashes):
            hashes[seq - 1] = digest
        else:
            hashes.extend([None] * (seq - 1 - len(hashes)))
            hashes.append(digest)

    def _stored(self, seq: int) -> str | None:
        return self._hashes[seq - 1] if 1 <= seq <= len(self._hashes) else None

    def _check_signature(self, number: int, seq: int, record: Mapping[str, Any],
                         digest: str) -> None:
        signature = record.get("signature")
        if signature is None:
            if self.first_signed_seq is None:
                self.unsigned_before_signing += 1
            elif self.trusted or self.legacy_key:
                self._add("unsigned", seq, number,
                          f"no signature, after signed records (from record "
                          f"{self.first_signed_seq})")
            return
        if self.first_signed_seq is None:
            self.first_signed_seq = seq
        key = record.get("key_id")
        if isinstance(signature, str) and signature.startswith(chain.LEGACY_SIGNATURE_PREFIX):
            self._check_legacy(number, seq, key, digest, signature)
            return
        self.signed += 1
        if isinstance(key, str):
            self.key_ids.add(key)
        if not self.trusted:
            return
        check = self.trusted.check(key, digest.encode("ascii"), signature)
        if check is SignatureCheck.UNTRUSTED:
            self._add("untrusted-key", seq, number,
                      f"signed by {key!r}, not a trusted key ({', '.join(self.trusted.ids)})")
        elif check is not SignatureCheck.VALID:
            self._add("bad-signature", seq, number,
                      f"not a signature of this record's hash by {key!r}")

    def _check_legacy(self, number: int, seq: int, key: object, digest: str,
                      signature: str) -> None:
        self.legacy_signed += 1
        if self.legacy_key is None:
            return
        ours = chain.legacy_key_id(self.legacy_key)
        if key != ours or not chain.legacy_signature_valid(digest, signature, self.legacy_key):
            self._add("bad-signature", seq, number,
                      f"not an HMAC of this record's hash by the legacy key {ours!r}")

    def _add(self, code: str, seq: int | None, line: int | None, message: str) -> None:
        self.findings.append(Finding(code, seq, line, message))

    # -- the checkpoints -------------------------------------------------------------------

    def note_covered(self, name: str, seq: int) -> None:
        """The latest record ``seq`` whose append published a checkpoint to anchor ``name``."""
        self.covered[name] = seq

    def finish_walk(self) -> None:
        for seq in sorted(self._missing):
            self._add("deleted", seq, None, f"record {seq} is missing (line "
                      f"{self._missing_at[seq]} follows record {seq - 1})")
        self._missing.clear()

    def compare(self, name: str, reading: AnchorReading, *, anchor: bool) -> None:
        """Compare the log with a source's checkpoints; ``anchor`` False for the sidecar (an
        append that died before writing it leaves it behind: that is no finding)."""
        seen = {c for c in (reading.latest, reading.highest) if c is not None}
        for checkpoint in sorted(seen, key=lambda c: c.size):
            self._compare_one(name, checkpoint)
        latest, highest = reading.latest, reading.highest
        if not anchor or latest is None:
            return
        expected = self.covered.get(name, 0)
        if highest is not None and highest.size > latest.size:
            self._add("anchor-rolled-back", latest.size + 1, None,
                      f"{name} holds checkpoint {latest.size} but held {highest.size} before")
        elif latest.size < expected:
            self._add("anchor-rolled-back", latest.size + 1, None,
                      f"{name} holds checkpoint {latest.size}; record {expected} was "
                      "anchored there")

    def _compare_one(self, name: str, checkpoint: Checkpoint) -> None:
        self._check_checkpoint_signature(name, checkpoint)
        if self.origin is not None and checkpoint.origin != self.origin:
            self._add("foreign-checkpoint", checkpoint.size, None,
                      f"{name}: origin {checkpoint.origin!r} is not this log's "
                      f"({self.origin!r})")
            return
        if checkpoint.size > self.last_seq:
            self._add("truncated", self.last_seq + 1, None,
                      f"{name} vouches for {checkpoint.size} records; the log ends at record "
                      f"{self.last_seq} (cut or rolled back)")
        elif checkpoint.size > 0 and self._stored(checkpoint.size) != checkpoint.head:
            self._add("rewritten", checkpoint.size, None,
                      f"{name}: record {checkpoint.size} should have hash "
                      f"{checkpoint.head[:19]}…; the log's has another")

    def _check_checkpoint_signature(self, name: str, checkpoint: Checkpoint) -> None:
        if not self.trusted:
            return
        check = checkpoint.check(self.trusted)
        if check is None:
            if self.signed:
                self._add("checkpoint-signature", checkpoint.size, None,
                          f"{name}: the checkpoint is not signed, the log is")
        elif check is SignatureCheck.UNTRUSTED:
            self._add("untrusted-key", checkpoint.size, None,
                      f"{name}: checkpoint signed by {checkpoint.key_id!r}, not a trusted key")
        elif check is not SignatureCheck.VALID:
            self._add("checkpoint-signature", checkpoint.size, None,
                      f"{name}: the checkpoint's signature does not verify")

    def report(self, extra_notes: tuple[str, ...] = ()) -> Report:
        self.finish_walk()
        findings = tuple(sorted(self.findings, key=_order))
        return Report(self.records, findings, self._notes() + extra_notes, self.origin,
                      self.head, self.signed, bool(self.trusted), tuple(sorted(self.key_ids)))

    def _notes(self) -> tuple[str, ...]:
        notes = []
        if self.first_signed_seq is not None and self.unsigned_before_signing:
            notes.append(f"records 1-{self.first_signed_seq - 1} are unsigned: signing "
                         f"started at record {self.first_signed_seq}")
        if self.legacy_signed and self.legacy_key is None:
            notes.append(f"{self.legacy_signed} records carry legacy HMAC signatures, not "
                         "checked (give GATEKEEPER_AUDIT_KEY to check them)")
        return tuple(notes)


def _order(finding: Finding) -> tuple[int, int, str]:
    # By record; within one, what the lines show before what the checkpoints add.
    return (finding.seq if finding.seq is not None else 0,
            finding.line if finding.line is not None else 1 << 62, finding.code)


def legacy_origin(first_hash: str) -> str:
    """The origin of a log whose first record predates ``log_id``: named by that record."""
    return "legacy-" + first_hash.removeprefix(chain.HASH_PREFIX)[:32]


def parse_line(raw: bytes) -> _Parsed:
    """One stored line as a record whose own hash is judged; raises _Unusable.

    Fast path: a line in the stored layout whose canonical body bytes hash to the stored
    hash (``chain.stored_body_hash``) is parsed plainly. Otherwise the line is parsed
    strictly (duplicate keys, NaN refused) and its hash recomputed over RFC 8785.
    """
    verified = chain.stored_body_hash(raw)
    if verified is not None:
        try:
            record = _DECODER.decode(raw.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError
            record = None
        if isinstance(record, dict) and record.get("hash") == verified:
            _integrity(record)
            return _Parsed(record, verified, True)
    record = strict_parse(raw)
    stored = _integrity(record)
    try:
        ok = chain.record_hash(record) == stored
    except rfc8785.CanonicalizationError:
        ok = False  # only an edit can put a value without a canonical form into a record
    return _Parsed(record, stored, ok)


_DECODER = json.JSONDecoder()


def slim(parsed: _Parsed) -> _Parsed:
    """Only what verification reads of a record (to send it between processes cheaply)."""
    record = parsed.record
    model = record.get("model")
    kept = {k: record[k] for k in _SLIM_FIELDS if k in record}
    if isinstance(model, dict):
        kept["model"] = {k: model[k] for k in ("name", "version") if k in model}
    return _Parsed(kept, parsed.hash, parsed.hash_ok)


_SLIM_FIELDS = ("seq", "prev_hash", "log_id", "key_id", "signature", "hash", "action")


def _integrity(record: dict[str, Any]) -> str:
    if record.get("schema") != SCHEMA:
        raise _Unusable(f"unknown schema {record.get('schema')!r} (expected {SCHEMA!r})")
    seq, stored = record.get("seq"), record.get("hash")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise _Unusable("seq is missing or not a positive integer")
    if not isinstance(stored, str):
        raise _Unusable("hash is missing or not a string")
    return stored


def strict_parse(raw: bytes) -> dict[str, Any]:
    """One line as a JSON object, refusing duplicate keys and NaN; raises _Unusable."""
    if not raw.strip():
        raise _Unusable("empty line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Unusable("not valid UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_reject_duplicates,
                           parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _Unusable(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise _Unusable("malformed JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise _Unusable("not a JSON object")
    return value


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last duplicate while other readers (and eyes) may see the first:
    # a duplicated key could show one value and hash another.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Unusable(f"malformed JSON: duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise _Unusable(f"malformed JSON: {name} is not a JSON value")
