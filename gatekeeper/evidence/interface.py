"""Evidence data types and the interface every evidence source implements.

Checks are pure functions of their parameters and an :class:`Evidence`; only sources do I/O.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatekeeper.errors import InfrastructureError

#: The model version tag that links a version to its latest usable ``gatekeeper probe`` run,
#: whatever its profile (kept for playbooks written before profiles existed).
PROBE_RUN_TAG = "gatekeeper.probe.run_id"
#: The run tag naming a probe run's profile (``steady``, ``capacity``, ``cache-proof``, ...).
PROBE_PROFILE_TAG = "gatekeeper.probe.profile"
#: Probe-run metric: 1 when the probe held its target rate, 0 when it fell behind (then its
#: latencies understate the truth and are not evidence).
PROBE_HELD_METRIC = "probe.held_target_rate"
#: Probe-run metric: 1 when the probe judged its run usable evidence (rate held, enough
#: samples, errors within bounds), 0 when not. Runs logged before it existed lack it.
PROBE_USABLE_METRIC = "probe.usable"
#: What a profile name may be: it becomes part of a tag name.
PROFILE_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
#: The profiles ``gatekeeper probe`` names its runs by, unless ``--profile`` says otherwise:
#: a plain run at a steady rate (or an imported one), ``--find-capacity``, ``--cache-proof``.
STEADY_PROFILE = "steady"
CAPACITY_PROFILE = "capacity"
CACHE_PROOF_PROFILE = "cache-proof"


def profile_tag(profile: str) -> str:
    """The model version tag linking a version to the latest usable run of ``profile``."""
    return f"gatekeeper.probe.{profile}.run_id"


@dataclass(frozen=True)
class LinkedRun:
    """A probe run a version tag names: its id, metrics and params (empty when it no longer
    exists); the params hold an LLM run's workload fingerprint (``probe.workload.*``)."""

    run_id: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict, compare=False)


class EvidenceSourceError(InfrastructureError):
    """A source could not be read (unreachable server, timeout, ...): no verdict."""


@dataclass(frozen=True)
class ModelInfo:
    """What the logged MLflow model declares about itself (from its MLmodel file)."""

    uri: str
    flavors: tuple[str, ...]
    has_signature: bool
    has_input_example: bool


@dataclass(frozen=True)
class VersionEvidence:
    """One registered model version and its source run, as read from the registry.

    ``artifacts`` is ``None`` when artifacts were not listed (no check needed them), and
    ``model`` is ``None`` when the version has no readable MLflow model. ``probe_run_id`` is
    the run the version's ``PROBE_RUN_TAG`` names; ``probe_metrics`` are that run's metrics
    (empty when the tag is not set or the run no longer exists). ``probe_runs`` holds the run
    each profile's tag (:func:`profile_tag`) names, by profile.
    """

    name: str
    version: str
    run_id: str | None
    source: str
    tracking_uri: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    version_tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    run_tags: Mapping[str, str] = field(default_factory=dict)
    artifacts: frozenset[str] | None = None
    model: ModelInfo | None = None
    probe_run_id: str | None = None
    probe_metrics: Mapping[str, float] = field(default_factory=dict)
    probe_runs: Mapping[str, LinkedRun] = field(default_factory=dict)

    def ref(self, section: str, key: str) -> str:
        """A stable pointer to one piece of evidence, cited in results and audit records."""
        if section in {"metrics", "params", "tags"} and self.run_id:
            return f"mlflow:runs/{self.run_id}/{section}/{key}"
        return f"mlflow:models/{self.name}/{self.version}/{section}/{key}"

    def source_run(self) -> RunMetrics:
        """The metrics of the version's source run."""
        label = f"run {self.run_id}" if self.run_id else f"v{self.version} (no source run)"
        return RunMetrics(label, self.metrics, self.ref("metrics", "{key}"), run_id=self.run_id)

    def probe_run(self, profile: str | None = None) -> RunMetrics:
        """The metrics of the probe run linked to the version: the latest usable run of
        ``profile`` (its :func:`profile_tag`), or with None the one ``PROBE_RUN_TAG`` names."""
        tag = PROBE_RUN_TAG if profile is None else profile_tag(profile)
        linked = (self.probe_runs.get(profile) if profile is not None else
                  None if self.probe_run_id is None else
                  LinkedRun(self.probe_run_id, self.probe_metrics))
        shown = "" if profile is None else f", profile {profile}"
        if linked is None:
            return RunMetrics(f"v{self.version} (no probe run linked{shown})", {},
                              self.ref("version_tags", tag), probe=True, linked=False,
                              tag=tag, profile=profile)
        return RunMetrics(f"probe run {linked.run_id}{shown}", linked.metrics,
                          f"mlflow:runs/{linked.run_id}/metrics/{{key}}", probe=True,
                          tag=tag, profile=profile, run_id=linked.run_id)


@dataclass(frozen=True)
class RunMetrics:
    """The metrics of one run of a version, named and cited the same way by every check."""

    label: str  # how messages name the run: "run r4", "probe run p9", ...
    metrics: Mapping[str, float]
    ref_template: str  # a metric's ref, "{key}" standing for its name
    probe: bool = False
    linked: bool = True
    tag: str = PROBE_RUN_TAG  # the version tag that linked a probe run
    profile: str | None = None  # the probe profile read (None: the PROBE_RUN_TAG link)
    run_id: str | None = None

    def ref(self, key: str) -> str:
        """Where metric ``key`` is (or would be) recorded."""
        return self.ref_template.replace("{key}", key)

    def unusable(self) -> str | None:
        """Why this run's measurements are no evidence at all, or None when they may be judged.

        A source run is judged metric by metric. A probe run counts only when it is linked,
        exists, held its target rate (a load generator that fell behind sent less load than
        asked and reports better latency than the truth), and was not judged unusable by the
        probe itself (too few samples, too many errors: ``PROBE_USABLE_METRIC``, when logged).
        """
        if not self.probe:
            return None
        if not self.linked:
            return f"{self.label}: version tag {self.tag} is not set"
        held = self.metrics.get(PROBE_HELD_METRIC)
        if held is None:
            return f"metric '{PROBE_HELD_METRIC}' not found on {self.label}"
        if held != 1:
            return f"probe did not hold its target rate ({self.label})"
        if self.metrics.get(PROBE_USABLE_METRIC, 1.0) != 1:
            return f"the probe judged its evidence not usable ({self.label})"
        return None


@dataclass(frozen=True)
class Evidence:
    """Everything checks may look at for one evaluation."""

    candidate: VersionEvidence
    baselines: Mapping[str, VersionEvidence | None] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def baseline(self, alias: str) -> VersionEvidence | None:
        """The version ``alias`` pointed to when evidence was collected, or None if unset."""
        return self.baselines.get(alias)


@dataclass(frozen=True)
class ExternalQuery:
    """One question for an evidence source other than the registry (e.g. a PromQL query).

    Asked before any check runs (see :mod:`gatekeeper.evidence.external`); the answer lands in
    ``Evidence.extra[key]``. ``params`` is a tuple of pairs so the query stays hashable.
    """

    source: str
    key: str
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name)


@dataclass(frozen=True)
class ScanQuery:
    """One scanner run a check asks for (see :mod:`gatekeeper.evidence.scanners`); the report
    lands in ``Evidence.extra[query.key]``. Two checks asking the same share one run."""

    scanner: str
    params: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        args = ",".join(f"{k}={v}" for k, v in self.params)
        return f"scan:{self.scanner}({args})"

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name)


@dataclass(frozen=True)
class EvidenceRequest:
    """What the checks of one milestone need, so a source reads no more than that."""

    baseline_aliases: frozenset[str] = frozenset()
    artifacts: bool = False
    model_info: bool = False
    external: frozenset[ExternalQuery] = frozenset()
    scans: frozenset[ScanQuery] = frozenset()
    #: Run artifacts and tags whose content a check relies on: the record keeps their
    #: digests and values (see :mod:`gatekeeper.evidence.digests`).
    read_artifacts: frozenset[str] = frozenset()
    read_tags: frozenset[str] = frozenset()

    def merge(self, other: EvidenceRequest) -> EvidenceRequest:
        return EvidenceRequest(
            baseline_aliases=self.baseline_aliases | other.baseline_aliases,
            artifacts=self.artifacts or other.artifacts,
            model_info=self.model_info or other.model_info,
            external=self.external | other.external,
            scans=self.scans | other.scans,
            read_artifacts=self.read_artifacts | other.read_artifacts,
            read_tags=self.read_tags | other.read_tags,
        )


class EvidenceSource(abc.ABC):
    """Reads model versions and their evidence from a registry."""

    @abc.abstractmethod
    def resolve_version(self, name: str, version: str | None, alias: str | None) -> str:
        """Return the version number for ``version`` or ``alias``; InvalidInputError if unknown."""

    @abc.abstractmethod
    def collect(self, name: str, version: str, request: EvidenceRequest) -> Evidence:
        """Read the candidate, and each baseline alias asked for, in one go.

        A baseline alias that is not set maps to ``None``; an unknown model or version raises
        InvalidInputError; an unreachable registry raises EvidenceSourceError.
        """

    def fetch_files(self, version: VersionEvidence, dest: Path) -> tuple[Path | None,
                                                                         Path | None]:
        """Copy ``version``'s model files and its source run's artifacts under ``dest``, for
        the scanners; return the two folders (None where there is nothing). Raises
        EvidenceSourceError when they cannot be read."""
        raise EvidenceSourceError(f"{type(self).__name__} cannot copy a version's files")

    def file_sizes(self, version: VersionEvidence, where: str) -> dict[str, int] | None:
        """The files at ``where`` (``MODEL_FILES``: the version's model files; else an artifact
        path of its source run, a file or a folder) as relative path -> bytes, listed without
        downloading; None when nothing is there. Raises EvidenceSourceError."""
        raise EvidenceSourceError(f"{type(self).__name__} cannot list a version's files")

    def download(self, version: VersionEvidence, where: str, dest: Path) -> Path | None:
        """Copy what is at ``where`` (as for :meth:`file_sizes`) under ``dest``; return the
        local file or folder, None when nothing is there. Raises EvidenceSourceError."""
        raise EvidenceSourceError(f"{type(self).__name__} cannot copy a version's files")


#: ``where`` of :meth:`EvidenceSource.file_sizes` naming the version's model files.
MODEL_FILES = ":model:"
