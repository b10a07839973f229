"""The kernel benchmark's core: plain functions, a progress callback and a cancel check.

For every thread count, the streaming read roof is measured first (median and spread
of ``bandwidth_samples`` samples, see :func:`~bitnet_studio.bench.bandwidth.measure_roof`);
then, per shape and backend, the weights are replicated into copies totalling
``cold_bytes`` and each batch size is timed in two regimes:

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
from bitnet_studio.bench.bandwidth import Bandwidth, default_stream_bytes, measure_roof
from bitnet_studio.bench.machine import cpu_model, load_average
from bitnet_studio.bench.timing import (
    BenchCancelled,
    Budget,
    CancelFn,
    ProgressFn,
    median_us,
    time_calls,
)

REGIMES = ("cold", "warm")
OUR_BACKENDS = ("ternary", "ternary-b3", "f16", "f32")  # run on our SIMD path
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
    bandwidth_gbps: float  # measured streaming read bandwidth at this thread count (median)
    path: str = ""  # the SIMD path our kernels ran on
    best_us: float = 0.0  # fastest call: on a busy machine long calls' medians include preemption


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
    path: str | None = None  # SIMD path for our kernels; None: the active one
    bandwidth_samples: int = 3


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
    cpu: str = ""
    path: str = ""
    load: tuple[float | None, float | None] = (None, None)  # 1-min load at start, end


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
    if cfg.path is not None and cfg.path not in ("auto", *kernels.available_paths()):
        raise ValueError(
            f"kernel path {cfg.path!r} is not available here; choose from "
            f"{kernels.available_paths()}"
        )
    if cfg.bandwidth_samples < 1:
        raise ValueError("bandwidth_samples must be at least 1")


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
    saved_path = kernels.active_path()
    per_thread = 1 + len(cfg.shapes) * len(cfg.backends) * len(cfg.batches) * len(cfg.regimes)
    total = per_thread * len(cfg.threads)
    result = KernelBenchResult([], {}, cpu=cpu_model(), load=(load_average(), None))
    done = 0

    def step(message: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, message)

    cancelled = False  # raised after the except block, so no frame (and no copy) outlives it
    try:
        if cfg.path is not None:
            kernels.set_path(cfg.path)
        result.path = kernels.active_path()
        for req in cfg.threads:
            threads = saved_k if req is None else int(req)
            _set_threads(threads, torch_mod)
            if cancel is not None and cancel():
                raise BenchCancelled()
            bw = measure_roof(threads, cfg.bandwidth_bytes, cfg.bandwidth_samples)
            result.bandwidth[threads] = bw
            lo, hi = bw.spread
            step(f"read bandwidth, {threads} thread(s): {bw.gbps:.1f} GB/s ({lo:.1f}-{hi:.1f})")
            for shape in cfg.shapes:
                for name in cfg.backends:
                    _bench_backend(cfg, name, shape, bw, result.records, step, cancel)
    except BenchCancelled:
        cancelled = True
    finally:
        kernels.set_threads(saved_k)
        kernels.set_path(saved_path)
        result.load = (result.load[0], load_average())
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
            times = time_calls(calls, cfg.budget, cancel)
            us = median_us(times)
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
                    path=kernels.active_path() if name in OUR_BACKENDS else "",
                    best_us=min(times) * 1e6,
                )
            )
            step(f"{shape.name} {name} batch {batch} {regime}: {us:.1f} us, {gbps:.1f} GB/s")
