"""bitnet.cpp I2_S: 2-bit ternary codes plus one fp32 scale per tensor (``n/4 + 32`` bytes).

Verified against microsoft/BitNet ``src/ggml-bitnet-mad.cpp``:
- ``quantize_i2_s``: ``scale = max|W|`` over the whole tensor (computed in double, stored as
  float); ``code = 1`` where ``|w| < 1e-6``, else ``2`` if ``w * scale > 0`` else ``0`` (so
  ``code = w + 1`` for ternary-times-scale input). The codes are written in blocks of
  ``QK_I2_S`` weights over the *flattened* tensor: element ``j`` of a block goes to byte
  ``j % (QK_I2_S/4)`` at bits ``(6 - 2 * (j // (QK_I2_S/4)))`` — first quarter in bits 7:6,
  last in bits 1:0. The float scale is written at byte offset ``n/4`` and the function returns
  ``n/4 + 32`` ("32B for alignment"); we zero the 28 padding bytes.
- ``QK_I2_S`` depends on the build: 128 under ``__AVX__/__AVX2__/__AVX512F__/__SSSE3__``
  (blocks of 32 bytes, byte j holds elements j, j+32, j+64, j+96) and 64 under ``__ARM_NEON``
  (16 bytes, byte j holds j, j+16, j+32, j+48): ``layout="x86"`` / ``layout="arm"`` here.
  (Older revisions of the file used 128 on ARM too.) The x86 default build defines
  ``ACT_PARALLEL`` (``include/gemm-config.h``); the alternative ``quantize_i2_s_1x4`` row
  interleave that appears without it is not supported here.
- ``ggml_vec_dot_i2_i8_s``: a row starts at ``row * n_per_row / 4`` bytes and is read as
  ``n / QK_I2_S`` whole blocks; a partial tail block is silently dropped, and the flattened
  blocking would straddle rows. Hence a row length that is not a multiple of the block size
  (128 x86, 64 ARM) raises ``ValueError`` here rather than padding: such a tensor cannot be
  run by bitnet.cpp. The scale is read at ``src0->data + ne00 * ne01 / 4`` (ggml-cpu).
"""

from __future__ import annotations

import numpy as np

LAYOUTS = {"x86": 128, "arm": 64}  # layout -> weights per block (QK_I2_S)
PAD_BYTES = 32


def block_size(layout: str = "x86") -> int:
    if layout not in LAYOUTS:
        raise ValueError(f"I2_S: unknown layout {layout!r}, expected one of {sorted(LAYOUTS)}")
    return LAYOUTS[layout]


def _check_shape(rows: int, cols: int, layout: str) -> int:
    qk = block_size(layout)
    if rows < 0 or cols <= 0 or cols % qk:
        raise ValueError(
            f"I2_S ({layout}): row length {cols} is not a positive multiple of {qk}; "
            "bitnet.cpp reads whole blocks per row and drops a partial one"
        )
    return qk


def tensor_nbytes(rows: int, cols: int) -> int:
    """Bytes of an I2_S tensor: the codes (2 bits each) plus the 32-byte scale area."""
    return rows * cols // 4 + PAD_BYTES


def pack(codes: np.ndarray, scale: float, layout: str = "x86") -> np.ndarray:
    """Pack ternary codes (rows, cols) and the tensor scale into 1-D uint8 of tensor_nbytes."""
    c = np.asarray(codes)
    if c.ndim != 2:
        raise ValueError(f"I2_S: codes must be 2-D (rows, cols), got shape {c.shape}")
    rows, cols = c.shape
    qk = _check_shape(rows, cols, layout)
    if c.size and (c.min() < -1 or c.max() > 1):
        raise ValueError("I2_S: codes must be ternary, in {-1, 0, 1}")
    q = (c.astype(np.int16) + 1).astype(np.uint8).reshape(-1, 4, qk // 4)
    body = (q[:, 0] << 6) | (q[:, 1] << 4) | (q[:, 2] << 2) | q[:, 3]
    out = np.zeros(tensor_nbytes(rows, cols), dtype=np.uint8)
    n4 = rows * cols // 4
    out[:n4] = body.reshape(-1)
    out[n4 : n4 + 4] = np.array([scale], dtype="<f4").view(np.uint8)
    return out


def unpack(
    raw: np.ndarray, rows: int, cols: int, layout: str = "x86"
) -> tuple[np.ndarray, np.float32]:
    """Inverse of :func:`pack`: returns (codes int8 (rows, cols), scale float32)."""
    qk = _check_shape(rows, cols, layout)
    r = np.asarray(raw)
    if r.dtype != np.uint8 or r.ndim != 1:
        raise ValueError(f"I2_S: raw must be 1-D uint8, got {r.dtype} {r.shape}")
    if r.size != tensor_nbytes(rows, cols):
        raise ValueError(
            f"I2_S: a {rows}x{cols} tensor takes {tensor_nbytes(rows, cols)} bytes, got {r.size}"
        )
    n4 = rows * cols // 4
    b = r[:n4].reshape(-1, 1, qk // 4)
    shifts = np.array([6, 4, 2, 0], dtype=np.uint8).reshape(1, 4, 1)
    fields = (b >> shifts) & 3
    if np.any(fields == 3):
        raise ValueError("I2_S: 2-bit field value 3 is not a ternary code")
    codes = fields.reshape(rows, cols).astype(np.int8) - 1
    scale = np.ascontiguousarray(r[n4 : n4 + 4]).view("<f4")[0]
    return codes, np.float32(scale)


def quantize(w: np.ndarray, layout: str = "x86") -> np.ndarray:
    """float (rows, cols) -> I2_S bytes with bitnet.cpp's ``quantize_i2_s`` rule.

    Meant for weights that are already ternary times one scale (as bitnet.cpp's converter
    produces): any nonzero weight becomes +-1 by its sign, ``scale = max|W|``.
    """
    x = np.asarray(w, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"I2_S: weights must be 2-D (rows, cols), got shape {x.shape}")
    _check_shape(*x.shape, layout)
    scale = float(np.max(np.abs(x))) if x.size else 0.0
    codes = np.where(np.abs(x) < 1e-6, 0, np.where(x * scale > 0, 1, -1)).astype(np.int8)
    return pack(codes, np.float32(scale), layout)


def dequantize(raw: np.ndarray, rows: int, cols: int, layout: str = "x86") -> np.ndarray:
    """I2_S bytes -> float32 (rows, cols) = code * scale."""
    codes, scale = unpack(raw, rows, cols, layout)
    return codes.astype(np.float32) * scale
