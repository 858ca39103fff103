"""``html`` from the shared sample result, opened in headless Chromium: a screenshot of the
requested size that is not blank, and a DOM holding the verdict, every check, the
prerequisite apart, the milestone history and links into the MLflow UI; markup in a message
is shown as text, never run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from gatekeeper.decide.result import Result
from gatekeeper.render import FORMATS
from gatekeeper.render.html import render
from tests.support.chromium import Elements, Rendering, colours, png_size, render_page
from tests.support.results import sample_result

WIDTH, HEIGHT = 1280, 1600


def open_in_chromium(result: Result, tmp_path: Path, name: str = "report") -> Rendering:
    page = tmp_path / f"{name}.html"
    page.write_text(render(result), encoding="utf-8")
    return render_page(page, tmp_path / f"{name}.png", WIDTH, HEIGHT)


def test_chromium_shows_the_verdict_every_check_the_prerequisite_and_the_history(
        tmp_path: Path) -> None:
    result = sample_result()
    shown = open_in_chromium(result, tmp_path)

    assert png_size(shown.png.read_bytes()) == (WIDTH, HEIGHT)
    assert colours(shown.png) > 50  # banner, timeline, coloured states: not a blank page
    dom = Elements(shown.dom)
    assert dom.lines[:4] == [
        "BLOCKED", "churn version 3 · milestone serve (Production-ready serve layer)",
        "Blocked by latency-predict, model-card",
        "1 pass, 2 warn, 1 fail, 1 error, 1 skip, 1 waived; prerequisite: pass"]
    rows = [attrs["data-check"] for attrs in dom.all("tr") if "data-check" in attrs]
    # The playbook's checks, failures first; the prerequisite is not among them.
    assert rows == ["latency-predict", "model-card", "cost-per-1k", "f1-advisory",
                    "pii-findings", "gpu-util", "accuracy-floor"]
    assert ("Prerequisite (counted apart from the playbook's checks) | PASS "
            "gatekeeper.earlier-milestones: earlier milestones passed: poc | poc: audit:sha256:"
            + "1" * 64 + " | Checks (7, failures first)") in dom.text
    milestones = [attrs for attrs in dom.all("li") if "data-milestone" in attrs]
    assert [(m["data-milestone"], m["class"]) for m in milestones] == [
        ("poc", "pass"), ("serve", "block current"), ("pilot", "none")]
    assert ("Milestones of churn version 3 | poc stage poc, alias poc-validated | latest "
            "decision: pass 2026-12-02T10:00:00Z (record 12) | serve stage serve, alias "
            "serve-ready | latest decision: block 2026-12-02T11:00:00Z (record 15) | this "
            "evaluation: BLOCKED | pilot stage pilot, alias champion | not gated yet") in dom.text
    assert not dom.all("script") and not dom.all("link") and not dom.all("img")


def test_each_check_shows_threshold_beside_observed_owner_line_remedy_waiver_and_evidence(
        tmp_path: Path) -> None:
    page = render(sample_result())
    assert ('<tr class="fail" data-check="latency-predict"><td><span class="state">FAIL</span>'
            "</td><td><code>latency-predict</code><br>predict: p95 = 74 ms &gt; 40 ms, p99 = "
            "161 ms &gt; 80 ms</td><td>p95_ms 74, p99_ms 161</td><td>p95_ms 40, p99_ms 80</td>"
            "<td>platform@example.com</td><td><code>playbooks/churn.yaml:44</code></td>"
            "<td>p95_ms 74 is 34 (85%) above the limit 40; p99_ms 161 is 81 (101%) above the "
            "limit 80</td><td></td><td><ul class=\"evidence\"><li>p95_ms: <a href=\"https://"
            "mlflow.example.com/#/runs/0a1b2c3d4e5f\"><code>mlflow:runs/0a1b2c3d4e5f/metrics/"
            "latency.predict.p95_ms</code></a></li>") in page
    # Plain numbers: 1.63991e-05 and 2e-05 are written out.
    assert "<td>total 0.0000163991</td><td>budget_per_1k 0.00002, warn_per_1k 0.00001</td>" \
        in page
    assert ("<td>W-7: synthetic test data (approved by ciso@example.com, expires 2027-01-01)"
            "</td>") in page
    assert '<span class="state">WARN</span><br><span class="muted">advisory</span>' in page
    for fact in ("<code>sha256:" + "ab" * 32 + "</code>", "org-baseline <code>policies/org.yaml"
                 "</code>", "<code>.gatekeeper/audit.jsonl</code> record 17",
                 '<a href="https://mlflow.example.com/#/models/churn/versions/3">3</a>',
                 '<a href="https://mlflow.example.com/#/runs/0a1b2c3d4e5f">0a1b2c3d4e5f</a>',
                 "<code>c0ffee1</code>"):
        assert fact in page
    assert FORMATS["html"] is render


def test_without_a_web_address_evidence_is_shown_as_text(tmp_path: Path) -> None:
    for address in (None, "javascript:alert(1)", "file:///etc/passwd"):
        page = render(dataclasses.replace(sample_result(), registry_url=address))
        assert "<a " not in page
        assert "<code>mlflow:runs/0a1b2c3d4e5f/metrics/accuracy</code>" in page


def test_markup_in_a_message_is_text_in_the_browser_never_run(tmp_path: Path) -> None:
    attack = "<script>document.body.setAttribute('data-pwned', '1')</script><b>bold</b>"
    result = sample_result()
    checks = tuple(dataclasses.replace(c, message=attack, owner='"><img src=x>')
                   if c.id == "model-card" else c for c in result.checks)
    result = dataclasses.replace(result, checks=checks,
                                 model=dataclasses.replace(result.model, name="<i>churn</i>"))
    page = render(result)
    assert "<script>" not in page and "<b>bold</b>" not in page and "<i>" not in page

    dom = Elements(open_in_chromium(result, tmp_path, "attack").dom)
    assert not any("data-pwned" in attrs for _, attrs in dom.tags)
    assert not dom.all("script") and not dom.all("img") and not dom.all("i")
    assert f"model-card | {attack} |" in dom.text  # shown, character for character, as text
    assert '| "><img src=x> |' in dom.text
    assert dom.lines[1] == "<i>churn</i> version 3 · milestone serve (Production-ready serve layer)"
