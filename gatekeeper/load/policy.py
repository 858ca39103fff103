"""Policies: the organisation's guardrails that every playbook must satisfy.

A policy names, per milestone stage, the categories that must be covered by a blocking check,
the check kinds that must be present, and upper limits that no playbook threshold may exceed.
Applied by ``gatekeeper validate`` and by every ``check`` and ``promote`` (no playbook can get
around them); a violation is reported at the playbook's location and names the policy's line.
Its ``changes`` section names the kinds of change ``gatekeeper diff`` refuses (exit 1) between
two commits, such as a loosened threshold. ``protected_aliases`` names the aliases only the gate
may move (``gatekeeper status`` flags one moved by hand; a baseline behind one is checked at
``check``), and ``lineage`` the branches a version's training commit must be reachable from.

    policies = load_policies(Path("policies"))      # a file or a folder of YAML files
    problems = [p for pol in policies for p in policy_problems(pol, playbook, doc)]
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydantic
import rfc8785
from pydantic import Field, field_validator, model_validator

from gatekeeper.errors import InvalidInputError, Problem, ValidationError
from gatekeeper.evaluate.interface import Category
from gatekeeper.load.approvals import ApprovalRequirement, Role
from gatekeeper.load.governance import GovernanceRules
from gatekeeper.load.model import Milestone, Playbook, Stage
from gatekeeper.load.strict import Strict
from gatekeeper.load.yamlsrc import Document, Loc, pydantic_problems, read_document
from gatekeeper.record.approval import BadKeyError, parse_public_key

YAML_SUFFIXES = (".yaml", ".yml")
#: Where ``check`` and ``promote`` look for policies when --policies is not given.
DEFAULT_POLICIES = Path("policies")


class StageRules(Strict):
    require_categories: tuple[Category, ...] = Field(
        default=(), description="Each category needs at least one blocking check here.")
    require_kinds: tuple[str, ...] = Field(
        default=(), description="Check kinds that must appear in this milestone.")


class Limits(Strict):
    """Loosest thresholds a playbook may declare."""

    latency_p99_ms: float | None = Field(default=None, gt=0)
    latency_p95_ms: float | None = Field(default=None, gt=0)
    cost_budget_per_1k: float | None = Field(default=None, gt=0)


class ChangeKind(enum.StrEnum):
    """A change between two commits that makes a gate easier to pass (or may: ``changed_check``)."""

    LOOSENED_THRESHOLD = "loosened_threshold"
    REMOVED_CHECK = "removed_check"
    MADE_ADVISORY = "made_advisory"
    WEAKENED_MILESTONE = "weakened_milestone"
    CHANGED_CHECK = "changed_check"
    RELAXED_POLICY = "relaxed_policy"


class ChangeRules(Strict):
    forbid: tuple[ChangeKind, ...] = Field(
        default=(), description="Kinds of change `gatekeeper diff` refuses (exit 1): "
        "loosened_threshold, removed_check, made_advisory, weakened_milestone, changed_check, "
        "relaxed_policy.")


class WaiverRules(Strict):
    """What a waiver may do under this policy (docs/waivers.md); a waiver that breaks a rule
    does nothing and is reported."""

    max_days: float | None = Field(
        default=None, gt=0, description="Longest a waiver may run, from granted to expires.")
    forbid_categories: tuple[Category, ...] = Field(
        default=(), description="Categories whose failing checks no waiver may cover.")


class LineageRules(Strict):
    """Where a gated version's training commit (run tag ``mlflow.source.git.commit``) must
    come from: the playbook's git repository, reachable from one of these branches."""

    branches: tuple[str, ...] = Field(
        min_length=1, description="Branch names or globs (release/*); a remote-tracking "
        "branch counts under its name without the remote (origin/main is main).")


class ApprovalRules(Strict):
    """Who may approve, in which role, and what each stage needs (docs/approvals.md)."""

    roles: dict[str, Role] = Field(
        default_factory=dict, description="Role name → its members (identity, public_key, "
        "github).")
    stages: dict[Stage, ApprovalRequirement] = Field(
        default_factory=dict, description="Approvals every milestone of the stage needs.")
    max_days: float | None = Field(
        default=None, gt=0, description="Longest an approval may run, issued to expiry "
        "(also the default of `gatekeeper approve --expires-in`).")

    @model_validator(mode="after")
    def _known_roles(self) -> ApprovalRules:
        for stage, rule in self.stages.items():
            unknown = [r for r in rule.roles if r not in self.roles]
            if unknown:
                raise ValueError(f"stages.{stage.value} names roles this section does not "
                                 f"define: {', '.join(unknown)}")
        return self


class TrustedKey(Strict):
    """A public key whose signed attestations a later job accepts (docs/attestations.md)."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$", description="Who or what holds "
                    "the private key, e.g. ci-release (shown when an attestation counts).")
    public_key: str = Field(description="Ed25519 public key: PEM, ssh-ed25519, or the base64 "
                            "of its 32 bytes (`gatekeeper keys generate` prints it).")

    @field_validator("public_key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        try:
            parse_public_key(value)
        except BadKeyError as exc:
            raise ValueError(str(exc)) from None
        return value


class AttestationRules(Strict):
    """Whose signed attestations (MLflow version tags) count as recorded decisions when the
    audit store has none: a CI job in a fresh workspace (docs/attestations.md)."""

    trusted_keys: tuple[TrustedKey, ...] = Field(
        min_length=1, description="Public keys whose attestations count.")


class AuditRules(Strict):
    """How long audit records are kept (docs/audit.md, "What a record holds")."""

    retention_days: int = Field(
        default=183, ge=183, description="Days each audit record is kept before its sealed "
        "values may be redacted without a reason (`retain_until`); at least 183 (six months).")


class Policy(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    stages: dict[Stage, StageRules] = Field(default_factory=dict)
    limits: Limits = Limits()
    changes: ChangeRules = Field(
        default=ChangeRules(), description="What `gatekeeper diff` refuses between commits.")
    waivers: WaiverRules = Field(
        default=WaiverRules(), description="Caps on waivers: duration, forbidden categories.")
    protected_aliases: tuple[str, ...] = Field(
        default=(), description="Aliases only the gate may move (e.g. champion): `gatekeeper "
        "status` flags one pointing at a version it was not promoted to, and so does `check` "
        "when it is a baseline.")
    audit: AuditRules | None = Field(
        default=None, description="How long audit records are kept (retention_days).")
    block_on_moved_baseline: bool = Field(
        default=False, description="A baseline behind a protected alias moved outside the "
        "gate blocks `check` (fail) instead of warning.")
    lineage: LineageRules | None = Field(
        default=None, description="Branches the training commit must be reachable from.")
    data_governance: GovernanceRules | None = Field(
        default=None, description="Values allowed for the data-governance facts that "
        "required_evidence checks ask for (classification, retention, privacy review).")
    approvals: ApprovalRules | None = Field(
        default=None, description="Signed approvals: roles, their members and keys, and how "
        "many roles each stage needs.")
    attestations: AttestationRules | None = Field(
        default=None, description="Trusted keys: a verified attestation on the model version "
        "counts as a recorded decision where the audit store has none.")


#: Policy keys added after policies were in use; see ``LoadedPolicy.digest``.
LATER_SECTIONS = frozenset({"waivers", "protected_aliases", "block_on_moved_baseline",
                            "lineage", "data_governance", "approvals", "audit", "attestations"})


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy, the document it came from (for its line numbers) and its digest."""

    policy: Policy
    doc: Document
    #: Every approval role the policies loaded together define (set by ``load_policies``; a
    #: milestone may name a role of any of them). None: only this policy's own.
    known_roles: frozenset[str] | None = None

    @property
    def digest(self) -> str:
        """sha256 of the policy's parsed content: a comment edit keeps it, a rule change not.
        ``changes`` is left out: it governs ``gatekeeper diff``, not what a milestone checks,
        so editing it must not void the passes bound to this policy."""
        # Sections added later count only when written: policies without them keep the
        # digest (and the passes bound to it) they had before those sections existed.
        left_out = {"changes"} | (LATER_SECTIONS - self.policy.model_fields_set)
        content = rfc8785.dumps(self.policy.model_dump(mode="json", exclude=left_out))
        return "sha256:" + hashlib.sha256(content).hexdigest()

    def where(self, loc: Loc) -> str:
        """``policies/org.yaml:12``: the line of the rule at ``loc``."""
        return f"{self.doc.file}:{self.doc.position(loc)[0]}"


def load_policy(path: Path, display: str | None = None
                ) -> tuple[LoadedPolicy | None, list[Problem]]:
    """The policy in ``path`` (named ``display`` in problems when given) and its problems."""
    doc, problems = read_document(path, display)
    if doc is None:
        return None, problems
    try:
        return LoadedPolicy(Policy.model_validate(doc.data), doc), problems
    except pydantic.ValidationError as exc:
        return None, problems + pydantic_problems(doc, exc, Policy)


def load_policies(path: Path | None) -> tuple[LoadedPolicy, ...]:
    """The policies in ``path`` (a file or a folder); ``None`` means ``policies/`` when it
    exists, else none. Raises ValidationError with every problem found."""
    if path is None:
        if not DEFAULT_POLICIES.is_dir():
            return ()
        path = DEFAULT_POLICIES
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise InvalidInputError(f"--policies: {path}: no such file or directory")
    loaded, problems = [], []
    for file in files:
        policy, found = load_policy(file)
        problems += found
        loaded += [policy] if policy else []
    problems += role_clashes(loaded)
    if problems:
        raise ValidationError(problems)
    return together(loaded)


def policy_problems(loaded: LoadedPolicy, playbook: Playbook, doc: Document) -> Iterator[Problem]:
    """Every guardrail of ``loaded`` that ``playbook`` breaks, located in the playbook and
    naming the policy's line."""
    policy = loaded.policy
    for index, milestone in enumerate(playbook.milestones):
        rules = policy.stages.get(milestone.stage)
        loc = ("milestones", index)
        if rules:
            covered = {c.category for c in milestone.checks if c.blocking}
            rule: Loc = ("stages", milestone.stage.value)
            for category in rules.require_categories:
                if category not in covered:
                    yield doc.problem(loc, f"policy {policy.id} "
                                      f"({loaded.where((*rule, 'require_categories'))}): "
                                      f"milestone '{milestone.id}' needs a blocking "
                                      f"{category.value} check")
            kinds = {c.kind for c in milestone.checks}
            for kind in rules.require_kinds:
                if kind not in kinds:
                    yield doc.problem(loc, f"policy {policy.id} "
                                      f"({loaded.where((*rule, 'require_kinds'))}): "
                                      f"milestone '{milestone.id}' needs a check of kind {kind}")
        yield from _approval_problems(loaded, milestone, doc, loc)
        for c_index, check in enumerate(milestone.checks):
            yield from _limit_problems(loaded, check.model_dump(), doc,
                                       (*loc, "checks", c_index))


LIMITED_FIELDS = {"p99_ms": "latency_p99_ms", "p95_ms": "latency_p95_ms",
                  "budget_per_1k": "cost_budget_per_1k"}


def _limit_problems(loaded: LoadedPolicy, check: Mapping[str, object], doc: Document,
                    loc: tuple[str | int, ...]) -> Iterator[Problem]:
    policy = loaded.policy
    for field, limit_name in LIMITED_FIELDS.items():
        limit = getattr(policy.limits, limit_name)
        value = check.get(field)
        if limit is not None and isinstance(value, int | float) and value > limit:
            where = loaded.where(("limits", limit_name))
            yield doc.problem((*loc, field), f"policy {policy.id} ({where}): {field} {value:g} "
                              f"is looser than the limit {limit:g}")


def protected_aliases(policies: Sequence[LoadedPolicy]) -> dict[str, bool]:
    """Every alias some policy protects → whether a baseline moved outside the gate blocks
    (it does when any policy protecting that alias says ``block_on_moved_baseline``)."""
    found: dict[str, bool] = {}
    for loaded in policies:
        for alias in loaded.policy.protected_aliases:
            found[alias] = found.get(alias, False) or loaded.policy.block_on_moved_baseline
    return found


def governance_rules(policies: Sequence[LoadedPolicy]) -> list[GovernanceRules]:
    """The ``data_governance`` section of every policy that has one."""
    return [p.policy.data_governance for p in policies if p.policy.data_governance]


def retention_days(policies: Sequence[LoadedPolicy]) -> int:
    """How long a decision under ``policies`` is kept: the longest any policy asks for, and
    never under six months (183 days)."""
    return max((p.policy.audit.retention_days for p in policies if p.policy.audit),
               default=AuditRules().retention_days)


def lineage_rules(policies: Sequence[LoadedPolicy]) -> dict[str, tuple[str, ...]]:
    """Each policy with a ``lineage`` section → the branches it names (every one must hold)."""
    return {p.policy.id: p.policy.lineage.branches for p in policies if p.policy.lineage}


def trusted_keys(policies: Sequence[LoadedPolicy]) -> tuple[TrustedKey, ...]:
    """Every key some policy's ``attestations`` section trusts."""
    return tuple(k for p in policies if p.policy.attestations
                 for k in p.policy.attestations.trusted_keys)


def _approval_problems(loaded: LoadedPolicy, milestone: Milestone, doc: Document,
                       loc: Loc) -> Iterator[Problem]:
    """A milestone's ``approvals`` naming a role no policy defines, or asking for fewer
    approvals than this policy's stage rule (the policy's rule applies anyway)."""
    asked = milestone.approvals
    rules = loaded.policy.approvals
    # Roles are checked only against every policy loaded together (``load_policies``): a
    # policy loaded alone cannot know the roles its siblings define.
    known = loaded.known_roles
    if asked is not None and known is not None:
        for index, role in enumerate(asked.roles):
            if role not in known:
                defined = ", ".join(sorted(known)) or "none"
                yield doc.problem((*loc, "approvals", "roles", index),
                                  f"no policy defines approval role '{role}' (defined: "
                                  f"{defined})")
    rule = rules.stages.get(milestone.stage) if rules else None
    if asked is not None and rule is not None and asked.count < rule.count:
        where = loaded.where(("approvals", "stages", milestone.stage.value, "count"))
        yield doc.problem((*loc, "approvals", "count"),
                          f"policy {loaded.policy.id} ({where}): stage "
                          f"{milestone.stage.value} needs {rule.count} approvals; the "
                          f"milestone asks for {asked.count}")


def together(policies: Sequence[LoadedPolicy]) -> tuple[LoadedPolicy, ...]:
    """``policies`` as applied together: each knows every approval role any of them defines
    (a milestone may name a role of any policy)."""
    roles = frozenset(r for p in policies if p.policy.approvals for r in p.policy.approvals.roles)
    return tuple(dataclasses.replace(p, known_roles=roles) for p in policies)


def role_clashes(loaded: Sequence[LoadedPolicy]) -> list[Problem]:
    """A role defined by two policies: whose members count would be ambiguous."""
    seen: dict[str, LoadedPolicy] = {}
    problems = []
    for policy in loaded:
        for role in policy.policy.approvals.roles if policy.policy.approvals else ():
            first = seen.setdefault(role, policy)
            if first is not policy:
                problems.append(policy.doc.problem(
                    ("approvals", "roles", role), f"approval role '{role}' is also defined "
                    f"by policy {first.policy.id} ({first.where(('approvals', 'roles', role))})"
                    "; define each role once"))
    return problems


@dataclasses.dataclass(frozen=True)
class RequiredApprovals:
    """What a milestone needs: each requirement (the policies' stage rules, the milestone's
    own) must be met, with roles resolved to the policies' members."""

    requirements: tuple[tuple[str, ApprovalRequirement], ...]
    roles: Mapping[str, Role]
    max_days: float | None

    def __bool__(self) -> bool:
        return bool(self.requirements)


def required_approvals(policies: Sequence[LoadedPolicy],
                       milestone: Milestone) -> RequiredApprovals:
    """Every approval requirement on ``milestone`` (each named by where it comes from: a
    policy's id, or ``milestone``), the roles the policies define, and the tightest cap."""
    found: list[tuple[str, ApprovalRequirement]] = []
    roles: dict[str, Role] = {}
    caps = []
    for loaded in policies:
        rules = loaded.policy.approvals
        if rules is None:
            continue
        roles.update(rules.roles)
        caps += [rules.max_days] if rules.max_days is not None else []
        if milestone.stage in rules.stages:
            found.append((f"policy {loaded.policy.id}", rules.stages[milestone.stage]))
    if milestone.approvals is not None:
        found.append(("milestone", milestone.approvals))
    return RequiredApprovals(tuple(found), roles, min(caps) if caps else None)
