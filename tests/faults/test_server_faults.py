"""Servers that are up but misbehave, and inputs that would make them misbehave, through the
real CLI: every case ends in bounded time with one line and the right exit code, records no
verdict about a wrong version, and never shows a credential from a URL.

MLflow faults are exit 3 (no verdict) or 2 (the user's input); a Prometheus fault is the
pilot check's ``error``, so the gate records a block naming the cause (exit 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatekeeper.evidence.mlflow_env import DEADLINE_ENV, mlflow_client
from tests.faults.harness import Run, assert_fails_closed, gatekeeper
from tests.support.misbehaving import (
    Reply,
    json_reply,
    misbehaving_server,
    trickle,
)
from tests.support.registry import seed_version
from tests.support.server import free_port

ASSETS = Path(__file__).parents[1] / "assets"
PLAYBOOK = ASSETS / "playbooks" / "fraud.yaml"
SECRETS = ("MLSECRET", "PROMSECRET", "PROMTOKEN")
#: A short deadline for cases that are not about the deadline itself.
FAST = {DEADLINE_ENV: "10"}

#: The pilot milestone of fraud.yaml gains a check that reads Prometheus at {url}.
PILOT_SLO = """\
      - id: pilot-slo
        kind: pilot_slo
        category: latency
        owner: platform
        prometheus_url: "{url}"
        window: 1h
        histogram: http_request_duration_seconds
        p95_ms: 50
        min_requests: 10
"""


def with_credentials(url: str) -> str:
    return url.replace("http://", "http://alice:MLSECRET@", 1)


def check(tmp_path: Path, uri: str, *, playbook: Path = PLAYBOOK,
          env: dict[str, str] | None = None, version: str = "1",
          milestone: str = "poc") -> Run:
    return gatekeeper("check", str(playbook), "--model", "fraud",
                      "--version", version, "--milestone", milestone, "--tracking-uri", uri,
                      "--audit-log", str(tmp_path / "audit.jsonl"),
                      "-o", "text", "-o", f"json={tmp_path / 'result.json'}",
                      cwd=tmp_path, env=env)


def assert_no_secrets(run: Run, tmp_path: Path) -> None:
    written = [p.read_text() for p in (tmp_path / "audit.jsonl", tmp_path / "result.json")
               if p.exists()]
    for text in (run.out, run.err, *written):
        for secret in SECRETS:
            assert secret not in text, text


def assert_nothing_recorded(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    assert not audit.exists() or not audit.read_text().strip(), audit.read_text()


# MLflow over REST: the tracking server misbehaves.

def test_a_trickling_tracking_server_fails_within_the_deadline(tmp_path: Path) -> None:
    """One byte a second for 10 minutes: MLflow's per-read timeout never trips, the
    command's deadline (30 s by default) does."""
    with misbehaving_server(lambda path: trickle(every_s=1.0, total_bytes=600)) as server:
        run = check(tmp_path, with_credentials(server.url))
    assert_fails_closed(run, codes={3}, within_s=60,
                        message=f"MLflow registry at http://alice:***@127.0.0.1:"
                                f"{server.server_address[1]} gave no complete answer within "
                                f"30 s ({DEADLINE_ENV})")
    assert_no_secrets(run, tmp_path)
    assert_nothing_recorded(tmp_path)


@pytest.mark.parametrize("reply", [
    json_reply({}),
    json_reply({"model_version": {"name": "fraud", "version": "abc", "run_id": "r1"}}),
    json_reply({"model_version": {"name": "other", "version": "1", "run_id": "r1"}}),
], ids=["empty-object", "version-not-a-number", "another-model"])
def test_a_tracking_server_answering_the_wrong_thing_records_nothing(
        tmp_path: Path, reply: Reply) -> None:
    with misbehaving_server(lambda path: reply) as server:
        run = check(tmp_path, with_credentials(server.url), env=FAST)
    assert_fails_closed(run, codes={3}, message="answered something other than model 'fraud' "
                                                "version 1")
    assert_no_secrets(run, tmp_path)
    assert_nothing_recorded(tmp_path)


@pytest.mark.parametrize("reply", [
    json_reply({"model_version": {"name": 5, "version": [1]}}),
    Reply(body=b"<html>proxy login</html>", content_type="text/html"),
    json_reply({"error_code": "INTERNAL_ERROR", "message": "db at postgresql://u:MLSECRET@db"},
               status=400),
], ids=["wrongly-typed", "not-json", "error-echoing-a-secret"])
def test_a_tracking_server_answering_garbage_is_exit_3(tmp_path: Path, reply: Reply) -> None:
    with misbehaving_server(lambda path: reply) as server:
        run = check(tmp_path, with_credentials(server.url), env=FAST)
    assert_fails_closed(run, codes={3}, message="MLflow registry at http://alice:***@127.0.0.1")
    assert_no_secrets(run, tmp_path)
    assert_nothing_recorded(tmp_path)


def test_an_unreachable_tracking_server_hides_the_password(tmp_path: Path) -> None:
    uri = f"http://alice:MLSECRET@127.0.0.1:{free_port()}"
    run = check(tmp_path, uri, env=FAST)
    assert_fails_closed(run, codes={3}, message="cannot reach MLflow tracking server at "
                                                "http://alice:***@127.0.0.1:")
    assert_no_secrets(run, tmp_path)


# The user's input: refused before any call.

@pytest.mark.parametrize("name", ["../fraud", "team/fraud", "fraud..", "a:b"])
def test_a_model_name_no_registry_can_hold_is_exit_2_before_any_call(
        tmp_path: Path, name: str) -> None:
    with misbehaving_server(lambda path: json_reply({})) as server:
        run = gatekeeper("check", str(PLAYBOOK), "--model", name, "--version", "1",
                         "--milestone", "poc", "--tracking-uri", server.url,
                         "--audit-log", str(tmp_path / "audit.jsonl"), cwd=tmp_path)
    # The playbook gates 'fraud', so the name is refused either by the playbook or by the
    # name check: never by a call to the server.
    assert_fails_closed(run, codes={2})
    assert server.paths == []


def test_a_model_name_with_a_slash_is_not_a_valid_model_name(tmp_path: Path) -> None:
    playbook = tmp_path / "slash.yaml"
    playbook.write_text(PLAYBOOK.read_text().replace("model: fraud", "model: team/fraud"))
    with misbehaving_server(lambda path: json_reply({})) as server:
        run = gatekeeper("check", str(playbook), "--model", "team/fraud", "--version", "1",
                         "--milestone", "poc", "--tracking-uri", server.url,
                         "--audit-log", str(tmp_path / "audit.jsonl"), cwd=tmp_path)
    if "playbook" in run.err.split("\n", 1)[0]:
        pytest.skip(f"the playbook schema refuses the name first: {run.err}")
    assert_fails_closed(run, codes={2}, message="not a valid model name: 'team/fraud'")
    assert server.paths == []


def test_a_version_past_any_registry_is_no_version(tmp_path: Path, tracking_uri: str) -> None:
    seed_version(tracking_uri, "fraud", metrics={"auc": 0.9})
    run = check(tmp_path, tracking_uri, version="99999999999999999999")
    assert_fails_closed(run, codes={2}, message="model 'fraud' has no version "
                                                "99999999999999999999; its versions: 1")


@pytest.mark.parametrize("uri", ["htp:/x", "sqlite://relative/mlflow.db", "http://",
                                 "localhost:5000", "http://alice:MLSECRET@[::1"])
def test_a_malformed_tracking_uri_is_exit_2(tmp_path: Path, uri: str) -> None:
    run = check(tmp_path, uri)
    assert_fails_closed(run, codes={2}, message="not a valid tracking URI")
    assert_no_secrets(run, tmp_path)
    assert_nothing_recorded(tmp_path)


# The registry's own state.

def test_a_deleted_source_run_is_no_evidence(tmp_path: Path, tracking_uri: str) -> None:
    version = seed_version(tracking_uri, "fraud", metrics={"auc": 0.9},
                           run_tags={"data_classification": "internal"},
                           artifacts={"model_card.md": "# fraud\n"})
    client = mlflow_client(tracking_uri)
    run_id = client.get_model_version("fraud", version).run_id
    assert run_id
    client.delete_run(run_id)
    run = check(tmp_path, tracking_uri, version=version)
    assert_fails_closed(run, codes={3}, message=f"the source run {run_id} of model 'fraud' "
                                                f"version {version} is deleted")
    assert_nothing_recorded(tmp_path)


# Prometheus misbehaves: the pilot check reports `error`, the gate blocks.

def pilot_playbook(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "pilot.yaml"
    path.write_text(PLAYBOOK.read_text() + PILOT_SLO.format(url=url))
    return path


def prometheus_url(base: str) -> str:
    return base.replace("http://", "http://bob:PROMSECRET@", 1)


@pytest.mark.parametrize("reply, message", [
    (trickle(every_s=1.0, total_bytes=600), "gave no complete answer within 20 s"),
    (json_reply({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1, "abc"]}]}}), "answered a malformed vector"),
    (json_reply({"status": "success", "data": {"resultType": "vector"}}),
     "answered a vector result"),
    (json_reply({"status": "success", "data": {"resultType": "matrix", "result": []}}),
     "answered a matrix result"),
    (json_reply({"status": "success", "data": {"resultType": "vector", "result": [
        {"value": [1, "3"]}]}}), "answered a malformed vector"),
    (json_reply({"status": "success", "data": {"resultType": "scalar", "result": [1]}}),
     "answered a malformed scalar"),
], ids=["trickle", "value-not-a-number", "no-result", "matrix", "no-metric", "short-scalar"])
def test_a_misbehaving_prometheus_is_an_error_naming_it(
        tmp_path: Path, tracking_uri: str, reply: Reply, message: str) -> None:
    version = seed_version(tracking_uri, "fraud", metrics={"auc": 0.9})
    with misbehaving_server(lambda path: reply) as server:
        playbook = pilot_playbook(tmp_path, prometheus_url(server.url))
        run = check(tmp_path, tracking_uri, playbook=playbook, version=version,
                    milestone="pilot",
                    env={"GATEKEEPER_PROMETHEUS_URL": f"{server.url}/?token=PROMTOKEN"})
    assert_fails_closed(run, codes={1})
    assert message in run.out, run.out
    assert f"Prometheus at http://bob:***@127.0.0.1:{server.server_address[1]}" in run.out
    assert_no_secrets(run, tmp_path)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["decision"] == "block"


def test_a_prometheus_token_in_the_environment_url_is_masked(
        tmp_path: Path, tracking_uri: str) -> None:
    """A token in the query string (e.g. for a proxy) is sent, and shown as ***."""
    version = seed_version(tracking_uri, "fraud", metrics={"auc": 0.9})
    reply = json_reply({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1, "abc"]}]}})
    with misbehaving_server(lambda path: reply) as server:
        playbook = pilot_playbook(tmp_path, "X")
        playbook.write_text(playbook.read_text().replace('        prometheus_url: "X"\n', ""))
        run = check(tmp_path, tracking_uri, playbook=playbook, version=version,
                    milestone="pilot",
                    env={"GATEKEEPER_PROMETHEUS_URL": f"{server.url}/?token=PROMTOKEN"})
    assert_fails_closed(run, codes={1})
    assert "token=***" in run.out, run.out
    assert all("token=PROMTOKEN" in p for p in server.paths), server.paths
    assert_no_secrets(run, tmp_path)


def test_prometheus_credentials_never_reach_the_evidence_refs(
        tmp_path: Path, tracking_uri: str) -> None:
    """An answered query is cited in the JSON result and the audit record by the URL that
    reproduces it: with its password and token masked."""
    version = seed_version(tracking_uri, "fraud", metrics={"auc": 0.9})
    reply = json_reply({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1, "5"]}]}})
    with misbehaving_server(lambda path: reply) as server:
        playbook = pilot_playbook(tmp_path, prometheus_url(server.url) + "/?token=PROMTOKEN")
        run = check(tmp_path, tracking_uri, playbook=playbook, version=version,
                    milestone="pilot")
    assert_fails_closed(run, codes={1})
    assert all("token=PROMTOKEN" in p for p in server.paths), server.paths
    cited = (f"prometheus:http://bob:***@127.0.0.1:{server.server_address[1]}/api/v1/query"
             "?token=***&query=")
    assert cited in (tmp_path / "result.json").read_text()
    assert cited in (tmp_path / "audit.jsonl").read_text()
    assert_no_secrets(run, tmp_path)


def test_a_real_tracking_server_never_shows_the_password(tmp_path: Path,
                                                         mlflow_server: str) -> None:
    """Against the session's real `mlflow server` (which ignores the credentials): the
    refusal names the server, password masked, whether or not another test registered
    `fraud` there."""
    run = check(tmp_path, with_credentials(mlflow_server), version="99999999999999999999")
    assert_fails_closed(run, codes={2})
    assert ("is not registered at http://alice:***@127.0.0.1:" in run.err
            or "model 'fraud' has no version 99999999999999999999" in run.err), run.err
    assert_no_secrets(run, tmp_path)
    assert_nothing_recorded(tmp_path)
