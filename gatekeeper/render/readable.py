"""What the readable formats (``text``, ``markdown``, ``html``) show the same way: the
prerequisite apart from the playbook's checks, failures first, counts, plain numbers, the
playbook line, and a web link for an evidence ref when the registry has a web address.

Pure helpers; each format escapes what they return for its own medium.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from gatekeeper.decide.remedy import plain_number
from gatekeeper.decide.result import CheckResult, Decision, Result
from gatekeeper.evaluate.cost import OperatingPoint
from gatekeeper.evaluate.interface import Status

PREREQUISITE_KIND = "prerequisite"
#: Check kinds whose observed value holds a cost breakdown at an operating point.
COST_KINDS = ("cost", "roi")
COST_PARTS = ("compute", "accelerators", "memory", "network", "cache", "operations", "total")

#: Most severe first: the order reports list checks in (blocking ones before all others).
SEVERITY = (Status.FAIL, Status.ERROR, Status.WARN, Status.WAIVED, Status.SKIP, Status.PASS)

_RUN_REF = re.compile(r"^mlflow:runs/(?P<run>[^/]+)(/|$)")
_VERSION_REF = re.compile(r"^mlflow:models/(?P<name>.+?)/(?P<version>\d+)(/|$)")
_MODEL_REF = re.compile(r"^mlflow:models/(?P<name>.+?)/aliases/[^/]+$")


def prerequisite(result: Result) -> CheckResult | None:
    """The check gatekeeper adds (every earlier milestone passed), or None on the first."""
    return next((c for c in result.checks if c.kind == PREREQUISITE_KIND), None)


def playbook_checks(result: Result) -> tuple[CheckResult, ...]:
    """The playbook's own checks, in the playbook's order."""
    return tuple(c for c in result.checks if c.kind != PREREQUISITE_KIND)


def failures_first(checks: Iterable[CheckResult]) -> list[CheckResult]:
    """Blocking checks first, then by severity; the playbook's order within each."""
    return sorted(checks, key=lambda c: (not c.blocks, SEVERITY.index(c.status)))


def blockers(result: Result) -> list[str]:
    """The ids of the checks that block, the prerequisite included."""
    return [c.id for c in result.checks if c.blocks]


def counts(checks: Iterable[CheckResult]) -> str:
    """``1 pass, 2 warn`` (states in their canonical order, zeros left out)."""
    statuses = [c.status for c in checks]
    return ", ".join(f"{statuses.count(s)} {s.value}" for s in Status if s in statuses)


def tally(result: Result) -> str:
    """The playbook's checks by state, then the prerequisite apart:
    ``3 pass, 1 fail; prerequisite: pass``."""
    pre = prerequisite(result)
    own = counts(playbook_checks(result)) or "no checks"
    return own + (f"; prerequisite: {pre.status.value}" if pre else "")


def verdict_word(result: Result) -> str:
    return "PASSED" if result.decision is Decision.PASS else "BLOCKED"


def where(check: CheckResult) -> str | None:
    """``playbooks/churn.yaml:44``: where the check is declared."""
    return f"{check.location.file}:{check.location.line}" if check.location else None


def plain(value: Any) -> str:
    """An observed value or threshold as one line: numbers without scientific notation,
    mappings as ``key value, ...``, lists comma-separated, nothing as an empty string."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {plain(v)}".rstrip() for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) or "none"
    return plain_number(value)


def cost_lines(check: CheckResult) -> list[str]:
    """For a ``cost`` or ``roi`` check: its cost per 1,000 by component, in its currency, at
    the operating point it was priced at, and its GPUs; nothing for other checks (or for a
    result stored before costs had a breakdown)."""
    observed = check.observed
    if check.kind not in COST_KINDS or not isinstance(observed, Mapping):
        return []
    per_1k, point = observed.get("per_1k"), observed.get("operating_point")
    if not isinstance(per_1k, Mapping) or not isinstance(point, Mapping):
        return []
    currency = observed.get("currency") or "currency not declared"
    parts = ", ".join(f"{k} {plain_number(per_1k[k])}" for k in COST_PARTS if k in per_1k)
    lines = [f"cost per 1k ({currency}) at {operating_point_text(point)}: {parts}"]
    gpus = observed.get("accelerators")
    if isinstance(gpus, Mapping) and gpus:
        share = gpus.get("utilisation")
        used = (f"utilisation {plain_number(round(share * 100, 1))}%"
                if isinstance(share, int | float) else "utilisation not measured")
        lines.append(f"GPUs: {plain(gpus.get('gpus_per_replica'))} per replica at "
                     f"{plain(gpus.get('gpu_per_hour'))}/h each, {used}")
    return lines


def operating_point_text(point: Mapping[str, Any]) -> str:
    """``capacity 100/s on 1 replica`` (or the traffic, or the offered rate)."""
    try:
        return OperatingPoint(**point).describe()
    except (TypeError, AssertionError):  # a stored result edited by hand: show it as it is
        return plain(point)


def waiver_text(waiver: Mapping[str, Any] | None) -> str:
    """``W-7: synthetic test data (approved by ciso@..., expires 2027-01-01)``."""
    if not waiver:
        return ""
    head = str(waiver.get("id", "waiver"))
    reason = f": {waiver['reason']}" if waiver.get("reason") else ""
    approver = waiver.get("approver") or waiver.get("approved_by")
    notes = [f"approved by {approver}" if approver else "",
             f"expires {waiver['expires']}" if waiver.get("expires") else ""]
    extra = ", ".join(n for n in notes if n)
    return head + reason + (f" ({extra})" if extra else "")


def waiver_notes(result: Result) -> list[str]:
    """With ``--waivers``: the waivers' own tally (``1 used, 1 ignored, 0 unmatched``), then
    one line per waiver that did nothing and why; without it, nothing."""
    report = result.waivers
    if report is None:
        return []
    return [report.tally(),
            *(f"{n.id} ({n.where}) ignored: {n.note}" for n in report.ignored),
            *(f"{n.id} ({n.where}) matched nothing: {n.note}" for n in report.unmatched)]


def web_base(registry_url: str | None) -> str | None:
    """The registry's web address when it is an http(s) URL, without a trailing slash; a
    stored result is read back as input, so anything else (``javascript:``) never links."""
    if not registry_url:
        return None
    parts = urlsplit(registry_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    return registry_url.rstrip("/")


def evidence_url(ref: str, registry_url: str | None) -> str | None:
    """The MLflow UI page of an evidence ref (the UI's hash routes ``#/runs/<run_id>`` and
    ``#/models/<name>/versions/<version>``), or None when there is none to link to."""
    base = web_base(registry_url)
    if base is None:
        return None
    if found := _RUN_REF.match(ref):
        return f"{base}/#/runs/{quote(found['run'], safe='')}"
    if found := _VERSION_REF.match(ref):
        return (f"{base}/#/models/{quote(found['name'], safe='')}/versions/"
                f"{quote(found['version'], safe='')}")
    if found := _MODEL_REF.match(ref):
        return f"{base}/#/models/{quote(found['name'], safe='')}"
    return None


def run_url(result: Result) -> str | None:
    """The MLflow UI page of the version's source run."""
    run = result.model.run_id
    return evidence_url(f"mlflow:runs/{run}", result.registry_url) if run else None


def version_url(result: Result) -> str | None:
    """The MLflow UI page of the model version."""
    m = result.model
    return evidence_url(f"mlflow:models/{m.name}/{m.version}", result.registry_url)


def evidence_items(check: CheckResult) -> Sequence[tuple[str, str]]:
    """(what, ref) pairs of a check's evidence, in its own order."""
    return [(str(k), str(v)) for k, v in check.evidence.items()]
