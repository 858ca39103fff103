"""What a scanner is: a tool gatekeeper runs itself on a version's artifacts (modelscan,
pip-audit, detect-secrets, Presidio), and the report it hands to the checks.

Scanners are evidence sources: they run once per gate, after the registry was read and before
any check, on a local copy of the version's files (:class:`ScanTarget`); each answer lands in
``Evidence.extra[query.key]`` as a :class:`ScanReport`, or a :class:`ScanFailure` that the
checks reading it report as ``error``. Checks stay pure functions of those reports.

A report never holds a secret or a piece of personal data: findings carry a type, a file, a
line, a severity and (for secrets) a salted hash, nothing the scanner matched.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatekeeper.errors import InfrastructureError
from gatekeeper.evidence.interface import ScanQuery

__all__ = ["SEVERITIES", "Finding", "ScanError", "ScanFailure", "ScanQuery", "ScanReport",
           "ScanTarget", "Scanner"]

#: Severities, most severe first (modelscan's and the CVSS words).
SEVERITIES = ("critical", "high", "medium", "low", "info")


@dataclass(frozen=True)
class ScanTarget:
    """A local copy of one model version's files, read-only for scanners.

    ``model_dir`` holds the registered version's model files (its MLmodel folder); ``run_dir``
    the source run's artifacts. Either is None when the version has none. Files are named in
    findings ``model/<path>`` or ``run/<path>`` (``model/model.pkl``, ``run/model_card.md``).
    """

    root: Path
    model_dir: Path | None
    run_dir: Path | None
    #: How messages name the version, e.g. ``fraud v4``.
    label: str
    #: Where a file named relative to ``root`` lives in the registry, ``{path}`` standing for
    #: the rest of the name after ``model/`` or ``run/``.
    model_ref: str = ""
    run_ref: str = ""

    def name(self, path: Path) -> str:
        """``path``'s name in findings: ``model/`` or ``run/`` and its path in that folder."""
        for head, folder in (("model", self.model_dir), ("run", self.run_dir)):
            if folder is not None and path.is_relative_to(folder):
                return f"{head}/{path.relative_to(folder).as_posix()}"
        return path.relative_to(self.root).as_posix()

    def ref(self, name: str) -> str:
        """Where the file named ``name`` lives in the registry, cited in results."""
        head, _, rest = name.partition("/")
        template = self.model_ref if head == "model" else self.run_ref
        return template.replace("{path}", rest) if template else name

    def files(self, model: bool = True, run: bool = True) -> list[Path]:
        """Every file of the copy (of the model, of the run or both), model files first, in a
        stable order."""
        found: list[Path] = []
        for folder in (self.model_dir if model else None, self.run_dir if run else None):
            if folder is not None and folder.is_dir():
                found += sorted(p for p in folder.rglob("*") if p.is_file())
        return found


@dataclass(frozen=True)
class Finding:
    """One thing a scanner found, safe to show and to record."""

    #: What was found: ``posix.system`` (an unsafe pickle global), ``PYSEC-2023-1`` (a
    #: vulnerability id), ``AWS Access Key`` (a secret type), ``EMAIL_ADDRESS`` (a PII entity).
    rule: str
    severity: str
    #: The file, relative to the target's root (``model/model.pkl``).
    file: str
    line: int | None = None
    #: Safe words about it (never the matched text).
    detail: str = ""
    #: A salted hash of a secret, so the same secret is recognised again without being stored.
    digest: str | None = None
    #: Where the file lives in the registry (:meth:`ScanTarget.ref`), cited in results.
    ref: str = ""

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True)
class ScanReport:
    """What one scanner run found on one target."""

    scanner: str
    tool_version: str
    #: Files the tool examined, named as in findings.
    scanned: tuple[str, ...]
    findings: tuple[Finding, ...] = ()
    #: Files the tool could not examine, with why (an unscanned file is no evidence).
    unscanned: tuple[tuple[str, str], ...] = ()
    #: Scanner-specific observations the checks judge (e.g. unpinned requirements).
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScanFailure:
    """Why a scanner gave no report (not installed, crashed, timed out, offline): ``error``."""

    message: str


class ScanError(InfrastructureError):
    """The tool could not answer (crashed, timed out, offline, unreadable output)."""


#: Runs one scan. The mapping is the environment (for settings such as a service URL). Raises
#: :class:`ScanError` when the tool cannot answer; the message must hold no secret.
Scan = Callable[[ScanTarget, ScanQuery, Mapping[str, str]], ScanReport]


@dataclass(frozen=True)
class Scanner:
    """One registered scanner: the tool's importable modules, the extra that installs them."""

    name: str
    #: The ``gatekeeper[...]`` extra that installs the tool.
    extra: str
    #: Modules that must be importable for the tool to run.
    modules: tuple[str, ...]
    scan: Scan
    summary: str = ""

    def install_hint(self) -> str:
        return f"pip install 'gatekeeper[{self.extra}]'"

    def missing(self) -> str | None:
        """Why the tool cannot run here (a module not installed), or None when it can."""
        for module in self.modules:
            try:
                found = importlib.util.find_spec(module)
            except (ImportError, ValueError):
                found = None
            if found is None:
                return (f"{self.name} needs the Python module '{module}', which is not "
                        f"installed: {self.install_hint()}")
        return None
