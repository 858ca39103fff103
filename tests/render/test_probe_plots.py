"""The probe's pictures and page from hand-built samples: the per-second series, the coarse
histogram bins, valid PNGs of a plausible size, and a self-contained, escaped HTML page."""

from __future__ import annotations

import base64
import struct

import pytest

from gatekeeper.probe.engine import RunRecord, Sample, StatusClass
from gatekeeper.probe.histogram import Histogram
from gatekeeper.probe.importers import import_k6_summary
from gatekeeper.probe.report import HoldPolicy, ProbeReport, build_report
from gatekeeper.render.probe import (
    Second,
    build_timeline,
    coarse_bins,
    format_ms,
    has_histogram,
    has_timeline,
    latency_png,
    percentiles_png,
    report_html,
)
from tests.probe.test_importers import K6

OK = StatusClass.OK


def sample(at: float, latency_ms: float, status: StatusClass = OK, endpoint: str = "predict",
           lag_s: float = 0.0) -> Sample:
    return Sample(endpoint, at, at + lag_s, at + latency_ms / 1000, status)


def run_of(samples: list[Sample]) -> ProbeReport:
    return build_report(RunRecord("http://127.0.0.1:1", tuple(samples), len(samples)),
                        HoldPolicy(warmup_s=0.5))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_timeline_windows_by_intended_second() -> None:
    samples = [sample(0.1, 10), sample(0.6, 20), sample(1.2, 30, lag_s=0.9),
               sample(1.5, 0, StatusClass.SERVER_ERROR), sample(3.0, 40)]
    timeline = build_timeline(samples, warmup_s=0.5)
    assert timeline.warmup_s == 0.5
    assert timeline.seconds[0] == Second(0, 2, 2, 2, 0, pytest.approx(10.0, rel=0.01),
                                         pytest.approx(20.0, rel=0.01),
                                         pytest.approx(20.0, rel=0.01))
    # Second 1: two intended, one sent in it (the other went out late, in second 2), one error.
    assert [(s.second, s.intended, s.sent, s.ok, s.errors) for s in timeline.seconds] == [
        (0, 2, 2, 2, 0), (1, 2, 1, 1, 1), (2, 0, 1, 0, 0), (3, 1, 1, 1, 0)]
    assert timeline.seconds[2].p99_ms is None  # no ok answers: a gap, not a zero
    assert timeline.to_dict()["seconds"][3]["p50_ms"] == pytest.approx(40.0, rel=0.01)


def test_coarse_bins_keep_every_count_within_their_edges() -> None:
    values = [0.001 * (1 + i % 7) for i in range(500)] + [0.2] * 10
    histogram = Histogram.of(values)
    edges, counts = coarse_bins(histogram)
    assert sum(counts) == 510
    assert len(edges) == len(counts) + 1 <= 80
    assert edges == sorted(edges)
    assert edges[0] <= 1.0 and edges[-1] >= 200.0
    assert coarse_bins(Histogram()) == ([], [])


@pytest.mark.parametrize(("value", "shown"), [
    (0.0512, "0.05"), (5.216, "5.22"), (12.34, "12.3"), (201.4, "201"), (7165.9, "7,166"),
    (float("nan"), "-"),
])
def test_format_ms(value: float, shown: str) -> None:
    assert format_ms(value) == shown


def test_pictures_are_valid_pngs_of_a_plausible_size() -> None:
    samples = [sample(i / 100, 5 + (200 if i % 50 == 49 else 0)) for i in range(300)]
    samples += [sample(i / 20, 1, endpoint="health") for i in range(60)]
    report = run_of(samples)
    latency = latency_png(report)
    percentiles = percentiles_png(build_timeline(samples, 0.5), report)
    assert 900 <= png_size(latency)[0] <= 1100 and 500 <= png_size(latency)[1] <= 700
    assert png_size(percentiles) == pytest.approx((990, 660), abs=20)
    assert 15_000 < len(latency) < 500_000 and 15_000 < len(percentiles) < 500_000


def test_pictures_of_a_run_without_answers_still_render() -> None:
    failed = [sample(i / 10, 0, StatusClass.CONNECTION) for i in range(10)]
    report = run_of(failed)
    assert png_size(latency_png(report))[0] > 0
    assert png_size(percentiles_png(build_timeline(failed, 0.5), report))[0] > 0
    empty = run_of([])
    assert png_size(latency_png(empty))[0] > 0


def test_page_embeds_the_pictures_escapes_names_and_states_the_verdict() -> None:
    report = run_of([sample(i / 10, 3, endpoint="<b>x</b>") for i in range(20)])
    page = report_html(report, [("target", "http://127.0.0.1:1?a=<1>")],
                       ["<b>x</b>: 15 ok samples < --min-samples 100"], b"\x89PNG-1",
                       b"\x89PNG-2")
    assert page.startswith("<!DOCTYPE html>")
    for png in (b"\x89PNG-1", b"\x89PNG-2"):
        assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page
    assert "<b>x</b>" not in page
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td>" in page
    assert "<td>http://127.0.0.1:1?a=&lt;1&gt;</td>" in page
    assert ('<p class="bad">Evidence NOT usable:</p><ul><li>&lt;b&gt;x&lt;/b&gt;: 15 ok samples '
            "&lt; --min-samples 100</li></ul>") in page
    assert "nearest rank" in page
    assert "http" not in page.replace("http://127.0.0.1:1", "")  # nothing fetched from outside


def test_a_report_without_histogram_renders_its_table_and_says_why() -> None:
    imported = import_k6_summary(K6, target_rps=100.0)
    assert not has_histogram(imported) and not has_timeline(build_timeline([], 0.0))
    assert png_size(latency_png(imported))[0] > 0  # drawing it anyway must not crash either

    page = report_html(imported, [("source", "k6")], [], None, None)

    assert "<img" not in page
    assert "<td>predict</td>" in page
    assert ("<p class=\"note\">No latency histogram: this report's source gives percentiles "
            "only (see the table), not the raw distribution.</p>") in page
    assert ("<p class=\"note\">No percentiles over time: this report's source kept no "
            "per-request times.</p>") in page


def test_a_measured_report_has_a_histogram() -> None:
    assert has_histogram(run_of([sample(i / 10, 3) for i in range(20)]))
    assert has_histogram(run_of([]))  # nothing measured: the picture says so itself
