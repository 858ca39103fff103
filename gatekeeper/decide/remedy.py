"""One line on what to do about a check that blocks or warns: which evidence is missing and
how it is usually added, or which threshold was crossed and by how much.

Pure: it reads the check's own result (status, observed, threshold, evidence), so every output
format shows the same advice and a stored result can be re-rendered with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from gatekeeper.evaluate.interface import Status

#: Where evidence lives (``EvidenceRef`` strings) → how a team usually adds it.
_HOW = (
    (re.compile(r"metrics/(?P<key>capacity[^/]*)$"),
     "find the capacity at the SLO with `gatekeeper probe --find-capacity --model M --version V` "
     "(or set price_at: offered to price the probe's own rate)"),
    (re.compile(r"metrics/(?P<key>(latency|throughput|errors?|probe|cache)[^/]*)$"),
     "probe the endpoint with `gatekeeper probe --model M --version V` (or log metric '{key}')"),
    (re.compile(r"metrics/(?P<key>[^/]+)$"),
     "log metric '{key}' on the version's run (mlflow.log_metric)"),
    (re.compile(r"version_tags/(?P<key>[^/]+)$"),
     "set tag '{key}' on the model version (MlflowClient().set_model_version_tag)"),
    (re.compile(r"tags/(?P<key>[^/]+)$"),
     "set tag '{key}' on the version's run (mlflow.set_tag)"),
    (re.compile(r"params/(?P<key>[^/]+)$"),
     "log param '{key}' on the version's run (mlflow.log_param)"),
    (re.compile(r"artifacts/(?P<key>.+)$"),
     "log artifact '{key}' with the model (mlflow.log_artifact)"),
    (re.compile(r"aliases/(?P<key>[^/]+)$"),
     "point alias '{key}' at the version to compare against"),
)

#: Threshold keys that are lower bounds; every other numeric key is an upper bound.
_LOWER = re.compile(r"^(min|.*_min|min_.*)$")
#: Keys that describe a threshold rather than bound a value.
_NOT_A_BOUND = re.compile(r"^warn_|_alias$|_version$|^greater_is_better$|^cost_model$")


def remedy(status: Status, observed: Any, threshold: Any,
           evidence: Mapping[str, str], kind: str) -> str | None:
    """What to do, or None for a check that needs nothing (pass, skip, waived)."""
    if status in (Status.PASS, Status.SKIP, Status.WAIVED):
        return None
    if kind == "prerequisite":
        return ("gate the earlier milestones for this version first (`gatekeeper check "
                "--milestone <earlier>`), under this playbook and these policies")
    missing = _missing_refs(observed, evidence)
    if missing:
        return "add the missing evidence: " + "; ".join(how_to_add(ref) for ref in missing[:3])
    crossed = list(_crossings(observed, threshold))
    if crossed:
        return "; ".join(crossed[:3])
    if status is Status.ERROR:
        return "the check could not be evaluated: fix the cause above and run the check again"
    return None


def how_to_add(ref: str) -> str:
    for pattern, how in _HOW:
        found = pattern.search(ref)
        if found:
            return how.format(key=found.group("key"))
    return f"provide {ref}"


def _missing_refs(observed: Any, evidence: Mapping[str, str]) -> list[str]:
    if "missing" in evidence:
        return [evidence["missing"]]
    if isinstance(observed, Mapping) and observed.get("missing"):
        # required_evidence: the refs of what it looked for and did not find.
        named = {str(item) for item in observed["missing"]}
        refs = [ref for key, ref in evidence.items()
                if any(key.split(".", 1)[-1] in item for item in named)]
        return refs or sorted(named)
    return []


def _crossings(observed: Any, threshold: Any) -> Iterator[str]:
    if not isinstance(threshold, Mapping):
        return
    for key, limit in threshold.items():
        if _NOT_A_BOUND.search(str(key)) or not _is_number(limit):
            continue
        value = observed.get(key) if isinstance(observed, Mapping) else observed
        if isinstance(observed, Mapping) and value is None:
            value = observed.get("total") if key.startswith("budget") else None
        if not _is_number(value):
            continue
        lower = bool(_LOWER.match(str(key)))
        gap = (limit - value) if lower else (value - limit)
        if gap <= 0:
            continue
        relative = f" ({gap / abs(limit):.0%})" if limit else ""
        name = "observed" if key in ("min", "max") else str(key)
        side = "below the minimum" if lower else "above the limit"
        yield (f"{name} {plain_number(value)} is {plain_number(gap)}{relative} {side} "
               f"{plain_number(limit)}")


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def plain_number(value: Any) -> str:
    """A number as people write it: no scientific notation, at most 6 significant digits
    (``1.63991e-05`` → ``0.0000163991``, ``2e6`` → ``2000000``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)
                                  and abs(value) < 1e15):
        return str(int(value))
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.6g}"
    if "e" not in text:
        return text
    digits = max(0, 6 - math.floor(math.log10(abs(value))) - 1)
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")
