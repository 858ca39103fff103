"""The playbook's SLA: declared once (top level, a milestone's endpoints over it), filled into
`latency` checks with `sla: NAME` when the playbook loads, refused where it cannot apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.errors import ValidationError
from gatekeeper.evaluate.latency import Latency
from gatekeeper.load.playbook import load_playbook
from gatekeeper.load.sla import CapacitySla, EndpointSla, Sla, merged
from gatekeeper.probe.requests_mix import MixRequest, RequestMix
from gatekeeper.probe.sla import sla_settings

HEAD = """\
model: fraud
owners: {product: p@example.com, platform: o@example.com, data_science: d@example.com}
"""
POC = """\
  - id: poc
    title: POC
    stage: poc
    alias: poc-ok
    checks:
      - {id: acc, kind: metric_threshold, category: quality, owner: ds, key: accuracy, min: 0.5}
"""
PILOT = """\
  - id: pilot
    title: Pilot
    stage: pilot
    alias: champion
    checks:
      - {id: err, kind: metric_threshold, category: latency, owner: platform, key: e, max: 1}
"""


def write(folder: Path, top: str, serve_sla: str, checks: str) -> Path:
    path = folder / "playbook.yaml"
    path.write_text(HEAD + top + "milestones:\n" + POC + """\
  - id: serve
    title: Serve
    stage: serve
    alias: serve-ok
""" + serve_sla + "    checks:\n" + checks + PILOT)
    return path


TOP = """\
sla:
  endpoints:
    predict: {p95_ms: 50, p99_ms: 80, at_rps: 200}
    batch: {p99_ms: 900, at_rps: 5}
"""
SERVE_SLA = """\
    sla:
      endpoints:
        predict: {p99_ms: 120, at_rps: 50}
"""


def serve_checks(path: Path) -> dict[str, Latency]:
    milestone = load_playbook(path).playbook.milestone("serve")
    assert milestone is not None
    return {c.id: c for c in milestone.checks if isinstance(c, Latency)}


def test_a_check_naming_the_sla_gets_its_limits_and_rate(tmp_path: Path) -> None:
    path = write(tmp_path, TOP, "", """\
      - {id: p, kind: latency, category: latency, owner: o, sla: predict, source: probe,
         warn_p99_ms: 70}
      - {id: b, kind: latency, category: latency, owner: o, sla: batch, endpoint: batch-v2}
      - {id: plain, kind: latency, category: latency, owner: o, endpoint: predict, p99_ms: 80}
""")
    checks = serve_checks(path)
    p = checks["p"]
    assert (p.endpoint, p.p95_ms, p.p99_ms, p.at_rps, p.warn_p99_ms) == (
        "predict", 50, 80, 200, 70)
    assert p.threshold() == {"p95_ms": 50, "p99_ms": 80, "warn_p99_ms": 70, "at_rps": 200,
                             "sla": "predict"}
    b = checks["b"]
    assert (b.endpoint, b.p95_ms, b.p99_ms, b.at_rps) == ("batch-v2", None, 900, 5)
    assert checks["plain"].at_rps is None  # a latency check without the SLA is unchanged


def test_a_milestones_sla_replaces_the_endpoints_it_names(tmp_path: Path) -> None:
    path = write(tmp_path, TOP, SERVE_SLA, """\
      - {id: p, kind: latency, category: latency, owner: o, sla: predict}
      - {id: b, kind: latency, category: latency, owner: o, sla: batch}
""")
    checks = serve_checks(path)
    assert (checks["p"].p95_ms, checks["p"].p99_ms, checks["p"].at_rps) == (None, 120, 50)
    assert (checks["b"].p99_ms, checks["b"].at_rps) == (900, 5)


def test_the_sla_is_part_of_the_milestone_digest(tmp_path: Path) -> None:
    checks = "      - {id: p, kind: latency, category: latency, owner: o, sla: predict}\n"
    before = load_playbook(write(tmp_path, TOP, "", checks)).milestone_digest("serve")
    looser = TOP.replace("at_rps: 200", "at_rps: 20")
    after = load_playbook(write(tmp_path, looser, "", checks)).milestone_digest("serve")
    assert before != after


def test_every_sla_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, TOP, "", """\
      - {id: p, kind: latency, category: latency, owner: o, sla: predict, warn_p99_ms: 90}
      - {id: q, kind: latency, category: latency, owner: o, sla: nope}
      - {id: r, kind: latency, category: latency, owner: o, sla: batch, warn_p95_ms: 10}
""")
    with pytest.raises(ValidationError) as caught:
        load_playbook(path)
    assert [str(p).replace(str(tmp_path), "T") for p in caught.value.problems] == [
        "T/playbook.yaml:19:75: milestones[1].checks[0].warn_p99_ms: must be at or below the "
        "sla's p99_ms for 'predict' (80)",
        "T/playbook.yaml:20:61: milestones[1].checks[1].sla: no endpoint 'nope' in the sla "
        "(declared: batch, predict)",
        "T/playbook.yaml:21:73: milestones[1].checks[2].warn_p95_ms: must be at or below the "
        "sla's p95_ms for 'batch'",
    ]


@pytest.mark.parametrize(("top", "check", "message"), [
    ("", "sla: predict", "milestones[1].checks[0].sla: no sla declares 'predict': add 'sla' to "
     "the playbook or to this milestone"),
    (TOP, "sla: predict, p99_ms: 10", "milestones[1].checks[0].latency: with 'sla', leave out "
     "'p99_ms': the SLA declares them once"),
    (TOP.replace("p95_ms: 50, p99_ms: 80, ", ""), "sla: predict",
     "sla.endpoints.predict: set at least one of 'p95_ms' or 'p99_ms'"),
    (TOP + "  capacity: {from_rps: 100, max_rps: 50}\n", "sla: predict",
     "sla.capacity: 'max_rps' must be at least 'from_rps'"),
    (TOP.replace("predict:", "pre dict:"), "endpoint: predict, p99_ms: 80",
     "sla.endpoints.pre dict: String should match pattern '^[A-Za-z0-9_.-]+$'"),
])
def test_an_sla_that_cannot_apply_is_refused(tmp_path: Path, top: str, check: str,
                                             message: str) -> None:
    path = write(tmp_path, top, "", "      - {id: p, kind: latency, category: latency, "
                 f"owner: o, {check}}}\n")
    with pytest.raises(ValidationError) as caught:
        load_playbook(path)
    assert message in [str(p).split(": ", 1)[1] for p in caught.value.problems], [
        str(p) for p in caught.value.problems]


def test_merged_keeps_the_top_level_where_the_milestone_is_silent() -> None:
    top = Sla(endpoints={"a": EndpointSla(p99_ms=1, at_rps=1)},
              capacity=CapacitySla(max_steps=3))
    mine = Sla(endpoints={"b": EndpointSla(p99_ms=2, at_rps=2)})
    both = merged(top, mine)
    assert both is not None
    assert (sorted(both.endpoints), both.capacity) == (["a", "b"], CapacitySla(max_steps=3))
    assert merged(None, mine) is mine and merged(top, None) is top


def mix(*weights: tuple[str, float]) -> RequestMix:
    return RequestMix(tuple(MixRequest(name, "GET", "/", None, weight=w) for name, w in weights))


def test_the_rate_gives_every_sla_endpoint_its_own_rate_by_its_share_of_the_mix() -> None:
    sla = Sla(endpoints={"predict": EndpointSla(p99_ms=80, at_rps=200),
                         "batch": EndpointSla(p99_ms=900, at_rps=5)},
              capacity=CapacitySla(max_rps=2000, max_steps=4))
    # predict is 3/4 of the mix: 200/s of predict takes 266.7/s in all; batch 5/s takes 20/s.
    settings = sla_settings(sla, mix(("predict", 3), ("batch", 1)), "p.yaml")
    assert settings.rate == pytest.approx(800 / 3)
    assert (settings.slo_p99_ms, settings.from_rps, settings.max_rps, settings.max_steps) == (
        80, pytest.approx(800 / 3), 2000, 4)
    only_batch = sla_settings(sla, mix(("batch", 1), ("health", 1)), "p.yaml")
    assert (only_batch.rate, only_batch.slo_p99_ms) == (10, 900)
