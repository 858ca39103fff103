"""The registry of check kinds: one module per kind, one line here.

Adding a kind = one module with a ``KIND``, one line in ``CHECK_KINDS``, one test file, one row
in docs/playbook.md.
"""

from __future__ import annotations

from gatekeeper.checks import metric_threshold
from gatekeeper.checks.interface import CheckKind

CHECK_KINDS: dict[str, CheckKind] = {
    "metric_threshold": metric_threshold.KIND,
}
