"""Evidence read from an MLflow model registry and its tracking server (or embedded SQLite).

Reads only: the one place gatekeeper writes to MLflow is
:mod:`gatekeeper.act.mlflow_registry`. Every call goes through
:func:`gatekeeper.evidence.mlflow_env.registry_errors`, so an unreachable or failing registry
is an :class:`EvidenceSourceError` naming the tracking URI (credentials masked), and an unknown
model, version or alias is an :class:`InvalidInputError` listing what does exist. All calls of
one source share one deadline (:class:`RegistryDeadline`), and every answer is checked to be
about what was asked: a server answering ``{}`` is a failure, never a version "".
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from gatekeeper.common.redact import redact_secrets
from gatekeeper.errors import InvalidInputError
from gatekeeper.evidence.interface import (
    MODEL_FILES,
    PROBE_RUN_TAG,
    Evidence,
    EvidenceRequest,
    EvidenceSource,
    EvidenceSourceError,
    LinkedRun,
    ModelInfo,
    VersionEvidence,
)
from gatekeeper.evidence.mlflow_env import (
    RegistryDeadline,
    call_registry,
    check_tracking_uri,
    import_mlflow,
    is_not_found,
    mlflow_client,
    registry_errors,
    require_sqlite_file,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

#: How many names an "unknown ..." message lists before eliding the rest.
MAX_LISTED = 20
#: Bounds on listing a run's artifacts. Past them collect fails rather than return a partial
#: listing: a check that an artifact is absent must never pass on files it did not see.
MAX_ARTIFACT_DEPTH = 10
MAX_ARTIFACTS = 5000

T = TypeVar("T")

#: A version tag linking a probe profile's latest usable run (see ``profile_tag``).
_PROFILE_TAG = re.compile(r"^gatekeeper\.probe\.([a-z0-9][a-z0-9_-]*)\.run_id$")

_VERSION_NUMBER = re.compile(r"[0-9]+")
#: No registry stores a version number past this (MLflow's column is a 32-bit integer in most
#: databases); asking SQLite for a bigger one overflows instead of finding nothing.
MAX_VERSION = 2**31 - 1
#: What MLflow itself refuses in a model name, plus ``..``: names end up in URL paths.
_BAD_NAME_PARTS = ("/", "\\", ":", "..")


class MlflowSource(EvidenceSource):
    """Evidence from the MLflow registry at ``tracking_uri`` (also its registry URI)."""

    def __init__(self, tracking_uri: str, deadline: RegistryDeadline | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.deadline = deadline or RegistryDeadline()
        # What resolve_version read, handed to the next collect so it need not ask again.
        # collect takes it all, so a long-lived source never serves stale aliases later.
        self._prefetched = _Prefetched()

    def resolve_version(self, name: str, version: str | None, alias: str | None) -> str:
        check_model_name(name)
        check_tracking_uri(self.tracking_uri)
        if version is not None and alias is None:
            number = version
            return self._bounded(lambda: self._resolve_number(name, number))
        if alias is not None and version is None:
            alias_name = alias
            return self._bounded(lambda: self._resolve_alias(name, alias_name))
        raise InvalidInputError("give exactly one of --version or --alias")

    def collect(self, name: str, version: str, request: EvidenceRequest) -> Evidence:
        check_model_name(name)
        check_tracking_uri(self.tracking_uri)
        return self._bounded(lambda: self._collect(name, version, request))

    def fetch_files(self, version: VersionEvidence, dest: Path) -> tuple[Path | None,
                                                                         Path | None]:
        """Download the version's model files to ``dest/model`` and its source run's
        artifacts to ``dest/run``, within a deadline of their own (models can be large)."""
        check_model_name(version.name)
        check_tracking_uri(self.tracking_uri)
        return call_registry(self.tracking_uri, RegistryDeadline(),
                             lambda: self._fetch_files(version, dest),
                             context=f"copying the files of {version.name} v{version.version}")

    def _fetch_files(self, version: VersionEvidence, dest: Path) -> tuple[Path | None,
                                                                          Path | None]:
        import_mlflow()
        from mlflow.artifacts import download_artifacts

        with self._reading() as client:
            location = client.get_model_version_download_uri(version.name, version.version)
            model = _download(lambda: download_artifacts(
                artifact_uri=location, dst_path=str(dest / "model"),
                tracking_uri=self.tracking_uri))
            run = None
            if version.run_id:
                run_id = version.run_id
                run = _download(lambda: download_artifacts(
                    run_id=run_id, artifact_path="", dst_path=str(dest / "run"),
                    tracking_uri=self.tracking_uri))
                inside = f"runs:/{run_id}/"
                if run is not None and location.startswith(inside):
                    # The model is a folder of the run: keep one copy, named model/...
                    copy = (run / location[len(inside):].strip("/")).resolve()
                    if copy != run.resolve() and copy.is_relative_to(run.resolve()):
                        shutil.rmtree(copy, ignore_errors=True)
        return model, run

    def file_sizes(self, version: VersionEvidence, where: str) -> dict[str, int] | None:
        """What is at ``where`` (``MODEL_FILES`` or a run artifact path), listed with sizes,
        nothing downloaded."""
        import_mlflow()
        from mlflow.artifacts import list_artifacts

        def listed(uri: str) -> dict[str, int] | None:
            # A run's root has no runs:/ URI of its own: runs are listed by run-relative path.
            run, _, path = uri.removeprefix("runs:/").partition("/")
            if uri.startswith("runs:/"):
                return list_sizes(lambda at: list_artifacts(
                    run_id=run, artifact_path=at or None, tracking_uri=self.tracking_uri), path)
            return list_sizes(lambda at: list_artifacts(
                artifact_uri=f"{uri}/{at}".rstrip("/"), tracking_uri=self.tracking_uri), "")

        return self._at(version, where, listed, "listing")

    def download(self, version: VersionEvidence, where: str, dest: Path) -> Path | None:
        """Copy what is at ``where`` under ``dest`` (a file or a folder)."""
        import_mlflow()
        from mlflow.artifacts import download_artifacts

        def copied(uri: str) -> Path | None:
            return _downloaded(lambda: download_artifacts(
                artifact_uri=uri, dst_path=str(dest), tracking_uri=self.tracking_uri))

        return self._at(version, where, copied, "copying")

    def _at(self, version: VersionEvidence, where: str, call: Callable[[str], T | None],
            doing: str) -> T | None:
        """``call`` on the URI of ``where``, within a deadline of its own (models can be
        large); None when the version has no source run to hold ``where``."""
        check_model_name(version.name)
        check_tracking_uri(self.tracking_uri)

        def located() -> T | None:
            with self._reading() as client:
                if where == MODEL_FILES:
                    uri = client.get_model_version_download_uri(version.name, version.version)
                elif version.run_id:
                    uri = f"runs:/{version.run_id}/{where.strip('/')}"
                else:
                    return None
            return call(uri)

        return call_registry(self.tracking_uri, RegistryDeadline(), located,
                             context=f"{doing} the files of {version.name} v{version.version}")

    def _bounded(self, call: Callable[[], T]) -> T:
        return call_registry(self.tracking_uri, self.deadline, call)

    def _collect(self, name: str, version: str, request: EvidenceRequest) -> Evidence:
        prefetched, self._prefetched = self._prefetched, _Prefetched()
        with self._reading() as client:
            reader = _Reader(client, self.tracking_uri, name, request, prefetched)
            candidate = reader.version(version)
            baselines = reader.baselines(request.baseline_aliases)
        return Evidence(candidate=candidate, baselines=baselines)

    def _resolve_number(self, name: str, version: str) -> str:
        with self._reading() as client:
            found = get_model_version(client, self.tracking_uri, name, version)
        resolved = str(found.version)
        self._prefetched.versions[(name, resolved)] = found
        return resolved

    def _resolve_alias(self, name: str, alias: str) -> str:
        with self._reading() as client:
            model = get_registered_model(client, self.tracking_uri, name)
        self._prefetched.models[name] = model
        return alias_target(model, alias)

    @contextmanager
    def _reading(self) -> Iterator[MlflowClient]:
        with registry_errors(self.tracking_uri):
            require_sqlite_file(self.tracking_uri)
            yield mlflow_client(self.tracking_uri)


@dataclass
class _Prefetched:
    versions: dict[tuple[str, str], ModelVersion] = field(default_factory=dict)
    models: dict[str, RegisteredModel] = field(default_factory=dict)


class _Reader:
    """Reads the versions of one model for one collect, each version at most once."""

    def __init__(self, client: MlflowClient, tracking_uri: str, name: str,
                 request: EvidenceRequest, prefetched: _Prefetched) -> None:
        self.client, self.tracking_uri, self.name = client, tracking_uri, name
        self.request = request
        self.prefetched = prefetched
        self.read: dict[str, VersionEvidence] = {}

    def version(self, version: str) -> VersionEvidence:
        if version not in self.read:
            found = (self.prefetched.versions.get((self.name, version))
                     or get_model_version(self.client, self.tracking_uri, self.name, version))
            evidence = self._evidence(found)
            self.read[version] = self.read[evidence.version] = evidence
        return self.read[version]

    def baselines(self, aliases: frozenset[str]) -> dict[str, VersionEvidence | None]:
        """Each alias's version (read like the candidate), or None where the alias is unset."""
        if not aliases:
            return {}
        model = (self.prefetched.models.get(self.name)
                 or get_registered_model(self.client, self.tracking_uri, self.name))
        targets = {str(alias): str(version) for alias, version in model.aliases.items()}
        return {alias: self.version(targets[alias]) if alias in targets else None
                for alias in sorted(aliases)}

    def _evidence(self, found: ModelVersion) -> VersionEvidence:
        run = get_run(self.client, found.run_id)
        version = str(found.version)
        if run is not None and run.info.lifecycle_stage == "deleted":
            raise EvidenceSourceError(
                f"the source run {found.run_id} of model {self.name!r} version {version} is "
                "deleted: its metrics and artifacts are no evidence",
                hint="restore the run (mlflow runs restore) or gate another version")
        probe_run_id = (found.tags or {}).get(PROBE_RUN_TAG) or None
        return VersionEvidence(
            name=self.name,
            version=version,
            run_id=found.run_id or None,
            source=found.source or "",
            tracking_uri=redact_secrets(self.tracking_uri),
            description=found.description or "",
            aliases=tuple(sorted(found.aliases or ())),
            version_tags=dict(found.tags or {}),
            metrics={k: float(v) for k, v in run.data.metrics.items()} if run else {},
            params=dict(run.data.params) if run else {},
            run_tags=dict(run.data.tags) if run else {},
            artifacts=self._artifacts(found.run_id) if self.request.artifacts else None,
            model=self._model_info(version) if self.request.model_info else None,
            probe_run_id=probe_run_id,
            probe_metrics=self._probe_metrics(probe_run_id),
            probe_runs=self._probe_runs(found.tags or {}),
        )

    def _probe_runs(self, tags: dict[str, str]) -> dict[str, LinkedRun]:
        """The run each profile's tag links, by profile (runs read once, however linked)."""
        linked = {match[1]: run_id for tag, run_id in tags.items()
                  if (match := _PROFILE_TAG.match(tag)) and run_id}
        read = {run_id: self._probe_run(run_id) for run_id in set(linked.values())}
        return {profile: LinkedRun(run_id, *read[run_id])
                for profile, run_id in sorted(linked.items())}

    def _probe_run(self, run_id: str) -> tuple[dict[str, float], dict[str, str]]:
        """A linked probe run's metrics and params; both empty when it was deleted."""
        run = get_run(self.client, run_id)
        if run is None or run.info.lifecycle_stage == "deleted":
            return {}, {}
        return ({k: float(v) for k, v in run.data.metrics.items()}, dict(run.data.params))

    def _probe_metrics(self, run_id: str | None) -> dict[str, float]:
        """The linked probe run's metrics; empty when it was deleted (checks then error)."""
        run = get_run(self.client, run_id)
        if run is None or run.info.lifecycle_stage == "deleted":
            return {}
        return {k: float(v) for k, v in run.data.metrics.items()}

    def _artifacts(self, run_id: str | None) -> frozenset[str]:
        return list_run_artifacts(self.client, self.tracking_uri, run_id) if run_id else frozenset()

    def _model_info(self, version: str) -> ModelInfo | None:
        location = self.client.get_model_version_download_uri(self.name, version)
        return read_model_info(self.tracking_uri, location)


def check_model_name(name: str) -> None:
    """Refuse a name no registered model can have, before any call (InvalidInputError)."""
    if not name.strip() or any(part in name for part in _BAD_NAME_PARTS) or not name.isprintable():
        raise InvalidInputError(
            f"not a valid model name: {name!r} (names cannot be empty or contain "
            "'/', '\\', ':', '..' or control characters)",
            hint="check --model")


def get_registered_model(client: MlflowClient, tracking_uri: str, name: str) -> RegisteredModel:
    """The registered model ``name``; InvalidInputError listing the registered models if none."""
    try:
        found = client.get_registered_model(name)
    except Exception as exc:
        if not is_not_found(exc):
            raise
        raise unknown_model_error(client, tracking_uri, name) from None
    return checked_model(tracking_uri, name, found)


def checked_model(tracking_uri: str, name: str, found: RegisteredModel) -> RegisteredModel:
    """``found`` if it is the registered model ``name`` with well-formed aliases."""
    aliases = found.aliases
    if not _same_name(found.name, name) or not isinstance(aliases, dict) or not all(
            isinstance(a, str) and _VERSION_NUMBER.fullmatch(str(v))
            for a, v in aliases.items()):
        raise malformed_answer(tracking_uri, f"registered model {name!r}")
    return found


def checked_version(tracking_uri: str, name: str, version: str,
                    found: ModelVersion) -> ModelVersion:
    """``found`` if it is version ``version`` of ``name`` (a server answering ``{}`` gives an
    empty version whose every field is "")."""
    number = str(found.version)
    if (not _same_name(found.name, name) or not _VERSION_NUMBER.fullmatch(number)
            or int(number) != int(version)):
        raise malformed_answer(tracking_uri, f"model {name!r} version {version}")
    return found


def _same_name(answered: object, asked: str) -> bool:
    """Registries on MySQL compare names without case, so "Fraud" may answer for "fraud"."""
    return isinstance(answered, str) and answered.casefold() == asked.casefold()


def malformed_answer(tracking_uri: str, what: str) -> EvidenceSourceError:
    return EvidenceSourceError(
        redact_secrets(f"MLflow registry at {tracking_uri} answered something other than "
                       f"{what}: is it an MLflow tracking server?"),
        hint="check --tracking-uri (or MLFLOW_TRACKING_URI) and the server's version")


def get_model_version(client: MlflowClient, tracking_uri: str, name: str,
                      version: str) -> ModelVersion:
    """Version ``version`` of ``name``; InvalidInputError listing what exists if there is none."""
    if not _VERSION_NUMBER.fullmatch(version):
        raise InvalidInputError(f"model version must be a number, got {version!r}",
                                hint="check --version")
    if int(version) <= MAX_VERSION:
        try:
            found = client.get_model_version(name, version)
        except Exception as exc:
            if not is_not_found(exc):
                raise
        else:
            return checked_version(tracking_uri, name, version, found)
    get_registered_model(client, tracking_uri, name)  # an unknown model gets its own message
    raise unknown_version_error(client, name, version)


def alias_target(model: RegisteredModel, alias: str) -> str:
    """The version ``alias`` points to; InvalidInputError listing the model's aliases if unset."""
    aliases = {str(a): str(v) for a, v in model.aliases.items()}
    if alias in aliases:
        return aliases[alias]
    listing = ("it has no aliases" if not aliases else "its aliases: " + ", ".join(
        f"{a} -> {v}" for a, v in sorted(aliases.items())))
    raise InvalidInputError(f"model {model.name!r} has no alias {alias!r}; {listing}",
                            hint="check --alias")


def get_run(client: MlflowClient, run_id: str | None) -> Run | None:
    """Run ``run_id`` (a version's source or probe run), or None when there is none or it was
    deleted for good."""
    if not run_id:
        return None
    try:
        run = client.get_run(run_id)
    except Exception as exc:
        if not is_not_found(exc):
            raise
        return None
    if run.info.run_id != run_id:
        raise EvidenceSourceError(f"the MLflow registry answered something other than run "
                                  f"{run_id}: is it an MLflow tracking server?")
    return run


def unknown_model_error(client: MlflowClient, tracking_uri: str, name: str) -> InvalidInputError:
    found = client.search_registered_models(max_results=MAX_LISTED + 1, order_by=["name ASC"])
    names = [m.name for m in found]
    listing = "registered models: " + _elide(names) if names else "there are no registered models"
    return InvalidInputError(redact_secrets(f"model {name!r} is not registered at "
                                            f"{tracking_uri}; {listing}"),
                             hint="check --model and --tracking-uri")


def unknown_version_error(client: MlflowClient, name: str, version: str) -> InvalidInputError:
    found = client.search_model_versions(filter_string=_name_filter(name))
    numbers = sorted(int(v.version) for v in found if _VERSION_NUMBER.fullmatch(str(v.version)))
    # The newest versions are the likely targets, so those are the ones listed.
    shown = [str(n) for n in numbers[-MAX_LISTED:]]
    listing = ("its versions: " + ("..., " if len(numbers) > MAX_LISTED else "") + ", ".join(shown)
               if numbers else "it has no versions")
    return InvalidInputError(f"model {name!r} has no version {version}; {listing}",
                             hint="check --version")


def list_run_artifacts(client: MlflowClient, tracking_uri: str, run_id: str) -> frozenset[str]:
    """Every file and folder under the run's artifact root, as paths relative to it."""
    found: set[str] = set()
    pending: list[tuple[str | None, int]] = [(None, 1)]
    while pending:
        folder, depth = pending.pop()
        for info in client.list_artifacts(run_id, folder):
            found.add(info.path)
            if len(found) > MAX_ARTIFACTS or (info.is_dir and depth >= MAX_ARTIFACT_DEPTH):
                raise EvidenceSourceError(
                    redact_secrets(f"artifacts of run {run_id} at {tracking_uri} exceed what "
                                   f"gatekeeper lists ({MAX_ARTIFACTS} paths, "
                                   f"{MAX_ARTIFACT_DEPTH} levels)"),
                    hint="keep gated runs' artifacts within these bounds")
            if info.is_dir:
                pending.append((info.path, depth + 1))
    return frozenset(found)


def read_model_info(tracking_uri: str, location: str) -> ModelInfo | None:
    """What the MLmodel file at ``location`` declares; None if there is no readable one."""
    mlmodel = _read_mlmodel(tracking_uri, location)
    if mlmodel is None:
        return None
    flavors = mlmodel.get("flavors")
    return ModelInfo(
        uri=location,
        flavors=tuple(sorted(flavors)) if isinstance(flavors, dict) else (),
        has_signature=bool(mlmodel.get("signature")),
        has_input_example=bool(mlmodel.get("saved_input_example_info")),
    )


def _read_mlmodel(tracking_uri: str, location: str) -> dict[str, Any] | None:
    import_mlflow()
    from mlflow.artifacts import download_artifacts

    with tempfile.TemporaryDirectory(prefix="gatekeeper-mlmodel-") as folder:
        try:
            # The tracking URI is passed explicitly: "models:/" and "runs:/" locations would
            # otherwise be resolved against MLflow's process-wide URI.
            path = download_artifacts(artifact_uri=f"{location.rstrip('/')}/MLmodel",
                                      dst_path=folder, tracking_uri=tracking_uri)
        except Exception as exc:
            if is_not_found(exc) or isinstance(exc, FileNotFoundError):
                return None
            raise
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError):
            return None
    return data if isinstance(data, dict) else None


def _download(call: Callable[[], str]) -> Path | None:
    """The local folder ``call`` downloaded, or None when there was nothing to download."""
    try:
        path = Path(call())
    except Exception as exc:
        if is_not_found(exc) or isinstance(exc, FileNotFoundError):
            return None
        raise
    return path if path.is_dir() else path.parent


def list_sizes(listing: Callable[[str], Sequence[Any]], path: str) -> dict[str, int] | None:
    """Every file under ``path`` (a folder, or one file; ``listing`` lists one folder by its
    path, "" the root) as relative path -> bytes, within the bounds of
    :func:`list_run_artifacts`; None when nothing is there."""
    path = path.strip("/")
    found: dict[str, int] = {}
    pending: list[tuple[str, str, int]] = [("", path, 1)]
    while pending:
        prefix, at, depth = pending.pop()
        for info in listing(at):
            name = posixpath.basename(str(info.path).rstrip("/"))
            if info.is_dir:
                if depth >= MAX_ARTIFACT_DEPTH:
                    raise EvidenceSourceError(redact_secrets(
                        f"{path or 'the files'} are deeper than gatekeeper lists "
                        f"({MAX_ARTIFACT_DEPTH} levels)"))
                pending.append((f"{prefix}{name}/", f"{at}/{name}".lstrip("/"), depth + 1))
            else:
                found[f"{prefix}{name}"] = int(info.file_size or 0)
            if len(found) > MAX_ARTIFACTS:
                raise EvidenceSourceError(redact_secrets(
                    f"{path or 'the files'} hold more files than gatekeeper lists "
                    f"({MAX_ARTIFACTS})"))
    if found:
        return found
    # A single file lists nothing under itself: its folder lists it.
    parent, _, name = path.rpartition("/")
    for info in listing(parent) if path else ():
        if not info.is_dir and posixpath.basename(str(info.path)) == name:
            return {name: int(info.file_size or 0)}
    return None


def _downloaded(call: Callable[[], str]) -> Path | None:
    """The local file or folder ``call`` downloaded, or None when nothing was there."""
    try:
        return Path(call())
    except Exception as exc:
        if is_not_found(exc) or isinstance(exc, FileNotFoundError):
            return None
        raise


def _name_filter(name: str) -> str:
    quote = "'" if "'" not in name else '"'
    return f"name = {quote}{name}{quote}"


def _elide(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + ", ..." if len(items) > MAX_LISTED else shown
