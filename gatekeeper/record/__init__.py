"""The tamper-evident audit log: every gate decision and promotion, hash-chained.

Only this package writes the audit log. It never imports MLflow, so the `gatekeeper audit`
commands start fast and work without a tracking server.

    store = open_store(".gatekeeper/audit.jsonl")
    ref = store.append(decision_entry(result, current_identity(os.environ)))
    store.latest_decisions(model, version, run_id, ["poc", "serve"])
    store.verify()

``STORES`` is the registry of audit store implementations (one today: the JSONL file).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gatekeeper.record.chain import GENESIS_HASH
from gatekeeper.record.identity import Identity, current_identity
from gatekeeper.record.interface import AuditSession, AuditStore
from gatekeeper.record.jsonl import (
    DEFAULT_PATH,
    KEY_VARIABLE,
    SCHEMA,
    AuditLog,
    AuditReadError,
    AuditWriteError,
    StoredRecord,
    Verification,
)
from gatekeeper.record.query import RecordFilter, parse_time
from gatekeeper.record.records import (
    ACTIONS,
    decision_entry,
    promotion_entry,
    recorded_promotion_entry,
    refusal_entry,
    waiver_use_entries,
)


def _postgres(rest: str) -> AuditStore:
    # SQLAlchemy is imported only when a PostgreSQL store is opened: the audit commands and
    # every JSONL user start without it.
    from gatekeeper.record.postgres import PostgresStore

    return PostgresStore("postgresql:" + rest)


#: Audit store implementations by name; a location names its store as ``NAME:...`` (a plain
#: path is a JSONL file). Each gets the location after ``NAME:``.
STORES: dict[str, Callable[[str], AuditStore]] = {
    "file": AuditLog,
    "jsonl": AuditLog,
    "postgresql": _postgres,
}


def open_store(location: str | Path) -> AuditStore:
    """The store at ``location``: ``file:PATH`` (or ``jsonl:PATH``, or a plain path) for a
    JSONL file, ``postgresql://...`` for a PostgreSQL database."""
    text = str(location)
    name, sep, rest = text.partition(":")
    if sep and name in STORES:
        return STORES[name](rest)
    return STORES["jsonl"](text)


__all__ = [
    "ACTIONS",
    "DEFAULT_PATH",
    "GENESIS_HASH",
    "KEY_VARIABLE",
    "SCHEMA",
    "STORES",
    "AuditLog",
    "AuditReadError",
    "AuditSession",
    "AuditStore",
    "AuditWriteError",
    "Identity",
    "RecordFilter",
    "StoredRecord",
    "Verification",
    "current_identity",
    "decision_entry",
    "open_store",
    "parse_time",
    "promotion_entry",
    "recorded_promotion_entry",
    "refusal_entry",
    "waiver_use_entries",
]
