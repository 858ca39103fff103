"""Identity: who acted, from which CI run, and never a credential."""

from __future__ import annotations

import getpass

import pytest

from gatekeeper.record import Identity, current_identity
from gatekeeper.record.identity import CI_VARIABLES

GITHUB = {
    "GITHUB_ACTOR": "octocat",
    "GITHUB_REPOSITORY": "acme/models",
    "GITHUB_RUN_ID": "1234",
    "GITHUB_SHA": "deadbeef",
    "GITHUB_WORKFLOW": "gate",
    "GITHUB_TOKEN": "ghs_secret",
    "ACTIONS_RUNTIME_TOKEN": "secret",
    "GITHUB_EVENT_PATH": "/home/runner/event.json",
}
GITLAB = {
    "GITLAB_USER_LOGIN": "tanuki",
    "GITLAB_USER_EMAIL": "tanuki@example.com",
    "CI_PROJECT_PATH": "acme/models",
    "CI_JOB_ID": "99",
    "CI_COMMIT_SHA": "cafe",
    "CI_JOB_TOKEN": "secret",
    "CI_REGISTRY_PASSWORD": "secret",
    "CI_DEPLOY_KEY": "secret",
}


def test_github() -> None:
    assert current_identity(GITHUB) == Identity(
        actor="octocat",
        actor_source="GITHUB_ACTOR",
        ci={
            "GITHUB_ACTOR": "octocat",
            "GITHUB_REPOSITORY": "acme/models",
            "GITHUB_SHA": "deadbeef",
            "GITHUB_WORKFLOW": "gate",
            "GITHUB_RUN_ID": "1234",
        },
    )


def test_gitlab_leaves_out_tokens_and_personal_data() -> None:
    assert current_identity(GITLAB) == Identity(
        actor="tanuki",
        actor_source="GITLAB_USER_LOGIN",
        ci={
            "GITLAB_USER_LOGIN": "tanuki",
            "CI_PROJECT_PATH": "acme/models",
            "CI_JOB_ID": "99",
            "CI_COMMIT_SHA": "cafe",
        },
    )


def test_explicit_actor_wins() -> None:
    identity = current_identity({**GITHUB, "GATEKEEPER_ACTOR": "release-bot"})
    assert (identity.actor, identity.actor_source) == ("release-bot", "GATEKEEPER_ACTOR")


def test_os_user_outside_ci() -> None:
    assert current_identity({}) == Identity(actor=getpass.getuser(), actor_source="os_user")


@pytest.mark.parametrize("marker", ["TOKEN", "SECRET", "PASSWORD", "KEY", "token"])
def test_no_credential_variable_is_ever_captured(marker: str) -> None:
    env = {**GITHUB, **GITLAB, **{f"{name}_{marker}": "x" for name in CI_VARIABLES}}
    ci = current_identity(env).ci
    assert all(marker.upper() not in name.upper() for name in ci)
    assert "secret" not in ci.values() and "ghs_secret" not in ci.values()


def test_allow_list_has_no_credentials() -> None:
    assert not [name for name in CI_VARIABLES if "TOKEN" in name or "KEY" in name]
