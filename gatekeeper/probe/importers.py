"""Evidence from other load tools: a k6 end-of-test summary, or Locust's CSV statistics, read
into the probe's report type, so checks, MLflow logging and the audit treat it like a probe run.

Neither tool records when a request was *meant* to be sent, so latency is measured from the
actual send (coordinated omission not corrected) and equals the service time; each report says
so in its percentile method. Neither keeps raw buckets in these files, so the latency histogram
is empty and such reports cannot be merged.

A rate counts as held only against a stated target: ``target_rps`` (all endpoint types
together; each type's share follows its request count). Without one, ``held_target_rate`` is
False and the evidence is ``error``, never a pass: a load test at an unknown rate proves nothing
about the rate a check is written for.
"""

from __future__ import annotations

import csv
import importlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from gatekeeper.errors import InvalidInputError, Problem
from gatekeeper.load.yamlsrc import Document, Loc, read_document
from gatekeeper.probe.engine import StatusClass
from gatekeeper.probe.histogram import Histogram
from gatekeeper.probe.report import EndpointReport, HoldPolicy, Percentiles, ProbeReport

UNCLASSIFIED = "unclassified"
ERROR_CLASSES = (*(c.value for c in StatusClass if c is not StatusClass.OK), UNCLASSIFIED)
# Labels gatekeeper's locustfile puts in front of an endpoint name in Locust's statistics.
WARMUP_MARK = "[warm-up] "
FAILED_MARK = "[failed] "
NOT_CORRECTED = "latency from the actual send: coordinated omission NOT corrected"
K6_METHOD = f"k6 Trend percentiles of http_req_duration, as exported by k6; {NOT_CORRECTED}"
LOCUST_METHOD = f"Locust response-time percentiles, rounded by Locust; {NOT_CORRECTED}"
K6_HINT = ("export the summary with `k6 run --summary-export FILE` or write "
           "JSON.stringify(data) from handleSummary(data)")
LOCUST_HINT = "give the prefix passed to `locust --csv PREFIX` (PREFIX_stats.csv is read)"


@dataclass(frozen=True)
class SourcedEndpointReport(EndpointReport):
    """An endpoint report measured by another tool, stating that tool's percentile method."""

    percentile_method: str = ""

    def to_dict(self) -> dict[str, Any]:
        """As ``EndpointReport.to_dict``, with this report's own percentile method."""
        return {**super().to_dict(), "percentile_method": self.percentile_method}


@dataclass(frozen=True)
class Tally:
    """What another tool reported for one endpoint type, before it becomes a report."""

    endpoint: str
    latency: Percentiles
    requests: int
    errors: Mapping[str, int]
    method: str
    warmup_excluded: int = 0
    lagging_share: float = math.nan  # NaN: the tool does not say how late it sent


def build_report(tallies: Iterable[Tally], span_s: float, targets: Mapping[str, float],
                 policy: HoldPolicy, url: str, method: str) -> ProbeReport:
    """One report per tally, in name order; ``span_s`` is the measured time span and
    ``targets`` the target rate of each endpoint type (absent: unknown)."""
    ordered = sorted(tallies, key=lambda t: t.endpoint)
    endpoints = tuple(endpoint_report(t, span_s, targets.get(t.endpoint, math.nan), policy)
                      for t in ordered)
    return ProbeReport(url, endpoints, method)


def shares(tallies: Sequence[Tally], target_rps: float | None) -> dict[str, float]:
    """A stated total target split by request counts: each type then holds exactly when the
    whole run does, the most a file without the plan can tell."""
    total = sum(t.requests for t in tallies)
    if target_rps is None or total == 0:
        return {}
    return {t.endpoint: target_rps * t.requests / total for t in tallies}


def endpoint_report(tally: Tally, span_s: float, target_rps: float, policy: HoldPolicy
                    ) -> SourcedEndpointReport:
    """The report of one tally; service time equals latency (see the module docstring)."""
    achieved = tally.requests / span_s if span_s > 0 else 0.0
    failures = sum(tally.errors.values())
    return SourcedEndpointReport(
        tally.endpoint, tally.latency, tally.latency, Histogram(), tally.requests - failures,
        tally.requests, tally.warmup_excluded, dict(tally.errors), target_rps, achieved,
        tally.lagging_share, is_held(tally, achieved, target_rps, policy), tally.method)


def is_held(tally: Tally, achieved: float, target_rps: float, policy: HoldPolicy) -> bool:
    """Held: a known target met within the policy, and any lag the tool reports within it."""
    if tally.requests == 0 or math.isnan(target_rps):
        return False
    lag_ok = math.isnan(tally.lagging_share) or tally.lagging_share <= policy.max_lagging_share
    return lag_ok and achieved >= policy.min_rate_ratio * target_rps


def error_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """Every error class, zero included, so reports from one source line up."""
    return {name: counts.get(name, 0) for name in ERROR_CLASSES}


def percentiles_ms(values: Mapping[str, float]) -> Percentiles:
    """Percentiles from milliseconds keyed like ``Percentiles`` fields (missing: NaN), clamped
    to the maximum: a tool that rounds its percentiles can report one above the exact max."""
    top = values.get("max", math.nan)

    def seconds(name: str) -> float:
        value = values.get(name, math.nan)
        return (min(value, top) if math.isfinite(top) else value) / 1000

    return Percentiles(seconds("p50"), seconds("p90"), seconds("p95"), seconds("p99"),
                       seconds("p99_9"), top / 1000)


def invalid(problem: Problem, hint: str) -> InvalidInputError:
    """The one-line error for a malformed input file."""
    return InvalidInputError(str(problem), hint=hint)


# --- k6 -----------------------------------------------------------------------------------

# k6 summary statistic -> Percentiles field; statistics k6 was not asked for are NaN.
K6_STATS = {"med": "p50", "p(90)": "p90", "p(95)": "p95", "p(99)": "p99", "p(99.9)": "p99_9",
            "max": "max"}
SUBMETRIC = re.compile(r"^(?P<metric>[A-Za-z0-9_.]+)\{(?P<tags>[^{}]*)\}$")


def import_k6_summary(path: Path, *, target_rps: float | None = None, tag: str = "name",
                      policy: HoldPolicy | None = None, url: str = "") -> ProbeReport:
    """Read a k6 summary (``--summary-export`` or ``handleSummary`` data) into a report.

    Endpoint types come from submetrics tagged ``tag`` (``http_req_duration{name:predict}``
    with ``http_req_failed{name:predict}``); without any, the whole run is one type, ``all``.
    """
    summary = K6Summary.load(path)
    span_s = summary.span_s()
    tallies = [summary.tally(name, tag) for name in summary.endpoints(tag)]
    if not tallies:
        tallies = [summary.tally(None, tag)]
    return build_report(tallies, span_s, shares(tallies, target_rps), policy or HoldPolicy(),
                        url, K6_METHOD)


@dataclass(frozen=True)
class K6Summary:
    """A parsed k6 summary; every lookup reports a bad value at its key path."""

    doc: Document
    metrics: Mapping[str, Any]

    @classmethod
    def load(cls, path: Path) -> K6Summary:
        """Parse ``path`` as JSON, keeping key positions for messages."""
        doc = json_document(path)
        if not isinstance(doc.data, dict):
            raise invalid(doc.problem((), "not a k6 summary: the top level must be an object"),
                          K6_HINT)
        metrics = doc.data.get("metrics")
        if not isinstance(metrics, dict):
            raise invalid(doc.problem(("metrics",), "required, an object of k6 metrics"),
                          K6_HINT)
        return cls(doc, metrics)

    def fail(self, loc: Loc, message: str) -> InvalidInputError:
        return invalid(self.doc.problem(("metrics", *loc), message), K6_HINT)

    def values(self, name: str) -> tuple[Loc, Mapping[str, Any]] | None:
        """Where a metric's statistics are and what they are, or None when it is absent.

        ``handleSummary`` data nests them under ``values``; ``--summary-export`` (the legacy
        format) puts them on the metric itself.
        """
        metric = self.metrics.get(name)
        if metric is None:
            return None
        if not isinstance(metric, dict):
            raise self.fail((name,), "must be an object")
        if isinstance(metric.get("values"), dict):
            return (name, "values"), metric["values"]
        return (name,), metric

    def number(self, name: str, stat: str) -> float | None:
        """A finite number, or None when the metric or the statistic is absent."""
        found = self.values(name)
        if found is None or stat not in found[1]:
            return None
        value = found[1][stat]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            raise self.fail((*found[0], stat), f"must be a number, got {json.dumps(value)}")
        return float(value)

    def required(self, name: str, stat: str, why: str) -> float:
        """A number that must be there; ``why`` says what it is needed for."""
        value = self.number(name, stat)
        if value is not None:
            return value
        found = self.values(name)
        if found is None:
            raise self.fail((), f"no '{name}' metric: {why}")
        raise self.fail(found[0], f"no '{stat}': {why}")

    def span_s(self) -> float:
        """The run's length, from the request counter's count and rate (both formats have
        them)."""
        why = "needed for the run's length and rate"
        count = self.required("http_reqs", "count", why)
        rate = self.required("http_reqs", "rate", why)
        return count / rate if rate > 0 else 0.0

    def lagging_share(self) -> float:
        """Iterations an arrival-rate executor dropped (no VU free in time), as a share of all
        it planned; NaN when the summary has no iteration counts."""
        done = self.number("iterations", "count")
        dropped = self.number("dropped_iterations", "count") or 0.0
        if done is None or done + dropped == 0:
            return math.nan
        return dropped / (done + dropped)

    def endpoints(self, tag: str) -> list[str]:
        """Names of the endpoint types with a duration submetric tagged ``tag`` (and at most
        ``expected_response``; submetrics split by other tags are not endpoint types)."""
        names = set()
        for key in self.metrics:
            parsed = submetric(key)
            if (parsed and parsed[0] == "http_req_duration" and tag in parsed[1]
                    and set(parsed[1]) <= {tag, "expected_response"}):
                names.add(parsed[1][tag])
        return sorted(names)

    def find(self, metric: str, tags: Mapping[str, str]) -> str | None:
        """The key of ``metric`` with exactly ``tags`` (any order, any spacing)."""
        if not tags:
            return metric if metric in self.metrics else None
        return next((key for key in self.metrics if submetric(key) == (metric, dict(tags))),
                    None)

    def tally(self, endpoint: str | None, tag: str) -> Tally:
        """One endpoint type (None: the whole run); prefers ok-only durations when exported."""
        tags = {tag: endpoint} if endpoint is not None else {}
        ok_only = self.find("http_req_duration", {**tags, "expected_response": "true"})
        duration = ok_only or self.find("http_req_duration", tags)
        failed = self.find("http_req_failed", tags)
        label = f"{{{tag}:{endpoint}}}" if endpoint is not None else ""
        if duration is None:
            raise self.fail((), f"no 'http_req_duration{label}' metric")
        if failed is None:
            raise self.fail((), f"no 'http_req_failed{label}' metric: it gives the request and "
                            "failure counts; k6 exports a submetric only when a threshold uses "
                            f"it, e.g. 'http_req_failed{label}': ['rate>=0']")
        return self.tally_of(endpoint or "all", duration, failed, ok_only is not None)

    def tally_of(self, endpoint: str, duration: str, failed: str, ok_only: bool) -> Tally:
        why = "a Rate metric's counts of failed (passes) and other (fails) requests"
        failures = int(self.required(failed, "passes", why))
        others = int(self.required(failed, "fails", why))
        stats = {name: value for stat, name in K6_STATS.items()
                 if (value := self.number(duration, stat)) is not None}
        scope = "ok answers only" if ok_only else "failed requests included"
        return Tally(endpoint, percentiles_ms(stats), failures + others,
                     error_counts({UNCLASSIFIED: failures}), f"{K6_METHOD}; {scope}",
                     lagging_share=self.lagging_share())


def submetric(key: str) -> tuple[str, dict[str, str]] | None:
    """``http_req_duration{name:predict, expected_response:true}`` -> metric and tags."""
    match = SUBMETRIC.match(key)
    if not match:
        return None
    tags = {}
    for part in match["tags"].split(","):
        name, sep, value = part.partition(":")
        if not sep:
            return None
        tags[name.strip()] = value.strip()
    return match["metric"], tags


def json_document(path: Path) -> Document:
    """JSON data, with the line and column of every key when YAML (a superset of JSON) can
    tell them; values always come from the JSON parser (YAML 1.1 reads ``1e3`` as a string)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise invalid(Problem(str(path), 1, 1, "", f"cannot read: {exc}"), K6_HINT) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise invalid(Problem(str(path), exc.lineno, exc.colno, "", f"invalid JSON: {exc.msg}"),
                      K6_HINT) from exc
    try:
        located, _ = read_document(path)
    except yaml.YAMLError:
        located = None
    marks = located.marks if located is not None else {}
    return Document(str(path), data, marks, text)


# --- Locust -------------------------------------------------------------------------------

STATS_COLUMNS = ("Type", "Name", "Request Count", "Failure Count", "Requests/s", "50%", "90%",
                 "95%", "99%", "99.9%", "Max Response Time")
FAILURE_COLUMNS = ("Method", "Name", "Error", "Occurrences")
# Locust percentile column -> Percentiles field; the maximum comes from the exact column.
LOCUST_PERCENTILES = {"50%": "p50", "90%": "p90", "95%": "p95", "99%": "p99", "99.9%": "p99_9",
                      "Max Response Time": "max"}
AGGREGATED = "Aggregated"


def import_locust_csv(path_prefix: Path, *, target_rps: float | None = None,
                      policy: HoldPolicy | None = None, url: str = "") -> ProbeReport:
    """Read ``PREFIX_stats.csv`` (and ``PREFIX_failures.csv`` when present) into a report.

    Endpoint types are Locust's request names. Locust's percentiles include failed requests.
    """
    method = f"{LOCUST_METHOD}; failed requests included"
    tallies, span_s = read_locust_csv(path_prefix, method)
    return build_report(tallies, span_s, shares(tallies, target_rps), policy or HoldPolicy(),
                        url, method)


def read_locust_csv(path_prefix: Path, method: str) -> tuple[list[Tally], float]:
    """Locust CSV statistics as tallies, and the run's time span (warm-up included).

    Rows labelled by gatekeeper's locustfile (``WARMUP_MARK``, ``FAILED_MARK``) count as
    warm-up and as failures of their endpoint type.
    """
    rows = read_rows(Path(f"{path_prefix}_stats.csv"), STATS_COLUMNS)
    stats = [StatsRow.of(row) for row in rows]
    total = aggregated(stats, rows)
    failures_path = Path(f"{path_prefix}_failures.csv")
    classified = (classify_failures(read_rows(failures_path, FAILURE_COLUMNS))
                  if failures_path.exists() else {})
    groups = group_rows([s for s in stats if s is not total])
    tallies = [tally_locust(name, group, classified.get(name, {}), str(failures_path), method)
               for name, group in groups.items()]
    return tallies, total.requests / total.rps if total.rps > 0 else 0.0


@dataclass(frozen=True)
class Row:
    """One CSV data row: its cells by column, and where it is."""

    file: str
    line: int
    cells: Mapping[str, str]
    columns: Sequence[str]

    def problem(self, column: str, message: str) -> InvalidInputError:
        col = self.columns.index(column) + 1 if column in self.columns else 1
        return invalid(Problem(self.file, self.line, col, column, message), LOCUST_HINT)

    def integer(self, column: str) -> int:
        text = self.cells[column]
        if not text.isdigit():
            raise self.problem(column, f"must be a whole number, got {text!r}")
        return int(text)

    def number(self, column: str, missing: str | None = None) -> float:
        """A finite number; ``missing`` is the text Locust writes for none (read as NaN)."""
        text = self.cells[column]
        if missing is not None and text == missing:
            return math.nan
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise self.problem(column, f"must be a number >= 0, got {text!r}")
        return value


def read_rows(path: Path, required: Sequence[str]) -> list[Row]:
    """The data rows of a Locust CSV file whose header has every ``required`` column."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            lines = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise invalid(Problem(str(path), 1, 1, "", f"cannot read: {exc}"), LOCUST_HINT) from exc
    if not lines:
        raise invalid(Problem(str(path), 1, 1, "", "file is empty"), LOCUST_HINT)
    header = lines[0]
    missing = [c for c in required if c not in header]
    if missing:
        raise invalid(Problem(str(path), 1, 1, "", f"missing column {missing[0]!r} (is this a "
                              "Locust --csv file?)"), LOCUST_HINT)
    return [row_of(str(path), number, header, cells)
            for number, cells in enumerate(lines[1:], start=2) if cells]


def row_of(file: str, line: int, header: Sequence[str], cells: Sequence[str]) -> Row:
    if len(cells) != len(header):
        raise invalid(Problem(file, line, 1, "", f"{len(cells)} cells, the header has "
                              f"{len(header)}"), LOCUST_HINT)
    return Row(file, line, dict(zip(header, cells, strict=True)), header)


@dataclass(frozen=True)
class StatsRow:
    """One request name of ``_stats.csv``."""

    row: Row
    method: str
    name: str
    requests: int
    failures: int
    rps: float
    latency: Percentiles

    @classmethod
    def of(cls, row: Row) -> StatsRow:
        requests = row.integer("Request Count")
        failures = row.integer("Failure Count")
        if failures > requests:
            raise row.problem("Failure Count", f"{failures} failures of {requests} requests")
        values = {name: row.number(column, missing="N/A")
                  for column, name in LOCUST_PERCENTILES.items()}
        latency = percentiles_ms(values) if requests else percentiles_ms({})
        return cls(row, row.cells["Type"], row.cells["Name"], requests, failures,
                   row.number("Requests/s"), latency)


def aggregated(stats: Sequence[StatsRow], rows: Sequence[Row]) -> StatsRow:
    """Locust's total row (no type, named Aggregated), which gives the run's time span."""
    total = next((s for s in stats if s.method == "" and s.name == AGGREGATED), None)
    if total is None:
        last = rows[-1] if rows else None
        file = last.file if last else "?"
        raise invalid(Problem(file, last.line if last else 1, 1, "", "no 'Aggregated' row: "
                              "Locust writes it last"), LOCUST_HINT)
    return total


@dataclass
class Group:
    """The rows of one endpoint type: measured answers, labelled failures, warm-up."""

    measured: StatsRow | None = None
    failed: StatsRow | None = None
    warmup: list[StatsRow] = field(default_factory=list)


def group_rows(stats: Iterable[StatsRow]) -> dict[str, Group]:
    """Rows by endpoint type; two measured rows of one type (two methods) cannot be
    combined, because percentiles do not add up."""
    groups: dict[str, Group] = {}
    for stat in stats:
        kind, name = split_label(stat.name)
        group = groups.setdefault(name, Group())
        if kind == "warmup":
            group.warmup.append(stat)
            continue
        earlier = group.measured if kind == "measured" else group.failed
        if earlier is not None:
            raise stat.row.problem("Name", f"{name!r} also has a {earlier.method} row (line "
                                   f"{earlier.row.line}): percentiles of two rows cannot be "
                                   "combined; give each method its own name")
        if kind == "measured":
            group.measured = stat
        else:
            group.failed = stat
    return groups


def split_label(name: str) -> tuple[str, str]:
    """(``measured``|``failed``|``warmup``, endpoint type) of a Locust request name."""
    for kind, mark in (("warmup", WARMUP_MARK), ("failed", FAILED_MARK)):
        if name.startswith(mark):
            return kind, name[len(mark):]
    return "measured", name


def tally_locust(name: str, group: Group, classified: Mapping[str, int], failures_file: str,
                 method: str) -> Tally:
    """One endpoint type; failures Locust's error report could not place are unclassified."""
    rows = [r for r in (group.measured, group.failed) if r is not None]
    requests = sum(r.requests for r in rows)
    failures = sum(r.failures for r in rows)
    known = sum(classified.values())
    if known > failures:
        raise invalid(Problem(failures_file, 1, 1, "", f"lists {known} failures of {name!r}, "
                              f"the stats file {failures}: are both from one run?"), LOCUST_HINT)
    latency = group.measured.latency if group.measured else percentiles_ms({})
    unplaced = classified.get(UNCLASSIFIED, 0) + failures - known
    errors = error_counts({**classified, UNCLASSIFIED: unplaced})
    return Tally(name, latency, requests, errors, method,
                 warmup_excluded=sum(r.requests for r in group.warmup))


def classify_failures(rows: Iterable[Row]) -> dict[str, dict[str, int]]:
    """Failure occurrences by endpoint type and error class (warm-up rows left out)."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        kind, name = split_label(row.cells["Name"])
        if kind == "warmup":
            continue
        error_class = classify_error(row.cells["Error"])
        by_class = counts.setdefault(name, {})
        by_class[error_class] = by_class.get(error_class, 0) + row.integer("Occurrences")
    return counts


# gatekeeper's locustfile reports failures as CatchResponseError('<class>').
OWN_CLASS = re.compile(r"^CatchResponseError\('(timeout|5xx|4xx|connection)'\)$")
# FastHttpUser: BadStatusCode(..., code=503); HttpUser: HTTPError('503 Server Error: ...').
STATUS = re.compile(r"code=(\d{3})\b|\b(\d{3}) (?:Server|Client) Error")
TIMEOUT = re.compile(r"time(?:d )?out", re.IGNORECASE)
CONNECTION = re.compile(r"connect|refused|reset|disconnect|broken pipe|eof|closed",
                        re.IGNORECASE)


def classify_error(message: str) -> str:
    """The error class of a Locust failure message, as far as the message tells it."""
    if own := OWN_CLASS.match(message):
        return own[1]
    if status := STATUS.search(message):
        code = int(status[1] or status[2])
        return "5xx" if code >= 500 else "4xx"
    if TIMEOUT.search(message):
        return "timeout"
    if CONNECTION.search(message):
        return "connection"
    return UNCLASSIFIED


class Importer(Protocol):
    """Read another tool's results at ``path`` into a report labelled ``url``."""

    def __call__(self, path: Path, /, *, target_rps: float | None = None,
                 policy: HoldPolicy | None = None, url: str = "") -> ProbeReport: ...


def llm_importer(module: str) -> Importer:
    """The ``import_<module>`` of ``gatekeeper.probe.llm_import.<module>``, imported when
    called: those modules build on this one's helpers."""

    def run(path: Path, /, *, target_rps: float | None = None,
            policy: HoldPolicy | None = None, url: str = "") -> ProbeReport:
        found = importlib.import_module(f"gatekeeper.probe.llm_import.{module}")
        read: Importer = getattr(found, f"import_{module}")
        return read(path, target_rps=target_rps, policy=policy, url=url)

    return run


ImportKind = Literal["k6", "locust", "aiperf", "guidellm", "vllm-bench", "inference-perf"]

IMPORTERS: dict[ImportKind, Importer] = {
    "k6": import_k6_summary,
    "locust": import_locust_csv,
    "aiperf": llm_importer("aiperf"),  # also GenAI-Perf's profile_export_genai_perf.json
    "guidellm": llm_importer("guidellm"),
    "vllm-bench": llm_importer("vllm_bench"),
    "inference-perf": llm_importer("inference_perf"),
}
