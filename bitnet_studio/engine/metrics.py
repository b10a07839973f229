"""Timers and memory figures every run reports the same way (gpt-fast style)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

_PROCESS = psutil.Process()


def rss_mb() -> float:
    """Resident memory of this process, MiB."""
    return _PROCESS.memory_info().rss / (1 << 20)


def tokens_per_s(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 and n > 0 else 0.0


def bandwidth_gbps(bytes_per_token: int, tps: float) -> float:
    """Weights streamed per second when each decoded token reads ``bytes_per_token``."""
    return bytes_per_token * tps / 1e9


@dataclass
class Stopwatch:
    """Accumulates elapsed time over start()/stop() spans."""

    elapsed: float = 0.0
    _t0: float | None = None

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def stop(self) -> float:
        if self._t0 is not None:
            self.elapsed += time.perf_counter() - self._t0
            self._t0 = None
        return self.elapsed

    def __enter__(self) -> Stopwatch:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
