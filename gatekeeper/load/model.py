"""The playbook format, as pydantic models: frozen, unknown keys rejected.

YAML keys equal these field names. ``gatekeeper schema`` prints the JSON Schema built from them.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from gatekeeper.evaluate import CHECK_KINDS
from gatekeeper.evaluate.interface import CheckSpecBase
from gatekeeper.load.approvals import ApprovalRequirement
from gatekeeper.load.costmodel import CostModel
from gatekeeper.load.sla import Sla, merged
from gatekeeper.load.strict import Strict

if TYPE_CHECKING:
    CheckSpec = CheckSpecBase
else:
    # The union of every registered kind's parameter model, told apart by ``kind``.
    CheckSpec = Annotated[
        Union[tuple(k.spec for k in CHECK_KINDS.values())],  # noqa: UP007
        Field(discriminator="kind"),
    ]

ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class Stage(enum.StrEnum):
    """The three milestones every model passes, in this order, before production."""

    POC = "poc"
    SERVE = "serve"
    PILOT = "pilot"


STAGE_ORDER = tuple(Stage)


class Owners(Strict):
    product: str = Field(min_length=1)
    platform: str = Field(min_length=1)
    data_science: str = Field(min_length=1)


class Milestone(Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    stage: Stage = Field(description="poc, serve or pilot; milestones appear in that order.")
    alias: str = Field(
        pattern=r"^[A-Za-z0-9_-]+$", description="MLflow alias set on the version when it passes."
    )
    sla: Sla | None = Field(default=None, description="This milestone's SLA: its endpoints "
                            "and capacity replace the playbook's of the same name.")
    checks: tuple[CheckSpec, ...] = Field(min_length=1)
    approvals: ApprovalRequirement | None = Field(
        default=None, description="Signed approvals this milestone needs beyond its policies' "
        "(docs/approvals.md): count distinct roles out of roles.")

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Left out when unset: the milestone digest (a dump of the milestone) of every
        # playbook written before approvals and SLAs existed stays what it was, and so do its
        # passes.
        data: dict[str, Any] = handler(self)
        for key in ("approvals", "sla"):
            if getattr(self, key) is None:
                data.pop(key, None)
        return data


class Playbook(Strict):
    model: str = Field(min_length=1, description="Registered model name in MLflow.")
    description: str = ""
    baseline: str | None = Field(
        default=None,
        description="Alias of the version candidates are compared against, e.g. champion.",
    )
    owners: Owners
    cost_model: CostModel | None = Field(
        default=None, description="Default cost model for `cost` checks (see docs/playbook.md)."
    )
    sla: Sla | None = Field(
        default=None, description="The serving SLA, per endpoint: latency limits and the rate "
        "they hold at; `latency` checks with `sla: NAME` and `gatekeeper probe --playbook` "
        "read it (see docs/playbook.md).")
    milestones: tuple[Milestone, ...] = Field(min_length=3, max_length=3)

    @field_validator("milestones")
    @classmethod
    def _check_order(cls, milestones: tuple[Milestone, ...]) -> tuple[Milestone, ...]:
        stages = [m.stage.value for m in milestones]
        expected = [s.value for s in STAGE_ORDER]
        if stages != expected:
            raise ValueError(f"out of order: stages are {', '.join(stages)}; "
                             f"expected {', '.join(expected)}")
        return milestones

    def milestone(self, milestone_id: str) -> Milestone | None:
        return next((m for m in self.milestones if m.id == milestone_id), None)

    def sla_of(self, milestone_id: str | None) -> Sla | None:
        """The SLA ``milestone_id`` holds (None: the top level's)."""
        milestone = self.milestone(milestone_id) if milestone_id else None
        return merged(self.sla, milestone.sla if milestone else None)

    def earlier(self, milestone_id: str) -> tuple[Milestone, ...]:
        ids = [m.id for m in self.milestones]
        return self.milestones[: ids.index(milestone_id)]
