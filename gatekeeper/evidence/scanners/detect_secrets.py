"""The ``detect-secrets`` scanner: credentials in a version's text artifacts.

Yelp's detect-secrets runs through its Python API (``SecretsCollection`` under
``transient_settings``) on every *text* file of the model and of its source run: the model
card, configs, ``MLmodel``, requirements, input examples. Which files are text is decided
here, not by detect-secrets (whose extension list would skip a ``.lock`` or a ``*swagger*``
file without a word):

- a file whose first 8 KiB hold a NUL byte or are not UTF-8 is binary (a pickle, a skops or
  safetensors file, an image) and skipped by rule: it is no text artifact. Skipped files are
  listed in the report's facts;
- a text file larger than the query's ``max_file_mb`` (default :data:`DEFAULT_MAX_FILE_MB`), or
  one that stops being UTF-8 past its first 8 KiB, is *unscanned*: no evidence, so ``error``.

Detectors: every detect-secrets plugin that matches a credential's own shape (AWS, GitHub,
GitLab, Slack, Stripe, private keys, ``user:password@`` in URLs, JWTs, ...) and, unless the
query says ``keyword=false``, the keyword detector (``password: ...`` in configs). The two
entropy detectors are off unless the query says ``entropy=true``: model artifacts are full of
high-entropy strings that are no secret (hashes in ``MLmodel``, base64 tensors in input
examples). The public-IP detector is never on: an address is no credential.

Filters: detect-secrets' false-positive heuristics (templated values such as ``${TOKEN}``,
UUIDs, sequential strings, indirect references) stay on; the inline allowlist comment
(``pragma: allowlist secret``) is off, because whoever wrote the artifact is the one being
gated: a known false positive is accepted in the playbook instead (``allow``).

A finding is the detect-secrets type (``AWS Access Key``), the file, the line and an
HMAC-SHA256 of the secret. The key is ``GATEKEEPER_SCAN_SALT`` when set (an organisation then
recognises one secret across runs and can ``allow`` a known false positive) or else a random
key per process (digests then only tell findings of one report apart); the facts say which,
never the key. detect-secrets keeps each secret's plain value (and an unsalted SHA-1 of it,
which would confirm a guess) on its ``PotentialSecret``: neither leaves this module.
"""

from __future__ import annotations

import codecs
import hashlib
import hmac
import locale
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatekeeper.evidence.scanners.interface import (
    Finding,
    ScanError,
    Scanner,
    ScanQuery,
    ScanReport,
    ScanTarget,
)

NAME = "detect-secrets"
#: The environment variable holding the organisation's key for secret digests.
SALT_ENV = "GATEKEEPER_SCAN_SALT"
#: Larger text files are not read (unscanned, so the check is ``error``, never a partial pass).
DEFAULT_MAX_FILE_MB = 10
#: How much of a file decides whether it is text (git looks at as much for a NUL byte).
SNIFF_BYTES = 8192
DIGEST_PREFIX = "hmac-sha256:"

#: detect-secrets plugins (class names) toggled by the query, and the one never run.
ENTROPY_PLUGINS = frozenset({"Base64HighEntropyString", "HexHighEntropyString"})
KEYWORD_PLUGIN = "KeywordDetector"
NEVER_PLUGINS = frozenset({"IPPublicDetector"})
#: Findings of these plugins are guesses from context or randomness, not a credential's shape.
GUESSING_PLUGINS = ENTROPY_PLUGINS | {KEYWORD_PLUGIN}

#: Filters that drop a whole file by its name, or a line by a comment its author wrote.
DROPPED_FILTERS = (
    "detect_secrets.filters.heuristic.is_non_text_file",
    "detect_secrets.filters.heuristic.is_lock_file",
    "detect_secrets.filters.heuristic.is_swagger_file",
    "detect_secrets.filters.allowlist.is_line_allowlisted",
)

# Used when GATEKEEPER_SCAN_SALT is not set: a digest in one report cannot be matched against
# another run's, nor used to confirm a guessed secret.
_PROCESS_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class Options:
    """What the query asks of the scan."""

    entropy: bool = False
    keyword: bool = True
    max_file_mb: int = DEFAULT_MAX_FILE_MB

    def params(self) -> tuple[tuple[str, str], ...]:
        return (("entropy", str(self.entropy).lower()), ("keyword", str(self.keyword).lower()),
                ("max_file_mb", str(self.max_file_mb)))

    @classmethod
    def of(cls, query: ScanQuery) -> Options:
        return cls(entropy=flag(query, "entropy", False), keyword=flag(query, "keyword", True),
                   max_file_mb=size_limit(query))


def flag(query: ScanQuery, name: str, default: bool) -> bool:
    raw = query.param(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise ScanError(f"{name} '{raw}' is neither true nor false")
    return raw == "true"


def size_limit(query: ScanQuery) -> int:
    raw = query.param("max_file_mb") or str(DEFAULT_MAX_FILE_MB)
    if not raw.isdigit() or int(raw) < 1:
        raise ScanError(f"max_file_mb '{raw}' is not a whole number of megabytes >= 1")
    return int(raw)


@dataclass(frozen=True)
class Sorted:
    """The target's files by what the scan does with them."""

    text: tuple[Path, ...]
    binary: tuple[str, ...]
    unscanned: tuple[tuple[str, str], ...]


def scan(target: ScanTarget, query: ScanQuery, env: Mapping[str, str]) -> ScanReport:
    """Run detect-secrets on the text files of ``target``."""
    from detect_secrets.__version__ import VERSION

    options = Options.of(query)
    key, salt = digest_key(env)
    files = sort_files(target, options.max_file_mb * 1024 * 1024)
    detectors, findings = run_detect_secrets(target, files.text, options, key)
    facts = {"salt": salt, "detectors": detectors, "binary_skipped": list(files.binary),
             "entropy": options.entropy, "keyword": options.keyword,
             "max_file_mb": options.max_file_mb}
    return ScanReport(NAME, VERSION, tuple(target.name(p) for p in files.text),
                      tuple(findings), files.unscanned, facts)


def digest_key(env: Mapping[str, str]) -> tuple[bytes, str]:
    """The HMAC key for digests, and what the facts say about it (never the key itself)."""
    configured = env.get(SALT_ENV, "")
    if configured:
        return configured.encode("utf-8"), SALT_ENV
    return _PROCESS_KEY, "random per process"


def secret_digest(key: bytes, secret: str) -> str:
    mac = hmac.new(key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return DIGEST_PREFIX + mac.hexdigest()


def sort_files(target: ScanTarget, max_bytes: int) -> Sorted:
    text: list[Path] = []
    binary: list[str] = []
    unscanned: list[tuple[str, str]] = []
    for path in target.files():
        verdict = classify(path, max_bytes)
        if verdict == "text":
            text.append(path)
        elif verdict == "binary":
            binary.append(target.name(path))
        else:
            unscanned.append((target.name(path), verdict))
    return Sorted(tuple(text), tuple(binary), tuple(unscanned))


def classify(path: Path, max_bytes: int) -> str:
    """``text``, ``binary``, or why the text file cannot be scanned."""
    try:
        with path.open("rb") as stream:
            head = stream.read(SNIFF_BYTES)
        size = path.stat().st_size
    except OSError as exc:
        return f"could not be read ({exc.strerror or type(exc).__name__})"
    if b"\0" in head or not utf8_prefix(head):
        return "binary"
    if size > max_bytes:
        return (f"a text file of {size / (1024 * 1024):.1f} MB, over the max_file_mb limit "
                f"of {max_bytes // (1024 * 1024)} MB")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return f"text in its first {SNIFF_BYTES // 1024} KiB but not UTF-8 further on"
    except OSError as exc:
        return f"could not be read ({exc.strerror or type(exc).__name__})"
    if not text.isascii() and not locale_reads_utf8():
        # detect-secrets opens files in the locale's encoding and skips, silently, a file it
        # cannot decode: that would be a pass on a file nobody read.
        return (f"not ASCII, and detect-secrets reads files in the locale's encoding "
                f"({locale.getpreferredencoding(False)}); run with PYTHONUTF8=1")
    return "text"


def utf8_prefix(head: bytes) -> bool:
    """Whether ``head`` is UTF-8, allowing a character cut at its end."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def locale_reads_utf8() -> bool:
    return codecs.lookup(locale.getpreferredencoding(False)).name == "utf-8"


def run_detect_secrets(target: ScanTarget, files: tuple[Path, ...], options: Options,
                       key: bytes) -> tuple[list[str], list[Finding]]:
    """The secret types looked for, and the findings (each secret's value dropped at once)."""
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import transient_settings

    plugins = {name: kind for kind, name in plugin_names().items() if wanted(name, options)}
    with transient_settings({"plugins_used": [{"name": n} for n in sorted(plugins)]}) as settings:
        settings.disable_filters(*DROPPED_FILTERS)
        collection = SecretsCollection()
        # One file at a time: scan_files would fork a process pool.
        for path in files:
            collection.scan_file(str(path))
        guessing = {plugins[n] for n in plugins if n in GUESSING_PLUGINS}
        findings = sorted(take_findings(collection, target, key, guessing),
                          key=lambda f: (f.file, f.line or 0, f.rule))
    return sorted(plugins.values()), findings


def plugin_names() -> dict[str, str]:
    """Every detect-secrets plugin: its secret type and its class name."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    mapping: dict[str, type] = get_mapping_from_secret_type_to_class()
    return {kind: cls.__name__ for kind, cls in mapping.items()}


def wanted(plugin: str, options: Options) -> bool:
    if plugin in NEVER_PLUGINS:
        return False
    if plugin in ENTROPY_PLUGINS:
        return options.entropy
    if plugin == KEYWORD_PLUGIN:
        return options.keyword
    return True


def take_findings(collection: Any, target: ScanTarget, key: bytes,
                  guessing: set[str]) -> Iterator[Finding]:
    """Findings from ``collection``, emptying it: no secret value or plain hash outlives it."""
    for filename, found in list(collection.data.items()):
        name = target.name(Path(filename))
        for potential in found:
            value = potential.secret_value
            potential.secret_value = None
            potential.secret_hash = ""
            yield Finding(rule=str(potential.type),
                          severity="medium" if potential.type in guessing else "high",
                          file=name, line=potential.line_number or None,
                          digest=secret_digest(key, value) if value is not None else None,
                          ref=target.ref(name))
    collection.data.clear()


SCANNER = Scanner(NAME, "security", ("detect_secrets",), scan,
                  summary="Credentials in the text files of a version's model and run "
                          "(detect-secrets).")
