"""The ``modelscan`` scanner: Protect AI's modelscan on the version's model files, before
anything loads the model.

modelscan reads serialized models without loading them: it lists the globals a pickle (or a
PyTorch, NumPy or joblib file, which hold pickles) would import, and the operators of Keras and
TensorFlow models, and flags the dangerous ones (``os.system``, ``builtins.exec``, ...) by
severity. It runs with its default settings, so its severities are the published ones.

Every model file ends in one of four places of the report:

- ``findings``: an unsafe global or operator (rule ``<module>.<operator>``);
- ``scanned``: modelscan read it and found nothing;
- ``unscanned``: modelscan could not read it (no scanner for the format, a parse error, a
  scanner crash), so nothing is known about it: the check reports ``error``;
- ``facts["safe_format"]`` / ``facts["not_model"]``: modelscan skipped it, and gatekeeper
  accepts it without a scan (rule below).

A skipped file is accepted without a scan only when its name and its bytes agree that it holds
no code: a safe format (``.safetensors`` with a valid header, ``.onnx``) or a plainly non-model
text file (``MLmodel``, ``.yaml``/``.yml``, ``.txt``, ``.json``, ``.md``: MLflow's metadata,
requirements and conda files, examples, cards) that is UTF-8 text. Either must also not parse
as a pickle, because a loader named in ``MLmodel`` would unpickle a file whatever its name; such
a file is unscanned, never accepted. Nothing is ever unpickled: pickles are read with
:func:`pickletools.genops`, which only decodes opcodes.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import pickletools
import struct
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from gatekeeper.evidence.scanners.interface import (
    Finding,
    ScanError,
    Scanner,
    ScanQuery,
    ScanReport,
    ScanTarget,
)

#: Formats that hold tensors and no code: loading them never runs anything.
SAFE_SUFFIXES = (".safetensors", ".onnx")
#: MLflow's metadata and the usual text companions of a model: never model weights.
TEXT_NAMES = ("MLmodel",)
TEXT_SUFFIXES = (".yaml", ".yml", ".txt", ".json", ".md")
#: How much of a text file is decoded to tell text from a binary blob.
TEXT_PROBE_BYTES = 1 << 20
#: The longest module or operator name shown: both come from the scanned file.
NAME_LIMIT = 80

#: Why modelscan skipped a file, by its skip category.
SKIP_REASONS = {
    "SCAN_NOT_SUPPORTED": "modelscan has no scanner for this format",
    "BAD_ZIP": "an unreadable zip archive",
    "MODEL_CONFIG": "a Keras H5 file without a model config, which modelscan cannot judge",
    "H5_DATA": "H5 data modelscan cannot judge",
    "NOT_IMPLEMENTED": "modelscan does not scan this format yet",
    "MAGIC_NUMBER": "not the format its name claims (wrong magic number)",
}
#: Why modelscan could not read a file, by its error category. The tool's own message is never
#: kept: it may quote bytes of the file.
ERROR_REASONS = {
    "PICKLE_GENOPS": "not a readable pickle (modelscan could not parse it)",
    "MODEL_SCAN": "modelscan failed reading it",
    "DEPENDENCY": "modelscan needs an optional package to read this format",
    "PATH": "modelscan could not open it",
    "NESTED_ZIP": "a zip inside a zip, which modelscan does not open",
    "JSON_DECODE": "a model config modelscan could not parse",
}


def scan(target: ScanTarget, query: ScanQuery, env: Mapping[str, str]) -> ScanReport:
    """modelscan's report on every model file of ``target`` (the source run's other
    artifacts are not models and are left alone)."""
    from modelscan._version import __version__
    from modelscan.modelscan import ModelScan

    tool = ModelScan()
    report = Collected()
    with quiet_tool():
        for path in target.files(model=True, run=False):
            tool.scan(path)
            report.add(target, path, tool)
    return ScanReport("modelscan", __version__, tuple(report.scanned),
                      tuple(report.findings), tuple(report.unscanned.items()),
                      facts={"safe_format": tuple(report.safe), "not_model": tuple(report.text)})


class Collected:
    """What the per-file scans found, each file in exactly one place."""

    def __init__(self) -> None:
        self.scanned: list[str] = []
        self.findings: list[Finding] = []
        self.unscanned: dict[str, str] = {}
        self.safe: list[str] = []
        self.text: list[str] = []

    def add(self, target: ScanTarget, path: Path, tool: Any) -> None:
        """Sort what ``tool`` found in its last scan, of the file ``path``."""
        if tool.errors and any(not error_source(e) for e in tool.errors):
            # An error tied to no file (a scanner that failed to load) leaves every format that
            # scanner reads unjudged: no answer rather than a partial one.
            raise ScanError("modelscan could not start all of its scanners ("
                            + ", ".join(sorted({e.name() for e in tool.errors})) + ")")
        for error in tool.errors:
            name = member_name(target, path, error_source(error))
            if error.name() == "MODEL_SCAN" and plain_numpy_array(path, error_source(error)):
                # modelscan 0.8's NumPy scanner calls a function NumPy 2.3 removed, so it fails
                # on every .npy. An array whose dtype holds no Python objects has no pickle in
                # it: nothing in it can run, as with safetensors.
                self.safe.append(name)
                continue
            self.unscanned.setdefault(name, ERROR_REASONS.get(error.name(), "modelscan failed "
                                                              "reading it"))
        for issue in tool.issues.all_issues:
            self.findings.append(finding(target, path, issue))
        for skipped in tool.skipped:
            self.judge_skipped(target, path, skipped.source, skipped.category.name)
        self.scanned += [n for n in (member_name(target, path, s) for s in tool.scanned)
                         if n not in self.unscanned]

    def judge_skipped(self, target: ScanTarget, path: Path, source: str, category: str) -> None:
        name = member_name(target, path, source)
        if name in self.unscanned or name in self.safe:
            return  # an error already says why, or the file was judged already
        kind = accepted_kind(path, source)
        if kind == "safe_format":
            self.safe.append(name)
        elif kind == "not_model":
            self.text.append(name)
        else:
            self.unscanned[name] = kind or SKIP_REASONS.get(category, "modelscan skipped it")


def error_source(error: Any) -> str:
    return str(error.to_dict().get("source", ""))


def member_name(target: ScanTarget, path: Path, source: str) -> str:
    """A file's name in the report: ``model/x.pkl``, or ``model/x.zip:inner.pkl`` for a member
    of an archive (modelscan names members ``<archive>:<member>``)."""
    member = source[len(str(path)) + 1:] if source.startswith(f"{path}:") else ""
    name = target.name(path)
    return f"{name}:{member}" if member else name


def finding(target: ScanTarget, path: Path, issue: Any) -> Finding:
    details = issue.details
    module, operator = shown(getattr(details, "module", "")), shown(getattr(details,
                                                                           "operator", ""))
    scanner = str(getattr(details, "scanner", "")).rsplit(".", 1)[-1]
    name = member_name(target, path, str(getattr(details, "source", path)))
    return Finding(f"{module}.{operator}", issue.severity.name.lower(), name,
                   detail=f"unsafe operator '{operator}' from module '{module}'"
                   + (f" ({scanner})" if scanner else ""),
                   ref=target.ref(target.name(path)))


def shown(text: object) -> str:
    """A module or operator name fit to show: it comes from the scanned file, so anything
    unprintable is replaced and its length capped."""
    clean = "".join(c if c.isprintable() else "?" for c in str(text))
    return clean if len(clean) <= NAME_LIMIT else clean[:NAME_LIMIT] + "..."


def accepted_kind(path: Path, source: str) -> str | None:
    """``safe_format`` or ``not_model`` when a file modelscan skipped may be accepted unscanned;
    otherwise None, or why it may not (when its bytes contradict its name)."""
    member = source[len(str(path)) + 1:] if source.startswith(f"{path}:") else ""
    base = member.rsplit("/", 1)[-1] if member else path.name
    suffix = Path(base).suffix.lower()
    if suffix in SAFE_SUFFIXES:
        kind = "safe_format"
    elif base in TEXT_NAMES or suffix in TEXT_SUFFIXES:
        kind = "not_model"
    else:
        return None
    try:
        with opened(path, member) as stream:
            if is_pickle(stream):
                return f"named as {'a safe format' if kind == 'safe_format' else 'text'} but " \
                       "its bytes are a pickle"
            stream.seek(0)
            if suffix == ".safetensors" and not safetensors_header(stream):
                return "named .safetensors but without a safetensors header"
            stream.seek(0)
            if kind == "not_model" and not is_text(stream):
                return "named as text but its bytes are not UTF-8 text"
    except (OSError, zipfile.BadZipFile, KeyError, RuntimeError):
        return "unreadable"
    return kind


@contextlib.contextmanager
def opened(path: Path, member: str) -> Iterator[IO[bytes]]:
    """A seekable binary stream of ``path``, or of ``member`` of the archive ``path``."""
    if not member:
        with path.open("rb") as stream:
            yield stream
        return
    with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
        yield stream


def plain_numpy_array(path: Path, source: str) -> bool:
    """Whether ``source`` (``path`` or a member of it) is a ``.npy`` array whose dtype holds
    no Python objects. Only the header is read, with NumPy's own header parser (a literal
    dict); object arrays, which NumPy stores as a pickle, are not plain."""
    import numpy as np

    member = source[len(str(path)) + 1:] if source.startswith(f"{path}:") else ""
    if not (member or path.name).lower().endswith(".npy"):
        return False
    try:
        with opened(path, member) as stream:
            major, _minor = np.lib.format.read_magic(stream)
            read_header = (np.lib.format.read_array_header_1_0 if major == 1
                           else np.lib.format.read_array_header_2_0)
            _shape, _fortran, dtype = read_header(stream)
    except (OSError, ValueError, zipfile.BadZipFile, KeyError, RuntimeError):
        return False
    return not dtype.hasobject


def is_pickle(stream: IO[bytes]) -> bool:
    """Whether the bytes decode as a whole pickle, up to its STOP opcode. Decoding opcodes
    (:func:`pickletools.genops`) never imports or calls anything."""
    try:
        return any(op.name == "STOP" for op, _arg, _pos in pickletools.genops(stream))
    except Exception:  # any malformed stream: not a pickle a loader would accept either
        return False


def safetensors_header(stream: IO[bytes]) -> bool:
    """Whether the file starts as safetensors does: an 8-byte little-endian length, then a JSON
    object of that length."""
    head = stream.read(8)
    if len(head) != 8:
        return False
    (size,) = struct.unpack("<Q", head)
    if not 2 <= size <= 100 * 1024 * 1024:
        return False
    try:
        return isinstance(json.loads(stream.read(size)), dict)
    except ValueError:
        return False


def is_text(stream: IO[bytes]) -> bool:
    """Whether the file's first megabyte is UTF-8 text without NUL bytes."""
    data = stream.read(TEXT_PROBE_BYTES)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


@contextlib.contextmanager
def quiet_tool() -> Iterator[None]:
    """modelscan logs parse errors to stderr, quoting the file; gatekeeper reports them itself."""
    logger = logging.getLogger("modelscan")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


SCANNER = Scanner("modelscan", "security", ("modelscan",), scan,
                  summary="Unsafe operators in serialized models (pickle, PyTorch, NumPy, "
                  "Keras, TensorFlow), read without loading them.")
