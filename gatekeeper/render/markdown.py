"""``markdown``: for ``$GITHUB_STEP_SUMMARY`` and pull-request comments (GitHub-flavoured).

The verdict line, the prerequisite apart, a table of the playbook's checks with failures first
(state, check and message, observed, threshold, owner, playbook line, remedy or waiver,
evidence), then the model, playbook, policies and audit record. Evidence refs link to the
MLflow UI when the result names the registry's web address, else show as code.

GitHub refuses a step summary over 1 MiB, so the document never exceeds ``LIMIT`` bytes: rows
that do not fit are left out whole, with a note saying how many, and the verdict line always
stays. Everything taken from the result is escaped: a message cannot break the table, start a
link or inject HTML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from gatekeeper.decide.result import CheckResult, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.render.readable import (
    blockers,
    evidence_items,
    evidence_url,
    failures_first,
    plain,
    playbook_checks,
    prerequisite,
    run_url,
    tally,
    verdict_word,
    version_url,
    waiver_notes,
    waiver_text,
    where,
)

#: GitHub's limit for one step's summary (1024 KiB), in UTF-8 bytes.
LIMIT = 1024 * 1024
#: No single cell may take more than this many characters of the result's text, so one
#: enormous message cannot push every other row out of the summary.
CELL_CHARS = 2000
#: The verdict line names at most this many blocking checks (the table lists them all).
SHOWN_BLOCKERS = 10

ICONS = {Status.PASS: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.ERROR: "❗",
         Status.SKIP: "⏭️", Status.WAIVED: "🛡️"}
HEAD = ("state", "check", "observed", "threshold", "owner", "playbook", "remedy / waiver",
        "evidence")

# Characters that start inline markdown (emphasis, code, links, strike-through) or end a table
# cell; backslash-escaped (CommonMark allows it for any ASCII punctuation). With brackets
# escaped, parentheses cannot form a link. `<`, `>` and `&` become entities: no HTML at all.
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def render(result: Result, limit: int = LIMIT) -> str:
    """The whole summary, at most ``limit`` UTF-8 bytes."""
    top = "\n".join([verdict_line(result), "", *_prerequisite(result), ""]) + "\n"
    table = [table_row(HEAD), table_row(["---"] * len(HEAD))]
    rows = [check_row(c, result.registry_url) for c in failures_first(playbook_checks(result))]
    bottom = "\n" + "\n".join(_facts(result)) + "\n"
    return fit(top, table, rows, bottom, limit)


def fit(top: str, table: Sequence[str], rows: Sequence[str], bottom: str, limit: int) -> str:
    """``top``, the table with as many whole rows as fit, a note on the rest, ``bottom``
    (dropped too when even it does not fit; ``top`` holds the verdict and always stays)."""
    whole = top + "\n".join([*table, *rows]) + "\n" + bottom
    if size(whole) <= limit:
        return whole
    used = size(top) + sum(size(line) + 1 for line in table) + size(left_out_note(len(rows)))
    kept: list[str] = []
    for row in rows:
        if used + size(row) + 1 > limit:
            break
        kept.append(row)
        used += size(row) + 1
    cut = top + "\n".join([*table, *kept]) + "\n" + left_out_note(len(rows) - len(kept))
    if size(cut + bottom) <= limit:
        return cut + bottom
    return cut if size(cut) <= limit else top + left_out_note(len(rows))


def left_out_note(count: int) -> str:
    return (f"\n_{count} more check(s) not shown: GitHub limits a step summary to 1 MiB. "
            "The JSON result has every check (`gatekeeper report --from RESULT.json "
            "-o html=report.html` renders them all)._\n")


def size(document: str) -> int:
    """What GitHub counts: UTF-8 bytes."""
    return len(document.encode("utf-8"))


def verdict_line(result: Result) -> str:
    """``## ⛔ BLOCKED: churn version 3 at serve ...`` with the blockers and the tally."""
    m = result.model
    icon = "✅" if verdict_word(result) == "PASSED" else "⛔"
    by = blockers(result)
    named = ", ".join(code(b) for b in by[:SHOWN_BLOCKERS])
    more = f" and {len(by) - SHOWN_BLOCKERS} more" if len(by) > SHOWN_BLOCKERS else ""
    reason = f" by {named}{more}" if by else ""
    return (f"## {icon} {verdict_word(result)}{reason}: {text(m.name)} version "
            f"{text(m.version)} at milestone {text(result.milestone.id)} "
            f"({text(result.milestone.title)}) · {text(tally(result))}")


def _prerequisite(result: Result) -> list[str]:
    pre = prerequisite(result)
    if pre is None:
        return []
    line = (f"**Prerequisite** (counted apart): {ICONS[pre.status]} {pre.status.value} "
            f"{code(pre.id)}: {text(pre.message)}")
    if pre.remedy and pre.status in (Status.FAIL, Status.ERROR):
        line += f" · remedy: {text(pre.remedy)}"
    return [line]


def check_row(check: CheckResult, registry_url: str | None) -> str:
    """One table row: every cell escaped, so the row is whole whatever the result holds."""
    advisory = " (advisory)" if not check.blocking else ""
    return table_row([
        f"{ICONS[check.status]} {check.status.value}{advisory}",
        f"{code(check.id)}<br>{text(check.message)}",
        text(plain(check.observed)),
        text(plain(check.threshold)),
        text(check.owner or ""),
        code(where(check) or ""),
        text(waiver_text(check.waiver) if check.status is Status.WAIVED
             else check.remedy or ""),
        "<br>".join(evidence_link(what, ref, registry_url)
                    for what, ref in evidence_items(check)),
    ])


def evidence_link(what: str, ref: str, registry_url: str | None) -> str:
    """``[p95_ms](https://…/#/runs/r1)`` (the ref as the link's title), else the ref as code."""
    url = evidence_url(ref, registry_url)
    if url is None:
        return f"{text(what)}: {code(ref)}"
    return f'[{text(what)}]({safe_url(url)} "{attr(ref)}")'


def _facts(result: Result) -> list[str]:
    m, pb = result.model, result.playbook
    model = f"**Model** {text(m.name)} version {link(m.version, version_url(result))}"
    if m.run_id:
        model += f", run {link(m.run_id, run_url(result))}"
    if result.baseline:
        model += (f"; baseline {text(result.baseline.alias)} = version "
                  f"{text(result.baseline.version)}")
    playbook = f"**Playbook** {code(pb.path)} {code(pb.digest)}"
    if pb.git_commit:
        playbook += f" at commit {code(pb.git_commit)}"
    lines = [model + "  ", playbook + "  "]
    if result.policies:
        lines.append("**Policies** " + ", ".join(f"{text(p.id)} ({code(p.path)})"
                                                 for p in result.policies) + "  ")
    notes = waiver_notes(result)
    if notes:
        lines.append("**Waivers** " + "; ".join(text(n) for n in notes) + "  ")
    if result.promotion:
        p = result.promotion
        lines.append(f"**Promoted** alias {code(p.alias)} → version {text(p.version)}  ")
    if result.audit:
        a = result.audit
        lines.append(f"**Audit** {code(a.log)} record {a.seq} {code(a.hash)}  ")
    lines.append(f"_gatekeeper {text(result.gatekeeper_version)}, {text(result.finished_at)}, "
                 f"by {text(result.actor)}_")
    return lines


def link(label: str, url: str | None) -> str:
    if url is None:
        return code(label)
    return f"[{text(label)}]({safe_url(url)})"


def safe_url(url: str) -> str:
    """A link target that cannot end the link or the table cell: parentheses, pipes, spaces,
    quotes and angle brackets percent-encoded."""
    return quote(url, safe=":/#?=&%-._~@+,;")


def table_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def text(value: str) -> str:
    """The result's text as inline markdown that shows exactly that text: one line, no
    syntax, no HTML, no pipe that would end a table cell."""
    value = _clip(value)
    value = "".join(_ENTITIES.get(ch, ch) for ch in value)
    return _MARKDOWN.sub(r"\\\1", value)


def code(value: str) -> str:
    """A code span (shown verbatim, HTML included, so ``<`` needs no entity); pipes still end
    a table cell in GitHub's tables unless escaped, and a fence longer than any run of
    backticks inside keeps the span whole."""
    value = _clip(value).replace("|", "\\|")
    if not value:
        return ""
    fence = "`" * (max((len(r) for r in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def attr(value: str) -> str:
    """Text inside a link title (double quotes)."""
    return text(value).replace('"', "&quot;")


def _clip(value: str) -> str:
    one_line = " ".join(value.split()) if ("\n" in value or "\r" in value) else value
    return one_line if len(one_line) <= CELL_CHARS else one_line[:CELL_CHARS - 1] + "…"
