"""``gatekeeper probe --import-llm TOOL=FILE`` through the real CLI: written and judged like a
run, our token metrics in result.json; a bad file or tool is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gatekeeper.cli import run

FIXTURES = Path(__file__).parent / "fixtures"


def test_an_imported_aiperf_run_is_evidence_with_our_names(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    code = run(["probe", "--import-llm", f"aiperf={FIXTURES / 'profile_export_aiperf.json'}",
                "--out", str(tmp_path), "--min-samples", "100"])
    assert code == 0, capsys.readouterr()
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["usable"] and result["metrics"]["tpot.all.p50_ms"] == pytest.approx(6.0)
    assert result["metrics"]["itl.all.p99_ms"] == pytest.approx(14.0)
    assert result["endpoints"][0]["llm"]["names"]["inter_token_latency"] == "tpot"


@pytest.mark.parametrize(("args", "message"), [
    (["--import-llm", "locust=x"], "--import-llm: 'locust=x' is not TOOL=FILE with TOOL one of "
     "aiperf, guidellm, vllm-bench, inference-perf"),
    (["--import-llm", "aiperf=a.json", "--import-k6", "b.json"],
     "give one of --import-k6 or --import-llm, not both"),
    (["--import-llm", "vllm-bench=a.json", "--server-metrics", "http://127.0.0.1:1/metrics"],
     "--import-llm: --server-metrics has no meaning with an imported file (nothing is sent)"),
])
def test_bad_flags_are_one_line(args: list[str], message: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["probe", *args]) == 2
    assert f"gatekeeper: error: {message}" in capsys.readouterr().err


def test_a_bad_file_names_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"completed": "all", "duration": 1, "p50_e2el_ms": 1}))
    assert run(["probe", "--import-llm", f"vllm-bench={path}", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"gatekeeper: error: {path}:1:" in err and "completed: must be a number >= 0, " \
        'got "all"' in err and "Traceback" not in err
