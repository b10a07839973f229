"""Hugging Face "bitnet" packed format: ``weight`` uint8 (ceil(out/4), in) plus ``weight_scale``.

Verified against huggingface/transformers ``src/transformers/integrations/bitnet.py``:
- ``pack_weights``: ``row_dim = ceil(out / 4)``; output row ``g * row_dim + r`` (g = 0..3) goes
  to packed row ``r`` at bits ``2g+1:2g`` as ``w + 1`` (so rows r, r + out/4, r + 2 out/4,
  r + 3 out/4 in bits 1:0, 3:2, 5:4, 7:6). Packing runs along dim 0 (output features); when
  ``out`` is not a multiple of 4 the missing rows of the last group keep field 0.
- ``unpack_weights``: ``field - 1`` for the 4 * rows output rows (it does not trim, so our
  ``unpack`` takes ``out_features`` to drop padding rows).
- ``BitLinear.forward``: ``y = linear(x_q, unpack(W)) / (s_x * weight_scale)`` — weight_scale
  is ``s_w = 1 / mean|W|`` and divides.
- ``AutoBitLinear.forward`` with ``online_quant=False``: ``y = linear(ActQuant(x), W) *
  weight_scale`` where ActQuant already divides by ``s_x`` — weight_scale is ``mean|W|``
  (gamma) and multiplies. With ``online_quant=True`` (``quantization_mode == "online"``) the
  layer has no ``weight_scale`` at all: weights are latent and ternarized on the fly
  (``WeightQuant``), so asking for a gamma there raises ValueError.
- ``replace_with_bitnet_linear`` picks ``AutoBitLinear`` only for ``linear_class ==
  "autobitlinear"`` and ``BitLinear`` otherwise; ``utils/quantization_config.py``
  ``BitNetQuantConfig`` defaults ``linear_class="bitlinear"``, ``quantization_mode="offline"``
  and rejects other values.
"""

from __future__ import annotations

import numpy as np

_SHIFTS = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(4, 1, 1)
LINEAR_CLASSES = ("bitlinear", "autobitlinear")
QUANTIZATION_MODES = ("online", "offline")
WEIGHT_EPS = 1e-5


def pack(codes: np.ndarray) -> np.ndarray:
    """Pack int ternary (out, in) along dim 0 into uint8 (ceil(out/4), in), as pack_weights."""
    c = np.asarray(codes)
    if c.ndim != 2:
        raise ValueError(f"HF bitnet: codes must be 2-D (out, in), got shape {c.shape}")
    if c.size and (c.min() < -1 or c.max() > 1):
        raise ValueError("HF bitnet: codes must be ternary, in {-1, 0, 1}")
    out_f, in_f = c.shape
    row_dim = -(-out_f // 4)
    fields = np.zeros((4 * row_dim, in_f), dtype=np.uint8)  # padding rows keep field 0
    fields[:out_f] = (c.astype(np.int16) + 1).astype(np.uint8)
    g = fields.reshape(4, row_dim, in_f) << _SHIFTS
    return g[0] | g[1] | g[2] | g[3]


def unpack(packed: np.ndarray, out_features: int | None = None) -> np.ndarray:
    """uint8 (rows, in) -> int8 (out_features or 4 * rows, in): ``field - 1``, as unpack_weights."""
    p = np.asarray(packed)
    if p.dtype != np.uint8 or p.ndim != 2:
        raise ValueError(f"HF bitnet: packed weight must be 2-D uint8, got {p.dtype} {p.shape}")
    rows = p.shape[0]
    out_f = 4 * rows if out_features is None else int(out_features)
    if -(-out_f // 4) != rows:
        raise ValueError(
            f"HF bitnet: {out_f} output features pack into {-(-out_f // 4)} rows, got {rows}"
        )
    fields = ((p[None] >> _SHIFTS) & 3).reshape(4 * rows, p.shape[1])[:out_f]
    if np.any(fields == 3):
        raise ValueError("HF bitnet: 2-bit field value 3 is not a ternary code")
    return fields.astype(np.int8) - 1


def _convention(linear_class: str | None, quantization_mode: str | None) -> str:
    lc = "bitlinear" if linear_class is None else linear_class
    mode = "offline" if quantization_mode is None else quantization_mode
    if lc not in LINEAR_CLASSES:
        raise ValueError(
            f"HF bitnet: unknown linear_class {linear_class!r}, expected one of {LINEAR_CLASSES}"
        )
    if mode not in QUANTIZATION_MODES:
        raise ValueError(
            f"HF bitnet: unknown quantization_mode {quantization_mode!r}, "
            f"expected one of {QUANTIZATION_MODES}"
        )
    if lc == "autobitlinear" and mode == "online":
        raise ValueError(
            "HF bitnet: autobitlinear + online checkpoints hold latent weights and no "
            "weight_scale; ternarize them with the absmean rule instead"
        )
    return lc


def weight_scale_to_gamma(
    weight_scale: float,
    linear_class: str | None = None,
    quantization_mode: str | None = None,
) -> float:
    """The per-tensor gamma (= mean|W|, dequantized weight = code * gamma) of a weight_scale.

    "bitlinear" (default): weight_scale is s_w = 1/gamma. "autobitlinear" + "offline":
    weight_scale is gamma itself.
    """
    ws = float(weight_scale)
    if _convention(linear_class, quantization_mode) == "autobitlinear":
        return ws
    if not np.isfinite(ws) or ws == 0.0:
        raise ValueError(f"HF bitnet: bitlinear weight_scale must be finite and nonzero, got {ws}")
    return 1.0 / ws


def gamma_to_weight_scale(
    gamma: float,
    linear_class: str | None = None,
    quantization_mode: str | None = None,
) -> float:
    """Inverse of :func:`weight_scale_to_gamma`: the weight_scale to store for a given gamma.

    For "bitlinear" gamma is clamped at 1e-5 first (an all-zero tensor stores s_w = 1e5).
    """
    g = float(gamma)
    if not np.isfinite(g) or g < 0.0:
        raise ValueError(f"HF bitnet: gamma must be finite and >= 0, got {g}")
    if _convention(linear_class, quantization_mode) == "autobitlinear":
        return g
    return 1.0 / max(g, WEIGHT_EPS)  # s_w = 1 / clamp(mean|W|, 1e-5), as WeightQuant
