"""Streaming memory read bandwidth, measured by the compiled probe over a large buffer.

Shared by the kernel and the end-to-end benchmarks: the share of this bandwidth that a
kernel reaches says how close to memory-bound it runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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


def sysfs_cache_bytes(root: str = "/sys/devices/system/cpu/cpu0/cache") -> int:
    """The largest cache as Linux's sysfs lists it (where glibc's sysconf answers 0, as on
    some VMs); 0 elsewhere."""
    best = 0
    for d in Path(root).glob("index*"):
        try:
            text = (d / "size").read_text().strip()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
        digits = text.rstrip("KMGkmg")
        if digits.isdigit():
            best = max(best, int(digits) * scale)
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
ROOF_CHUNK_BYTES = 4 << 20  # one roof read: about the largest 2B4T matrix (4.4 MB packed)


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
    threads: int | None = None,
    nbytes: int | None = None,
    samples: int = 3,
    chunk: int = ROOF_CHUNK_BYTES,
) -> Bandwidth:
    """The read roof a streaming kernel is held to, measured the way the kernel benchmark
    times its calls: ``samples`` (>= 1) passes over one buffer in ``chunk``-byte reads, each
    split over the thread pool like one GEMV call; a sample is the median read's GB/s, the
    faster of the plain probe and the probe with the kernels' software prefetch. Returns
    the median sample, with every sample kept (ascending) for the spread. Per-read medians,
    not whole-pass times: on a busy machine a pass is preempted in proportion to the load,
    a median read (like a median kernel call) is not."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    n = int(nbytes if nbytes is not None else default_stream_bytes())
    chunk = min(int(chunk), n)
    if n < 4096 or chunk < 4096:
        raise ValueError(f"buffer and chunk must be at least 4096 bytes, got {n} and {chunk}")
    t = kernels.get_threads() if threads is None else int(threads)
    buf = aligned_buffer(n)
    buf.fill(0x5A)
    try:
        _k.read_chunk_times(buf, t, chunk, 0)  # warm-up: wakes the workers
        rates = []
        for _ in range(samples):
            best = 0.0
            for prefetch in (0, PREFETCH_BYTES):
                times = sorted(_k.read_chunk_times(buf, t, chunk, prefetch))
                best = max(best, chunk / times[len(times) // 2] / 1e9)
            rates.append(best)
    finally:
        del buf
    rates.sort()
    gbps = rates[len(rates) // 2]
    return Bandwidth(
        gbps=gbps,
        seconds=n / (gbps * 1e9),
        nbytes=n,
        threads=t,
        samples=tuple(round(r, 3) for r in rates),
    )


@dataclass(frozen=True)
class BandwidthSamples:
    """Several independent bandwidth measurements: on a shared machine one number lies."""

    samples: tuple[float, ...]  # GB/s, each the best pass of its own measurement
    nbytes: int
    threads: int

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)

    @property
    def spread(self) -> float:
        """(max - min) / median."""
        return (self.high - self.low) / self.median if self.median > 0 else 0.0

    def as_bandwidth(self) -> Bandwidth:
        """The median as a :class:`Bandwidth` (what shares and bounds are computed from)."""
        return Bandwidth(self.median, self.nbytes / (self.median * 1e9), self.nbytes, self.threads)

    def describe(self) -> str:
        return (
            f"median {self.median:.2f} GB/s (min {self.low:.2f}, max {self.high:.2f}, "
            f"spread {100 * self.spread:.0f}%, {len(self.samples)} samples)"
        )


def sample_read_bandwidth(
    threads: int | None = None, nbytes: int | None = None, samples: int = 5, repeats: int = 3
) -> BandwidthSamples:
    """``samples`` separate :func:`measure_read_bandwidth` runs (each its best of ``repeats``
    passes over a fresh buffer)."""
    if samples < 1:
        raise ValueError("need at least one bandwidth sample")
    got = [measure_read_bandwidth(threads, nbytes, repeats) for _ in range(samples)]
    return BandwidthSamples(tuple(b.gbps for b in got), got[0].nbytes, got[0].threads)
