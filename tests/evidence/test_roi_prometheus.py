"""``roi`` on a known pilot: a real Prometheus holding the pilot traffic of
tests/support/prometheus.py, the KPI being the share of requests answered 200.

The ``full`` arm (1,985 of 2,000) against the ``quantized`` arm (1,976 of 2,000) looks like a
gain of +0.45 points; the lower end of its 95% interval is a loss of 0.17 points, so the
conservative case never pays back. The bound is computed by hand (Wilson, then Newcombe).
"""

from __future__ import annotations

import pytest

from gatekeeper.evaluate import roi
from gatekeeper.evaluate.interface import Status
from gatekeeper.evidence.external import with_external
from gatekeeper.evidence.interface import Evidence
from tests.evaluate.conftest import COMMON, version
from tests.evaluate.test_roi import MONTH_S, capacity, newcombe
from tests.evidence.conftest import PilotPrometheus
from tests.support.prometheus import REQUESTS

SUCCESS = {"name": "success",
           "numerator": f'sum(increase({REQUESTS}{{$selector, code="200"}}[$window]))',
           "denominator": f"sum(increase({REQUESTS}{{$selector}}[$window]))"}


def test_roi_from_a_real_prometheus_uses_the_lower_bound(pilot_prometheus: PilotPrometheus
                                                          ) -> None:
    check = roi.Roi(**{
        **COMMON, "kind": "roi", "category": "cost", "prometheus_url": pilot_prometheus.url,
        "window": "1h", "at": pilot_prometheus.at, "candidate": 'arm="full"',
        "control": 'arm="quantized"', "kpi": SUCCESS, "min_samples_per_arm": 1000,
        "value_per_conversion": 0.01, "one_off_cost": 1000, "max_payback_months": 12,
        "cost_model": {"currency": "EUR", "hardware_per_hour": 0.5, "traffic_rps": 100}})
    found = with_external(Evidence(candidate=version(probe_runs=capacity(40))),
                          roi.needs(check).external, {})
    outcome = roi.evaluate(check, found)

    low, high = newcombe(1985, 2000, 1976, 2000)
    assert (round(low * 100, 2), round(high * 100, 2)) == (-0.17, 1.10)
    assert outcome.status is Status.FAIL
    assert outcome.observed["uplift_point_estimate"] == pytest.approx(0.0045, rel=1e-9)
    assert outcome.observed["uplift_bound"] == pytest.approx(low, rel=1e-9)
    assert outcome.observed["value_per_month"] == pytest.approx(low * 100 * MONTH_S * 0.01,
                                                                rel=1e-9)
    assert outcome.observed["payback_months"] is None
    assert outcome.message.startswith(
        "never pays back (net value not positive; limit 12 months): conservative, from the "
        "lower end of the success uplift's 95% interval (-0.17 pp; interval -0.17..+1.10 pp, "
        "point estimate +0.45 pp not used)")
    assert outcome.evidence["candidate.trials"].startswith(f"prometheus:{pilot_prometheus.url}")
