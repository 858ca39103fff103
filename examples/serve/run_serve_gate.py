"""The one command: gate the demo model's serve milestone on numbers measured on a real stack.

    make serve-demo          # or: .venv/bin/python examples/serve/run_serve_gate.py

1. Seeds the demo registry (``gatekeeper demo --workdir .gatekeeper/serve-demo``), or reuses it.
2. Starts the reference serve stack (``stack.py``) for the version behind ``champion``: model
   server, Redis, the cache proxy, Prometheus; all on 127.0.0.1.
3. Probes it with the open-model engine: the recorded trace (``mix.jsonl``, 40% repeated
   requests) at a fixed rate through the cache, then capacity searches with and without the
   cache (``gatekeeper.probe.cache_proof``). About 45 s in all with the defaults.
4. Logs the figures to MLflow as a probe run (profile ``cache-proof``), linked to the version
   when usable (tag ``gatekeeper.probe.run_id``), with ``gatekeeper.probe.mlflow_log``.
5. Runs ``gatekeeper check serve-playbook.yaml --milestone serve``, whose checks read that run,
   prints the verdict, stops the stack.
6. Writes the report into the workdir: ``report.html`` (the gate's result, ``-o html``) and the
   replay's ``latency.png`` and ``percentiles.png`` drawn against the SLOs, the budget and the
   verdict the gate judged (``report.py``); prints their paths and exits with the check's code.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: make `examples.serve` importable

from examples.serve.report import gate_objectives, write_pictures  # noqa: E402
from examples.serve.stack import Stack, StackConfig, child_env, running_stack  # noqa: E402
from gatekeeper.demo import MODEL_NAME, demo_tracking_uri  # noqa: E402
from gatekeeper.evidence.interface import CACHE_PROOF_PROFILE, PROBE_USABLE_METRIC  # noqa: E402
from gatekeeper.load.costmodel import CostModel  # noqa: E402
from gatekeeper.probe.cache_proof import (  # noqa: E402
    CacheProof,
    RedisStats,
    SearchSettings,
    prove_cache,
)
from gatekeeper.probe.capacity import STEP_LIMITS, CapacityResult, StepPolicy  # noqa: E402
from gatekeeper.probe.mlflow_log import (  # noqa: E402
    LoggedRun,
    Logging,
    log_probe,
    probe_metrics,
    resolve_target,
)
from gatekeeper.probe.requests_mix import RequestMix, load_mix  # noqa: E402
from gatekeeper.render.probe import json_safe  # noqa: E402

HERE = Path(__file__).resolve().parent
GATEKEEPER = Path(sys.executable).parent / "gatekeeper"


@dataclass(frozen=True)
class Settings:
    """What to gate and how hard to probe."""

    workdir: Path
    playbook: Path
    mix: Path
    version: str | None
    rate: float
    replay_s: float
    search: SearchSettings


def parse_settings(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=REPO / ".gatekeeper" / "serve-demo")
    parser.add_argument("--playbook", type=Path, default=HERE / "serve-playbook.yaml")
    parser.add_argument("--mix", type=Path, default=HERE / "mix.jsonl")
    parser.add_argument("--version", help="model version (default: the champion)")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="fixed rate of the replay through the cache, requests/s")
    parser.add_argument("--replay-seconds", type=float, default=6.0)
    parser.add_argument("--slo-p99-ms", type=float, default=80.0,
                        help="P99 objective of predict for the capacity searches")
    parser.add_argument("--start-rate", type=float, default=200.0)
    parser.add_argument("--max-rate", type=float, default=4000.0)
    parser.add_argument("--step-seconds", type=float, default=2.0)
    parser.add_argument("--max-steps", type=int, default=7)
    args = parser.parse_args(argv)
    policy = StepPolicy(endpoint="predict", warmup_s=min(0.5, args.step_seconds / 4))
    # A 1 s timeout: an answer that late is far over any SLO searched for, and a shorter
    # timeout keeps overloaded steps (whose backlog the engine waits out) short.
    search = SearchSettings(args.slo_p99_ms, args.start_rate, args.max_rate, policy,
                            args.step_seconds, args.max_steps,
                            replace(STEP_LIMITS, timeout_s=1.0))
    return Settings(args.workdir.resolve(), args.playbook.resolve(), args.mix.resolve(),
                    args.version, args.rate, args.replay_seconds, search)


def say(line: str) -> None:
    print(line, flush=True)


def ensure_registry(workdir: Path) -> str:
    """The demo registry's tracking URI; ``gatekeeper demo`` seeds it on the first run."""
    if (workdir / "mlflow.db").is_file():
        say(f"reusing the demo registry in {workdir}")
    else:
        say(f"seeding the demo registry: gatekeeper demo --workdir {workdir}")
        subprocess.run([str(GATEKEEPER), "demo", "--workdir", str(workdir)], cwd=REPO,
                       env=child_env(), check=True, stdout=subprocess.DEVNULL)
    return demo_tracking_uri(workdir)


def probe(stack: Stack, mix: RequestMix, cost_model: CostModel, settings: Settings
          ) -> CacheProof:
    say(f"probing {stack.proxy_url}: the trace at {settings.rate:g}/s for "
        f"{settings.replay_s:g} s, then capacity searches (P99 of predict <= "
        f"{settings.search.slo_p99_ms:g} ms) with and without the cache")
    return prove_cache(stack.proxy_url, mix, cost_model, RedisStats(stack.redis_url),
                       settings.rate, settings.replay_s, settings.search)


def report_lines(proof: CacheProof) -> list[str]:
    """What was measured, for the terminal."""
    lines = [f"  {e.endpoint:<8} p50 {e.latency.p50 * 1000:6.1f} ms  p95 "
             f"{e.latency.p95 * 1000:6.1f} ms  p99 {e.latency.p99 * 1000:6.1f} ms  "
             f"{e.achieved_rps:6.1f}/s  held={e.held_target_rate}  n={e.samples}"
             for e in proof.replay.report.endpoints]
    hit = proof.hit
    lines.append(f"  hit ratio: X-Cache {hit.from_headers:.3f}, Redis INFO "
                 f"{hit.from_cache:.3f}, repeated share of the trace sent {hit.expected:.3f}")
    lines += capacity_lines("with cache", proof.cached)
    lines += capacity_lines("without cache", proof.uncached)
    if proof.cost_cached and proof.cost_uncached and proof.cost_reduction is not None:
        lines.append(f"  cost per 1,000: {proof.cost_cached.total:.6f} with cache, "
                     f"{proof.cost_uncached.total:.6f} without: {proof.cost_reduction:.1%} less")
    return lines


def capacity_lines(label: str, result: CapacityResult) -> list[str]:
    steps = ", ".join(f"{s.rate:g}/s {'ok' if s.passed else 'over'} (p99 {s.p99_ms:.0f} ms)"
                      for s in result.steps)
    return [f"  capacity {label}: {result.capacity_rps:g}/s (stopped by {result.stopped_by}); "
            f"steps: {steps}"]


def log_evidence(uri: str, version: str, url: str, proof: CacheProof, settings: Settings
                 ) -> LoggedRun:
    """The probe run: standard probe metrics of the replay plus the cache proof's figures."""
    out = settings.workdir / "probe"
    out.mkdir(parents=True, exist_ok=True)
    result = out / "serve-gate.json"
    result.write_text(json.dumps(json_safe({"replay": proof.replay.report.to_dict(),
                                            "cache_proof": proof.to_dict()}), indent=2) + "\n")
    usable = proof.replay.report.held_target_rate
    metrics = {**probe_metrics(proof.replay.report, proof.replay.response_bytes),
               **proof.metrics(), PROBE_USABLE_METRIC: 1.0 if usable else 0.0}
    params = {"probe.mix": str(settings.mix), "probe.rate": f"{settings.rate:g}",
              "probe.duration_s": f"{settings.replay_s:g}",
              "capacity.slo_p99_ms": f"{settings.search.slo_p99_ms:g}",
              "capacity.step_s": f"{settings.search.step_duration:g}",
              "capacity.max_steps": str(settings.search.max_steps)}
    target = resolve_target(uri, MODEL_NAME, version, None)
    return log_probe(target, metrics, Logging(CACHE_PROOF_PROFILE, usable, params, url,
                                              [result]))


def prometheus_line(prometheus_url: str | None) -> str:
    """What Prometheus scraped from the proxy over the whole probe: the observability side
    works (overloaded capacity steps included, so this is not the proof's hit ratio)."""
    if prometheus_url is None:
        return "  prometheus: not started"
    query = "sum by (cache) (serve_request_duration_seconds_count)"
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    time.sleep(1.5)  # one more scrape interval, so the last step is in
    with urllib.request.urlopen(url, timeout=5) as response:
        result = json.loads(response.read())["data"]["result"]
    counts = {r["metric"].get("cache", "?"): int(float(r["value"][1])) for r in result}
    shown = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))
    return f"  prometheus scraped the proxy: {sum(counts.values()):,} requests ({shown})"


def result_path(settings: Settings, version: str) -> Path:
    return settings.workdir / "results" / f"v{version}-serve-probe.json"


def run_check(uri: str, version: str, settings: Settings) -> int:
    argv = [str(GATEKEEPER), "check", str(settings.playbook), "--model", MODEL_NAME,
            "--version", version, "--milestone", "serve", "--tracking-uri", uri,
            "--audit-log", str(settings.workdir / "audit.jsonl"),
            "-o", f"json={result_path(settings, version)}",
            "-o", f"html={settings.workdir / 'report.html'}", "-o", "text"]
    say("$ gatekeeper check " + " ".join(argv[2:]))
    return subprocess.run(argv, cwd=REPO, env=child_env()).returncode


def champion(uri: str) -> str:
    from gatekeeper.evidence.mlflow_env import mlflow_client

    return str(mlflow_client(uri).get_model_version_by_alias(MODEL_NAME, "champion").version)


def write_report(settings: Settings, version: str, proof: CacheProof) -> list[Path]:
    """The pictures of the replay, against what the gate judged; with the gate's report.html
    (written by ``gatekeeper check``), every file of the report, in order."""
    from gatekeeper.load.playbook import find_milestone, load_playbook

    milestone = find_milestone(load_playbook(settings.playbook), "serve")
    endpoints = {c.id: c.endpoint for c in milestone.checks
                 if c.kind == "latency" and hasattr(c, "endpoint")}
    result = json.loads(result_path(settings, version).read_text())
    pictures = write_pictures(settings.workdir, proof.replay, gate_objectives(result, endpoints))
    return [settings.workdir / "report.html", *pictures]


def cost_model_of(playbook: Path) -> CostModel:
    from gatekeeper.load.playbook import load_playbook

    model = load_playbook(playbook).playbook.cost_model
    if model is None:
        raise SystemExit(f"{playbook}: no cost_model to price the capacity with")
    return model


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(argv)
    started = time.monotonic()
    uri = ensure_registry(settings.workdir)
    version = settings.version or champion(uri)
    mix, cost_model = load_mix(settings.mix), cost_model_of(settings.playbook)
    say(f"starting the serve stack for {MODEL_NAME} v{version} (logs in "
        f"{settings.workdir / 'stack' / 'logs'})")
    config = StackConfig(uri, MODEL_NAME, version, settings.workdir / "stack")
    with running_stack(config) as stack:
        say(f"  model server {stack.model_url}, cache proxy {stack.proxy_url}, "
            f"prometheus {stack.prometheus_url}")
        proof = probe(stack, mix, cost_model, settings)
        for line in [*report_lines(proof), prometheus_line(stack.prometheus_url)]:
            say(line)
        logged = log_evidence(uri, version, stack.proxy_url, proof, settings)
        say(logged.summary())
    code = run_check(uri, version, settings)
    files = write_report(settings, version, proof) if code in (0, 1) else []
    say(f"serve gate finished in {time.monotonic() - started:.0f} s, exit code {code}")
    for path in files:
        say(f"  {'report ' if path.suffix == '.html' else 'picture'} {path}")
    return code


if __name__ == "__main__":
    sys.exit(main())
