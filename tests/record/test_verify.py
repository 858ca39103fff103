"""Verification: every kind of tampering is found, and named at the first bad record."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from gatekeeper.record import AuditLog, AuditReadError, Verification

MakeLog = Callable[..., AuditLog]
MakeEntry = Callable[..., dict[str, Any]]


def rehash(record: dict[str, Any]) -> dict[str, Any]:
    """What a tamperer who knows the format does: recompute the edited record's own hash."""
    body = {k: v for k, v in record.items() if k not in ("hash", "signature")}
    return {**body, "hash": "sha256:" + hashlib.sha256(rfc8785.dumps(body)).hexdigest()}


def dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


@pytest.fixture
def five(make_log: MakeLog, make_entry: MakeEntry, log_path: Path) -> list[str]:
    """A log of five records; returns its lines (without newlines)."""
    log = make_log()
    for n in range(1, 6):
        log.append(make_entry(n=n, decision="block" if n == 3 else "pass"))
    return log_path.read_text(encoding="utf-8").splitlines()


def write(path: Path, lines: list[str], *, final_newline: bool = True) -> None:
    path.write_text("\n".join(lines) + ("\n" if final_newline else ""), encoding="utf-8")


def bad(seq: int, reason: str, count: int | None = None) -> Verification:
    return Verification(
        ok=False, count=seq - 1 if count is None else count, first_bad_seq=seq, line=seq,
        reason=f"record {seq} (line {seq}): {reason}",
    )


def test_intact(five: list[str], make_log: MakeLog) -> None:
    assert make_log().verify() == Verification(ok=True, count=5)


def test_empty_file_is_intact(make_log: MakeLog, log_path: Path) -> None:
    log_path.parent.mkdir()
    log_path.write_bytes(b"")
    assert make_log().verify() == Verification(ok=True, count=0)


def test_missing_file_is_unreadable(make_log: MakeLog, log_path: Path) -> None:
    with pytest.raises(AuditReadError, match=f"^audit log {log_path} does not exist$"):
        make_log().verify()


def test_edited_record(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    five[2] = five[2].replace('"decision":"block"', '"decision":"pass"')
    write(log_path, five)
    assert make_log().verify() == bad(3, "hash mismatch: content changed after it was written")


def test_edited_and_rehashed_record(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    record = json.loads(five[2])
    five[2] = dump(rehash({**record, "decision": "pass"}))
    write(log_path, five)
    assert make_log().verify() == bad(
        4,
        "prev_hash mismatch: does not match the hash of record 3"
        " (a record before it was removed, inserted or rewritten)",
    )


def test_deleted_record(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    del five[2]
    write(log_path, five)
    assert make_log().verify() == bad(3, "seq gap: expected 3, found 4 (records removed)")


def test_deleted_record_with_renumbering(
    five: list[str], make_log: MakeLog, log_path: Path
) -> None:
    records = [json.loads(line) for line in five]
    del records[2]
    renumbered = [rehash({**r, "seq": i}) for i, r in enumerate(records, start=1)]
    write(log_path, [dump(r) for r in renumbered])
    assert make_log().verify() == bad(
        3,
        "prev_hash mismatch: does not match the hash of record 2"
        " (a record before it was removed, inserted or rewritten)",
    )


def test_repeated_record(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    five.insert(3, five[2])
    write(log_path, five)
    assert make_log().verify() == bad(4, "seq repeated: expected 4, found 3")


def test_malformed_line(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    five[1] = five[1][:-1]
    write(log_path, five)
    assert make_log().verify() == bad(
        2, "malformed JSON: Expecting ',' delimiter at column " + str(len(five[1]) + 1)
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty line"),
        ("[1, 2]", "not a JSON object"),
        ('{"seq": NaN}', "malformed JSON: NaN is not a JSON value"),
        ('{"seq": 2, "seq": 3}', "malformed JSON: duplicate key 'seq'"),
        ('{"seq": 2}', "unknown schema None (expected 'gatekeeper.audit/v1')"),
        ('{"schema": "gatekeeper.audit/v1", "seq": "2"}', "seq is missing or not an integer"),
        ('{"schema": "gatekeeper.audit/v1", "seq": 2}', "hash is missing or not a string"),
    ],
)
def test_unusable_lines(
    five: list[str], make_log: MakeLog, log_path: Path, line: str, reason: str
) -> None:
    five[1] = line
    write(log_path, five)
    assert make_log().verify() == bad(2, reason)


def test_not_utf8(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    write(log_path, five)
    data = log_path.read_bytes().replace(b'"actor":"alice"', b'"actor":"\xff"', 1)
    log_path.write_bytes(data)
    assert make_log().verify() == bad(1, "not valid UTF-8")


def test_duplicated_key_that_hides_an_edit(
    five: list[str], make_log: MakeLog, log_path: Path
) -> None:
    # json.loads keeps the last value, a reader's eye the first: hash the one, show the other.
    five[2] = five[2].replace('{"schema"', '{"decision":"pass","schema"', 1)
    write(log_path, five)
    assert make_log().verify() == bad(3, "malformed JSON: duplicate key 'decision'")


def test_truncated_last_line(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    five[4] = five[4][:40]
    write(log_path, five, final_newline=False)
    assert make_log().verify() == bad(
        5, "truncated: the last line has no newline (an append was interrupted)"
    )


def test_missing_final_newline(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    write(log_path, five, final_newline=False)
    assert make_log().verify() == bad(
        5, "truncated: the last line has no newline (an append was interrupted)"
    )


def test_wrong_first_prev_hash(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    first = json.loads(five[0])
    five[0] = dump(rehash({**first, "prev_hash": "sha256:" + "1" * 64}))
    write(log_path, five)
    assert make_log().verify() == bad(
        1, "prev_hash mismatch: the first record must follow the genesis hash"
    )


def test_only_the_first_bad_record_is_reported(
    five: list[str], make_log: MakeLog, log_path: Path
) -> None:
    five[1] = five[1].replace('"n":2', '"n":20')
    five[3] = "garbage"
    write(log_path, five)
    assert make_log().verify() == bad(2, "hash mismatch: content changed after it was written")


# -- signatures ------------------------------------------------------------------------------

KEY = "correct horse battery staple"
KEY_ID = hashlib.sha256(KEY.encode()).hexdigest()[:8]


def test_signed_records(make_log: MakeLog, make_entry: MakeEntry, log_path: Path) -> None:
    log = make_log(key=KEY)
    log.append(make_entry())
    record = json.loads(log_path.read_text())

    assert record["key_id"] == KEY_ID == log.key_id
    assert record["signature"] == "hmac-sha256:" + hmac_hex(KEY, record["hash"])
    assert list(record)[-3:] == ["key_id", "hash", "signature"]
    assert log.verify() == Verification(ok=True, count=1, key_id=KEY_ID)
    # Without the key the chain still verifies; signatures simply go unchecked.
    assert make_log().verify() == Verification(ok=True, count=1)


def hmac_hex(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


def test_unsigned_record_with_a_key(
    make_log: MakeLog, make_entry: MakeEntry, log_path: Path
) -> None:
    make_log(key=KEY).append(make_entry())
    make_log().append(make_entry())
    assert make_log(key=KEY).verify() == Verification(
        ok=False, count=1, first_bad_seq=2, line=2, key_id=KEY_ID,
        reason="record 2 (line 2): unsigned: GATEKEEPER_AUDIT_KEY is set"
        " but the record has no signature",
    )


def test_rewritten_chain_fails_the_signature(
    make_log: MakeLog, make_entry: MakeEntry, log_path: Path
) -> None:
    # Edit and re-hash the last record: the chain holds, only the key can tell.
    make_log(key=KEY).append(make_entry(decision="block"))
    record = json.loads(log_path.read_text())
    write(log_path, [dump(rehash({**record, "decision": "pass"}) | {"signature": "x"})])
    assert make_log().verify().ok
    assert make_log(key=KEY).verify().reason == (
        f"record 1 (line 1): signature mismatch: not a signature of this record's hash"
        f" by key_id '{KEY_ID}'"
    )


def test_other_key(make_log: MakeLog, make_entry: MakeEntry) -> None:
    make_log(key="another key").append(make_entry())
    other = hashlib.sha256(b"another key").hexdigest()[:8]
    assert make_log(key=KEY).verify().reason == (
        f"record 1 (line 1): signature mismatch: signed with key_id '{other}',"
        f" GATEKEEPER_AUDIT_KEY has key_id '{KEY_ID}'"
    )


def test_empty_key_means_unsigned(make_log: MakeLog, make_entry: MakeEntry, log_path: Path) -> None:
    AuditLog(log_path, env={"GATEKEEPER_AUDIT_KEY": ""}).append(make_entry())
    assert "signature" not in json.loads(log_path.read_text())


# -- the gate's lookup ------------------------------------------------------------------------


def test_latest_decisions_take_the_newest_verdict_of_each_milestone(
    make_log: MakeLog, make_entry: MakeEntry
) -> None:
    log = make_log()
    model = {"name": "churn", "version": "3", "run_id": "run-3", "source": "s"}
    digest = {"path": "p.yaml", "digest": "sha256:aa", "git_commit": None}
    log.append(make_entry(model=model, playbook=digest, n=1))
    log.append(make_entry(model=model, playbook=digest, n=2, decision="block"))
    log.append(make_entry(model={**model, "version": "4"}, playbook=digest, n=3))
    log.append(make_entry(model=model, playbook=digest, n=4, milestone="production"))
    log.append(make_entry(model=model, playbook=digest, n=5, action="promotion"))

    def latest(run_id: str = "run-3") -> dict[str, Any]:
        found = log.latest_decisions("churn", "3", run_id, ["staging", "production", "x"])
        return {m: r and r["n"] for m, r in found.items()}

    # A newer block overrides an older pass; a promotion record is not a decision.
    assert latest() == {"staging": 2, "production": 4, "x": None}
    assert latest("other-run") == {"staging": None, "production": None, "x": None}


def test_latest_decisions_in_a_missing_log(make_log: MakeLog) -> None:
    assert make_log().latest_decisions("churn", "3", "run-3", ["staging"]) == {"staging": None}


def test_latest_decisions_fail_closed(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    five[2] = five[2].replace('"decision":"block"', '"decision":"pass"')
    write(log_path, five)

    with pytest.raises(AuditReadError) as caught:
        make_log().latest_decisions("churn", "3", "run-3", ["staging"])

    assert str(caught.value) == (
        f"audit log {log_path}: failed verification: record 3 (line 3):"
        " hash mismatch: content changed after it was written"
    )
