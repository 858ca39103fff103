"""Probe runs by profile, the one-check SLA, and `gatekeeper probe --playbook`: real probe runs
against loopback targets, a real SQLite MLflow registry, `gatekeeper check` through the real
CLI. Rates stay low (20-40/s) so a loaded machine holds them; each run lasts two seconds."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.cli import run
from gatekeeper.evidence.mlflow_env import mlflow_client
from tests.cli.test_probe import gate, held_or_only_not_held
from tests.probe.target import Reply, Target
from tests.probe.test_importers import K6
from tests.support.registry import seed_version

SHORT = ["--duration", "2s", "--warmup", "0.5s", "--min-samples", "20"]


def probe(*args: str) -> int:
    return run(["probe", *args])


def five_ms(_n: int, _path: str) -> Reply:
    return Reply(delay_s=0.005)


def sla_playbook(folder: Path, serve_checks: str, sla: str = "", serve_sla: str = "") -> Path:
    """A playbook whose serve milestone holds ``serve_checks`` (YAML list items)."""
    path = folder / "playbook.yaml"
    path.write_text(f"""\
model: fraud
owners: {{product: p@example.com, platform: o@example.com, data_science: d@example.com}}
{sla}
milestones:
  - id: poc
    title: POC
    stage: poc
    alias: poc-ok
    checks:
      - {{id: acc, kind: metric_threshold, category: quality, owner: ds, key: accuracy, min: 0.5}}
  - id: serve
    title: Serve layer
    stage: serve
    alias: serve-ok
{serve_sla}
    checks:
{serve_checks}
  - id: pilot
    title: Pilot
    stage: pilot
    alias: champion
    checks:
      - {{id: err, kind: metric_threshold, category: latency, owner: platform, key: e, max: 1}}
""")
    return path


def check_of(result: dict[str, Any], check_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in result["checks"] if c["id"] == check_id)
    return found


def linked(tracking_uri: str, version: str) -> dict[str, str]:
    tags = mlflow_client(tracking_uri).get_model_version("fraud", version).tags
    return {k: v for k, v in tags.items() if k.startswith("gatekeeper.probe.")}


def usable_or_skip(code: int, out: Path) -> None:
    """The first run must be usable evidence; a machine too loaded to send 20/s says so."""
    if not held_or_only_not_held(code, out):
        pytest.skip("the machine could not hold 20/s: no usable first run to keep")


# An unusable run leaves the evidence in place ----------------------------------------------


def test_an_unusable_run_is_logged_but_the_gate_keeps_reading_the_usable_one(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed_version(tracking_uri, "fraud", metrics={"accuracy": 0.9}, log_model=False)
    failing = {"on": False}

    def behaviour(n: int, _path: str) -> Reply:
        return Reply(500 if failing["on"] and n % 2 else 200, delay_s=0.005)

    common = ["--endpoint", "predict=/invocations", "--rate", "20", *SHORT,
              "--max-error-rate", "0.05", "--model", "fraud", "--version", version,
              "--tracking-uri", tracking_uri]
    with Target(behaviour) as url:
        usable_or_skip(probe(url, *common, "--out", str(tmp_path / "good")), tmp_path / "good")
        good = json.loads((tmp_path / "good" / "result.json").read_text())["mlflow"]["run_id"]
        capsys.readouterr()
        failing["on"] = True  # half the answers fail from now on
        code = probe(url, *common, "--out", str(tmp_path / "bad"))
    lines = capsys.readouterr().out.splitlines()
    bad_result = json.loads((tmp_path / "bad" / "result.json").read_text())
    bad = bad_result["mlflow"]["run_id"]
    assert code == 1
    assert "evidence: NOT usable (exit 1):" in lines
    assert lines[-1] == (f"mlflow: run {bad} (experiment 0, profile steady); fraud version "
                         f"{version} NOT tagged (evidence not usable): "
                         f"gatekeeper.probe.steady.run_id still names run {good}")
    assert bad_result["mlflow"]["linked"] is False
    assert linked(tracking_uri, version) == {"gatekeeper.probe.steady.run_id": good,
                                             "gatekeeper.probe.run_id": good}
    bad_run = mlflow_client(tracking_uri).get_run(bad)
    assert bad_run.data.tags["gatekeeper.probe.profile"] == "steady"
    assert bad_run.data.metrics["probe.usable"] == 0.0

    book = sla_playbook(tmp_path, """\
      - {id: latency, kind: latency, category: latency, owner: platform, endpoint: predict,
         source: probe, p99_ms: 500}
      - {id: errors, kind: metric_threshold, category: latency, owner: platform,
         source: probe, key: error_rate, max: 0.01}""")
    assert gate(book, tracking_uri, version, "poc", tmp_path)["decision"] == "pass"
    result = gate(book, tracking_uri, version, "serve", tmp_path)
    assert result["decision"] == "pass", result["checks"]
    latency = check_of(result, "latency")
    assert latency["message"].endswith(f" <= 500 ms (probe run {good}, profile steady)")
    assert latency["observed"]["probe_run_id"] == good
    assert latency["evidence"]["probe_run"] == f"mlflow:runs/{good}"
    assert check_of(result, "errors")["evidence"]["probe_run"] == f"mlflow:runs/{good}"


# One check: P99 under a limit at a rate ------------------------------------------------------

SLA_200 = """\
sla:
  endpoints:
    predict: {p99_ms: 80, at_rps: 200}"""
SLA_CHECK = """\
      - {id: p99-at-rate, kind: latency, category: latency, owner: platform, sla: predict,
         source: probe}"""


def test_the_one_check_sla_fails_on_evidence_measured_at_20_per_s(
        tracking_uri: str, tmp_path: Path) -> None:
    version = seed_version(tracking_uri, "fraud", metrics={"accuracy": 0.9}, log_model=False)
    with Target(five_ms) as url:
        code = probe(url, "--endpoint", "predict", "--rate", "20", *SHORT, "--model", "fraud",
                     "--version", version, "--tracking-uri", tracking_uri,
                     "--out", str(tmp_path / "out"))
    usable_or_skip(code, tmp_path / "out")
    run_id = json.loads((tmp_path / "out" / "result.json").read_text())["mlflow"]["run_id"]
    book = sla_playbook(tmp_path, SLA_CHECK, sla=SLA_200)
    gate(book, tracking_uri, version, "poc", tmp_path)
    result = gate(book, tracking_uri, version, "serve", tmp_path)
    assert result["decision"] == "block"
    check = check_of(result, "p99-at-rate")
    assert check["status"] == "fail"
    # Fast enough (5 ms against 80 ms), but at a tenth of the rate the SLA holds it to.
    assert re.fullmatch(r"predict: p99 = [\d.]+ ms <= 80 ms, measured at 2\d(\.\d+)?/s, below "
                        rf"the 200/s the limits hold at \(probe run {run_id}, profile steady\)",
                        check["message"]), check["message"]
    assert check["threshold"] == {"p99_ms": 80, "at_rps": 200, "sla": "predict"}
    assert 19 <= check["observed"]["rate_rps"] < 25
    assert check["evidence"]["rate_rps"] == f"mlflow:runs/{run_id}/metrics/target.predict_rps"


# gatekeeper probe --playbook P --milestone M ------------------------------------------------

SLA_TOP = """\
sla:
  endpoints:
    predict: {p99_ms: 500, at_rps: 200}
  capacity: {max_steps: 1}"""
SLA_SERVE = """\
    sla:
      endpoints:
        predict: {p99_ms: 500, at_rps: 40}
      capacity: {from_rps: 20, max_rps: 30, max_steps: 2}"""


def test_probe_takes_rate_from_the_milestones_sla_and_the_gate_holds_it(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed_version(tracking_uri, "fraud", metrics={"accuracy": 0.9}, log_model=False)
    book = sla_playbook(tmp_path, SLA_CHECK, sla=SLA_TOP,
                        serve_sla=SLA_SERVE)
    with Target(five_ms) as url:
        code = probe(url, "--endpoint", "predict", "--playbook", str(book), "--milestone",
                     "serve", *SHORT, "--model", "fraud", "--version", version,
                     "--tracking-uri", tracking_uri, "--out", str(tmp_path / "out"))
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"probe {url}: fixed 40/s for 2 s"), first
    if not held_or_only_not_held(code, tmp_path / "out"):
        return  # 40/s not held: nothing linked, nothing more to gate
    gate(book, tracking_uri, version, "poc", tmp_path)
    result = gate(book, tracking_uri, version, "serve", tmp_path)
    check = check_of(result, "p99-at-rate")
    assert check["threshold"] == {"p99_ms": 500, "at_rps": 40, "sla": "predict"}
    assert (result["decision"], check["status"]) == ("pass", "pass"), check


def test_a_flag_wins_over_the_sla_and_the_playbook_sla_drives_a_capacity_search(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed_version(tracking_uri, "fraud", metrics={}, log_model=False)
    book = sla_playbook(tmp_path, SLA_CHECK, sla=SLA_TOP, serve_sla=SLA_SERVE)
    with Target(five_ms) as url:
        # The top-level SLA says 200/s; --rate says 20/s, and the flag wins.
        code = probe(url, "--endpoint", "predict", "--playbook", str(book), "--rate", "20",
                     "--duration", "1s", "--warmup", "0.3s", "--min-samples", "5",
                     "--out", str(tmp_path / "flag"))
        assert capsys.readouterr().out.startswith(f"probe {url}: fixed 20/s for 1 s")
        held_or_only_not_held(code, tmp_path / "flag")

        probe(url, "--endpoint", "predict", "--playbook", str(book), "--milestone", "serve",
              "--find-capacity", "--duration", "1s", "--warmup", "0.3s", "--min-samples", "5",
              "--model", "fraud", "--version", version, "--tracking-uri", tracking_uri,
              "--out", str(tmp_path / "search"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"probe {url}: capacity search from 20/s, steps of 1 s, p99 SLO "
                               "500 ms"), lines[0]
    steps = [line for line in lines if line.startswith("step ")]
    assert steps and steps[0].startswith("step 20/s: ")
    assert len(steps) <= 2 and all(not s.startswith("step 4") for s in steps)  # max_rps 30
    result = json.loads((tmp_path / "search" / "result.json").read_text())
    assert result["settings"]["profile"] == "capacity"
    assert result["mlflow"]["profile"] == "capacity"
    if result["usable"]:
        assert linked(tracking_uri, version)["gatekeeper.probe.capacity.run_id"] == (
            result["mlflow"]["run_id"])
        assert "gatekeeper.probe.steady.run_id" not in linked(tracking_uri, version)


@pytest.mark.parametrize(("args", "message"), [
    (["--milestone", "nope"], "{book}: no milestone 'nope' (defined: poc, serve, pilot)"),
    (["--endpoint", "other"], "--playbook: the sla of {book} declares predict; the mix sends "
     "other"),
])
def test_bad_playbook_flags_are_one_line(args: list[str], message: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    book = sla_playbook(tmp_path, SLA_CHECK, sla=SLA_TOP)
    base = ["http://127.0.0.1:9", "--playbook", str(book)]
    if "--endpoint" not in args:
        base += ["--endpoint", "predict"]
    assert probe(*base, *args) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "gatekeeper: error: " + message.format(book=book))


def test_a_playbook_without_an_sla_sets_nothing(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    book = sla_playbook(tmp_path, SLA_CHECK.replace("sla: predict", "endpoint: predict, "
                                                     "p99_ms: 80"))
    assert probe("http://127.0.0.1:9", "--endpoint", "predict", "--playbook", str(book)) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"gatekeeper: error: --playbook: {book} declares no sla",
        "hint: add an sla (docs/playbook.md), or give --rate"]


def test_a_named_profile_links_its_own_run_and_a_check_reads_it_by_name(
        tracking_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    version = seed_version(tracking_uri, "fraud", metrics={"accuracy": 0.9}, log_model=False)
    common = ["--import-k6", str(K6), "--min-samples", "1", "--profile", "burst", "--model",
              "fraud", "--version", version, "--tracking-uri", tracking_uri]
    assert probe(*common, "--target-rps", "100", "--out", str(tmp_path / "a")) == 0
    first = json.loads((tmp_path / "a" / "result.json").read_text())["mlflow"]["run_id"]
    # Without --target-rps an import is no evidence: logged under burst, linked nowhere.
    assert probe(*common, "--out", str(tmp_path / "b")) == 1
    assert capsys.readouterr().out.splitlines()[-1].endswith(
        "NOT tagged (evidence not usable): gatekeeper.probe.burst.run_id still names run "
        f"{first}")
    assert linked(tracking_uri, version) == {"gatekeeper.probe.burst.run_id": first,
                                             "gatekeeper.probe.run_id": first}

    book = sla_playbook(tmp_path, """\
      - {id: burst, kind: latency, category: latency, owner: platform, endpoint: predict,
         source: probe, profile: burst, p99_ms: 100000}
      - {id: steady, kind: latency, category: latency, owner: platform, endpoint: predict,
         source: probe, profile: steady, p99_ms: 100000}""")
    gate(book, tracking_uri, version, "poc", tmp_path)
    result = gate(book, tracking_uri, version, "serve", tmp_path)
    assert check_of(result, "burst")["status"] == "pass"
    assert check_of(result, "burst")["message"].endswith(f"(probe run {first}, profile burst)")
    steady = check_of(result, "steady")
    assert (steady["status"], steady["message"]) == (
        "error", f"predict: v{version} (no probe run linked, profile steady): version tag "
        "gatekeeper.probe.steady.run_id is not set")
