"""`gatekeeper probe`: the command-line adapter of :mod:`gatekeeper.probe.run`.

It turns flags into a :class:`~gatekeeper.probe.run.ProbeRequest` (a bad flag is one line
naming the flag, exit 2), calls :func:`~gatekeeper.probe.run.run_probe`, prints the summary and
returns the outcome's exit code. The probe's modules (aiohttp, matplotlib, MLflow) are imported
only when the command runs, so ``gatekeeper --help`` stays light.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from gatekeeper.errors import InvalidInputError, ValidationError

if TYPE_CHECKING:
    from gatekeeper.probe.requests_mix import RequestMix
    from gatekeeper.probe.run import ProbeRequest, ScheduleKind, ScheduleSpec, VersionLink

SECONDS = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
STEP = re.compile(r"^([^@]+)@(\d+(?:\.\d+)?)$")
RATED = ("fixed", "poisson", "ramp")
MIX_HINT = "docs/probe.md describes the request mix format"


class OneLineUsage(click.Command):
    """A bad or missing flag is one line naming it, without the usage text (still exit 2)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            # Without a context, click prints only "Error: <message>".
            raise click.UsageError(exc.format_message()) from None


def option(*names: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A click option that also reads GATEKEEPER_<OPTION> (CONTRACT.md)."""
    env = "GATEKEEPER_" + names[0].lstrip("-").replace("-", "_").upper()
    return click.option(*names, envvar=env, **kwargs)


OPTIONS = (
    option("--mix", type=click.Path(dir_okay=False, path_type=Path),
           help="JSONL request mix (see docs/probe.md)."),
    option("--endpoint", "endpoints", multiple=True, metavar="NAME[=PATH]",
           help="Instead of --mix: GET PATH (default /NAME) as endpoint type NAME; repeatable, "
           "equal weights."),
    option("--schedule", type=click.Choice(["fixed", "poisson", "ramp", "steps", "replay"]),
           default="fixed", show_default=True, help="Arrival schedule (open model)."),
    option("--rate", type=float, help="Requests/s (fixed, poisson; ramp start)."),
    option("--rate-to", type=float, help="Ramp: requests/s at the end."),
    option("--steps", metavar="DUR@RATE,...", help='Steps: phases, e.g. "30s@100,10s@800".'),
    option("--duration", default="30s", show_default=True, help="Run length, warm-up included."),
    option("--warmup", default="2s", show_default=True, help="Excluded from the results."),
    option("--timeout", default="5s", show_default=True, help="Per request."),
    option("--connections", type=click.IntRange(min=1), default=256, show_default=True,
           help="Connection pool size."),
    option("--max-requests", type=click.IntRange(min=1), default=100_000, show_default=True,
           help="Never send more than this."),
    option("--seed", type=int, default=0, show_default=True, help="Poisson gaps, mix choices."),
    option("--min-samples", type=click.IntRange(min=0), default=100, show_default=True,
           help="Fewer ok samples per endpoint type: evidence not usable (exit 1)."),
    option("--max-error-rate", type=click.FloatRange(0, 1),
           help="Higher error rate per endpoint type: evidence not usable (exit 1)."),
    option("--model", help="Log the results to MLflow against this registered model..."),
    option("--version", help="...version number,"),
    option("--alias", help="...or the version this alias points to."),
    option("--tracking-uri", metavar="URI", help="MLflow tracking/registry URI [default: "
           "MLFLOW_TRACKING_URI, else sqlite:///.gatekeeper/mlflow.db]"),
    option("--out", type=click.Path(file_okay=False, path_type=Path),
           help="Folder for result.json, latency.png, percentiles.png, report.html "
           "[default: .gatekeeper/probe/<UTC timestamp>/]"),
)


def probe_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for decorate in reversed(OPTIONS):
        command = decorate(command)
    return command


@click.command("probe", cls=OneLineUsage)
@click.argument("url")
@probe_options
def probe_command(url: str, **options: Any) -> int:
    """Drive URL with open-model load and record latency, throughput and errors as evidence.

    Exit codes: 0 measured, rate held, enough samples; 1 evidence not usable (rate not held,
    too few samples, too many errors); 2 bad flag or mix file; 3 target or MLflow unreachable.
    """
    from gatekeeper.probe.progress import progress_for
    from gatekeeper.probe.run import run_probe

    outcome = run_probe(build_request(url, options), progress_for(sys.stderr))
    for line in outcome.summary_lines():
        click.echo(line)
    return int(outcome.exit_code)


def build_request(url: str, o: dict[str, Any]) -> ProbeRequest:
    """The validated request the flags describe."""
    from gatekeeper.probe.engine import Limits
    from gatekeeper.probe.run import ProbeRequest

    mix, source = request_mix(o["mix"], o["endpoints"])
    plan = schedule_spec(o["schedule"], o["rate"], o["rate_to"], o["steps"],
                         parse_seconds(o["duration"], "--duration"), mix)
    warmup = parse_seconds(o["warmup"], "--warmup")
    if warmup >= plan.duration_s:
        raise InvalidInputError(f"--warmup: {warmup:g} s leaves nothing of a "
                                f"{plan.duration_s:g} s run to measure")
    limits = Limits(max_duration_s=plan.duration_s, max_requests=o["max_requests"],
                    timeout_s=positive_seconds(o["timeout"], "--timeout"),
                    connections=o["connections"])
    return ProbeRequest(url, mix, source, plan, warmup, limits, o["seed"], o["min_samples"],
                        o["out"] or default_out(), o["max_error_rate"],
                        version_link(o["model"], o["version"], o["alias"], o["tracking_uri"]))


def request_mix(path: Path | None, endpoints: Sequence[str]) -> tuple[RequestMix, str]:
    """The mix from ``--mix`` or ``--endpoint`` (exactly one of them)."""
    from gatekeeper.probe.requests_mix import load_mix

    if (path is None) == (not endpoints):
        raise InvalidInputError("give exactly one of --mix or --endpoint")
    if path is None:
        return endpoint_mix(endpoints), "--endpoint " + " ".join(endpoints)
    try:
        return load_mix(path), str(path)
    except ValidationError as exc:
        exc.hint = MIX_HINT
        raise


def endpoint_mix(specs: Sequence[str]) -> RequestMix:
    """One GET request per ``NAME[=PATH]``, equal weights."""
    from gatekeeper.probe.requests_mix import MixRequest, RequestMix

    requests = []
    for spec in specs:
        name, _, path = spec.partition("=")
        path = path or f"/{name}"
        if not name or not path.startswith("/") or path.startswith("//"):
            raise InvalidInputError(f"--endpoint: {spec!r} is not NAME or NAME=/PATH")
        requests.append(MixRequest(name, "GET", path, None))
    return RequestMix(tuple(requests))


def schedule_spec(kind: str, rate: float | None, rate_to: float | None, steps: str | None,
                  duration_s: float, mix: RequestMix) -> ScheduleSpec:
    """The schedule; each kind takes exactly the flags that mean something to it."""
    from gatekeeper.probe.run import ScheduleSpec

    refuse_flags(kind, rate=rate, rate_to=rate_to, steps=steps)
    if (kind == "replay") != mix.is_replay:
        raise InvalidInputError(
            "--schedule replay needs a mix whose lines have timestamps" if kind == "replay" else
            f"--schedule {kind}: the mix has timestamps; use --schedule replay")
    if kind == "steps":
        phases = parse_steps(steps or "")
        return ScheduleSpec("steps", sum(d for d, _ in phases), phases=phases)
    if kind == "replay":
        stamps = [r.timestamp or 0.0 for r in mix.requests]
        # Just past the last arrival, so the engine's duration bound keeps it.
        return ScheduleSpec("replay", max(stamps) - min(stamps) + 0.001)
    check_rates(kind, rate or 0.0, rate_to)
    return ScheduleSpec(cast("ScheduleKind", kind), duration_s, rate, rate_to)


def refuse_flags(kind: str, **given: object) -> None:
    """A flag the schedule needs is required; one it ignores is refused (no silent no-op)."""
    wanted = {"rate": kind in RATED, "rate_to": kind == "ramp", "steps": kind == "steps"}
    for name, needed in wanted.items():
        flag = "--" + name.replace("_", "-")
        if needed and given[name] is None:
            raise InvalidInputError(f"{flag} is required with --schedule {kind}")
        if not needed and given[name] is not None:
            raise InvalidInputError(f"{flag} has no meaning with --schedule {kind}")


def check_rates(kind: str, rate: float, rate_to: float | None) -> None:
    if rate_to is None:
        if not (rate > 0 and math.isfinite(rate)):
            raise InvalidInputError(f"--rate: must be a positive number, got {rate:g}")
    elif not (0 <= rate < math.inf and 0 <= rate_to < math.inf and rate + rate_to > 0):
        raise InvalidInputError(f"--rate, --rate-to: a {kind}'s rates must be finite, >= 0 "
                                "and not both 0")


def parse_steps(text: str) -> tuple[tuple[float, float], ...]:
    """``30s@100,10s@800`` → ``((30.0, 100.0), (10.0, 800.0))``."""
    phases = []
    for part in text.split(","):
        match = STEP.match(part.strip())
        if not match:
            raise InvalidInputError(f"--steps: {part.strip()!r} is not DURATION@RATE, "
                                    'e.g. "30s@100,10s@800"')
        phases.append((positive_seconds(match[1], "--steps"), float(match[2])))
    if not any(rate > 0 for _, rate in phases):
        raise InvalidInputError("--steps: at least one phase needs a rate above 0")
    return tuple(phases)


def parse_seconds(text: str, flag: str) -> float:
    """``500ms``, ``30s``, ``2m``, ``1h`` or plain seconds."""
    match = SECONDS.match(text.strip())
    if not match:
        raise InvalidInputError(f"{flag}: {text!r} is not a duration like 500ms, 30s or 2m")
    return float(match[1]) * UNIT_S[match[2]]


def positive_seconds(text: str, flag: str) -> float:
    seconds = parse_seconds(text, flag)
    if seconds <= 0:
        raise InvalidInputError(f"{flag}: {text!r} must be longer than 0")
    return seconds


def version_link(model: str | None, version: str | None, alias: str | None,
                 tracking_uri: str | None) -> VersionLink | None:
    """Where to log the results: None without --model."""
    from gatekeeper.mlflow_env import default_tracking_uri
    from gatekeeper.probe.run import VersionLink

    if model is None:
        if version is not None or alias is not None:
            raise InvalidInputError("--version and --alias need --model")
        return None
    if (version is None) == (alias is None):
        raise InvalidInputError("with --model, give exactly one of --version or --alias")
    return VersionLink(tracking_uri or default_tracking_uri(), model, version, alias)


def default_out() -> Path:
    return Path(".gatekeeper") / "probe" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
