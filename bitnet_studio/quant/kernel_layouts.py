"""Reference pack/unpack of our own kernel layouts (see kernels/kernels.h).

I2: 2 bits per weight, blocks of 128 weights in 32 bytes; byte j holds elements
    j, j+32, j+64, j+96 in bits 1:0, 3:2, 5:4, 7:6 as code = w + 1.
B3: 1.6 bits per weight (base 3), blocks of 160 weights in 32 bytes; byte j holds
    elements j + 32n (n = 0..4), first trit most significant, stored as
    ceil(v * 256 / 243) so that trit n = ((byte * 3**n) mod 256) * 3 >> 8.
Padding columns hold weight 0.
"""

from __future__ import annotations

import numpy as np

LAYOUTS = {"i2": (128, 4), "b3": (160, 5)}  # name -> (weights per block, weights per byte)


def padded_cols(layout: str, cols: int) -> int:
    block = LAYOUTS[layout][0]
    return -(-cols // block) * block


def row_bytes(layout: str, cols: int) -> int:
    return padded_cols(layout, cols) // LAYOUTS[layout][0] * 32


def _codes(w: np.ndarray, layout: str) -> np.ndarray:
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"ternary weights must be 2-D, got shape {w.shape}")
    if w.size and (w.min() < -1 or w.max() > 1):
        raise ValueError("ternary weights must be in {-1, 0, 1}")
    rows, cols = w.shape
    codes = np.ones((rows, padded_cols(layout, cols)), dtype=np.uint8)
    codes[:, :cols] = (w.astype(np.int16) + 1).astype(np.uint8)
    per_byte = LAYOUTS[layout][1]
    # (rows, blocks, n, j): element j + 32 n of each block
    return codes.reshape(rows, codes.shape[1] // (32 * per_byte), per_byte, 32)


def pack(w: np.ndarray, layout: str = "i2") -> np.ndarray:
    """Pack int8 ternary weights (rows, cols) into (rows, row_bytes) uint8."""
    c = _codes(w, layout).astype(np.uint32)
    rows = c.shape[0]
    if layout == "i2":
        packed = c[:, :, 0] | (c[:, :, 1] << 2) | (c[:, :, 2] << 4) | (c[:, :, 3] << 6)
    else:
        v = np.zeros(c[:, :, 0].shape, dtype=np.uint32)
        for n in range(5):
            v = v * 3 + c[:, :, n]
        packed = (v * 256 + 242) // 243
    return packed.astype(np.uint8).reshape(rows, row_bytes(layout, w.shape[1]))


def unpack(packed: np.ndarray, cols: int, layout: str = "i2") -> np.ndarray:
    """Inverse of :func:`pack`: (rows, row_bytes) uint8 -> (rows, cols) int8."""
    per_byte = LAYOUTS[layout][1]
    rows = packed.shape[0]
    b = packed.reshape(rows, packed.shape[1] // 32, 1, 32).astype(np.uint32)
    n = np.arange(per_byte, dtype=np.uint32).reshape(1, 1, per_byte, 1)
    codes = (b >> (2 * n)) & 3 if layout == "i2" else (((b * (3**n)) & 255) * 3) >> 8
    flat = codes.reshape(rows, packed.shape[1] * per_byte).astype(np.int8) - 1
    return np.ascontiguousarray(flat[:, :cols])
