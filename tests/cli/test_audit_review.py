"""Reviewing the audit trail through the real CLI: `audit log` filters and columns, `audit
export --format csv | intoto`, and the `audit report` dossier (markdown as GitHub parses it;
the html in headless Chromium lives in tests/render/test_dossier.py).

The log is tests/support/review_trail.py's: real records of two versions, a waiver, an
approval, the champion alias moved none → v2 → v3, and a refusal.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from click.testing import CliRunner, Result
from cmarkgfm.cmark import Options

from gatekeeper.act.attest import predicate
from gatekeeper.cli import cli
from gatekeeper.record import AuditLog
from gatekeeper.record.attestation import decision_statement
from tests.support.chromium import Elements
from tests.support.review_trail import MODEL_SHA, Trail, at, build_trail

E = "gatekeeper: error: "
def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["audit", *args], env={"GATEKEEPER_AUDIT_KEY": ""},
                              catch_exceptions=False)


@pytest.fixture
def trail(log_path: Path) -> Trail:
    return build_trail(log_path)


# -- audit log ---------------------------------------------------------------------------------


def test_log_shows_aligned_columns_and_alias_moves(trail: Trail) -> None:
    result = run("log", "--audit-log", str(trail.path))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "seq  time                      actor  action             model     milestone  outcome",
        "  1  2024-05-01T09:30:00.000Z  alice  decision           churn v2  serve      "
        "pass (waived: pii-findings)",
        "  2  2024-05-01T09:30:00.000Z  alice  promotion          churn v2  serve      "
        "champion: none → v2",
        "  3  2024-05-02T09:30:00.000Z  alice  decision           churn v3  serve      "
        "block (waived: pii-findings)",
        "  4  2024-05-02T09:30:00.000Z  alice  waiver_use         churn v3  serve      "
        "waiver W-7 on pii-findings",
        "  5  2024-05-03T09:30:00.000Z  alice  approval           churn v3  serve      "
        "approved as risk by carol",
        "  6  2024-05-04T09:30:00.000Z  bob    decision           churn v3  serve      "
        "pass (waived: pii-findings)",
        "  7  2024-05-04T09:30:00.000Z  bob    promotion          churn v3  serve      "
        "champion: v2 → v3",
        "  8  2024-05-05T09:30:00.000Z  alice  promotion_refused  churn v4  serve      "
        "champion: refused: no passing decision for churn version 4 at serve",
    ]


def test_log_escapes_control_characters_and_keeps_columns(log_path: Path,
                                                         make_entry: Callable[..., Any]) -> None:
    AuditLog(log_path, env={}, clock=at(1)).append(make_entry(actor="eve\x1b[2J"))
    AuditLog(log_path, env={}, clock=at(2)).append(make_entry(actor="al"))
    lines = run("log", "--audit-log", str(log_path)).stdout.splitlines()
    assert lines[1].split()[2] == "eve\\x1b[2J"
    assert lines[2].index("decision") == lines[1].index("decision")  # still aligned
    assert "\x1b" not in "".join(lines)


@pytest.mark.parametrize(
    ("args", "seqs"),
    [
        (("--alias", "champion"), [2, 7, 8]),
        (("--alias", "champion", "--action", "promotion"), [2, 7]),
        (("--actor", "bob"), [6, 7]),
        (("--waiver-used",), [1, 3, 4, 6]),
        (("--waiver-used", "--version", "3", "--decision", "block"), [3, 4]),
        (("--version", "3", "--milestone", "serve", "--action", "approval"), [5]),
        (("--action", "waiver_use"), [4]),
        (("--since", "2024-05-04"), [6, 7, 8]),
        (("--since", "2024-05-02T09:30:00Z", "--until", "2024-05-03T09:30:00Z"), [3, 4]),
        (("--since", "2024-05-02T11:30:00+02:00", "--until", "2024-05-03"), [3, 4]),
        (("--until", "3650d"), []),  # ten years ago: before every record
        (("--since", "3650d", "--actor", "bob"), [6, 7]),
    ],
)
def test_log_filters(trail: Trail, args: tuple[str, ...], seqs: list[int]) -> None:
    result = run("log", "--audit-log", str(trail.path), "-o", "json", *args)
    assert (result.exit_code, result.stderr) == (0, "")
    assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == seqs
    table = run("log", "--audit-log", str(trail.path), *args).stdout.splitlines()
    assert [int(line.split()[0]) for line in table[1:]] == seqs


def test_since_and_until_take_a_duration_ago(log_path: Path,
                                             make_entry: Callable[..., Any]) -> None:
    now = datetime.now(UTC)
    AuditLog(log_path, env={}, clock=lambda: now - timedelta(days=3)).append(make_entry())
    AuditLog(log_path, env={}, clock=lambda: now - timedelta(hours=1)).append(make_entry())
    for args, seqs in ((("--since", "1d"), [2]), (("--since", "36h"), [2]),
                       (("--until", "2d"), [1]), (("--since", "4d", "--until", "90m"), [1])):
        result = run("log", "--audit-log", str(log_path), "-o", "json", *args)
        assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == seqs, args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), "Invalid value for '--since': 'yesterday' is neither an ISO "
         "8601 date/time nor a duration like 7d, 24h or 90m (that long ago)"),
        (("--until", "2024-13-01"), "Invalid value for '--until': '2024-13-01' is neither an "
         "ISO 8601 date/time nor a duration like 7d, 24h or 90m (that long ago)"),
        (("--since", "99999d"), "Invalid value for '--since': '99999d' is neither an ISO 8601 "
         "date/time nor a duration like 7d, 24h or 90m (that long ago)"),
    ],
)
def test_bad_times_exit_2_naming_the_flag(trail: Trail, args: tuple[str, ...],
                                          message: str) -> None:
    for command in ("log", "export"):
        result = run(command, "--audit-log", str(trail.path), *args)
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", E + message + "\n")


# -- audit export ------------------------------------------------------------------------------

COLUMNS = ["seq", "recorded_at", "action", "actor", "actor_source", "model", "version",
           "run_id", "milestone", "decision", "check", "kind", "category", "blocking", "status",
           "threshold", "observed", "message", "waiver", "reasons", "promotion_alias",
           "promotion_version", "promotion_previous_version", "approval_role", "approver",
           "decision_ref_seq", "baseline_version", "playbook_path", "playbook_digest",
           "milestone_digest", "playbook_git_commit", "ci", "key_id", "prev_hash", "hash"]
# In the record's order (its keys are stored as canonical JSON: sorted).
CHECKS = ["accuracy-floor", "cost-per-1k", "f1-advisory", "gatekeeper.earlier-milestones",
          "gpu-util", "latency-predict", "model-card", "pii-findings"]


def test_export_csv_has_one_row_per_check(trail: Trail) -> None:
    result = run("export", "--audit-log", str(trail.path), "--format", "csv")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == ",".join(COLUMNS)  # the documented column set
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    criteria = trail.records()[2]["criteria"]
    assert list(criteria) == CHECKS
    # Three decisions of 8 checks each, and one row for each of the 5 other records.
    assert [r["seq"] for r in rows] == (["1"] * 8 + ["2"] + ["3"] * 8 + ["4", "5"] + ["6"] * 8
                                        + ["7", "8"])
    v3 = {r["check"]: r for r in rows if r["seq"] == "3"}
    assert list(v3) == CHECKS
    latency = v3["latency-predict"]
    assert (latency["kind"], latency["status"], latency["blocking"], latency["threshold"],
            latency["observed"], latency["decision"]) == (
        "latency", "fail", "true", '{"p95_ms":40,"p99_ms":80}', '{"p95_ms":74,"p99_ms":161}',
        "block")
    assert (v3["pii-findings"]["status"], v3["pii-findings"]["waiver"]) == ("waived", "W-7")
    assert v3["accuracy-floor"]["observed"] == "0.953216"
    waiver_use = next(r for r in rows if r["action"] == "waiver_use")
    assert (waiver_use["check"], waiver_use["status"], waiver_use["waiver"]) == (
        "pii-findings", "waived", "W-7")
    moves = [(r["promotion_alias"], r["promotion_previous_version"], r["promotion_version"])
             for r in rows if r["action"] == "promotion"]
    assert moves == [("champion", "", "2"), ("champion", "2", "3")]
    approval = next(r for r in rows if r["action"] == "approval")
    assert (approval["approval_role"], approval["approver"], approval["decision_ref_seq"]) == (
        "risk", "carol", "3")
    assert rows[0]["hash"] == trail.records()[0]["hash"]


def test_export_csv_defuses_formulas(log_path: Path, make_entry: Callable[..., Any]) -> None:
    entry = make_entry(actor="=HYPERLINK(\"http://x\")", model={"name": "+churn", "version": "1"},
                       criteria={"@c": {"kind": "metric_threshold", "threshold": {"min": 0}}},
                       evidence={"@c": {"status": "fail", "observed": -0.5,
                                        "message": "-1+1 below\tzero"}})
    AuditLog(log_path, env={}, clock=at(1)).append(entry)
    row = next(csv.DictReader(io.StringIO(run("export", "--audit-log", str(log_path),
                                              "--format", "csv").stdout)))
    assert (row["actor"], row["model"], row["check"], row["observed"], row["message"]) == (
        "'=HYPERLINK(\"http://x\")", "'+churn", "'@c", "'-0.5", "'-1+1 below\tzero")
    assert row["threshold"] == '{"min":0}'


def test_export_intoto_is_the_attestation_statement_of_each_decision(trail: Trail) -> None:
    result = run("export", "--audit-log", str(trail.path), "--format", "intoto",
                 "--model", "churn")
    assert result.exit_code == 0
    statements = [json.loads(line) for line in result.stdout.splitlines()]
    assert [s["predicate"]["audit"]["seq"] for s in statements] == [1, 3, 6]
    for statement in statements:
        decided = trail.decided[statement["predicate"]["audit"]["seq"]]
        # Exactly what `check` signs onto the version for the same decision (act/attest.py).
        assert statement == decision_statement(predicate(decided))
        assert statement["_type"] == "https://in-toto.io/Statement/v1"
        assert statement["subject"][0]["name"] == f"mlflow:models/churn/{decided.model.version}"
        assert len(statement["subject"][0]["digest"]["sha256"]) == 64
    assert [s["predicate"]["decision"] for s in statements] == ["pass", "block", "pass"]


def test_export_intoto_of_a_selection_without_decisions_is_empty(trail: Trail) -> None:
    result = run("export", "--audit-log", str(trail.path), "--format", "intoto",
                 "--action", "promotion")
    assert (result.exit_code, result.stdout) == (0, "")


# -- audit report ------------------------------------------------------------------------------


def github(markdown: str) -> Elements:
    return Elements(cmarkgfm.github_flavored_markdown_to_html(
        markdown, options=Options.CMARK_OPT_UNSAFE))


def test_report_markdown_of_an_alias_covers_every_version_it_pointed_to(trail: Trail) -> None:
    result = run("report", "--audit-log", str(trail.path), "--model", "churn",
                 "--alias", "champion", "-o", "markdown")
    assert (result.exit_code, result.stderr) == (0, "")
    page = github(result.stdout)
    lines = page.lines
    assert lines[0] == "Audit dossier: churn alias champion (versions 2, 3)"
    assert "✅ Chain intact: 8 records in " + trail.location in lines
    assert "signatures not checked (no key given)" in lines or any(
        "signature" in line for line in lines)
    # The timeline: every record of versions 2 and 3, and the refusal to move the alias.
    timeline = [row for row in table_rows(result.stdout) if len(row) == 7]
    assert [row[0] for row in timeline[1:]] == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert timeline[7][6] == "champion: v2 → v3"
    # Each check's threshold beside its observed value, per decision.
    assert ["latency-predict", "latency", "fail", "yes", "p95_ms 40, p99_ms 80",
            "p95_ms 74, p99_ms 161", "predict: p95 = 74 ms > 40 ms, p99 = 161 ms > 80 ms",
            ""] in table_rows(result.stdout)
    assert ["3", "3", "serve", "pii-findings",
            "W-7: synthetic test data (approved by ciso@example.com, expires 2027-01-01)"] \
        in table_rows(result.stdout)
    assert ["5", "2024-05-03T09:30:00.000Z", "3", "serve", "risk", "carol",
            "2024-06-01T00:00:00Z", "3", "k-4f2a"] in table_rows(result.stdout)
    assert ["6", "3", "serve", "mlflow:models/churn/3/artifacts/model.pkl",
            f"bytes 2048, sha256 {MODEL_SHA}"] in table_rows(result.stdout)
    # GitHub links e-mail addresses by itself; nothing else from a record became a link.
    assert all((a["href"] or "").startswith("mailto:") for a in page.all("a"))


def test_report_of_one_version_leaves_the_others_out(trail: Trail, tmp_path: Path) -> None:
    out = tmp_path / "dossier.md"
    result = run("report", "--audit-log", str(trail.path), "--model", "churn", "--version", "2",
                 "-o", f"markdown={out}")
    assert (result.exit_code, result.stdout) == (0, "")
    rows = table_rows(out.read_text())
    timeline = [row for row in rows if len(row) == 7]
    assert [row[0] for row in timeline[1:]] == ["1", "2"]
    assert "Audit dossier: churn version 2" in github(out.read_text()).lines


def test_report_writes_html_to_a_file_and_markdown_to_stdout(trail: Trail,
                                                            tmp_path: Path) -> None:
    page = tmp_path / "out" / "dossier.html"
    page.parent.mkdir()
    result = run("report", "--audit-log", str(trail.path), "--model", "churn", "-o",
                 f"html={page}", "-o", "markdown")
    assert result.exit_code == 0
    assert result.stdout.startswith("# Audit dossier: churn (every version)\n")
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.endswith("</body></html>\n")
    assert "<h1>Audit dossier: churn (every version)</h1>" in text
    assert [m for m in ("<script", "<link", "<img", "url(", "@import") if m in text] == []


def test_report_of_a_tampered_log_lists_the_findings_and_exits_1(trail: Trail) -> None:
    text = trail.path.read_text()
    trail.path.write_text(text.replace('"decision":"block"', '"decision":"pass"', 1))
    result = run("report", "--audit-log", str(trail.path), "--model", "churn", "--version", "3")
    assert result.exit_code == 1
    lines = github(result.stdout).lines
    assert lines[2] == "Verification"
    assert lines[3].startswith(f"⛔ Chain NOT intact: problems found verifying {trail.location} (")
    # The store's own finding, word for word (with its code once verify reports codes).
    assert lines[4].startswith("record 3 (line 3): ") and "hash mismatch" in lines[4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "churn", "--alias", "champion", "--version", "3"),
         "--alias and --version both given: a dossier covers one"),
        (("--model", "churn", "--alias", "nobody"),
         "audit store {log}: no records of churn alias nobody (never moved by the gate)"),
        (("--model", "fraud"), "audit store {log}: no records of fraud (every version)"),
        (("--model", "churn", "-o", "pdf"),
         "-o/--output: unknown dossier format 'pdf' (available: html, markdown)"),
        (("--model", "churn", "-o", "html=/"),
         "-o/--output /: is a folder; results are written to regular files only"),
        (("--model", "churn", "-o", "html", "-o", "markdown"),
         "-o/--output: html and markdown would both go to stdout; send all but one to a file "
         "(FMT=PATH)"),
    ],
)
def test_report_refuses_bad_input(trail: Trail, args: tuple[str, ...], message: str) -> None:
    result = run("report", "--audit-log", str(trail.path), *args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == E + message.format(log=trail.location) + "\n"


def table_rows(markdown: str) -> list[list[str]]:
    """Every table row GitHub renders, as the text of its cells."""
    html = cmarkgfm.github_flavored_markdown_to_html(markdown,
                                                     options=Options.CMARK_OPT_UNSAFE)
    rows: list[list[str]] = []
    for chunk in html.split("<tr>")[1:]:
        cells = chunk.split("</tr>")[0]
        rows.append([" ".join(Elements(c).text.split()) for c in _cells(cells)])
    return rows


def _cells(row: str) -> list[str]:
    parts = []
    for tag in ("<td", "<th"):
        for piece in row.split(tag)[1:]:
            parts.append(piece.split(">", 1)[1].rsplit("</t", 1)[0])
    return parts


def test_a_selection_from_the_environment_is_said_aloud(trail: Trail) -> None:
    # GATEKEEPER_ACTOR is also who runs a gate: narrowing a review by it is never silent.
    result = CliRunner().invoke(cli, ["audit", "log", "--audit-log", str(trail.path)],
                                env={"GATEKEEPER_ACTOR": "bob", "GATEKEEPER_AUDIT_KEY": ""},
                                catch_exceptions=False)
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["6", "7"]
    assert result.stderr == ("note: --actor bob from GATEKEEPER_ACTOR (only matching records "
                             "are shown)\n")
    assert run("log", "--audit-log", str(trail.path), "--actor", "bob").stderr == ""


# -- the same review on a PostgreSQL store ------------------------------------------------------


def audit_hash(trail: Trail, seq: int) -> str:
    ref = trail.decided[seq].audit
    assert ref is not None
    return ref.hash


def test_log_export_and_report_on_a_postgresql_store(postgres_url: str, tmp_path: Path,
                                                      trail: Trail) -> None:
    from gatekeeper.record.postgres import PostgresStore

    shared = build_trail(tmp_path / "unused.jsonl",
                         lambda clock: PostgresStore(postgres_url, env={}, clock=clock))
    on_file = run("log", "--audit-log", str(trail.path)).stdout
    assert run("log", "--audit-store", postgres_url).stdout == on_file  # the same table
    moves = run("log", "--audit-store", postgres_url, "--alias", "champion", "--action",
                "promotion").stdout.splitlines()[1:]
    assert [" ".join(line.split()[-4:]) for line in moves] == ["champion: none → v2",
                                                               "champion: v2 → v3"]
    assert [line.split()[0] for line in moves] == ["2", "7"]

    statements = [json.loads(line) for line in run(
        "export", "--audit-store", postgres_url, "--format", "intoto").stdout.splitlines()]
    assert [s["predicate"]["audit"] for s in statements] == [
        {"log": shared.location, "seq": seq, "hash": audit_hash(shared, seq)}
        for seq in (1, 3, 6)]
    for statement in statements:
        assert statement == decision_statement(predicate(shared.decided[
            statement["predicate"]["audit"]["seq"]]))

    report = run("report", "--audit-store", postgres_url, "--model", "churn", "--alias",
                 "champion")
    assert report.exit_code == 0
    lines = github(report.stdout).lines
    assert lines[0] == "Audit dossier: churn alias champion (versions 2, 3)"
    assert f"✅ Chain intact: 8 records in {shared.location}" in lines


# -- the dossier's verification: checkpoints and signatures -----------------------------------


def test_report_catches_a_cut_tail_through_the_checkpoint(trail: Trail) -> None:
    # The chain alone cannot tell a shorter log from a whole one; the checkpoint can.
    lines = trail.path.read_text().splitlines(keepends=True)
    trail.path.write_text("".join(lines[:-1]))
    result = run("report", "--audit-log", str(trail.path), "--model", "churn", "--version",
                 "3")
    assert result.exit_code == 1
    shown = github(result.stdout).lines
    assert shown[3] == (f"⛔ Chain NOT intact: problems found verifying {trail.location} "
                        "(7 records read)")
    assert shown[4].startswith("record 8: truncated: ")


def test_report_checks_signatures_with_a_public_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gatekeeper.record.signing import Signer

    signer = Signer(Ed25519PrivateKey.generate())
    path = tmp_path / "signed.jsonl"
    signed = build_trail(path, lambda clock: AuditLog(path, env={}, clock=clock, signer=signer))
    key = tmp_path / "k.pub"
    key.write_text(signer.public_key_text)
    args = ("report", "--audit-log", str(path), "--model", "churn", "--version", "2")

    checked = run(*args, "--public-key", str(key))
    assert checked.exit_code == 0
    assert github(checked.stdout).lines[3:5] == [
        f"✅ Chain intact: 8 records in {signed.location}",
        f"signatures: valid (8 records, key {signer.key_id})"]
    unchecked = github(run(*args).stdout).lines
    assert unchecked[4].startswith("signatures: NOT CHECKED: no --public-key given (8 of 8 "
                                   "records signed")
