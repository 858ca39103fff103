"""MlflowSource against real MLflow: a SQLite registry per test, and a real ``mlflow server``."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gatekeeper.errors import ExitCode, InvalidInputError
from gatekeeper.evidence import mlflow_source
from gatekeeper.evidence.interface import EvidenceRequest, EvidenceSourceError, ModelInfo
from gatekeeper.evidence.mlflow_source import MlflowSource
from tests.support.registry import seed_version
from tests.support.server import free_port

EVERYTHING = EvidenceRequest(baseline_aliases=frozenset({"champion", "prod"}), artifacts=True,
                             model_info=True)


def seed_two_versions(uri: str, name: str = "churn") -> tuple[str, str]:
    """Version 1 is the champion; version 2, the candidate, carries every kind of evidence."""
    champion = seed_version(uri, name, metrics={"accuracy": 0.90}, params={"C": "0.5"},
                            aliases=["champion"])
    candidate = seed_version(
        uri, name, metrics={"accuracy": 0.93, "latency_p95_ms": 41.0}, params={"C": "1.0"},
        run_tags={"team": "risk"}, version_tags={"owner": "ana"}, description="retrained",
        artifacts={"model_card.md": "# card", "reports/eval/summary.json": "{}"},
        aliases=["staging"])
    return champion, candidate


# resolve_version --------------------------------------------------------------------------


def test_resolves_a_version_number_and_an_alias(tracking_uri: str) -> None:
    seed_two_versions(tracking_uri)
    source = MlflowSource(tracking_uri)
    assert source.resolve_version("churn", "2", None) == "2"
    assert source.resolve_version("churn", None, "champion") == "1"


def test_unknown_model_lists_the_registered_models_sorted(tracking_uri: str) -> None:
    for name in ("zeta", "alpha", "mid"):
        seed_version(tracking_uri, name, metrics={}, log_model=False)
    with pytest.raises(InvalidInputError) as caught:
        MlflowSource(tracking_uri).resolve_version("churn", "1", None)
    assert str(caught.value) == (f"model 'churn' is not registered at {tracking_uri}; "
                                 "registered models: alpha, mid, zeta")
    assert caught.value.exit_code is ExitCode.INVALID_INPUT


def test_unknown_model_in_an_empty_registry(tracking_uri: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        MlflowSource(tracking_uri).resolve_version("churn", None, "champion")
    assert str(caught.value) == (f"model 'churn' is not registered at {tracking_uri}; "
                                 "there are no registered models")


def test_unknown_model_listing_is_capped(tracking_uri: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlflow_source, "MAX_LISTED", 2)
    for name in ("c", "a", "b"):
        seed_version(tracking_uri, name, metrics={}, log_model=False)
    with pytest.raises(InvalidInputError, match=r"registered models: a, b, \.\.\.$"):
        MlflowSource(tracking_uri).resolve_version("churn", "1", None)


def test_unknown_version_lists_the_versions(tracking_uri: str) -> None:
    seed_two_versions(tracking_uri)
    with pytest.raises(InvalidInputError) as caught:
        MlflowSource(tracking_uri).resolve_version("churn", "7", None)
    assert str(caught.value) == "model 'churn' has no version 7; its versions: 1, 2"


def test_unknown_version_lists_the_newest_when_there_are_many(
        tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlflow_source, "MAX_LISTED", 2)
    for _ in range(3):
        seed_version(tracking_uri, "churn", metrics={}, log_model=False)
    with pytest.raises(InvalidInputError) as caught:
        MlflowSource(tracking_uri).resolve_version("churn", "9", None)
    assert str(caught.value) == "model 'churn' has no version 9; its versions: ..., 2, 3"


def test_a_version_must_be_a_number(tracking_uri: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        MlflowSource(tracking_uri).resolve_version("churn", "latest", None)
    assert str(caught.value) == "model version must be a number, got 'latest'"


def test_unknown_alias_lists_the_aliases(tracking_uri: str) -> None:
    seed_two_versions(tracking_uri)
    with pytest.raises(InvalidInputError) as caught:
        MlflowSource(tracking_uri).resolve_version("churn", None, "prod")
    assert str(caught.value) == ("model 'churn' has no alias 'prod'; "
                                 "its aliases: champion -> 1, staging -> 2")


def test_unknown_alias_of_a_model_without_aliases(tracking_uri: str) -> None:
    seed_version(tracking_uri, "churn", metrics={}, log_model=False)
    with pytest.raises(InvalidInputError) as caught:
        MlflowSource(tracking_uri).resolve_version("churn", None, "prod")
    assert str(caught.value) == "model 'churn' has no alias 'prod'; it has no aliases"


@pytest.mark.parametrize(("version", "alias"), [(None, None), ("1", "champion")])
def test_exactly_one_of_version_and_alias(tracking_uri: str, version: str | None,
                                          alias: str | None) -> None:
    with pytest.raises(InvalidInputError) as caught:
        MlflowSource(tracking_uri).resolve_version("churn", version, alias)
    assert str(caught.value) == "give exactly one of --version or --alias"


# collect ----------------------------------------------------------------------------------


def test_collects_the_version_and_its_run(tracking_uri: str) -> None:
    _, version = seed_two_versions(tracking_uri)
    candidate = MlflowSource(tracking_uri).collect("churn", version, EvidenceRequest()).candidate
    assert (candidate.name, candidate.version, candidate.tracking_uri) == ("churn", "2",
                                                                          tracking_uri)
    assert candidate.source.startswith("models:/m-")
    assert candidate.run_id
    assert candidate.description == "retrained"
    assert candidate.aliases == ("staging",)
    assert candidate.version_tags == {"owner": "ana"}
    assert candidate.metrics == {"accuracy": 0.93, "latency_p95_ms": 41.0}
    assert candidate.params == {"C": "1.0"}
    assert candidate.run_tags["team"] == "risk"
    # Only what was asked for is read.
    assert candidate.artifacts is None
    assert candidate.model is None


def test_collects_artifacts_recursively_as_relative_paths(tracking_uri: str) -> None:
    _, version = seed_two_versions(tracking_uri)
    request = EvidenceRequest(artifacts=True)
    candidate = MlflowSource(tracking_uri).collect("churn", version, request).candidate
    assert candidate.artifacts == frozenset(
        {"model_card.md", "reports", "reports/eval", "reports/eval/summary.json"})


def test_refuses_a_partial_artifact_listing(tracking_uri: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _, version = seed_two_versions(tracking_uri)
    monkeypatch.setattr(mlflow_source, "MAX_ARTIFACT_DEPTH", 2)
    with pytest.raises(EvidenceSourceError, match=r"\(5000 paths, 2 levels\)$"):
        MlflowSource(tracking_uri).collect("churn", version, EvidenceRequest(artifacts=True))


def test_collects_model_info(tracking_uri: str) -> None:
    _, version = seed_two_versions(tracking_uri)
    request = EvidenceRequest(model_info=True)
    model = MlflowSource(tracking_uri).collect("churn", version, request).candidate.model
    assert isinstance(model, ModelInfo)
    assert model.flavors == ("python_function", "sklearn")
    assert (model.has_signature, model.has_input_example) == (True, True)
    assert Path(model.uri, "MLmodel").is_file()


def test_a_version_without_an_mlmodel_has_no_model_info(tracking_uri: str) -> None:
    version = seed_version(tracking_uri, "churn", metrics={"accuracy": 0.9}, log_model=False)
    candidate = MlflowSource(tracking_uri).collect("churn", version, EVERYTHING).candidate
    assert candidate.source == f"runs:/{candidate.run_id}/model"
    assert candidate.model is None
    assert candidate.artifacts == frozenset()


def test_collects_baselines_set_and_unset(tracking_uri: str) -> None:
    _, version = seed_two_versions(tracking_uri)
    evidence = MlflowSource(tracking_uri).collect("churn", version, EVERYTHING)
    champion = evidence.baseline("champion")
    assert champion is not None
    assert (champion.version, champion.metrics) == ("1", {"accuracy": 0.90})
    assert champion.model is not None  # read like the candidate
    assert evidence.baselines == {"champion": champion, "prod": None}


def test_a_baseline_on_the_candidate_is_the_candidate(tracking_uri: str) -> None:
    champion, _ = seed_two_versions(tracking_uri)
    request = EvidenceRequest(baseline_aliases=frozenset({"champion"}))
    evidence = MlflowSource(tracking_uri).collect("churn", champion, request)
    assert evidence.baseline("champion") is evidence.candidate


def test_collect_after_resolving_by_alias_sees_the_alias_move(tracking_uri: str) -> None:
    """What resolve_version read is reused once, never served stale to a later collect."""
    seed_two_versions(tracking_uri)
    source = MlflowSource(tracking_uri)
    request = EvidenceRequest(baseline_aliases=frozenset({"champion"}))
    version = source.resolve_version("churn", None, "staging")
    assert source.collect("churn", version, request).baselines["champion"] is not None
    seed_version(tracking_uri, "churn", metrics={}, log_model=False, aliases=["champion"])
    champion = source.collect("churn", version, request).baselines["champion"]
    assert champion is not None and champion.version == "3"


def test_collect_of_an_unknown_version(tracking_uri: str) -> None:
    seed_two_versions(tracking_uri)
    with pytest.raises(InvalidInputError) as caught:
        MlflowSource(tracking_uri).collect("churn", "3", EvidenceRequest())
    assert str(caught.value) == "model 'churn' has no version 3; its versions: 1, 2"


# failures ---------------------------------------------------------------------------------


def test_unreachable_server_fails_fast_naming_the_uri() -> None:
    uri = f"http://127.0.0.1:{free_port()}/"
    started = time.monotonic()
    with pytest.raises(EvidenceSourceError) as caught:
        MlflowSource(uri).resolve_version("churn", "1", None)
    # Two retries with backoff factor 1 and jitter 0.5: at most ~2.5 s of waiting.
    assert time.monotonic() - started < 10
    assert str(caught.value) == f"cannot reach MLflow tracking server at {uri}: connection refused"
    assert caught.value.exit_code is ExitCode.NO_VERDICT


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_server_that_never_answers_times_out(silent_server: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(EvidenceSourceError) as caught:
        MlflowSource(silent_server).collect("churn", "1", EvidenceRequest())
    assert str(caught.value) == (f"cannot reach MLflow tracking server at {silent_server}: "
                                 "no answer within 1 s (MLFLOW_HTTP_REQUEST_TIMEOUT)")


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "typo" / "mlflow.db"
    with pytest.raises(InvalidInputError) as caught:
        MlflowSource(f"sqlite:///{db}").resolve_version("churn", "1", None)
    assert str(caught.value) == f"no MLflow registry at sqlite:///{db}: {db} does not exist"
    assert not db.parent.exists()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.write_text("not a database")
    uri = f"sqlite:///{db}"
    with pytest.raises(EvidenceSourceError) as caught:
        MlflowSource(uri).collect("churn", "1", EvidenceRequest())
    assert str(caught.value) == (f"MLflow registry at {uri} failed: "
                                 "(sqlite3.DatabaseError) file is not a database")


# a real tracking server -------------------------------------------------------------------


def test_collects_everything_from_a_tracking_server(mlflow_server: str) -> None:
    name = f"churn-{uuid.uuid4().hex[:8]}"
    _, version = seed_two_versions(mlflow_server, name)
    source = MlflowSource(mlflow_server)
    assert source.resolve_version(name, None, "staging") == version
    evidence = source.collect(name, version, EVERYTHING)
    candidate = evidence.candidate
    assert candidate.metrics == {"accuracy": 0.93, "latency_p95_ms": 41.0}
    assert candidate.version_tags == {"owner": "ana"}
    assert candidate.artifacts == frozenset(
        {"model_card.md", "reports", "reports/eval", "reports/eval/summary.json"})
    assert candidate.model is not None
    assert candidate.model.uri.startswith("mlflow-artifacts:/")
    assert candidate.model.flavors == ("python_function", "sklearn")
    assert (candidate.model.has_signature, candidate.model.has_input_example) == (True, True)
    champion = evidence.baseline("champion")
    assert champion is not None and champion.metrics == {"accuracy": 0.90}
    assert evidence.baseline("prod") is None


def test_unknown_version_on_a_tracking_server(mlflow_server: str) -> None:
    name = f"churn-{uuid.uuid4().hex[:8]}"
    seed_version(mlflow_server, name, metrics={}, log_model=False)
    with pytest.raises(InvalidInputError) as caught:
        MlflowSource(mlflow_server).resolve_version(name, "5", None)
    assert str(caught.value) == f"model '{name}' has no version 5; its versions: 1"


def test_a_version_without_an_mlmodel_on_a_tracking_server(mlflow_server: str) -> None:
    name = f"churn-{uuid.uuid4().hex[:8]}"
    version = seed_version(mlflow_server, name, metrics={}, log_model=False)
    request = EvidenceRequest(model_info=True)
    assert MlflowSource(mlflow_server).collect(name, version, request).candidate.model is None
