"""Who made a decision: the actor and the CI run it came from.

Only an explicit allow-list of CI variables is captured, never a prefix match, so a secret that a
CI system happens to expose under a familiar prefix can never reach the audit log. As a second
guard, any name containing TOKEN, SECRET, PASSWORD or KEY is dropped even if allow-listed.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass, field

# Actor sources, most specific first: an explicit override, then the CI's authenticated user.
ACTOR_VARIABLES = ("GATEKEEPER_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN")

CI_VARIABLES = (
    # GitHub Actions
    "GITHUB_ACTOR",
    "GITHUB_TRIGGERING_ACTOR",
    "GITHUB_REPOSITORY",
    "GITHUB_EVENT_NAME",
    "GITHUB_REF",
    "GITHUB_SHA",
    "GITHUB_WORKFLOW",
    "GITHUB_WORKFLOW_REF",
    "GITHUB_JOB",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_RUN_NUMBER",
    "GITHUB_SERVER_URL",
    # GitLab CI (GITLAB_USER_EMAIL and GITLAB_USER_NAME are personal data: left out on purpose)
    "GITLAB_USER_LOGIN",
    "CI_SERVER_URL",
    "CI_PROJECT_PATH",
    "CI_PIPELINE_ID",
    "CI_PIPELINE_SOURCE",
    "CI_JOB_ID",
    "CI_JOB_NAME",
    "CI_JOB_URL",
    "CI_COMMIT_SHA",
    "CI_COMMIT_REF_NAME",
)

_SENSITIVE_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "KEY")


@dataclass(frozen=True)
class Identity:
    """The actor (a login name), which variable it came from, and the CI run's identifiers."""

    actor: str
    actor_source: str
    ci: Mapping[str, str] = field(default_factory=dict)


def current_identity(env: Mapping[str, str]) -> Identity:
    """The identity described by ``env`` (pass ``os.environ`` in production)."""
    actor, source = _actor(env)
    return Identity(actor=actor, actor_source=source, ci=ci_identity(env))


def ci_identity(env: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed, non-empty CI variables in ``env``."""
    return {
        name: env[name]
        for name in CI_VARIABLES
        if env.get(name) and not is_sensitive(name)
    }


def is_sensitive(name: str) -> bool:
    """Whether a variable name suggests a credential."""
    upper = name.upper()
    return any(marker in upper for marker in _SENSITIVE_MARKERS)


def _actor(env: Mapping[str, str]) -> tuple[str, str]:
    for name in ACTOR_VARIABLES:
        if env.get(name):
            return env[name], name
    return _os_user(), "os_user"


def _os_user() -> str:
    # getpass raises OSError when neither the environment nor the passwd database knows the
    # uid (common in containers); a record must still be written, so say so instead of failing.
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "unknown"
