"""Fault injection on the audit commands: lines no reader should choke on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.harness import assert_fails_closed, gatekeeper

pytestmark = pytest.mark.slow

BAD_LINES = {
    "nested": "[" * 100_000 + "]" * 100_000,
    "nested-object": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "nul": '{"schema": "gatekeeper.audit/v1", "x": "\x00\x07"}',
    "binary": "\xff\xfe\x00garbage",
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_audit_commands_answer_a_bad_line_without_a_traceback(tmp_path: Path, case: str) -> None:
    log = tmp_path / "audit.jsonl"
    log.write_bytes(BAD_LINES[case].encode("utf-8", "surrogateescape") + b"\n")
    verify = gatekeeper("audit", "verify", "--audit-log", str(log), cwd=tmp_path)
    assert_fails_closed(verify, codes={1}, within_s=30)
    assert "record 1 (line 1)" in verify.out
    for command in ("log", "export"):
        run = gatekeeper("audit", command, "--audit-log", str(log), cwd=tmp_path)
        assert_fails_closed(run, codes={2}, within_s=30, message=f"audit log {log}: line 1: ")
