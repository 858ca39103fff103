"""The ``presidio`` scanner: personal data in a version's input example and sample outputs.

Microsoft Presidio runs offline with its pattern recognisers only (e-mail addresses, phone
numbers, credit cards, IBANs, IP addresses, US social security numbers, crypto wallets,
MAC addresses) on a *blank* spaCy pipeline: no spaCy model is loaded or downloaded, so
nothing that needs named-entity recognition (person names, locations) can be found, and the
report's facts say which entity types can. E-mail validation uses the public-suffix snapshot
bundled with ``tldextract`` instead of fetching the list.

Scanned: the model's ``input_example.json`` and ``serving_input_example.json``, and every run
artifact matching the query's ``output`` globs (default :data:`DEFAULT_OUTPUTS`). JSON is
walked value by value (keys, strings and integers; location = line for JSON Lines, and a JSON
path); any other file is read as UTF-8 text line by line. A file that is not UTF-8 text, an
input example that is not JSON, or a file larger than :data:`MAX_BYTES` is unscanned (no
evidence). A finding carries the entity type, file, line, JSON path and a score bucket, never
the matched text.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import version
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

#: The model files holding the version's input example (MLflow writes both).
INPUT_EXAMPLES = ("input_example.json", "serving_input_example.json")
#: Run artifacts scanned as sample outputs unless the check names its own globs.
DEFAULT_OUTPUTS = ("sample_outputs*", "predictions*")
#: Scores below this are not reported unless the query asks for a lower one. Presidio gives a
#: bare phone number 0.4 (0.75 next to a word such as "phone"), so 0.4 keeps phone numbers.
DEFAULT_MIN_SCORE = 0.4
#: Larger files are not read (unscanned, so the check is ``error``, never a partial pass).
MAX_BYTES = 10 * 1024 * 1024
#: The entity types the pattern recognisers find, and how sensitive each is (the severity).
#: UK_NHS is left out: one in eleven 10-digit phone numbers passes its checksum.
SENSITIVITY: Mapping[str, str] = {
    "CREDIT_CARD": "high", "IBAN_CODE": "high", "US_SSN": "high",
    "EMAIL_ADDRESS": "medium", "PHONE_NUMBER": "medium", "CRYPTO": "medium",
    "IP_ADDRESS": "low", "MAC_ADDRESS": "low",
}
ENGINE = "Presidio pattern recognisers on a blank spaCy 'en' pipeline (no NER model)"
LANGUAGE = "en"
#: A JSON key shown in a path: a short identifier with few digits (a key that could be the
#: personal data itself, such as an e-mail address or an account number, is shown by position).
SAFE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
LEMMA_COMPONENT = "gatekeeper_lowercase_lemma"


@dataclass(frozen=True)
class Unit:
    """One piece of text to analyse and where it is: a line and/or a JSON path."""

    text: str
    line: int | None
    path: str = ""


@dataclass(frozen=True)
class Hit:
    entity: str
    start: int
    end: int
    score: float


def scan(target: ScanTarget, query: ScanQuery, env: Mapping[str, str]) -> ScanReport:
    """Analyse the input examples and the sample outputs of ``target``."""
    min_score = query_min_score(query)
    globs = query_outputs(query)
    examples = input_examples(target)
    outputs = sample_outputs(target, globs)
    findings: list[Finding] = []
    scanned: list[str] = []
    unscanned: list[tuple[str, str]] = []
    for path, must_be_json in [(p, True) for p in examples] + [(p, False) for p in outputs]:
        name = target.name(path)
        units = read_units(path, must_be_json)
        if isinstance(units, str):
            unscanned.append((name, units))
            continue
        scanned.append(name)
        findings += analyse(units, name, target.ref(name), min_score)
    facts = {"engine": ENGINE, "supported_entities": sorted(SENSITIVITY),
             "min_score": min_score, "outputs": list(globs),
             "input_examples": [target.name(p) for p in examples],
             "outputs_found": [target.name(p) for p in outputs]}
    return ScanReport("presidio", version("presidio-analyzer"), tuple(scanned),
                      tuple(findings), tuple(unscanned), facts)


def query_min_score(query: ScanQuery) -> float:
    raw = query.param("min_score")
    try:
        score = DEFAULT_MIN_SCORE if raw is None else float(raw)
    except ValueError:
        raise ScanError(f"min_score '{raw}' is not a number") from None
    if not 0 <= score <= 1:
        raise ScanError(f"min_score {score:g} is outside 0..1")
    return score


def query_outputs(query: ScanQuery) -> tuple[str, ...]:
    """The ``output`` globs of the query (repeated params), or the defaults."""
    return tuple(v for k, v in query.params if k == "output") or DEFAULT_OUTPUTS


def input_examples(target: ScanTarget) -> list[Path]:
    """The input-example files at the top of the model folder."""
    if target.model_dir is None:
        return []
    return [target.model_dir / n for n in INPUT_EXAMPLES if (target.model_dir / n).is_file()]


def sample_outputs(target: ScanTarget, globs: tuple[str, ...]) -> list[Path]:
    """Run artifacts matching any glob: on the path in the run (``*`` crosses folders), or on
    the file name for a glob without ``/``."""
    if target.run_dir is None:
        return []
    run_dir = target.run_dir
    return [p for p in target.files(model=False) if matches(p.relative_to(run_dir).as_posix(),
                                                            globs)]


def matches(relative: str, globs: tuple[str, ...]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(relative, g) or ("/" not in g and fnmatch.fnmatchcase(name, g))
               for g in globs)


def read_units(path: Path, must_be_json: bool) -> list[Unit] | str:
    """The file's text units, or why it cannot be scanned."""
    if path.stat().st_size > MAX_BYTES:
        return f"larger than the {MAX_BYTES // (1024 * 1024)} MB the PII scan reads"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    if path.suffix in (".jsonl", ".ndjson"):
        return [u for n, line in enumerate(text.splitlines(), 1) for u in line_units(line, n)]
    if path.suffix == ".json" or must_be_json:
        try:
            document = json.loads(text)
        except ValueError:
            if must_be_json:
                return "not valid JSON"
        else:
            return list(walk(document, "$", None))
    return [Unit(line, n) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def line_units(line: str, number: int) -> list[Unit]:
    """One JSON Lines record, walked; a line that is not JSON is read as text."""
    try:
        return list(walk(json.loads(line), "$", number))
    except ValueError:
        return [Unit(line, number)] if line.strip() else []


def walk(value: Any, path: str, line: int | None) -> Iterator[Unit]:
    """Every key, string and integer in a JSON value, with its JSON path."""
    if isinstance(value, dict):
        for index, (key, item) in enumerate(value.items()):
            step = f"{path}.{key}" if safe_key(key) else f"{path}{{key {index}}}"
            yield Unit(key, line, f"{step} (key)")
            yield from walk(item, step, line)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]", line)
    elif isinstance(value, str):
        yield Unit(value, line, path)
    elif isinstance(value, int) and not isinstance(value, bool):
        yield Unit(str(value), line, path)  # a card number may be logged as a number


def safe_key(key: str) -> bool:
    return SAFE_KEY.fullmatch(key) is not None and sum(c.isdigit() for c in key) < 4


def analyse(units: list[Unit], name: str, ref: str, min_score: float) -> list[Finding]:
    """Findings in ``units``: entity type, place and score bucket, never the text."""
    engine = batch_engine()
    results = engine.analyze_iterator([u.text for u in units], language=LANGUAGE,
                                      batch_size=64, score_threshold=min_score,
                                      entities=sorted(SENSITIVITY))
    findings: list[Finding] = []
    for unit, found in zip(units, results, strict=True):
        hits = [Hit(r.entity_type, r.start, r.end, r.score) for r in found]
        for hit in strongest(hits):
            findings.append(Finding(hit.entity, SENSITIVITY.get(hit.entity, "medium"), name,
                                    unit.line, detail=describe(unit, hit), ref=ref))
    return findings


def strongest(hits: list[Hit]) -> list[Hit]:
    """``hits`` without those inside the span of a higher-scored hit of another type (an IP
    address also reads as a phone number), in text order."""
    def shadowed(hit: Hit) -> bool:
        return any(o.entity != hit.entity and o.score > hit.score and o.start <= hit.start
                   and hit.end <= o.end for o in hits)
    return sorted((h for h in hits if not shadowed(h)), key=lambda h: (h.start, h.entity))


def describe(unit: Unit, hit: Hit) -> str:
    """Where in the file, and the score bucket (tenths): safe words, no matched text."""
    low = min(int(hit.score * 10), 9) / 10
    bucket = f"score {low:.1f}-{low + 0.1:.1f}"
    return f"{unit.path}, {bucket}" if unit.path else bucket


@functools.cache
def batch_engine() -> Any:
    """One Presidio engine per process (building it takes a while)."""
    from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry

    registry = RecognizerRegistry(recognizers=recognizers(), supported_languages=[LANGUAGE])
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=blank_nlp_engine(),
                              supported_languages=[LANGUAGE])
    return BatchAnalyzerEngine(analyzer)


def recognizers() -> list[Any]:
    """The pattern recognisers (each validates its match: Luhn, IBAN checksum, ...)."""
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        CryptoRecognizer,
        IbanRecognizer,
        IpRecognizer,
        MacAddressRecognizer,
        PhoneRecognizer,
        UsSsnRecognizer,
    )

    return [offline_email_class()(), PhoneRecognizer(), CreditCardRecognizer(),
            IbanRecognizer(), IpRecognizer(), UsSsnRecognizer(),
            CryptoRecognizer(), MacAddressRecognizer()]


def blank_nlp_engine() -> Any:
    """A spaCy NLP engine on ``spacy.blank('en')``: tokens only, no model to load.

    Presidio's ``SpacyNlpEngine.load`` would ``spacy.load`` (and download) a trained model;
    this engine is handed its pipeline instead. Lower-cased tokens stand in for lemmas so
    context words ("phone", "card") still raise a match's score.
    """
    import spacy
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from spacy.language import Language

    if not Language.has_factory(LEMMA_COMPONENT):
        Language.component(LEMMA_COMPONENT, func=lowercase_lemmas)
    nlp = spacy.blank(LANGUAGE)
    nlp.add_pipe(LEMMA_COMPONENT)
    # spaCy's length cap guards the memory of a parser and NER, which a blank pipeline has
    # not; a long line of a file within MAX_BYTES must still be read.
    nlp.max_length = MAX_BYTES + 1

    class BlankSpacyNlpEngine(SpacyNlpEngine):
        engine_name = "gatekeeper_blank_spacy"

        def load(self) -> None:
            self.nlp = {LANGUAGE: nlp}  # type: ignore[assignment]  # Presidio types it None

    engine = BlankSpacyNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "blank"}])
    engine.load()
    return engine


def lowercase_lemmas(doc: Any) -> Any:
    for token in doc:
        token.lemma_ = token.lower_
    return doc


@functools.cache
def offline_email_class() -> type:
    """Presidio's e-mail recogniser validating domains with the public-suffix snapshot bundled
    with ``tldextract``: the stock one asks ``tldextract``, which fetches the list online."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(),
                                    fallback_to_snapshot=True)

    class OfflineEmail(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return bool(extract(pattern_text).fqdn)

    return OfflineEmail


SCANNER = Scanner("presidio", "privacy", ("presidio_analyzer", "spacy"), scan,
                  summary="Personal data (e-mail, phone, card, IBAN, IP, ...) in the input "
                  "example and sample outputs, with Presidio's pattern recognisers offline.")
