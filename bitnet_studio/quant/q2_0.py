"""GGUF Q2_0 (ggml type 42, PrismML's Ternary Bonsai): 64 2-bit codes + fp16 d -> 18 bytes.

Layout (verified in the llama.cpp that llama-cpp-python 0.3.36 vendors):
- ``ggml/src/ggml-common.h`` ``block_q2_0``: ``ggml_half d; uint8_t qs[QK2_0 / 4];`` with
  QK2_0 = 64, static_assert size 2 + 16 = 18; ``d`` is little-endian fp16 at byte 0.
- ``dequantize_row_q2_0``: element ``j`` is bits ``2 * (j % 4)`` (low bits first) of
  ``qs[j / 4]``; value ``(q - 1) * d``: 00 = -1, 01 = 0, 10 = +1, 11 = +2.
- ``quantize_row_q2_0_ref``: ``d = max|x|`` of the block, ``id = d > 0 ? 1/d : 0``,
  ``q = (int)roundf(x * id) + 1`` clamped to [0, 3] -- round half away from zero.
- gguf-py 0.19.0 does not know id 42 (``formats/gguf_parse.py`` sizes it itself).

Code 3 (+2) never comes out of that quantizer (|x * id| <= 1) and is not a ternary value:
:func:`unpack_ternary` refuses it.
"""

from __future__ import annotations

import numpy as np

from bitnet_studio.quant.tq2_0 import round_half_away

QK = 64
BLOCK_BYTES = 18
GGML_TYPE = 42
_SHIFTS = np.array([0, 2, 4, 6], dtype=np.uint8)


def check_cols(cols: int) -> int:
    """Number of 64-blocks in a row of ``cols`` weights; ValueError unless a positive multiple."""
    if cols <= 0 or cols % QK:
        raise ValueError(f"Q2_0: row length {cols} is not a positive multiple of {QK}")
    return cols // QK


def pack(codes: np.ndarray, d: np.ndarray | float) -> np.ndarray:
    """Ternary codes (rows, cols) in {-1, 0, 1} and scales (scalar or (rows, cols // 64))."""
    c = np.asarray(codes)
    if c.ndim != 2:
        raise ValueError(f"Q2_0: codes must be 2-D (rows, cols), got shape {c.shape}")
    rows, cols = c.shape
    nb = check_cols(cols)
    if c.size and (c.min() < -1 or c.max() > 1):
        raise ValueError("Q2_0: codes must be ternary, in {-1, 0, 1}")
    q = (c.astype(np.int16) + 1).astype(np.uint8).reshape(rows, nb, 16, 4) << _SHIFTS
    qs = np.bitwise_or.reduce(q, axis=-1).astype(np.uint8)
    d32 = np.asarray(d, dtype=np.float32)
    if d32.ndim and d32.shape != (rows, nb):
        raise ValueError(f"Q2_0: d must be a scalar or shape {(rows, nb)}, got {d32.shape}")
    d16 = np.ascontiguousarray(np.broadcast_to(d32, (rows, nb)).astype("<f2"))
    out = np.concatenate([d16.view(np.uint8).reshape(rows, nb, 2), qs], axis=-1)
    return out.reshape(rows, nb * BLOCK_BYTES)


def unpack(raw: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Q2_0 bytes -> (2-bit fields uint8 (rows, cols) in 0..3, d float32 (rows, cols // 64))."""
    r = np.asarray(raw)
    if r.dtype != np.uint8 or r.ndim != 2:
        raise ValueError(f"Q2_0: raw must be 2-D uint8 (rows, nbytes), got {r.dtype} {r.shape}")
    nb = check_cols(cols)
    if r.shape[1] != nb * BLOCK_BYTES:
        raise ValueError(
            f"Q2_0: {cols} columns need {nb * BLOCK_BYTES} bytes per row, got {r.shape[1]}"
        )
    rows = r.shape[0]
    b = r.reshape(rows, nb, BLOCK_BYTES)
    fields = ((b[..., 2:, None] >> _SHIFTS) & 3).reshape(rows, cols)
    d = np.ascontiguousarray(b[..., :2]).view("<f2").reshape(rows, nb)
    return fields.astype(np.uint8), d.astype(np.float32)


def unpack_ternary(raw: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`unpack` but codes int8 in {-1, 0, 1}; ValueError on a +2 (code 3) field."""
    fields, d = unpack(raw, cols)
    bad = np.flatnonzero(fields == 3)
    if bad.size:
        r, c = divmod(int(bad[0]), cols)
        raise ValueError(
            f"Q2_0: code 3 (+2) at row {r}, column {c} ({bad.size} in all) is not ternary; "
            "only ternary Q2_0 models are supported"
        )
    return fields.astype(np.int8) - 1, d


def quantize(w: np.ndarray) -> np.ndarray:
    """float32 (rows, cols) -> Q2_0 bytes with llama.cpp's rule (see module docstring)."""
    x = np.asarray(w, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"Q2_0: weights must be 2-D (rows, cols), got shape {x.shape}")
    rows, cols = x.shape
    nb = check_cols(cols)
    blk = x.reshape(rows, nb, QK)
    d = np.max(np.abs(blk), axis=-1) if blk.size else np.zeros((rows, nb), np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d > 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = round_half_away(blk * inv[..., None])  # roundf
    codes = np.clip(q, -1, 1).astype(np.int8).reshape(rows, cols)
    return pack(codes, d.astype(np.float32))


def dequantize(raw: np.ndarray, cols: int) -> np.ndarray:
    """Q2_0 bytes -> float32 (rows, cols): ``(q - 1) * d`` (code 3 = +2 included, as llama.cpp)."""
    fields, d = unpack(raw, cols)
    rows, nb = d.shape
    x = (fields.astype(np.float32) - 1).reshape(rows, nb, QK) * d[..., None]
    return x.reshape(rows, cols)
