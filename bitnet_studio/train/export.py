"""A trained ``TinyLM`` -> ``ModelWeights`` -> GGUF the engine (and llama.cpp, for vanilla) reads.

vanilla -> arch ``llama``, linears F16.  b158 -> arch ``bitnet-b1.58`` (sub-norms, squared
ReLU), linears as ternary codes + the per-tensor absmean scale, written TQ2_0 (2.06 bits per
weight; the scale is stored as float16 per 256-weight block).  bitnet -> the same block and
arch, linears as the centred signs + the per-tensor beta (``BinaryTensor``), written Q1_0
(1.125 bits per weight: beta as float16 in every 128-weight block's ``d``).
Embeddings (tied head) F16, norms F32. The tokenizer travels inside the GGUF, with a
completion "chat template": these are base models, so a conversation becomes the text to
continue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from bitnet_studio.formats.gguf_writer import WriteReport, write_gguf
from bitnet_studio.models.config import ModelConfig
from bitnet_studio.models.weights import BinaryTensor, ModelWeights, TernaryTensor, TokenizerSpec
from bitnet_studio.train.bitlinear import binarize_weight, ternarize_weight
from bitnet_studio.train.model import LOW_BIT, TinyLM
from bitnet_studio.train.tokenizer import EOS

# Continue the last message's text after a document boundary (EOS doubles as BOS).
COMPLETION_TEMPLATE = "{{ bos_token }}{{ messages[-1]['content'] }}"


def to_weights(model: TinyLM, tokenizer: Tokenizer, name: str) -> ModelWeights:
    s = model.shape
    ternary = model.variant in LOW_BIT  # the BitNet block (sub-norms, relu2)
    eos = tokenizer.token_to_id(EOS)
    cfg = ModelConfig(
        arch="bitnet-b1.58" if ternary else "llama",
        vocab_size=s.vocab_size,
        hidden_size=s.hidden_size,
        intermediate_size=s.intermediate_size,
        n_layers=s.n_layers,
        n_heads=s.n_heads,
        n_kv_heads=s.n_heads,
        head_dim=s.head_dim,
        rms_norm_eps=s.norm_eps,
        rope_theta=s.rope_theta,
        max_position=s.context,
        tie_word_embeddings=True,
        hidden_act="relu2" if ternary else "silu",
        bos_token_id=eos,
        eos_token_ids=[eos],
    )
    tensors: dict[str, np.ndarray | TernaryTensor | BinaryTensor] = {}
    with torch.no_grad():
        for key, p in model.state_dict().items():
            tname = key.removesuffix(".weight")
            parts = tname.split(".")
            if len(parts) == 3:  # layers.{i}.{module}
                i, mod = parts[1], parts[2]
                group = "self_attn." if mod[0] in "qkvo" else "mlp." if "_proj" in mod else ""
                tname = f"layers.{i}.{group}{mod}"
            w = p.detach().float()
            if model.variant == "bitnet" and tname.endswith("_proj"):
                signs, beta = binarize_weight(w)
                tensors[tname] = BinaryTensor(
                    signs.to(torch.int8).numpy(), np.array([float(beta)], np.float32), "qat-sign"
                )
            elif model.variant == "b158" and tname.endswith("_proj"):
                codes, gamma = ternarize_weight(w)
                tensors[tname] = TernaryTensor(
                    codes.to(torch.int8).numpy(),
                    np.array([float(gamma)], np.float32),
                    "qat-absmean",
                )
            else:
                tensors[tname] = w.numpy().copy()
    spec = TokenizerSpec(
        tokenizer_json=tokenizer.to_str(),
        chat_template=COMPLETION_TEMPLATE,
        bos_token_id=eos,
        eos_token_ids=[eos],
        add_bos=True,
        special_tokens={"bos": EOS, "eos": EOS},
    )
    return ModelWeights(cfg, tensors, spec, source=Path(name), format="memory")


def export_gguf(model: TinyLM, tokenizer: Tokenizer, path: Path) -> WriteReport:
    weights = to_weights(model, tokenizer, path.stem)
    dtype = {"b158": "tq2_0", "bitnet": "q1_0"}.get(model.variant, "f16")
    return write_gguf(weights, path, dtype)  # type: ignore[arg-type]
