"""llama.cpp TQ1_0: 256 ternary weights -> 54 bytes (``qs[48]``, ``qh[4]``, fp16 ``d``), 1.6875 bpw.

Layout (verified against ggml-org/llama.cpp):
- ``ggml/src/ggml-common.h`` ``block_tq1_0``: ``uint8_t qs[(QK_K - 4*QK_K/64)/5]`` (48),
  ``uint8_t qh[QK_K/64]`` (4), ``ggml_half d`` (little-endian fp16 at byte 52); size 54.
- ``ggml/src/ggml-quants.c`` ``quantize_row_tq1_0_ref`` / ``dequantize_row_tq1_0``, with
  ``c = w + 1`` in {0, 1, 2}:
  - ``qs[m]``, m = 0..31: elements ``m + 32n`` (n = 0..4), 5 trits, ``c_0`` most significant;
  - ``qs[32 + m]``, m = 0..15: elements ``160 + m + 16n`` (n = 0..4), same order;
  - ``qh[j]``, j = 0..3: elements ``240 + j + 4n`` (n = 0..3), then one more ``*3`` so the
    first of the four trits is the most significant of five (the last trit is 0);
  - each base-3 value v in [0, 242] is stored as ``(v * 256 + 242) // 243`` (ceiling of
    v * 256 / 243), and trit n decodes as ``(uint8(b * 3**n) * 3) >> 8`` (the product wraps
    mod 256 in uint8). Value ``(trit - 1) * d``.
- Quantization rule: as TQ2_0 (``d = max|x|`` per block, ``code = lroundf(x * (1/d)) + 1``).
- gguf-py ``gguf/quants.py`` class ``TQ1_0`` writes the same bytes; our tests compare against
  the installed ``gguf`` package.

FORMATS.md §3 says "qh: the last 16 elements, 4 trits per byte": true, and the element order
inside ``qh`` is ``240 + j + 4n`` (byte j, trit n) as above.
"""

from __future__ import annotations

import numpy as np

from bitnet_studio.quant.tq2_0 import (
    QK_K,
    absmax_codes,
    block_scales,
    raw_blocks,
    scale_blocks,
    ternary_codes,
)

BLOCK_BYTES = 54
_POW5 = np.array([81, 27, 9, 3, 1], dtype=np.uint16)
_POW3 = np.array([1, 3, 9, 27, 81], dtype=np.uint8)


def _to_byte(v: np.ndarray) -> np.ndarray:
    return ((v.astype(np.uint16) * 256 + 242) // 243).astype(np.uint8)


def _trits(b: np.ndarray, count: int) -> np.ndarray:
    """(..., k) bytes -> (..., count, k) trits: ``(uint8(b * 3**n) * 3) >> 8``."""
    q = b[..., None, :] * _POW3[:count, None]  # uint8 product wraps mod 256, as in C
    return (q.astype(np.uint16) * 3) >> 8


def pack(codes: np.ndarray, d: np.ndarray | float) -> np.ndarray:
    """Pack ternary codes (rows, cols) and block scales into (rows, cols // 256 * 54) uint8."""
    c, nb = ternary_codes(codes, "TQ1_0")
    rows = c.shape[0]
    c = c.reshape(rows, nb, QK_K).astype(np.uint16)
    # (rows, nb, n, m) element groups, weighted by 3^(4-n) and summed over n
    v0 = np.einsum("rbnm,n->rbm", c[..., :160].reshape(rows, nb, 5, 32), _POW5)
    v1 = np.einsum("rbnm,n->rbm", c[..., 160:240].reshape(rows, nb, 5, 16), _POW5)
    v2 = np.einsum("rbnm,n->rbm", c[..., 240:].reshape(rows, nb, 4, 4), _POW5[:4])
    qs = _to_byte(np.concatenate([v0, v1, v2], axis=-1))
    out = np.concatenate([qs, block_scales(d, rows, nb, "TQ1_0")], axis=-1)
    return out.reshape(rows, nb * BLOCK_BYTES)


def unpack(raw: np.ndarray, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack`: returns (codes int8 (rows, cols), d float32 (rows, cols // 256))."""
    b = raw_blocks(raw, cols, BLOCK_BYTES, "TQ1_0")
    rows, nb = b.shape[:2]
    t0 = _trits(b[..., 0:32], 5).reshape(rows, nb, 160)
    t1 = _trits(b[..., 32:48], 5).reshape(rows, nb, 80)
    t2 = _trits(b[..., 48:52], 4).reshape(rows, nb, 16)
    t = np.concatenate([t0, t1, t2], axis=-1).reshape(rows, cols)
    d = np.ascontiguousarray(b[..., 52:54]).view("<f2").reshape(rows, nb)
    return t.astype(np.int8) - 1, d.astype(np.float32)


def quantize(w: np.ndarray) -> np.ndarray:
    """float32 (rows, cols) -> TQ1_0 bytes with llama.cpp's rule (see module docstring)."""
    codes, d = absmax_codes(w, "TQ1_0")
    return pack(codes, d)


def dequantize(raw: np.ndarray, cols: int) -> np.ndarray:
    """TQ1_0 bytes -> float32 (rows, cols): ``(trit - 1) * d`` per block, as llama.cpp."""
    return scale_blocks(*unpack(raw, cols))
