"""Waiver files: a named person's documented acceptance of one failing check, for one model's
versions at one milestone, until a date (docs/waivers.md).

    waivers:
      - id: W-12
        check: latency-*            # a check id, or a glob pattern (fnmatch, case-sensitive)
        model: churn
        versions: ">=3,<5"          # see VersionRange; or 7, or [3, 4, ">=10"], or "*"
        milestone: serve
        reason: load test ran on a shared node; re-run booked
        owner: alice@example.com
        approver: ciso@example.com  # must differ from the owner
        ticket: RISK-123
        granted: 2026-12-01         # when it was approved (ISO 8601)
        expires: 2026-12-31         # ISO 8601; a date alone means 00:00 UTC of that day

``load_waivers`` reads a file or a folder and refuses (exit 2) anything malformed; the approval
rules (an approver who is not the owner) are :func:`approval_problems`, reported as errors by
``gatekeeper validate`` and, at ``check``, as the reason a waiver does nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
from pydantic import Field, field_validator

from gatekeeper.errors import InvalidInputError, Problem, ValidationError
from gatekeeper.load.strict import Strict
from gatekeeper.load.yamlsrc import Document, pydantic_problems, read_document

YAML_SUFFIXES = (".yaml", ".yml")
#: The check gatekeeper adds itself; it stands for the audit log, which no waiver can change.
PREREQUISITE_ID = "gatekeeper.earlier-milestones"
_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)?\s*(\d{1,12})\s*$")
_OPS = {">=": int.__ge__, "<=": int.__le__, "==": int.__eq__, "!=": int.__ne__,
        ">": int.__gt__, "<": int.__lt__, None: int.__eq__}


def parse_range(spec: int | str) -> list[tuple[str | None, int]]:
    """``">=3,<5"`` → ``[(">=", 3), ("<", 5)]``; ``7`` → ``[(None, 7)]``; ``"*"`` → ``[]``.
    Raises ValueError naming the clause that is not ``OP N``."""
    if isinstance(spec, bool):
        raise ValueError(f"{spec!r} is not a version range like '>=3,<5'")
    if isinstance(spec, int):
        return [(None, spec)]
    if spec.strip() == "*":
        return []
    clauses = []
    for clause in spec.split(","):
        found = _CLAUSE.match(clause)
        if not found:
            raise ValueError(f"'{clause.strip()}' in '{spec}' is not a version or a comparison "
                             "like '>=3' (ranges look like '>=3,<5', '7' or '*')")
        clauses.append((found[1], int(found[2])))
    return clauses


def in_range(spec: int | str, version: str) -> bool:
    """Whether MLflow version ``version`` is in ``spec`` (every clause holds)."""
    clauses = parse_range(spec)
    if not clauses:
        return True
    if not version.isdigit():
        return False
    return all(_OPS[op](int(version), bound) for op, bound in clauses)


def parse_when(text: str) -> datetime:
    """ISO 8601 date or date/time; a trailing Z or no zone is UTC; a date is 00:00 UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Waiver(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Unique in the file.")
    check: str = Field(min_length=1, description="A check id, or a glob (`latency-*`).")
    model: str = Field(min_length=1, description="Registered model name.")
    versions: int | str | tuple[int | str, ...] = Field(
        description="`'>=3,<5'`, `7`, `'*'`, or a list of these (any may match).")
    milestone: str = Field(min_length=1, description="Milestone id from the playbook.")
    reason: str = Field(min_length=1)
    owner: str = Field(min_length=1, description="Who asks for the waiver and answers for it.")
    approver: str | None = Field(default=None, description="Who approved it; not the owner.")
    ticket: str = Field(min_length=1, description="Where the decision is tracked.")
    granted: str = Field(description="When it was approved (ISO 8601).")
    expires: str = Field(description="ISO 8601; a date alone means 00:00 UTC of that day.")

    @field_validator("versions")
    @classmethod
    def _check_versions(cls, value: int | str | tuple[int | str, ...]
                        ) -> int | str | tuple[int | str, ...]:
        for spec in value if isinstance(value, tuple) else (value,):
            parse_range(spec)
        if isinstance(value, tuple) and not value:
            raise ValueError("needs at least one version or range")
        return value

    @field_validator("granted", "expires")
    @classmethod
    def _check_instant(cls, value: str) -> str:
        try:
            parse_when(value)
        except ValueError:
            raise ValueError(f"'{value}' is not an ISO 8601 date or date/time "
                             "(2026-12-31, 2026-12-31T18:00:00Z)") from None
        return value

    @field_validator("expires")
    @classmethod
    def _check_after_granted(cls, value: str, info: pydantic.ValidationInfo) -> str:
        granted = info.data.get("granted")
        if granted is not None and parse_when(value) <= parse_when(granted):
            raise ValueError(f"expires {value} is not after granted {granted}")
        return value

    @field_validator("check")
    @classmethod
    def _check_not_prerequisite(cls, value: str) -> str:
        if value == PREREQUISITE_ID:
            raise ValueError(f"{PREREQUISITE_ID} can never be waived: it stands for the "
                             "earlier milestones' recorded passes")
        return value

    @property
    def granted_at(self) -> datetime:
        return parse_when(self.granted)

    @property
    def expires_at(self) -> datetime:
        return parse_when(self.expires)

    def covers(self, version: str) -> bool:
        specs = self.versions if isinstance(self.versions, tuple) else (self.versions,)
        return any(in_range(spec, version) for spec in specs)

    def approval_problem(self) -> str | None:
        """Why the waiver is not approved (separation of duties), or None."""
        return approval_problem(self.owner, self.approver)


def approval_problem(owner: str, approver: str | None) -> str | None:
    """Why a waiver with this owner and approver is not approved, or None. Names compare
    without case or surrounding spaces: ``Alice@x`` approving ``alice@x`` is self-approval."""
    if not approver or not approver.strip():
        return "not approved: no approver (someone other than the owner must approve)"
    if approver.strip().casefold() == owner.strip().casefold():
        return f"not approved: the approver is the owner ({owner}); another person must approve"
    return None


class WaiverFile(Strict):
    waivers: tuple[Waiver, ...] = Field(description="The waivers; an empty list is allowed.")


@dataclass(frozen=True)
class LoadedWaiver:
    """A validated waiver and where it is written (``waivers.yaml:12``)."""

    waiver: Waiver
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class WaiverSource:
    """A waiver file read for a gate run: its path and the sha256 of its bytes."""

    path: str
    digest: str


@dataclass(frozen=True)
class LoadedWaivers:
    waivers: tuple[LoadedWaiver, ...] = ()
    sources: tuple[WaiverSource, ...] = ()


def is_waiver_document(path: Path, doc: Document) -> bool:
    """A file under a folder named ``waivers``, or whose top level has ``waivers`` and no
    ``milestones``."""
    data = doc.data
    return "waivers" in path.parts or (isinstance(data, dict) and "waivers" in data
                                       and "milestones" not in data)


def load_waiver_file(path: Path, display: str | None = None
                     ) -> tuple[LoadedWaivers | None, Document | None, list[Problem]]:
    """The waivers in ``path``, its document, and every structural problem (not approval)."""
    doc, problems = read_document(path, display)
    if doc is None:
        return None, None, problems
    problems += _duplicate_ids(doc)
    try:
        parsed = WaiverFile.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        return None, doc, problems + pydantic_problems(doc, exc, WaiverFile)
    loaded = tuple(LoadedWaiver(w, doc.file, doc.position(("waivers", i))[0])
                   for i, w in enumerate(parsed.waivers))
    source = WaiverSource(doc.file, "sha256:" + hashlib.sha256(doc.text.encode()).hexdigest())
    return LoadedWaivers(loaded, (source,)), doc, problems


def approval_problems(doc: Document) -> Iterator[Problem]:
    """One problem per waiver that is not approved, at its ``approver`` (or the waiver).
    Read from the document, so a waiver malformed elsewhere is still judged here."""
    for index, item in _items(doc):
        owner, approver = item.get("owner"), item.get("approver")
        if not isinstance(owner, str) or not owner.strip():
            continue  # the schema reports the missing owner
        problem = approval_problem(owner, approver if isinstance(approver, str) else None)
        if problem is not None:
            yield doc.problem(("waivers", index, "approver"), problem)


def _items(doc: Document) -> Iterator[tuple[int, Mapping[str, Any]]]:
    data = doc.data
    items = data.get("waivers") if isinstance(data, Mapping) else None
    for index, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, Mapping):
            yield index, item


def _duplicate_ids(doc: Document) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, item in _items(doc):
        waiver_id = item.get("id")
        if not isinstance(waiver_id, str):
            continue
        if waiver_id in first:
            line = doc.position(("waivers", first[waiver_id]))[0]
            yield doc.problem(("waivers", index, "id"),
                              f"duplicate waiver id '{waiver_id}' (first at line {line})")
        first.setdefault(waiver_id, index)


def load_waivers(path: Path | None) -> LoadedWaivers:
    """The waivers in ``path`` (a file, or a folder of YAML files); None means none. Raises
    ValidationError with every structural problem, InvalidInputError for a missing path."""
    if path is None:
        return LoadedWaivers()
    files = _files(path)
    waivers: list[LoadedWaiver] = []
    sources: list[WaiverSource] = []
    problems: list[Problem] = []
    for file in files:
        loaded, _doc, found = load_waiver_file(file)
        problems += found
        if loaded is not None:
            waivers += loaded.waivers
            sources += loaded.sources
    problems += _ids_across_files(waivers)
    if problems:
        raise ValidationError(problems)
    return LoadedWaivers(tuple(waivers), tuple(sources))


def _files(path: Path) -> Sequence[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
    if path.is_file():
        return [path]
    raise InvalidInputError(f"--waivers: {path}: no such file or directory")


def _ids_across_files(waivers: Sequence[LoadedWaiver]) -> Iterator[Problem]:
    seen: dict[str, LoadedWaiver] = {}
    for item in waivers:
        first = seen.setdefault(item.waiver.id, item)
        if first is not item and first.file != item.file:
            yield Problem(item.file, item.line, 1, "id",
                          f"duplicate waiver id '{item.waiver.id}' (first at {first.where})")
