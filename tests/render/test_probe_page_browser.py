"""The probe's report.html from a real probe run (a loopback target), opened in headless
Chromium: the browser decodes both inline pictures, shows the verdict and the endpoint table,
and the page loads nothing from elsewhere."""

from __future__ import annotations

from pathlib import Path

from gatekeeper.probe.modes import PlainRun
from gatekeeper.probe.run import ProbeRequest, run_probe
from gatekeeper.render.probe import render_files
from tests.probe.target import Reply, Target, always
from tests.probe.test_modes import Recorded, sending
from tests.support.chromium import Elements, colours, png_size, render_page, with_image_probe


def test_chromium_shows_the_probe_page_with_both_pictures(tmp_path: Path) -> None:
    with Target(always(Reply())) as url:
        outcome = run_probe(ProbeRequest(url, PlainRun(sending()), min_samples=10),
                            Recorded(), lambda _outcome: ())
    files = render_files(outcome)
    assert {"latency.png", "percentiles.png", "report.html"} <= set(files)
    page = tmp_path / "report.html"
    page.write_text(with_image_probe(files["report.html"].decode()), encoding="utf-8")

    shown = render_page(page, tmp_path / "report.png", 1100, 2400)

    assert png_size(shown.png.read_bytes()) == (1100, 2400)
    assert colours(shown.png) > 100  # two plots, a table: far from a blank page
    dom = Elements(shown.dom)
    images = dom.all("img")
    assert [img["alt"] for img in images] == ["latency histogram per endpoint type",
                                              "p50, p95, p99 per second"]
    for img, name in zip(images, ("latency.png", "percentiles.png"), strict=True):
        width, height = png_size(files[name])
        assert img["data-decoded"] == f"{width}x{height}"  # decoded at the PNG's own size
        assert (img["src"] or "").startswith("data:image/png;base64,")
    verdict = "Evidence usable." if not outcome.problems else "Evidence NOT usable:"
    assert verdict in dom.lines
    assert f"gatekeeper probe: {outcome.report.url}" in dom.lines
    table = dom.lines[dom.lines.index("endpoint"):]
    assert table[:14] == ["endpoint", "ok samples", "target/s", "achieved/s", "rate held",
                          "p50 ms", "p90 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms",
                          "service p99 ms", "error rate", "errors by class"]
    assert table[14] == "root"  # the mix's one endpoint type, first cell of its row
    assert not dom.all("link") and dom.all("script") == [{}]  # only the test's probe
