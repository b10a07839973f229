"""The 1-bit (binary) linears in the kernel benchmark, and their table against ternary.

Two backends: ``binary`` (one scale per tensor, BitNet's beta: exact int32 dots, then one
multiply) and ``binary-q1_0`` (one scale per row and 128-column block, as in a GGUF Q1_0
file: each block's int32 partial sum times its own scale). Both read 1 bit per weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bitnet_studio import _kernels as _k
from bitnet_studio import kernels

BINARY_BACKENDS = ("binary", "binary-q1_0")


def binary_weight_bytes(backend: str, rows: int, cols: int) -> int:
    """Bytes of weights one call reads: the packed bits, plus the per-block scales."""
    bits = rows * int(_k.binary_row_bytes(cols))
    if backend == "binary-q1_0":
        return bits + 4 * rows * (-(-cols // kernels.BINARY_BLOCK))
    return bits


def binary_backends(backend_cls: Any) -> list[Any]:
    """The binary backends as ``backend_cls`` (bench.backends.Backend) instances.

    The bound weight is one uint8 array: the packed bits, then (q1_0) the float32 scales'
    bytes, so the benchmark's cold copies carry the scales along with the bits.
    """

    def maker(per_block: bool) -> Any:
        def make(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
            signs = np.where(rng.random((rows, cols)) < 0.5, -1, 1).astype(np.int8)
            p = kernels.pack_binary(signs, 1.0)
            if not per_block:
                return p.data
            nb = -(-cols // kernels.BINARY_BLOCK)
            scale = rng.uniform(0.01, 0.03, (rows, nb)).astype(np.float32)
            return np.concatenate([p.data.reshape(-1), scale.reshape(-1).view(np.uint8)])

        return make

    def binder(per_block: bool) -> Any:
        def bind(w: np.ndarray, x: np.ndarray, rows: int, cols: int) -> Any:
            rb = int(_k.binary_row_bytes(cols))
            data = w.reshape(-1)[: rows * rb].reshape(rows, rb)
            if per_block:
                scale = w.reshape(-1)[rows * rb :].view(np.float32)
            else:
                scale = np.ones(1, dtype=np.float32)
            out = np.empty((x.shape[0], rows), dtype=np.float32)
            fn = _k.binary_matmul_f32
            return lambda: fn(data, cols, x, scale, out, "")

        return bind

    return [
        backend_cls("binary", "our W1A8 kernel, per-tensor scale", maker(False), binder(False)),
        backend_cls(
            "binary-q1_0", "our W1A8 kernel, per-block scales (Q1_0)", maker(True), binder(True)
        ),
    ]


def binary_vs_ternary_lines(records: Sequence[Any], threads: int) -> list[str]:
    """Per shape, batch and regime: the ternary (i2) call's time over each binary one's
    (> 1 = binary faster; 2.0 = exactly the halved weight bytes)."""
    idx = {(r.backend, r.rows, r.cols, r.batch, r.threads, r.regime): r for r in records}
    mine = [r for r in records if r.threads == threads]
    present = [b for b in BINARY_BACKENDS if any(r.backend == b for r in mine)]
    if not present or not any(r.backend == "ternary" for r in mine):
        return []
    header = ["shape", "batch", "regime", "ternary us"]
    header += [f"{b} us" for b in present] + [f"ternary/{b}" for b in present]
    rows: list[list[str]] = []
    for rows_, cols, batch, regime in dict.fromkeys(
        (r.rows, r.cols, r.batch, r.regime) for r in mine
    ):
        tern = idx.get(("ternary", rows_, cols, batch, threads, regime))
        if tern is None:
            continue
        got = [idx.get((b, rows_, cols, batch, threads, regime)) for b in present]
        row = [f"{rows_}x{cols}", str(batch), regime, f"{tern.median_us:.1f}"]
        row += ["-" if g is None else f"{g.median_us:.1f}" for g in got]
        row += ["-" if g is None else f"{tern.median_us / g.median_us:.2f}x" for g in got]
        rows.append(row)
    if not rows:
        return []
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = [
        "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    title = f"binary vs ternary, threads={threads} (ternary's time / binary's, > 1 = binary faster)"
    return [title, *(line.rstrip() for line in fmt)]
