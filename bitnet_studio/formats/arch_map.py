"""Names, architectures and layouts shared by every reader and writer.

Canonical tensor names are Hugging Face Llama style without ``model.`` and ``.weight``
(see ``bitnet_studio.models.weights``). The BitNet sub-norms are layer-level:
``layers.{i}.attn_sub_norm`` and ``layers.{i}.ffn_sub_norm`` (Hugging Face's
``self_attn.attn_sub_norm`` / ``mlp.ffn_sub_norm`` are mapped to them).

Facts, with where they were checked:
- llama.cpp's ``convert_hf_to_gguf.py`` ``LlamaModel.permute`` stores the Q and K rows of
  ``llama``-arch models as ``W.reshape(n_head, 2, head_dim // 2, in).swapaxes(1, 2)`` (K with
  ``n_head = n_kv_heads``): its ``LLAMA`` rope type rotates adjacent pairs, Hugging Face
  rotates halves. ``BitnetModel`` in the same file (upstream ``bitnet`` arch, 1bitLLM) does
  not permute, and ``llama_model_rope_type`` lists ``LLM_ARCH_BITNET`` among the NEOX
  (rotate-half) archs. microsoft/BitNet ``utils/convert-ms-to-gguf-bitnet.py`` (the 2B4T
  ``bitnet-25`` path) has its permute calls commented out: bitnet GGUFs are not permuted.
- 1bitLLM ``bitnet_b1_58-*`` (``modeling_bitnet.py``): Llama block with SwiGLU (SiLU) and two
  extra RMSNorms, ``self_attn.inner_attn_ln`` (width hidden, before ``o_proj``) and
  ``mlp.ffn_layernorm`` (width intermediate, before ``down_proj``) -- the same places as
  2B4T's ``attn_sub_norm`` / ``ffn_sub_norm``; llama.cpp's tensor map sends both to
  ``blk.N.attn_sub_norm`` / ``blk.N.ffn_sub_norm``.
- Qwen3 (llama.cpp ``src/models/qwen3.cpp``, ``conversion/qwen.py``): ``attn_q_norm`` and
  ``attn_k_norm`` (width head_dim, RMS) on Qcur/Kcur before ``ggml_rope_ext``; ``LLM_ARCH_QWEN3``
  is a NEOX (rotate-half) rope arch and ``Qwen2Model`` does not permute: no un-permuting.
- upstream llama.cpp's ``bitnet`` graph uses SiLU and always ties the head to ``token_embd``;
  ``bitnet-25`` / ``bitnet-b1.58`` are bitnet.cpp's names for 2B4T (squared ReLU).
"""

from __future__ import annotations

import re

import numpy as np

from bitnet_studio.models.config import ModelConfig

# GGUF general.architecture -> (our arch, hidden_act)
GGUF_ARCHS: dict[str, tuple[str, str]] = {
    "llama": ("llama", "silu"),
    "bitnet": ("bitnet-b1.58", "silu"),
    "bitnet-25": ("bitnet-b1.58", "relu2"),
    "bitnet-b1.58": ("bitnet-b1.58", "relu2"),
    "qwen3": ("qwen3", "silu"),
}
PERMUTED_GGUF_ARCHS = frozenset({"llama"})

LINEARS = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.o_proj",
    "mlp.gate_proj",
    "mlp.up_proj",
    "mlp.down_proj",
)
QK_NORMS = ("self_attn.q_norm", "self_attn.k_norm")
ATTN_SUB_NORM = "attn_sub_norm"
FFN_SUB_NORM = "ffn_sub_norm"

_GGUF_BLOCK = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "attn_sub_norm": ATTN_SUB_NORM,
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "ffn_sub_norm": FFN_SUB_NORM,
}
_GGUF_TOP = {"token_embd": "embed_tokens", "output_norm": "norm", "output": "lm_head"}
_CANON_BLOCK = {v: k for k, v in _GGUF_BLOCK.items()}
_CANON_TOP = {v: k for k, v in _GGUF_TOP.items()}
_BLK = re.compile(r"blk\.(\d+)\.(\w+)\.(weight|bias|scale)$")
_LAYER = re.compile(r"layers\.(\d+)\.(.+)$")

# Hugging Face names that differ from ours (2B4T's and 1bitLLM's sub-norms).
_HF_ALIASES = {
    "self_attn.attn_sub_norm": ATTN_SUB_NORM,
    "mlp.ffn_sub_norm": FFN_SUB_NORM,
    "self_attn.inner_attn_ln": ATTN_SUB_NORM,
    "mlp.ffn_layernorm": FFN_SUB_NORM,
}


def gguf_to_canonical(name: str) -> tuple[str, str] | None:
    """``blk.3.attn_q.weight`` -> (``layers.3.self_attn.q_proj``, ``weight``); None if unknown.

    The second item is ``weight``, ``bias`` (stored as ``..._bias``, e.g. ``self_attn.q_bias``)
    or ``scale`` (upstream llama.cpp's per-tensor ``.scale`` for bitnet linears).
    """
    if name.endswith(".weight") and name[:-7] in _GGUF_TOP:
        return _GGUF_TOP[name[:-7]], "weight"
    m = _BLK.match(name)
    if m is None or m.group(2) not in _GGUF_BLOCK:
        return None
    canon = f"layers.{m.group(1)}.{_GGUF_BLOCK[m.group(2)]}"
    if m.group(3) == "bias":
        canon = canon.removesuffix("_proj") + "_bias"
    return canon, m.group(3)


def canonical_to_gguf(name: str) -> str:
    """Inverse of :func:`gguf_to_canonical` for weights and biases."""
    if name in _CANON_TOP:
        return _CANON_TOP[name] + ".weight"
    m = _LAYER.match(name)
    if m is None:
        raise KeyError(name)
    part, kind = m.group(2), "weight"
    if part.endswith("_bias"):
        part, kind = part.removesuffix("_bias") + "_proj", "bias"
    return f"blk.{m.group(1)}.{_CANON_BLOCK[part]}.{kind}"


def hf_to_canonical(name: str) -> tuple[str, str] | None:
    """``model.layers.0.self_attn.q_proj.weight`` -> (``layers.0.self_attn.q_proj``, ``weight``).

    The kind is the last dotted part (``weight``, ``bias``, ``weight_scale``); None when the
    name is not part of a decoder-only Llama/BitNet model (e.g. ``rotary_emb.inv_freq``).
    """
    base, _, kind = name.rpartition(".")
    base = base.removeprefix("model.")
    if kind not in ("weight", "bias", "weight_scale"):
        return None
    if base in ("embed_tokens", "norm", "lm_head"):
        return base, kind
    m = _LAYER.match(base)
    if m is None:
        return None
    part = _HF_ALIASES.get(m.group(2), m.group(2))
    known = (*LINEARS, "input_layernorm", "post_attention_layernorm", ATTN_SUB_NORM, FFN_SUB_NORM)
    known += QK_NORMS
    if part not in known:
        return None
    canon = f"layers.{m.group(1)}.{part}"
    if kind == "bias":
        canon = canon.removesuffix("_proj") + "_bias"
    return canon, kind


def qk_heads(name: str, cfg: ModelConfig) -> int | None:
    """Heads whose rows a Q/K weight holds (for the RoPE permutation), else None."""
    if name.endswith(("self_attn.q_proj", "self_attn.q_bias")):
        return cfg.n_heads
    if name.endswith(("self_attn.k_proj", "self_attn.k_bias")):
        return cfg.n_kv_heads
    return None


def permute_rows(w: np.ndarray, n_heads: int, to_gguf: bool) -> np.ndarray:
    """Row permutation between HF rotate-half and llama.cpp adjacent-pair RoPE layouts.

    ``to_gguf`` applies llama.cpp's ``permute`` (rows ``(h, 2, d/2) -> (h, d/2, 2)``);
    otherwise its inverse. Works on (rows, cols) weights and (rows,) biases or scales.
    """
    rows = w.shape[0]
    half = rows // n_heads // 2
    shape = (n_heads, 2, half) if to_gguf else (n_heads, half, 2)
    return np.ascontiguousarray(w.reshape(*shape, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def expected_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Canonical name -> shape every reader must produce for this config."""
    h, i, hd = cfg.hidden_size, cfg.intermediate_size, cfg.head_dim
    q, kv = cfg.n_heads * hd, cfg.n_kv_heads * hd
    out: dict[str, tuple[int, ...]] = {"embed_tokens": (cfg.vocab_size, h), "norm": (h,)}
    if not cfg.tie_word_embeddings:
        out["lm_head"] = (cfg.vocab_size, h)
    layer = {
        "input_layernorm": (h,),
        "post_attention_layernorm": (h,),
        "self_attn.q_proj": (q, h),
        "self_attn.k_proj": (kv, h),
        "self_attn.v_proj": (kv, h),
        "self_attn.o_proj": (h, q),
        "mlp.gate_proj": (i, h),
        "mlp.up_proj": (i, h),
        "mlp.down_proj": (h, i),
    }
    if cfg.is_ternary_arch:
        layer[ATTN_SUB_NORM] = (q,)
        layer[FFN_SUB_NORM] = (i,)
    if cfg.qk_norm:
        layer.update({n: (hd,) for n in QK_NORMS})
    if cfg.attention_bias:
        layer.update(
            {"self_attn.q_bias": (q,), "self_attn.k_bias": (kv,), "self_attn.v_bias": (kv,)}
        )
    for n in range(cfg.n_layers):
        out.update({f"layers.{n}.{k}": v for k, v in layer.items()})
    return out


def is_linear(name: str) -> bool:
    return name.endswith("_proj")
