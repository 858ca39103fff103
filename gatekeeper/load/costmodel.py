"""The declared cost model of a serving deployment, and cost per 1,000 inferences from it.

Pure arithmetic, shared by the ``cost`` and ``roi`` checks and the probe. Every price is of one
serving replica; a deployment of ``n`` replicas costs ``n`` times as much an hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from gatekeeper.load.currencies import ISO_4217
from gatekeeper.load.strict import Strict

BYTES_PER_GB = 1_000_000_000
#: An average month (365.25 days / 12), for monthly figures.
SECONDS_PER_MONTH = 365.25 * 86_400 / 12
#: Replica counts are rounded up from a quotient computed at this many significant digits:
#: float noise (0.1 * 3 = 0.30000000000000004) must never buy one replica too many.
REPLICA_DIGITS = 12
#: Keys added after playbooks existed; left out of a dump when unset, so the milestone digest
#: of every playbook written before them (and the passes bound to it) stays what it was.
OPTIONAL_KEYS = ("currency", "traffic_rps", "headroom", "accelerators", "input_token_cost_share")
TOKENS_PER_MILLION = 1_000_000


class Accelerators(Strict):
    """The GPUs (or other accelerators) of one replica, priced apart from its host."""

    gpu_per_hour: float = Field(gt=0, description="Hourly price of one GPU; above 0.")
    gpus_per_replica: int = Field(default=1, ge=1, description="GPUs reserved by one replica.")
    utilisation_metric: str | None = Field(
        default=None, min_length=1, description="Run metric holding the measured GPU "
        "utilisation (0 to 1) where the server exports it; reported beside the cost, never "
        "changes it (a reserved GPU is paid for whether busy or not).")

    @property
    def per_hour(self) -> float:
        return self.gpu_per_hour * self.gpus_per_replica


class CostModel(Strict):
    """Prices of one serving replica, in ``currency``; and the traffic it is sized for.

    The hardware price must be above zero: a replica that costs nothing makes every cost zero,
    and a zero cost passes any budget, so a typo (or a placeholder 0) would wave every version
    through. No amount is negative, and (as in every ``Strict`` model) none is NaN or infinite:
    a NaN price would make every cost NaN, which no budget comparison fails.
    """

    currency: str | None = Field(
        default=None, description="ISO 4217 code of every price and budget, e.g. EUR. Left "
        "out (playbooks written before it): amounts are shown as 'currency not declared', and "
        "`roi` refuses to run.")
    hardware_per_hour: float = Field(gt=0, description="Hourly price of the serving host "
                                     "(CPU instance, or the host of the GPUs); above 0.")
    accelerators: Accelerators | None = Field(
        default=None, description="GPUs of one replica: gpu_per_hour, gpus_per_replica, "
        "utilisation_metric.")
    memory_gb: float = Field(default=0, ge=0, description="Memory reserved by one replica, GB.")
    memory_per_gb_hour: float = Field(default=0, ge=0, description="Price of 1 GB for 1 hour.")
    network_per_gb: float = Field(default=0, ge=0, description="Price of 1 GB of egress.")
    cache_per_hour: float = Field(default=0, ge=0, description="Hourly price of the cache of "
                                  "one replica.")
    operations_overhead: float = Field(
        default=0, ge=0, description="Operations overhead as a fraction, e.g. 0.15 adds 15%."
    )
    traffic_rps: float | None = Field(
        default=None, gt=0, description="Expected traffic, requests/s: what `cost` with "
        "price_at: traffic and `roi` size the deployment for.")
    headroom: float | None = Field(
        default=None, ge=1, description="Spare capacity kept above the traffic, as a factor "
        "(1.3: 30% spare); at least 1. Left out: 1.")
    input_token_cost_share: float | None = Field(
        default=None, ge=0, lt=1, description="LLM serving: the share of a replica's cost "
        "borne by input (prompt) tokens, the rest by output tokens, for cost per 1,000,000 "
        "tokens (0.25: a quarter). Left out: 0, every cost on the output tokens.")

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, code: str | None) -> str | None:
        if code is not None and code not in ISO_4217:
            raise ValueError(f"'{code}' is not an ISO 4217 currency code (e.g. EUR, USD, GBP)")
        return code

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in OPTIONAL_KEYS:
            if data.get(key) is None:
                data.pop(key, None)
        return data

    @property
    def per_replica_hour(self) -> float:
        """What one replica costs an hour, before network and overhead."""
        return (self.hardware_per_hour + self.accelerators_per_hour
                + self.memory_gb * self.memory_per_gb_hour + self.cache_per_hour)

    @property
    def accelerators_per_hour(self) -> float:
        return self.accelerators.per_hour if self.accelerators else 0.0


@dataclass(frozen=True)
class CostBreakdown:
    """Cost per 1,000 inferences, by component; ``total`` includes the overhead."""

    compute: float
    memory: float
    cache: float
    network: float
    operations: float
    accelerators: float = 0.0

    @property
    def total(self) -> float:
        return (self.compute + self.accelerators + self.memory + self.cache + self.network
                + self.operations)

    def as_dict(self) -> dict[str, float]:
        return {"compute": self.compute, "accelerators": self.accelerators,
                "memory": self.memory, "network": self.network, "cache": self.cache,
                "operations": self.operations, "total": self.total}


def cost_per_1k(model: CostModel, throughput_rps: float, bytes_per_request: float = 0.0,
                replicas: int = 1) -> CostBreakdown:
    """Cost of 1,000 inferences when ``replicas`` replicas serve ``throughput_rps``
    requests/second between them: ``replicas x hourly price / (rate x 3600) x 1000``."""
    if throughput_rps <= 0:
        raise ValueError(f"throughput must be positive, got {throughput_rps}")
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    replica_hours = replicas * 1000 / (throughput_rps * 3600)
    compute = model.hardware_per_hour * replica_hours
    accelerators = model.accelerators_per_hour * replica_hours
    memory = model.memory_gb * model.memory_per_gb_hour * replica_hours
    cache = model.cache_per_hour * replica_hours
    network = bytes_per_request * 1000 / BYTES_PER_GB * model.network_per_gb
    operations = (compute + accelerators + memory + cache + network) * model.operations_overhead
    return CostBreakdown(compute, memory, cache, network, operations, accelerators)


@dataclass(frozen=True)
class TokenCost:
    """Cost per 1,000,000 output and input tokens (None: no input tokens were priced)."""

    per_1m_output: float
    per_1m_input: float | None


def cost_per_1m_tokens(model: CostModel, per_1k: float, output_per_request: float,
                       input_per_request: float = 0.0) -> TokenCost:
    """Cost per 1,000,000 tokens when 1,000 requests cost ``per_1k`` and each carries
    ``output_per_request`` output and ``input_per_request`` prompt tokens (means): the cost of
    a request, split by ``input_token_cost_share``, over its tokens. At one replica running at
    ``rate`` requests/s this is ``hourly price x share / (tokens/s x 3600) x 1,000,000``."""
    if output_per_request <= 0:
        raise ValueError(f"output tokens per request must be positive, got {output_per_request}")
    share = model.input_token_cost_share or 0.0
    per_request = per_1k / 1000
    output = per_request * (1 - share) / output_per_request * TOKENS_PER_MILLION
    priced_input = share > 0 and input_per_request > 0
    return TokenCost(output, per_request * share / input_per_request * TOKENS_PER_MILLION
                     if priced_input else None)


def replicas_for(traffic_rps: float, headroom: float, capacity_rps: float) -> int:
    """Replicas that serve ``traffic_rps`` with ``headroom`` when one sustains
    ``capacity_rps``: ``ceil(traffic x headroom / capacity)``, at least 1."""
    if min(traffic_rps, capacity_rps) <= 0 or headroom < 1:
        raise ValueError("traffic and capacity must be positive and headroom at least 1")
    needed = float(f"{traffic_rps * headroom / capacity_rps:.{REPLICA_DIGITS}g}")
    return max(1, math.ceil(needed))


def per_month(per_1k: float, rate_rps: float) -> float:
    """What ``rate_rps`` requests/second cost in an average month at ``per_1k`` per 1,000."""
    return per_1k * rate_rps * SECONDS_PER_MONTH / 1000


def money(amount: float, currency: str | None) -> str:
    """``0.0000163991 EUR``: plain decimals (never ``1.6e-05``) at 12 significant digits, then
    the currency; a cost model without one gives just the number."""
    # Imported here: gatekeeper.decide imports the check kinds, which import this module.
    from gatekeeper.decide.remedy import plain_number

    shown = plain_number(float(f"{amount:.{REPLICA_DIGITS}g}"))
    return f"{shown} {currency}" if currency else shown
