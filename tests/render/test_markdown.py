"""``markdown`` from the shared sample result, rendered by GitHub's own parser (cmark-gfm, with
raw HTML let through as GitHub lets most of it through): the verdict line, the prerequisite
apart, one whole table row per check with failures first, evidence linked into the MLflow UI,
user text that cannot break the table or inject HTML, and the 1 MiB cut."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from gatekeeper.decide.result import CheckResult, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.render import FORMATS
from gatekeeper.render.markdown import LIMIT, render
from tests.support.chromium import Elements
from tests.support.results import check, sample_result

ORDER = ["latency-predict", "model-card", "cost-per-1k", "f1-advisory", "pii-findings",
         "gpu-util", "accuracy-floor"]


def github_html(markdown: str) -> str:
    """What GitHub's parser makes of it; UNSAFE so that any HTML we failed to escape shows."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def test_sample_result_as_github_shows_it() -> None:
    markdown = render(sample_result())
    assert FORMATS["markdown"] is render
    assert markdown.splitlines()[0] == (
        "## ⛔ BLOCKED by `latency-predict`, `model-card`: churn version 3 at milestone serve "
        "(Production-ready serve layer) · 1 pass, 2 warn, 1 fail, 1 error, 1 skip, 1 waived; "
        "prerequisite: pass")
    assert markdown.splitlines()[2] == (
        "**Prerequisite** (counted apart): ✅ pass `gatekeeper.earlier-milestones`: earlier "
        "milestones passed: poc")
    page = Elements(github_html(markdown))
    # GitHub links e-mail addresses (owners) by itself; every other link is to evidence.
    links = [a["href"] for a in page.all("a") if not (a["href"] or "").startswith("mailto:")]
    assert links[:2] == ["https://mlflow.example.com/#/runs/0a1b2c3d4e5f"] * 2
    assert all((link or "").startswith("https://mlflow.example.com/#/") for link in links)
    table = table_cells(github_html(markdown))
    assert table[0] == ["state", "check", "observed", "threshold", "owner", "playbook",
                        "remedy / waiver", "evidence"]
    assert [row[1].split(" ")[0] for row in table[1:]] == ORDER  # failures first
    assert table[1] == [
        "❌ fail", "latency-predict predict: p95 = 74 ms > 40 ms, p99 = 161 ms > 80 ms",
        "p95_ms 74, p99_ms 161", "p95_ms 40, p99_ms 80", "platform@example.com",
        "playbooks/churn.yaml:44",
        "p95_ms 74 is 34 (85%) above the limit 40; p99_ms 161 is 81 (101%) above the limit 80",
        "p95_ms p99_ms"]
    assert table[3][2:4] == ["total 0.0000163991", "budget_per_1k 0.00002, warn_per_1k 0.00001"]
    assert table[5][6] == ("W-7: synthetic test data (approved by ciso@example.com, "
                           "expires 2027-01-01)")
    assert table[4][0] == "⚠️ warn (advisory)"
    html = github_html(markdown)
    assert ('<a href="https://mlflow.example.com/#/runs/0a1b2c3d4e5f" title="mlflow:runs/'
            '0a1b2c3d4e5f/artifacts/model_card.md">artifact.model_card.md</a>') in html
    assert '<a href="https://mlflow.example.com/#/models/churn/versions/3">3</a>' in html
    assert "<code>sha256:" + "ef" * 32 + "</code>" in html  # the audit record


def test_without_a_web_address_evidence_is_code_and_nothing_links() -> None:
    for address in (None, "javascript:alert(1)", "ftp://mlflow.example.com"):
        html = github_html(render(dataclasses.replace(sample_result(), registry_url=address)))
        links = [a["href"] for a in Elements(html).all("a")]
        assert all((link or "").startswith("mailto:") for link in links), links
        assert "value: <code>mlflow:runs/0a1b2c3d4e5f/metrics/accuracy</code>" in html


def test_model_version_refs_link_to_the_version_page() -> None:
    ref = "mlflow:models/churn v2|x/7/version_tags/approved"
    result = with_check(check("approved", Status.FAIL, 90, evidence={"tag": ref}))
    html = github_html(render(result))
    assert ('<a href="https://mlflow.example.com/#/models/churn%20v2%7Cx/versions/7" '
            'title="mlflow:models/churn v2|x/7/version_tags/approved">tag</a>') in html


@pytest.mark.parametrize("hostile", [
    "a | b\nsecond line | c",
    "<img src=x onerror=alert(1)><b>bold</b><script>alert(1)</script>",
    "[click](javascript:alert(1)) ![i](http://evil/x.png) *em* _u_ ~~s~~ `code` \\|",
    "<!-- hide the rest",
    "&lt;b&gt; stays as typed",
])
def test_user_text_shows_as_typed_and_keeps_the_row_whole(hostile: str) -> None:
    evil = check("evil", Status.FAIL, 90, message=hostile, owner=hostile, remedy=hostile,
                 observed={"k|ey": hostile}, evidence={hostile: "prometheus:" + hostile})
    html = github_html(render(with_check(evil)))
    table = table_cells(html)
    assert all(len(row) == 8 for row in table), table
    row = next(r for r in table if r[1].startswith("evil"))
    shown = " ".join(hostile.split())
    assert row[1] == f"evil {shown}"
    assert row[4] == shown and row[6] == shown
    assert row[2] == f"k|ey {shown}"
    assert row[7] == f"{shown}: prometheus:{shown}"
    page, plain = Elements(html), Elements(github_html(render(sample_result())))
    assert not page.all("img") and not page.all("script") and not page.all("b")
    for markup in ("em", "strong", "del", "code"):  # none made of the hostile text
        # The check adds code spans of its own: its id (table, verdict), line and evidence.
        assert len(page.all(markup)) == len(plain.all(markup)) + 4 * (markup == "code")
    # A URL typed in a message is linked by GitHub itself (autolink), but never a script.
    assert all(not (a["href"] or "").startswith("javascript") for a in page.all("a"))


def test_over_one_mib_whole_rows_are_left_out_with_a_note_and_the_verdict_stays() -> None:
    filler = tuple(check(f"bulk-{i:04d}", Status.PASS, 100 + i, message="x" * 1900)
                   for i in range(700))
    big = with_check(*filler)
    markdown = render(big)
    size = len(markdown.encode("utf-8"))
    assert LIMIT - 10_000 < size <= LIMIT
    assert markdown.startswith("## ⛔ BLOCKED by `latency-predict`, `model-card`: churn")
    table = table_cells(github_html(markdown))
    assert all(len(row) == 8 for row in table)
    shown = [row[1].split(" ")[0] for row in table[1:]]
    left_out = 7 + 700 - len(shown)
    assert left_out > 0
    assert (f"{left_out} more check(s) not shown: GitHub limits a step summary to 1 MiB."
            in markdown)
    assert "**Audit** `.gatekeeper/audit.jsonl` record 17" in markdown  # the facts still fit
    # Failures come first, so a cut never hides a failing check behind passing ones.
    assert shown[:2] == ["latency-predict", "model-card"]


def test_a_tiny_limit_keeps_the_verdict_line() -> None:
    markdown = render(sample_result(), limit=600)
    assert len(markdown.encode("utf-8")) <= 600
    assert markdown.startswith("## ⛔ BLOCKED by `latency-predict`, `model-card`")
    assert "7 more check(s) not shown" in markdown


def with_check(*extra: CheckResult) -> Result:
    result = sample_result()
    return dataclasses.replace(result, checks=(*result.checks, *extra))


class Cells(HTMLParser):
    """Every table row as its cells' visible text (``<br>`` as a space)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_cells(html: str) -> list[list[str]]:
    return Cells(html).rows
