"""What the LLM importers share: the report type carrying token latencies, the mapping of each
tool's names onto ours, and reading a JSON file with every bad value named at its key.

Our definitions (docs/llm.md): TTFT to the first chunk with content; TPOT = (E2E - TTFT) /
(output tokens - 1) per request; ITL = every gap between chunks, pooled; NTPOT = E2E / output
tokens; E2E. The tools use the same words for other things; each importer's ``NAMES`` says
which of its metrics is which of ours, and its report says so too (``names``). None of these
tools records intended send times, so every latency is from the actual send (coordinated
omission not corrected), as with k6 and Locust.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.errors import InvalidInputError, Problem
from gatekeeper.load.yamlsrc import Document, Loc, read_document
from gatekeeper.probe.importers import (
    NOT_CORRECTED,
    SourcedEndpointReport,
    Tally,
    endpoint_report,
    error_counts,
)
from gatekeeper.probe.report import HoldPolicy, Percentiles, ProbeReport

#: Our token-latency metrics, in the order reports list them.
TOKEN_METRICS = ("ttft", "tpot", "itl", "ntpot")
PERCENTILE_KEYS = ("p50", "p90", "p95", "p99", "p99_9", "max")


@dataclass(frozen=True)
class LlmEndpointReport(SourcedEndpointReport):
    """An imported LLM run of one endpoint type: E2E as ``latency``, plus TTFT, TPOT, ITL and
    NTPOT (those the tool measured) and the output token rate."""

    token_latency: Mapping[str, Percentiles] = field(default_factory=dict)
    output_tokens_per_s: float = math.nan
    tool: str = ""
    names: Mapping[str, str] = field(default_factory=dict)  # tool's name -> ours

    def to_dict(self) -> dict[str, Any]:
        """As the sourced report, with an ``llm`` section (milliseconds)."""
        llm = {"tool": self.tool, "names": dict(self.names),
               "output_tokens_per_s": _json(self.output_tokens_per_s),
               **{name: {k: _json(v) for k, v in p.to_dict().items()}
                  for name, p in self.token_latency.items()}}
        return {**super().to_dict(), "llm": llm}


def llm_metrics(report: ProbeReport) -> dict[str, float]:
    """``ttft.<e>.p50_ms`` ... and ``tokens.<e>.output_per_s`` of an imported report, for
    MLflow and result.json beside the probe's own metrics (NaN left out)."""
    found: dict[str, float] = {}
    for e in report.endpoints:
        if not isinstance(e, LlmEndpointReport):
            continue
        for name, percentiles in e.token_latency.items():
            found.update({f"{name}.{e.endpoint}.{k}": v
                          for k, v in percentiles.to_dict().items()})
        found[f"tokens.{e.endpoint}.output_per_s"] = e.output_tokens_per_s
    return {k: v for k, v in found.items() if math.isfinite(v)}


@dataclass(frozen=True)
class LlmTally:
    """What a tool reported for one endpoint type, in our terms."""

    endpoint: str
    e2e: Percentiles
    token_latency: Mapping[str, Percentiles]
    ok: int
    failed: int
    span_s: float
    output_tokens_per_s: float
    target_rps: float | None
    errors: Mapping[str, int] = field(default_factory=dict)  # by class; rest unclassified


def llm_report(tallies: Sequence[LlmTally], *, tool: str, names: Mapping[str, str],
               method: str, target_rps: float | None, policy: HoldPolicy | None, url: str
               ) -> ProbeReport:
    """One report per tally, in name order; ``target_rps`` (the flag) wins over the rate the
    tool states it was asked for."""
    policy = policy or HoldPolicy()
    method = f"{method}; {NOT_CORRECTED}"
    endpoints = []
    for t in sorted(tallies, key=lambda t: t.endpoint):
        known = sum(t.errors.values())
        errors = error_counts({**t.errors, "unclassified": max(t.failed - known, 0)})
        tally = Tally(t.endpoint, t.e2e, t.ok + t.failed, errors, method)
        target = target_rps if target_rps is not None else t.target_rps
        base = endpoint_report(tally, t.span_s, math.nan if target is None else target, policy)
        endpoints.append(LlmEndpointReport(**vars(base), token_latency=dict(t.token_latency),
                                           output_tokens_per_s=t.output_tokens_per_s,
                                           tool=tool, names=dict(names)))
    return ProbeReport(url, tuple(endpoints), method)


def percentiles(values: Mapping[str, float], scale: float) -> Percentiles:
    """Our percentiles (seconds) from ``values`` keyed like ours, in units of ``scale``
    seconds; missing ones are NaN."""
    return Percentiles(*(values.get(k, math.nan) * scale for k in PERCENTILE_KEYS))


@dataclass(frozen=True)
class JsonFile:
    """A tool's JSON result; every lookup names the key of a bad or missing value."""

    doc: Document
    hint: str

    @classmethod
    def load(cls, path: Path, hint: str) -> JsonFile:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(str(Problem(str(path), 1, 1, "", f"cannot read: {exc}")),
                                    hint=hint) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(str(Problem(str(path), exc.lineno, exc.colno, "",
                                                f"invalid JSON: {exc.msg}")), hint=hint) from None
        try:
            located, _ = read_document(path)
            marks = located.marks if located is not None else {}
        except yaml.YAMLError:
            marks = {}
        found = cls(Document(str(path), data, marks, text), hint)
        if not isinstance(data, dict):
            raise found.fail((), "the top level must be an object")
        return found

    def fail(self, loc: Loc, message: str) -> InvalidInputError:
        return InvalidInputError(str(self.doc.problem(loc, message)), hint=self.hint)

    def get(self, loc: Loc, default: Any = None) -> Any:
        """The value at ``loc`` (keys and list indexes), or ``default`` when absent."""
        value: Any = self.doc.data
        for key in loc:
            in_dict = isinstance(value, dict) and isinstance(key, str) and key in value
            in_list = isinstance(value, list) and isinstance(key, int) and key < len(value)
            if not (in_dict or in_list):
                return default
            value = value[key]
        return value

    def object(self, loc: Loc, why: str = "") -> dict[str, Any]:
        value = self.get(loc)
        if not isinstance(value, dict):
            raise self.fail(loc, "required, an object" + (f": {why}" if why else "")
                            if value is None else "must be an object")
        return value

    def number(self, loc: Loc, *, required: bool = True, why: str = "") -> float:
        """A number >= 0 (``Infinity`` allowed: a rate of 'all at once'); NaN when absent
        and not ``required``."""
        value = self.get(loc)
        if value is None:
            if required:
                raise self.fail(loc, "required" + (f": {why}" if why else ""))
            return math.nan
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(loc, f"must be a number >= 0, got {json.dumps(value)}")
        return float(value)

    def stats(self, loc: Loc, keys: Mapping[str, str]) -> dict[str, float]:
        """The statistics at ``loc`` whose tool names are the keys of ``keys``, keyed by our
        names (``keys``' values); absent ones are left out, a non-number is an error."""
        if not isinstance(self.get(loc, {}), dict):
            raise self.fail(loc, "must be an object")
        return {ours: value for theirs, ours in keys.items()
                if math.isfinite(value := self.number((*loc, theirs), required=False))}


def finite_or_none(value: float) -> float | None:
    """A stated rate: None when absent or infinite ('as fast as possible' is no rate)."""
    return value if math.isfinite(value) else None


def _json(value: float) -> float | None:
    return value if math.isfinite(value) else None
