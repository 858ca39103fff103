"""`gatekeeper audit verify-evidence | redact`: the evidence a decision record kept.

``verify-evidence`` re-takes the digests a decision record holds from the registry as it is
now and says which changed (exit 0 all unchanged, 1 something changed or is gone, 2 bad
input, 3 registry unreachable). ``redact`` drops one sealed value of a record; its digest
stays, so the chain still verifies (docs/audit.md, "What a record holds"). Both are added to
the ``audit`` group in ``cli/main.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from gatekeeper.cli.options import audit_log_option, option, tracking_uri_option
from gatekeeper.errors import InvalidInputError

if TYPE_CHECKING:
    from gatekeeper.record import StoredRecord

UNCHANGED, CHANGED = 0, 1


@click.command("verify-evidence")
@option("--seq", type=click.IntRange(min=1), required=True, help="The decision record.")
@tracking_uri_option
@audit_log_option
def verify_evidence_command(seq: int, tracking_uri: str | None, audit_log: str) -> int:
    """Re-hash what decision record SEQ read (artifacts, model files, tag values) in MLflow
    now and list what changed. Exits 0 unchanged, 1 changed or gone."""
    from gatekeeper.evidence.digests import changed_evidence
    from gatekeeper.evidence.interface import EvidenceRequest
    from gatekeeper.evidence.mlflow_env import default_tracking_uri
    from gatekeeper.evidence.mlflow_source import MlflowSource
    from gatekeeper.record import open_store
    from gatekeeper.record.sealed import sealed_problems, side_store

    store = open_store(audit_log)
    record = decision_record(store.records(), seq, store.location)
    model = record.get("model") or {}
    source = MlflowSource(tracking_uri or default_tracking_uri())
    cand = source.collect(str(model.get("name")), str(model.get("version")),
                          EvidenceRequest()).candidate
    if cand.run_id != model.get("run_id"):
        raise InvalidInputError(f"record {seq} is about run {model.get('run_id')}, but "
                                f"{cand.name} v{cand.version} now comes from run {cand.run_id}")
    side = side_store(store)
    sealed = side.of(seq, str(record.get("hash"))) if side else None
    changes = changed_evidence(record.get("evidence_digests") or {}, cand, source, sealed)
    problems = sealed_problems(record, sealed or {})
    for change in changes:
        click.echo(change.line())
    for problem in problems:
        click.echo(f"tampered   {problem}")
    moved = [c for c in changes if c.status in ("changed", "missing")]
    click.echo(f"record {seq}: {len(changes)} items, {len(moved)} changed or gone"
               + (f", {len(problems)} sealed values not matching" if problems else ""))
    return CHANGED if moved or problems else UNCHANGED


@click.command("redact")
@option("--seq", type=click.IntRange(min=1), required=True, help="The decision record.")
@option("--field", "ref", required=True, metavar="REF",
        help="The sealed value to drop: its reference in the record's evidence_digests.")
@option("--reason", help="Why (required before the record's retain_until).")
@option("--now", metavar="ISO-8601", help="Judge retain_until at this time [default: now].")
@option("--tracking-uri", metavar="URI",
        help="The MLflow registry whose version tag anchors the store's checkpoints: given, "
             "the redaction record's checkpoint is anchored there as a gate's is.")
@audit_log_option
def redact_command(seq: int, ref: str, reason: str | None, now: str | None,
                   tracking_uri: str | None, audit_log: str) -> None:
    """Drop the sealed value REF of decision record SEQ, keeping its digest: the chain still
    verifies, and a redaction record says who did it and why."""
    from gatekeeper.adapters import anchored
    from gatekeeper.record import current_identity, open_store, parse_time
    from gatekeeper.record.sealed import redact

    try:
        at = parse_time(now) if now else None
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 date or date-time: {now!r}",
                                 param_hint="'--now'") from None
    ref = ref.removeprefix("evidence_digests.")
    store = open_store(audit_log)
    if tracking_uri:  # else `audit verify --anchor mlflow:...` reports the anchor as behind
        store = anchored(store, tracking_uri)
    done = redact(store, seq, ref, reason, current_identity(os.environ), at)
    click.echo(f"record {seq}: value of {ref} redacted, digest kept; redaction recorded as "
               f"record {done.seq} {done.hash}")


def decision_record(records: Iterable[StoredRecord], seq: int, location: str
                    ) -> dict[str, Any]:
    """Decision record ``seq`` among ``records``; InvalidInputError if there is none."""
    for stored in records:
        if stored.record.get("seq") == seq:
            if stored.record.get("action") != "decision":
                raise InvalidInputError(f"record {seq} is a {stored.record.get('action')} "
                                        "record, not a decision", hint="check --seq")
            return stored.record
    raise InvalidInputError(f"audit store {location} has no record {seq}", hint="check --seq")
