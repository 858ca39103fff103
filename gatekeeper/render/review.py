"""Pure renderers for reviewing audit records (`gatekeeper audit log | export`): an aligned
table, CSV with one row per check, in-toto Statements as JSON Lines. No I/O here.

Everything shown comes from records whose text (model names, messages, actors) is not ours to
trust: the table escapes non-printable characters so a crafted name cannot rewrite a terminal,
and the CSV defuses cells a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gatekeeper.record.query import nested
from gatekeeper.record.review import decision_statement

LOG_HEAD = ("seq", "time", "actor", "action", "model", "milestone", "outcome")

#: The CSV columns, in order, each with where its value is in a record. Stable: scripts and
#: spreadsheets depend on them (docs/audit.md#review); add columns at the end only.
RECORD_COLUMNS: dict[str, tuple[str, ...]] = {
    "seq": ("seq",),
    "recorded_at": ("recorded_at",),
    "action": ("action",),
    "actor": ("actor",),
    "actor_source": ("actor_source",),
    "model": ("model", "name"),
    "version": ("model", "version"),
    "run_id": ("model", "run_id"),
    "milestone": ("milestone",),
    "decision": ("decision",),
}
#: One check of a decision (or the check of a waiver_use record).
CHECK_COLUMNS = ("check", "kind", "category", "blocking", "status", "threshold", "observed",
                 "message", "waiver")
TAIL_COLUMNS: dict[str, tuple[str, ...]] = {
    "reasons": ("reasons",),
    "promotion_alias": ("promotion", "alias"),
    "promotion_version": ("promotion", "version"),
    "promotion_previous_version": ("promotion", "previous_version"),
    "approval_role": ("role",),
    "approver": ("approver",),
    "decision_ref_seq": ("decision_ref", "seq"),
    "baseline_version": ("baseline", "version"),
    "playbook_path": ("playbook", "path"),
    "playbook_digest": ("playbook", "digest"),
    "milestone_digest": ("playbook", "milestone_digest"),
    "playbook_git_commit": ("playbook", "git_commit"),
    "ci": ("ci",),
    "key_id": ("key_id",),
    "prev_hash": ("prev_hash",),
    "hash": ("hash",),
}
CSV_COLUMNS = (*RECORD_COLUMNS, *CHECK_COLUMNS, *TAIL_COLUMNS)
# A cell starting with one of these is run as a formula by spreadsheet programs (OWASP's list);
# compliance staff open exports in spreadsheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# -- audit log: the aligned table --------------------------------------------------------------


def log_table(records: Sequence[Mapping[str, Any]]) -> str:
    """A header and one aligned row per record: seq, time, actor, action, model vN, milestone
    and the outcome (the verdict, or an alias move as ``champion: v1 → v2``); empty when no
    record matched."""
    if not records:
        return ""
    rows = [LOG_HEAD, *(log_row(r) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(LOG_HEAD) - 1)]
    lines = ("  ".join([row[0].rjust(widths[0]),
                        *(cell.ljust(w) for cell, w in zip(row[1:-1], widths[1:], strict=True)),
                        row[-1]]).rstrip() for row in rows)
    return "".join(f"{line}\n" for line in lines)


def log_row(record: Mapping[str, Any]) -> tuple[str, ...]:
    version = nested(record, "model", "version")
    model = _text(nested(record, "model", "name")) + (
        f" v{_text(version)}" if version is not None else "")
    return (_text(record.get("seq")), _text(record.get("recorded_at")), _text(record.get("actor")),
            _text(record.get("action")), model, _text(record.get("milestone")), outcome(record))


def outcome(record: Mapping[str, Any]) -> str:
    """What the record says happened, in a few words."""
    action = record.get("action")
    if action in ("promotion", "promotion_refused"):
        return _alias_move(record)
    if action == "waiver_use":
        return (f"waiver {_text(nested(record, 'waiver', 'id'))} on "
                f"{_text(record.get('check'))}")
    if action == "approval":
        return f"approved as {_text(record.get('role'))} by {_text(record.get('approver'))}"
    verdict = _text(record.get("decision"))
    waived = [str(w.get("check")) for w in record.get("waivers") or []
              if isinstance(w, Mapping)]
    return verdict + (f" (waived: {_printable(', '.join(waived))})" if waived else "")


def _alias_move(record: Mapping[str, Any]) -> str:
    alias = _text(nested(record, "promotion", "alias"))
    if record.get("action") == "promotion_refused":
        reasons = record.get("reasons") or []
        why = f": {_printable(str(reasons[0]))}" if isinstance(reasons, list) and reasons else ""
        return ("" if alias == "-" else f"{alias}: ") + f"refused{why}"
    before = nested(record, "promotion", "previous_version")
    after = nested(record, "promotion", "version")
    return (f"{alias}: {'none' if before is None else 'v' + _text(before)} → "
            f"v{_text(after)}")


# -- export: CSV, one row per check ------------------------------------------------------------


def csv_document(records: Iterable[Mapping[str, Any]]) -> str:
    """``CSV_COLUMNS``: a decision record gives one row per check (in its criteria's order),
    any other record one row (a waiver_use record's check filled in)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        head = [_cell(nested(record, *path)) for path in RECORD_COLUMNS.values()]
        tail = [_cell(nested(record, *path)) for path in TAIL_COLUMNS.values()]
        for check in check_cells(record):
            writer.writerow([*head, *(_cell(v) for v in check), *tail])
    return buffer.getvalue()


def check_cells(record: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The CHECK_COLUMNS values of each row ``record`` gives."""
    if record.get("action") == "waiver_use":
        return [(record.get("check"), None, record.get("category"), None, "waived",
                 record.get("threshold"), record.get("observed"), None,
                 nested(record, "waiver", "id"))]
    criteria = record.get("criteria")
    if record.get("action") != "decision" or not isinstance(criteria, Mapping) or not criteria:
        return [(None,) * len(CHECK_COLUMNS)]
    waived = {str(w.get("check")): nested(w, "waiver", "id")
              for w in record.get("waivers") or [] if isinstance(w, Mapping)}
    return [(check, nested(criteria, check, "kind"), nested(criteria, check, "category"),
             nested(criteria, check, "blocking"), nested(record, "evidence", check, "status"),
             nested(criteria, check, "threshold"), nested(record, "evidence", check, "observed"),
             nested(record, "evidence", check, "message"), waived.get(check))
            for check in criteria]


def _cell(value: Any) -> str:
    text = _flatten(value)
    # A leading apostrophe makes the spreadsheet show the text instead of running it.
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _flatten(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value)  # reasons: one sentence each
    if isinstance(value, dict | list | bool):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


# -- export: in-toto -----------------------------------------------------------------------------


def intoto_document(records: Iterable[Mapping[str, Any]], log: str) -> str:
    """One in-toto Statement v1 per decision record, one JSON object per line (``log``: the
    store's location, named in each predicate's ``audit``)."""
    return "".join(json.dumps(decision_statement(r, log), sort_keys=True,
                              separators=(",", ":"), ensure_ascii=False) + "\n"
                   for r in records if r.get("action") == "decision")


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else _printable(str(value))


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
