"""Selecting audit records: the filters of `gatekeeper audit log`, `export` and `report`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def parse_time(text: str) -> datetime:
    """An ISO-8601 date or date-time; naive values are taken as UTC. Raises ValueError."""
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def nested(record: Mapping[str, Any], *keys: str) -> Any:
    """``record[k1][k2]...``, or None where a level is missing or not an object."""
    value: Any = record
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


@dataclass(frozen=True)
class RecordFilter:
    """Every field that is set must match; ``since`` is inclusive, ``until`` exclusive.

    ``alias`` matches the records that moved that alias or were refused moving it (promotion
    and promotion_refused); ``waiver_used`` the decisions a waiver let through and the
    ``waiver_use`` records."""

    model: str | None = None
    version: str | None = None
    milestone: str | None = None
    alias: str | None = None
    actor: str | None = None
    decision: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    waiver_used: bool = False

    def matches(self, record: Mapping[str, Any]) -> bool:
        return (self._matches_fields(record) and self._matches_time(record)
                and (not self.waiver_used or used_waiver(record)))

    def _matches_fields(self, record: Mapping[str, Any]) -> bool:
        wanted = (
            (self.model, nested(record, "model", "name")),
            (self.version, nested(record, "model", "version")),
            (self.milestone, record.get("milestone")),
            (self.alias, nested(record, "promotion", "alias")),
            (self.actor, record.get("actor")),
            (self.decision, record.get("decision")),
            (self.action, record.get("action")),
        )
        return all(want is None or _equal(have, want) for want, have in wanted)

    def _matches_time(self, record: Mapping[str, Any]) -> bool:
        if self.since is None and self.until is None:
            return True
        try:
            at = parse_time(str(record.get("recorded_at")))
        except ValueError:
            # A record without a readable time cannot be placed inside a window.
            return False
        after_start = self.since is None or at >= self.since
        return after_start and (self.until is None or at < self.until)


def used_waiver(record: Mapping[str, Any]) -> bool:
    """A ``waiver_use`` record, or a decision that holds at least one used waiver."""
    # The action names of record/records.py, spelled out: it imports the store, which
    # imports this module.
    if record.get("action") == "waiver_use":
        return True
    waivers = record.get("waivers")
    return record.get("action") == "decision" and isinstance(waivers, list) and bool(waivers)


def _equal(have: Any, want: str) -> bool:
    # Compared as text so that `--version 3` matches a version stored as 3 or "3".
    return have is not None and str(have) == want
