"""The linear-layer implementations the kernel benchmark compares.

Each backend makes one weight matrix (random, in its storage format) and binds a copy of
it, an input batch and an output buffer into a zero-argument call. Our kernels are
called through the compiled bindings with preallocated outputs, so the timings hold the
kernel and the binding's dispatch but not the Python wrapper's argument checks (what a
decode loop that validated its arrays once would pay); torch goes through
``torch.nn.functional.linear``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bitnet_studio import _kernels as _k
from bitnet_studio import kernels
from bitnet_studio.bench.binary_backends import (
    BINARY_BACKENDS,
    binary_backends,
    binary_weight_bytes,
)

Call = Callable[[], object]


@dataclass(frozen=True)
class Backend:
    name: str
    description: str
    make_weights: Callable[[int, int, np.random.Generator], np.ndarray]
    # (one weight copy, float32 input (batch, cols), rows, cols) -> call
    bind: Callable[[np.ndarray, np.ndarray, int, int], Call]
    uses_torch: bool = False


def weight_bytes(backend: str, rows: int, cols: int) -> int:
    """Bytes of weights one call reads (ternary: packed data, the one scale excluded)."""
    if backend in BINARY_BACKENDS:
        return binary_weight_bytes(backend, rows, cols)
    if backend.startswith("ternary"):
        return rows * int(_k.row_bytes(_ternary_layout(backend), cols))
    per = {"f16": 2, "f32": 4, "torch-f32": 4, "torch-bf16": 2}
    if backend not in per:
        raise ValueError(f"unknown backend {backend!r}")
    return per[backend] * rows * cols


def _ternary_layout(name: str) -> str:
    return "i2" if name == "ternary" else name.removeprefix("ternary-")


def _ternary(layout: str) -> Backend:
    def make(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
        w = rng.integers(-1, 2, size=(rows, cols), dtype=np.int8)
        return kernels.pack_ternary(w, 1.0, layout).data

    def bind(w: np.ndarray, x: np.ndarray, rows: int, cols: int) -> Call:
        scale = np.ones(1, dtype=np.float32)
        out = np.empty((x.shape[0], rows), dtype=np.float32)
        fn = _k.ternary_matmul_f32
        return lambda: fn(layout, w, cols, x, scale, out, "")

    name = "ternary" if layout == "i2" else f"ternary-{layout}"
    return Backend(name, f"our W1.58A8 kernel, {layout} layout", make, bind)


def _normal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(0.02)


def _f16() -> Backend:
    def make(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
        return _normal(rows, cols, rng).astype(np.float16).view(np.uint16)

    def bind(w: np.ndarray, x: np.ndarray, rows: int, cols: int) -> Call:
        out = np.empty((x.shape[0], rows), dtype=np.float32)
        fn = _k.f16_matmul
        return lambda: fn(w, x, out, "")

    return Backend("f16", "our fp16-weight kernel", make, bind)


def _f32() -> Backend:
    def bind(w: np.ndarray, x: np.ndarray, rows: int, cols: int) -> Call:
        out = np.empty((x.shape[0], rows), dtype=np.float32)
        fn = _k.f32_matmul
        return lambda: fn(w, x, out, "")

    return Backend("f32", "our fp32 kernel", _normal, bind)


def _torch() -> Any:
    import torch

    return torch


def _torch_f32() -> Backend:
    def bind(w: np.ndarray, x: np.ndarray, rows: int, cols: int) -> Call:
        torch = _torch()
        wt, xt = torch.from_numpy(w), torch.from_numpy(x)
        linear = torch.nn.functional.linear
        return lambda: linear(xt, wt)

    return Backend("torch-f32", "torch.nn.functional.linear, fp32", _normal, bind, True)


def _torch_bf16() -> Backend:
    def make(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
        torch = _torch()
        t = torch.from_numpy(_normal(rows, cols, rng)).to(torch.bfloat16)
        return t.view(torch.int16).numpy().view(np.uint16).copy()

    def bind(w: np.ndarray, x: np.ndarray, rows: int, cols: int) -> Call:
        torch = _torch()
        wt = torch.from_numpy(w.view(np.int16)).view(torch.bfloat16)
        xt = torch.from_numpy(x).to(torch.bfloat16)
        linear = torch.nn.functional.linear
        return lambda: linear(xt, wt)

    return Backend("torch-bf16", "torch.nn.functional.linear, bf16", make, bind, True)


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        _ternary("i2"),
        _ternary("b3"),
        *binary_backends(Backend),
        _f16(),
        _f32(),
        _torch_f32(),
        _torch_bf16(),
    )
}


def replicate(w: np.ndarray, copies: int, align: int = 64) -> list[np.ndarray]:
    """``copies`` C-contiguous copies of ``w`` in one allocation, each ``align``-aligned.

    Freeing the returned arrays frees the allocation (they share one base).
    """
    if copies < 1:
        raise ValueError("copies must be at least 1")
    src = np.ascontiguousarray(w).reshape(-1).view(np.uint8)
    stride = -(-src.nbytes // align) * align
    raw = np.empty(copies * stride + align, dtype=np.uint8)
    skip = (-raw.ctypes.data) % align
    block = raw[skip : skip + copies * stride].reshape(copies, stride)
    block[:, : src.nbytes] = src
    return [block[i, : src.nbytes].view(w.dtype).reshape(w.shape) for i in range(copies)]
