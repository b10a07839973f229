"""BitLinear for training: b1.58 ternary (arXiv 2402.17764, 2504.12285) and the original
BitNet's 1-bit binary (arXiv 2310.11453).

Forward: the weight is absmean-ternarized per tensor (gamma = mean|W|, codes =
clip(round(W / (gamma + eps)), -1, 1)) and the input absmax-quantized to int8 per token
(s = 127 / max|x|, x_q = clip(round(x * s), -128, 127)); the product is (x_q / s) @ (codes *
gamma)^T -- what the engine computes as (codes . x_q) * gamma / s with exact integer dots.
Backward: the straight-through estimator -- both roundings pass gradients as the identity,
so the latent full-precision weight (the ``nn.Parameter``) is what AdamW updates.
Rounding is torch.round (half to even), as in ``bitnet_studio.quant.absmean``.

``BinaryLinear`` (the ``bitnet`` variant) centres and signs the weight per tensor (alpha =
mean(W), W_b = Sign(W - alpha) with Sign(0) = -1, beta = mean|W| of the uncentred W, eq. 1-3
and 12), bit for bit ``bitnet_studio.quant.binary.binarize``. Its activations follow b1.58,
not the paper: int8 absmax per token in training too (the paper scales per tensor while
training and shifts the inputs of non-linearities to [0, Q_b]), so both low-bit variants share
one integer path. Gradients pass Sign to the latent weight as the identity (STE).
"""

from __future__ import annotations

import torch
from torch import nn

WEIGHT_EPS = 1e-5
ACT_EPS = 1e-5


def ternarize_weight(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes in {-1,0,1} in w's dtype, gamma ()); the mean in float64 as the NumPy reference."""
    gamma = w.detach().abs().mean(dtype=torch.float64).to(w.dtype)
    codes = torch.round(w / (gamma + WEIGHT_EPS)).clamp(-1, 1)
    return codes, gamma


def binarize_weight(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(signs in {-1,+1} in w's dtype, beta ()); the means in float64 as the NumPy reference."""
    wd = w.detach()
    alpha = wd.mean(dtype=torch.float64).to(w.dtype)
    signs = torch.where(wd - alpha > 0, 1.0, -1.0).to(w.dtype)  # Sign(0) = -1
    beta = wd.abs().mean(dtype=torch.float64).to(w.dtype)
    return signs, beta


def quantize_activations(x: torch.Tensor) -> torch.Tensor:
    """Per-token absmax int8 fake quantization: x_q / s in x's dtype."""
    amax = x.abs().amax(dim=-1, keepdim=True).clamp(min=ACT_EPS)
    s = 127.0 / amax
    return torch.round(x * s).clamp(-128, 127) / s


class BitLinear(nn.Linear):
    """``nn.Linear`` without bias whose forward is ternary weights times int8 activations."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        codes, gamma = ternarize_weight(w)
        gamma = gamma.detach()
        w_q = w + (codes * gamma - w).detach()  # STE: value of the ternary weight, grad to w
        x_q = x + (quantize_activations(x) - x).detach()
        return nn.functional.linear(x_q, w_q)


class BinaryLinear(nn.Linear):
    """``nn.Linear`` without bias whose forward is 1-bit weights times int8 activations."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        signs, beta = binarize_weight(w)
        w_b = w + (signs * beta - w).detach()  # STE: value of the binary weight, grad to w
        x_q = x + (quantize_activations(x) - x).detach()
        return nn.functional.linear(x_q, w_b)
