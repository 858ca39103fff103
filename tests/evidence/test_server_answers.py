"""Evidence sources against servers that are up but misbehave (loopback servers from
tests.support.misbehaving) and inputs no server can answer: bounded time, one error naming the
server with credentials masked, never a traceback or evidence about another version."""

from __future__ import annotations

import time

import pytest

from gatekeeper.errors import InvalidInputError
from gatekeeper.evidence.interface import EvidenceRequest, EvidenceSourceError
from gatekeeper.evidence.mlflow_env import (
    DEADLINE_ENV,
    RegistryDeadline,
    check_tracking_uri,
    deadline_seconds,
    mlflow_client,
)
from gatekeeper.evidence.mlflow_source import MlflowSource
from gatekeeper.evidence.prometheus import (
    PromAnswer,
    api_url,
    external_query,
    parse_answer,
    query_ref,
    run_query,
)
from tests.support.misbehaving import json_reply, misbehaving_server, trickle
from tests.support.registry import seed_version
from tests.support.server import free_port

#: Generous: the deadlines below are 2 s; a loaded 2-core machine may add seconds.
BOUND_S = 30.0


def with_credentials(url: str) -> str:
    return url.replace("http://", "http://alice:SECRET@", 1)


# MLflow over REST.

def test_a_trickling_registry_fails_at_the_deadline_naming_it() -> None:
    with misbehaving_server(lambda path: trickle(every_s=0.5)) as server:
        source = MlflowSource(with_credentials(server.url), RegistryDeadline(2.0))
        started = time.monotonic()
        with pytest.raises(EvidenceSourceError) as caught:
            source.resolve_version("fraud", "1", None)
    assert time.monotonic() - started < BOUND_S
    assert str(caught.value) == (
        f"MLflow registry at http://alice:***@127.0.0.1:{server.server_address[1]} gave no "
        "complete answer within 2 s (GATEKEEPER_MLFLOW_DEADLINE_S)")


def test_the_deadline_covers_every_call_of_the_source() -> None:
    """The budget is the command's, not each call's: a spent one fails the next call at once."""
    deadline = RegistryDeadline(1.0)
    with misbehaving_server(lambda path: trickle(every_s=0.5)) as server:
        source = MlflowSource(server.url, deadline)
        with pytest.raises(EvidenceSourceError):
            source.resolve_version("fraud", "1", None)
        started = time.monotonic()
        with pytest.raises(EvidenceSourceError, match="no complete answer"):
            source.collect("fraud", "1", EvidenceRequest())
    assert time.monotonic() - started < 10  # at once when spent; slack for a loaded machine


@pytest.mark.parametrize("answer", [
    {},
    {"model_version": {"name": "fraud", "version": "abc", "run_id": "r1"}},
    {"model_version": {"name": "fraud", "version": "2", "run_id": "r1"}},
    {"model_version": {"name": 5, "version": [1]}},
], ids=["empty", "version-not-a-number", "another-version", "wrongly-typed"])
def test_a_registry_answering_the_wrong_thing_is_an_error(answer: object) -> None:
    with misbehaving_server(lambda path: json_reply(answer)) as server:
        source = MlflowSource(with_credentials(server.url), RegistryDeadline(20.0))
        with pytest.raises(EvidenceSourceError) as caught:
            source.resolve_version("fraud", "1", None)
    message = str(caught.value)
    assert message.startswith("MLflow registry at http://alice:***@127.0.0.1:"), message
    assert "SECRET" not in message


def test_a_registry_answering_another_model_for_an_alias_is_an_error() -> None:
    answer = {"registered_model": {"name": "other", "aliases": [{"alias": "a", "version": "1"}]}}
    with misbehaving_server(lambda path: json_reply(answer)) as server:
        source = MlflowSource(server.url, RegistryDeadline(20.0))
        with pytest.raises(EvidenceSourceError, match="other than registered model 'fraud'"):
            source.resolve_version("fraud", None, "a")


@pytest.mark.parametrize("name", ["team/fraud", "../fraud", "fraud..", "a:b", "a\\b", " ",
                                  "bad\nname"])
def test_a_name_no_model_can_have_is_refused_before_any_call(name: str) -> None:
    with misbehaving_server(lambda path: json_reply({})) as server:
        source = MlflowSource(server.url)
        with pytest.raises(InvalidInputError, match="not a valid model name"):
            source.resolve_version(name, "1", None)
        with pytest.raises(InvalidInputError, match="not a valid model name"):
            source.collect(name, "1", EvidenceRequest())
    assert server.paths == []


def test_an_unreachable_registry_hides_the_password() -> None:
    source = MlflowSource(f"http://alice:SECRET@127.0.0.1:{free_port()}")
    with pytest.raises(EvidenceSourceError) as caught:
        source.resolve_version("fraud", "1", None)
    assert "alice:***@127.0.0.1" in str(caught.value)
    assert "SECRET" not in str(caught.value)


# The tracking URI itself.

@pytest.mark.parametrize("uri, problem", [
    ("htp:/x", "unknown scheme 'htp'"),
    ("localhost:5000", "unknown scheme 'localhost'"),
    ("sqlite://relative/mlflow.db", "SQLite URIs are sqlite:/// followed by the database path"),
    ("http://", "http URIs need a host"),
    ("http://[::1", "Invalid IPv6 URL"),
    ("http://h:port", "Port could not be cast"),
    ("", "it is empty"),
])
def test_a_malformed_tracking_uri_is_invalid_input(uri: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_tracking_uri(uri)
    assert str(caught.value).startswith(f"not a valid tracking URI: {uri!r}: ")
    assert problem in str(caught.value)


def test_a_malformed_tracking_uri_hides_its_password() -> None:
    with pytest.raises(InvalidInputError) as caught:
        check_tracking_uri("htp://alice:SECRET@host")
    assert "SECRET" not in str(caught.value)
    assert "htp://alice:***@host" in str(caught.value)


@pytest.mark.parametrize("uri", ["http://h:5000", "https://u:p@h/mlflow",
                                 "sqlite:////tmp/x.db", "sqlite:///rel.db",
                                 "postgresql+psycopg2://u:p@db/mlflow", "file:///tmp/mlruns",
                                 "databricks", "/tmp/mlruns", "mlruns"])
def test_uris_mlflow_accepts_pass(uri: str) -> None:
    check_tracking_uri(uri)


# The SQLite registry's own state.

def test_a_version_past_any_registry_is_no_version(tracking_uri: str) -> None:
    seed_version(tracking_uri, "fraud-big", metrics={"auc": 0.9}, log_model=False)
    source = MlflowSource(tracking_uri)
    with pytest.raises(InvalidInputError) as caught:
        source.resolve_version("fraud-big", "99999999999999999999", None)
    assert str(caught.value) == ("model 'fraud-big' has no version 99999999999999999999; "
                                 "its versions: 1")


def test_a_deleted_source_run_is_an_error_never_evidence(tracking_uri: str) -> None:
    version = seed_version(tracking_uri, "fraud-del", metrics={"auc": 0.9}, log_model=False)
    client = mlflow_client(tracking_uri)
    run_id = client.get_model_version("fraud-del", version).run_id
    assert run_id
    client.delete_run(run_id)
    source = MlflowSource(tracking_uri)
    resolved = source.resolve_version("fraud-del", version, None)
    with pytest.raises(EvidenceSourceError) as caught:
        source.collect("fraud-del", resolved, EvidenceRequest())
    assert str(caught.value) == (f"the source run {run_id} of model 'fraud-del' version "
                                 f"{version} is deleted: its metrics and artifacts are no "
                                 "evidence")


def test_a_deleted_baseline_run_is_an_error_too(tracking_uri: str) -> None:
    seed_version(tracking_uri, "fraud-base", metrics={"auc": 0.8}, log_model=False,
                 aliases=["champion"])
    candidate = seed_version(tracking_uri, "fraud-base", metrics={"auc": 0.9}, log_model=False)
    client = mlflow_client(tracking_uri)
    run_id = client.get_model_version("fraud-base", "1").run_id
    assert run_id
    client.delete_run(run_id)
    with pytest.raises(EvidenceSourceError, match="version 1 is deleted"):
        MlflowSource(tracking_uri).collect(
            "fraud-base", candidate, EvidenceRequest(baseline_aliases=frozenset({"champion"})))


# Prometheus.

URL = "http://bob:SECRET@prom.test:9090"


@pytest.mark.parametrize("data, message", [
    ({"resultType": "vector", "result": [{"metric": {}, "value": [1, "abc"]}]},
     "answered a malformed vector to `up`: could not convert string to float: 'abc'"),
    ({"resultType": "vector", "result": [{"value": [1, "3"]}]},
     "answered a malformed vector to `up`: 'metric'"),
    ({"resultType": "vector", "result": [{"metric": {}, "value": [1]}]},
     "answered a malformed vector to `up`: expected [time, value], got [1]"),
    ({"resultType": "vector", "result": [{"metric": {"a": 1}, "value": [1, "3"]}]},
     "answered a malformed vector to `up`: expected a label set"),
    ({"resultType": "vector", "result": [{"metric": {}, "value": [True, 3]}]},
     "answered a malformed vector to `up`: expected [time, \"value\"]"),
    ({"resultType": "vector", "result": ["x"]},
     "answered a malformed vector to `up`"),
    ({"resultType": "scalar", "result": [1]},
     "answered a malformed scalar to `up`: expected [time, value], got [1]"),
    ({"resultType": "vector"}, "answered a vector result to `up`: expected an instant vector"),
    ({"result": []}, "answered a malformed result to `up`"),
    ({"resultType": ["vector"], "result": []}, "answered a malformed result to `up`"),
    ({"resultType": "string", "result": [1, "x"]}, "answered a string result to `up`"),
    ([], "answered a malformed result to `up`"),
    (None, "answered a malformed result to `up`"),
], ids=lambda v: str(v)[:30])
def test_a_malformed_success_body_is_an_error(data: object, message: str) -> None:
    with pytest.raises(EvidenceSourceError) as caught:
        parse_answer(URL, "up", data)
    shown = str(caught.value)
    assert shown.startswith(f"Prometheus at http://bob:***@prom.test:9090 {message}"), shown


def test_a_trickling_prometheus_fails_at_the_deadline() -> None:
    with misbehaving_server(lambda path: trickle(every_s=0.5)) as server:
        started = time.monotonic()
        with pytest.raises(EvidenceSourceError) as caught:
            run_query(with_credentials(server.url), "up", deadline=2.0)
    assert time.monotonic() - started < BOUND_S
    assert str(caught.value) == (f"Prometheus at http://alice:***@127.0.0.1:"
                                 f"{server.server_address[1]} gave no complete answer within 2 s")


def test_answers_and_refs_carry_no_credentials() -> None:
    found = parse_answer(URL + "/?token=T0K", "up",
                         {"resultType": "scalar", "result": [1.5, "2"]})
    assert found == PromAnswer("http://bob:***@prom.test:9090/?token=***", "up", 1.5,
                               found.samples)
    assert found.ref() == ("prometheus:http://bob:***@prom.test:9090/api/v1/query?token=***"
                           "&query=up&time=1.500")
    query = external_query("k", "up", URL + "?api_key=K")
    assert query_ref(query) == ("prometheus:http://bob:***@prom.test:9090/api/v1/query"
                                "?api_key=***&query=up")


def test_a_token_in_the_query_string_is_sent_to_the_api_path() -> None:
    assert api_url("http://h:9090/prom/?token=T") == "http://h:9090/prom/api/v1/query?token=T"
    answer = {"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}}
    with misbehaving_server(lambda path: json_reply(answer)) as server:
        found = run_query(f"{server.url}/?token=T0K", "up")
    assert found.samples[0].value == 2.0
    assert server.paths[0].startswith("/api/v1/query?token=T0K&query=up")


@pytest.mark.parametrize("raw, seconds", [(None, 30.0), ("5", 5.0), ("0.5", 0.5)])
def test_the_deadline_comes_from_the_environment(raw: str | None, seconds: float) -> None:
    environ = {} if raw is None else {DEADLINE_ENV: raw}
    assert deadline_seconds(environ) == seconds


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "inf", "nan"])
def test_a_deadline_that_is_not_a_positive_number_is_invalid_input(raw: str) -> None:
    with pytest.raises(InvalidInputError, match=f"{DEADLINE_ENV} must be a positive number"):
        deadline_seconds({DEADLINE_ENV: raw})
