"""``sarif``: SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer), valid against the
OASIS schema.

One run per gate run; one rule per check id (every check of the milestone, so the rule set is
the same whatever the outcome); one result per check that needs attention, at its playbook
line. Passing and skipped checks are left out: GitHub code scanning opens an alert for every
result whatever its ``kind``, and SARIF requires level ``none`` for ``kind: pass``, so leaving
them out is what closes the alert once a check passes again. Levels: a blocking ``fail`` or
``error`` is ``error``; an advisory one and a ``warn`` are ``warning``; a waived failure is a
``note`` with an accepted external suppression (the waiver). ``partialFingerprints`` hash the
model name, milestone id and check id, never the message, so an alert follows its check across
runs. ``automationDetails.id`` is ``gatekeeper/<model>/<milestone>/``: each model and
milestone is its own code-scanning category and uploads do not replace one another.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from gatekeeper.decide.result import CheckResult, Location, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.render.machine import details, fingerprint, is_prerequisite, waiver_line

SCHEMA_URI = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
              "sarif-schema-2.1.0.json")
#: The ``partialFingerprints`` key; the version suffix changes only if the hash input does.
FINGERPRINT_KEY = "gatekeeperCheck/v1"
#: Checks with nothing to act on: no result, only their rule.
QUIET = (Status.PASS, Status.SKIP)


def render(result: Result) -> str:
    log = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [_run(result)]}
    return json.dumps(log, indent=2, ensure_ascii=False, default=str) + "\n"


def _run(result: Result) -> dict[str, Any]:
    rule_index = {check.id: index for index, check in enumerate(result.checks)}
    return {
        "tool": {"driver": {"name": "gatekeeper", "version": result.gatekeeper_version,
                            "rules": [_rule(result, check) for check in result.checks]}},
        "automationDetails": {"id": f"gatekeeper/{result.model.name}/{result.milestone.id}/"},
        "invocations": [{"executionSuccessful": True, "startTimeUtc": result.started_at,
                         "endTimeUtc": result.finished_at,
                         "exitCode": int(result.exit_code)}],
        "results": [_result(result, check, rule_index[check.id])
                    for check in result.checks if check.status not in QUIET],
        "properties": _run_properties(result),
    }


def _rule(result: Result, check: CheckResult) -> dict[str, Any]:
    what = "prerequisite" if is_prerequisite(check) else f"{check.category.value} check"
    advisory = "" if check.blocking else ", advisory"
    return {
        "id": check.id,
        "name": check.id,
        "shortDescription": {"text": f"gatekeeper {what} {check.id} "
                                     f"(milestone {result.milestone.id}{advisory})"},
        "defaultConfiguration": {"level": "error" if check.blocking else "warning"},
        "properties": {"tags": list(dict.fromkeys(("gatekeeper", check.category.value,
                                                    check.kind))),
                       "blocking": check.blocking, "owner": check.owner},
    }


def _result(result: Result, check: CheckResult, rule_index: int) -> dict[str, Any]:
    facts = details(check)
    facts.pop("location", None)
    sarif: dict[str, Any] = {
        "ruleId": check.id,
        "ruleIndex": rule_index,
        "level": _level(check),
        "message": {"text": "\n".join([check.message, *(f"{k}: {v}" for k, v in facts.items())])},
        "locations": [_location(check.location or Location(result.playbook.path, 1))],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(result, check)},
        "properties": {"status": check.status.value, "blocking": check.blocking,
                       "category": check.category.value, "kind": check.kind,
                       "observed": check.observed, "threshold": check.threshold,
                       "evidence": dict(check.evidence), "owner": check.owner,
                       "remedy": check.remedy},
    }
    if check.status is Status.WAIVED:
        sarif["suppressions"] = [{"kind": "external", "status": "accepted",
                                  "justification": waiver_line(check.waiver) or "waived"}]
    return sarif


def _level(check: CheckResult) -> str:
    if check.blocks:
        return "error"
    return "note" if check.status is Status.WAIVED else "warning"


def _location(location: Location) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": {"uri": _uri(location.file)},
                                 "region": {"startLine": max(location.line, 1)}}}


def _uri(path: str) -> str:
    """A relative path stays relative (code scanning resolves it from the repository root),
    percent-encoded as a URI reference; an absolute one becomes a ``file://`` URI."""
    posix = PurePosixPath(path.replace("\\", "/"))
    if posix.is_absolute():
        return posix.as_uri()
    return quote(str(posix), safe="/")


def _run_properties(result: Result) -> dict[str, Any]:
    audit = result.audit
    return {
        "decision": result.decision.value,
        "exitCode": int(result.exit_code),
        "model": {"name": result.model.name, "version": result.model.version,
                  "runId": result.model.run_id},
        "milestone": {"id": result.milestone.id, "title": result.milestone.title},
        "playbook": {"path": result.playbook.path, "digest": result.playbook.digest,
                     "gitCommit": result.playbook.git_commit},
        "summary": result.summary,
        "waivers": asdict(result.waivers) if result.waivers else None,
        "audit": {"log": audit.log, "seq": audit.seq, "hash": audit.hash} if audit else None,
    }
