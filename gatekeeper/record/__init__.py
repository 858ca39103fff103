"""The tamper-evident audit log: every gate decision and promotion, hash-chained.

Only this package writes the audit log. It never imports MLflow, so the `gatekeeper audit`
commands start fast and work without a tracking server.

    log = AuditLog(".gatekeeper/audit.jsonl")
    ref = log.append(decision_entry(result, current_identity(os.environ)))
    log.find_decision(model, version, run_id, milestone, playbook_digest=digest)
    log.verify()
"""

from __future__ import annotations

from gatekeeper.record.chain import GENESIS_HASH
from gatekeeper.record.identity import Identity, current_identity
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
)

__all__ = [
    "ACTIONS",
    "DEFAULT_PATH",
    "GENESIS_HASH",
    "KEY_VARIABLE",
    "SCHEMA",
    "AuditLog",
    "AuditReadError",
    "AuditWriteError",
    "Identity",
    "RecordFilter",
    "StoredRecord",
    "Verification",
    "current_identity",
    "decision_entry",
    "parse_time",
    "promotion_entry",
    "recorded_promotion_entry",
    "refusal_entry",
]
