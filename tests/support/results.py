"""One shared dataset every output format renders: a blocked serve decision with a check in
every state (pass, warn, fail, error, skip, waived), an advisory failure, the prerequisite, a
promotion-free verdict, the version's milestone history and a registry with a web address.

Format tests render it and assert on their own consumer (XSD, SARIF schema, Chromium, ...);
``sample_result()`` is also written to ``result.json`` by tests of ``gatekeeper report``.
"""

from __future__ import annotations

from gatekeeper.decide.result import (
    AuditRef,
    BaselineRef,
    CheckResult,
    Location,
    MilestoneHistory,
    MilestoneRef,
    ModelRef,
    PlaybookRef,
    PolicyRef,
    Result,
)
from gatekeeper.evaluate.interface import Category, Status

PLAYBOOK = "playbooks/churn.yaml"
RUN = "mlflow:runs/0a1b2c3d4e5f/metrics/"


def check(check_id: str, status: Status, line: int, **extra: object) -> CheckResult:
    fields: dict[str, object] = {
        "kind": "metric_threshold", "category": Category.QUALITY, "blocking": True,
        "message": f"{check_id} is {status.value}", "owner": "ds-team@example.com",
        "location": Location(PLAYBOOK, line), **extra}
    return CheckResult(id=check_id, status=status, **fields)  # type: ignore[arg-type]


def sample_checks() -> tuple[CheckResult, ...]:
    return (
        CheckResult(
            id="gatekeeper.earlier-milestones", kind="prerequisite",
            category=Category.GOVERNANCE, status=Status.PASS, blocking=True,
            message="earlier milestones passed: poc", observed={"poc": "sha256:" + "1" * 64},
            threshold={"poc": "sha256:" + "2" * 64}, evidence={"poc": "audit:sha256:" + "1" * 64},
            location=Location(PLAYBOOK, 40)),
        check("latency-predict", Status.FAIL, 44, kind="latency", category=Category.LATENCY,
              owner="platform@example.com",
              message="predict: p95 = 74 ms > 40 ms, p99 = 161 ms > 80 ms",
              observed={"p95_ms": 74.0, "p99_ms": 161.0},
              threshold={"p95_ms": 40.0, "p99_ms": 80.0},
              evidence={"p95_ms": RUN + "latency.predict.p95_ms",
                        "p99_ms": RUN + "latency.predict.p99_ms"},
              remedy="p95_ms 74 is 34 (85%) above the limit 40; "
                     "p99_ms 161 is 81 (101%) above the limit 80"),
        check("model-card", Status.ERROR, 52, kind="required_evidence",
              category=Category.GOVERNANCE, owner="product@example.com",
              message="missing on churn v3: artifact 'model_card.md'",
              observed={"found": [], "missing": ["artifact 'model_card.md'"]},
              threshold={"artifacts": ["model_card.md"]},
              evidence={"artifact.model_card.md": "mlflow:runs/0a1b2c3d4e5f/artifacts/"
                                                  "model_card.md"},
              remedy="add the missing evidence: log artifact 'model_card.md' with the model "
                     "(mlflow.log_artifact)"),
        check("cost-per-1k", Status.WARN, 58, kind="cost", category=Category.COST,
              owner="platform@example.com", message="0.0000163991 per 1k > warn 0.00001",
              observed={"total": 1.63991e-05}, threshold={"budget_per_1k": 2e-05,
                                                          "warn_per_1k": 1e-05},
              evidence={"throughput_rps": RUN + "throughput_rps"}),
        check("accuracy-floor", Status.PASS, 64, message="accuracy = 0.953216 >= 0.9",
              observed=0.953216, threshold={"min": 0.9}, evidence={"value": RUN + "accuracy"}),
        check("pii-findings", Status.WAIVED, 70, category=Category.PRIVACY,
              message="privacy.pii_findings = 2 > 0", observed=2.0, threshold={"max": 0.0},
              evidence={"value": RUN + "privacy.pii_findings"},
              waiver={"id": "W-7", "reason": "synthetic test data", "expires": "2027-01-01",
                      "approved_by": "ciso@example.com"}),
        check("gpu-util", Status.SKIP, 76, category=Category.COST,
              message="not applicable: no accelerator in the cost model"),
        check("f1-advisory", Status.WARN, 82, blocking=False,
              message="f1 = 0.88 < 0.9 (advisory)", observed=0.88, threshold={"min": 0.9},
              evidence={"value": RUN + "f1"},
              remedy="observed 0.88 is 0.02 (2%) below the minimum 0.9"),
    )


def sample_result() -> Result:
    """Blocked by latency-predict (fail) and model-card (error)."""
    return Result(
        model=ModelRef(name="churn", version="3", run_id="0a1b2c3d4e5f",
                       source="models:/m-0a1b/artifacts"),
        milestone=MilestoneRef(id="serve", title="Production-ready serve layer"),
        playbook=PlaybookRef(path=PLAYBOOK, digest="sha256:" + "ab" * 32, git_commit="c0ffee1",
                             milestone_digest="sha256:" + "cd" * 32),
        baseline=BaselineRef(alias="champion", version="2", run_id="run-2"),
        checks=sample_checks(),
        actor="alice",
        started_at="2026-12-03T08:00:00.000Z",
        finished_at="2026-12-03T08:00:02.500Z",
        gatekeeper_version="0.1.0",
        audit=AuditRef(log=".gatekeeper/audit.jsonl", seq=17, hash="sha256:" + "ef" * 32),
        policies=(PolicyRef(id="org-baseline", path="policies/org.yaml",
                            digest="sha256:" + "12" * 32),),
        history=(
            MilestoneHistory("poc", "poc", "poc-validated", "pass", "2026-12-02T10:00:00Z", 12,
                             "sha256:" + "1" * 64),
            MilestoneHistory("serve", "serve", "serve-ready", "block", "2026-12-02T11:00:00Z",
                             15, "sha256:" + "3" * 64),
            MilestoneHistory("pilot", "pilot", "champion"),
        ),
        registry_url="https://mlflow.example.com",
    )
