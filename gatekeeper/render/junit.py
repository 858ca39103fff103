"""``junit``: JUnit XML for CI test reports (Jenkins, GitLab ``artifacts:reports:junit``),
valid against the Jenkins xUnit plugin's ``junit-10.xsd``.

One ``testsuite`` per gate run inside ``testsuites``; one ``testcase`` per check, with
``classname`` the milestone id and ``name`` the check id. The prerequisite
(``gatekeeper.earlier-milestones``) is its own testcase under ``<milestone>.prerequisite``, so
CI shows it apart from the playbook's checks. ``fail`` → ``failure``, ``error`` → ``error``,
``skip`` → ``skipped``; ``pass``, ``warn`` and ``waived`` pass. The XSD allows no properties
inside a testcase, so each check's facts are suite properties named ``check.<id>.<field>``
(status, blocking, observed, threshold, owner, waiver, remedy, location), and the same facts
are the text of its failure/error element or its ``system-out`` for people reading CI.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from gatekeeper.decide.result import CheckResult, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.render.machine import details, is_prerequisite, state

#: Characters XML 1.0 cannot hold, even escaped (a message is read back from stored JSON).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

#: The failing states and the element that reports each; every other state passes.
_OUTCOME = {Status.FAIL: "failure", Status.ERROR: "error", Status.SKIP: "skipped"}


def render(result: Result) -> str:
    suites = ET.Element("testsuites", _attrs(name="gatekeeper", **_counts(result),
                                             time=_duration(result)))
    suites.append(_suite(result))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _suite(result: Result) -> ET.Element:
    m = result.model
    suite = ET.Element("testsuite", _attrs(
        name=f"gatekeeper {m.name} v{m.version} {result.milestone.id}", package=m.name,
        **_counts(result), skipped=str(result.summary[Status.SKIP.value]),
        time=_duration(result), timestamp=_timestamp(result.started_at),
        file=result.playbook.path))
    properties = ET.SubElement(suite, "properties")
    for name, value in [*_run_properties(result), *_check_properties(result)]:
        ET.SubElement(properties, "property", _attrs(name=name, value=value))
    suite.extend(_testcase(result, check) for check in result.checks)
    return suite


def _counts(result: Result) -> dict[str, str]:
    return {"tests": str(len(result.checks)),
            "failures": str(result.summary[Status.FAIL.value]),
            "errors": str(result.summary[Status.ERROR.value])}


def _testcase(result: Result, check: CheckResult) -> ET.Element:
    classname = result.milestone.id + (".prerequisite" if is_prerequisite(check) else "")
    case = ET.Element("testcase", _attrs(classname=classname, name=check.id))
    facts = "\n".join(f"{name}: {text}" for name, text in details(check).items())
    outcome = _OUTCOME.get(check.status)
    if outcome is None:
        ET.SubElement(case, "system-out").text = _xml(f"{state(check)}: {check.message}\n"
                                                      + facts)
    else:
        element = ET.SubElement(case, outcome, _attrs(message=check.message, type=check.kind))
        element.text = _xml(f"{check.message}\n{facts}".rstrip())
    return case


def _run_properties(result: Result) -> list[tuple[str, str]]:
    m, p = result.model, result.playbook
    audit, baseline = result.audit, result.baseline
    pairs = [
        ("decision", result.decision.value), ("exit_code", str(int(result.exit_code))),
        ("model", m.name), ("model.version", m.version), ("model.run_id", m.run_id),
        ("model.source", m.source), ("milestone", result.milestone.id),
        ("milestone.title", result.milestone.title), ("playbook", p.path),
        ("playbook.digest", p.digest), ("playbook.git_commit", p.git_commit),
        ("playbook.milestone_digest", p.milestone_digest),
        ("baseline", f"{baseline.alias} = version {baseline.version}" if baseline else None),
        ("actor", result.actor), ("started_at", result.started_at),
        ("finished_at", result.finished_at), ("gatekeeper_version", result.gatekeeper_version),
        ("audit.log", audit.log if audit else None),
        ("audit.seq", str(audit.seq) if audit else None),
        ("audit.hash", audit.hash if audit else None),
        ("waivers", result.waivers.tally() if result.waivers else None),
    ]
    return [(name, value) for name, value in pairs if value]


def _check_properties(result: Result) -> list[tuple[str, str]]:
    pairs = []
    for check in result.checks:
        prefix = f"check.{check.id}."
        pairs += [(prefix + "status", check.status.value),
                  (prefix + "blocking", str(check.blocking).lower())]
        pairs += [(prefix + name, text) for name, text in details(check).items()]
    return pairs


def _attrs(**values: str) -> dict[str, str]:
    return {name: _xml(value) for name, value in values.items() if value}


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _duration(result: Result) -> str:
    """Seconds from start to finish with at most 3 decimals (the XSD's ``SUREFIRE_TIME``);
    ``""`` (attribute left out) when either instant is unreadable."""
    try:
        seconds = (_instant(result.finished_at) - _instant(result.started_at)).total_seconds()
    except ValueError:
        return ""
    return f"{max(seconds, 0.0):.3f}"


def _timestamp(instant: str) -> str:
    """Start in UTC without zone or fraction, as Ant and Surefire write it."""
    try:
        return _instant(instant).strftime("%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return instant


def _instant(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
