"""llama.cpp TQ2_0: 256 ternary weights -> 66 bytes (``qs[64]`` then fp16 ``d``), 2.0625 bpw.

Layout (verified against ggml-org/llama.cpp):
- ``ggml/src/ggml-common.h`` ``block_tq2_0``: ``uint8_t qs[QK_K/4]; ggml_half d;`` with QK_K = 256,
  static_assert size 66; ``d`` is little-endian IEEE fp16 at byte offset 64.
- ``ggml/src/ggml-quants.c`` ``quantize_row_tq2_0_ref`` / ``dequantize_row_tq2_0``: for each half
  ``j`` in {0, 32} of ``qs`` and ``m`` in 0..31, byte ``qs[j + m]`` holds block elements
  ``4*j + m + 32*n`` (n = 0..3) in bits ``2n+1:2n`` (low bits first) as ``code = w + 1``;
  the value is ``(code - 1) * d``.
- Quantization rule (``quantize_row_tq2_0_ref``): ``d = max|x|`` over the block (fp32, stored
  as fp16), ``id = d ? 1/d : 0`` (fp32), ``code = lroundf(x * id) + 1`` — round half away from
  zero, on ``x * (1/d)``, not ``x / d``. The codes use the fp32 ``d``, the block stores fp16(d).
- gguf-py ``gguf/quants.py`` class ``TQ2_0`` implements the same bytes (our tests compare
  against the installed ``gguf`` package byte for byte).

Rows must be a multiple of 256 long: llama.cpp asserts ``k % QK_K == 0`` and gguf-py's
``can_quantize`` checks ``shape[-1] % 256``; we raise ``ValueError``.
"""

from __future__ import annotations

import numpy as np

QK_K = 256
BLOCK_BYTES = 66
_SHIFTS = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 1, 4, 1)


def check_cols(cols: int, name: str = "TQ") -> int:
    """Number of 256-blocks in a row of ``cols`` weights; ValueError unless a positive multiple."""
    if cols <= 0 or cols % QK_K:
        raise ValueError(
            f"{name}: row length {cols} is not a positive multiple of {QK_K} "
            "(llama.cpp ternary types need whole 256-weight blocks)"
        )
    return cols // QK_K


def ternary_codes(codes: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """Validate int ternary (rows, cols) weights; returns (uint8 codes w + 1, blocks per row)."""
    c = np.asarray(codes)
    if c.ndim != 2:
        raise ValueError(f"{name}: codes must be 2-D (rows, cols), got shape {c.shape}")
    nb = check_cols(c.shape[1], name)
    if c.size and (c.min() < -1 or c.max() > 1):
        raise ValueError(f"{name}: codes must be ternary, in {{-1, 0, 1}}")
    return (c.astype(np.int16) + 1).astype(np.uint8), nb


def block_scales(d: np.ndarray | float, rows: int, nb: int, name: str) -> np.ndarray:
    """Scales as little-endian fp16 bytes (rows, nb, 2); ``d`` is a scalar or (rows, nb)."""
    d32 = np.asarray(d, dtype=np.float32)
    if d32.ndim and d32.shape != (rows, nb):
        raise ValueError(f"{name}: d must be a scalar or shape {(rows, nb)}, got {d32.shape}")
    d16 = np.broadcast_to(d32, (rows, nb)).astype("<f2")
    return np.ascontiguousarray(d16).view(np.uint8).reshape(rows, nb, 2)


def raw_blocks(raw: np.ndarray, cols: int, block_bytes: int, name: str) -> np.ndarray:
    """View (rows, nbytes) uint8 as (rows, blocks, block_bytes); ValueError on a size mismatch."""
    r = np.asarray(raw)
    if r.dtype != np.uint8 or r.ndim != 2:
        raise ValueError(f"{name}: raw must be 2-D uint8 (rows, nbytes), got {r.dtype} {r.shape}")
    nb = check_cols(cols, name)
    if r.shape[1] != nb * block_bytes:
        raise ValueError(
            f"{name}: {cols} columns need {nb * block_bytes} bytes per row, got {r.shape[1]}"
        )
    return r.reshape(r.shape[0], nb, block_bytes)


def round_half_away(v: np.ndarray) -> np.ndarray:
    """C's ``roundf`` / ``lroundf``: halves away from zero, without the ``floor(a + 0.5)``
    float32 trap at 0.49999997 (which would round up)."""
    a = np.abs(v)
    fl = np.floor(a)
    return np.sign(v) * (fl + np.floor(2 * (a - fl)))


def absmax_codes(w: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """llama.cpp's TQ rule: per 256-block d = max|x|, code = lroundf(x * (1/d)) in {-1, 0, 1}."""
    x = np.asarray(w, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name}: weights must be 2-D (rows, cols), got shape {x.shape}")
    rows, cols = x.shape
    nb = check_cols(cols, name)
    blocks = x.reshape(rows, nb, QK_K)
    d = np.max(np.abs(blocks), axis=-1) if blocks.size else np.zeros((rows, nb), np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    q = round_half_away(blocks * inv[..., None])
    codes = np.clip(q, -1, 1).astype(np.int8).reshape(rows, cols)
    return codes, d.astype(np.float32)


def pack(codes: np.ndarray, d: np.ndarray | float) -> np.ndarray:
    """Pack ternary codes (rows, cols) and block scales into (rows, cols // 256 * 66) uint8."""
    c, nb = ternary_codes(codes, "TQ2_0")
    rows = c.shape[0]
    # (rows, nb, half j, n, m): element 128 j + 32 n + m
    c5 = c.reshape(rows, nb, 2, 4, 32) << _SHIFTS
    qs = np.bitwise_or.reduce(c5, axis=3).reshape(rows, nb, 64)
    out = np.concatenate([qs, block_scales(d, rows, nb, "TQ2_0")], axis=-1)
    return out.reshape(rows, nb * BLOCK_BYTES)


def unpack(raw: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack`: returns (codes int8 (rows, cols), d float32 (rows, cols // 256))."""
    b = raw_blocks(raw, cols, BLOCK_BYTES, "TQ2_0")
    rows, nb = b.shape[:2]
    qs = b[..., :64].reshape(rows, nb, 2, 1, 32)
    fields = (qs >> _SHIFTS) & 3
    if np.any(fields == 3):
        raise ValueError("TQ2_0: 2-bit field value 3 is not a ternary code")
    codes = fields.reshape(rows, cols).astype(np.int8) - 1
    d = np.ascontiguousarray(b[..., 64:66]).view("<f2").reshape(rows, nb)
    return codes, d.astype(np.float32)


def quantize(w: np.ndarray) -> np.ndarray:
    """float32 (rows, cols) -> TQ2_0 bytes with llama.cpp's rule (see module docstring)."""
    codes, d = absmax_codes(w, "TQ2_0")
    return pack(codes, d)


def dequantize(raw: np.ndarray, cols: int) -> np.ndarray:
    """TQ2_0 bytes -> float32 (rows, cols): ``(code - 1) * d`` per block, as llama.cpp."""
    return scale_blocks(*unpack(raw, cols))


def scale_blocks(codes: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Ternary codes (rows, cols) times their 256-block scales d (rows, cols // 256)."""
    rows, nb = d.shape
    x = codes.reshape(rows, nb, QK_K).astype(np.float32) * d[..., None]
    return x.reshape(rows, nb * QK_K)
