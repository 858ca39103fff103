"""Pure renderers for `gatekeeper audit`: the verification line, JSON lines. No I/O here.
The review formats (the log table, CSV, in-toto) are in render/review.py."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gatekeeper.record.jsonl import StoredRecord, Verification


def verification_line(path: Path | str, verification: Verification) -> str:
    """What `audit verify` prints: the count and "chain intact", or the first bad record."""
    if not verification.ok:
        return f"audit log {path}: {verification.reason}"
    noun = "record" if verification.count == 1 else "records"
    line = f"audit log {path}: {verification.count} {noun}, chain intact"
    if verification.key_id is not None:
        line += f", signatures valid (key_id {verification.key_id})"
    return line


def jsonl_document(records: Iterable[StoredRecord]) -> str:
    """The records exactly as stored, so every exported line can still be hash-checked."""
    return "".join(f"{stored.raw}\n" for stored in records)
