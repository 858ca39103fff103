"""`gatekeeper probe`: the command-line adapter of :mod:`gatekeeper.probe.run`.

It turns flags into a :class:`~gatekeeper.probe.run.ProbeRequest` holding the request type of
the chosen mode (a bad flag is one line naming the flag, exit 2), calls
:func:`~gatekeeper.probe.run.run_probe` with a sink that writes the rendered files into
``--out`` (atomically, before MLflow stores them), prints the rendered summary and returns the
outcome's exit code. The probe's modules (aiohttp, matplotlib, MLflow) are imported
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
from click.core import ParameterSource

from gatekeeper.cli.options import option
from gatekeeper.common.durations import parse_seconds, positive_seconds
from gatekeeper.common.files import write_atomic
from gatekeeper.errors import InvalidInputError, ValidationError

if TYPE_CHECKING:
    from gatekeeper.load.costmodel import CostModel
    from gatekeeper.load.sla import Sla
    from gatekeeper.probe.importers import ImportKind
    from gatekeeper.probe.llm.metrics import Slo
    from gatekeeper.probe.llm.mode import LlmRun
    from gatekeeper.probe.modes import ImportRun, ModeRequest, SearchBounds, Sending
    from gatekeeper.probe.requests_mix import MixRequest, RequestMix
    from gatekeeper.probe.run import ProbeOutcome, ProbeRequest, VersionLink
    from gatekeeper.probe.schedule import ScheduleKind, ScheduleSpec
    from gatekeeper.render.probe import Objectives

STEP = re.compile(r"^([^@]+)@(\d+(?:\.\d+)?)$")
# NAME, NAME=/PATH or NAME=METHOD:/PATH; a path may itself hold ':' (it starts with '/').
ENDPOINT = re.compile(r"^(?P<name>[^=]+)(?:=(?:(?P<method>[A-Za-z]+):)?(?P<path>.*))?$")
RATED = ("fixed", "poisson", "ramp")
MIX_HINT = "docs/probe.md describes the request mix format"


OPTIONS = (
    option("--mix", type=click.Path(dir_okay=False, path_type=Path),
           help="JSONL request mix (see docs/probe.md)."),
    option("--endpoint", "endpoints", multiple=True, metavar="NAME[=[METHOD:]PATH]",
           help="Instead of --mix: METHOD (default GET) PATH (default /NAME) as endpoint type "
           "NAME, e.g. predict=POST:/v1/predict; repeatable, equal weights."),
    option("--body", type=click.Path(dir_okay=False, path_type=Path),
           help="With --endpoint: the body of its POST, PUT and PATCH requests, sent as the "
           "file's bytes (application/json when it is JSON, else application/octet-stream)."),
    option("--schedule", type=click.Choice(["fixed", "poisson", "ramp", "steps", "replay"]),
           default="fixed", show_default=True, help="Arrival schedule (open model)."),
    option("--rate", type=float, help="Requests/s (fixed, poisson; ramp start; replay: "
           "time-scales the trace to this mean rate)."),
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
    option("--engine", type=click.Choice(["builtin", "locust"]), default="builtin",
           show_default=True, help="What sends the load (locust: its distributed mode)."),
    option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
           help="--engine locust: worker processes."),
    option("--find-capacity", is_flag=True, help="Search for the highest fixed rate whose P99 "
           "meets --slo-p99-ms, from --rate, in steps of --duration."),
    option("--cache-proof", is_flag=True, help="Hit ratio, capacity and cost per 1,000 with "
           "and without the cache in front of URL (replay at --rate for --duration); with "
           "--api: prefix-cache hit ratio by usage and by --server-metrics, and "
           "--semantic-pairs (docs/llm.md)."),
    option("--slo-p99-ms", type=float, help="--find-capacity, --cache-proof: the P99 SLO; "
           "any run: drawn on the pictures and page."),
    option("--slo-p95-ms", type=float, help="The P95 SLO drawn on the pictures and page."),
    option("--max-rate", type=float, help="--find-capacity, --cache-proof: never above this."),
    option("--max-steps", type=click.IntRange(min=1),
           help="--find-capacity, --cache-proof: at most this many steps [default: 8]"),
    option("--cost-model", type=click.Path(dir_okay=False, path_type=Path),
           help="YAML cost model (a playbook's cost_model keys) for cost at SLO."),
    option("--playbook", type=click.Path(dir_okay=False, path_type=Path),
           help="The playbook whose sla sets --rate, --slo-p99-ms, --max-rate and --max-steps "
           "(flags given win), and whose cost_model prices the capacity."),
    option("--milestone", help="--playbook: the milestone whose sla applies [default: the "
           "playbook's top-level sla]"),
    option("--profile", help="Log and link the run under this profile [default: "
           "'capacity' for --find-capacity, 'cache-proof' for --cache-proof, else 'steady']"),
    option("--redis-url", help="--cache-proof: the cache's Redis, for its own hit statistics."),
    option("--server-metrics", metavar="URL", help="The server's Prometheus /metrics page "
           "(vLLM, TGI, Triton, DCGM), scraped before, every second during, and after the run, "
           "or prometheus+URL[#SELECTOR] to ask a Prometheus over the run's window: its TTFT "
           "beside the client's, queue, KV cache, GPU (see docs/llm.md)."),
    option("--api", type=click.Choice(["http", "openai-chat", "openai-completions",
                                       "kserve-v2"]), default="http", show_default=True,
           help="What --mix holds: plain HTTP requests, or LLM prompts sent and timed as "
           "streams of this API (docs/llm.md)."),
    option("--slo-ttft-ms", type=float,
           help="--api: goodput counts a request only with TTFT at or below this."),
    option("--slo-tpot-ms", type=float,
           help="--api: goodput counts a request only with TPOT at or below this."),
    option("--slo-e2e-ms", type=float,
           help="--api: goodput counts a request only with E2E latency at or below this."),
    option("--semantic-pairs", type=click.Path(dir_okay=False, path_type=Path),
           help="--api with --cache-proof: a JSONL file of labelled paraphrase pairs, for the "
           "semantic cache's hit rate and hit precision (docs/llm.md)."),
    option("--min-goodput-share", type=float,
           help="--api with --find-capacity: the share of a step's requests that must meet "
           "every SLO for the step to pass [default: 0.99]"),
    option("--import-k6", type=click.Path(dir_okay=False, path_type=Path),
           help="Send nothing: read this k6 summary JSON as the probe's results."),
    option("--import-locust", metavar="PREFIX", type=click.Path(path_type=Path),
           help="Send nothing: read PREFIX_stats.csv (and _failures.csv) of Locust."),
    option("--import-llm", metavar="TOOL=FILE", help="Send nothing: read an LLM benchmark's "
           "results, TOOL one of aiperf (also GenAI-Perf), guidellm, vllm-bench, "
           "inference-perf (docs/llm.md)."),
    option("--target-rps", type=float,
           help="--import-k6, --import-locust, --import-llm: the rate the run was meant to "
           "hold (default for --import-llm: the rate the tool states)."),
)
# Flags that shape sending load: meaningless when a file is imported.
SENDING = ("mix", "endpoints", "body", "schedule", "rate", "rate_to", "steps", "duration", "warmup",
           "timeout", "connections", "max_requests", "seed", "engine", "workers")
SEARCH = ("slo_p99_ms", "max_rate", "max_steps", "cost_model")
# SLO flags that any run accepts: the pictures and page draw them.
PICTURED = ("slo_p95_ms", "slo_p99_ms")
# Flags of LLM runs (--api); the SLOs only mean something with an LLM api.
LLM = ("api", "slo_ttft_ms", "slo_tpot_ms", "slo_e2e_ms", "min_goodput_share",
       "semantic_pairs")
LLM_HINT = "docs/llm.md describes the LLM mix format"
PROFILE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def probe_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for decorate in reversed(OPTIONS):
        command = decorate(command)
    return command


@click.command("probe")
@click.argument("url", required=False)
@probe_options
@click.pass_context
def probe_command(ctx: click.Context, /, url: str | None, **options: Any) -> int:
    """Drive URL with open-model load and record latency, throughput and errors as evidence.

    With --import-k6 or --import-locust nothing is sent: the file becomes the results (URL,
    optional, only labels them).

    Exit codes: 0 measured, rate held, enough samples; 1 evidence not usable (rate not held,
    too few samples, too many errors); 2 bad flag or mix file; 3 target or MLflow unreachable.
    """
    from gatekeeper.probe.progress import progress_for
    from gatekeeper.probe.run import run_probe
    from gatekeeper.render.probe import result_json, summary_lines

    given = frozenset(name for name in options
                      if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT)
    request = build_request(url, options, given)
    out = options["out"] or default_out()
    objectives = flag_objectives(options)
    outcome = run_probe(request, progress_for(sys.stderr),
                        lambda done: write_files(done, out, objectives))
    if outcome.logged:  # again, now naming the MLflow run
        write_atomic(out / "result.json", result_json(outcome).encode())
    for line in summary_lines(outcome):
        click.echo(line)
    return int(outcome.exit_code)


def flag_objectives(o: dict[str, Any]) -> Objectives:
    """The SLOs of ``--slo-p95-ms`` and ``--slo-p99-ms``, for the pictures and page."""
    from gatekeeper.render.probe import slo_objectives

    for name in PICTURED:
        value = o[name]
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise InvalidInputError(f"{flag(name)}: must be a positive number, got {value:g}")
    return slo_objectives(o["slo_p95_ms"], o["slo_p99_ms"])


def write_files(outcome: ProbeOutcome, folder: Path, objectives: Objectives | None = None
                ) -> tuple[Path, ...]:
    """Every rendered file of ``outcome`` into ``folder`` (the pictures and page drawing
    ``objectives``); their paths, in order."""
    from gatekeeper.render.probe import NONE, render_files

    written = []
    for name, data in render_files(outcome, objectives or NONE).items():
        write_atomic(folder / name, data)
        written.append(folder / name)
    return tuple(written)


def build_request(url: str | None, o: dict[str, Any], given: frozenset[str] = frozenset()
                  ) -> ProbeRequest:
    """The validated request the flags describe (``given``: the flags set, not defaulted)."""
    from gatekeeper.probe.run import ProbeRequest

    imported = import_run(o, given)
    link = version_link(o["model"], o["version"], o["alias"], o["tracking_uri"])
    profile = run_profile(o["profile"])
    if imported is not None:
        return ProbeRequest(url or str(imported.path), imported, o["min_samples"],
                            o["max_error_rate"], link, profile)
    if url is None:
        raise InvalidInputError("URL is required, unless --import-k6 or --import-locust")
    return ProbeRequest(url, sending_mode(with_sla(o), given), o["min_samples"],
                        o["max_error_rate"], link, profile, o["server_metrics"])


def run_profile(profile: str | None) -> str | None:
    """``--profile``, checked: it becomes part of a version tag's name."""
    if profile is not None and not PROFILE.match(profile):
        raise InvalidInputError(f"--profile: {profile!r} is not a profile name (lower-case "
                                "letters, digits, '-' and '_')")
    return profile


def with_sla(o: dict[str, Any]) -> dict[str, Any]:
    """The options, with what ``--playbook``'s SLA sets filled in where no flag was given
    (the rate only for a fixed or Poisson schedule; the SLO and bounds for a search)."""
    from gatekeeper.probe.sla import sla_settings

    sla, source = playbook_sla(o["playbook"], o["milestone"], searching(o))
    if sla is None:
        return o
    mix, _ = mix_of(o)
    implied = sla_settings(sla, mix, source)
    search = searching(o)
    filled = dict(o)
    if o["schedule"] in ("fixed", "poisson") and o["rate"] is None:
        filled["rate"] = implied.from_rps if search else implied.rate
    if search:
        for name, value in (("slo_p99_ms", implied.slo_p99_ms), ("max_rate", implied.max_rps),
                            ("max_steps", implied.max_steps)):
            if o[name] is None:
                filled[name] = value
    return filled


def searching(o: dict[str, Any]) -> bool:
    return bool(o["find_capacity"] or o["cache_proof"])


def playbook_sla(path: Path | None, milestone: str | None, search: bool
                 ) -> tuple[Sla | None, str]:
    """The SLA of ``--playbook`` (``--milestone``'s, else the top level's) and how to name it;
    None when there is no playbook, or (in a search) when it declares no SLA."""
    from gatekeeper.load.playbook import find_milestone, load_playbook

    if path is None:
        if milestone is not None:
            raise InvalidInputError("--milestone: needs --playbook")
        return None, ""
    loaded = load_playbook(path)
    if milestone is not None:
        find_milestone(loaded, milestone)
    sla = loaded.playbook.sla_of(milestone)
    source = f"{path}" + (f" (milestone {milestone})" if milestone else "")
    if sla is None and not search:
        raise InvalidInputError(f"--playbook: {source} declares no sla",
                                hint="add an sla (docs/playbook.md), or give --rate")
    return sla, source


def sending_mode(o: dict[str, Any], given: frozenset[str]) -> ModeRequest:
    """The request of a mode that sends load: a plain run, a capacity search or a cache proof."""
    from gatekeeper.probe.modes import CacheProof, CapacitySearch, PlainRun

    if o["workers"] != 1 and o["engine"] != "locust":
        raise InvalidInputError("--workers: applies to --engine locust only")
    if o["api"] != "http":
        return llm_mode(o, given)
    extra = [flag(n) for n in LLM[1:] if n in given]
    if extra:
        raise InvalidInputError(f"{', '.join(extra)}: needs --api (an LLM api)")
    search = search_settings(o, given)
    sending = sending_settings(o)
    if search is None:
        return PlainRun(sending, o["engine"], o["workers"])
    bounds, prices = search
    if o["find_capacity"]:
        return CapacitySearch(sending, bounds, prices)
    if prices is None:
        raise InvalidInputError("--cache-proof needs --cost-model or --playbook")
    return CacheProof(sending, bounds, prices, o["redis_url"])


def sending_settings(o: dict[str, Any]) -> Sending:
    """The mix, schedule, warm-up and bounds of the load."""
    from gatekeeper.probe.engine import Limits
    from gatekeeper.probe.modes import Sending

    mix, source = mix_of(o)
    plan = schedule_spec(o["schedule"], o["rate"], o["rate_to"], o["steps"],
                         parse_seconds(o["duration"], "--duration"), mix)
    warmup = parse_seconds(o["warmup"], "--warmup")
    if warmup >= plan.duration_s:
        raise InvalidInputError(f"--warmup: {warmup:g} s leaves nothing of a "
                                f"{plan.duration_s:g} s run to measure")
    limits = Limits(max_duration_s=plan.duration_s, max_requests=o["max_requests"],
                    timeout_s=positive_seconds(o["timeout"], "--timeout"),
                    connections=o["connections"])
    return Sending(mix, source, plan, warmup, limits, o["seed"])


def llm_mode(o: dict[str, Any], given: frozenset[str]) -> ModeRequest:
    """An LLM run (``--api``): prompts streamed by the built-in engine, goodput by the SLOs."""
    from gatekeeper.probe.llm.metrics import Slo
    from gatekeeper.probe.llm.mode import LlmRun

    if o["engine"] != "builtin":
        raise InvalidInputError(f"--api {o['api']}: streams on the built-in engine only; "
                                "drop --engine")
    limits = []
    for name in LLM[1:4]:  # the SLOs, in Slo's order
        value = o[name]
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise InvalidInputError(f"{flag(name)}: must be a positive number, got {value:g}")
        limits.append(value)
    if o["find_capacity"]:
        if o["cache_proof"]:
            raise InvalidInputError("give one of --find-capacity or --cache-proof, not both")
        return llm_capacity(o, Slo(*limits), given)
    if o["cache_proof"] or o["semantic_pairs"] is not None:
        return llm_cache_proof(o, LlmRun(sending_settings(o), o["api"], Slo(*limits)), given)
    if o["min_goodput_share"] is not None:
        raise InvalidInputError("--min-goodput-share: needs --find-capacity")
    return LlmRun(sending_settings(o), o["api"], Slo(*limits))


def llm_cache_proof(o: dict[str, Any], run: LlmRun, given: frozenset[str]) -> ModeRequest:
    """``--cache-proof`` of an LLM api: the prefix cache read twice, the semantic pairs."""
    from gatekeeper.probe.llm.cache_proof import LlmCacheProof
    from gatekeeper.probe.llm.semantic import load_pairs

    if not o["cache_proof"]:
        raise InvalidInputError("--semantic-pairs: needs --cache-proof")
    extra = [flag(n) for n in (*SEARCH, "redis_url", "min_goodput_share")
             if n in given and n not in PICTURED]
    if extra:
        raise InvalidInputError(f"{', '.join(extra)}: --cache-proof of an LLM api runs no "
                                "search and reads no Redis (docs/llm.md)")
    pairs = load_pairs(o["semantic_pairs"]) if o["semantic_pairs"] is not None else ()
    return LlmCacheProof(run, pairs)


def llm_capacity(o: dict[str, Any], slo: Slo, given: frozenset[str]) -> ModeRequest:
    """``--find-capacity`` of an LLM api: judged by goodput against the SLOs, not a P99."""
    from gatekeeper.probe.llm.capacity import DEFAULT_MIN_GOODPUT_SHARE, LlmCapacitySearch
    from gatekeeper.probe.modes import SearchBounds
    from gatekeeper.probe.modes.search import UNBOUNDED_RATE

    if o["schedule"] != "fixed":
        raise InvalidInputError("--find-capacity: runs fixed-rate steps; drop --schedule")
    if "slo_p99_ms" in given:
        raise InvalidInputError(f"--api {o['api']} --find-capacity: judged by goodput; give "
                                "--slo-ttft-ms, --slo-tpot-ms or --slo-e2e-ms, not --slo-p99-ms")
    share = o["min_goodput_share"]
    if share is None:
        share = DEFAULT_MIN_GOODPUT_SHARE
    if not 0 < share <= 1:
        raise InvalidInputError(f"--min-goodput-share: must be above 0 and at most 1, got "
                                f"{share:g}")
    max_rate = o["max_rate"]
    if max_rate is not None and not (max_rate >= (o["rate"] or 0) and math.isfinite(max_rate)):
        raise InvalidInputError("--max-rate: must be at least --rate")
    bounds = SearchBounds(0.0, max_rate or UNBOUNDED_RATE, o["max_steps"] or 8)
    return LlmCapacitySearch(sending_settings(o), o["api"], bounds, slo, share,
                             cost_model(o["cost_model"], o["playbook"]))


def mix_of(o: dict[str, Any]) -> tuple[RequestMix, str]:
    """The mix of ``--mix`` or ``--endpoint`` (plain HTTP), or of prompts for ``--api``."""
    from gatekeeper.probe.llm.mix import load_llm_mix

    api = o["api"]
    if api == "http":
        return request_mix(o["mix"], o["endpoints"], o["body"], o["engine"])
    if o["endpoints"] or o["body"] is not None:
        raise InvalidInputError(f"--api {api}: give the prompts with --mix, not --endpoint or "
                                "--body", hint=LLM_HINT)
    if o["mix"] is None:
        raise InvalidInputError(f"--api {api}: needs --mix, a JSONL file of prompts",
                                hint=LLM_HINT)
    try:
        return load_llm_mix(o["mix"], api), str(o["mix"])
    except ValidationError as exc:
        exc.hint = LLM_HINT
        raise


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def import_run(o: dict[str, Any], given: frozenset[str]) -> ImportRun | None:
    """``--import-k6`` / ``--import-locust``; None when neither is given."""
    from gatekeeper.probe.modes import ImportRun

    chosen = {name: o[name] for name in ("import_k6", "import_locust", "import_llm")
              if o[name] is not None}
    if not chosen:
        if o["target_rps"] is not None:
            raise InvalidInputError("--target-rps needs --import-k6 or --import-locust")
        return None
    if len(chosen) > 1:
        flags = [flag(name) for name in chosen]
        raise InvalidInputError(f"give one of {', '.join(flags[:-1])} or {flags[-1]}, not "
                                f"{'both' if len(flags) == 2 else 'several'}")
    which = flag(next(iter(chosen)))
    extra = [flag(n) for n in (*SENDING, *LLM, *SEARCH, "find_capacity", "cache_proof", "redis_url",
                               "server_metrics", "playbook", "milestone")
             if n in given and n not in PICTURED]
    if extra:
        raise InvalidInputError(f"{which}: {', '.join(extra)} has no meaning with an imported "
                                "file (nothing is sent)")
    rate = o["target_rps"]
    if rate is not None and not (rate > 0 and math.isfinite(rate)):
        raise InvalidInputError(f"--target-rps: must be a positive number, got {rate:g}")
    if o["import_llm"] is not None:
        kind, path = llm_import(o["import_llm"])
        return ImportRun(kind, path, rate)
    k6 = o["import_k6"]
    return ImportRun("k6" if k6 is not None else "locust", k6 or o["import_locust"], rate)


def llm_import(spec: str) -> tuple[ImportKind, Path]:
    """``TOOL=FILE`` of ``--import-llm``, the tool checked against the importers registry."""
    from gatekeeper.probe.importers import IMPORTERS

    tool, sep, path = spec.partition("=")
    tools = [k for k in IMPORTERS if k not in ("k6", "locust")]
    if not sep or tool not in tools or not path:
        raise InvalidInputError(f"--import-llm: {spec!r} is not TOOL=FILE with TOOL one of "
                                f"{', '.join(tools)}")
    return tool, Path(path)


def search_settings(o: dict[str, Any], given: frozenset[str]
                    ) -> tuple[SearchBounds, CostModel | None] | None:
    """The bounds and prices of ``--find-capacity`` or ``--cache-proof``; refuses them
    elsewhere."""
    from gatekeeper.probe.modes import SearchBounds
    from gatekeeper.probe.modes.search import UNBOUNDED_RATE

    mode = ("--find-capacity" if o["find_capacity"] else
            "--cache-proof" if o["cache_proof"] else None)
    if o["find_capacity"] and o["cache_proof"]:
        raise InvalidInputError("give one of --find-capacity or --cache-proof, not both")
    if mode is None:
        extra = [flag(n) for n in (*SEARCH, "redis_url") if n in given and n not in PICTURED]
        if extra:
            raise InvalidInputError(f"{', '.join(extra)}: needs --find-capacity or "
                                    "--cache-proof")
        return None
    if o["redis_url"] is not None and not o["cache_proof"]:
        raise InvalidInputError("--redis-url: needs --cache-proof")
    if o["engine"] != "builtin" or o["schedule"] != "fixed":
        raise InvalidInputError(f"{mode}: runs fixed-rate steps on the built-in engine; "
                                "drop --engine and --schedule")
    slo = o["slo_p99_ms"]
    if slo is None or not (slo > 0 and math.isfinite(slo)):
        raise InvalidInputError(f"{mode} needs --slo-p99-ms, a positive number")
    max_rate = o["max_rate"]
    if max_rate is not None and not (max_rate >= (o["rate"] or 0) and math.isfinite(max_rate)):
        raise InvalidInputError("--max-rate: must be at least --rate")
    prices = cost_model(o["cost_model"], o["playbook"])
    if prices is None and o["cache_proof"]:
        raise InvalidInputError("--cache-proof needs --cost-model or --playbook")
    return SearchBounds(slo, max_rate or UNBOUNDED_RATE, o["max_steps"] or 8), prices


def cost_model(path: Path | None, playbook: Path | None) -> CostModel | None:
    """The cost model of ``--cost-model``, else of ``--playbook`` (the flag wins)."""
    from gatekeeper.load.playbook import load_playbook
    from gatekeeper.probe.modes.search import load_cost_model

    if path is not None:
        return load_cost_model(path)
    if playbook is None:
        return None
    loaded = load_playbook(playbook).playbook
    found = loaded.cost_model
    if found is None and loaded.sla is None:
        raise InvalidInputError(f"--playbook: {playbook} has no cost_model",
                                hint="add one, or give --cost-model FILE.yaml")
    return found


def request_mix(path: Path | None, endpoints: Sequence[str], body: Path | None = None,
                engine: str = "builtin") -> tuple[RequestMix, str]:
    """The mix from ``--mix`` or ``--endpoint`` (exactly one of them), ``--body`` with the
    latter."""
    from gatekeeper.probe.requests_mix import load_mix

    if (path is None) == (not endpoints):
        raise InvalidInputError("give exactly one of --mix or --endpoint")
    if path is None:
        shown = " ".join(["--endpoint", *endpoints, *(["--body", str(body)] if body else [])])
        return endpoint_mix(endpoints, request_body(body, engine)), shown
    if body is not None:
        raise InvalidInputError("--body: applies to --endpoint only (each --mix line carries "
                                "its own payload)")
    try:
        return load_mix(path), str(path)
    except ValidationError as exc:
        exc.hint = MIX_HINT
        raise


def request_body(path: Path | None, engine: str) -> bytes | None:
    """The bytes of ``--body`` (None without it)."""
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"--body: cannot read {path}: {exc.strerror or exc}") from None
    if engine == "locust":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInputError(f"--body: {path} is not UTF-8 text, and --engine locust "
                                    "sends text bodies only") from None
    return data


def endpoint_mix(specs: Sequence[str], body: bytes | None = None) -> RequestMix:
    """One request per ``--endpoint``, equal weights; ``body`` goes with those whose method
    carries one."""
    from gatekeeper.probe.requests_mix import RequestMix

    requests = tuple(endpoint_request(spec, body) for spec in specs)
    if body is not None and all(r.body is None for r in requests):
        raise InvalidInputError("--body: no --endpoint sends a body; declare one as "
                                "NAME=POST:/PATH")
    return RequestMix(requests)


def endpoint_request(spec: str, body: bytes | None) -> MixRequest:
    """``NAME``, ``NAME=/PATH`` or ``NAME=METHOD:/PATH`` as a request (GET, /NAME by default)."""
    from gatekeeper.probe.requests_mix import (
        BODY_METHODS,
        METHODS,
        MixRequest,
        body_content_type,
        has_control,
    )

    match = ENDPOINT.match(spec)
    name = match["name"] if match else ""
    method = ((match and match["method"]) or "GET").upper()
    path = (match and match["path"]) or f"/{name}"
    if (not match or method not in METHODS or not path.startswith("/") or path.startswith("//")
            or has_control(spec)):
        raise InvalidInputError(f"--endpoint: {spec!r} is not NAME, NAME=/PATH or "
                                f"NAME=METHOD:/PATH (METHOD: {', '.join(METHODS)})")
    sent = body if method in BODY_METHODS else None
    if sent is None:
        return MixRequest(name, method, path, None)
    return MixRequest(name, method, path, sent, content_type=body_content_type(sent))


def schedule_spec(kind: str, rate: float | None, rate_to: float | None, steps: str | None,
                  duration_s: float, mix: RequestMix) -> ScheduleSpec:
    """The schedule; each kind takes exactly the flags that mean something to it."""
    from gatekeeper.probe.schedule import ScheduleSpec

    refuse_flags(kind, rate=rate, rate_to=rate_to, steps=steps)
    if (kind == "replay") != mix.is_replay:
        raise InvalidInputError(
            "--schedule replay needs a mix whose lines have timestamps" if kind == "replay" else
            f"--schedule {kind}: the mix has timestamps; use --schedule replay")
    if kind == "steps":
        phases = parse_steps(steps or "")
        return ScheduleSpec("steps", sum(d for d, _ in phases), phases=phases)
    if kind == "replay":
        return replay_spec(mix, rate)
    check_rates(kind, rate or 0.0, rate_to)
    return ScheduleSpec(cast("ScheduleKind", kind), duration_s, rate, rate_to)


def replay_spec(mix: RequestMix, rate: float | None) -> ScheduleSpec:
    """The trace's own timing, or (``--rate``) time-scaled to that mean rate."""
    from gatekeeper.probe.schedule import ScheduleSpec, recorded_rate

    stamps = [r.timestamp or 0.0 for r in mix.requests]
    span = max(stamps) - min(stamps)
    if rate is not None:
        check_rates("replay", rate, None)
        recorded = recorded_rate(stamps)
        if recorded is None:
            raise InvalidInputError("--rate: the trace's arrivals all share one timestamp: "
                                    "it has no rate to scale")
        span *= recorded / rate
    # Just past the last arrival, so the engine's duration bound keeps it.
    return ScheduleSpec("replay", span + 0.001, rate)


def refuse_flags(kind: str, **given: object) -> None:
    """A flag the schedule needs is required; one it ignores is refused (no silent no-op);
    ``--rate`` is optional with replay (it time-scales the trace)."""
    wanted = {"rate": kind in RATED or (None if kind == "replay" else False),
              "rate_to": kind == "ramp", "steps": kind == "steps"}
    for name, needed in wanted.items():
        flag = "--" + name.replace("_", "-")
        if needed and given[name] is None:
            raise InvalidInputError(f"{flag} is required with --schedule {kind}")
        if needed is False and given[name] is not None:
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


def version_link(model: str | None, version: str | None, alias: str | None,
                 tracking_uri: str | None) -> VersionLink | None:
    """Where to log the results: None without --model."""
    from gatekeeper.evidence.mlflow_env import default_tracking_uri
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
