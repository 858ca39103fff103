"""What the checks read, fixed: sha256 of artifacts and model files, values of required tags.

Run in the evidence step, after the registry was read (``pipeline.py``). For one candidate:

* the model itself: every file of the version's model, as a manifest digest (sha256 of the
  RFC 8785 JSON of the sorted ``[path, "sha256:…"]`` pairs), with per-file digests when it has
  at most ``MAX_FILES_LISTED`` files; the MLmodel file (signature) and the input example it
  names, on their own, when a check read them;
* each run artifact a check requires (a model card, a folder: a manifest as for the model);
* the value of each tag a check requires, or only a keyed hash of it when it looks sensitive
  (``gatekeeper.common.sensitive``).

Sizes are listed before anything is downloaded, and only what is needed is copied, into a
private temporary folder deleted afterwards. Past ``max_bytes`` in all, an item is not copied
and its entry says so (``{"error": …}``); so does an item that cannot be read. A digest that
cannot be taken never changes the verdict: the checks judged the evidence, the digests let a
reviewer see later whether it changed (:func:`changed_evidence`).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785
import yaml

from gatekeeper.common.redact import redact_secrets
from gatekeeper.common.sensitive import SALT_ENV, digest_key, keyed_digest, why_sensitive
from gatekeeper.errors import InfrastructureError
from gatekeeper.evidence.interface import (
    MODEL_FILES,
    EvidenceRequest,
    EvidenceSource,
    VersionEvidence,
)

#: Where ``with_scans`` leaves the digests of the model files it copied for the scanners
#: (``Evidence.extra``), so they are hashed from that copy instead of downloaded twice.
MODEL_COPY = "digests:model-copy"
#: The most bytes copied to take the digests of one decision (all items together).
MAX_DIGEST_BYTES = 512 * 2**20
#: A model or folder with more files keeps its manifest digest without per-file digests.
MAX_FILES_LISTED = 100
PREFIX = "sha256:"
_CHUNK = 2**20

Digests = dict[str, dict[str, Any]]


def model_ref(cand: VersionEvidence) -> str:
    """The reference of the model files' manifest digest."""
    return f"mlflow:models/{cand.name}/{cand.version}/model_files"


def evidence_digests(cand: VersionEvidence, request: EvidenceRequest, source: EvidenceSource,
                     *, max_bytes: int = MAX_DIGEST_BYTES, env: Mapping[str, str] | None = None,
                     copied: Mapping[str, Any] | None = None) -> Digests:
    """Digests and values of what the checks asked by ``request`` read of ``cand``, by
    evidence reference (the references the checks cite). ``copied``: the model's digests
    taken from the scanners' copy (``MODEL_COPY``), used instead of downloading it again."""
    found: Digests = {}
    budget = _Budget(max_bytes)
    with tempfile.TemporaryDirectory(prefix="gatekeeper-digest-") as folder:
        root = Path(folder)
        if copied is not None:
            parts = {cand.ref("model", "signature"), cand.ref("model", "input_example")}
            found.update({ref: dict(entry) for ref, entry in copied.items()
                          if request.model_info or ref not in parts})
        else:
            found.update(_model_digests(cand, request, source, root / "model", budget))
        for index, path in enumerate(sorted(request.read_artifacts)):
            found[cand.ref("artifacts", path)] = _item_digest(
                cand, source, path.strip("/"), root / f"artifact-{index}", budget)
    found.update(tag_values(cand, request.read_tags, env))
    return found


def tag_values(cand: VersionEvidence, tags: frozenset[str],
               env: Mapping[str, str] | None = None) -> Digests:
    """Each required tag's value (the version's over the run's, as the checks read it), or
    ``{"hmac", "key", "why"}`` when it looks sensitive. Unset tags are left out: the check
    that needed them already says they are missing."""
    key, key_label = digest_key(env)
    out: Digests = {}
    for tag in sorted(tags):
        for section, values in (("version_tags", cand.version_tags), ("tags", cand.run_tags)):
            value = values.get(tag, "").strip()
            if value:
                why = why_sensitive(tag, value)
                out[cand.ref(section, tag)] = ({"value": value} if why is None else
                                               {"hmac": keyed_digest(value, key),
                                                "key": key_label, "why": why})
                break
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return PREFIX + digest.hexdigest()


def manifest_digest(files: Mapping[str, str]) -> str:
    """sha256 of the RFC 8785 JSON of the sorted ``[path, digest]`` pairs."""
    pairs = [[path, files[path]] for path in sorted(files)]
    return PREFIX + hashlib.sha256(rfc8785.dumps(pairs)).hexdigest()


def tree_digest(local: Path) -> dict[str, Any]:
    """The entry of a downloaded file or folder: ``sha256`` and ``bytes``; a folder's
    ``sha256`` is its manifest digest, with ``files`` when there are few enough."""
    if local.is_file():
        return {"sha256": file_sha256(local), "bytes": local.stat().st_size}
    files = {p.relative_to(local).as_posix(): file_sha256(p) for p in _files(local)}
    entry: dict[str, Any] = {"sha256": manifest_digest(files),
                             "bytes": sum(p.stat().st_size for p in _files(local)),
                             "file_count": len(files)}
    if len(files) <= MAX_FILES_LISTED:
        entry["files"] = files
    return entry


def _files(folder: Path) -> Iterator[Path]:
    return (p for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink())


@dataclass
class _Budget:
    left: int


def _copy(cand: VersionEvidence, source: EvidenceSource, where: str, dest: Path,
          budget: _Budget) -> Path | dict[str, Any]:
    """The local copy of ``where``, or the entry saying why there is none."""
    try:
        sizes = source.file_sizes(cand, where)
        if sizes is None:
            return {"error": "not found"}
        total = sum(sizes.values())
        if total > budget.left:
            return {"error": f"not copied: {total} bytes, over the {budget.left} bytes left of "
                             f"the digest cap", "bytes": total}
        budget.left -= total
        dest.mkdir(parents=True)
        local = source.download(cand, where, dest)
    except InfrastructureError as exc:
        return {"error": redact_secrets(f"could not be read: {exc}")}
    return local if local is not None else {"error": "not found"}


def _item_digest(cand: VersionEvidence, source: EvidenceSource, where: str, dest: Path,
                 budget: _Budget) -> dict[str, Any]:
    local = _copy(cand, source, where, dest, budget)
    return local if isinstance(local, dict) else tree_digest(local)


def _model_digests(cand: VersionEvidence, request: EvidenceRequest, source: EvidenceSource,
                   dest: Path, budget: _Budget) -> Digests:
    local = _copy(cand, source, MODEL_FILES, dest, budget)
    if isinstance(local, dict):
        return {model_ref(cand): local}
    found = {model_ref(cand): tree_digest(local)}
    if request.model_info:
        found.update(_model_parts(cand, local))
    return found


def copied_model_digests(cand: VersionEvidence, local: Path) -> Digests:
    """The model's digests from a local copy of its files (the scanners')."""
    return {model_ref(cand): tree_digest(local), **_model_parts(cand, local)}


def _model_parts(cand: VersionEvidence, local: Path) -> Digests:
    """The MLmodel file (which holds the signature) and the input example it names."""
    mlmodel = local / "MLmodel"
    if not mlmodel.is_file():
        return {}
    found = {cand.ref("model", "signature"): {**tree_digest(mlmodel), "file": "MLmodel"}}
    try:
        data = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return found
    info = data.get("saved_input_example_info") if isinstance(data, dict) else None
    name = info.get("artifact_path") if isinstance(info, dict) else None
    example = (local / str(name)).resolve() if name else None
    if example is not None and example.is_file() and example.is_relative_to(local.resolve()):
        found[cand.ref("model", "input_example")] = {**tree_digest(example), "file": str(name)}
    return found


@dataclass(frozen=True)
class Change:
    """One item of a decision record compared with what the registry holds now."""

    ref: str
    status: str  # unchanged | changed | missing | unchecked
    detail: str = ""

    def line(self) -> str:
        return f"{self.status:<9}  {self.ref}" + (f"  ({self.detail})" if self.detail else "")


def changed_evidence(recorded: Mapping[str, Any], cand: VersionEvidence,
                     source: EvidenceSource, sealed: Mapping[str, Mapping[str, str]] | None,
                     *, max_bytes: int = MAX_DIGEST_BYTES,
                     env: Mapping[str, str] | None = None) -> list[Change]:
    """Re-take the digests of a decision record's ``evidence_digests`` (``recorded``) from
    ``cand`` as the registry holds it now, and say per reference whether it changed.
    ``sealed`` holds the record's kept values (record/sealed.py), to compare tag values; None
    for a store that keeps none."""
    now = evidence_digests(cand, _request_for(recorded, cand), source, max_bytes=max_bytes,
                           env=env)
    return [_compare(ref, dict(recorded[ref]), now.get(ref),
                     _kept(sealed, ref) if sealed is not None else "not kept by this store",
                     env) for ref in sorted(recorded)]


def _kept(sealed: Mapping[str, Mapping[str, str]], ref: str) -> Mapping[str, str] | str:
    return sealed.get(ref) or "the value was redacted"


def _request_for(recorded: Mapping[str, Any], cand: VersionEvidence) -> EvidenceRequest:
    artifacts = cand.ref("artifacts", "")
    tag_refs = {cand.ref(s, ""): s for s in ("version_tags", "tags")}
    return EvidenceRequest(
        model_info=any(r.startswith(cand.ref("model", "")) for r in recorded),
        read_artifacts=frozenset(r[len(artifacts):] for r in recorded
                                 if r.startswith(artifacts)),
        read_tags=frozenset(r[len(p):] for r in recorded for p in tag_refs
                            if r.startswith(p)))


def _compare(ref: str, then: dict[str, Any], now: Mapping[str, Any] | None,
             sealed: Mapping[str, str] | str, env: Mapping[str, str] | None) -> Change:
    """``sealed``: the kept value and salt, or why there is none."""
    if "error" in then:
        return Change(ref, "unchecked", f"no digest was taken: {then['error']}")
    if now is None or "error" in now:
        return Change(ref, "missing", str((now or {}).get("error") or "no longer set"))
    if "sha256" in then:
        if then["sha256"] == now.get("sha256"):
            return Change(ref, "unchanged")
        return Change(ref, "changed", _files_changed(then, now))
    if "value" in then:  # a result's entry: the value itself
        kept = {"value": str(then["value"])}
        return _compare(ref, {"sealed": ""}, now, kept, env)
    if "sealed" in then:
        if isinstance(sealed, str):
            return Change(ref, "unchecked", sealed)
        value = now.get("value")
        if value is None:  # it looks sensitive now: never shown, compared by its hash
            key, _ = digest_key(env)
            same = now.get("hmac") == keyed_digest(sealed["value"], key)
        else:
            same = value == sealed["value"]
        return Change(ref, "unchanged") if same else Change(ref, "changed", "value differs")
    if "hmac" in then:
        if then.get("key") != SALT_ENV:
            return Change(ref, "unchecked", f"hashed with a key random per process; set "
                                            f"{SALT_ENV} to compare sensitive values")
        same = then["hmac"] == now.get("hmac")
        return Change(ref, "unchanged") if same else Change(ref, "changed", "value differs")
    return Change(ref, "unchecked", "unknown entry")


def _files_changed(then: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    before, after = dict(then.get("files") or {}), dict(now.get("files") or {})
    if not before or not after:
        return "content differs"
    names = sorted({p for p in before.keys() | after.keys() if before.get(p) != after.get(p)})
    return "files changed: " + ", ".join(names) if names else "content differs"
