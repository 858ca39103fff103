"""The audit store: where every decision and promotion is recorded, hash-chained.

The gate talks to this interface only, so another store (a database shared by many CI
runners) drops in without touching the pipeline: one module, one line in ``STORES``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from gatekeeper.decide.result import AuditRef
from gatekeeper.record.jsonl import StoredRecord, Verification


class AuditSession(Protocol):
    """The store held exclusively, its chain verified: append and read with no other writer
    in between (a promotion moves its alias inside one session)."""

    def append(self, entry: Mapping[str, Any]) -> AuditRef: ...

    def latest_decisions(self, model: str, version: str, run_id: str | None,
                         milestones: Sequence[str]) -> dict[str, dict[str, Any] | None]: ...


class AuditStore(Protocol):
    """Append, read, verify, and the queries the gate needs."""

    @property
    def location(self) -> str:
        """Where the records are, as shown in results (a path, a URL without credentials)."""
        ...

    def append(self, entry: Mapping[str, Any]) -> AuditRef: ...

    def session(self) -> AbstractContextManager[AuditSession]: ...

    def records(self) -> Iterator[StoredRecord]: ...

    def verify(self) -> Verification: ...

    def latest_decisions(self, model: str, version: str, run_id: str | None,
                         milestones: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """The latest decision record (pass or block) per milestone; None where none."""
        ...

    def model_records(self, model: str) -> list[dict[str, Any]]:
        """Every record about ``model``, oldest first, verified; none for a missing store."""
        ...
