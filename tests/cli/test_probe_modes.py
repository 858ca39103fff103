"""`gatekeeper probe` beyond one built-in run: --engine locust, --find-capacity, imports, and
the flag combinations they refuse. Loopback targets, a real SQLite MLflow registry, short runs
(each search at most two 1 s steps)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from gatekeeper.probe.capacity import ProbeTarget, Step, StepPolicy, find_capacity
from gatekeeper.probe.requests_mix import parse_mix
from tests.cli.test_probe import held_or_only_not_held, playbook
from tests.probe.target import Reply, Target, always
from tests.probe.test_importers import K6, LOCUST
from tests.support.registry import seed_version

FAST_STEPS = ["--duration", "1s", "--warmup", "0.3s", "--min-samples", "10"]
COST = "hardware_per_hour: 0.36\nnetwork_per_gb: 0.09\n"


def probe(*args: str) -> int:
    return run(["probe", *args])


@pytest.fixture
def cost_model(tmp_path: Path) -> Path:
    path = tmp_path / "cost.yaml"
    path.write_text(COST)
    return path


def logged_metrics(tracking_uri: str, version: str) -> dict[str, float]:
    client = mlflow_client(tracking_uri)
    run_id = client.get_model_version("fraud", version).tags["gatekeeper.probe.run_id"]
    return dict(client.get_run(run_id).data.metrics)


def test_find_capacity_prints_steps_and_logs_capacity_and_cost_at_slo(
        tracking_uri: str, cost_model: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    version = seed_version(tracking_uri, "fraud", metrics={}, log_model=False)
    with Target(always(Reply(delay_s=0.002))) as url:
        code = probe(url, "--endpoint", "predict=/", "--rate", "50", *FAST_STEPS,
                     "--find-capacity", "--slo-p99-ms", "200", "--max-rate", "100",
                     "--max-steps", "2", "--cost-model", str(cost_model), "--model", "fraud",
                     "--version", version, "--tracking-uri", tracking_uri,
                     "--out", str(tmp_path / "out"))
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines[0].startswith(f"probe {url}: capacity search from 50/s, steps of 1 s, "
                               "p99 SLO 200 ms")
    # Each step is told on stderr as it finishes, in order (plain lines: not a terminal).
    assert "\r" not in printed.err and "\x1b" not in printed.err
    told = [line for line in printed.err.splitlines() if line.startswith("probe: step")]
    assert len(told) == 2, printed.err
    verdicts = step_verdicts(told)
    # The search fails (exit 1) only when no step passed.
    assert code == (0 if "pass" in verdicts else 1), printed.out + printed.err
    if NOT_HELD_FAILURE in verdicts:
        return  # a loaded machine lagged; the figures below need both steps held
    for line, (number, rate) in zip(told, ((1, 50), (2, 100)), strict=True):
        assert re.fullmatch(rf"probe: step {number}: {rate}/s, held, p99 [\d.]+ ms, "
                            r"errors 0\.00%: pass", line), line
    assert lines[1].startswith("step 50/s: p99 ") and lines[1].endswith(": pass")
    assert lines[2].startswith("step 100/s: p99 ") and lines[2].endswith(": pass")
    assert lines[3] == "capacity at p99 <= 200 ms: 100/s (stopped by max_rate, 2 steps)"
    # 0.36 per hour at 100/s: 0.36 / 360 per 1,000, plus 2 bytes of network each.
    assert lines[4] == "cost at SLO: 0.00100018 per 1,000 inferences"
    metrics = logged_metrics(tracking_uri, version)
    assert metrics["capacity_rps"] == 100.0
    assert metrics["capacity.rps"] == 100.0
    assert metrics["cost.per_1k_at_slo"] == pytest.approx(0.001 + 2e-7 * 0.9, rel=1e-3)
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert [s["rate"] for s in result["capacity"]["steps"]] == [50.0, 100.0]


STEP_LINE = r"step \d: \d+/s, (held|rate NOT held), p99 [\d.]+ ms, errors [\d.]+%: "
TOLD = re.compile(r"probe: (?:with(?:out)? cache: )?" + STEP_LINE + "(pass|FAIL, .*)")
NOT_HELD_FAILURE = "FAIL, the engine did not hold the rate"


def step_verdicts(told: list[str]) -> list[str]:
    """The verdict of each told step. A held step must pass here (a 2 ms target, a 200 ms
    SLO); a step that a loaded machine did not hold must fail for that reason alone."""
    verdicts = []
    for line in told:
        match = TOLD.fullmatch(line)
        assert match, line
        held, verdict = match.groups()
        assert verdict == ("pass" if held == "held" else NOT_HELD_FAILURE), line
        verdicts.append(verdict)
    return verdicts


def test_capacity_steps_are_told_as_each_finishes_not_after_the_search() -> None:
    target = Target(always(Reply(delay_s=0.002)))
    seen: list[tuple[float, int]] = []

    def on_step(step: Step) -> None:  # the requests the target had answered by then
        seen.append((step.rate, target.requests))

    mix = parse_mix(['{"endpoint": "root", "method": "GET", "path": "/"}'], "test")
    with target as url:
        result = find_capacity(ProbeTarget(url), mix, 200, 40, 80,
                               StepPolicy(warmup_s=0.2), step_duration=0.5, max_steps=2,
                               on_step=on_step)
    # 40/s then 80/s; 40/s then 20/s when a loaded machine did not hold the first step.
    assert [rate for rate, _ in seen] == [s.rate for s in result.steps]
    assert len(seen) == 2 and seen[0][0] == 40, result.steps
    sent = [sum(e.requests + e.warmup_excluded for e in s.run.report.endpoints)
            for s in result.steps]
    # The first step was told before the second step's requests were sent.
    assert seen[0][1] == sent[0] and seen[1][1] == sent[0] + sent[1], (seen, sent)


def test_cache_proof_tells_each_step_of_both_searches_as_it_finishes(
        cost_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Target(always(Reply(delay_s=0.002))) as url:
        code = probe(url, "--endpoint", "predict=/", "--rate", "50", *FAST_STEPS,
                     "--cache-proof", "--slo-p99-ms", "200", "--max-rate", "100",
                     "--max-steps", "2", "--cost-model", str(cost_model),
                     "--out", str(tmp_path / "out"))
    printed = capsys.readouterr()
    told = [line for line in printed.err.splitlines() if " step " in line]
    assert [line.split(": step")[0] for line in told] == [
        "probe: with cache", "probe: with cache", "probe: without cache",
        "probe: without cache"], printed.err
    verdicts = step_verdicts(told)
    for first, second, verdict in ((told[0], told[1], verdicts[0]),
                                   (told[2], told[3], verdicts[2])):
        # Up to 100/s after a pass; down to 25/s after a step a loaded machine did not hold.
        assert ": step 1: 50/s, " in first, first
        assert f": step 2: {100 if verdict == 'pass' else 25}/s, " in second, second
    # The steps decide no exit code here; the replay at 50/s is the evidence and must have
    # held its rate, or exit 1 for that reason alone.
    held_or_only_not_held(code, tmp_path / "out")


def test_find_capacity_takes_the_playbooks_cost_model(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    book = playbook(tmp_path, 50)  # cost_model: 0.36 per hour, 0.09 per GB
    with Target(always(Reply())) as url:
        code = probe(url, "--endpoint", "root=/", "--rate", "40", *FAST_STEPS,
                     "--find-capacity", "--slo-p99-ms", "200", "--max-rate", "40",
                     "--playbook", str(book), "--out", str(tmp_path / "out"))
    printed = capsys.readouterr()
    told = [line for line in printed.err.splitlines() if line.startswith("probe: step")]
    verdicts = step_verdicts(told)  # every failed step failed because the machine lagged
    if verdicts == [NOT_HELD_FAILURE]:
        assert code == 1, printed.out  # a loaded machine lagged: no capacity, so no cost
        return
    if NOT_HELD_FAILURE in verdicts:
        # A loaded machine held only a lower rate: priced there with the playbook's model
        # (0.36 per hour: 0.1 / rate per 1,000), so dearer than at 40/s; the run may also have
        # too few samples to be usable, which exits 1.
        assert code in (0, 1), printed.out
        cost = re.search(r"^cost at SLO: ([0-9.]+) per 1,000 inferences$", printed.out, re.M)
        assert cost and float(cost.group(1)) > 0.0025, printed.out
        return
    assert code == 0, printed.out
    assert "cost at SLO: 0.00250018 per 1,000 inferences" in printed.out.splitlines()


def test_import_k6_is_reported_and_logged_like_a_measured_run(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed_version(tracking_uri, "fraud", metrics={}, log_model=False)
    out = tmp_path / "out"
    code = probe("--import-k6", str(K6), "--target-rps", "100", "--min-samples", "1",
                 "--model", "fraud", "--version", version, "--tracking-uri", tracking_uri,
                 "--out", str(out))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"probe {K6}: import of k6 summary {K6} (target 100/s)")
    assert f"wrote {out}/: result.json, report.html" in lines
    metrics = logged_metrics(tracking_uri, version)
    assert "latency.predict.p95_ms" in metrics and "throughput_rps" in metrics
    page = (out / "report.html").read_text()
    assert "No latency histogram" in page and "<img" not in page
    assert not (out / "latency.png").exists()
    assert code in (0, 1)
    assert json.loads((out / "result.json").read_text())["settings"]["schedule"] == (
        f"import of k6 summary {K6} (target 100/s)")


def test_import_locust_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for suffix in ("stats", "failures"):
        shutil.copy(f"{LOCUST}_{suffix}.csv", tmp_path / f"run_{suffix}.csv")
    code = probe("http://127.0.0.1:1", "--import-locust", str(tmp_path / "run"),
                 "--min-samples", "1", "--out", str(tmp_path / "out"))
    lines = capsys.readouterr().out.splitlines()
    assert code in (0, 1)
    assert lines[0].startswith("probe http://127.0.0.1:1: import of Locust CSV statistics ")
    assert (tmp_path / "out" / "report.html").exists()


def test_engine_locust_runs_the_plan_on_locust_workers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Target(always(Reply())) as url:
        code = probe(url, "--endpoint", "root=/", "--rate", "20", "--duration", "3s",
                     "--warmup", "1s", "--min-samples", "10", "--engine", "locust",
                     "--workers", "2", "--out", str(tmp_path / "out"))
    printed = capsys.readouterr()
    held_or_only_not_held(code, tmp_path / "out")
    assert printed.out.splitlines()[0].startswith(
        f"probe {url}: fixed 20/s for 3 s on locust (2 workers), warm-up 1 s excluded")
    assert "percentiles: Locust response-time percentiles, rounded by Locust; " in printed.out


@pytest.mark.parametrize(("args", "message"), [
    (["--import-k6", "k.json", "--rate", "5"],
     "--import-k6: --rate has no meaning with an imported file (nothing is sent)"),
    (["--import-k6", "k.json", "--import-locust", "p"],
     "give one of --import-k6 or --import-locust, not both"),
    (["http://127.0.0.1:1", "--endpoint", "a", "--rate", "5", "--target-rps", "5"],
     "--target-rps needs --import-k6 or --import-locust"),
    (["http://127.0.0.1:1", "--endpoint", "a", "--rate", "5", "--max-rate", "50"],
     "--max-rate: needs --find-capacity or --cache-proof"),
    (["http://127.0.0.1:1", "--endpoint", "a", "--rate", "5", "--find-capacity"],
     "--find-capacity needs --slo-p99-ms, a positive number"),
    (["http://127.0.0.1:1", "--endpoint", "a", "--rate", "5", "--find-capacity",
      "--cache-proof", "--slo-p99-ms", "5"],
     "give one of --find-capacity or --cache-proof, not both"),
    (["http://127.0.0.1:1", "--endpoint", "a", "--rate", "5", "--milestone", "serve"],
     "--milestone: needs --playbook"),
    (["http://127.0.0.1:1", "--endpoint", "a", "--rate", "5", "--profile", "Steady Run"],
     "--profile: 'Steady Run' is not a profile name (lower-case letters, digits, '-' and "
     "'_')"),
    (["http://127.0.0.1:1", "--endpoint", "a", "--rate", "5", "--find-capacity",
      "--slo-p99-ms", "5", "--engine", "locust"],
     "--find-capacity: runs fixed-rate steps on the built-in engine; drop --engine and "
     "--schedule"),
    (["http://127.0.0.1:1", "--endpoint", "a", "--rate", "5", "--workers", "2"],
     "--workers: applies to --engine locust only"),
    (["http://127.0.0.1:1", "--endpoint", "a", "--rate", "5", "--cache-proof",
      "--slo-p99-ms", "5"], "--cache-proof needs --cost-model or --playbook"),
    (["--endpoint", "a", "--rate", "5"],
     "URL is required, unless --import-k6 or --import-locust"),
])
def test_bad_combinations_name_the_flags(args: list[str], message: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert probe(*args) == 2
    assert capsys.readouterr().err.splitlines()[0] == f"gatekeeper: error: {message}"


def test_new_flags_read_their_environment_variables(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GATEKEEPER_MAX_RATE", "50")
    assert probe("http://127.0.0.1:1", "--endpoint", "a", "--rate", "5") == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "gatekeeper: error: --max-rate: needs --find-capacity or --cache-proof")
