"""Cost of one decoded token: bytes read, arithmetic by kind, and an ESTIMATED energy.

Counted for batch-1 decode at a given context length:
- weight bytes read: every linear and the output head in full, one row of the embeddings,
  the norms (bytes as the backend keeps them: ``inspect.summary``);
- KV-cache bytes: keys and values of every layer at that context (``kv_bytes_per_value``:
  4 for our native runtime's float32 cache, 2 for an fp16 one);
- arithmetic: a float linear costs one multiply-add per weight; a ternary (or binary)
  linear costs one integer addition per weight and no multiplication (the per-tensor scale
  is one multiply per output, left out); the head and attention (q.k and p.v over the
  context) stay float multiply-adds. Norms, RoPE and softmax are O(hidden), left out.

Energy: the per-operation energies that BitNet (Wang et al. 2023, arXiv 2310.11453,
Table 2, from Horowitz 2014 and Zhang et al. 2022) and BitNet b1.58 (arXiv 2402.17764) use,
at 45 nm and 7 nm: a float multiply-add = FP16 MUL + FP16 ADD, an integer addition = INT8
ADD. It counts arithmetic only (no memory traffic), so it is an ESTIMATE of the arithmetic
energy, never a measurement of this machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bitnet_studio.inspect.summary import kv_cache_bytes, summarize
from bitnet_studio.models.weights import ModelWeights, TernaryTensor

# picojoules per operation: (45 nm, 7 nm)
ENERGY_PJ = {
    "INT8 ADD": (0.03, 0.007),
    "INT8 MUL": (0.2, 0.07),
    "FP16 ADD": (0.4, 0.16),
    "FP16 MUL": (1.1, 0.34),
    "FP32 ADD": (0.9, 0.38),
    "FP32 MUL": (3.7, 1.31),
}
ENERGY_SOURCE = (
    "estimate from per-op energies: BitNet (arXiv 2310.11453) Table 2 [Horowitz 2014; "
    "Zhang et al. 2022], 45 nm and 7 nm; float MAC = FP16 MUL + ADD, integer add = INT8 ADD"
)


@dataclass(frozen=True)
class TokenCost:
    context: int
    weight_bytes: int  # read per decoded token
    kv_bytes: int  # the KV cache at ``context``
    float_macs: int
    int_adds: int
    energy_pj_45nm: float  # ESTIMATE (arithmetic only)
    energy_pj_7nm: float  # ESTIMATE (arithmetic only)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def energy_pj(float_macs: int, int_adds: int, node: int) -> float:
    """Estimated arithmetic energy (pJ) at ``node`` = 45 or 7 (nm)."""
    i = {45: 0, 7: 1}[node]
    mac = ENERGY_PJ["FP16 MUL"][i] + ENERGY_PJ["FP16 ADD"][i]
    return float_macs * mac + int_adds * ENERGY_PJ["INT8 ADD"][i]


def _params(t: Any) -> int:
    shape = t.codes.shape if isinstance(t, TernaryTensor) else t.shape
    n = 1
    for d in shape:
        n *= int(d)
    return n


def token_cost(
    weights: ModelWeights,
    context: int,
    kv_bytes_per_value: int = 4,
    summary: dict[str, Any] | None = None,
) -> TokenCost:
    """The cost of decoding one token with ``context`` tokens already cached."""
    c = weights.config
    s = summary if summary is not None else summarize(weights, with_tensors=False)
    by_kind = s["by_kind"]
    kind_bytes = {k: int(v["bytes"]) for k, v in by_kind.items()}
    embed = kind_bytes.get("embeddings", 0)
    head = kind_bytes.get("head", embed if c.tie_word_embeddings else 0)
    read = (
        kind_bytes.get("attention", 0)
        + kind_bytes.get("mlp", 0)
        + kind_bytes.get("norms", 0)
        + head
        + embed // max(1, c.vocab_size)
    )
    float_macs = int_adds = 0
    for name, t in weights.tensors.items():
        if not name.endswith("_proj"):
            continue
        ternary = isinstance(t, TernaryTensor) or c.is_ternary_arch
        if ternary:
            int_adds += _params(t)
        else:
            float_macs += _params(t)
    float_macs += c.vocab_size * c.hidden_size  # the head
    float_macs += 2 * c.n_layers * c.n_heads * c.head_dim * context  # q.k and p.v
    return TokenCost(
        context=context,
        weight_bytes=int(read),
        kv_bytes=kv_cache_bytes(weights, context, kv_bytes_per_value),
        float_macs=int(float_macs),
        int_adds=int(int_adds),
        energy_pj_45nm=energy_pj(float_macs, int_adds, 45),
        energy_pj_7nm=energy_pj(float_macs, int_adds, 7),
    )
