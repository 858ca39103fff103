"""`gatekeeper audit verify | log | export` through the real click commands."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gatekeeper.cli import cli
from gatekeeper.record import AuditLog
from gatekeeper.render.review import CSV_COLUMNS

E = "gatekeeper: error: "  # the one message style of every command
MakeLog = Callable[..., AuditLog]
MakeEntry = Callable[..., dict[str, Any]]


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    # An empty GATEKEEPER_AUDIT_KEY keeps a developer's own key out of the expected output.
    return CliRunner().invoke(
        cli, ["audit", *args], env={"GATEKEEPER_AUDIT_KEY": "", **(env or {})},
        catch_exceptions=False,
    )


def model(name: str, version: str) -> dict[str, Any]:
    return {"name": name, "version": version, "run_id": f"r{version}", "source": "s"}


def day(number: int) -> Callable[[], datetime]:
    return lambda: datetime(2024, 5, number, 9, 30, tzinfo=UTC)


@pytest.fixture
def filled(log_path: Path, make_entry: MakeEntry) -> list[dict[str, Any]]:
    """Four records on four days (May 1-4, 09:30 UTC); returns them as stored."""
    refused = make_entry(
        action="promotion_refused", model=model("fraud", "1"), milestone="production",
        actor='=HYPERLINK("x")',
    )
    del refused["decision"]
    entries = [
        make_entry(model=model("churn", "3"), decision="block", reasons=["p95: too slow"]),
        make_entry(model=model("churn", "4")),
        make_entry(
            action="promotion", model=model("churn", "4"),
            promotion={"alias": "staging", "version": "4"},
        ),
        refused,
    ]
    for number, entry in enumerate(entries, start=1):
        AuditLog(log_path, env={}, clock=day(number)).append(entry)
    return [json.loads(line) for line in log_path.read_text().splitlines()]


def short(record: dict[str, Any]) -> str:
    return str(record["hash"])[7:19]


# -- verify ------------------------------------------------------------------------------------


def test_verify_intact(filled: list[dict[str, Any]], log_path: Path) -> None:
    result = run("verify", "--audit-log", str(log_path))
    assert (result.exit_code, result.stdout) == (
        0, f"audit log {log_path}: 4 records, chain intact\n"
           "signatures: none to check (no record is signed)\n"
    )


def test_verify_reads_the_environment(filled: list[dict[str, Any]], log_path: Path) -> None:
    result = run("verify", env={"GATEKEEPER_AUDIT_LOG": str(log_path)})
    assert (result.exit_code, result.stdout) == (
        0, f"audit log {log_path}: 4 records, chain intact\n"
           "signatures: none to check (no record is signed)\n"
    )


def test_verify_with_a_key(log_path: Path, make_entry: MakeEntry, tmp_path: Path) -> None:
    # Ed25519 replaced HMAC (docs/audit.md#signing): the private key signs, the public key
    # verifies; tests/cli/test_audit_integrity.py has the rest.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gatekeeper.record.signing import Signer

    signer = Signer(Ed25519PrivateKey.generate())
    AuditLog(log_path, env={}, signer=signer).append(make_entry())
    (tmp_path / "k.pub").write_text(signer.public_key_text)
    result = run("verify", "--audit-log", str(log_path), "--public-key", str(tmp_path / "k.pub"))
    assert (result.exit_code, result.stdout) == (
        0, f"audit log {log_path}: 1 record, chain intact\n"
           f"signatures: valid (1 record, key {signer.key_id})\n"
    )


def test_verify_tampered(filled: list[dict[str, Any]], log_path: Path) -> None:
    log_path.write_text(log_path.read_text().replace('"decision":"block"', '"decision":"pass"'))
    result = run("verify", "--audit-log", str(log_path))
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        f"audit log {log_path}: 4 records, 1 finding\n"
        "  record 1 (line 1): edited: hash mismatch: content changed after it was written\n"
        "signatures: none to check (no record is signed)\n",
        "",
    )


def test_verify_missing_log(tmp_path: Path) -> None:
    result = run("verify", "--audit-log", str(tmp_path / "none.jsonl"))
    assert (result.exit_code, result.stdout, result.stderr) == (
        2, "", E + f"audit log {tmp_path / 'none.jsonl'} does not exist\n"
    )


def test_verify_a_folder(tmp_path: Path) -> None:
    # A folder where the file should be: unreadable whoever runs the test (even root).
    result = run("verify", "--audit-log", str(tmp_path))
    assert (result.exit_code, result.stdout, result.stderr) == (
        2, "", E + f"Invalid value for '--audit-log': File '{tmp_path}' is a directory.\n"
    )


# -- log ---------------------------------------------------------------------------------------


def test_log_text(filled: list[dict[str, Any]], log_path: Path) -> None:
    # Aligned columns; tests/cli/test_audit_review.py has alias moves and every action.
    result = run("log", "--audit-log", str(log_path))
    assert (result.exit_code, result.stdout.splitlines()) == (0, [
        "seq  time                      actor            action             model     milestone "
        "  outcome",
        "  1  2024-05-01T09:30:00.000Z  alice            decision           churn v3  staging   "
        "  block",
        "  2  2024-05-02T09:30:00.000Z  alice            decision           churn v4  staging   "
        "  pass",
        "  3  2024-05-03T09:30:00.000Z  alice            promotion          churn v4  staging   "
        "  staging: none → v4",
        '  4  2024-05-04T09:30:00.000Z  =HYPERLINK("x")  promotion_refused  fraud v1  production'
        "  refused",
    ])


def test_log_json_is_the_stored_lines(filled: list[dict[str, Any]], log_path: Path) -> None:
    result = run("log", "--audit-log", str(log_path), "-o", "json", "--version", "4")
    assert result.stdout.splitlines() == log_path.read_text().splitlines()[1:3]


@pytest.mark.parametrize(
    ("args", "seqs"),
    [
        ((), [1, 2, 3, 4]),
        (("--model", "churn"), [1, 2, 3]),
        (("--model", "churn", "--version", "3"), [1]),
        (("--milestone", "production"), [4]),
        (("--decision", "pass"), [2, 3]),
        (("--decision", "block"), [1]),
        (("--action", "promotion"), [3]),
        (("--action", "promotion_refused"), [4]),
        (("--since", "2024-05-02"), [2, 3, 4]),
        (("--until", "2024-05-03"), [1, 2]),
        (("--since", "2024-05-02T09:30:00Z", "--until", "2024-05-03T09:30:00.001Z"), [2, 3]),
        (("--since", "2024-05-02T11:30:00+02:00"), [2, 3, 4]),
        (("--model", "nope"), []),
    ],
)
def test_log_filters(
    filled: list[dict[str, Any]], log_path: Path, args: tuple[str, ...], seqs: list[int]
) -> None:
    result = run("log", "--audit-log", str(log_path), "-o", "json", *args)
    assert result.exit_code == 0
    assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == seqs


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"),
         E + "Invalid value for '--since': 'yesterday' is neither an ISO 8601 date/time nor a "
             "duration like 7d, 24h or 90m (that long ago)"),
        (("--until", "2024-13-01"),
         E + "Invalid value for '--until': '2024-13-01' is neither an ISO 8601 date/time nor a "
             "duration like 7d, 24h or 90m (that long ago)"),
        (("--decision", "maybe"),
         E + "Invalid value for '--decision': 'maybe' is not one of 'pass', 'block'."),
    ],
)
def test_bad_flag_values(
    filled: list[dict[str, Any]], log_path: Path, args: tuple[str, ...], message: str
) -> None:
    for command in ("log", "export"):
        result = run(command, "--audit-log", str(log_path), *args)
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", message + "\n")


def test_log_of_a_malformed_log(filled: list[dict[str, Any]], log_path: Path) -> None:
    with log_path.open("a") as file:
        file.write("not json\n")
    result = run("log", "--audit-log", str(log_path))
    assert result.exit_code == 2
    assert result.stderr == (
        E + f"audit log {log_path}: line 5: malformed JSON: Expecting value at column 1\n"
        f"hint: run `gatekeeper audit verify --audit-log {log_path}`\n"
    )


# -- export ------------------------------------------------------------------------------------


def test_export_jsonl_to_a_file(
    filled: list[dict[str, Any]], log_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "review.jsonl"
    result = run("export", "--audit-log", str(log_path), "-o", str(out), "--model", "churn")
    assert (result.exit_code, result.stdout) == (0, "")
    assert out.read_text().splitlines() == log_path.read_text().splitlines()[:3]


def test_export_csv(filled: list[dict[str, Any]], log_path: Path) -> None:
    result = run("export", "--audit-log", str(log_path), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))

    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4"]
    # Records without checks give one row each (test_audit_review.py: one row per check).
    assert rows[0] | {"hash": "", "prev_hash": ""} == {
        "seq": "1", "recorded_at": "2024-05-01T09:30:00.000Z", "action": "decision",
        "actor": "alice", "actor_source": "", "model": "churn", "version": "3",
        "run_id": "r3", "milestone": "staging", "decision": "block", "check": "", "kind": "",
        "category": "", "blocking": "", "status": "", "threshold": "", "observed": "",
        "message": "", "waiver": "", "reasons": "p95: too slow", "promotion_alias": "",
        "promotion_version": "", "promotion_previous_version": "", "approval_role": "",
        "approver": "", "decision_ref_seq": "", "baseline_version": "", "playbook_path": "",
        "playbook_digest": "", "milestone_digest": "", "playbook_git_commit": "", "ci": "",
        "key_id": "", "prev_hash": "", "hash": "",
    }
    assert rows[1]["prev_hash"] == filled[0]["hash"]
    assert (rows[2]["promotion_alias"], rows[2]["promotion_version"]) == ("staging", "4")
    # A spreadsheet must not run a model name or actor as a formula.
    assert rows[3]["actor"] == "'=HYPERLINK(\"x\")"


def test_export_to_an_unwritable_path(
    filled: list[dict[str, Any]], log_path: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    result = run("export", "--audit-log", str(log_path), "-o", str(blocker / "out.csv"))
    assert result.exit_code == 2
    assert result.stderr.startswith(E + f"--output {blocker / 'out.csv'}: cannot write: ")


def test_commands_do_not_import_mlflow() -> None:
    code = (
        "import sys, gatekeeper.cli.audit;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
