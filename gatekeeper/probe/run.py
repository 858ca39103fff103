"""One ``gatekeeper probe``: check the target and the version first, drive the load, judge the
evidence, write the result files, and log them to MLflow against the model version.

:func:`run_probe` is the domain function the CLI calls; it returns a frozen
:class:`ProbeOutcome` that owns the exit code and the text summary (the CLI prints it).
Order matters: everything that can fail cheaply (URL, mix, registry, reachability) fails before
any load is sent, and the result files are written before MLflow is asked to store them, so an
MLflow failure never loses a measurement.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from gatekeeper.errors import ExitCode, InfrastructureError, InvalidInputError
from gatekeeper.probe import schedule
from gatekeeper.probe.engine import Engine, Limits, RunRecord, StatusClass, run_engine_loop
from gatekeeper.probe.mlflow_log import (
    LoggedRun,
    Target,
    check_endpoint_names,
    log_probe,
    probe_metrics,
    resolve_target,
)
from gatekeeper.probe.modes import (
    CapacitySpec,
    ImportSpec,
    Measured,
    read_import,
    run_cache_proof,
    run_engine,
    search_capacity,
)
from gatekeeper.probe.progress import Progress, Watch
from gatekeeper.probe.report import EndpointReport, HoldPolicy, ProbeReport, build_report
from gatekeeper.probe.requests_mix import Planned, RequestMix
from gatekeeper.render.probe import (
    Timeline,
    build_timeline,
    format_ms,
    has_histogram,
    has_timeline,
    latency_png,
    percentiles_png,
    report_html,
)

ScheduleKind = Literal["fixed", "poisson", "ramp", "steps", "replay"]
RESULT_SCHEMA = "gatekeeper.probe/v1"
FILES = ("result.json", "latency.png", "percentiles.png", "report.html")
CONNECT_TIMEOUT_S = 5.0


class TargetUnreachableError(InfrastructureError):
    """The probe's target did not accept a connection at the start: nothing measured (exit 3)."""


@dataclass(frozen=True)
class ScheduleSpec:
    """When requests are meant to be sent. ``phases`` are ``(duration_s, rate)`` for steps."""

    kind: ScheduleKind
    duration_s: float
    rate: float | None = None
    rate_to: float | None = None
    phases: tuple[tuple[float, float], ...] = ()

    def plan(self, mix: RequestMix, seed: int) -> Iterator[Planned]:
        """The requests of the run paired with their intended send offsets."""
        if self.kind == "replay":
            return mix.replay_plan()
        return mix.plan(self.offsets(seed), seed)

    def offsets(self, seed: int) -> Iterator[float]:
        rate = self.rate or 0.0
        match self.kind:
            case "fixed":
                return schedule.fixed_rate(rate, self.duration_s)
            case "poisson":
                return schedule.poisson(rate, self.duration_s, seed)
            case "ramp":
                return schedule.ramp(rate, self.rate_to or 0.0, self.duration_s)
            case "steps":
                return schedule.steps(self.phases)
            case "replay":
                raise ValueError("replay takes its offsets from the mix")

    def describe(self) -> str:
        """``fixed 200/s for 10 s``, ``ramp 100/s to 800/s for 30 s``, ..."""
        span = f"for {self.duration_s:g} s"
        match self.kind:
            case "ramp":
                return f"ramp {self.rate:g}/s to {self.rate_to:g}/s {span}"
            case "steps":
                return "steps " + ", ".join(f"{d:g} s at {r:g}/s" for d, r in self.phases)
            case "replay":
                return f"replay of recorded arrivals ({span})"
            case _:
                return f"{self.kind} {self.rate:g}/s {span}"


@dataclass(frozen=True)
class VersionLink:
    """The model version to log the evidence against (``--model`` with a version or alias)."""

    tracking_uri: str
    model: str
    version: str | None
    alias: str | None


@dataclass(frozen=True)
class ProbeRequest:
    """Everything one probe run needs, validated by the CLI except the URL."""

    url: str
    mix: RequestMix
    mix_source: str  # the mix file, or the --endpoint flags
    schedule: ScheduleSpec
    warmup_s: float
    limits: Limits
    seed: int
    min_samples: int
    out_dir: Path
    max_error_rate: float | None = None
    link: VersionLink | None = None
    engine: str = "builtin"  # a name of ENGINES
    workers: int = 1  # engine processes (Locust's workers)
    capacity: CapacitySpec | None = None  # --find-capacity
    cache_proof: CapacitySpec | None = None  # --cache-proof
    imported: ImportSpec | None = None  # --import-k6 / --import-locust: nothing is sent

    def describe(self) -> str:
        """What was done: the schedule, or the search, or the imported file."""
        if self.imported is not None:
            return self.imported.describe()
        if self.capacity is not None:
            return (f"capacity search from {self.schedule.rate:g}/s, steps of "
                    f"{self.schedule.duration_s:g} s, p99 SLO {self.capacity.slo_p99_ms:g} ms")
        if self.cache_proof is not None:
            return (f"cache proof: replay at {self.schedule.rate:g}/s, then capacity searches, "
                    f"p99 SLO {self.cache_proof.slo_p99_ms:g} ms")
        engine = "" if self.engine == "builtin" else f" on {self.engine} ({self.workers} workers)"
        return self.schedule.describe() + engine


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
        r = self.request
        return {"schedule": r.describe(), "mix": r.mix_source, "seed": r.seed,
                "warmup_s": r.warmup_s, "duration_s": r.schedule.duration_s,
                "timeout_s": r.limits.timeout_s, "connections": r.limits.connections,
                "max_requests": r.limits.max_requests, "min_samples": r.min_samples,
                "max_error_rate": r.max_error_rate, "engine": r.engine, "workers": r.workers}

    def summary_lines(self) -> list[str]:
        """The text summary: one line per endpoint type, then the verdict and where things are."""
        r = self.request
        measured = sum(e.requests for e in self.report.endpoints)
        lines = [f"probe {r.url}: {r.describe()}, warm-up {r.warmup_s:g} s excluded, "
                 f"{measured:,} requests measured", *self.lines]
        width = max((len(e.endpoint) for e in self.report.endpoints), default=0)
        lines += ["  " + endpoint_line(e, width) for e in self.report.endpoints]
        lines.append(f"percentiles: {self.report.percentile_method}")
        lines += (["evidence: usable"] if not self.problems else
                  ["evidence: NOT usable (exit 1):", *(f"  {p}" for p in self.problems)])
        if self.files:
            lines.append(f"wrote {self.files[0].parent}/: " + ", ".join(f.name for f in self.files))
        if self.logged:
            lines.append(f"mlflow: run {self.logged.run_id} (experiment "
                         f"{self.logged.experiment_id}); {self.logged.model} version "
                         f"{self.logged.version} tagged gatekeeper.probe.run_id")
        return lines


def endpoint_line(e: EndpointReport, width: int) -> str:
    """``predict  p50 0.71 ms  p95 ... | 200.0/s of 200.0/s | errors 0`` (+ NOT held)."""
    lat = e.latency
    marks = "  ".join(f"{name} {format_ms(value * 1000)}" for name, value in (
        ("p50", lat.p50), ("p95", lat.p95), ("p99", lat.p99), ("p99.9", lat.p99_9),
        ("max", lat.max)))
    line = (f"{e.endpoint:<{width}}  {marks} ms | {e.achieved_rps:,.1f}/s of "
            f"{e.target_rps:,.1f}/s | {error_text(e.errors, e.requests)} | n={e.samples:,}")
    return line if e.held_target_rate else f"{line} | target rate NOT held"


def error_text(errors: dict[str, int], requests: int) -> str:
    """``errors 0`` or ``errors 2.5% (timeout 2.0%, 5xx 0.5%)``."""
    total = sum(errors.values())
    if not total or not requests:
        return "errors 0"
    classes = ", ".join(f"{k} {v / requests:.1%}" for k, v in errors.items() if v)
    return f"errors {total / requests:.1%} ({classes})"


def run_probe(request: ProbeRequest, progress: Progress) -> ProbeOutcome:
    """Probe ``request.url`` (or read the imported file); write the result files; log them
    when a version is linked."""
    sends = request.imported is None
    if sends:
        check_url(request.url)
    target = resolve_link(request)
    if sends:
        check_reachable(request.url)
    started = utcnow()
    measured = measure(request, progress)
    if target is not None and not sends:
        check_endpoint_names([e.endpoint for e in measured.report.endpoints], request.url)
    outcome = judge(request, measured, started, utcnow())
    outcome = replace(outcome, files=write_files(outcome))
    if target is not None:
        logged = log_probe(target, outcome.metrics, params(outcome), request.url, outcome.files)
        outcome = replace(outcome, logged=logged)
        write_result(outcome)  # again, now naming the MLflow run
    return outcome


def check_url(url: str) -> None:
    """Only plain http(s) URLs to a host: the probe contacts nothing else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError(f"URL: {url!r} is not an http:// or https:// URL",
                                hint="the probe only sends HTTP requests to the URL it is given")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInputError(f"URL: {url!r} has a query, fragment or credentials",
                                hint="give scheme, host, port and an optional base path")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise InvalidInputError(f"URL: {url!r}: {exc}") from None


def resolve_link(request: ProbeRequest) -> Target | None:
    """The MLflow version to log against, resolved before any load (exit 2 or 3 if not)."""
    link = request.link
    if link is None:
        return None
    check_endpoint_names([r.endpoint for r in request.mix.requests], request.mix_source)
    return resolve_target(link.tracking_uri, link.model, link.version, link.alias)


def check_reachable(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Open (and close) one TCP connection to the target's host and port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=timeout_s).close()
    except OSError as exc:
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else str(exc)
        raise TargetUnreachableError(
            f"cannot reach the probe target {url}: {reason}",
            hint="start the server first, or check the URL; nothing was measured") from None


def measure(request: ProbeRequest, progress: Progress) -> Measured:
    """Whatever the request asks for: an import, a search, a cache proof or one run."""
    r = request
    rate = r.schedule.rate or 0.0
    if r.imported is not None:
        return read_import(r.imported, r.url)
    if r.capacity is not None:
        return search_capacity(r.url, r.mix, r.capacity, rate, r.schedule.duration_s,
                               r.warmup_s, r.limits, r.seed, progress.step)
    if r.cache_proof is not None:
        return run_cache_proof(r.url, r.mix, r.cache_proof, rate, r.schedule.duration_s,
                               r.warmup_s, r.limits, r.seed, progress.step)
    if r.engine != "builtin":
        return run_engine(r.engine, r.url, r.schedule.plan(r.mix, r.seed), r.limits,
                          r.warmup_s, r.workers)
    record = drive(r, progress)
    return Measured(build_report(record, HoldPolicy(warmup_s=r.warmup_s)),
                    build_timeline(record.samples, r.warmup_s),
                    mean_response_bytes(record, r.warmup_s))


def drive(request: ProbeRequest, progress: Progress) -> RunRecord:
    """Send the plan with the engine while ``progress`` shows how far it got."""
    engine = Engine(request.url.rstrip("/"), request.limits)
    watch = Watch(progress, request.schedule.duration_s)
    plan = watch.count(request.schedule.plan(request.mix, request.seed))
    planned = run_engine_loop(send_watched(engine, plan, watch), request.limits.connections)
    watch.finish(engine.samples)
    return RunRecord(engine.url, tuple(engine.samples), planned)


async def send_watched(engine: Engine, plan: Iterator[Planned], watch: Watch) -> int:
    ticker = asyncio.create_task(watch.tick(engine.samples))
    try:
        return await engine.run(plan)
    finally:
        ticker.cancel()


def judge(request: ProbeRequest, measured: Measured, started: str, finished: str
          ) -> ProbeOutcome:
    """The outcome: the report, why the evidence is not usable (if it is not), the metrics."""
    report = measured.report
    metrics = {**probe_metrics(report, measured.response_bytes), **measured.metrics}
    return ProbeOutcome(request, report, measured.timeline, measured.response_bytes,
                        problems(report, request) + measured.problems, started, finished,
                        metrics=metrics, lines=measured.lines, details=measured.details)


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


def mean_response_bytes(record: RunRecord, warmup_s: float) -> float:
    """Mean body size of the measured ``ok`` answers (0 when there were none)."""
    sizes = [s.response_bytes for s in record.samples
             if s.intended_s >= warmup_s and s.status is StatusClass.OK]
    return sum(sizes) / len(sizes) if sizes else 0.0


def params(outcome: ProbeOutcome) -> dict[str, str]:
    """The probe's settings as MLflow params."""
    return {f"probe.{k}": "" if v is None else str(v) for k, v in outcome.settings().items()}


def write_files(outcome: ProbeOutcome) -> tuple[Path, ...]:
    """result.json, the pictures there is something to draw for, and the HTML page."""
    folder = outcome.request.out_dir
    folder.mkdir(parents=True, exist_ok=True)
    latency = latency_png(outcome.report) if has_histogram(outcome.report) else None
    percentiles = (percentiles_png(outcome.timeline, outcome.report)
                   if has_timeline(outcome.timeline) else None)
    pictures = {"latency.png": latency, "percentiles.png": percentiles}
    for name, png in pictures.items():
        if png is not None:
            (folder / name).write_bytes(png)
    page = report_html(outcome.report, facts(outcome), outcome.problems, latency, percentiles)
    (folder / "report.html").write_text(page, encoding="utf-8")
    write_result(outcome)
    return tuple(folder / name for name in FILES if pictures.get(name, b"") is not None)


def write_result(outcome: ProbeOutcome) -> None:
    path = outcome.request.out_dir / "result.json"
    data = json_safe(outcome.to_dict())
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def json_safe(value: Any) -> Any:
    """``value`` with NaN (a percentile of no samples) as null: strict JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def facts(outcome: ProbeOutcome) -> Sequence[tuple[str, str]]:
    """The header rows of the HTML page."""
    r = outcome.request
    return [("target", r.url), ("schedule", r.describe()),
            ("warm-up excluded", f"{r.warmup_s:g} s"), ("request mix", r.mix_source),
            ("started", outcome.started_at), ("finished", outcome.finished_at),
            ("held target rate", "yes" if outcome.report.held_target_rate else "NO")]


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
