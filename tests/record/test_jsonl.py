"""Appending: the chain fields, durability guards and every refusal to write."""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from gatekeeper.decide.result import AuditRef
from gatekeeper.errors import ExitCode
from gatekeeper.record import GENESIS_HASH, AuditLog, AuditReadError, AuditWriteError

MakeLog = Callable[..., AuditLog]
MakeEntry = Callable[..., dict[str, Any]]


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def independent_hash(record: dict[str, Any]) -> str:
    """The hash as any other tool would compute it from the contract's definition."""
    body = {k: v for k, v in record.items() if k not in ("hash", "signature")}
    return "sha256:" + hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def test_appends_build_a_chain(make_log: MakeLog, make_entry: MakeEntry, log_path: Path) -> None:
    log = make_log()
    refs = [log.append(make_entry(n=n)) for n in range(5)]

    records = read_records(log_path)
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev_hash"] == GENESIS_HASH == "sha256:" + "0" * 64
    assert [r["prev_hash"] for r in records[1:]] == [r["hash"] for r in records[:-1]]
    assert all(r["hash"] == independent_hash(r) for r in records)
    assert refs[-1] == AuditRef(log=log.location, seq=5, hash=records[-1]["hash"])
    assert log.verify().ok


def test_record_layout(make_log: MakeLog, make_entry: MakeEntry, log_path: Path) -> None:
    make_log().append(make_entry())

    line = log_path.read_text(encoding="utf-8")
    record = json.loads(line)
    assert line.endswith("}\n") and line.count("\n") == 1
    # Stored in canonical form (sorted keys), the hash appended last: a verifier can hash the
    # stored bytes before it instead of re-encoding the record.
    keys = list(record)
    assert keys[:-1] == sorted(keys[:-1]) and keys[-1] == "hash"
    body = line[:line.index(',"hash":')] + "}"
    assert body.encode() == rfc8785.dumps({k: v for k, v in record.items() if k != "hash"})
    assert record["schema"] == "gatekeeper.audit/v1"
    assert record["recorded_at"] == "2024-05-01T12:00:00.000Z"
    assert len(record["log_id"]) == 32 and int(record["log_id"], 16) >= 0
    assert "signature" not in record and "key_id" not in record


def test_golden_hash(make_log: MakeLog, log_path: Path) -> None:
    # Pinned, and spelled out by hand: a change to the canonical encoding (sorted keys, no
    # spaces, UTF-8, shortest numbers) would orphan every existing log.
    make_log().append({"action": "decision", "observed": 0.1, "name": "é"})
    record = read_records(log_path)[0]
    canonical = (
        '{"action":"decision","log_id":"' + record["log_id"] + '","name":"é","observed":0.1,'
        '"prev_hash":"sha256:' + "0" * 64 + '",'
        '"recorded_at":"2024-05-01T12:00:00.000Z","schema":"gatekeeper.audit/v1","seq":1}'
    )
    assert record["hash"] == "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_creates_the_parent_folder(
    tmp_path: Path, make_log: MakeLog, make_entry: MakeEntry
) -> None:
    path = tmp_path / "a" / "b" / "audit.jsonl"
    make_log(path=path).append(make_entry())
    # The lock is on the log itself: no lock file beside it.
    assert path.is_file() and not Path(f"{path}.lock").exists()


def test_long_records_cross_tail_blocks(
    make_log: MakeLog, make_entry: MakeEntry, log_path: Path
) -> None:
    # Larger than one 64 KiB tail block, so the backwards read takes several steps.
    log = make_log()
    log.append(make_entry(message="x" * 150_000))
    log.append(make_entry(message="y" * 70_000))
    log.append(make_entry())
    assert [r["seq"] for r in read_records(log_path)] == [1, 2, 3]
    assert log.verify().ok


def test_partial_last_line_is_refused(
    make_log: MakeLog, make_entry: MakeEntry, log_path: Path
) -> None:
    log = make_log()
    log.append(make_entry())
    with log_path.open("a", encoding="utf-8") as file:
        file.write('{"schema":"gatekeeper.audit/v1","seq":2')
    before = log_path.read_bytes()

    with pytest.raises(AuditWriteError) as caught:
        log.append(make_entry())

    assert str(caught.value) == (
        f"audit log {log_path}: the last line is incomplete (no trailing newline),"
        " probably from an interrupted write; nothing was appended"
    )
    assert caught.value.hint == (f"run `gatekeeper audit verify --audit-log {log_path}`, then "
                                 f"`gatekeeper audit repair --audit-log {log_path}`")
    assert caught.value.exit_code is ExitCode.NO_VERDICT
    assert log_path.read_bytes() == before


def test_edited_last_record_is_refused(
    make_log: MakeLog, make_entry: MakeEntry, log_path: Path
) -> None:
    log = make_log()
    log.append(make_entry(decision="block"))
    log_path.write_text(log_path.read_text().replace('"block"', '"pass"'))

    with pytest.raises(AuditReadError) as caught:
        log.append(make_entry())

    assert str(caught.value) == (
        f"audit log {log_path}: failed verification: record 1 (line 1): hash mismatch: content"
        " changed after it was written; nothing was appended"
    )


def test_parent_is_a_file(tmp_path: Path, make_log: MakeLog, make_entry: MakeEntry) -> None:
    # Tests run as root, so permissions cannot make a folder unwritable; a file can't hold one.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    path = blocker / "audit.jsonl"

    with pytest.raises(AuditWriteError) as caught:
        make_log(path=path).append(make_entry())

    assert str(caught.value).startswith(f"audit log {path}: cannot write: ")
    assert caught.value.exit_code is ExitCode.NO_VERDICT


def test_path_is_a_folder(tmp_path: Path, make_log: MakeLog, make_entry: MakeEntry) -> None:
    with pytest.raises(AuditWriteError, match=r"cannot write: Is a directory"):
        make_log(path=tmp_path).append(make_entry())


def test_lock_timeout(make_log: MakeLog, make_entry: MakeEntry, log_path: Path) -> None:
    log = AuditLog(log_path, env={}, lock_timeout=0.2)
    log.append(make_entry())
    before = log_path.read_bytes()
    # Another process holds the log (flock is per open file, so this open stands for one).
    with open(log_path, "rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        with pytest.raises(AuditWriteError) as caught:
            log.append(make_entry())
    assert str(caught.value) == f"audit log {log_path}: gave up waiting 0.2s for its lock"
    assert log_path.read_bytes() == before


@pytest.mark.parametrize("field", ["seq", "hash", "prev_hash", "signature", "schema"])
def test_entries_cannot_set_integrity_fields(
    make_log: MakeLog, make_entry: MakeEntry, field: str
) -> None:
    with pytest.raises(ValueError, match=f"must not set integrity fields: {field}"):
        make_log().append(make_entry(**{field: 1}))


@pytest.mark.parametrize(
    ("value", "why"),
    [(float("nan"), "not JSON"), (2**60, "no canonical JSON form"), (object(), "not JSON")],
)
def test_unencodable_entry_writes_nothing(
    make_log: MakeLog, make_entry: MakeEntry, log_path: Path, value: object, why: str
) -> None:
    with pytest.raises(AuditWriteError, match=why):
        make_log().append(make_entry(observed=value))
    assert not log_path.exists()


def test_records_lists_what_is_stored(
    make_log: MakeLog, make_entry: MakeEntry, log_path: Path
) -> None:
    log = make_log()
    log.append(make_entry(n=1))
    log.append(make_entry(n=2))
    lines = log_path.read_text().splitlines()

    stored = list(log.records())

    assert [(s.line, s.raw, s.record["n"]) for s in stored] == [(1, lines[0], 1), (2, lines[1], 2)]


def test_records_raise_on_a_malformed_line(
    make_log: MakeLog, make_entry: MakeEntry, log_path: Path
) -> None:
    log = make_log()
    log.append(make_entry())
    with log_path.open("a") as file:
        file.write("{oops\n")

    with pytest.raises(AuditReadError) as caught:
        list(log.records())

    assert str(caught.value) == (
        f"audit log {log_path}: line 2: malformed JSON:"
        " Expecting property name enclosed in double quotes at column 2"
    )


def test_records_of_a_missing_log(make_log: MakeLog, log_path: Path) -> None:
    with pytest.raises(AuditReadError, match=f"^audit log {log_path} does not exist$"):
        list(make_log().records())
