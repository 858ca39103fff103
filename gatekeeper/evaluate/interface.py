"""What a check kind is: a parameter model (part of the playbook) and a pure evaluate function."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from gatekeeper.evidence.interface import Evidence, EvidenceRequest
from gatekeeper.load.strict import Strict


class Status(enum.StrEnum):
    """State of one check. ``fail`` and ``error`` block when the check is blocking."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"
    WAIVED = "waived"

    @property
    def blocks(self) -> bool:
        return self in (Status.FAIL, Status.ERROR)


class Category(enum.StrEnum):
    LATENCY = "latency"
    COST = "cost"
    QUALITY = "quality"
    PRIVACY = "privacy"
    SECURITY = "security"
    GOVERNANCE = "governance"


class CheckSpecBase(Strict):
    """Fields every check has, whatever its kind.

    A key a kind gained after playbooks were in use is named in ``ADDED_LATER``: left out of
    the check's dump while unset (None), so the milestone digest of a playbook that does not
    use it stays what it was, and so do the passes bound to that digest.
    """

    ADDED_LATER: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in self.ADDED_LATER:
            if data.get(key, 0) is None:
                del data[key]
        return data

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$",
                    description="Stable id, unique per milestone.")
    kind: str
    category: Category
    blocking: bool = Field(
        default=True, description="Advisory checks (false) report a failure as `warn`."
    )
    owner: str = Field(min_length=1, description="Who answers for this check.")
    description: str = ""


@dataclass(frozen=True)
class Outcome:
    """What a check found: its state, what it observed against what threshold, and why."""

    status: Status
    message: str
    observed: Any = None
    threshold: Any = None
    evidence: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckKind:
    """One registered check kind: its playbook parameters and its pure evaluate function."""

    spec: type[CheckSpecBase]
    evaluate: Callable[[Any, Evidence], Outcome]
    needs: Callable[[Any], EvidenceRequest] = lambda _spec: EvidenceRequest()
    summary: str = ""
    #: The scanners (gatekeeper.evidence.scanners) the kind runs: ``validate`` refuses a
    #: playbook using the kind where one of them is not installed, naming the extra.
    scanners: tuple[str, ...] = ()


def missing(what: str, where: str, ref: str) -> Outcome:
    """Missing evidence is an error, never a pass."""
    return Outcome(Status.ERROR, f"{what} not found on {where}", evidence={"missing": ref})
