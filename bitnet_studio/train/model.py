"""The model the three variants train: llama-style, as small as the recipe says.

vanilla:  h = x + o(attn(norm1(x)));  out = h + down(silu(gate(y)) * up(y)),  y = norm2(h)
b158:     the BitNet b1.58 2B4T block -- every projection a ``BitLinear``, an extra RMSNorm
          before o_proj (``attn_sub_norm``) and before down_proj (``ffn_sub_norm``), and a
          squared-ReLU gate: out = h + down(sub2(relu(gate(y))^2 * up(y))).
bitnet:   the same block as b158 with every projection a ``BinaryLinear`` (the original
          BitNet's 1-bit weights, its SubLN before each quantized input), so the two low-bit
          twins differ only in how a weight is quantized.
All: RMSNorm (eps 1e-5), rotate-half RoPE (theta 10000), causal attention, no biases,
embeddings tied to the head, norms / embeddings / head in full precision. The numerics are
those of ``bitnet_studio.engine.torch_model``, so an exported model runs in the engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from bitnet_studio.train.bitlinear import BinaryLinear, BitLinear

Variant = Literal["vanilla", "bitnet", "b158"]
VARIANTS: tuple[Variant, ...] = ("vanilla", "bitnet", "b158")
LOW_BIT: tuple[Variant, ...] = ("bitnet", "b158")  # the BitNet block: sub-norms, relu2


@dataclass(frozen=True)
class Shape:
    vocab_size: int = 4096
    hidden_size: int = 256
    intermediate_size: int = 768
    n_layers: int = 6
    n_heads: int = 4
    context: int = 256
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def _rope(shape: Shape) -> tuple[torch.Tensor, torch.Tensor]:
    d = shape.head_dim
    inv = 1.0 / (shape.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    ang = torch.outer(torch.arange(shape.context, dtype=torch.float32), inv)
    ang = torch.cat((ang, ang), dim=-1)
    return ang.cos(), ang.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Block(nn.Module):
    def __init__(self, shape: Shape, variant: Variant) -> None:
        super().__init__()
        lin = {"b158": BitLinear, "bitnet": BinaryLinear}.get(variant, _dense)
        h, f = shape.hidden_size, shape.intermediate_size
        self.shape, self.bitnet_block = shape, variant in LOW_BIT
        self.input_layernorm = RMSNorm(h, shape.norm_eps)
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (lin(h, h) for _ in range(4))
        self.post_attention_layernorm = RMSNorm(h, shape.norm_eps)
        self.gate_proj, self.up_proj = lin(h, f), lin(h, f)
        self.down_proj = lin(f, h)
        if self.bitnet_block:
            self.attn_sub_norm = RMSNorm(h, shape.norm_eps)
            self.ffn_sub_norm = RMSNorm(f, shape.norm_eps)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        nh, hd = self.shape.n_heads, self.shape.head_dim
        y = self.input_layernorm(x)
        q, k, v = (
            p(y).view(b, n, nh, hd).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj)
        )
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        a = a.transpose(1, 2).reshape(b, n, nh * hd)
        if self.bitnet_block:
            a = self.attn_sub_norm(a)
        h = x + self.o_proj(a)
        y = self.post_attention_layernorm(h)
        if self.bitnet_block:
            m = self.ffn_sub_norm(torch.relu(self.gate_proj(y)).square() * self.up_proj(y))
        else:
            m = nn.functional.silu(self.gate_proj(y)) * self.up_proj(y)
        return h + self.down_proj(m)


def _dense(i: int, o: int) -> nn.Linear:
    return nn.Linear(i, o, bias=False)


class TinyLM(nn.Module):
    def __init__(self, shape: Shape, variant: Variant) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r} (expected vanilla, bitnet or b158)")
        self.shape, self.variant = shape, variant
        self.embed_tokens = nn.Embedding(shape.vocab_size, shape.hidden_size)
        self.layers = nn.ModuleList(Block(shape, variant) for _ in range(shape.n_layers))
        self.norm = RMSNorm(shape.hidden_size, shape.norm_eps)
        cos, sin = _rope(shape)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        std = 0.02
        out_std = std / (2 * self.shape.n_layers) ** 0.5  # residual projections, GPT-2 style
        for name, p in self.named_parameters():
            if p.ndim == 2:
                s = out_std if name.endswith(("o_proj.weight", "down_proj.weight")) else std
                nn.init.normal_(p, mean=0.0, std=s)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(batch, n) token ids -> (batch, n, vocab) logits."""
        n = ids.shape[1]
        if n > self.shape.context:
            raise ValueError(f"{n} tokens exceed the context of {self.shape.context}")
        x = self.embed_tokens(ids)
        cos, sin = self.cos[:n], self.sin[:n]
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x) @ self.embed_tokens.weight.T

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
