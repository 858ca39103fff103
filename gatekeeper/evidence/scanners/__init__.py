"""The registry of scanners: tools gatekeeper runs itself on a version's files.

Adding a scanner = one module with a ``SCANNER``, one line in ``SCANNERS``, one test file, one
row in docs/checks.md. Each tool is imported only when it scans, and installed by an extra
(``gatekeeper[security]``, ``gatekeeper[privacy]``).
"""

from __future__ import annotations

from gatekeeper.evidence.scanners import detect_secrets, modelscan, pip_audit, presidio
from gatekeeper.evidence.scanners.interface import Scanner

SCANNERS: dict[str, Scanner] = {
    "detect-secrets": detect_secrets.SCANNER,
    "modelscan": modelscan.SCANNER,
    "pip-audit": pip_audit.SCANNER,
    "presidio": presidio.SCANNER,
}
