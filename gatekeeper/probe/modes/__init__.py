"""What one ``gatekeeper probe`` measures: one request type and one module per mode, and the
one registry every run goes through (:func:`measure`).

- ``run`` (:mod:`.plain`): the plan on an engine of ``ENGINES`` (built-in or Locust).
- ``capacity`` (:mod:`.search`): the highest fixed rate whose P99 meets an SLO, cost at SLO.
- ``cache_proof`` (:mod:`.cache`): hit ratio, capacity and cost with and without the cache.
- ``llm`` (:mod:`gatekeeper.probe.llm.mode`): LLM prompts streamed (``--api``), token metrics.
- ``import`` (:mod:`.imported`): a k6 summary or Locust CSV statistics read into a report.

Adding a mode: a request type (frozen, with ``mode``, ``sends``, ``engine``, ``workers``,
``sending`` and ``describe()``), its measuring function (a :class:`Mode`), one line here.
"""

from __future__ import annotations

from typing import Any

from gatekeeper.probe.llm.cache_proof import LlmCacheProof, measure_llm_cache_proof
from gatekeeper.probe.llm.capacity import LlmCapacitySearch, measure_llm_capacity
from gatekeeper.probe.llm.mode import LlmRun, measure_llm
from gatekeeper.probe.modes.cache import CacheProof, measure_cache_proof
from gatekeeper.probe.modes.imported import ImportRun, measure_import
from gatekeeper.probe.modes.interface import Measured, Mode, Sending
from gatekeeper.probe.modes.plain import PlainRun, measure_run
from gatekeeper.probe.modes.search import CapacitySearch, SearchBounds, measure_capacity
from gatekeeper.probe.progress import Progress

ModeRequest = (PlainRun | CapacitySearch | CacheProof | ImportRun | LlmRun | LlmCapacitySearch
               | LlmCacheProof)

MODES: dict[str, Mode[Any]] = {
    "cache_proof": measure_cache_proof,
    "capacity": measure_capacity,
    "import": measure_import,
    "llm": measure_llm,
    "llm_cache_proof": measure_llm_cache_proof,
    "llm_capacity": measure_llm_capacity,
    "run": measure_run,
}

__all__ = ["MODES", "CacheProof", "CapacitySearch", "ImportRun", "Measured", "Mode",
           "ModeRequest", "PlainRun", "SearchBounds", "Sending", "measure"]


def measure(request: ModeRequest, url: str, progress: Progress) -> Measured:
    """Whatever ``request`` asks for, by its mode's registry entry."""
    return MODES[request.mode](request, url, progress)
