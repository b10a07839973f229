"""Streaming memory read bandwidth, measured by the compiled probe over a large buffer.

Shared by the kernel and the end-to-end benchmarks: the share of this bandwidth that a
kernel reaches says how close to memory-bound it runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from bitnet_studio import _kernels as _k
from bitnet_studio import kernels

GIB = 1 << 30


def last_level_cache_bytes() -> int:
    """The size of the largest CPU cache (0 when the OS does not say)."""
    best = 0
    for name in ("SC_LEVEL4_CACHE_SIZE", "SC_LEVEL3_CACHE_SIZE", "SC_LEVEL2_CACHE_SIZE"):
        try:
            best = max(best, int(os.sysconf(name)))
        except (ValueError, OSError):
            continue
    return best


def default_stream_bytes() -> int:
    """1 GiB, or 8x the last-level cache when that is larger."""
    return max(GIB, 8 * last_level_cache_bytes())


def aligned_buffer(nbytes: int, align: int = 4096) -> np.ndarray:
    """An uninitialised uint8 array of ``nbytes`` whose first byte is ``align``-aligned."""
    raw = np.empty(nbytes + align, dtype=np.uint8)
    skip = (-raw.ctypes.data) % align
    return raw[skip : skip + nbytes]


PREFETCH_BYTES = 16384  # the GEMV kernels' software prefetch distance


@dataclass(frozen=True)
class Bandwidth:
    """Streaming read over ``nbytes`` with ``threads`` threads: the best pass, or (from
    :func:`measure_roof`) the median of several samples, each listed in ``samples``."""

    gbps: float  # 1e9 bytes per second
    seconds: float  # best pass (measure_roof: the median sample's)
    nbytes: int
    threads: int
    samples: tuple[float, ...] = ()  # GB/s of each sample, ascending (measure_roof)

    @property
    def spread(self) -> tuple[float, float]:
        """(lowest, highest) sample in GB/s; (gbps, gbps) when there is a single one."""
        return (min(self.samples), max(self.samples)) if self.samples else (self.gbps, self.gbps)


def measure_read_bandwidth(
    threads: int | None = None, nbytes: int | None = None, repeats: int = 8, prefetch: int = 0
) -> Bandwidth:
    """Streams a freshly written buffer (default :func:`default_stream_bytes`) ``repeats``
    times with wide loads on ``threads`` kernel threads (default: the pool's size) and
    returns the best pass. The buffer is written first, so that every page is resident and
    no read is served by the shared zero page; it is freed before returning.
    """
    n = int(nbytes if nbytes is not None else default_stream_bytes())
    if n < 4096:
        raise ValueError(f"bandwidth buffer must be at least 4096 bytes, got {n}")
    t = kernels.get_threads() if threads is None else int(threads)
    buf = aligned_buffer(n)
    buf.fill(0x5A)
    try:
        seconds = float(_k.read_bandwidth(buf, t, int(repeats), int(prefetch)))
    finally:
        del buf
    return Bandwidth(gbps=n / seconds / 1e9, seconds=seconds, nbytes=n, threads=t)


def measure_roof(
    threads: int | None = None, nbytes: int | None = None, samples: int = 3, repeats: int = 2
) -> Bandwidth:
    """The read roof a streaming kernel is held to: ``samples`` (>= 1) samples, each the
    faster of the plain probe and the probe with the kernels' software prefetch (best of
    ``repeats`` passes each), and their median. On a shared machine the samples spread;
    the spread is kept so that reports can say so. One buffer serves every pass."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    n = int(nbytes if nbytes is not None else default_stream_bytes())
    if n < 4096:
        raise ValueError(f"bandwidth buffer must be at least 4096 bytes, got {n}")
    t = kernels.get_threads() if threads is None else int(threads)
    buf = aligned_buffer(n)
    buf.fill(0x5A)
    try:
        secs = []
        for _ in range(samples):
            plain = float(_k.read_bandwidth(buf, t, int(repeats), 0))
            fetched = float(_k.read_bandwidth(buf, t, int(repeats), PREFETCH_BYTES))
            secs.append(min(plain, fetched))
    finally:
        del buf
    secs.sort()
    mid = secs[len(secs) // 2]
    gbps = tuple(sorted(round(n / s / 1e9, 3) for s in secs))  # slowest first
    return Bandwidth(gbps=n / mid / 1e9, seconds=mid, nbytes=n, threads=t, samples=gbps)
