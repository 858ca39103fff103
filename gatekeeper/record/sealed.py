"""Sealed values: what a decision relied on, kept beside the chain so it can be redacted.

A decision record's hashed body holds, for each required tag it read, only
``{"sealed": "sha256:" + hex(sha256(salt || value))}`` with a random 16-byte salt. The value
and its salt are kept in a side store next to the audit store (for the JSONL log,
``<log>.sealed``, one JSON line per value, written under the log's lock right after the
record). So:

* the record's hash covers the digest, never the value: dropping a value (``gatekeeper audit
  redact``) changes no record, and the chain, its checkpoints and signatures still verify;
* while the value is kept anyone can check it against the record (:func:`sealed_problems`);
  once redacted, the digest cannot be reversed or confirmed by guessing, because the salt went
  with the value;
* each redaction is itself a record (``action: redaction``) naming the record, the reference,
  the digest kept, the reason and who redacted it.

Values that look sensitive never get this far: they are kept as keyed hashes only
(``gatekeeper.common.sensitive``). A store may keep its own (``sealed_values()``: the
PostgreSQL store's ``gatekeeper_audit_sealed`` table, written in the record's transaction by
its session's ``append_sealed``); :func:`side_store` finds the one a store has.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse
from urllib.request import url2pathname

from gatekeeper.errors import InvalidInputError
from gatekeeper.record.jsonl import AuditReadError, AuditWriteError

if TYPE_CHECKING:
    from gatekeeper.decide.result import AuditRef
    from gatekeeper.record.identity import Identity
    from gatekeeper.record.interface import AuditSession, AuditStore

DIGEST_PREFIX = "sha256:"
#: The side store's name: the log's real path plus this suffix.
SIDE_SUFFIX = ".sealed"

Sealed = dict[str, dict[str, str]]  # ref -> {"value", "salt"}


def seal(value: str, salt: bytes | None = None) -> tuple[str, dict[str, str]]:
    """The digest a record's hashed body holds for ``value``, and the sealed part
    (``{"value", "salt"}``) kept in the side store."""
    salt = secrets.token_bytes(16) if salt is None else salt
    return sealed_digest(value, salt), {"value": value, "salt": salt.hex()}


def sealed_digest(value: str, salt: bytes) -> str:
    data = salt + value.encode("utf-8", "surrogatepass")
    return DIGEST_PREFIX + hashlib.sha256(data).hexdigest()


def sealed_problems(record: Mapping[str, Any], sealed: Mapping[str, Mapping[str, str]]
                    ) -> list[str]:
    """Every kept value of ``record`` that does not match the digest in its hashed body (an
    edit of the side store is caught here; the chain does not cover it)."""
    problems = []
    held = record.get("evidence_digests") or {}
    for ref in sorted(sealed):
        part = sealed[ref]
        digest = dict(held.get(ref) or {}).get("sealed")
        try:
            matches = digest == sealed_digest(str(part["value"]), bytes.fromhex(part["salt"]))
        except (KeyError, TypeError, ValueError):
            matches = False
        if not matches:
            problems.append(f"record {record.get('seq')}: sealed value of {ref} does not match "
                            f"its digest {digest}")
    return problems


class SealedValues(Protocol):
    """Where a store keeps its sealed values: read and drop them by record."""

    def of(self, seq: int, record_hash: str) -> Sealed: ...

    def drop(self, seq: int, record_hash: str, ref: str) -> None: ...


def side_store(store: AuditStore) -> SealedValues | None:
    """The sealed values of ``store``: its own (a database table), else the file beside a
    JSONL log; None for a store that keeps none."""
    own = getattr(store, "sealed_values", None)
    if callable(own):
        values: SealedValues = own()
        return values
    return SideStore.for_store(store.location)


class SideStore:
    """The sealed values of one JSONL audit log (``<log>.sealed``). Written only while the
    log's exclusive session is held, so its writers are serialised by the log's own lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_store(cls, location: str) -> SideStore | None:
        """The side store of the audit store at ``location`` (a ``file://`` URI or a path);
        None for a store that has none (a database)."""
        parsed = urlparse(location)
        if parsed.scheme == "file":
            path = Path(url2pathname(parsed.path))
        elif "://" in location:
            return None
        else:
            path = Path(location)
        return cls(Path(f"{os.path.realpath(path)}{SIDE_SUFFIX}"))

    def put(self, at: AuditRef, sealed: Mapping[str, Mapping[str, str]]) -> None:
        """Keep the values of the record ``at`` (one fsynced append)."""
        lines = "".join(json.dumps({"seq": at.seq, "hash": at.hash, "ref": ref, **sealed[ref]},
                                   ensure_ascii=False, sort_keys=True) + "\n"
                        for ref in sorted(sealed))
        try:
            with open(self.path, "ab") as file:
                file.write(lines.encode("utf-8"))
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            raise AuditWriteError(f"sealed values {self.path}: cannot write: "
                                  f"{exc.strerror or exc}") from exc

    def of(self, seq: int, record_hash: str) -> Sealed:
        """The values kept for record ``seq`` (whose hash is ``record_hash``): ref -> part."""
        return {e["ref"]: {"value": e["value"], "salt": e["salt"]}
                for e in self._entries() if e.get("seq") == seq and e.get("hash") == record_hash}

    def drop(self, seq: int, record_hash: str, ref: str) -> None:
        """Forget one value: the file is rewritten without it and replaced atomically."""
        kept = [e for e in self._entries()
                if not (e.get("seq") == seq and e.get("hash") == record_hash
                        and e.get("ref") == ref)]
        text = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in kept)
        try:
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".")
            with os.fdopen(fd, "wb") as file:
                file.write(text.encode("utf-8"))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.path)
        except OSError as exc:
            raise AuditWriteError(f"sealed values {self.path}: cannot rewrite: "
                                  f"{exc.strerror or exc}") from exc

    def _entries(self) -> Iterator[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            raise AuditReadError(f"sealed values {self.path}: cannot read: {exc}") from exc
        for number, line in enumerate(text.splitlines(), start=1):
            try:
                entry = json.loads(line)
            except ValueError:
                raise AuditReadError(f"sealed values {self.path}: line {number} is not "
                                     "JSON") from None
            if isinstance(entry, dict):
                yield entry


def append_sealed(session: AuditSession, entry: Mapping[str, Any],
                  sealed: Mapping[str, Mapping[str, str]], location: str) -> AuditRef:
    """Append ``entry`` in ``session`` and keep its ``sealed`` values in the store's side
    store (dropped, digests only, for a store without one). Raises AuditWriteError: then the
    record is written but its values are not (the command exits 3, no verdict). A session
    that keeps them itself (``append_sealed``) writes both in one transaction."""
    own = getattr(session, "append_sealed", None)
    if callable(own):
        done: AuditRef = own(entry, sealed)
        return done
    ref = session.append(entry)
    side = SideStore.for_store(location)
    if sealed and side is not None:
        side.put(ref, sealed)
    return ref


def redact(store: AuditStore, seq: int, ref: str, reason: str | None, identity: Identity,
           now: datetime | None = None) -> AuditRef:
    """Drop the sealed value ``ref`` of decision record ``seq``; its digest stays, the chain
    is unchanged, and a ``redaction`` record says who did it and why. Before the record's
    ``retain_until`` a ``reason`` is required. Raises InvalidInputError (exit 2) when the
    record or value is not there or the rule is not met."""
    from gatekeeper.record.records import redaction_entry

    side = side_store(store)
    if side is None:
        raise InvalidInputError(f"audit store {store.location} keeps no sealed values: "
                                "nothing to redact (decisions there hold digests only)")
    record = _record(store, seq)
    held = dict((record.get("evidence_digests") or {}).get(ref) or {})
    if "sealed" not in held:
        raise InvalidInputError(f"record {seq} has no sealed value {ref!r} (sealed: "
                                f"{', '.join(_sealed_refs(record)) or 'none'})",
                                hint="check --field")
    until = str(record.get("retain_until") or "")
    at = (now or datetime.now(UTC)).astimezone(UTC)
    if not reason and until and at < _parse_time(until):
        raise InvalidInputError(f"record {seq} is kept until {until}: redacting a value before "
                                "then needs --reason (e.g. an erasure request)",
                                hint="give --reason")
    if ref not in side.of(seq, str(record["hash"])):
        raise InvalidInputError(f"record {seq}: the value of {ref!r} is not kept (already "
                                "redacted?)")
    with store.session() as session:
        done: AuditRef = session.append(redaction_entry(record, ref, str(held["sealed"]),
                                                        reason, identity, now=at))
        side.drop(seq, str(record["hash"]), ref)
    return done


def _record(store: AuditStore, seq: int) -> dict[str, Any]:
    for stored in store.records():
        if stored.record.get("seq") == seq:
            if stored.record.get("action") != "decision":
                raise InvalidInputError(f"record {seq} is a {stored.record.get('action')} "
                                        "record: only decisions hold sealed values")
            return stored.record
    raise InvalidInputError(f"audit store {store.location} has no record {seq}",
                            hint="check --seq")


def _sealed_refs(record: Mapping[str, Any]) -> list[str]:
    return sorted(ref for ref, item in dict(record.get("evidence_digests") or {}).items()
                  if isinstance(item, Mapping) and "sealed" in item)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
