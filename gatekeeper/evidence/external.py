"""Evidence from sources other than the model registry (Prometheus today), gathered before
checks run.

A check asks for what it needs as :class:`ExternalQuery` values in its ``needs``; the gate
answers them all in one :func:`with_external` call after the registry was read, and each answer
lands in ``Evidence.extra[query.key]``. Checks stay pure: they only read those answers.

A query that cannot be answered (unreachable server, timeout, rejected query, no data) is not
an exception here: its key holds an :class:`ExternalFailure`, and the checks reading it report
``error``. So the gate still reaches a verdict (block) that names the cause, as the contract's
``error`` state asks for unreachable endpoints, instead of ending without one.

Adding a source = one module with an answering function, one line in ``EXTERNAL_SOURCES``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from gatekeeper.common.redact import redact_secrets
from gatekeeper.evidence import prometheus
from gatekeeper.evidence.interface import Evidence, EvidenceSourceError, ExternalQuery

#: Answers one query; raises EvidenceSourceError when it cannot. The mapping is the environment.
Answer = Callable[[ExternalQuery, Mapping[str, str]], object]

EXTERNAL_SOURCES: dict[str, Answer] = {
    "prometheus": prometheus.answer,
}

#: Queries run side by side, so a silent server costs one timeout cycle, not one per query.
MAX_PARALLEL = 8


@dataclass(frozen=True)
class ExternalFailure:
    """Why a query has no answer, e.g. ``cannot reach Prometheus at http://...: connection
    refused``. Checks report it as ``error``."""

    message: str


def gather(queries: Iterable[ExternalQuery], env: Mapping[str, str]) -> dict[str, object]:
    """Every query's answer (or :class:`ExternalFailure`) by its key."""
    ordered = sorted(set(queries), key=lambda q: (q.key, q.params))
    keys = [q.key for q in ordered]
    if len(set(keys)) != len(keys):
        clashing = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"different external queries share a key: {', '.join(clashing)}")
    if not ordered:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(ordered))) as pool:
        answers = list(pool.map(lambda q: answer_one(q, env), ordered))
    return dict(zip(keys, answers, strict=True))


def answer_one(query: ExternalQuery, env: Mapping[str, str]) -> object:
    if query.source not in EXTERNAL_SOURCES:
        known = ", ".join(sorted(EXTERNAL_SOURCES))
        return ExternalFailure(f"unknown evidence source '{query.source}' (known: {known})")
    try:
        return EXTERNAL_SOURCES[query.source](query, env)
    except EvidenceSourceError as exc:
        # Sources mask their own messages; this is the last door before checks copy them.
        return ExternalFailure(redact_secrets(str(exc)))


def with_external(evidence: Evidence, queries: Iterable[ExternalQuery],
                  env: Mapping[str, str] = os.environ) -> Evidence:
    """``evidence`` with the answers to ``queries`` added to its ``extra``."""
    answers = gather(queries, env)
    return replace(evidence, extra={**evidence.extra, **answers}) if answers else evidence
