"""One ``gatekeeper probe``: check the target and the version first, measure through the mode
registry, judge the evidence, hand the outcome to the caller's sink (which writes the files),
and log those files to MLflow against the model version.

:func:`run_probe` is the domain function the CLI calls; it returns a frozen
:class:`ProbeOutcome` that owns the exit code. It writes nothing itself: the CLI renders the
outcome (``gatekeeper.render.probe``) and writes the files and the summary.
Order matters: everything that can fail cheaply (URL, mix, registry, reachability) fails before
any load is sent, and the sink runs before MLflow is asked to store the files, so an MLflow
failure never loses a measurement.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gatekeeper.errors import ExitCode, InfrastructureError
from gatekeeper.evidence.interface import (
    CACHE_PROOF_PROFILE,
    CAPACITY_PROFILE,
    PROBE_USABLE_METRIC,
    STEADY_PROFILE,
)
from gatekeeper.probe.exchange import reach
from gatekeeper.probe.llm.cache_proof import LlmCacheProof
from gatekeeper.probe.llm.cache_proof import conclude as conclude_cache_proof
from gatekeeper.probe.mlflow_log import (
    LoggedRun,
    Logging,
    Target,
    check_endpoint_names,
    log_probe,
    probe_metrics,
    resolve_target,
)
from gatekeeper.probe.modes import Measured, ModeRequest, measure
from gatekeeper.probe.progress import Progress
from gatekeeper.probe.report import ProbeReport
from gatekeeper.probe.server_metrics.attach import Watch, attach_server, open_watch
from gatekeeper.probe.timeline import Timeline
from gatekeeper.probe.urls import check_url, redact_url

RESULT_SCHEMA = "gatekeeper.probe/v1"
CONNECT_TIMEOUT_S = 5.0
#: The profile a run is logged under when ``--profile`` is not given, by mode.
MODE_PROFILES = {"run": STEADY_PROFILE, "import": STEADY_PROFILE,
                 "capacity": CAPACITY_PROFILE, "cache_proof": CACHE_PROOF_PROFILE,
                 "llm": STEADY_PROFILE, "llm_capacity": CAPACITY_PROFILE,
                 "llm_cache_proof": CACHE_PROOF_PROFILE}


class TargetUnreachableError(InfrastructureError):
    """The probe's target did not accept a connection at the start: nothing measured (exit 3)."""


@dataclass(frozen=True)
class VersionLink:
    """The model version to log the evidence against (``--model`` with a version or alias)."""

    tracking_uri: str
    model: str
    version: str | None
    alias: str | None


@dataclass(frozen=True)
class ProbeRequest:
    """Everything one probe needs: the target, the mode's own request, and how to judge.

    ``url`` is checked by :func:`run_probe` (modes that send) and shown redacted everywhere."""

    url: str
    mode: ModeRequest
    min_samples: int
    max_error_rate: float | None = None
    link: VersionLink | None = None
    profile: str | None = None  # None: the mode's own (MODE_PROFILES)
    server_metrics: str | None = None  # the server's /metrics, scraped around the run

    @property
    def run_profile(self) -> str:
        """The profile the run is logged and linked under."""
        return self.profile or MODE_PROFILES[self.mode.mode]

    @property
    def shown_url(self) -> str:
        """The URL as printed and written: credentials masked."""
        return redact_url(self.url)

    def describe(self) -> str:
        """What was done: the schedule, or the search, or the imported file."""
        return self.mode.describe()


@dataclass(frozen=True)
class ProbeOutcome:
    """What a probe measured, whether it is usable evidence, and where it went."""

    request: ProbeRequest
    report: ProbeReport
    timeline: Timeline
    response_bytes: float
    problems: tuple[str, ...]
    started_at: str
    finished_at: str
    files: tuple[Path, ...] = ()
    logged: LoggedRun | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)  # as logged to MLflow
    lines: tuple[str, ...] = ()  # the mode's own summary lines (capacity steps, ...)
    details: Mapping[str, Any] = field(default_factory=dict)  # the mode's own result.json keys

    @property
    def exit_code(self) -> ExitCode:
        """0 when the run held its rate with enough samples (and errors allowed); else 1."""
        return ExitCode.BLOCKED if self.problems else ExitCode.PASSED

    def to_dict(self) -> dict[str, Any]:
        """result.json: the report (raw histograms included, so runs can be merged) and more."""
        return {"schema": RESULT_SCHEMA, **self.report.to_dict(), "usable": not self.problems,
                "problems": list(self.problems), "exit_code": int(self.exit_code),
                "started_at": self.started_at, "finished_at": self.finished_at,
                "settings": self.settings(), "response_bytes": self.response_bytes,
                "metrics": dict(self.metrics), "timeline": self.timeline.to_dict(),
                "mlflow": self.logged.to_dict() if self.logged else None, **self.details}

    def settings(self) -> dict[str, Any]:
        """How the run was made (result.json, and MLflow params)."""
        r, mode = self.request, self.request.mode
        s = mode.sending
        return {"schedule": r.describe(), "mix": s.mix_source, "seed": s.seed,
                "warmup_s": s.warmup_s, "duration_s": s.schedule.duration_s,
                "timeout_s": s.limits.timeout_s, "connections": s.limits.connections,
                "max_requests": s.limits.max_requests, "min_samples": r.min_samples,
                "max_error_rate": r.max_error_rate, "engine": mode.engine,
                "workers": mode.workers, "profile": r.run_profile}


#: Writes an outcome's files (the CLI's job) and returns their paths, for MLflow to store.
Sink = Callable[[ProbeOutcome], tuple[Path, ...]]


def run_probe(request: ProbeRequest, progress: Progress, sink: Sink) -> ProbeOutcome:
    """Probe ``request.url`` (or read the imported file); ``sink`` writes the result files;
    then they are logged when a version is linked."""
    sends = request.mode.sends
    if sends:
        check_url(request.url)
    target = resolve_link(request)
    if sends:
        check_reachable(request.url)
    started = utcnow()
    watch = watch_server(request.server_metrics)
    try:
        measured = measure(request.mode, request.url if sends else request.shown_url, progress)
    finally:
        if watch is not None:
            watch.halt()
    if watch is not None:
        measured = attach_server(measured, watch)
    if isinstance(request.mode, LlmCacheProof):  # its verdict needs the server's window
        measured = conclude_cache_proof(request.mode, measured, watch is not None)
    if target is not None and not sends:
        check_endpoint_names([e.endpoint for e in measured.report.endpoints],
                             request.shown_url)
    outcome = judge(request, measured, started, utcnow())
    outcome = replace(outcome, files=sink(outcome))
    if target is not None:
        logged = log_probe(target, outcome.metrics, Logging(
            request.run_profile, not outcome.problems, params(outcome), request.shown_url,
            outcome.files))
        outcome = replace(outcome, logged=logged)
    return outcome


def watch_server(source: str | None) -> Watch | None:
    """Start reading the server's metrics (``--server-metrics``); None without a source."""
    return open_watch(source) if source is not None else None


def resolve_link(request: ProbeRequest) -> Target | None:
    """The MLflow version to log against, resolved before any load (exit 2 or 3 if not)."""
    link = request.link
    if link is None:
        return None
    sending = request.mode.sending
    check_endpoint_names([r.endpoint for r in sending.mix.requests], sending.mix_source)
    return resolve_target(link.tracking_uri, link.model, link.version, link.alias)


def check_reachable(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """One TCP connection to the target's host and port proves it is up."""
    try:
        reach(url, timeout_s)
    except OSError as exc:
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc)
        raise TargetUnreachableError(
            f"cannot reach the probe target {redact_url(url)}: {reason}",
            hint="start the server first, or check the URL; nothing was measured") from None


def judge(request: ProbeRequest, measured: Measured, started: str, finished: str
          ) -> ProbeOutcome:
    """The outcome: the report, why the evidence is not usable (if it is not), the metrics."""
    report = measured.report
    found = problems(report, request) + measured.problems
    metrics = {**probe_metrics(report, measured.response_bytes), **measured.metrics,
               PROBE_USABLE_METRIC: 0.0 if found else 1.0}
    return ProbeOutcome(request, report, measured.timeline, measured.response_bytes,
                        found, started, finished, metrics=metrics, lines=measured.lines,
                        details=measured.details)


def problems(report: ProbeReport, request: ProbeRequest) -> tuple[str, ...]:
    """Why this run is no evidence: rate not held, too few samples, too many errors."""
    if not report.endpoints:
        return ("no requests were sent after the warm-up",)
    found: list[str] = []
    for e in report.endpoints:
        if not e.held_target_rate:
            found.append(f"{e.endpoint}: target rate NOT held ({e.lagging_share:.0%} of "
                         f"requests sent over 10 ms late; sent {e.achieved_rps:,.1f}/s of "
                         f"{e.target_rps:,.1f}/s)")
        if e.samples < request.min_samples:
            found.append(f"{e.endpoint}: {e.samples:,} ok samples < --min-samples "
                         f"{request.min_samples:,}")
        if request.max_error_rate is not None and e.error_rate > request.max_error_rate:
            found.append(f"{e.endpoint}: error rate {e.error_rate:.2%} > --max-error-rate "
                         f"{request.max_error_rate:.2%}")
    return tuple(found)


def params(outcome: ProbeOutcome) -> dict[str, str]:
    """The probe's settings as MLflow params, and the workload's fingerprint (LLM runs) as
    ``probe.workload.*``."""
    workload = outcome.details.get("workload") or {}
    return {**{f"probe.{k}": "" if v is None else str(v) for k, v in outcome.settings().items()},
            **{f"probe.workload.{k}": v if isinstance(v, str) else json.dumps(v, sort_keys=True)
               for k, v in workload.items()}}


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
