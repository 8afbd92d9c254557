"""Seconds per named stage, summed into a plain dict (no Django): what the pair
discriminator's match-time stages cost (``MatchRun.metrics["discriminator_seconds"]``,
bench/discriminator_cost.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(timings: dict[str, float] | None, key: str) -> Iterator[None]:
    """Add the seconds of the ``with`` block to ``timings[key]`` (nothing when None)."""
    if timings is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - started
