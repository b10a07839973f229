"""Output-head storage for the native runtime: int8 rows and 4-bit Q4 blocks (NumPy).

Both are made from the float head (for a tied head, the embedding table) in blocks of rows,
so no float32 copy of a 128k x 2560 table ever exists (a memory-mapped fp16 table is read
block by block). The NumPy products here are the reference the C++ kernels (kernels/head_*.cpp)
are tested against.

int8: one scale per row, ``q = round(w / s)`` with ``s = max|w| / 127``.
Q4 (like llama.cpp's Q4_0, scales apart): blocks of 32 columns, ``d = max|w| / 7`` rounded
to fp16, ``q = clip(round(w / d), -8, 7) + 8`` in 0..15; byte j of a block holds q[j] (low
nibble) and q[j + 16] (high); padding columns hold 8 (weight 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

Q4_BLOCK = 32
ROWS_PER_STEP = 4096


def _rows(t: Any, r0: int, r1: int) -> np.ndarray:
    """Rows [r0, r1) of a float tensor (or anything with ``dequantize``) as float32."""
    if hasattr(t, "dequantize"):
        return np.asarray(t.dequantize()[r0:r1], dtype=np.float32)
    return np.asarray(t[r0:r1], dtype=np.float32)


def quantize_i8_rows(t: Any) -> tuple[np.ndarray, np.ndarray]:
    """(int8 (rows, cols), float32 scale (rows,)), made ROWS_PER_STEP rows at a time."""
    rows, cols = int(t.shape[0]), int(t.shape[1])
    q = np.empty((rows, cols), dtype=np.int8)
    scale = np.empty(rows, dtype=np.float32)
    for r0 in range(0, rows, ROWS_PER_STEP):
        w = _rows(t, r0, r0 + ROWS_PER_STEP)
        s = np.maximum(np.max(np.abs(w), axis=1), np.float32(1e-12)) / np.float32(127)
        q[r0 : r0 + len(w)] = np.clip(np.round(w / s[:, None]), -127, 127)
        scale[r0 : r0 + len(w)] = s
    return q, scale


def q4_cols(cols: int) -> int:
    return -(-cols // Q4_BLOCK) * Q4_BLOCK


def quantize_q4(t: Any) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 nibbles (rows, q4_cols / 2), uint16 fp16 block scales (rows, q4_cols / 32))."""
    rows, cols = int(t.shape[0]), int(t.shape[1])
    c32 = q4_cols(cols)
    nb = c32 // Q4_BLOCK
    packed = np.empty((rows, c32 // 2), dtype=np.uint8)
    scales = np.empty((rows, nb), dtype=np.float16)
    for r0 in range(0, rows, ROWS_PER_STEP):
        w = _rows(t, r0, r0 + ROWS_PER_STEP)
        n = len(w)
        if c32 != cols:
            w = np.pad(w, ((0, 0), (0, c32 - cols)))
        blocks = w.reshape(n, nb, Q4_BLOCK)
        d = (np.max(np.abs(blocks), axis=2) / np.float32(7)).astype(np.float16)
        d32 = d.astype(np.float32)
        inv = np.divide(1.0, d32, out=np.zeros_like(d32), where=d32 > 0)
        q = np.clip(np.round(blocks * inv[:, :, None]), -8, 7).astype(np.int16) + 8
        q = q.astype(np.uint8)
        packed[r0 : r0 + n] = (q[:, :, :16] | (q[:, :, 16:] << 4)).reshape(n, c32 // 2)
        scales[r0 : r0 + n] = d
    return packed, scales.view(np.uint16)


def unpack_q4(packed: np.ndarray, cols: int) -> np.ndarray:
    """int8 (rows, cols) codes q - 8 of a Q4 matrix."""
    rows = packed.shape[0]
    b = packed.reshape(rows, -1, 16)
    q = np.concatenate([b & 15, b >> 4], axis=2).astype(np.int8) - 8
    return q.reshape(rows, -1)[:, :cols]


def q4_reference(
    packed: np.ndarray, scales: np.ndarray, cols: int, xq: np.ndarray, s_x: np.ndarray
) -> np.ndarray:
    """y (batch, rows): per block int32 dot products (exact) times the fp16 scale, summed."""
    rows = packed.shape[0]
    nb = q4_cols(cols) // Q4_BLOCK
    q = unpack_q4(packed, q4_cols(cols)).astype(np.int32).reshape(rows, nb, Q4_BLOCK)
    x = xq[:, : q4_cols(cols)].astype(np.int32).reshape(len(xq), nb, Q4_BLOCK)
    sums = np.einsum("rkc,bkc->brk", q, x)  # int32, exact
    d = scales.view(np.float16).astype(np.float64)
    return (np.einsum("brk,rk->br", sums.astype(np.float64), d) / s_x[:, None]).astype(np.float32)
