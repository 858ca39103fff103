"""``text``: readable at a glance. One line per check (state, id, observed vs threshold), then
the verdict."""

from __future__ import annotations

from gatekeeper.decide.result import CheckResult, Decision, Result
from gatekeeper.evaluate.interface import Status

MARKS = {Status.PASS: "PASS", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.ERROR: "ERROR",
         Status.SKIP: "SKIP", Status.WAIVED: "WAIVED"}


def render(result: Result) -> str:
    lines = [_header(result), ""]
    width = max((len(c.id) for c in result.checks), default=0)
    lines += [_line(check, width) for check in result.checks]
    lines += ["", _verdict(result)]
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


def _verdict(result: Result) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in result.summary.items() if n)
    if result.decision is Decision.PASS:
        return f"PASSED ({counts})"
    blockers = [c.id for c in result.checks if c.blocks]
    return f"BLOCKED by {', '.join(blockers) or 'no checks'} ({counts})"
