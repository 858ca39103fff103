"""The declared cost model of a serving deployment, and cost per 1,000 inferences from it.

Pure arithmetic, shared by the ``cost`` check and the probe.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from gatekeeper.load.strict import Strict

BYTES_PER_GB = 1_000_000_000


class CostModel(Strict):
    """Prices of one serving replica. Currency is whatever the budget is written in.

    The hardware price must be above zero: a replica that costs nothing makes every cost zero,
    and a zero cost passes any budget, so a typo (or a placeholder 0) would wave every version
    through. No amount is negative, and (as in every ``Strict`` model) none is NaN or infinite:
    a NaN price would make every cost NaN, which no budget comparison fails.
    """

    hardware_per_hour: float = Field(gt=0, description="Hourly price of the serving hardware "
                                     "(GPU or CPU instance); above 0.")
    memory_gb: float = Field(default=0, ge=0, description="Memory reserved by one replica, GB.")
    memory_per_gb_hour: float = Field(default=0, ge=0, description="Price of 1 GB for 1 hour.")
    network_per_gb: float = Field(default=0, ge=0, description="Price of 1 GB of egress.")
    cache_per_hour: float = Field(default=0, ge=0, description="Hourly price of the cache.")
    operations_overhead: float = Field(
        default=0, ge=0, description="Operations overhead as a fraction, e.g. 0.15 adds 15%."
    )


@dataclass(frozen=True)
class CostBreakdown:
    """Cost per 1,000 inferences, by component; ``total`` includes the overhead."""

    compute: float
    memory: float
    cache: float
    network: float
    operations: float

    @property
    def total(self) -> float:
        return self.compute + self.memory + self.cache + self.network + self.operations

    def as_dict(self) -> dict[str, float]:
        return {"compute": self.compute, "memory": self.memory, "cache": self.cache,
                "network": self.network, "operations": self.operations, "total": self.total}


def cost_per_1k(model: CostModel, throughput_rps: float, bytes_per_request: float = 0.0
                ) -> CostBreakdown:
    """Cost of 1,000 inferences on one replica serving ``throughput_rps`` requests/second."""
    if throughput_rps <= 0:
        raise ValueError(f"throughput must be positive, got {throughput_rps}")
    per_1k_hours = 1000 / (throughput_rps * 3600)
    compute = model.hardware_per_hour * per_1k_hours
    memory = model.memory_gb * model.memory_per_gb_hour * per_1k_hours
    cache = model.cache_per_hour * per_1k_hours
    network = bytes_per_request * 1000 / BYTES_PER_GB * model.network_per_gb
    operations = (compute + memory + cache + network) * model.operations_overhead
    return CostBreakdown(compute, memory, cache, network, operations)
