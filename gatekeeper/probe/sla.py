"""What a playbook's SLA asks of a probe: the rate to send, the P99 SLO and the capacity
search's bounds (``gatekeeper probe --playbook P [--milestone M]``).

Pure: the CLI loads the playbook and hands the SLA and the request mix here; flags given on
the command line win over what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.errors import InvalidInputError
from gatekeeper.load.sla import Sla
from gatekeeper.probe.requests_mix import RequestMix


@dataclass(frozen=True)
class SlaSettings:
    """The probe settings an SLA implies for one mix."""

    rate: float  # total rate: each SLA endpoint in the mix gets at least its at_rps
    slo_p99_ms: float | None  # the strictest P99 of those endpoints (None: none declares one)
    from_rps: float  # a capacity search's first step
    max_rps: float | None
    max_steps: int | None


def endpoint_shares(mix: RequestMix) -> dict[str, float]:
    """Each endpoint type's share of the mix's requests (by weight)."""
    total = sum(r.weight for r in mix.requests)
    shares: dict[str, float] = {}
    for r in mix.requests:
        shares[r.endpoint] = shares.get(r.endpoint, 0.0) + r.weight / total
    return shares


def sla_settings(sla: Sla, mix: RequestMix, source: str) -> SlaSettings:
    """The settings ``sla`` implies for ``mix``; InvalidInputError when the mix sends none of
    the SLA's endpoints (``source`` names the playbook in that message)."""
    shares = endpoint_shares(mix)
    held = {name: e for name, e in sla.endpoints.items() if name in shares}
    if not held:
        raise InvalidInputError(
            f"--playbook: the sla of {source} declares {', '.join(sorted(sla.endpoints))}; the "
            f"mix sends {', '.join(sorted(shares))}",
            hint="name the mix's endpoint types as the sla does")
    # The mix splits the total by weight: the total must give every endpoint its own rate.
    rate = max(e.at_rps / shares[name] for name, e in held.items())
    limits = [e.p99_ms for e in held.values() if e.p99_ms is not None]
    capacity = sla.capacity
    return SlaSettings(
        rate=rate, slo_p99_ms=min(limits) if limits else None,
        from_rps=(capacity.from_rps if capacity and capacity.from_rps else rate),
        max_rps=capacity.max_rps if capacity else None,
        max_steps=capacity.max_steps if capacity else None)
