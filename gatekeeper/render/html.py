"""``html``: one self-contained page a reviewer opens in a browser (inline CSS, no scripts, no
external resources). The verdict banner, the version's milestone history as a timeline, the
prerequisite apart, every playbook check (failures first) with observed value beside its
threshold, owner, playbook line, remedy, waiver and evidence (linked to the MLflow UI when the
result names the registry's web address), then the model, run, playbook digest, policies and
audit record.

Everything taken from the result is escaped with ``html.escape``: a message holding markup is
shown as text, never parsed.
"""

from __future__ import annotations

from html import escape

from gatekeeper.decide.result import CheckResult, MilestoneHistory, Result
from gatekeeper.evaluate.interface import Status
from gatekeeper.render.readable import (
    blockers,
    cost_lines,
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

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1280px;
       padding: 0 1em; color: #212529; }
h1 { margin: 0; font-size: 1.8em; }
h2 { font-size: 1.2em; margin-top: 1.6em; }
.banner { padding: 1em 1.4em; border-radius: 6px; color: #fff; }
.banner.passed { background: #2b8a3e; }
.banner.blocked { background: #c92a2a; }
.banner p { margin: 0.3em 0 0; }
table { border-collapse: collapse; font-size: 0.9em; width: 100%; }
th, td { border: 1px solid #dee2e6; padding: 0.35em 0.55em; text-align: left;
         vertical-align: top; overflow-wrap: anywhere; }
th { background: #f1f3f5; white-space: nowrap; }
ul.evidence { margin: 0; padding-left: 1.1em; }
code { font-size: 0.95em; }
.state { font-weight: 700; white-space: nowrap; }
.pass .state { color: #2b8a3e; } .warn .state { color: #e67700; }
.fail .state { color: #c92a2a; } .error .state { color: #862e9c; }
.skip .state { color: #868e96; } .waived .state { color: #1971c2; }
tr.fail, tr.error { background: #fff5f5; }
.muted { color: #6c757d; }
ol.timeline { display: flex; list-style: none; padding: 0; margin: 0; gap: 0; }
ol.timeline li { flex: 1; border: 2px solid #ced4da; border-radius: 6px; padding: 0.6em;
                 position: relative; margin-right: 2em; background: #f8f9fa; }
ol.timeline li:last-child { margin-right: 0; }
ol.timeline li + li::before { content: "\\2192"; position: absolute; left: -1.6em; top: 35%;
                              font-size: 1.3em; color: #868e96; }
ol.timeline li.pass { border-color: #2b8a3e; }
ol.timeline li.block { border-color: #c92a2a; }
ol.timeline li.current { box-shadow: 0 0 0 3px #339af0; }
.prerequisite { border-left: 4px solid #868e96; padding: 0.4em 0.8em; background: #f8f9fa; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.3em 1em; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
"""
COLUMNS = ("state", "check", "observed", "threshold", "owner", "playbook", "remedy", "waiver",
           "evidence")


def render(result: Result) -> str:
    word = verdict_word(result)
    m = result.model
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>gatekeeper: {word} {e(m.name)} version {e(m.version)} at "
        f"{e(result.milestone.id)}</title>",
        f"<style>{STYLE}</style></head><body>",
        banner(result), history(result), prerequisite_section(result),
        checks_section(result), facts(result), "</body></html>", ""])


def banner(result: Result) -> str:
    word, m = verdict_word(result), result.model
    by = blockers(result)
    reason = f"<p>Blocked by {', '.join(f'<code>{e(b)}</code>' for b in by)}</p>" if by else ""
    return (f'<header class="banner {word.lower()}" id="verdict"><h1>{word}</h1>'
            f"<p>{e(m.name)} version {e(m.version)} · milestone {e(result.milestone.id)} "
            f"({e(result.milestone.title)})</p>{reason}<p>{e(tally(result))}</p></header>")


def history(result: Result) -> str:
    """The playbook's milestones in order (poc → serve → pilot), each with its latest recorded
    decision; the one this result decides is outlined and shows this verdict too."""
    if not result.history:
        return ""
    items = "".join(_milestone(h, result) for h in result.history)
    return (f'<section id="history"><h2>Milestones of {e(result.model.name)} version '
            f'{e(result.model.version)}</h2><ol class="timeline">{items}</ol></section>')


def _milestone(h: MilestoneHistory, result: Result) -> str:
    current = h.id == result.milestone.id
    latest = (f"latest decision: <b>{e(h.decision)}</b>"
              + (f" {e(h.recorded_at)}" if h.recorded_at else "")
              + (f" (record {h.seq})" if h.seq is not None else "")
              if h.decision else '<span class="muted">not gated yet</span>')
    now = f"<br>this evaluation: <b>{verdict_word(result)}</b>" if current else ""
    classes = " ".join(c for c in (e(h.decision or "none"), "current" if current else "") if c)
    return (f'<li class="{classes}" data-milestone="{e(h.id)}"><b>{e(h.id)}</b> '
            f'<span class="muted">stage {e(h.stage)}, alias {e(h.alias)}</span><br>'
            f"{latest}{now}</li>")


def prerequisite_section(result: Result) -> str:
    pre = prerequisite(result)
    if pre is None:
        return ""
    remedy = f"<br>remedy: {e(pre.remedy)}" if pre.remedy and pre.status.blocks else ""
    evidence = evidence_list(pre, result.registry_url)
    return (f'<section id="prerequisite"><h2>Prerequisite (counted apart from the playbook\'s '
            f'checks)</h2><div class="prerequisite {pre.status.value}">'
            f'<span class="state">{pre.status.value.upper()}</span> <code>{e(pre.id)}</code>: '
            f"{e(pre.message)}{remedy}{evidence}</div></section>")


def checks_section(result: Result) -> str:
    checks = failures_first(playbook_checks(result))
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    rows = "".join(check_row(c, result.registry_url) for c in checks)
    return (f'<section id="checks"><h2>Checks ({len(checks)}, failures first)</h2>'
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>")


def check_row(check: CheckResult, registry_url: str | None) -> str:
    advisory = '<br><span class="muted">advisory</span>' if not check.blocking else ""
    place = where(check)
    cells = [
        f'<span class="state">{check.status.value.upper()}</span>{advisory}',
        f"<code>{e(check.id)}</code><br>{e(check.message)}",
        observed_cell(check), e(plain(check.threshold)), e(check.owner or ""),
        f"<code>{e(place)}</code>" if place else "",
        e(check.remedy or "") if check.status is not Status.WAIVED else "",
        e(waiver_text(check.waiver)),
        evidence_list(check, registry_url),
    ]
    return (f'<tr class="{check.status.value}" data-check="{e(check.id)}">'
            + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")


def observed_cell(check: CheckResult) -> str:
    """The observed value; for a cost or roi check its breakdown, currency and operating point
    first, one line each."""
    costs = cost_lines(check)
    if not costs:
        return e(plain(check.observed))
    return "".join(f'<div class="cost">{e(line)}</div>' for line in costs)


def evidence_list(check: CheckResult, registry_url: str | None) -> str:
    items = [f"<li>{e(what)}: {evidence_ref(ref, registry_url)}</li>"
             for what, ref in evidence_items(check)]
    return f'<ul class="evidence">{"".join(items)}</ul>' if items else ""


def evidence_ref(ref: str, registry_url: str | None) -> str:
    url = evidence_url(ref, registry_url)
    return (f'<a href="{e(url)}"><code>{e(ref)}</code></a>' if url
            else f"<code>{e(ref)}</code>")


def facts(result: Result) -> str:
    m, pb = result.model, result.playbook
    rows: list[tuple[str, str]] = [
        ("model", f"{e(m.name)} version {linked(m.version, version_url(result))}"),
        ("run", linked(m.run_id, run_url(result)) if m.run_id else "none"),
        ("source", f"<code>{e(m.source)}</code>"),
        ("baseline", (f"{e(result.baseline.alias)} = version {e(result.baseline.version)}"
                      if result.baseline else "none")),
        ("milestone", f"{e(result.milestone.id)} ({e(result.milestone.title)})"),
        ("playbook", f"<code>{e(pb.path)}</code>"),
        ("playbook digest", f"<code>{e(pb.digest)}</code>"),
        ("milestone digest", f"<code>{e(pb.milestone_digest or 'none')}</code>"),
        ("git commit", f"<code>{e(pb.git_commit)}</code>" if pb.git_commit else "none"),
        ("policies", policies(result)),
        ("waivers", "<br>".join(e(n) for n in waiver_notes(result)) or "none given"),
        ("audit record", (f"<code>{e(result.audit.log)}</code> record {result.audit.seq} "
                          f"<code>{e(result.audit.hash)}</code>" if result.audit
                          else "not recorded")),
        ("promotion", (f"alias {e(result.promotion.alias)} → version "
                       f"{e(result.promotion.version)}" if result.promotion else "none")),
        ("actor", e(result.actor)),
        ("evaluated", f"{e(result.started_at)} to {e(result.finished_at)}"),
        ("gatekeeper", e(result.gatekeeper_version)),
    ]
    return ('<section id="facts"><h2>Model, playbook and audit record</h2><dl class="facts">'
            + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl></section>")


def policies(result: Result) -> str:
    if not result.policies:
        return "none"
    return "<br>".join(f"{e(p.id)} <code>{e(p.path)}</code> <code>{e(p.digest)}</code>"
                       for p in result.policies)


def linked(label: str, url: str | None) -> str:
    return f'<a href="{e(url)}">{e(label)}</a>' if url else e(label)


def e(value: object) -> str:
    """Escape for text and double-quoted attributes."""
    return escape(str(value), quote=True)

