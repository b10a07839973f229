"""BitLinear b1.58 for training (arXiv 2402.17764, 2504.12285).

Forward: the weight is absmean-ternarized per tensor (gamma = mean|W|, codes =
clip(round(W / (gamma + eps)), -1, 1)) and the input absmax-quantized to int8 per token
(s = 127 / max|x|, x_q = clip(round(x * s), -128, 127)); the product is (x_q / s) @ (codes *
gamma)^T -- what the engine computes as (codes . x_q) * gamma / s with exact integer dots.
Backward: the straight-through estimator -- both roundings pass gradients as the identity,
so the latent full-precision weight (the ``nn.Parameter``) is what AdamW updates.
Rounding is torch.round (half to even), as in ``bitnet_studio.quant.absmean``.
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
