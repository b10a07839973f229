"""GGUF Q1_0 (ggml type 41): 128 sign bits + one fp16 scale -> 18 bytes, 1.125 bpw.

Layout (verified in the llama.cpp that llama-cpp-python 0.3.36 vendors):
- ``ggml/src/ggml-common.h`` ``block_q1_0``: ``ggml_half d; uint8_t qs[QK1_0 / 8];`` with
  QK1_0 = 128, static_assert size 2 + 16 = 18; ``d`` is little-endian IEEE fp16 at byte 0.
- ``ggml/src/ggml-quants.c`` ``dequantize_row_q1_0``: element ``j`` of a block is bit
  ``j % 8`` of ``qs[j / 8]`` (least significant bit first); bit 1 -> ``+d``, bit 0 -> ``-d``.
  No zero code: every weight is +d or -d.
- ``quantize_row_q1_0_ref``: ``sum_abs`` accumulates ``fabsf(x)`` in float32 in element order,
  ``d = sum_abs / 128`` (float32, stored as fp16), and the bit is set when ``x >= 0.0f`` -- so
  a 0 (and -0.0) weight becomes ``+d`` there, unlike the BitNet paper's Sign(0) = -1 (which
  sees the *centred* weight: ``quant/binary.py`` decides its signs before they reach here).
- gguf-py 0.19.0 knows the id and block size (``GGML_QUANT_SIZES``: (128, 18)) but implements
  no quantize/dequantize for it; tests compare with llama.cpp's own ``ggml_quantize_chunk``.

Rows must be a multiple of 128 long (llama.cpp asserts ``k % QK1_0 == 0``); we raise
``ValueError``.
"""

from __future__ import annotations

import numpy as np

from bitnet_studio.models.weights import BinaryTensor

QK = 128
BLOCK_BYTES = 18
GGML_TYPE = 41
_BITS = np.arange(8, dtype=np.uint8)


def check_cols(cols: int) -> int:
    """Number of 128-blocks in a row of ``cols`` weights; ValueError unless a positive multiple."""
    if cols <= 0 or cols % QK:
        raise ValueError(
            f"Q1_0: row length {cols} is not a positive multiple of {QK} "
            "(Q1_0 stores whole 128-weight blocks)"
        )
    return cols // QK


def _signs(signs: np.ndarray) -> tuple[np.ndarray, int]:
    s = np.asarray(signs)
    if s.ndim != 2:
        raise ValueError(f"Q1_0: signs must be 2-D (rows, cols), got shape {s.shape}")
    nb = check_cols(s.shape[1])
    if s.size and not np.all((s == 1) | (s == -1)):
        raise ValueError("Q1_0: signs must be -1 or +1 (1-bit weights have no zero)")
    return s, nb


def _scales(d: np.ndarray | float, rows: int, nb: int) -> np.ndarray:
    d32 = np.asarray(d, dtype=np.float32)
    if d32.ndim and d32.size == 1:
        d32 = d32.reshape(())
    if d32.ndim and d32.shape != (rows, nb):
        raise ValueError(f"Q1_0: d must be a scalar or shape {(rows, nb)}, got {d32.shape}")
    d16 = np.broadcast_to(d32, (rows, nb)).astype("<f2")
    return np.ascontiguousarray(d16).view(np.uint8).reshape(rows, nb, 2)


def pack_bits(bits: np.ndarray, d: np.ndarray | float) -> np.ndarray:
    """Bits (rows, cols) in {0, 1} (1 = +d) and scales -> (rows, cols // 128 * 18) uint8."""
    b = np.asarray(bits, dtype=np.uint8)
    rows, cols = b.shape
    nb = check_cols(cols)
    qs = np.bitwise_or.reduce(b.reshape(rows, nb, 16, 8) << _BITS, axis=-1).astype(np.uint8)
    out = np.concatenate([_scales(d, rows, nb), qs], axis=-1)
    return out.reshape(rows, nb * BLOCK_BYTES)


def pack(signs: np.ndarray, d: np.ndarray | float) -> np.ndarray:
    """Pack signs (rows, cols) in {-1, +1} and scales (scalar or (rows, cols // 128))."""
    s, _ = _signs(signs)
    return pack_bits(s > 0, d)


def blocks(raw: np.ndarray, cols: int) -> np.ndarray:
    """View (rows, nbytes) uint8 as (rows, blocks, 18); ValueError on a size mismatch."""
    r = np.asarray(raw)
    if r.dtype != np.uint8 or r.ndim != 2:
        raise ValueError(f"Q1_0: raw must be 2-D uint8 (rows, nbytes), got {r.dtype} {r.shape}")
    nb = check_cols(cols)
    if r.shape[1] != nb * BLOCK_BYTES:
        raise ValueError(
            f"Q1_0: {cols} columns need {nb * BLOCK_BYTES} bytes per row, got {r.shape[1]}"
        )
    return r.reshape(r.shape[0], nb, BLOCK_BYTES)


def unpack(raw: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack`: (signs int8 (rows, cols) in {-1, +1}, d float32 (rows, nb))."""
    b = blocks(raw, cols)
    rows, nb = b.shape[:2]
    bits = (b[..., 2:, None] >> _BITS) & 1
    signs = (bits.astype(np.int8) * 2 - 1).reshape(rows, cols)
    d = np.ascontiguousarray(b[..., :2]).view("<f2").reshape(rows, nb)
    return signs, d.astype(np.float32)


def quantize(w: np.ndarray) -> np.ndarray:
    """float32 (rows, cols) -> Q1_0 bytes with llama.cpp's rule (see module docstring)."""
    x = np.asarray(w, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"Q1_0: weights must be 2-D (rows, cols), got shape {x.shape}")
    rows, cols = x.shape
    nb = check_cols(cols)
    blk = x.reshape(rows, nb, QK)
    # cumsum adds in element order like the C loop (np.sum would add pairwise: other bits)
    if blk.size:
        sum_abs = np.cumsum(np.abs(blk), axis=-1, dtype=np.float32)[..., -1]
    else:
        sum_abs = np.zeros((rows, nb), np.float32)
    d = (sum_abs / np.float32(QK)).astype(np.float32)
    return pack_bits(x >= 0, d)


def dequantize(raw: np.ndarray, cols: int) -> np.ndarray:
    """Q1_0 bytes -> float32 (rows, cols): ``+d`` where the bit is set, ``-d`` where not."""
    signs, d = unpack(raw, cols)
    rows, nb = d.shape
    x = signs.reshape(rows, nb, QK).astype(np.float32) * d[..., None]
    return x.reshape(rows, cols)


def to_binary(raw: np.ndarray, cols: int) -> BinaryTensor:
    """Q1_0 bytes -> BinaryTensor: one per-tensor scale when every block stores the same d."""
    signs, d = unpack(raw, cols)
    shared = d.size > 0 and bool(np.all(d == d.flat[0]))
    scale = np.array([d.flat[0]], np.float32) if shared else d
    return BinaryTensor(signs=signs, scale=scale, source_type="Q1_0")


def from_binary(t: BinaryTensor) -> np.ndarray:
    """BinaryTensor -> Q1_0 bytes: a per-tensor scale goes into every block's d."""
    rows, cols = t.shape
    nb = check_cols(cols)
    scale = np.asarray(t.scale, np.float32)
    d = scale.reshape(()) if scale.size == 1 else scale
    if d.ndim and d.shape != (rows, nb):
        raise ValueError(f"Q1_0: block scales must be {(rows, nb)}, got {d.shape}")
    return pack(t.signs, d)
