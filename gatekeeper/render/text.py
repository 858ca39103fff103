"""``text``: readable at a glance. The prerequisite on a line of its own, then one line per
playbook check (state, id, message); under a cost or roi check its cost per 1,000 by component,
currency and operating point; under each failing or erroring check its playbook line,
owner and a one-line remedy, under a waived one its waiver; then the verdict, the playbook's
checks counted apart from the prerequisite."""

from __future__ import annotations

from gatekeeper.decide.result import CheckResult, Decision, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.render.readable import (
    blockers,
    cost_lines,
    playbook_checks,
    prerequisite,
    tally,
    waiver_notes,
    waiver_text,
    where,
)

MARKS = {Status.PASS: "PASS", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.ERROR: "ERROR",
         Status.SKIP: "SKIP", Status.WAIVED: "WAIVED"}
#: Detail lines start under the check id: two spaces, the six-wide mark, one space.
INDENT = " " * 9


def render(result: Result) -> str:
    lines = [_header(result), ""]
    pre = prerequisite(result)
    if pre is not None:
        lines += [f"prerequisite: {MARKS[pre.status]} {pre.id}  {pre.message}",
                  *_details(pre), ""]
    checks = playbook_checks(result)
    width = max((len(c.id) for c in checks), default=0)
    for check in checks:
        lines += [_line(check, width), *(INDENT + line for line in cost_lines(check)),
                  *_details(check)]
    lines += ["", _verdict(result)]
    notes = waiver_notes(result)
    lines += [f"waivers: {notes[0]}", *(f"  {n}" for n in notes[1:])] if notes else []
    if result.promotion:
        p = result.promotion
        before = f" (was version {p.previous_version})" if p.previous_version else ""
        lines.append(f"promoted: alias '{p.alias}' -> version {p.version}{before}")
    if result.audit:
        lines.append(f"audit: {result.audit.log} record {result.audit.seq} {result.audit.hash}")
    return "\n".join(lines) + "\n"


def _header(result: Result) -> str:
    m = result.model
    base = (f", baseline {result.baseline.alias} = version {result.baseline.version}"
            if result.baseline else "")
    return (f"{m.name} version {m.version} · milestone {result.milestone.id} "
            f"({result.milestone.title}){base}")


def _line(check: CheckResult, width: int) -> str:
    advisory = "" if check.blocking else " (advisory)"
    return f"  {MARKS[check.status]:<6} {check.id:<{width}}  {check.message}{advisory}"


def _details(check: CheckResult) -> list[str]:
    """What to do about a fail or error (where, who, how); the waiver of a waived check."""
    if check.status is Status.WAIVED and check.waiver:
        return [f"{INDENT}waiver {waiver_text(check.waiver)}"]
    if check.status not in (Status.FAIL, Status.ERROR):
        return []
    place = " · ".join(p for p in (where(check), check.owner and f"owner {check.owner}") if p)
    return ([f"{INDENT}{place}"] if place else []) + (
        [f"{INDENT}remedy: {check.remedy}"] if check.remedy else [])


def _verdict(result: Result) -> str:
    if result.decision is Decision.PASS:
        return f"PASSED ({tally(result)})"
    return f"BLOCKED by {', '.join(blockers(result)) or 'no checks'} ({tally(result)})"
