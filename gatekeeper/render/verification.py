"""What `gatekeeper audit verify` and `audit repair` print: pure functions of a Report."""

from __future__ import annotations

from gatekeeper.record.verify import Report


def report_lines(location: str, report: Report, anchors: tuple[str, ...] = ()) -> list[str]:
    """The verdict line, each finding, what was (not) checked, and the notes."""
    noun = "record" if report.count == 1 else "records"
    if report.ok:
        verdict = f"audit log {location}: {report.count} {noun}, chain intact"
    else:
        count = len(report.findings)
        verdict = (f"audit log {location}: {report.count} {noun}, {count} "
                   f"finding{'s' if count != 1 else ''}")
    lines = [verdict, *(f"  {f.text()}" for f in report.findings)]
    lines.append(signatures_line(report))
    lines += [f"anchor {name}: compared" for name in anchors]
    lines += [f"note: {note}" for note in report.notes
              if not note.startswith("signatures were not checked")]
    return lines


def signatures_line(report: Report) -> str:
    """Says plainly whether signatures were checked, and with which keys."""
    if not report.signed:
        return "signatures: none to check (no record is signed)"
    if not report.signatures_checked:
        return (f"signatures: NOT CHECKED: no --public-key given ({report.signed} of "
                f"{report.count} records signed by {', '.join(report.key_ids) or '?'})")
    bad = {"bad-signature", "untrusted-key", "unsigned", "checkpoint-signature"}
    if any(f.code in bad for f in report.findings):
        return "signatures: checked with --public-key: see the findings above"
    noun = "record" if report.signed == 1 else "records"
    return f"signatures: valid ({report.signed} {noun}, key {', '.join(report.key_ids)})"


def refused_lines(location: str, report: Report) -> list[str]:
    """Why `audit repair` changed nothing: the findings it may not repair."""
    return [f"audit log {location}: not repaired: repair removes only a torn last line, and "
            "the log has other findings:",
            *(f"  {f.text()}" for f in report.findings if f.code != "torn")]
