"""MlflowRegistry, the promotion adapter, against a real SQLite MLflow registry."""

from __future__ import annotations

import time

import pytest

from gatekeeper.act.mlflow_registry import MlflowRegistry, PromotionError
from gatekeeper.errors import ExitCode, InvalidInputError
from gatekeeper.evidence.interface import EvidenceSourceError
from gatekeeper.evidence.mlflow_env import RegistryDeadline, mlflow_client
from tests.support.misbehaving import misbehaving_server, trickle
from tests.support.registry import seed_version
from tests.support.server import free_port

TAGS = {
    "gatekeeper.serve.decision": "pass",
    "gatekeeper.serve.playbook_digest": "sha256:ab12",
    "gatekeeper.serve.audit_hash": "sha256:cd34",
}


def seed(uri: str, versions: int = 2) -> None:
    for _ in range(versions):
        seed_version(uri, "churn", metrics={"accuracy": 0.9}, log_model=False)


def aliases(uri: str) -> dict[str, str]:
    model = mlflow_client(uri).get_registered_model("churn")
    return {alias: str(version) for alias, version in model.aliases.items()}


def version_tags(uri: str, version: str) -> dict[str, str]:
    return dict(mlflow_client(uri).get_model_version("churn", version).tags)


def test_promote_sets_tags_then_alias_and_returns_none_when_unset(tracking_uri: str) -> None:
    seed(tracking_uri)
    assert MlflowRegistry(tracking_uri).promote("churn", "2", "champion", TAGS) is None
    assert aliases(tracking_uri) == {"champion": "2"}
    assert version_tags(tracking_uri, "2") == TAGS


def test_promote_returns_the_version_the_alias_pointed_to(tracking_uri: str) -> None:
    seed(tracking_uri)
    registry = MlflowRegistry(tracking_uri)
    registry.promote("churn", "1", "champion", TAGS)
    assert registry.promote("churn", "2", "champion", TAGS) == "1"
    assert registry.alias_version("churn", "champion") == "2"


def test_other_aliases_stay_until_promoted(tracking_uri: str) -> None:
    seed(tracking_uri)
    registry = MlflowRegistry(tracking_uri)
    registry.promote("churn", "1", "champion", {})
    registry.promote("churn", "2", "staging", TAGS)
    assert aliases(tracking_uri) == {"champion": "1", "staging": "2"}
    assert version_tags(tracking_uri, "1") == {}
    assert registry.promote("churn", "2", "champion", {}) == "1"
    assert aliases(tracking_uri) == {"champion": "2", "staging": "2"}


def test_alias_version_of_an_unset_alias(tracking_uri: str) -> None:
    seed(tracking_uri, versions=1)
    assert MlflowRegistry(tracking_uri).alias_version("churn", "champion") is None


def test_unknown_model(tracking_uri: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        MlflowRegistry(tracking_uri).alias_version("churn", "champion")
    assert str(caught.value) == (f"model 'churn' is not registered at {tracking_uri}; "
                                 "there are no registered models")


def test_promoting_an_unknown_version_writes_nothing(tracking_uri: str) -> None:
    seed(tracking_uri)
    registry = MlflowRegistry(tracking_uri)
    registry.promote("churn", "1", "champion", {})
    with pytest.raises(InvalidInputError) as caught:
        registry.promote("churn", "9", "champion", TAGS)
    assert str(caught.value) == "model 'churn' has no version 9; its versions: 1, 2"
    assert aliases(tracking_uri) == {"champion": "1"}


def test_an_alias_the_registry_refuses_says_the_tags_were_written(tracking_uri: str) -> None:
    seed(tracking_uri)
    with pytest.raises(PromotionError) as caught:
        MlflowRegistry(tracking_uri).promote("churn", "2", "v1", TAGS)  # "v<n>" is reserved
    assert str(caught.value).startswith(
        f"tagged churn version 2 but could not set alias 'v1': MLflow registry at "
        f"{tracking_uri} failed: ")
    assert caught.value.exit_code is ExitCode.NO_VERDICT
    assert version_tags(tracking_uri, "2") == TAGS


def test_unreachable_registry_names_the_uri() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EvidenceSourceError) as caught:
        MlflowRegistry(uri).promote("churn", "2", "champion", TAGS)
    assert str(caught.value) == f"cannot reach MLflow tracking server at {uri}: connection refused"


def test_a_trickling_registry_fails_at_the_deadline_with_the_password_masked() -> None:
    with misbehaving_server(lambda path: trickle(every_s=0.5)) as server:
        uri = server.url.replace("http://", "http://alice:SECRET@", 1)
        registry = MlflowRegistry(uri, RegistryDeadline(2.0))
        started = time.monotonic()
        with pytest.raises(EvidenceSourceError) as caught:
            registry.alias_version("churn", "champion")
    assert time.monotonic() - started < 30
    assert str(caught.value) == (
        f"MLflow registry at http://alice:***@127.0.0.1:{server.server_address[1]} gave no "
        "complete answer within 2 s (GATEKEEPER_MLFLOW_DEADLINE_S)")


def test_a_promotion_past_the_deadline_says_the_alias_may_have_moved() -> None:
    with misbehaving_server(lambda path: trickle(every_s=0.5)) as server:
        registry = MlflowRegistry(server.url, RegistryDeadline(2.0))
        with pytest.raises(PromotionError) as caught:
            registry.promote("churn", "1", "champion", TAGS)
    assert str(caught.value).startswith(
        "promoting churn version 1 to alias 'champion' did not finish, so the alias may or may "
        "not have moved: MLflow registry at http://127.0.0.1:")
    assert caught.value.exit_code == ExitCode.NO_VERDICT


def test_a_tracking_uri_mlflow_cannot_use_is_refused_before_any_call() -> None:
    with pytest.raises(InvalidInputError, match="not a valid tracking URI: 'htp:/x'"):
        MlflowRegistry("htp:/x").alias_version("churn", "champion")
