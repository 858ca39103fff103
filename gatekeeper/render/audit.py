"""Pure renderers for `gatekeeper audit`: text lines, JSON lines, CSV. No I/O here."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gatekeeper.record.chain import HASH_PREFIX
from gatekeeper.record.jsonl import StoredRecord, Verification
from gatekeeper.record.query import nested

CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "seq": ("seq",),
    "recorded_at": ("recorded_at",),
    "action": ("action",),
    "actor": ("actor",),
    "actor_source": ("actor_source",),
    "model": ("model", "name"),
    "version": ("model", "version"),
    "run_id": ("model", "run_id"),
    "model_source": ("model", "source"),
    "milestone": ("milestone",),
    "decision": ("decision",),
    "reasons": ("reasons",),
    "waivers": ("waivers",),
    "playbook_path": ("playbook", "path"),
    "playbook_digest": ("playbook", "digest"),
    "playbook_git_commit": ("playbook", "git_commit"),
    "baseline_version": ("baseline", "version"),
    "promotion_alias": ("promotion", "alias"),
    "promotion_version": ("promotion", "version"),
    "promotion_previous_version": ("promotion", "previous_version"),
    "decision_ref_seq": ("decision_ref", "seq"),
    "ci": ("ci",),
    "key_id": ("key_id",),
    "prev_hash": ("prev_hash",),
    "hash": ("hash",),
}
# A cell starting with one of these is run as a formula by spreadsheet programs; model names
# and messages are not ours to trust, and compliance staff open exports in spreadsheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def verification_line(path: Path, verification: Verification) -> str:
    """What `audit verify` prints: the count and "chain intact", or the first bad record."""
    if not verification.ok:
        return f"audit log {path}: {verification.reason}"
    noun = "record" if verification.count == 1 else "records"
    line = f"audit log {path}: {verification.count} {noun}, chain intact"
    if verification.key_id is not None:
        line += f", signatures valid (key_id {verification.key_id})"
    return line


def text_line(record: Mapping[str, Any]) -> str:
    """seq, recorded_at, action, model:version, milestone, decision, actor, short hash."""
    model = f"{_text(nested(record, 'model', 'name'))}:{_text(nested(record, 'model', 'version'))}"
    fields = (
        f"{_text(record.get('seq')):>6}",
        _text(record.get("recorded_at")),
        f"{_text(record.get('action')):<17}",
        model,
        _text(record.get("milestone")),
        f"{_text(record.get('decision')):<5}",
        _text(record.get("actor")),
        short_hash(record.get("hash")),
    )
    return "  ".join(fields)


def short_hash(value: Any) -> str:
    """The first 12 hex digits of a ``sha256:`` hash."""
    text = str(value) if value is not None else ""
    return _printable(text.removeprefix(HASH_PREFIX)[:12]) or "-"


def jsonl_document(records: Iterable[StoredRecord]) -> str:
    """The records exactly as stored, so every exported line can still be hash-checked."""
    return "".join(f"{stored.raw}\n" for stored in records)


def csv_document(records: Iterable[Mapping[str, Any]]) -> str:
    """One row per record with the columns of ``CSV_COLUMNS``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow(_csv_cell(nested(record, *path)) for path in CSV_COLUMNS.values())
    return buffer.getvalue()


def _csv_cell(value: Any) -> str:
    text = _flatten(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _flatten(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_list_item(item) for item in value)
    if isinstance(value, dict | bool):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def _list_item(item: Any) -> str:
    # Waivers are objects naming their check: the check id is what a reviewer scans for.
    if isinstance(item, dict) and "check" in item:
        return str(item["check"])
    return _flatten(item)


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else _printable(str(value))


def _printable(text: str) -> str:
    # Record values come from model names and messages; an escape sequence in one must not be
    # able to rewrite a reviewer's terminal.
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
