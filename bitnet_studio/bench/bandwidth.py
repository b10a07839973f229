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


@dataclass(frozen=True)
class Bandwidth:
    """Best streaming read over ``nbytes`` with ``threads`` threads."""

    gbps: float  # 1e9 bytes per second
    seconds: float  # best pass
    nbytes: int
    threads: int


def measure_read_bandwidth(
    threads: int | None = None, nbytes: int | None = None, repeats: int = 8
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
        seconds = float(_k.read_bandwidth(buf, t, int(repeats)))
    finally:
        del buf
    return Bandwidth(gbps=n / seconds / 1e9, seconds=seconds, nbytes=n, threads=t)
