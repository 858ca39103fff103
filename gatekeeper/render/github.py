"""``github``: GitHub Actions workflow commands, so each check that needs attention is an
annotation at its playbook line on the run and the pull request.

A blocking ``fail``/``error`` is ``::error``, an advisory one and a ``warn`` are ``::warning``,
a waived failure is ``::notice``; passing and skipped checks are not annotated. GitHub shows
at most 10 annotations of each kind per step, so checks go most severe first (blocking before
advisory, the prerequisite first among equals) and at most 10 of each kind are written. The
last line is one summary annotation without a file (``::error`` when blocked, ``::notice``
when passed); its kind keeps a slot for it (9 checks + the summary), so the cap never hides it,
and it says how many annotations were left out.

Data is escaped as the runner reads it (``%``, CR, LF → ``%25``, ``%0D``, ``%0A``; property
values also ``:`` and ``,`` → ``%3A``, ``%2C``), so a message can never end the command or
start another one. The ``$GITHUB_OUTPUT`` lines are I/O and written by the CLI
(``cli/outputs.py``).
"""

from __future__ import annotations

from collections import Counter

from gatekeeper.decide.result import CheckResult, Decision, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.render.machine import details, is_prerequisite, most_severe_first, severity

#: Annotations of one kind GitHub shows per step.
PER_KIND = 10
#: ``machine.severity`` → command; severities not listed are not annotated.
COMMANDS = {0: "error", 1: "warning", 2: "warning", 3: "notice"}


def render(result: Result) -> str:
    summary_kind = "notice" if result.decision is Decision.PASS else "error"
    shown: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    lines = []
    for check in most_severe_first(result.checks):
        kind = COMMANDS.get(severity(check))
        if kind is None:
            continue
        room = PER_KIND - (1 if kind == summary_kind else 0)
        if shown[kind] < room:
            shown[kind] += 1
            lines.append(_annotation(result, check, kind))
        else:
            left_out[kind] += 1
    lines.append(_command(summary_kind, {"title": _title(result)},
                          _summary(result, left_out)))
    return "\n".join(lines) + "\n"


def _annotation(result: Result, check: CheckResult, kind: str) -> str:
    where = check.location
    props = {"file": where.file if where else result.playbook.path,
             "line": str(where.line) if where else None,
             "title": f"{_title(result)}: {_label(check)}"}
    facts = details(check)
    facts.pop("location", None)
    return _command(kind, props, "\n".join([check.message,
                                            *(f"{k}: {v}" for k, v in facts.items())]))


def _label(check: CheckResult) -> str:
    """``latency-predict failed``, ``prerequisite gatekeeper.earlier-milestones failed``."""
    word = {"fail": "failed", "error": "could not be evaluated", "warn": "warns",
            "waived": "failed, waived"}.get(check.status.value, check.status.value)
    advisory = " (advisory)" if not check.blocking else ""
    prefix = "prerequisite " if is_prerequisite(check) else ""
    return f"{prefix}{check.id} {word}{advisory}"


def _title(result: Result) -> str:
    return f"gatekeeper {result.model.name} v{result.model.version} {result.milestone.id}"


def _summary(result: Result, left_out: Counter[str]) -> str:
    counts = _counts(result)
    blockers = [c.id for c in result.checks if c.blocks]
    verdict = (f"PASSED ({counts})" if result.decision is Decision.PASS
               else f"BLOCKED by {', '.join(blockers) or 'no checks'} ({counts})")
    lines = [f"{verdict}: {result.model.name} version {result.model.version}, milestone "
             f"{result.milestone.id}, exit code {int(result.exit_code)}"]
    if result.audit:
        lines.append(f"audit: record {result.audit.seq} {result.audit.hash}")
    if result.waivers is not None:
        lines.append(f"waivers: {result.waivers.tally()}")
    if left_out:
        total = sum(left_out.values())
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(left_out.items()))
        lines.append(f"{total} more not shown ({kinds}): GitHub shows {PER_KIND} annotations "
                     "of each kind per step; -o text lists every check")
    return "\n".join(lines)


def _counts(result: Result) -> str:
    """``1 pass, 1 fail; prerequisite: pass``: the playbook's checks, the prerequisite apart."""
    own = [c.status for c in result.checks if not is_prerequisite(c)]
    text = ", ".join(f"{own.count(s)} {s.value}" for s in Status if s in own)
    pre = next((c for c in result.checks if is_prerequisite(c)), None)
    return (text or "no checks") + (f"; prerequisite: {pre.status.value}" if pre else "")


def _command(kind: str, props: dict[str, str | None], message: str) -> str:
    given = ",".join(f"{name}={escape_property(value)}" for name, value in props.items()
                     if value)
    return f"::{kind} {given}::{escape_data(message)}"


def escape_data(text: str) -> str:
    """A command's message: ``%`` first, so the escapes it adds are not escaped again."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value: as data, and ``:`` and ``,`` that delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
