"""The audit dossier (`gatekeeper audit report`): what a reviewer hands an auditor about one
model version, or every version an alias pointed to. Pure: ``Dossier -> str``, no I/O.

Sections, in order: whether the store verified (every finding, or intact and what was not
checked), the timeline of every record in scope, each decision with every check's threshold
beside its observed value, approvals, waivers used, and the evidence digests the decisions
recorded. ``html`` is one self-contained page (inline CSS, no scripts, nothing fetched);
``markdown`` is GitHub-flavoured and never longer than GitHub's 1 MiB step summary.

Everything taken from the records is escaped for its medium (``html.e``, ``markdown.text``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gatekeeper.record.query import nested
from gatekeeper.record.review import Dossier, decisions
from gatekeeper.render import html as page
from gatekeeper.render import markdown as md
from gatekeeper.render.readable import PREREQUISITE_KIND, plain, waiver_text
from gatekeeper.render.review import LOG_HEAD, log_row

CHECK_HEAD = ("check", "kind", "status", "blocking", "threshold", "observed", "message",
              "waiver")
APPROVAL_HEAD = ("record", "time", "version", "milestone", "role", "approver", "expires",
                 "approves record", "key")
WAIVER_HEAD = ("record", "version", "milestone", "check", "waiver")
DIGEST_HEAD = ("record", "version", "milestone", "read", "digest")

STYLE = page.STYLE + """
.chain { padding: 0.8em 1.2em; border-radius: 6px; color: #fff; }
.chain.intact { background: #2b8a3e; } .chain.broken { background: #c92a2a; }
.chain ul { margin: 0.3em 0 0; }
section.decision { border-top: 1px solid #dee2e6; margin-top: 1em; }
#timeline td:nth-child(2) { white-space: nowrap; }
td.state { font-weight: 700; }
"""

Rows = list[tuple[str, ...]]


# -- what both formats show ----------------------------------------------------------------------


def chain_headline(dossier: Dossier) -> str:
    """``Chain intact: 42 records in <store>`` or ``Chain NOT intact: 2 findings ...``."""
    chain = dossier.chain
    if chain.ok:
        return f"Chain intact: {chain.count} records in {dossier.location}"
    return (f"Chain NOT intact: problems found verifying {dossier.location} "
            f"({chain.count} records read)")


def check_rows(record: Mapping[str, Any]) -> Rows:
    """Each check of a decision, the prerequisite (earlier milestones) first and apart from
    the playbook's: threshold beside observed value, and the waiver used."""
    criteria = mapping(record.get("criteria"))
    waived = {str(w.get("check")): waiver_text(w.get("waiver") or {})
              for w in record.get("waivers") or [] if isinstance(w, Mapping)}
    rows: Rows = []
    for check in sorted(criteria, key=lambda c: nested(criteria, c, "kind")
                        != PREREQUISITE_KIND):
        found = nested(record, "evidence", check) or {}
        rows.append((str(check), str(nested(criteria, check, "kind") or ""),
                     str(found.get("status") or ""),
                     "yes" if nested(criteria, check, "blocking") else "advisory",
                     plain(nested(criteria, check, "threshold")), plain(found.get("observed")),
                     str(found.get("message") or ""), waived.get(str(check), "")))
    return rows


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is an object, else an empty one (a record is read back as input)."""
    return value if isinstance(value, Mapping) else {}


def decision_title(record: Mapping[str, Any]) -> str:
    return (f"Record {record.get('seq')}: {record.get('decision')} at milestone "
            f"{record.get('milestone')}, version {nested(record, 'model', 'version')}, "
            f"{record.get('recorded_at')} by {record.get('actor')}")


def decision_facts(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [("playbook", f"{nested(record, 'playbook', 'path')} "
                         f"{nested(record, 'playbook', 'digest')}"),
            ("milestone digest", str(nested(record, "playbook", "milestone_digest") or "none")),
            ("run", str(nested(record, "model", "run_id") or "none")),
            ("record hash", str(record.get("hash")))]


def approval_rows(dossier: Dossier) -> Rows:
    return [(str(r.get("seq")), str(r.get("recorded_at")), _version(r), str(r.get("milestone")),
             str(r.get("role")), str(r.get("approver")), str(r.get("expires_at")),
             str(nested(r, "decision_ref", "seq")),
             str(nested(r, "envelope", "payload", "key_id") or ""))
            for r in dossier.scope.records if r.get("action") == "approval"]


def waiver_rows(dossier: Dossier) -> Rows:
    return [(str(r.get("seq")), _version(r), str(r.get("milestone")), str(w.get("check")),
             waiver_text(w.get("waiver") or {}))
            for r in decisions(dossier.scope.records)
            for w in r.get("waivers") or [] if isinstance(w, Mapping)]


def digest_rows(dossier: Dossier) -> Rows:
    """Each artifact and value a decision read, with what its record keeps of it (sha256,
    sealed digest, size ...)."""
    rows: Rows = []
    for record in decisions(dossier.scope.records):
        held = record.get("evidence_digests")
        for ref, item in (held.items() if isinstance(held, Mapping) else ()):
            rows.append((str(record.get("seq")), _version(record), str(record.get("milestone")),
                         str(ref), plain(item) if isinstance(item, Mapping) else str(item)))
    return rows


def _version(record: Mapping[str, Any]) -> str:
    return str(nested(record, "model", "version"))


# -- html ----------------------------------------------------------------------------------------


def html(dossier: Dossier) -> str:
    """One self-contained page."""
    e, title = page.e, dossier.scope.title
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>gatekeeper audit dossier: {e(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Audit dossier: {e(title)}</h1>",
        f'<p class="muted">{len(dossier.scope.records)} records from <code>'
        f"{e(dossier.location)}</code>, made {e(dossier.generated_at)}</p>",
        _html_chain(dossier),
        _html_section("timeline", "Timeline", LOG_HEAD,
                      [log_row(r) for r in dossier.scope.records]),
        _html_decisions(dossier),
        _html_section("approvals", "Approvals", APPROVAL_HEAD, approval_rows(dossier)),
        _html_section("waivers", "Waivers used", WAIVER_HEAD, waiver_rows(dossier)),
        _html_section("digests", "Evidence digests", DIGEST_HEAD, digest_rows(dossier)),
        "</body></html>", ""])


def _html_chain(dossier: Dossier) -> str:
    e = page.e
    state = "intact" if dossier.chain.ok else "broken"
    items = "".join(f"<li>{e(line)}</li>" for line in dossier.chain.lines)
    return (f'<section id="verification" class="chain {state}"><h2>Verification</h2>'
            f"<p>{e(chain_headline(dossier))}</p><ul>{items}</ul></section>")


def _html_decisions(dossier: Dossier) -> str:
    e = page.e
    parts = ['<section id="decisions"><h2>Decisions</h2>']
    for record in decisions(dossier.scope.records):
        facts = "".join(f"<dt>{e(k)}</dt><dd><code>{e(v)}</code></dd>"
                        for k, v in decision_facts(record))
        parts.append(f'<section class="decision" data-seq="{e(record.get("seq"))}">'
                     f"<h3>{e(decision_title(record))}</h3>"
                     f'<dl class="facts">{facts}</dl>'
                     f"{_html_table(CHECK_HEAD, check_rows(record), status_column=2)}"
                     "</section>")
    if len(parts) == 1:
        parts.append('<p class="muted">none</p>')
    return "".join(parts) + "</section>"


def _html_section(anchor: str, title: str, head: Sequence[str], rows: Rows) -> str:
    body = _html_table(head, rows) if rows else '<p class="muted">none</p>'
    return f'<section id="{anchor}"><h2>{title}</h2>{body}</section>'


def _html_table(head: Sequence[str], rows: Rows, status_column: int | None = None) -> str:
    """A table; with ``status_column``, each row is classed by its check's state (coloured
    as in the gate's own html report)."""
    e = page.e
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join(_html_row(row, status_column) for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _html_row(row: Sequence[str], status_column: int | None) -> str:
    e = page.e
    if status_column is None:
        return "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
    cells = "".join(f'<td class="state">{e(c)}</td>' if i == status_column else f"<td>{e(c)}</td>"
                    for i, c in enumerate(row))
    return f'<tr class="{e(row[status_column])}">{cells}</tr>'



# -- markdown ------------------------------------------------------------------------------------


def markdown(dossier: Dossier, limit: int = md.LIMIT) -> str:
    """GitHub-flavoured markdown of at most ``limit`` UTF-8 bytes: past it, the lines that do
    not fit are left out with a note (the verification always stays: it comes first)."""
    t = md.text
    lines = [f"# Audit dossier: {t(dossier.scope.title)}", "",
             f"_{len(dossier.scope.records)} records from {md.code(dossier.location)}, made "
             f"{t(dossier.generated_at)}_", "", "## Verification", "",
             f"{'✅' if dossier.chain.ok else '⛔'} **{t(chain_headline(dossier))}**", "",
             *(f"- {t(line)}" for line in dossier.chain.lines), "",
             "## Timeline", "", *_md_table(LOG_HEAD, [log_row(r) for r in dossier.scope.records]),
             "", "## Decisions", ""]
    for record in decisions(dossier.scope.records):
        lines += [f"### {t(decision_title(record))}", "",
                  *(f"- {t(k)}: {md.code(v)}" for k, v in decision_facts(record)), "",
                  *_md_table(CHECK_HEAD, check_rows(record)), ""]
    for title, head, rows in (("Approvals", APPROVAL_HEAD, approval_rows(dossier)),
                              ("Waivers used", WAIVER_HEAD, waiver_rows(dossier)),
                              ("Evidence digests", DIGEST_HEAD, digest_rows(dossier))):
        lines += [f"## {title}", "", *_md_table(head, rows), ""]
    return _fit(lines, limit)


def _md_table(head: Sequence[str], rows: Rows) -> list[str]:
    if not rows:
        return ["_none_"]
    cell: Callable[[str], str] = md.text
    return [md.table_row(head), md.table_row(["---"] * len(head)),
            *(md.table_row([cell(c) for c in row]) for row in rows)]


def _fit(lines: list[str], limit: int) -> str:
    whole = "\n".join(lines) + "\n"
    if md.size(whole) <= limit:
        return whole
    kept: list[str] = []
    used = 0
    for number, line in enumerate(lines):
        note = _left_out(len(lines) - number)
        if used + md.size(line) + 1 + md.size(note) > limit:
            return "\n".join(kept) + "\n" + note
        kept.append(line)
        used += md.size(line) + 1
    return whole  # not reached: the whole did not fit


def _left_out(count: int) -> str:
    return (f"\n_{count} more line(s) not shown: GitHub limits a step summary to 1 MiB. "
            "`gatekeeper audit report -o html=dossier.html` shows everything._\n")


#: The dossier formats of `gatekeeper audit report -o FMT[=PATH]`.
FORMATS: dict[str, Callable[[Dossier], str]] = {"html": html, "markdown": markdown}
