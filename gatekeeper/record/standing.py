"""Where a model stands according to its audit records: the latest gate promotion of each
alias, and the latest decision per version and milestone. Pure queries over records already
read (``AuditStore.model_records``), for ``gatekeeper status`` and the baseline-alias check.

    records = store.model_records("fraud")
    latest_promotions(records)["champion"]["promotion"]["version"]     # "3"
    latest_decisions_by_version(records)[("3", "run-id")]["poc"]["decision"]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gatekeeper.record.query import nested
from gatekeeper.record.records import DECISION, PROMOTION

#: A version as the audit log names it: its number and the run it was registered from (a
#: re-registered number with another run does not inherit the old version's standing).
VersionKey = tuple[str, str | None]


def latest_promotions(records: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Each alias the gate moved → the record of its latest move (``check --promote`` or
    ``gatekeeper promote``); records oldest first."""
    found: dict[str, Mapping[str, Any]] = {}
    for record in records:
        alias = nested(record, "promotion", "alias")
        if record.get("action") == PROMOTION and isinstance(alias, str):
            found[alias] = record
    return found


def promoted_version(promotions: Mapping[str, Mapping[str, Any]], alias: str) -> str | None:
    """The version the gate last moved ``alias`` to, or None when it never moved it."""
    record = promotions.get(alias)
    version = nested(record, "promotion", "version") if record is not None else None
    return None if version is None else str(version)


def latest_decisions_by_version(
        records: Iterable[Mapping[str, Any]]) -> dict[VersionKey, dict[str, Mapping[str, Any]]]:
    """Each (version, run id) → milestone → its latest decision record; records oldest first."""
    found: dict[VersionKey, dict[str, Mapping[str, Any]]] = {}
    for record in records:
        version, milestone = nested(record, "model", "version"), record.get("milestone")
        if record.get("action") != DECISION or version is None or not isinstance(milestone, str):
            continue
        key = (str(version), nested(record, "model", "run_id"))
        found.setdefault(key, {})[milestone] = record
    return found
