"""The two renderings of ``gatekeeper status`` (``ModelStatus -> str``, no I/O): ``text`` for a
person, ``json`` (``gatekeeper.status/v1``) for a scheduled job. Not in ``FORMATS``: a status
is not a ``Result``."""

from __future__ import annotations

import json
from collections.abc import Callable

from gatekeeper.decide.status import AliasStanding, ModelStatus, VersionStanding


def render_text(status: ModelStatus) -> str:
    """One line per version (its milestones and aliases), one per alias, then the verdict."""
    lines = [f"{status.model} · {len(status.versions)} version"
             f"{'s' if len(status.versions) != 1 else ''} · audit {status.audit_log}", ""]
    lines += [_version_line(v) for v in reversed(status.versions)] or ["  no versions"]
    lines += ["", "aliases:"]
    lines += [_alias_line(a) for a in status.aliases] or ["  none"]
    lines += ["", _verdict(status)]
    return "\n".join(lines) + "\n"


def render_json(status: ModelStatus) -> str:
    return json.dumps(status.to_dict(), indent=2) + "\n"


#: The formats of ``gatekeeper status -o``.
STATUS_FORMATS: dict[str, Callable[[ModelStatus], str]] = {
    "json": render_json,
    "text": render_text,
}


def _version_line(version: VersionStanding) -> str:
    milestones = ", ".join(f"{m.milestone} {m.decision} {m.recorded_at}"
                           for m in version.milestones) or "never gated"
    aliases = f"  [{', '.join(version.aliases)}]" if version.aliases else ""
    return f"  v{version.version}  {milestones}{aliases}"


def _alias_line(alias: AliasStanding) -> str:
    mark = "FLAGGED  " if alias.flagged else "         "
    target = f"-> v{alias.version}" if alias.version is not None else "(unset)"
    protected = " (protected)" if alias.protected else ""
    return f"  {mark}{alias.alias}{protected} {target}: {alias.describe()}"


def _verdict(status: ModelStatus) -> str:
    flagged = status.flagged
    if not flagged:
        guarded = sum(a.protected for a in status.aliases)
        return (f"OK: {guarded} protected alias{'es' if guarded != 1 else ''}, none moved "
                "outside the gate")
    names = ", ".join(a.alias for a in flagged)
    return (f"FLAGGED: {len(flagged)} protected alias{'es' if len(flagged) != 1 else ''} "
            f"moved outside the gate: {names}")
