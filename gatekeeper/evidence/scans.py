"""Run the scanners the checks asked for on one local copy of the candidate's files.

After the registry was read (see ``pipeline.py``), the candidate's model files and its source
run's artifacts are copied once into a private temporary folder, every asked scanner runs on
that copy, and the copy is deleted. Each report, or the :class:`ScanFailure` that says why
there is none (tool not installed, crashed, offline, files unreadable), lands in
``Evidence.extra[query.key]``; the checks reading a failure report ``error``. No scanner ever
loads the model: they read its bytes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from gatekeeper.common.redact import redact_secrets
from gatekeeper.errors import InfrastructureError
from gatekeeper.evidence.digests import MODEL_COPY, copied_model_digests
from gatekeeper.evidence.interface import Evidence, EvidenceSource, ScanQuery, VersionEvidence
from gatekeeper.evidence.scanners import SCANNERS
from gatekeeper.evidence.scanners.interface import ScanFailure, ScanReport, ScanTarget


def with_scans(evidence: Evidence, queries: Iterable[ScanQuery], source: EvidenceSource,
               env: Mapping[str, str] = os.environ) -> Evidence:
    """``evidence`` with the answer to every scan query added to its ``extra``."""
    ordered = sorted(set(queries), key=lambda q: q.key)
    if not ordered:
        return evidence
    cand = evidence.candidate
    with tempfile.TemporaryDirectory(prefix="gatekeeper-scan-") as folder:
        root = Path(folder)
        try:
            model_dir, run_dir = source.fetch_files(cand, root)
        except InfrastructureError as exc:
            failure = ScanFailure(redact_secrets(f"the files of {cand.name} v{cand.version} "
                                                 f"could not be copied for scanning: {exc}"))
            answers: dict[str, object] = {q.key: failure for q in ordered}
        else:
            target = scan_target(cand, root, model_dir, run_dir)
            answers = {q.key: run_scan(q, target, env) for q in ordered}
            if model_dir is not None:  # hashed while the copy exists, not downloaded twice
                answers[MODEL_COPY] = copied_model_digests(cand, model_dir)
    return replace(evidence, extra={**evidence.extra, **answers})


def scan_target(cand: VersionEvidence, root: Path, model_dir: Path | None,
                run_dir: Path | None) -> ScanTarget:
    return ScanTarget(root=root, model_dir=model_dir, run_dir=run_dir,
                      label=f"{cand.name} v{cand.version}",
                      model_ref=cand.ref("model_files", "{path}"),
                      run_ref=cand.ref("artifacts", "{path}"))


def run_scan(query: ScanQuery, target: ScanTarget, env: Mapping[str, str]
             ) -> ScanReport | ScanFailure:
    """One scanner's report on ``target``; any failure of the tool is a ScanFailure."""
    scanner = SCANNERS.get(query.scanner)
    if scanner is None:
        return ScanFailure(f"unknown scanner '{query.scanner}' (known: "
                           f"{', '.join(sorted(SCANNERS)) or 'none'})")
    missing = scanner.missing()
    if missing is not None:
        return ScanFailure(missing)
    try:
        return scanner.scan(target, query, env)
    except InfrastructureError as exc:
        return ScanFailure(redact_secrets(f"{scanner.name}: {exc}"))
    except Exception as exc:  # a crashing tool is no verdict, never a pass
        # Only the exception's type: its text may quote the file it choked on, which can
        # hold the very secret or personal data the scan is for.
        return ScanFailure(f"{scanner.name} failed ({type(exc).__name__}); run it by hand on "
                           f"the version's files for details")
