"""``secret_scan``: no credential in the text artifacts of the version's model and run.

Judges the ``detect-secrets`` scanner's report (:mod:`gatekeeper.evidence.scanners.
detect_secrets`): any finding not accepted by an ``allow`` entry (file and digest) is ``fail``,
naming the secret types, files, lines and short digests. A file that could not be scanned (too
large, unreadable, not UTF-8), a scanner failure, or no text file at all (nothing was reviewed)
is ``error``, ahead of any finding: a waiver may cover a ``fail``, and it must not cover files
nobody read. Binary files are no text artifacts and are skipped by rule (counted in
``observed``). Nothing the scanner matched is ever shown: only its type, place and an HMAC.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from gatekeeper.evaluate.interface import CheckKind, CheckSpecBase, Outcome, Status
from gatekeeper.evaluate.scans import finding_refs, scan_report
from gatekeeper.evidence.interface import Evidence, EvidenceRequest, ScanQuery
from gatekeeper.evidence.scanners.detect_secrets import (
    DEFAULT_MAX_FILE_MB,
    DIGEST_PREFIX,
    NAME,
    SALT_ENV,
    Options,
)
from gatekeeper.evidence.scanners.interface import Finding, ScanReport
from gatekeeper.load.strict import Strict

#: How many findings a message lists before it says "and N more".
SHOWN = 5
#: How many hex digits of a digest a message shows (the JSON result has all of them).
SHORT_HEX = 12
#: How many findings ``observed`` lists (the count is always complete).
LISTED = 100


class AllowedSecret(Strict):
    """A known false positive: the finding with this digest in this file passes."""

    file: str = Field(pattern=r"^(model|run)/.+", description="The file as findings name it, "
                      "e.g. run/config.yaml.")
    digest: str = Field(pattern=rf"^{DIGEST_PREFIX}[0-9a-f]{{64}}$", description="The "
                        "finding's full digest from the JSON result (needs a fixed "
                        f"{SALT_ENV}).")
    reason: str = Field(min_length=1, description="Why this is not a secret.")


class SecretScan(CheckSpecBase):
    kind: Literal["secret_scan"]
    entropy: bool = Field(default=False, description="Also run detect-secrets' high-entropy "
                          "string detectors (base64, hex): many false positives on model "
                          "artifacts (hashes, encoded tensors).")
    keyword: bool = Field(default=True, description="Run the keyword detector (password: ..., "
                          "api_key = ... in configs).")
    max_file_mb: int = Field(default=DEFAULT_MAX_FILE_MB, ge=1, description="A larger text "
                             "file is not scanned, which is error.")
    allow: tuple[AllowedSecret, ...] = Field(default=(), description="Accepted false positives, "
                                       "each a file and a digest with the reason.")

    @model_validator(mode="after")
    def _check_allow(self) -> Self:
        pairs = [(a.file, a.digest) for a in self.allow]
        if len(set(pairs)) != len(pairs):
            raise ValueError("'allow' lists the same file and digest twice")
        return self

    def query(self) -> ScanQuery:
        options = Options(entropy=self.entropy, keyword=self.keyword,
                          max_file_mb=self.max_file_mb)
        return ScanQuery(NAME, options.params())

    def threshold(self) -> dict[str, Any]:
        asked: dict[str, Any] = {"max_findings": 0, "entropy": self.entropy,
                                 "keyword": self.keyword, "max_file_mb": self.max_file_mb}
        if self.allow:
            asked["allow"] = [a.model_dump() for a in self.allow]
        return asked


def needs(spec: SecretScan) -> EvidenceRequest:
    return EvidenceRequest(scans=frozenset({spec.query()}))


def evaluate(spec: SecretScan, evidence: Evidence) -> Outcome:
    report = scan_report(evidence, spec.query())
    if isinstance(report, Outcome):
        return Outcome(report.status, report.message, threshold=spec.threshold(),
                       evidence=report.evidence)
    cand = evidence.candidate
    return judge(spec, report, f"{cand.name} v{cand.version}")


def judge(spec: SecretScan, report: ScanReport, label: str) -> Outcome:
    """The report against the check: unscanned or nothing scanned is error, a finding fail."""
    accepted = {(a.file, a.digest) for a in spec.allow}
    allowed = tuple(f for f in report.findings if (f.file, f.digest) in accepted)
    found = tuple(f for f in report.findings if (f.file, f.digest) not in accepted)
    observed = observe(report, found, allowed)
    evidence = {"scanner": report.scanner, **finding_refs(found)}
    status, message = verdict(spec, report, found, allowed, label)
    return Outcome(status, message, observed=observed, threshold=spec.threshold(),
                   evidence=evidence)


def verdict(spec: SecretScan, report: ScanReport, found: tuple[Finding, ...],
            allowed: tuple[Finding, ...], label: str) -> tuple[Status, str]:
    also = f"; {count(len(found), 'secret')} found: {listing(found)}" if found else ""
    if report.unscanned:
        files = "; ".join(f"{name}: {why}" for name, why in report.unscanned)
        return Status.ERROR, (f"the secret scan could not read {len(report.unscanned)} "
                              f"file(s) of {label}: {files}{also}")
    if not report.scanned:
        return Status.ERROR, (f"nothing to scan for secrets on {label}: no text file "
                              f"({binaries(report)})")
    if found:
        hint = salt_hint(spec, report)
        return Status.FAIL, (f"{count(len(found), 'secret')} in the text files of {label}: "
                             f"{listing(found)}{hint}")
    extra = f", {len(allowed)} allowed" if allowed else ""
    return Status.PASS, (f"no secrets in {count(len(report.scanned), 'text file')} of "
                         f"{label} ({binaries(report)}{extra})")


def listing(findings: tuple[Finding, ...]) -> str:
    shown = [f"{f.rule} at {f.where()} ({short(f.digest)})" for f in findings[:SHOWN]]
    more = f" and {len(findings) - SHOWN} more" if len(findings) > SHOWN else ""
    return "; ".join(shown) + more


def short(digest: str | None) -> str:
    if digest is None:
        return "no digest"
    return digest[:len(DIGEST_PREFIX) + SHORT_HEX] + "…"


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def binaries(report: ScanReport) -> str:
    return f"{binaries_count(report)} binary file(s) skipped"


def salt_hint(spec: SecretScan, report: ScanReport) -> str:
    """Why ``allow`` entries cannot match: without a fixed salt every run's digests differ."""
    if spec.allow and report.facts.get("salt") != SALT_ENV:
        return (f" (the 'allow' entries cannot match: {SALT_ENV} is not set, so digests "
                f"change with every run)")
    return ""


def observe(report: ScanReport, found: tuple[Finding, ...],
            allowed: tuple[Finding, ...]) -> dict[str, Any]:
    return {"findings": len(found), "secrets": [entry(f) for f in found[:LISTED]],
            "allowed": [entry(f) for f in allowed[:LISTED]],
            "scanned": len(report.scanned), "binary_skipped": binaries_count(report),
            "unscanned": [{"file": n, "why": w} for n, w in report.unscanned],
            "salt": report.facts.get("salt"), "tool_version": report.tool_version}


def binaries_count(report: ScanReport) -> int:
    return len(report.facts.get("binary_skipped", ()))


def entry(finding: Finding) -> dict[str, Any]:
    return {"type": finding.rule, "file": finding.file, "line": finding.line,
            "digest": finding.digest}


KIND = CheckKind(spec=SecretScan, evaluate=evaluate, needs=needs,
                 summary="No credentials in the text files of the version's model and run "
                         "(detect-secrets).", scanners=(NAME,))
