"""The audit dossier (render/dossier.py) as its readers get it: the html page opened in headless
Chromium (text visible, no console message, nothing fetched), the markdown as GitHub's parser
reads it (cmarkgfm), both from a real trail (tests/support/review_trail.py) with a record
holding markup in every field a writer controls."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from gatekeeper.record import AuditLog
from gatekeeper.record.review import ChainCheck, Dossier, chain_check, select_scope
from gatekeeper.render.dossier import FORMATS, html, markdown
from gatekeeper.render.markdown import size
from tests.support.chromium import TIMEOUT_S, Elements, chromium, colours
from tests.support.review_trail import MODEL_SHA, at, build_trail

ATTACK = "<script>document.title='pwned'</script><img src=x onerror=alert(1)> | `x` *y*"
MADE = "2026-12-03T12:00:00Z"


@pytest.fixture
def dossier(log_path: Path) -> Dossier:
    """The champion alias's dossier: the trail, and a 9th record (v3) full of markup."""
    build_trail(log_path)
    AuditLog(log_path, env={}, clock=at(6)).append({
        "action": "decision", "actor": ATTACK, "milestone": "serve", "decision": "block",
        "model": {"name": "churn", "version": "3", "run_id": "run-3"},
        "criteria": {"x<b>": {"kind": "latency", "blocking": True, "threshold": ATTACK}},
        "evidence": {"x<b>": {"status": "fail", "observed": ATTACK, "message": ATTACK}},
        "waivers": [], "evidence_digests": {ATTACK: {"sha256": "ab" * 32}}})
    store = AuditLog(log_path, env={})
    records = [s.record for s in store.records()]
    return Dossier(select_scope(records, "churn", alias="champion"),
                   chain_check(store.verify()), str(log_path), MADE)


@dataclass(frozen=True)
class Browsed:
    dom: str
    console: list[str]
    fetched: list[str]
    png: Path


def browse(page: Path) -> Browsed:
    """Open ``page`` in headless Chromium with its console on stderr and a network log: what
    it showed, what the page logged, and every URL the page (not the browser) requested."""
    png, net = page.with_suffix(".png"), page.with_suffix(".netlog.json")
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--disable-sync", f"--user-data-dir={page.parent / 'profile'}",
         "--enable-logging=stderr", "--v=0", f"--log-net-log={net}",
         "--host-resolver-rules=MAP * ~NOTFOUND", f"--screenshot={png}",
         "--window-size=1280,2400", "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return Browsed(proc.stdout, console, page_requests(net), png)


def page_requests(netlog: Path) -> list[str]:
    """URLs requested on behalf of a page: the browser's own traffic (updates, accounts) has
    no origin; a page opened from a file has the origin "null"."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in log["events"]
            if e["type"] == start and "url" in e.get("params", {})
            and e["params"].get("initiator") != "not an origin"]


def test_the_html_dossier_in_chromium(dossier: Dossier, tmp_path: Path) -> None:
    page = tmp_path / "dossier.html"
    page.write_text(html(dossier), encoding="utf-8")
    shown = browse(page)

    assert (shown.console, shown.fetched) == ([], [])
    assert colours(shown.png) > 20  # the green verification banner, tables: not blank
    dom = Elements(shown.dom)
    assert not dom.all("script") and not dom.all("img") and not dom.all("b")
    assert dom.lines[:5] == [
        "Audit dossier: churn alias champion (versions 2, 3)",
        f"9 records from {dossier.location}, made {MADE}",
        "Verification", f"Chain intact: 9 records in {dossier.location}",
        dossier.chain.lines[0]]
    lines = dom.lines
    timeline = lines.index("Timeline")
    assert lines[timeline + 1:timeline + 8] == list(("seq", "time", "actor", "action", "model",
                                                     "milestone", "outcome"))
    assert "champion: none → v2" in lines and "champion: v2 → v3" in lines
    # Each decision: its title, then each check's threshold beside its observed value.
    title = lines.index("Record 3: block at milestone serve, version 3, "
                        "2024-05-02T09:30:00.000Z by alice")
    rows = lines[title:]
    at_latency = rows.index("latency-predict")
    assert rows[at_latency:at_latency + 7] == [
        "latency-predict", "latency", "fail", "yes", "p95_ms 40, p99_ms 80",
        "p95_ms 74, p99_ms 161", "predict: p95 = 74 ms > 40 ms, p99 = 161 ms > 80 ms"]
    # Rows are coloured by state: record 3's failures and its waiver stand out.
    states = [attrs["class"] for attrs in dom.all("tr") if attrs.get("class")]
    assert {"fail", "error", "waived", "warn", "pass", "skip"} <= set(states)
    # The prerequisite comes first, apart from the playbook's checks.
    assert rows[rows.index("waiver") + 1] == "gatekeeper.earlier-milestones"
    for heading in ("Approvals", "Waivers used", "Evidence digests"):
        assert heading in lines
    assert f"bytes 2048, sha256 {MODEL_SHA}" in lines
    assert "carol" in lines and "k-4f2a" in lines
    # Markup from a record is shown as the text it is, never parsed.
    assert ATTACK in lines and "x<b>" in lines
    assert FORMATS["html"] is html


def test_the_instrument_sees_console_messages_and_fetches(tmp_path: Path) -> None:
    # Without this, an empty console and fetch list could mean the probe is blind.
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://example.org/a.png">'
                    "<script>console.error('seen')</script></body></html>")
    shown = browse(page)
    assert any('"seen"' in line for line in shown.console)
    assert shown.fetched == ["http://example.org/a.png"]


def github(text: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)


def test_the_markdown_dossier_as_github_reads_it(dossier: Dossier) -> None:
    text = markdown(dossier)
    parsed = github(text)
    assert "<script" not in parsed and "<img" not in parsed and "<b>" not in parsed
    lines = Elements(parsed).lines
    assert lines[:5] == [
        "Audit dossier: churn alias champion (versions 2, 3)",
        f"9 records from {dossier.location}, made {MADE}",
        "Verification", f"✅ Chain intact: 9 records in {dossier.location}",
        dossier.chain.lines[0]]
    assert ATTACK in Elements(parsed).text  # shown verbatim, the pipe included
    # Every row of every table has as many cells as its header: nothing broke a table.
    for table in parsed.split("<table>")[1:]:
        body = table.split("</table>")[0]
        widths = {row.count("<td") + row.count("<th") for row in body.split("<tr>")[1:]}
        assert len(widths) == 1, widths
    assert FORMATS["markdown"] is markdown


def test_markdown_stays_within_the_limit_keeping_the_verification(dossier: Dossier) -> None:
    limit = 6000
    text = markdown(dossier, limit=limit)
    whole = markdown(dossier)
    assert size(whole) > limit >= size(text)
    assert text.splitlines()[:8] == whole.splitlines()[:8]
    assert text.rstrip().endswith("`gatekeeper audit report -o html=dossier.html` shows "
                                  "everything._")
    assert "more line(s) not shown" in text


def test_a_broken_chain_is_shown_with_every_finding(dossier: Dossier) -> None:
    broken = Dossier(dossier.scope, ChainCheck(False, 9, ("record 4 (line 4): edited: x",
                                                          "record 7 (line 7): deleted: y")),
                     dossier.location, MADE)
    page = html(broken)
    assert '<section id="verification" class="chain broken">' in page
    assert ("<li>record 4 (line 4): edited: x</li><li>record 7 (line 7): deleted: y</li>"
            in page)
    lines = Elements(github(markdown(broken))).lines
    assert lines[3:6] == [f"⛔ Chain NOT intact: problems found verifying {dossier.location} "
                          "(9 records read)", "record 4 (line 4): edited: x",
                          "record 7 (line 7): deleted: y"]
