"""pip-audit: the Python requirements logged with the model, each pinned, each pin looked up
in the OSV vulnerability database.

Reads ``model/requirements.txt`` and the ``pip:`` list of ``model/conda.yaml`` (what MLflow
writes beside every model). A requirement is pinned when it is ``name==version`` (extras and
markers allowed); anything else (a range, no version, ``===``, ``-e``, a URL or a path) is
reported as unpinned, by name and line, never echoed (a URL may carry a token). Every distinct
pin is written to a fresh requirements file and audited by ``pip-audit --disable-pip
--no-deps``: nothing is resolved, downloaded or installed; only ``name`` and ``version`` go to
the OSV service, one POST per pin.

The service is ``GATEKEEPER_OSV_URL`` (the query endpoint of an OSV-compatible mirror, e.g.
``https://osv.internal.example/v1/query``), else pip-audit's default, the public
``https://api.osv.dev/v1/query``. Anything pip-audit could not judge (a skipped dependency, a
pin missing from its report) is unscanned; a service it could not reach, a timeout or a report
it did not write is a :class:`ScanError`: both make the check ``error``, never a pass.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.common.redact import redact_secrets
from gatekeeper.evidence.interface import ScanQuery
from gatekeeper.evidence.scanners.interface import (
    Finding,
    ScanError,
    Scanner,
    ScanReport,
    ScanTarget,
)

REQUIREMENTS = "requirements.txt"
CONDA = "conda.yaml"
OSV_URL_VARIABLE = "GATEKEEPER_OSV_URL"
DEFAULT_OSV_URL = "https://api.osv.dev/v1/query"  # pip-audit's own default
#: pip-audit's socket timeout per request, and the bound on the whole run, in seconds.
SOCKET_TIMEOUT = 15
RUN_TIMEOUT = 300.0
#: pip-audit reports no severity (OSV records need not carry one): every known vulnerability
#: is treated as high, and blocks unless the check ignores it by id with a reason.
SEVERITY = "high"

_OPTION_WITH_VALUE = re.compile(r"\s+--?[A-Za-z]")
#: ``-r file``, ``-rfile``, ``--requirement file``, ``--requirement=file``.
_INCLUDE = re.compile(r"^(?:-r|--requirement(?=[\s=]))[\s=]*(?P<path>.*)$")


@dataclass(frozen=True)
class Requirement:
    """One declared requirement: pinned when ``version`` is set, else ``why`` it is not."""

    file: str
    line: int
    name: str
    version: str | None = None
    why: str = ""

    def fact(self) -> dict[str, Any]:
        return {"name": self.name, "file": self.file, "line": self.line, "why": self.why}


@dataclass(frozen=True)
class Declared:
    """What the model's requirement files declare, and what could not be read."""

    files: tuple[str, ...] = ()
    requirements: tuple[Requirement, ...] = ()
    unscanned: tuple[tuple[str, str], ...] = ()


def scan(target: ScanTarget, query: ScanQuery, env: Mapping[str, str]) -> ScanReport:
    """Audit the model's declared requirements; see the module docstring."""
    from importlib.metadata import version

    url = osv_url(env)
    declared = read_declared(target)
    pins = distinct_pins(declared.requirements)
    answers = audit(pins, url, env) if pins else {}
    vulns, unjudged = judge(pins, answers)
    findings = tuple(Finding(v["id"], SEVERITY, v["file"], v["line"], detail=describe(v),
                             ref=target.ref(v["file"])) for v in vulns)
    unpinned = tuple(r.fact() for r in declared.requirements if r.version is None)
    return ScanReport(
        scanner="pip-audit", tool_version=version("pip-audit"), scanned=declared.files,
        findings=findings, unscanned=declared.unscanned + unjudged,
        facts={"service": redact_secrets(url), "requirements": len(declared.requirements),
               "audited": tuple(f"{p.name}=={p.version}" for p in pins),
               "unpinned": unpinned, "vulnerabilities": vulns,
               "refs": {name: target.ref(name) for name in declared.files}})


def osv_url(env: Mapping[str, str]) -> str:
    url = env.get(OSV_URL_VARIABLE) or DEFAULT_OSV_URL
    if not re.match(r"^https?://[^/\s]+", url):
        raise ScanError(f"{OSV_URL_VARIABLE} is not an http(s) URL: {url}")
    return url


def describe(vuln: Mapping[str, Any]) -> str:
    fixes = ", ".join(vuln["fix_versions"]) or "no fixed version known"
    return f"{vuln['package']} {vuln['version']}; fixed in: {fixes}"


# -- what the model declares -----------------------------------------------------------------

def read_declared(target: ScanTarget) -> Declared:
    """The requirements of ``model/requirements.txt`` and ``model/conda.yaml``'s pip list."""
    req_name, conda_name = f"model/{REQUIREMENTS}", f"model/{CONDA}"
    if target.model_dir is None:
        return Declared(unscanned=((req_name, "the version has no model files"),))
    req_path, conda_path = target.model_dir / REQUIREMENTS, target.model_dir / CONDA
    files: list[str] = []
    found: list[Requirement] = []
    unscanned: list[tuple[str, str]] = []
    if req_path.is_file():
        files.append(req_name)
        lines = numbered_lines(req_path.read_text(errors="replace"))
        found += read_lines(req_name, lines, unscanned)
    else:
        unscanned.append((req_name, "not logged with the model, so its dependencies cannot "
                                    "be audited"))
    if conda_path.is_file():
        files.append(conda_name)
        try:
            entries = conda_pip_entries(conda_path.read_text(errors="replace"))
        except ValueError as exc:
            unscanned.append((conda_name, str(exc)))
        else:
            found += read_lines(conda_name, entries, unscanned)
    return Declared(tuple(files), tuple(found), tuple(unscanned))


def numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    """Logical lines of a requirements file (continuations joined, comments dropped), each
    with the number of its first physical line."""
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = re.sub(r"(^|\s)#.*$", "", pending + raw).strip()
        pending = ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


def conda_pip_entries(text: str) -> list[tuple[int, str]]:
    """The ``pip:`` entries under ``dependencies`` of a conda environment file, with lines."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValueError(f"not valid YAML{where}, so its pip requirements cannot be "
                         "audited") from None
    entries: list[tuple[int, str]] = []
    for dep in _items(_value(root, "dependencies")):
        for entry in _items(_value(dep, "pip")):
            if not isinstance(entry, yaml.ScalarNode):
                raise ValueError(f"line {entry.start_mark.line + 1}: a pip entry that is not "
                                 "a string, so its pip requirements cannot be audited")
            entries.append((entry.start_mark.line + 1, str(entry.value).strip()))
    return entries


def _value(node: Any, key: str) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _items(node: Any) -> list[Any]:
    import yaml

    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def read_lines(file: str, lines: Iterable[tuple[int, str]],
               unscanned: list[tuple[str, str]]) -> list[Requirement]:
    """Each requirement line judged pinned or not; includes of other files are unscanned."""
    found: list[Requirement] = []
    for number, line in lines:
        if include := _INCLUDE.match(line):
            if file.endswith(CONDA) and include["path"] == REQUIREMENTS:
                continue  # MLflow's conda.yaml may include the requirements.txt read above
            unscanned.append((file, f"line {number}: includes another requirements file, "
                                    "which was not audited"))
        elif line.startswith(("-e", "--editable")):
            found.append(Requirement(file, number, "", why="an editable requirement"))
        elif not line.startswith("-"):  # other options (index URLs, hashes) add nothing
            found.append(parse_requirement(file, number, line))
    return found


def parse_requirement(file: str, number: int, line: str) -> Requirement:
    """``name==version`` or why the line is not pinned (the line itself is never echoed)."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as Parsed
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    text = _OPTION_WITH_VALUE.split(line, maxsplit=1)[0]  # per-line options: --hash=...
    try:
        req = Parsed(text)
    except InvalidRequirement:
        return Requirement(file, number, "", why="not a name==version requirement (a URL, a "
                                                 "path or unparseable)")
    name = canonicalize_name(req.name)
    if req.url:
        return Requirement(file, number, name, why="a direct URL reference")
    specs = list(req.specifier)
    if not specs:
        return Requirement(file, number, name, why="no version")
    if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version:
        try:
            return Requirement(file, number, name, str(Version(specs[0].version)))
        except InvalidVersion:
            pass
    return Requirement(file, number, name, why=f"not pinned to one version ({req.specifier})")


def distinct_pins(requirements: Iterable[Requirement]) -> list[Requirement]:
    """Each pinned (name, version) once, at its first place (requirements.txt first)."""
    seen: dict[tuple[str, str | None], Requirement] = {}
    for req in requirements:
        if req.version is not None:
            seen.setdefault((req.name, req.version), req)
    return list(seen.values())


# -- asking pip-audit ------------------------------------------------------------------------

def audit(pins: list[Requirement], url: str, env: Mapping[str, str]
          ) -> dict[tuple[str, str], dict[str, Any]]:
    """pip-audit's report entry of each pin, keyed by (name, version).

    pip-audit refuses two pins of one package in one run, so pins are audited in as many runs
    as the most versions any one package is pinned at (one, nearly always).
    """
    answers: dict[tuple[str, str], dict[str, Any]] = {}
    for layer in layers(pins):
        for dep in run_pip_audit(layer, url, env):
            if "name" in dep:
                answers[(str(dep["name"]), str(dep.get("version", "")))] = dep
                if "skip_reason" in dep:  # a skipped entry has no version: match by name
                    answers.update({(p.name, p.version or ""): dep for p in layer
                                    if p.name == dep["name"]})
    return answers


def layers(pins: list[Requirement]) -> list[list[Requirement]]:
    groups: list[list[Requirement]] = []
    for pin in pins:
        group = next((g for g in groups if all(p.name != pin.name for p in g)), None)
        if group is None:
            groups.append(group := [])
        group.append(pin)
    return groups


def run_pip_audit(pins: list[Requirement], url: str, env: Mapping[str, str]
                  ) -> list[dict[str, Any]]:
    """pip-audit's JSON ``dependencies`` for ``pins``; ScanError when it gave no answer."""
    from gatekeeper.evidence.mlflow_env import subprocess_env

    with tempfile.TemporaryDirectory(prefix="gatekeeper-pip-audit-") as folder:
        work = Path(folder)
        (work / REQUIREMENTS).write_text("".join(f"{p.name}=={p.version}\n" for p in pins))
        out = work / "report.json"
        command = [sys.executable, "-m", "pip_audit", "--requirement", str(work / REQUIREMENTS),
                   "--disable-pip", "--no-deps", "--vulnerability-service", "osv",
                   "--format", "json", "--desc", "off",
                   "--output", str(out), "--cache-dir", str(work / "cache"),
                   "--timeout", str(SOCKET_TIMEOUT), "--progress-spinner", "off"]
        # The URL goes by pip-audit's own variable rather than --osv-url: a mirror's URL may
        # carry a token, and a command line is readable by every user of the machine.
        child_env = {**subprocess_env(env), "PIP_AUDIT_OSV_URL": url}
        try:
            done = subprocess.run(command, env=child_env, capture_output=True,
                                  text=True, timeout=RUN_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise ScanError(f"pip-audit did not finish within {RUN_TIMEOUT:g} s "
                            f"(vulnerability service {url})") from None
        report = out.read_text() if out.is_file() else ""
    return parse_output(done.returncode, report, done.stderr, url)


def parse_output(code: int, report: str, stderr: str, url: str) -> list[dict[str, Any]]:
    """The ``dependencies`` of pip-audit's JSON report, told apart from a failed run.

    pip-audit exits 0 when no pin is vulnerable and 1 when one is, writing its report either
    way; exit 1 without a report is a failure (an unreachable service, a crash), as is any
    other exit code, a report that does not parse, or an exit code that contradicts it.
    """
    if code not in (0, 1) or not report.strip():
        raise ScanError(failure(code, stderr, url))
    try:
        deps = json.loads(report)["dependencies"]
        if not isinstance(deps, list) or not all(isinstance(d, dict) for d in deps):
            raise TypeError
        vulnerable = any(d.get("vulns") for d in deps)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ScanError(f"pip-audit wrote a report gatekeeper cannot read (exit {code})"
                        ) from None
    if vulnerable != (code == 1):
        raise ScanError(f"pip-audit exited {code}, which contradicts its report")
    return deps


def failure(code: int, stderr: str, url: str) -> str:
    """Why pip-audit gave no report, in one line: the service it could not reach, or the last
    line it wrote."""
    if "ConnectionError" in stderr or "Could not connect" in stderr \
            or "ConnectTimeout" in stderr or "ReadTimeout" in stderr:
        return (f"pip-audit could not reach the vulnerability service at {url} "
                f"(set {OSV_URL_VARIABLE} to an OSV mirror it can reach)")
    if "HTTPError" in stderr or "ServiceError" in stderr:
        return f"the vulnerability service at {url} refused pip-audit's queries"
    last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")
    return f"pip-audit exited {code} without a report: {last[:300]}".rstrip(": ")


def judge(pins: list[Requirement], answers: Mapping[tuple[str, str], Mapping[str, Any]]
          ) -> tuple[tuple[dict[str, Any], ...], tuple[tuple[str, str], ...]]:
    """Each pin's known vulnerabilities; a pin pip-audit skipped or did not report is
    unjudged."""
    vulns: list[dict[str, Any]] = []
    unjudged: list[tuple[str, str]] = []
    for pin in pins:
        label = f"{pin.name}=={pin.version}"
        dep = answers.get((pin.name, pin.version or ""))
        if dep is None:
            unjudged.append((pin.file, f"line {pin.line}: {label} is missing from pip-audit's "
                                       "report"))
        elif "skip_reason" in dep:
            unjudged.append((pin.file, f"line {pin.line}: pip-audit skipped {label} "
                                       f"({str(dep['skip_reason'])[:200]})"))
        else:
            vulns += [{"package": pin.name, "version": pin.version, "id": str(v["id"]),
                       # pip-audit keeps aliases in a set: their order varies run to run
                       "aliases": tuple(sorted(str(a) for a in v.get("aliases", ()))),
                       "fix_versions": tuple(str(f) for f in v.get("fix_versions", ())),
                       "file": pin.file, "line": pin.line} for v in dep.get("vulns", ())]
    return tuple(vulns), tuple(unjudged)


SCANNER = Scanner("pip-audit", "security", ("pip_audit",), scan,
                  summary="Known vulnerabilities (OSV) of the model's pinned requirements.")
