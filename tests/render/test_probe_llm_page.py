"""report.html of real LLM runs through the CLI against the loopback target (its own vLLM-named
/metrics read with ``--server-metrics``), opened in headless Chromium: the token table shows
what result.json holds, the server's TTFT sits beside the client's, and a run whose queue kept
growing (one slot, more than it serves) reads SATURATED while a stalling one does not. A
plain run's page gains nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from examples.llm_target import Law, LlmTarget
from gatekeeper.cli import run
from gatekeeper.probe.modes import PlainRun
from gatekeeper.probe.report import format_ms
from gatekeeper.probe.run import ProbeOutcome, ProbeRequest
from gatekeeper.render.probe import render_files
from gatekeeper.render.probe.llm_page import token_section
from tests.probe.llm.test_law import lines
from tests.probe.test_modes import sending
from tests.render.test_probe_objectives import run as plain_run
from tests.support.chromium import Elements, render_page


def probe_llm(target: LlmTarget, out: Path, *extra: str) -> dict[str, Any]:
    """``gatekeeper probe --api openai-chat`` at ``target`` with ``--server-metrics`` on its
    /metrics; result.json."""
    mix = out.parent / f"{out.name}-mix.jsonl"
    mix.write_text("".join(line + "\n" for line in lines()))
    with target as url:
        run(["probe", url, "--api", "openai-chat", "--mix", str(mix), "--warmup", "0.5s",
             "--min-samples", "5", "--out", str(out), "--server-metrics", f"{url}/metrics",
             *extra])
    result: dict[str, Any] = json.loads((out / "result.json").read_text())
    return result


def shown(out: Path) -> list[str]:
    """The visible text of ``out``/report.html as Chromium parsed it, one entry per block."""
    rendering = render_page(out / "report.html", out / "report.png", 1400, 4000)
    return Elements(rendering.dom).lines


def table_after(text: list[str], heading: str, first: str, columns: int) -> list[dict[str, str]]:
    """The rows of the first table after ``heading`` whose header starts with ``first``, as
    header -> cell (Chromium's DOM keeps one block per cell, in order)."""
    start = text.index(first, text.index(heading))
    header = text[start:start + columns]
    rows: list[dict[str, str]] = []
    at = start + columns
    while at + columns <= len(text) and len(rows) < 20:
        cells = text[at:at + columns]
        if any(cell in ("Server-side evidence", "Latency histogram") for cell in cells):
            break
        rows.append(dict(zip(header, cells, strict=True)))
        at += columns
    return rows


def test_a_stalling_runs_page_shows_its_token_metrics_and_the_servers_ttft_beside(
        tmp_path: Path) -> None:
    out = tmp_path / "stall"
    result = probe_llm(LlmTarget(Law(decode_s=0.002, stall_every=5, stall_s=0.3)), out,
                       "--rate", "10", "--duration", "5s", "--slo-ttft-ms", "200",
                       "--timeout", "10s")
    [gen] = result["llm"]["endpoints"]
    assert gen["ttft"]["p99_ms"] >= 300  # the stalls reached the client
    text = shown(out)

    [row] = table_after(text, "Token metrics", "endpoint", 16)
    assert row["endpoint"] == "gen"
    assert row["TTFT p99 ms"] == format_ms(gen["ttft"]["p99_ms"])
    assert row["TTFT p99 from actual send ms"] == format_ms(gen["service_ttft"]["p99_ms"])
    assert row["TPOT p50 ms"] == format_ms(gen["tpot"]["p50_ms"])
    good = gen["goodput"]
    assert row["goodput"] == f"{good['good']:,} of {gen['ok']:,} ok, {good['rps']:,.2f}/s"
    assert 0 < good["good"] < gen["ok"]  # the stalled fifth missed the SLO
    assert ("Goodput: ok requests that met TTFT <= 200 ms, per second of the run's window."
            in text)
    assert any("docs/llm.md" in line for line in text)

    server = result["server_metrics"]
    assert f"vllm at {server['url']}: {server['samples']:,} samples over " \
        f"{server['window_s']:.1f} s." in text
    beside = {r["reading"]: r for r in table_after(text, "Server-side evidence", "endpoint", 11)}
    ttft = beside["TTFT"]
    assert ttft["endpoint"] == "gen"
    assert ttft["p99 client ms"] == format_ms(gen["ttft"]["p99_ms"])
    assert ttft["p99 server ms"] == format_ms(server["readings"]["ttft"]["p99_ms"])
    assert ttft["server metric"] == "vllm:time_to_first_token_seconds"
    assert {"TTFT", "ITL", "E2E", "queue time"} <= set(beside)
    assert beside["queue time"]["p50 client ms"] == "-"  # the client has no queue time
    assert not any(line.startswith("SATURATED") for line in text)
    assert any(line.startswith("Not saturated: the waiting queue did not keep growing")
               for line in text)
    assert "requests running max" in text and "prefix cache hit ratio (token-weighted)" in text


def test_a_run_whose_queue_kept_growing_reads_saturated(tmp_path: Path) -> None:
    out = tmp_path / "saturated"
    # One slot serves under 6 answers a second (16 tokens of 10 ms); 8 a second arrive for
    # 10 s, so the target's queue grows all run long. Whatever is still queued when the
    # client's 3 s timeout ends it leaves quickly, so the drain stays within the last quarter
    # of the samples (a longer timeout would drain by service and read as grown-then-drained).
    result = probe_llm(LlmTarget(Law(decode_s=0.01, slots=1)), out, "--rate", "8",
                       "--duration", "10s", "--timeout", "3s")
    saturation = result["server_metrics"]["saturation"]
    assert saturation["saturated"], saturation
    text = shown(out)
    [line] = [line for line in text if line.startswith("SATURATED")]
    assert line == (f"SATURATED: the queue kept growing (slope "
                    f"{saturation['slope_per_s']:+.2f} requests/s, "
                    f"{saturation['first_quarter_mean']:.1f} -> "
                    f"{saturation['last_quarter_mean']:.1f} waiting).")
    assert "Token metrics" in text


def plain_outcome(details: dict[str, Any]) -> ProbeOutcome:
    report, timeline = plain_run()
    return ProbeOutcome(ProbeRequest("http://t", PlainRun(sending()), 10), report, timeline,
                        0.0, (), "t0", "t1", details=details)


def test_a_plain_runs_page_has_no_token_or_server_section() -> None:
    page = render_files(plain_outcome({}))["report.html"].decode()
    assert "Token metrics" not in page and "Server-side evidence" not in page


@pytest.mark.parametrize("problem", ["--server-metrics: cannot read http://h/metrics <&>"])
def test_an_unread_server_is_one_escaped_line(problem: str) -> None:
    page = render_files(plain_outcome({"server_metrics": {"problem": problem}}))[
        "report.html"].decode()
    assert ('<p class="bad">Server metrics could not be read: --server-metrics: cannot read '
            "http://h/metrics &lt;&amp;&gt;</p>") in page


def test_itl_says_which_share_of_its_gaps_came_in_one_read() -> None:
    chat: dict[str, Any] = {"endpoint": "chat", "ok": 10, "requests": 10,
                            "itl": {"p99_ms": 12.0}, "itl_same_read_share": 0.031}
    together = token_section({"slo": {}, "endpoints": [chat]})
    apart = token_section({"slo": {}, "endpoints": [{**chat, "itl_same_read_share": 0.0}]})
    assert "(3.1% of gaps 0: chunks read together)" in together
    assert "read together" not in apart
