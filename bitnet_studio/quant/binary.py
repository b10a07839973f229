"""The original BitNet's 1-bit weights (Wang et al. 2023, arXiv 2310.11453, eq. 1-3 and 12).

Weights, per tensor:  alpha = mean(W);  W_b = Sign(W - alpha) with Sign(0) = -1, so every
                      weight is -1 or +1 (no zero code: 1 bit per weight);
                      beta = mean|W| of the *uncentred* W.
Activations: BitNet Studio uses b1.58's rule for both low-bit variants (int8 per token,
absmax to [-127, 127], round-half-to-even; ``absmean.quantize_activations``), so one integer
path serves both. The paper scales per tensor during training and shifts the inputs of
non-linearities to [0, Q_b]; b1.58 dropped that special case and so do we.
Linear:  y = (W_b . x_q) * beta / s_x, the dot product exact in int32.
With bits b in {0, 1} (1 = +1): dot(W_b, x) = 2 * sum(x where b = 1) - sum(x).
"""

from __future__ import annotations

import numpy as np

from bitnet_studio.quant.absmean import quantize_activations


def binarize(w: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """Centred sign binarization: returns (int8 signs in {-1, +1}, beta = mean|W|)."""
    w32 = np.asarray(w, dtype=np.float32)
    alpha = np.float32(np.mean(w32, dtype=np.float64))
    signs = np.where(w32 - alpha > 0, 1, -1).astype(np.int8)
    beta = np.float32(np.mean(np.abs(w32), dtype=np.float64))
    return signs, beta


def dequantize_binary(signs: np.ndarray, beta: float) -> np.ndarray:
    """The float weights a binary tensor stands for: W_b * beta."""
    return signs.astype(np.float32) * np.float32(beta)


def binary_linear_reference(
    signs: np.ndarray, beta: float, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Reference W1A8 linear: returns (int32 dot products, float32 outputs).

    ``signs`` is (rows, cols) int8 in {-1, +1}, ``x`` is (batch, cols) float32.
    """
    x_q, s_x = quantize_activations(x)
    dots = x_q.astype(np.int32) @ signs.astype(np.int32).T
    y = dots.astype(np.float32) * (np.float32(beta) * (np.float32(1.0) / s_x[:, None]))
    return dots, y.astype(np.float32)
