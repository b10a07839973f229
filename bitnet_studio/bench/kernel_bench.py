"""The kernel benchmark's core: plain functions, a progress callback and a cancel check.

For every thread count, the streaming read bandwidth is measured first; then, per shape
and backend, the weights are replicated into copies totalling ``cold_bytes`` and each
batch size is timed in two regimes:

* cold (decode-like): call i reads copy i mod N, so its weights come from memory;
* warm: copy 0 again and again, so its weights stay in cache when they fit.

The copies are freed before the next backend's are made.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bitnet_studio import kernels
from bitnet_studio.bench.backends import BACKENDS, replicate, weight_bytes
from bitnet_studio.bench.bandwidth import Bandwidth, default_stream_bytes, measure_read_bandwidth
from bitnet_studio.bench.timing import (
    BenchCancelled,
    Budget,
    CancelFn,
    ProgressFn,
    median_us,
    time_calls,
)

REGIMES = ("cold", "warm")
BATCHES = (1, 64)


@dataclass(frozen=True)
class Shape:
    model: str
    role: str
    rows: int
    cols: int

    @property
    def name(self) -> str:
        return f"{self.rows}x{self.cols}"


SHAPES: tuple[Shape, ...] = (
    Shape("bitnet-b1.58-2b4t", "attn q/o", 2560, 2560),
    Shape("bitnet-b1.58-2b4t", "attn k/v", 640, 2560),
    Shape("bitnet-b1.58-2b4t", "mlp gate/up", 6912, 2560),
    Shape("bitnet-b1.58-2b4t", "mlp down", 2560, 6912),
    Shape("smollm2-135m", "attn q/o", 576, 576),
    Shape("smollm2-135m", "attn k/v", 192, 576),
    Shape("smollm2-135m", "mlp gate/up", 1536, 576),
    Shape("smollm2-135m", "mlp down", 576, 1536),
)


@dataclass(frozen=True)
class Record:
    """One timed case; the JSON output is a list of these (``dataclasses.asdict``)."""

    op: str  # "gemv" (batch 1) or "gemm"
    backend: str
    rows: int
    cols: int
    batch: int
    threads: int
    regime: str  # "cold" or "warm"
    median_us: float
    weight_bytes: int
    weight_gbps: float  # weight_bytes / median time, 1e9 bytes/s
    bandwidth_gbps: float  # measured streaming read bandwidth at this thread count


@dataclass
class KernelBenchConfig:
    shapes: Sequence[Shape] = SHAPES
    backends: Sequence[str] = tuple(BACKENDS)
    batches: Sequence[int] = BATCHES
    regimes: Sequence[str] = REGIMES
    threads: Sequence[int | None] = (None,)  # None: the kernel pool's current size
    cold_bytes: int = field(default_factory=default_stream_bytes)
    bandwidth_bytes: int = field(default_factory=default_stream_bytes)
    budget: Budget = field(default_factory=Budget)
    seed: int = 0


def quick_config() -> KernelBenchConfig:
    """A tiny run for tests: one small shape, small copies, a few calls per case."""
    mib = 1 << 20
    return KernelBenchConfig(
        shapes=(SHAPES[5],),
        cold_bytes=8 * mib,
        bandwidth_bytes=64 * mib,
        budget=Budget(seconds=0.01, min_calls=3, max_calls=200, warmup=1),
    )


@dataclass
class KernelBenchResult:
    records: list[Record]
    bandwidth: dict[int, Bandwidth]  # by thread count


def _check_config(cfg: KernelBenchConfig) -> None:
    unknown = [b for b in cfg.backends if b not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown backend(s) {unknown}; expected some of {list(BACKENDS)}")
    bad = [r for r in cfg.regimes if r not in REGIMES]
    if bad:
        raise ValueError(f"unknown regime(s) {bad}; expected some of {list(REGIMES)}")
    if any(b < 1 for b in cfg.batches):
        raise ValueError("batch sizes must be positive")
    if any(t is not None and t < 1 for t in cfg.threads):
        raise ValueError("thread counts must be positive")


def _set_threads(n: int, torch_mod: Any) -> None:
    kernels.set_threads(n)
    if torch_mod is not None:
        torch_mod.set_num_threads(n)


def run_kernel_bench(
    cfg: KernelBenchConfig,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> KernelBenchResult:
    """Runs every case in ``cfg``; raises :class:`BenchCancelled` (with the records so far)
    when ``cancel()`` returns True. Restores the kernel and torch thread counts."""
    _check_config(cfg)
    torch_mod: Any = None
    if any(BACKENDS[b].uses_torch for b in cfg.backends):
        import torch

        torch_mod = torch
    saved_k = kernels.get_threads()
    saved_t = torch_mod.get_num_threads() if torch_mod is not None else 0
    per_thread = 1 + len(cfg.shapes) * len(cfg.backends) * len(cfg.batches) * len(cfg.regimes)
    total = per_thread * len(cfg.threads)
    result = KernelBenchResult([], {})
    done = 0

    def step(message: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, message)

    cancelled = False  # raised after the except block, so no frame (and no copy) outlives it
    try:
        for req in cfg.threads:
            threads = saved_k if req is None else int(req)
            _set_threads(threads, torch_mod)
            if cancel is not None and cancel():
                raise BenchCancelled()
            bw = measure_read_bandwidth(threads, cfg.bandwidth_bytes)
            result.bandwidth[threads] = bw
            step(f"read bandwidth, {threads} thread(s): {bw.gbps:.1f} GB/s")
            for shape in cfg.shapes:
                for name in cfg.backends:
                    _bench_backend(cfg, name, shape, bw, result.records, step, cancel)
    except BenchCancelled:
        cancelled = True
    finally:
        kernels.set_threads(saved_k)
        if torch_mod is not None:
            torch_mod.set_num_threads(saved_t)
    if cancelled:
        raise BenchCancelled(result.records)
    return result


def _bench_backend(
    cfg: KernelBenchConfig,
    name: str,
    shape: Shape,
    bw: Bandwidth,
    out: list[Record],
    step: Callable[[str], None],
    cancel: CancelFn | None,
) -> None:
    """Times one backend on one shape for every batch and regime, appending to ``out``.

    The cold copies live only in this frame, so they are freed when it returns.
    """
    backend = BACKENDS[name]
    rng = np.random.default_rng(cfg.seed)
    w = backend.make_weights(shape.rows, shape.cols, rng)
    nbytes = weight_bytes(name, shape.rows, shape.cols)
    copies = replicate(w, max(1, math.ceil(cfg.cold_bytes / max(1, w.nbytes))))
    del w
    for batch in cfg.batches:
        x = rng.standard_normal((batch, shape.cols), dtype=np.float32)
        for regime in cfg.regimes:
            if cancel is not None and cancel():
                raise BenchCancelled()
            used = copies if regime == "cold" else copies[:1]
            calls = [backend.bind(c, x, shape.rows, shape.cols) for c in used]
            us = median_us(time_calls(calls, cfg.budget, cancel))
            del calls
            gbps = nbytes / (us * 1e-6) / 1e9
            out.append(
                Record(
                    op="gemv" if batch == 1 else "gemm",
                    backend=name,
                    rows=shape.rows,
                    cols=shape.cols,
                    batch=batch,
                    threads=bw.threads,
                    regime=regime,
                    median_us=us,
                    weight_bytes=nbytes,
                    weight_gbps=gbps,
                    bandwidth_gbps=bw.gbps,
                )
            )
            step(f"{shape.name} {name} batch {batch} {regime}: {us:.1f} us, {gbps:.1f} GB/s")
