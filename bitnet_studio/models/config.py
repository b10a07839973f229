"""One configuration type for every architecture we run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Arch = Literal["llama", "bitnet-b1.58", "qwen3"]


@dataclass
class ModelConfig:
    """Shape and numerics of a decoder-only transformer.

    ``llama``: RMSNorm -> attention -> residual, RMSNorm -> SwiGLU MLP -> residual.
    ``bitnet-b1.58``: as BitNet b1.58 2B4T -- extra RMSNorms before o_proj (``attn_sub_norm``)
    and before down_proj (``ffn_sub_norm``), squared-ReLU gate (``hidden_act="relu2"``),
    ternary linears with int8 per-token activations.
    ``qwen3``: the llama block plus a per-head RMSNorm (weight of width head_dim) on q and on k,
    after the projections and before RoPE (HF ``Qwen3Attention``: ``q_norm``, ``k_norm``;
    llama.cpp ``attn_q_norm``, ``attn_k_norm``) -- PrismML's Bonsai 1-bit and ternary models.
    """

    arch: Arch
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    # Llama-3 style scaling: {"rope_type": "llama3", "factor", "low_freq_factor",
    # "high_freq_factor", "original_max_position_embeddings"}; None for plain RoPE.
    rope_scaling: dict[str, Any] | None = None
    max_position: int = 2048
    tie_word_embeddings: bool = False
    hidden_act: Literal["silu", "relu2"] = "silu"
    attention_bias: bool = False
    bos_token_id: int | None = None
    eos_token_ids: list[int] = field(default_factory=list)

    @property
    def is_ternary_arch(self) -> bool:
        return self.arch == "bitnet-b1.58"

    @property
    def qk_norm(self) -> bool:
        """Per-head RMSNorm on q and k before RoPE (Qwen3)."""
        return self.arch == "qwen3"

    def validate(self) -> None:
        """Raises ValueError on a configuration no backend can run."""
        if min(self.vocab_size, self.hidden_size, self.intermediate_size, self.n_layers) <= 0:
            raise ValueError("sizes must be positive")
        if self.n_heads <= 0 or self.n_kv_heads <= 0 or self.n_heads % self.n_kv_heads:
            raise ValueError(f"{self.n_heads} heads cannot share {self.n_kv_heads} KV heads")
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for RoPE")
