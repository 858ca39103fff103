"""A starting playbook for a registered model, from what one version's run logged.

Pure: it reads a :class:`VersionEvidence` (collected by the MLflow source) and returns YAML
text, written here line by line so every check keeps the comment that says what to decide.
Thresholds start just loose enough for the version it was made from, so the team tightens
them on purpose; where nothing was logged, the check asks for the usual evidence and errors
(fails closed) until it exists.

    text = scaffold_playbook(evidence.candidate, champion=evidence.baseline("champion"))
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from gatekeeper.decide.remedy import plain_number
from gatekeeper.evidence.interface import VersionEvidence

CHAMPION = "champion"
#: Metric names that measure quality, higher is better / lower is better.
HIGHER = re.compile(r"(accuracy|acc$|f1|auc|precision|recall|r2|roc|ndcg|map@|bleu|rouge|"
                    r"score|iou|dice|hit_rate)", re.IGNORECASE)
LOWER = re.compile(r"(loss|error|rmse|mae|mse|mape|perplexity|wer|cer)", re.IGNORECASE)
#: Prefixes of metrics that are not model quality (measured elsewhere in the playbook).
NOT_QUALITY = ("latency.", "throughput", "probe.", "pilot.", "system/", "cost", "security.",
               "privacy.", "response_bytes", "cache.", "errors.")
LATENCY = re.compile(r"latency\.(?P<endpoint>[A-Za-z0-9_.-]+?)\.p(?P<p>95|99)_ms")
#: Tags that record governance evidence, when a version or its run carries them.
GOVERNANCE_TAGS = ("data_classification", "owner", "approved_by", "risk_tier", "license",
                   "intended_use", "pii")
MODEL_CARD = re.compile(r"(^|/)model[_-]?card[^/]*$", re.IGNORECASE)
THROUGHPUT = "throughput_rps"
#: The placeholder price of one replica, per hour, until the team writes its own.
PLACEHOLDER_PRICE = 1.0
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./@-]*")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


@dataclass
class Check:
    """One check: the comment above it, then its keys in the order they are written."""

    comment: list[str]
    fields: list[tuple[str, str]] = field(default_factory=list)


def scaffold_playbook(version: VersionEvidence, champion: VersionEvidence | None) -> str:
    """The playbook text for ``version``'s model, with the poc, serve and pilot milestones."""
    ids: set[str] = set()
    cost = THROUGHPUT in version.metrics
    lines = _header(version, champion, cost)
    milestones = (("poc", "POC validation", "poc-validated", _poc(version, champion, ids)),
                  ("serve", "Production-ready serve layer", "serve-ready",
                   _serve(version, ids)),
                  ("pilot", "Pilot with real user traffic", CHAMPION, _pilot(version, ids)))
    lines.append("milestones:")
    for stage, title, alias, checks in milestones:
        lines += _milestone(stage, title, alias, checks)
    return "\n".join(lines) + "\n"


def _header(version: VersionEvidence, champion: VersionEvidence | None, cost: bool
            ) -> list[str]:
    run = f"run {version.run_id}" if version.run_id else "no source run"
    lines = [f"# Starting playbook for {version.name}, written by `gatekeeper init` from version "
             f"{version.version} ({run}).",
             "# Every threshold below was set from what that version logged: each `DECIDE:` "
             "comment says",
             "# what your team must choose before this gate means anything. Then run "
             "`gatekeeper validate`.",
             f"model: {scalar(version.name)}"]
    if champion is not None:
        lines += [f"# DECIDE: candidates are compared with the version behind this alias "
                  f"(now version {champion.version}).",
                  f"baseline: {CHAMPION}"]
    lines += ["# DECIDE: who answers for each part of the gate (checks name these roles).",
              "owners:",
              f"  product: {scalar(_owner(version, 'product'))}",
              f"  platform: {scalar(_owner(version, 'platform'))}",
              f"  data_science: {scalar(_owner(version, 'data_science'))}"]
    if cost:
        lines += ["# DECIDE: the prices of one serving replica; the hardware price is a "
                  "placeholder.",
                  "cost_model:",
                  "  currency: USD               # DECIDE: the ISO 4217 code of your prices",
                  f"  hardware_per_hour: {plain_number(PLACEHOLDER_PRICE)}     # DECIDE: your "
                  "instance's hourly price",
                  "  operations_overhead: 0.15  # DECIDE: monitoring, on-call, ... as a "
                  "fraction"]
    return lines


def _owner(version: VersionEvidence, role: str) -> str:
    tags = {**version.run_tags, **version.version_tags}
    return tags.get(f"owner.{role}") or tags.get("owner") or f"{role.replace('_', '-')}@example.com"


def _milestone(stage: str, title: str, alias: str, checks: list[Check]) -> list[str]:
    lines = ["", f"  - id: {stage}", f"    title: {title}", f"    stage: {stage}",
             f"    alias: {alias}", "    checks:"]
    for check in checks:
        lines += [f"      # {c}" for c in check.comment]
        first, *rest = check.fields
        lines.append(f"      - {first[0]}: {first[1]}")
        lines += [f"        {key}: {value}" for key, value in rest]
    return lines


# --- poc: quality and governance -------------------------------------------------------------

def _poc(version: VersionEvidence, champion: VersionEvidence | None,
         ids: set[str]) -> list[Check]:
    quality = sorted(quality_metrics(version.metrics).items())
    checks = [_floor(name, value, higher, version.version, ids)
              for name, (value, higher) in quality]
    if not checks:
        checks.append(_quality_placeholder(version, ids))
    if champion is not None and quality:
        checks.append(_versus_champion(quality, champion, ids))
    checks.append(_governance(version, ids))
    unjudged = sorted(set(version.metrics) - {n for n, _ in quality}
                      - {m for m in version.metrics if m.startswith(NOT_QUALITY)})
    if unjudged:
        checks[0].comment.append(f"Also logged, not gated: {', '.join(unjudged[:10])}"
                                 + (", ..." if len(unjudged) > 10 else ""))
    return checks


def quality_metrics(metrics: Mapping[str, float]) -> dict[str, tuple[float, bool]]:
    """Logged quality metrics → (value, higher is better), by their names."""
    found = {}
    for name, value in metrics.items():
        if name.startswith(NOT_QUALITY) or not math.isfinite(value):
            continue
        if LOWER.search(name):
            found[name] = (value, False)
        elif HIGHER.search(name):
            found[name] = (value, True)
    return found


def _floor(name: str, value: float, higher: bool, version: str, ids: set[str]) -> Check:
    if higher:
        bound, warn = round_down(value * 0.98), round_down(value)
        keys = [("min", plain_number(bound)), ("warn_min", plain_number(warn))]
        what = ("lowest", "min is 2% below it, warn_min at it")
    else:
        bound, warn = round_up(value * 1.02 if value else 0.001), round_up(value)
        keys = [("max", plain_number(bound)), ("warn_max", plain_number(warn))]
        what = ("highest", "max is 2% above it, warn_max at it")
    return Check([f"DECIDE: the {what[0]} {name} you would ship; version {version} logged "
                  f"{plain_number(value)}", f"({what[1]})."],
                 [("id", unique_id(f"{name}-{'floor' if higher else 'cap'}", ids)),
                  ("kind", "metric_threshold"), ("category", "quality"),
                  ("owner", "data_science"), ("key", scalar(name)), *keys])


def _quality_placeholder(version: VersionEvidence, ids: set[str]) -> Check:
    return Check([f"DECIDE: version {version.version} logged no quality metric gatekeeper "
                  "recognises; name the one you judge models by.",
                  "Until it is logged on the run this check errors (a gate never passes on "
                  "evidence it did not see)."],
                 [("id", unique_id("accuracy-floor", ids)), ("kind", "metric_threshold"),
                  ("category", "quality"), ("owner", "data_science"), ("key", "accuracy"),
                  ("min", "0.9")])


def _versus_champion(quality: list[tuple[str, tuple[float, bool]]],
                     champion: VersionEvidence, ids: set[str]) -> Check:
    name, (_, higher) = next(((n, q) for n, q in quality if q[1]), quality[0])
    base = champion.metrics.get(name)
    seen = f" (version {champion.version} logged {plain_number(base)})" if base is not None else ""
    keys = [("id", unique_id(f"{name}-vs-{CHAMPION}", ids)), ("kind", "baseline_comparison"),
            ("category", "quality"), ("owner", "data_science"), ("metric", scalar(name))]
    if not higher:
        keys.append(("greater_is_better", "false"))
    return Check([f"DECIDE: how much worse than the {CHAMPION}{seen} a candidate may be, in "
                  f"{name}'s units."],
                 [*keys, ("max_regression", "0.01"), ("on_missing_baseline", "skip")])


def _governance(version: VersionEvidence, ids: set[str]) -> Check:
    tags = sorted(t for t in {**version.run_tags, **version.version_tags}
                  if t in GOVERNANCE_TAGS)
    cards = sorted(a for a in version.artifacts or () if MODEL_CARD.search(a))
    comment = ["DECIDE: the evidence a model needs before anyone builds on it."]
    if not tags and not cards:
        tags, cards = ["data_classification"], ["model_card.md"]
        comment.append(f"Version {version.version} has neither yet: this check errors until "
                       "both are logged.")
    keys = [("id", unique_id("governance-evidence", ids)), ("kind", "required_evidence"),
            ("category", "governance"), ("owner", "product")]
    if tags:
        keys.append(("tags", flow(tags)))
    if cards:
        keys.append(("artifacts", flow(cards)))
    model = version.model
    if model is not None and model.has_signature:
        keys.append(("signature", "true"))
    if model is not None and model.has_input_example:
        keys.append(("input_example", "true"))
    if version.description.strip():
        keys.append(("version_description", "true"))
    return Check(comment, keys)


# --- serve: latency, cost, security, privacy --------------------------------------------------

def _serve(version: VersionEvidence, ids: set[str]) -> list[Check]:
    checks = [*_latency_checks(version, ids, pilot=False)]
    if THROUGHPUT in version.metrics:
        checks.append(_cost(version, ids))
    for name, value in sorted(version.metrics.items()):
        for prefix, category in (("security.", "security"), ("privacy.", "privacy")):
            if name.startswith(prefix) and math.isfinite(value):
                checks.append(_cap(name, value, category, version.version, ids))
    if not checks:
        checks.append(Check(
            [f"DECIDE: the latency you promise. Version {version.version} logged no "
             "latency.<endpoint>.p95_ms/p99_ms:",
             "run `gatekeeper probe` against its endpoint (see docs/probe.md); until then "
             "this check errors."],
            [("id", unique_id("latency-predict", ids)), ("kind", "latency"),
             ("category", "latency"), ("owner", "platform"), ("endpoint", "predict"),
             ("p95_ms", "100"), ("p99_ms", "250")]))
    return checks


def _latency_checks(version: VersionEvidence, ids: set[str], pilot: bool) -> Iterator[Check]:
    """A latency check per endpoint the source run logged (else the linked probe run)."""
    for source, metrics in (("run", version.metrics), ("probe", version.probe_metrics)):
        found = {e: v for e, v in endpoints(metrics).items() if e.startswith("pilot.") == pilot}
        if found:
            for endpoint, values in sorted(found.items()):
                yield _latency(version.version, endpoint, values, source, ids)
            return


def _latency(version: str, endpoint: str, values: Mapping[str, float], source: str,
             ids: set[str]) -> Check:
    keys = [("id", unique_id(f"latency-{endpoint}", ids)), ("kind", "latency"),
            ("category", "latency"), ("owner", "platform"), ("endpoint", scalar(endpoint))]
    keys += [(f"p{p}_ms", plain_number(round_up(v * 1.25))) for p, v in values.items()]
    if source == "probe":
        keys.append(("source", "probe"))
    logged = ", ".join(f"p{p} {plain_number(v)} ms" for p, v in values.items())
    return Check([f"DECIDE: your latency objective for {endpoint}; version {version} logged "
                  f"{logged} ({source}), the limits are 25% above."], keys)


def endpoints(metrics: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """``latency.<endpoint>.p95_ms`` / ``p99_ms`` metrics → {endpoint: {"95": v, "99": v}}."""
    found: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        match = LATENCY.fullmatch(name)
        if match and math.isfinite(value) and value > 0:
            found.setdefault(match["endpoint"], {})[match["p"]] = value
    return {e: dict(sorted(v.items())) for e, v in found.items()}


def _cost(version: VersionEvidence, ids: set[str]) -> Check:
    from gatekeeper.load.costmodel import CostModel, cost_per_1k

    rps = version.metrics[THROUGHPUT]
    model = CostModel(hardware_per_hour=PLACEHOLDER_PRICE, operations_overhead=0.15)
    cost = cost_per_1k(model, rps).total if rps > 0 else 0.001
    budget = round_up(cost * 1.5)
    return Check([f"DECIDE: your budget per 1,000 inferences. Version {version.version} "
                  f"logged {THROUGHPUT} = {plain_number(rps)}; at the placeholder price",
                  f"that costs {plain_number(cost)}: set cost_model's price above, then the "
                  "budget.",
                  "DECIDE: priced at the rate the run logged (price_at: offered); once "
                  "`gatekeeper probe",
                  "--find-capacity` has measured the capacity at your SLO, drop price_at to "
                  "price that."],
                 [("id", unique_id("cost-per-1k", ids)), ("kind", "cost"), ("category", "cost"),
                  ("owner", "platform"), ("price_at", "offered"), ("throughput_metric", THROUGHPUT),
                  ("budget_per_1k", plain_number(budget))])


def _cap(name: str, value: float, category: str, version: str, ids: set[str]) -> Check:
    return Check([f"DECIDE: the most {name} you accept; version {version} logged "
                  f"{plain_number(value)}."],
                 [("id", unique_id(name.split(".", 1)[1], ids)), ("kind", "metric_threshold"),
                  ("category", category), ("owner", "platform"), ("key", scalar(name)),
                  ("max", plain_number(value))])


# --- pilot: live traffic and sign-off --------------------------------------------------------

def _pilot(version: VersionEvidence, ids: set[str]) -> list[Check]:
    checks = list(_latency_checks(version, ids, pilot=True))
    rate = version.metrics.get("pilot.error_rate")
    if rate is not None and math.isfinite(rate):
        checks.append(Check([f"DECIDE: the error rate the pilot may show; version "
                             f"{version.version} logged {plain_number(rate)}."],
                            [("id", unique_id("pilot-error-rate", ids)),
                             ("kind", "metric_threshold"), ("category", "latency"),
                             ("owner", "platform"), ("key", "pilot.error_rate"),
                             ("max", plain_number(max(round_up(rate * 1.5), 0.01)))]))
    checks.append(Check(["DECIDE: who signs the pilot off. A pilot is best gated on live "
                         "traffic too: add pilot_slo and",
                         "ab_comparison checks (docs/pilot.md). This check errors until the "
                         "approved_by tag is set."],
                        [("id", unique_id("pilot-approval", ids)),
                         ("kind", "required_evidence"), ("category", "governance"),
                         ("owner", "product"), ("tags", flow(["approved_by"]))]))
    return checks


# --- writing YAML by hand ---------------------------------------------------------------------

def scalar(text: str) -> str:
    """``text`` as a YAML scalar that reads back as this exact string (JSON quoting, which
    YAML's double quotes accept, when plain text could be read as something else)."""
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    return json.dumps(text, ensure_ascii=False)


def flow(items: Iterable[str]) -> str:
    return "[" + ", ".join(scalar(i) for i in items) + "]"


def unique_id(text: str, ids: set[str]) -> str:
    """A check id (``^[a-z0-9][a-z0-9_.-]*$``) from ``text``, unique among ``ids``."""
    base = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-._") or "check"
    if not base[0].isalnum():
        base = "c" + base
    candidate, n = base, 2
    while candidate in ids:
        candidate, n = f"{base}-{n}", n + 1
    ids.add(candidate)
    return candidate


def round_down(value: float) -> float:
    """Down to 3 significant digits: a floor the logged value still meets."""
    return _round(value, lambda x: math.floor(x + 1e-9))


def round_up(value: float) -> float:
    """Up to 3 significant digits: a cap the logged value still meets."""
    return _round(value, lambda x: math.ceil(x - 1e-9))


def _round(value: float, how: Callable[[float], int]) -> float:
    if value == 0 or not math.isfinite(value):
        return 0.0
    scale = 10.0 ** (2 - math.floor(math.log10(abs(value))))
    return how(value * scale) / scale
