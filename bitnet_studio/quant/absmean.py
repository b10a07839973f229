"""BitNet b1.58 quantization math (papers arXiv 2402.17764 and 2504.12285).

Weights, per tensor:  gamma = mean|W|;  W_q = clip(round(W / (gamma + eps)), -1, 1)
Activations, per token:  s_x = 127 / max(|x|) (clamped away from 0);
                         x_q = clip(round(x * s_x), -128, 127)
Linear:  y = (W_q . x_q) * gamma / s_x, the dot product exact in int32.
Rounding is round-half-to-even everywhere (np.round, torch.round, C nearbyint).
"""

from __future__ import annotations

import numpy as np

WEIGHT_EPS = np.float32(1e-5)
ACT_EPS = np.float32(1e-5)


def ternarize(w: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """Absmean-ternarize a weight tensor: returns (int8 codes in {-1,0,1}, gamma = mean|W|)."""
    w32 = np.asarray(w, dtype=np.float32)
    gamma = np.float32(np.mean(np.abs(w32), dtype=np.float64))
    q = np.clip(np.round(w32 / (gamma + WEIGHT_EPS)), -1, 1).astype(np.int8)
    return q, gamma


def dequantize_ternary(w_q: np.ndarray, gamma: float) -> np.ndarray:
    """The float weights a ternary tensor stands for: W_q * gamma."""
    return w_q.astype(np.float32) * np.float32(gamma)


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-token (per last-axis row) absmax int8 quantization: returns (x_q int8, s_x float32)."""
    x32 = np.asarray(x, dtype=np.float32)
    amax = (
        np.max(np.abs(x32), axis=-1, keepdims=True)
        if x32.shape[-1]
        else np.zeros((*x32.shape[:-1], 1), np.float32)
    )
    s = np.float32(127.0) / np.maximum(amax, ACT_EPS)
    q = np.clip(np.round(x32 * s), -128, 127).astype(np.int8)
    return q, s[..., 0].astype(np.float32)


def ternary_linear_reference(
    w_q: np.ndarray, gamma: float, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Reference W1.58A8 linear: returns (int32 dot products, float32 outputs).

    ``w_q`` is (rows, cols) int8 ternary, ``x`` is (batch, cols) float32.
    """
    x_q, s_x = quantize_activations(x)
    dots = x_q.astype(np.int32) @ w_q.astype(np.int32).T
    y = dots.astype(np.float32) * (np.float32(gamma) * (np.float32(1.0) / s_x[:, None]))
    return dots, y.astype(np.float32)
