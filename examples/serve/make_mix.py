"""Writes ``mix.jsonl``: a seeded stand-in for a recorded trace of the demo model's traffic.

200 requests with Poisson arrival timestamps (20/s): 180 ``predict`` calls (one record each)
and 20 ``batch`` calls (four records each). A few records are popular, as in real screening
traffic where the same case is scored again from several screens: 12 of them account for 92
predict calls, and every other record is asked for once. So 80 of the 200 requests (40%)
repeat an earlier one: the hit ratio a cache that starts empty reaches on this trace.

    python examples/serve/make_mix.py > examples/serve/mix.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

REQUESTS = 200
BATCHES = 20
BATCH_ROWS = 4
POPULAR = 12
POPULAR_CALLS = 92  # repeats = POPULAR_CALLS - POPULAR = 80 = 40% of REQUESTS
RATE = 20.0
SEED = 7


def records() -> list[list[float]]:
    """The demo's data set, rounded to 4 significant digits to keep lines short."""
    from sklearn.datasets import load_breast_cancer

    features, _ = load_breast_cancer(return_X_y=True)
    return [[float(f"{value:.4g}") for value in row] for row in features]


def popular_counts() -> list[int]:
    """Calls per popular record, Zipf-like (1/k), summing to POPULAR_CALLS, each at least 2."""
    weights = [1 / k for k in range(1, POPULAR + 1)]
    spare = POPULAR_CALLS - 2 * POPULAR
    counts = [2 + int(spare * w / sum(weights)) for w in weights]
    counts[0] += POPULAR_CALLS - sum(counts)  # rounding remainder to the most popular
    return counts


def requests(rows: list[list[float]], rng: random.Random) -> list[dict[str, Any]]:
    """The 200 requests in arrival order, without timestamps yet."""
    predict_rows = [rows[i] for i, n in enumerate(popular_counts()) for _ in range(n)]
    singles = REQUESTS - BATCHES - POPULAR_CALLS
    predict_rows += rows[POPULAR:POPULAR + singles]
    first_batch_row = POPULAR + singles
    batches = [rows[first_batch_row + BATCH_ROWS * b:first_batch_row + BATCH_ROWS * (b + 1)]
               for b in range(BATCHES)]
    made = ([line("predict", [row]) for row in predict_rows]
            + [line("batch", batch) for batch in batches])
    rng.shuffle(made)
    return made


def line(endpoint: str, inputs: list[list[float]]) -> dict[str, Any]:
    return {"endpoint": endpoint, "method": "POST", "path": "/invocations",
            "payload": {"inputs": inputs}}


def main() -> None:
    rng = random.Random(SEED)
    clock = 0.0
    for request in requests(records(), rng):
        request["timestamp"] = round(clock, 3)
        clock += rng.expovariate(RATE)
        sys.stdout.write(json.dumps(request, separators=(", ", ": ")) + "\n")


if __name__ == "__main__":
    main()
