"""Turning signing on for an audit log whose earlier records are unsigned: the gate goes on,
signs from the next record, and says so once on stderr (not an infrastructure failure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.cli import run
from tests.cli.test_check import PLAYBOOK, seed


def test_signing_starts_at_the_next_record_and_says_so(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    version = seed(tracking_uri)
    audit = tmp_path / "audit.jsonl"
    args = ["check", str(PLAYBOOK), "--model", "fraud", "--version", version, "--milestone",
            "poc", "--tracking-uri", tracking_uri, "--audit-log", str(audit)]
    assert run(args) == 0
    assert "signing starts" not in capsys.readouterr().err
    key = tmp_path / "signing.pem"
    assert run(["keys", "generate", "--out", str(key)]) == 0
    capsys.readouterr()
    monkeypatch.setenv("GATEKEEPER_SIGNING_KEY", str(key))
    assert run(args) == 0
    err = capsys.readouterr().err
    assert "gatekeeper: note: audit log" in err
    assert "signing starts at record 2; records 1-1 stay unsigned" in err
    assert "PRIVATE" not in err
    assert run(args) == 0  # the log is signed from then on: no second note
    assert "signing starts" not in capsys.readouterr().err
    assert run(["audit", "verify", "--audit-log", str(audit)]) == 0
