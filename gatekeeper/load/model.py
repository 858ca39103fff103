"""The playbook format, as pydantic models: frozen, unknown keys rejected.

YAML keys equal these field names. ``gatekeeper schema`` prints the JSON Schema built from them.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field, field_validator

from gatekeeper.evaluate import CHECK_KINDS
from gatekeeper.evaluate.interface import CheckSpecBase
from gatekeeper.load.costmodel import CostModel
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
    checks: tuple[CheckSpec, ...] = Field(min_length=1)


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

    def earlier(self, milestone_id: str) -> tuple[Milestone, ...]:
        ids = [m.id for m in self.milestones]
        return self.milestones[: ids.index(milestone_id)]
