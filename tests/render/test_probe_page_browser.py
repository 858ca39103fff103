"""The probe's report.html from a real probe run (a loopback target), opened in headless
Chromium: the browser decodes both inline pictures, shows the verdict and the endpoint table,
and the page loads nothing from elsewhere."""

from __future__ import annotations

from pathlib import Path

from gatekeeper.probe.modes import PlainRun
from gatekeeper.probe.run import ProbeRequest, run_probe
from gatekeeper.render.probe import latency_png, render_files
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


def test_chromium_shows_the_objectives_verdict_and_slo_lines(tmp_path: Path) -> None:
    from gatekeeper.render.probe import Budget, Objectives, Slo, percentiles_png, report_html
    from gatekeeper.render.probe.plots import SLO_COLOURS
    from tests.render.test_probe_objectives import pixels_of, run

    report, timeline = run()  # predict at 100/s, p99 15 ms
    objectives = Objectives({"predict": Slo(p95_ms=40, p99_ms=10, at_rps=100)},
                            Budget(0.002, 0.00098, "USD"))
    pictures = latency_png(report, objectives), percentiles_png(timeline, report, objectives)
    page = tmp_path / "report.html"
    page.write_text(with_image_probe(report_html(report, [("target", "http://t")], [],
                                                 *pictures, objectives)), encoding="utf-8")

    shown = render_page(page, tmp_path / "report.png", 1100, 2000)

    dom = Elements(shown.dom)
    assert "Objectives" in dom.lines
    assert ("FAIL: objectives NOT met: predict p99 <= 10 ms, measured 15.0 ms"
            in dom.lines)
    table = dom.lines[dom.lines.index("objective") - 1:]
    assert table[:4] == ["endpoint", "objective", "measured", "met"]
    assert table[4:20] == ["predict", "p95 <= 40 ms", "15.0 ms", "yes",
                           "predict", "p99 <= 10 ms", "15.0 ms", "NO",
                           "predict", "held at >= 100/s", "100.3/s of 100.3/s", "yes",
                           "all", "cost per 1,000 <= 0.002 USD", "0.00098 USD", "yes"]
    assert [img["data-decoded"] for img in dom.all("img")] == [
        "{}x{}".format(*png_size(p)) for p in pictures]
    # The SLO lines reach the screen, in their own colours, at the pictures' own size.
    screenshot = shown.png.read_bytes()
    assert all(pixels_of(screenshot, colour) > 100 for colour in SLO_COLOURS.values())
