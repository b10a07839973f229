"""The float32 reference transformer: Llama and BitNet b1.58 (2B4T) in one short file.

It mirrors Hugging Face transformers' ``LlamaForCausalLM`` (``models/llama/modeling_llama.py``)
and ``BitNetForCausalLM`` (``models/bitnet/modeling_bitnet.py``):

  llama:         h = x + o(attn(norm1(x)))
                 out = h + down(silu(gate(y)) * up(y))
  bitnet-b1.58:  h = x + o(sub1(attn(norm1(x))))
                 out = h + down(sub2(relu(gate(y))^2 * up(y)))
  with y = norm2(h) in both.

A ternary linear computes ``(W_q . x_q) * gamma / s_x``: x_q is the per-token absmax int8
quantization of its input (round half to even), W_q the int8 codes. The integer dot products
are exact: they are computed in float32 on integer values whose partial sums stay below 2^24
(|x_q| <= 128, so for any row length under 131072). The scaling follows
``bitnet_studio.quant.ternary_linear_reference`` operation for operation, so the two agree
bit for bit. Everything else (embeddings, norms, RoPE, attention, head) is plain float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bitnet_studio.models.config import ModelConfig
from bitnet_studio.models.weights import BinaryTensor, ModelWeights, TernaryTensor
from bitnet_studio.quant.absmean import ternarize

ACT_EPS = 1e-5  # activation absmax clamp, as in quant.absmean


# ----------------------------------------------------------------------------- linears


@dataclass
class TernaryLinear:
    """W = codes * scale; codes kept as int8 (1 byte per weight), widened per call."""

    codes: torch.Tensor  # int8 (out, in)
    scale: torch.Tensor  # float32 () per tensor or (out,) per row

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x_q, s_x = quantize_activations(x)
        dots = x_q @ self.codes.to(torch.float32).T  # exact integers, see module docstring
        # torch's ``scalar / t`` is ``t.reciprocal() * scalar`` (not correctly rounded):
        # divide tensor by tensor to match NumPy's IEEE division bit for bit.
        return dots * (self.scale * torch.ones_like(s_x).div(s_x))

    def nbytes(self) -> int:
        return self.codes.nbytes + self.scale.nbytes


@dataclass
class BinaryLinear:
    """W1A8 (original BitNet): W = signs * scale, signs kept as int8 in {-1, +1}.

    Activations are quantized exactly as in :class:`TernaryLinear`. ``scale`` is per tensor
    (a 0-d tensor, BitNet's beta) or per row and 128-column block (out, nblocks) as in Q1_0:
    then each block's exact integer partial sum is multiplied by its own scale.
    """

    signs: torch.Tensor  # int8 (out, in)
    scale: torch.Tensor  # float32 () or (out, ceil(in / 128))

    BLOCK = 128

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x_q, s_x = quantize_activations(x)
        inv_sx = torch.ones_like(s_x).div(s_x)
        w = self.signs.to(torch.float32)
        if self.scale.dim() == 0:
            return (x_q @ w.T) * (self.scale * inv_sx)
        nb = self.scale.shape[1]
        pad = nb * self.BLOCK - w.shape[1]
        xb = torch.nn.functional.pad(x_q, (0, pad)).reshape(*x_q.shape[:-1], nb, self.BLOCK)
        wb = torch.nn.functional.pad(w, (0, pad)).reshape(w.shape[0], nb, self.BLOCK)
        partial = torch.einsum("...bk,obk->...ob", xb, wb)  # exact: |sum| <= 128 * 128
        return (partial * self.scale).sum(dim=-1) * inv_sx

    def nbytes(self) -> int:
        return self.signs.nbytes + self.scale.nbytes


@dataclass
class DenseLinear:
    weight: torch.Tensor  # float32 (out, in)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T

    def nbytes(self) -> int:
        return self.weight.nbytes


Linear = TernaryLinear | BinaryLinear | DenseLinear


def quantize_activations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token absmax int8 (values held in float32): returns (x_q, s_x of shape (n, 1))."""
    amax = x.abs().amax(dim=-1, keepdim=True).clamp(min=ACT_EPS)
    s_x = torch.full_like(amax, 127.0).div(amax)
    x_q = torch.round(x * s_x).clamp(-128, 127)  # torch.round is round-half-to-even
    return x_q, s_x


def _to_f32(a: np.ndarray) -> torch.Tensor:
    # np.array(...) copies float16/bf16 memmaps into a resident float32 array.
    return torch.from_numpy(np.array(a, dtype=np.float32, copy=True))


def make_linear(t: np.ndarray | TernaryTensor | BinaryTensor, ternarize_dense: bool) -> Linear:
    """A TernaryTensor becomes a ternary linear; a dense array stays dense, unless the
    architecture is ternary (BitNet latent weights, quantized at load like HF ``online`` mode)."""
    if isinstance(t, BinaryTensor):
        bscale = _to_f32(t.scale)
        return BinaryLinear(
            torch.from_numpy(np.ascontiguousarray(t.signs, dtype=np.int8)),
            bscale.reshape(()) if bscale.numel() == 1 else bscale,
        )
    if isinstance(t, TernaryTensor):
        scale = _to_f32(t.scale).reshape(-1)
        return TernaryLinear(
            torch.from_numpy(np.ascontiguousarray(t.codes, dtype=np.int8)),
            scale[0].clone() if scale.numel() == 1 else scale,
        )
    if ternarize_dense:
        codes, gamma = ternarize(np.asarray(t, dtype=np.float32))
        return TernaryLinear(torch.from_numpy(codes), torch.tensor(gamma, dtype=torch.float32))
    return DenseLinear(_to_f32(t))


# ----------------------------------------------------------------------------- blocks


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rope_inv_freq(config: ModelConfig) -> torch.Tensor:
    """RoPE inverse frequencies, with Llama-3 ``rope_scaling`` when the config asks for it.

    Llama 3.1 (Meta's ``apply_scaling``, HF ``_compute_llama3_parameters``): wavelengths shorter
    than ``orig / high_freq_factor`` keep their frequency, longer than ``orig / low_freq_factor``
    are divided by ``factor``, and those in between blend the two linearly in ``orig / wavelen``.
    """
    d = config.head_dim
    inv = 1.0 / (config.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    rs = config.rope_scaling
    if not rs:
        return inv
    kind = rs.get("rope_type", rs.get("type"))
    if kind == "default":
        return inv
    if kind != "llama3":
        raise ValueError(f"unsupported rope_scaling type {kind!r}")
    factor = float(rs["factor"])
    low, high = float(rs.get("low_freq_factor", 1.0)), float(rs.get("high_freq_factor", 4.0))
    orig = float(rs["original_max_position_embeddings"])
    wavelen = 2 * math.pi / inv
    smooth = (orig / wavelen - low) / (high - low)
    blended = (1 - smooth) * inv / factor + smooth * inv
    out = torch.where(wavelen > orig / low, inv / factor, inv)
    medium = (wavelen >= orig / high) & (wavelen <= orig / low)
    return torch.where(medium, blended, out)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (heads, n, head_dim); cos/sin: (n, head_dim). HF's rotate-half convention."""
    return x * cos + rotate_half(x) * sin


@dataclass
class Layer:
    input_layernorm: torch.Tensor
    post_attention_layernorm: torch.Tensor
    q: Linear
    k: Linear
    v: Linear
    o: Linear
    gate: Linear
    up: Linear
    down: Linear
    q_bias: torch.Tensor | None = None
    k_bias: torch.Tensor | None = None
    v_bias: torch.Tensor | None = None
    attn_sub_norm: torch.Tensor | None = None  # bitnet-b1.58 only
    ffn_sub_norm: torch.Tensor | None = None


class TorchModel:
    """Weights in float32 torch tensors (ternary codes in int8) and a growable KV cache."""

    def __init__(self, weights: ModelWeights) -> None:
        cfg = weights.config
        cfg.validate()
        self.config = cfg
        t = weights.tensors
        bitnet = cfg.arch == "bitnet-b1.58"

        def dense(name: str) -> torch.Tensor:
            v = t[name]
            if isinstance(v, TernaryTensor | BinaryTensor):
                return torch.from_numpy(v.dequantize())
            return _to_f32(v)

        def opt(name: str) -> torch.Tensor | None:
            return dense(name) if name in t else None

        self.embed = dense("embed_tokens")
        self.norm = dense("norm")
        self.lm_head = None if cfg.tie_word_embeddings or "lm_head" not in t else dense("lm_head")
        self.layers: list[Layer] = []
        for i in range(cfg.n_layers):
            p = f"layers.{i}."
            lin = {
                k: make_linear(t[p + name], ternarize_dense=bitnet)
                for k, name in (
                    ("q", "self_attn.q_proj"),
                    ("k", "self_attn.k_proj"),
                    ("v", "self_attn.v_proj"),
                    ("o", "self_attn.o_proj"),
                    ("gate", "mlp.gate_proj"),
                    ("up", "mlp.up_proj"),
                    ("down", "mlp.down_proj"),
                )
            }
            self.layers.append(
                Layer(
                    input_layernorm=dense(p + "input_layernorm"),
                    post_attention_layernorm=dense(p + "post_attention_layernorm"),
                    q_bias=opt(p + "self_attn.q_bias"),
                    k_bias=opt(p + "self_attn.k_bias"),
                    v_bias=opt(p + "self_attn.v_bias"),
                    attn_sub_norm=dense(p + "attn_sub_norm") if bitnet else None,
                    ffn_sub_norm=dense(p + "ffn_sub_norm") if bitnet else None,
                    **lin,
                )
            )
        self.inv_freq = rope_inv_freq(cfg)
        # KV cache: per layer (n_kv_heads, capacity, head_dim), grown by doubling.
        self.capacity = 0
        self.k_cache: list[torch.Tensor] = []
        self.v_cache: list[torch.Tensor] = []
        self.n_past = 0
        self.first_nonfinite_layer: int | None = None  # since the last reset

    # -- cache

    def _ensure_capacity(self, n: int) -> None:
        if n <= self.capacity:
            return
        cap = min(self.config.max_position, max(n, 2 * self.capacity, 64))
        shape = (self.config.n_kv_heads, cap, self.config.head_dim)
        for cache in (self.k_cache, self.v_cache):
            for i in range(self.config.n_layers):
                new = torch.zeros(shape, dtype=torch.float32)
                if i < len(cache):
                    new[:, : self.n_past] = cache[i][:, : self.n_past]
                    cache[i] = new
                else:
                    cache.append(new)
        self.capacity = cap

    def reset(self) -> None:
        self.n_past = 0
        self.first_nonfinite_layer = None

    # -- forward

    def forward(self, tokens: torch.Tensor, all_logits: bool = True) -> torch.Tensor:
        """Runs ``tokens`` (n,) at positions n_past.. ; appends their K/V; returns logits."""
        cfg = self.config
        n, start = int(tokens.shape[0]), self.n_past
        self._ensure_capacity(start + n)
        pos = torch.arange(start, start + n, dtype=torch.float32)
        angles = pos[:, None] * self.inv_freq[None, :]  # (n, head_dim/2)
        emb = torch.cat((angles, angles), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        # Causal mask over the whole context: query i (absolute start+i) sees keys <= start+i.
        keys = torch.arange(start + n)
        mask = keys[None, :] > (start + torch.arange(n))[:, None]

        x = self.embed[tokens]  # (n, hidden)
        for li, layer in enumerate(self.layers):
            h = rms_norm(x, layer.input_layernorm, cfg.rms_norm_eps)
            a = self._attention(li, layer, h, cos, sin, mask, start)
            if layer.attn_sub_norm is not None:
                a = rms_norm(a, layer.attn_sub_norm, cfg.rms_norm_eps)
            x = x + layer.o(a)
            y = rms_norm(x, layer.post_attention_layernorm, cfg.rms_norm_eps)
            g, u = layer.gate(y), layer.up(y)
            act = (
                torch.relu(g).square() if cfg.hidden_act == "relu2" else torch.nn.functional.silu(g)
            )
            m = act * u
            if layer.ffn_sub_norm is not None:
                m = rms_norm(m, layer.ffn_sub_norm, cfg.rms_norm_eps)
            x = x + layer.down(m)
            if self.first_nonfinite_layer is None and not bool(torch.isfinite(x).all()):
                self.first_nonfinite_layer = li  # one reduction per layer: cheap next to it
        self.n_past = start + n

        if not all_logits:
            x = x[-1:]
        x = rms_norm(x, self.norm, cfg.rms_norm_eps)
        head = self.embed if self.lm_head is None else self.lm_head
        return x @ head.T

    def _attention(
        self,
        li: int,
        layer: Layer,
        h: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor,
        start: int,
    ) -> torch.Tensor:
        cfg = self.config
        n, d = h.shape[0], cfg.head_dim
        q, k, v = layer.q(h), layer.k(h), layer.v(h)
        if layer.q_bias is not None:
            q = q + layer.q_bias
        if layer.k_bias is not None:
            k = k + layer.k_bias
        if layer.v_bias is not None:
            v = v + layer.v_bias
        q = apply_rope(q.view(n, cfg.n_heads, d).transpose(0, 1), cos, sin)
        k = apply_rope(k.view(n, cfg.n_kv_heads, d).transpose(0, 1), cos, sin)
        v = v.view(n, cfg.n_kv_heads, d).transpose(0, 1)
        self.k_cache[li][:, start : start + n] = k
        self.v_cache[li][:, start : start + n] = v
        keys = self.k_cache[li][:, : start + n]
        vals = self.v_cache[li][:, : start + n]
        # GQA: each KV head serves n_heads / n_kv_heads consecutive query heads.
        rep = cfg.n_heads // cfg.n_kv_heads
        keys = keys.repeat_interleave(rep, dim=0)
        vals = vals.repeat_interleave(rep, dim=0)
        scores = (q @ keys.transpose(1, 2)) / math.sqrt(d)  # (heads, n, ctx)
        scores = scores.masked_fill(mask, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ vals  # (heads, n, d)
        return out.transpose(0, 1).reshape(n, cfg.n_heads * d)

    # -- bookkeeping

    def memory(self) -> dict[str, int]:
        """Bytes held, by component (a tied head is counted once, under embeddings)."""
        mem: dict[str, Any] = {
            "embeddings": self.embed.nbytes,
            "attention": 0,
            "mlp": 0,
            "head": 0 if self.lm_head is None else self.lm_head.nbytes,
            "norms": self.norm.nbytes,
            "kv_cache": sum(c.nbytes for c in self.k_cache + self.v_cache),
        }
        for L in self.layers:
            mem["attention"] += sum(x.nbytes() for x in (L.q, L.k, L.v, L.o))
            mem["attention"] += sum(
                b.nbytes for b in (L.q_bias, L.k_bias, L.v_bias) if b is not None
            )
            mem["mlp"] += sum(x.nbytes() for x in (L.gate, L.up, L.down))
            norms = (L.input_layernorm, L.post_attention_layernorm, L.attn_sub_norm, L.ffn_sub_norm)
            mem["norms"] += sum(w.nbytes for w in norms if w is not None)
        return {k: int(v) for k, v in mem.items()}
