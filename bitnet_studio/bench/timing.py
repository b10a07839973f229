"""Timing loops: each call timed on its own, repeated within a time budget, median kept."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

ProgressFn = Callable[[int, int, str], None]
CancelFn = Callable[[], bool]


class BenchCancelled(Exception):
    """The cancel check returned True; ``records`` holds what was measured before."""

    def __init__(self, records: Sequence[Any] = ()) -> None:
        super().__init__("benchmark cancelled")
        self.records = list(records)


@dataclass(frozen=True)
class Budget:
    """How long to time one case: at least ``min_calls`` calls, then until ``seconds`` pass
    (or ``max_calls``). ``warmup`` untimed calls come first."""

    seconds: float = 0.25
    min_calls: int = 5
    max_calls: int = 5000
    warmup: int = 2


def time_calls(
    calls: Sequence[Callable[[], object]],
    budget: Budget,
    cancel: CancelFn | None = None,
) -> list[float]:
    """Times calls[i % len(calls)] one at a time and returns each call's seconds.

    With one callable this is the warm regime (the same matrix again and again); with
    many callables, each bound to its own copy of the weights, every call reads memory
    that the previous ``len(calls) - 1`` calls pushed out of cache (the cold regime).
    The warm-up calls use the last copies, so the first timed call finds copy 0 cold.
    """
    n = len(calls)
    if n == 0:
        raise ValueError("no calls to time")
    for i in range(budget.warmup):
        calls[(n - 1 - i) % n]()
    times: list[float] = []
    clock = time.perf_counter
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        i = 0
        while True:
            fn = calls[i % n]
            t0 = clock()
            fn()
            t1 = clock()
            times.append(t1 - t0)
            i += 1
            if i >= budget.max_calls:
                break
            if i >= budget.min_calls and t1 - start >= budget.seconds:
                break
            if cancel is not None and i % 16 == 0 and cancel():
                raise BenchCancelled()
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def median_us(times: Sequence[float]) -> float:
    return statistics.median(times) * 1e6
