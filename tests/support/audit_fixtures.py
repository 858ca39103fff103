"""Fixtures for the audit record tests and the `audit` commands' tests: a fixed clock, real
log files, a sample Result. Registered for the whole suite in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gatekeeper.decide.result import (
    BaselineRef,
    CheckResult,
    MilestoneRef,
    ModelRef,
    PlaybookRef,
    Result,
)
from gatekeeper.evaluate.interface import Category, Status
from gatekeeper.record import AuditLog, Identity

FIXED_TIME = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32


def fixed_clock() -> datetime:
    return FIXED_TIME


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "audit.jsonl"


@pytest.fixture
def make_log(log_path: Path) -> Callable[..., AuditLog]:
    """An AuditLog on ``log_path`` with the fixed clock and no key unless ``key`` is given."""

    def make(key: str | None = None, path: Path | None = None) -> AuditLog:
        env = {"GATEKEEPER_AUDIT_KEY": key} if key else {}
        return AuditLog(path or log_path, env=env, clock=fixed_clock)

    return make


@pytest.fixture
def identity() -> Identity:
    return Identity(
        actor="alice",
        actor_source="GITHUB_ACTOR",
        ci={"GITHUB_REPOSITORY": "acme/models", "GITHUB_RUN_ID": "42"},
    )


def _check(
    check_id: str, status: Status, *, blocking: bool = True, **extra: Any
) -> CheckResult:
    return CheckResult(
        id=check_id,
        kind="metric_threshold",
        category=Category.QUALITY,
        status=status,
        blocking=blocking,
        message=extra.pop("message", f"{check_id} is {status.value}"),
        **extra,
    )


@pytest.fixture
def make_result() -> Callable[..., Result]:
    """A Result for model churn v3 at milestone staging, with the given checks."""

    def make(*checks: CheckResult, version: str = "3", run_id: str = "run-3") -> Result:
        return Result(
            model=ModelRef(name="churn", version=version, run_id=run_id, source="models:/m/3"),
            milestone=MilestoneRef(id="staging", title="Staging"),
            playbook=PlaybookRef(path="playbooks/churn.yaml", digest=DIGEST, git_commit="c0ffee"),
            baseline=BaselineRef(alias="champion", version="2", run_id="run-2"),
            checks=checks or (_check("auc", Status.PASS, observed=0.91, threshold={"min": 0.8}),),
            actor="alice",
            started_at="2024-05-01T11:59:58Z",
            finished_at="2024-05-01T11:59:59Z",
            gatekeeper_version="0.1.0",
        )

    return make


@pytest.fixture
def make_check() -> Callable[..., CheckResult]:
    """``make_check(id, status, blocking=True, message=..., observed=..., ...)``."""
    return _check


@pytest.fixture
def make_entry() -> Callable[..., dict[str, Any]]:
    """A minimal decision entry for chain tests; keyword arguments add or replace fields."""
    return _entry


def _entry(**fields: Any) -> dict[str, Any]:
    return {
        "action": "decision",
        "model": {"name": "churn", "version": "3", "run_id": "run-3", "source": "s"},
        "milestone": "staging",
        "decision": "pass",
        "actor": "alice",
        **fields,
    }
