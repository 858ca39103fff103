"""Verification: every kind of tampering is found, each with its own code and record number,
and an untouched log written by the real code has no finding."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import git
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.record import AuditLog, AuditReadError, Verification
from gatekeeper.record.checkpoint import Checkpoint, GitAnchor, sidecar_path
from gatekeeper.record.signing import Signer, TrustedKeys
from gatekeeper.record.verify import CODES, Report
from tests.support.audit_fixtures import fixed_clock

MakeLog = Callable[..., AuditLog]
MakeEntry = Callable[..., dict[str, Any]]
SIGNER = Signer(Ed25519PrivateKey.generate())
OTHER = Signer(Ed25519PrivateKey.generate())
TRUSTED = TrustedKeys({SIGNER.key_id: SIGNER.public_key})


def rehash(record: dict[str, Any], signer: Signer | None = None) -> dict[str, Any]:
    """What a tamperer who knows the format does: recompute the edited record's own hash (and
    sign it with the key they have)."""
    body = {k: v for k, v in record.items() if k not in ("hash", "signature")}
    if signer is not None:
        body["key_id"] = signer.key_id
    digest = "sha256:" + hashlib.sha256(rfc8785.dumps(body)).hexdigest()
    signed = {"signature": signer.sign(digest.encode())} if signer else {}
    return {**body, "hash": digest, **signed}


def dump(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def write(path: Path, lines: list[str], *, final_newline: bool = True) -> None:
    path.write_text("\n".join(lines) + ("\n" if final_newline else ""), encoding="utf-8")


def codes(report: Report) -> list[tuple[str, int | None]]:
    return [(f.code, f.seq) for f in report.findings]


def fill(log: AuditLog, make_entry: MakeEntry, count: int = 5) -> None:
    for n in range(1, count + 1):
        log.append(make_entry(n=n, decision="block" if n == 3 else "pass"))


@pytest.fixture
def five(make_log: MakeLog, make_entry: MakeEntry, log_path: Path) -> list[str]:
    """A log of five records written by the real code; returns its lines (no newlines)."""
    fill(make_log(), make_entry)
    return log_path.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def signed(log_path: Path, make_entry: MakeEntry) -> list[str]:
    """Five records signed with SIGNER."""
    fill(AuditLog(log_path, env={}, clock=fixed_clock, signer=SIGNER), make_entry)
    return log_path.read_text(encoding="utf-8").splitlines()


def inspect(log_path: Path, trusted: TrustedKeys | None = None, **kwargs: Any) -> Report:
    return AuditLog(log_path, env={}).inspect(trusted, **kwargs)


# -- untouched logs --------------------------------------------------------------------------


def test_intact(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    assert make_log().verify() == Verification(ok=True, count=5)
    report = inspect(log_path)
    assert (report.ok, report.count, report.findings, report.notes) == (True, 5, (), ())


def test_intact_signed_log_verifies_with_its_public_key(signed: list[str], log_path: Path
                                                        ) -> None:
    report = inspect(log_path, TRUSTED)
    assert (report.findings, report.signed, report.key_ids) == ((), 5, (SIGNER.key_id,))


def test_without_a_key_signatures_are_said_to_be_unchecked(signed: list[str], log_path: Path
                                                           ) -> None:
    report = inspect(log_path)
    assert report.ok
    assert report.notes == ("signatures were not checked: no --public-key given "
                            "(5 of 5 records signed)",)


def test_empty_file_is_intact(make_log: MakeLog, log_path: Path) -> None:
    log_path.parent.mkdir()
    log_path.write_bytes(b"")
    assert make_log().verify() == Verification(ok=True, count=0)


def test_missing_file_is_unreadable(make_log: MakeLog, log_path: Path) -> None:
    with pytest.raises(AuditReadError, match=f"^audit log {log_path} does not exist$"):
        make_log().verify()


def test_every_code_is_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "audit.md").read_text(encoding="utf-8")
    assert [c for c in CODES if f"| `{c}` |" not in docs] == []


# -- one test per code -------------------------------------------------------------------------


def test_edited(five: list[str], make_log: MakeLog, log_path: Path) -> None:
    five[2] = five[2].replace('"decision":"block"', '"decision":"pass"')
    write(log_path, five)
    assert codes(inspect(log_path)) == [("edited", 3)]
    assert make_log().verify() == Verification(
        ok=False, count=2, first_bad_seq=3, line=3,
        reason="record 3 (line 3): edited: hash mismatch: content changed after it was written")


def test_edited_and_rehashed(five: list[str], log_path: Path) -> None:
    five[2] = dump(rehash({**json.loads(five[2]), "decision": "pass"}))
    write(log_path, five)
    report = inspect(log_path)
    assert codes(report) == [("rehashed", 3)]
    assert report.findings[0].message.startswith("record 4 does not follow it")


def test_deleted(five: list[str], log_path: Path) -> None:
    del five[2]
    write(log_path, five)
    report = inspect(log_path)
    assert codes(report) == [("deleted", 3)]
    assert report.findings[0].text() == (
        "record 3: deleted: record 3 is missing (line 3 follows record 2)")


def test_deleted_and_renumbered(five: list[str], log_path: Path) -> None:
    records = [json.loads(line) for line in five]
    del records[2]
    renumbered = [rehash({**r, "seq": i}) for i, r in enumerate(records, start=1)]
    write(log_path, [dump(r) for r in renumbered])
    # Each renumbered record still names its old predecessor's hash; the checkpoint beside the
    # log vouches for 5 records.
    assert codes(inspect(log_path)) == [("rehashed", 2), ("rehashed", 3), ("truncated", 5)]


def test_inserted(five: list[str], log_path: Path) -> None:
    forged = rehash({**json.loads(five[2]), "decision": "pass", "n": 33})
    five.insert(3, dump(forged))
    write(log_path, five)
    assert codes(inspect(log_path)) == [("inserted", 3)]


def test_duplicated(five: list[str], log_path: Path) -> None:
    five.insert(3, five[2])
    write(log_path, five)
    report = inspect(log_path)
    assert codes(report) == [("duplicated", 3)]
    assert report.findings[0].line == 4


def test_reordered(five: list[str], log_path: Path) -> None:
    five[2], five[3] = five[3], five[2]
    write(log_path, five)
    report = inspect(log_path)
    assert codes(report) == [("reordered", 3)]
    assert report.findings[0].line == 4


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("", "empty line"),
        ("[1, 2]", "not a JSON object"),
        ('{"seq": NaN}', "malformed JSON: NaN is not a JSON value"),
        ('{"seq": 2, "seq": 3}', "malformed JSON: duplicate key 'seq'"),
        ('{"seq": 2}', "unknown schema None (expected 'gatekeeper.audit/v1')"),
        ('{"schema": "gatekeeper.audit/v1", "seq": "2"}',
         "seq is missing or not a positive integer"),
        ('{"schema": "gatekeeper.audit/v1", "seq": 2}', "hash is missing or not a string"),
        ("garbage", "malformed JSON: Expecting value at column 1"),
    ],
)
def test_malformed(five: list[str], log_path: Path, line: str, reason: str) -> None:
    five[1] = line
    write(log_path, five)
    report = inspect(log_path)
    # The line is not a record; record 3 then follows one the walk never saw.
    assert [(f.code, f.line, f.message) for f in report.findings][:1] == [
        ("malformed", 2, reason)]
    assert codes(report)[1:] == [("deleted", 2)]


def test_not_utf8(five: list[str], log_path: Path) -> None:
    write(log_path, five)
    data = log_path.read_bytes().replace(b'"actor":"alice"', b'"actor":"\xff"', 1)
    log_path.write_bytes(data)
    assert next((f.code, f.line, f.message) for f in inspect(log_path).findings) == (
        "malformed", 1, "not valid UTF-8")


def test_duplicated_key_that_hides_an_edit(five: list[str], log_path: Path) -> None:
    # json.loads keeps the last value, a reader's eye the first: hash the one, show the other.
    five[2] = five[2].replace('{"action"', '{"decision":"pass","action"', 1)
    write(log_path, five)
    assert next((f.code, f.line, f.message) for f in inspect(log_path).findings) == (
        "malformed", 3, "malformed JSON: duplicate key 'decision'")


def test_torn_last_write(five: list[str], make_log: MakeLog, make_entry: MakeEntry,
                         log_path: Path) -> None:
    with log_path.open("a", encoding="utf-8") as file:
        file.write('{"action":"decision","actor":"al')
    report = inspect(log_path)
    assert codes(report) == [("torn", 6)]
    assert report.findings[0].line == 6


def test_unparsable_last_line_is_torn(five: list[str], log_path: Path) -> None:
    write(log_path, [*five, '{"action":"dec'])
    assert codes(inspect(log_path)) == [("torn", 6)]


def test_truncated_tail(five: list[str], log_path: Path) -> None:
    write(log_path, five[:3])
    report = inspect(log_path)
    assert codes(report) == [("truncated", 4)]
    assert report.findings[0].message == (
        "checkpoint file vouches for 5 records; the log ends at record 3 (cut or rolled back)")


def test_rewritten_suffix(five: list[str], log_path: Path) -> None:
    # The last two records edited, each re-hashed and re-linked: a valid chain, but not the
    # one the checkpoint vouched for.
    fourth = rehash({**json.loads(five[3]), "decision": "block"})
    fifth = rehash({**json.loads(five[4]), "prev_hash": fourth["hash"]})
    write(log_path, [*five[:3], dump(fourth), dump(fifth)])
    assert codes(inspect(log_path)) == [("rewritten", 5)]


def test_spliced_from_another_log(five: list[str], make_log: MakeLog, make_entry: MakeEntry,
                                  log_path: Path, tmp_path: Path) -> None:
    other_path = tmp_path / "other.jsonl"
    fill(make_log(path=other_path), make_entry)
    five[2] = other_path.read_text().splitlines()[2]
    write(log_path, five)
    report = inspect(log_path)
    assert codes(report) == [("spliced", 3)]


def test_unsigned_after_signed(signed: list[str], log_path: Path) -> None:
    record = json.loads(signed[3])
    del record["signature"]
    signed[3] = dump(record)
    write(log_path, signed)
    assert codes(inspect(log_path, TRUSTED)) == [("unsigned", 4)]


def test_bad_signature(signed: list[str], log_path: Path) -> None:
    record = json.loads(signed[4])
    forged = rehash({**record, "decision": "block"})
    signed[4] = dump({**forged, "signature": record["signature"]})
    write(log_path, signed)
    assert codes(inspect(log_path, TRUSTED)) == [("bad-signature", 5), ("rewritten", 5)]


def test_resigned_with_an_untrusted_key(signed: list[str], log_path: Path) -> None:
    # The whole log re-signed (and re-chained) with the forger's own key, checkpoint too.
    records, prev = [], "sha256:" + "0" * 64
    for line in signed:
        record = rehash({**json.loads(line), "prev_hash": prev}, OTHER)
        records.append(dump(record))
        prev = record["hash"]
    write(log_path, records)
    old = Checkpoint.from_json(sidecar_path(log_path).read_text())
    forged = Checkpoint(old.origin, 5, prev).signed(OTHER)
    sidecar_path(log_path).write_text(forged.to_json())
    report = inspect(log_path, TRUSTED)
    assert codes(report) == [("untrusted-key", n) for n in (1, 2, 3, 4, 5, 5)]


def test_corrupted_checkpoint_signature(signed: list[str], log_path: Path) -> None:
    data = json.loads(sidecar_path(log_path).read_text())
    data["signature"] = "ed25519:" + "A" * 86 + "=="
    sidecar_path(log_path).write_text(json.dumps(data))
    assert codes(inspect(log_path, TRUSTED)) == [("checkpoint-signature", 5)]
    assert inspect(log_path).ok  # without a key the checkpoint's signature goes unchecked


def test_foreign_checkpoint(five: list[str], make_log: MakeLog, make_entry: MakeEntry,
                            log_path: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    fill(make_log(path=other), make_entry)
    sidecar_path(log_path).write_text(sidecar_path(other).read_text())
    assert codes(inspect(log_path)) == [("foreign-checkpoint", 5)]


def test_every_finding_is_reported(five: list[str], log_path: Path) -> None:
    five[1] = five[1].replace('"n":2', '"n":20')
    five[3] = five[3].replace('"n":4', '"n":40')
    write(log_path, five)
    assert codes(inspect(log_path)) == [("edited", 2), ("edited", 4)]


# -- anchors (a real git repository through GitPython) ---------------------------------------


@pytest.fixture
def anchored(tmp_path: Path, log_path: Path, make_entry: MakeEntry) -> GitAnchor:
    """Five signed records, each checkpoint anchored as a git ref in another repository."""
    git.Repo.init(tmp_path / "anchor")
    anchor = GitAnchor(tmp_path / "anchor")
    fill(AuditLog(log_path, env={}, clock=fixed_clock, signer=SIGNER, anchors=[anchor]),
         make_entry)
    return anchor


def test_git_anchor_holds_the_latest_checkpoint(anchored: GitAnchor, log_path: Path) -> None:
    reading = anchored.read()
    assert reading.latest == reading.highest
    assert reading.latest is not None and reading.latest.size == 5
    assert reading.latest.head == json.loads(log_path.read_text().splitlines()[-1])["hash"]
    assert inspect(log_path, TRUSTED, anchors=[anchored]).findings == ()


def test_rolled_back_log_is_caught_by_the_anchor(anchored: GitAnchor, log_path: Path) -> None:
    # Log and the checkpoint beside it rolled back together to record 3: only the anchor knows.
    lines = log_path.read_text().splitlines()
    write(log_path, lines[:3])
    head = json.loads(lines[2])
    sidecar_path(log_path).write_text(
        Checkpoint(head["log_id"], 3, head["hash"]).signed(SIGNER).to_json())
    assert inspect(log_path, TRUSTED).ok
    assert codes(inspect(log_path, TRUSTED, anchors=[anchored])) == [("truncated", 4)]


def test_rewritten_suffix_with_its_checkpoint_is_caught_by_the_anchor(
        anchored: GitAnchor, log_path: Path) -> None:
    lines = log_path.read_text().splitlines()
    fifth = rehash({**json.loads(lines[4]), "decision": "block"}, OTHER)
    write(log_path, [*lines[:4], dump(fifth)])
    sidecar_path(log_path).write_text(
        Checkpoint(fifth["log_id"], 5, fifth["hash"]).signed(OTHER).to_json())
    report = inspect(log_path, anchors=[anchored])  # even without trusting any key
    assert codes(report) == [("rewritten", 5)]
    assert report.findings[0].message.startswith("git:")


def test_anchor_rolled_back(anchored: GitAnchor, tmp_path: Path, log_path: Path) -> None:
    repo = git.Repo(tmp_path / "anchor")
    older = repo.commit("refs/gatekeeper/audit~2")
    repo.git.update_ref("--create-reflog", "refs/gatekeeper/audit", older.hexsha)
    report = inspect(log_path, TRUSTED, anchors=[anchored])
    assert codes(report) == [("anchor-rolled-back", 4)]
    assert report.findings[0].message == f"git:{tmp_path / 'anchor'} holds checkpoint 3 but " \
        "held 5 before"


# -- signing on an existing log, legacy HMAC ---------------------------------------------------


def test_signing_starts_at_the_next_record(five: list[str], log_path: Path,
                                           make_entry: MakeEntry) -> None:
    log = AuditLog(log_path, env={}, clock=fixed_clock, signer=SIGNER)
    log.append(make_entry(n=6))
    assert log.notices == [f"audit log {log_path}: signing starts at record 6; records 1-5 "
                           "stay unsigned"]
    report = inspect(log_path, TRUSTED)
    assert report.findings == ()
    assert report.notes == ("records 1-5 are unsigned: signing started at record 6",)


def legacy_line(record: dict[str, Any], key: bytes) -> dict[str, Any]:
    """A record as the HMAC version wrote it: key order kept, ``hmac-sha256:`` signature."""
    body = {**record, "key_id": hashlib.sha256(key).hexdigest()[:8]}
    digest = "sha256:" + hashlib.sha256(rfc8785.dumps(body)).hexdigest()
    mac = hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()
    return {**body, "hash": digest, "signature": "hmac-sha256:" + mac}


@pytest.fixture
def legacy(log_path: Path) -> None:
    """Two records signed with the legacy HMAC key ``k``, as the earlier version wrote them."""
    prev, lines = "sha256:" + "0" * 64, []
    for seq in (1, 2):
        record = legacy_line({"schema": "gatekeeper.audit/v1", "seq": seq,
                              "recorded_at": "2024-05-01T12:00:00.000Z", "action": "decision",
                              "prev_hash": prev}, b"k")
        lines.append(json.dumps(record))
        prev = record["hash"]
    log_path.parent.mkdir(parents=True)
    write(log_path, lines)


def test_legacy_hmac_records_are_reported_not_crashed_on(legacy: None, log_path: Path) -> None:
    report = inspect(log_path, TRUSTED)
    assert report.findings == ()
    assert report.notes == ("2 records carry legacy HMAC signatures, not checked (give "
                            "GATEKEEPER_AUDIT_KEY to check them)",)


def test_legacy_hmac_records_are_checked_with_the_key(legacy: None, log_path: Path) -> None:
    assert inspect(log_path, legacy_key=b"k").findings == ()
    assert codes(inspect(log_path, legacy_key=b"wrong")) == [("bad-signature", 1),
                                                             ("bad-signature", 2)]


def test_a_legacy_log_continues_with_ed25519(legacy: None, log_path: Path,
                                             make_entry: MakeEntry) -> None:
    AuditLog(log_path, env={}, signer=SIGNER).append(make_entry())
    assert inspect(log_path, TRUSTED, legacy_key=b"k").findings == ()


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
        " hash mismatch: content changed after it was written; nothing was appended"
    )


def test_latest_decision_found_through_the_index_is_checked(
        make_log: MakeLog, make_entry: MakeEntry, log_path: Path) -> None:
    log = make_log()
    log.append(make_entry(decision="block"))
    log.append(make_entry(action="promotion"))
    log.latest_decisions("churn", "3", "run-3", ["staging"])  # the index knows record 1
    # Same length, so the index's head still holds: the record itself must be checked.
    lines = log_path.read_text().splitlines()
    write(log_path, [lines[0].replace('"block"', '"bl0ck"'), lines[1]])
    with pytest.raises(AuditReadError, match="record 1: hash mismatch"):
        log.latest_decisions("churn", "3", "run-3", ["staging"])


def test_a_large_log_is_scanned_in_parallel_with_the_same_findings(
        five: list[str], log_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gatekeeper.record.scan as scan

    five[1] = five[1].replace('"n":2', '"n":20')
    five[3], five[4] = five[4], five[3]
    write(log_path, [*five, '{"torn'], final_newline=False)
    serial = codes(inspect(log_path))
    monkeypatch.setattr(scan, "PARALLEL_FROM", 0)
    monkeypatch.setattr(scan, "CHUNK", 300)  # a chunk of about one record each
    assert len(scan.chunks(log_path, log_path.stat().st_size)) >= 4
    assert codes(inspect(log_path)) == serial == [("edited", 2), ("reordered", 4), ("torn", 6)]
