"""Tiny random models (llama, bitnet-b1.58) and writers for every format we read.

Weights are chosen so round trips can be exact: float weights are float16 values, ternary
scales are powers of two (exact in fp16 and bf16, and so are their reciprocals).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from bitnet_studio.formats.arch_map import ATTN_SUB_NORM, FFN_SUB_NORM, expected_shapes
from bitnet_studio.models.config import ModelConfig
from bitnet_studio.models.weights import ModelWeights, TernaryTensor, TokenizerSpec

CHAT_TEMPLATE = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|eos|>{% endfor %}"
_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "ternary weights take three values: minus one, zero and plus one",
    "a small model answers small questions quickly",
] * 20
_TOKENIZER: str | None = None


def tokenizer_json(vocab_size: int = 300) -> str:
    """A byte-level BPE tokenizer trained on the fly (cached for the session)."""
    global _TOKENIZER
    if _TOKENIZER is None:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=["<|bos|>", "<|eos|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(_CORPUS, trainer)
        _TOKENIZER = tok.to_str()
    return _TOKENIZER


def _spec(vocab: int) -> TokenizerSpec:
    return TokenizerSpec(
        tokenizer_json=tokenizer_json(vocab),
        chat_template=CHAT_TEMPLATE,
        bos_token_id=0,
        eos_token_ids=[1],
        add_bos=True,
        special_tokens={"bos": "<|bos|>", "eos": "<|eos|>"},
    )


def make_model(arch: str = "llama", seed: int = 0, tie: bool = False) -> ModelWeights:
    """llama: hidden 64, 4 heads / 2 KV heads; bitnet-b1.58: hidden 256 (ternary-friendly)."""
    rng = np.random.default_rng(seed)
    bitnet = arch == "bitnet-b1.58"
    h, i, heads, kv = (256, 512, 4, 2) if bitnet else (64, 160, 4, 2)
    vocab = len(json.loads(tokenizer_json())["model"]["vocab"]) + 2
    cfg = ModelConfig(
        arch=arch,  # type: ignore[arg-type]
        vocab_size=vocab,
        hidden_size=h,
        intermediate_size=i,
        n_layers=2,
        n_heads=heads,
        n_kv_heads=kv,
        head_dim=h // heads,
        rope_theta=10000.0,
        max_position=256,
        tie_word_embeddings=tie,
        hidden_act="relu2" if bitnet else "silu",
        bos_token_id=0,
        eos_token_ids=[1],
    )
    tensors = {}
    for name, shape in expected_shapes(cfg).items():
        if len(shape) == 1:
            # k/64 steps: exact in fp16 and bf16 alike
            tensors[name] = (1.0 + rng.integers(-8, 9, size=shape) / 64).astype(np.float32)
        elif bitnet and name.endswith("_proj"):
            codes = rng.integers(-1, 2, size=shape).astype(np.int8)
            scale = np.array([2.0 ** -int(rng.integers(3, 8))], np.float32)
            tensors[name] = TernaryTensor(codes, scale, "random")
        else:
            tensors[name] = (0.05 * rng.standard_normal(shape)).astype(np.float16)
    return ModelWeights(config=cfg, tensors=tensors, tokenizer=_spec(vocab), format="memory")


def dense(t: np.ndarray | TernaryTensor) -> np.ndarray:
    return t.dequantize() if isinstance(t, TernaryTensor) else np.asarray(t, np.float32)


def pack_hf(codes: np.ndarray) -> np.ndarray:
    """(out, in) ternary -> (out/4, in) uint8, rows r + k*out/4 in bits 2k+1:2k."""
    out = codes.shape[0]
    c = (codes.astype(np.int16) + 1).astype(np.uint8).reshape(4, out // 4, -1)
    return (c[0] | (c[1] << 2) | (c[2] << 4) | (c[3] << 6)).astype(np.uint8)


def _hf_config(model: ModelWeights, arch_name: str, **extra: object) -> dict:
    c = model.config
    cfg = {
        "architectures": [arch_name],
        "vocab_size": c.vocab_size,
        "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "num_key_value_heads": c.n_kv_heads,
        "rms_norm_eps": c.rms_norm_eps,
        "rope_theta": c.rope_theta,
        "max_position_embeddings": c.max_position,
        "tie_word_embeddings": c.tie_word_embeddings,
        "hidden_act": c.hidden_act,
        "bos_token_id": 0,
        "eos_token_id": 1,
    }
    cfg.update(extra)
    return cfg


def _write_folder(folder: Path, cfg: dict, arrays: dict, model: ModelWeights, bf16: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    tok = model.tokenizer
    (folder / "tokenizer.json").write_text(tok.tokenizer_json or "")
    tc = {
        "chat_template": tok.chat_template,
        "add_bos_token": tok.add_bos,
        "bos_token": "<|bos|>",
        "eos_token": {"content": "<|eos|>"},
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(tc))
    (folder / "generation_config.json").write_text(json.dumps({"eos_token_id": [1]}))
    names = sorted(arrays)
    half = len(names) // 2  # two shards + index, as large checkpoints come
    weight_map = {}
    for k, part in enumerate((names[:half], names[half:])):
        fname = f"model-{k + 1:05d}-of-00002.safetensors"
        chunk = {n: arrays[n] for n in part}
        if bf16:
            save_torch(
                {n: _torch(a) for n, a in chunk.items()},
                str(folder / fname),
            )
        else:
            save_numpy({n: np.ascontiguousarray(a) for n, a in chunk.items()}, str(folder / fname))
        weight_map.update(dict.fromkeys(part, fname))
    index = {"metadata": {}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


def _torch(a: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = a if isinstance(a, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(a))
    return t.contiguous()


def _hf_name(name: str, style: str) -> str:
    if style == "1bitllm":
        name = name.replace(ATTN_SUB_NORM, "self_attn.inner_attn_ln")
        name = name.replace(FFN_SUB_NORM, "mlp.ffn_layernorm")
    return name if name == "lm_head" else f"model.{name}"


def write_hf_llama(model: ModelWeights, folder: Path, dtype: str = "f16") -> Path:
    """LlamaForCausalLM folder in f32, f16 or bf16."""
    arrays = {}
    for name, t in model.tensors.items():
        a = dense(t)
        if dtype == "bf16":
            arrays[_hf_name(name, "hf") + ".weight"] = torch.from_numpy(a).to(torch.bfloat16)
        else:
            arrays[_hf_name(name, "hf") + ".weight"] = a.astype(
                np.float16 if dtype == "f16" else np.float32
            )
    cfg = _hf_config(model, "LlamaForCausalLM", torch_dtype={"bf16": "bfloat16"}.get(dtype, dtype))
    return _write_folder(folder, cfg, arrays, model, dtype == "bf16")


def write_hf_bitnet_packed(model: ModelWeights, folder: Path, linear_class: str) -> Path:
    """BitNetForCausalLM with packed uint8 weights and bf16 weight_scale (both conventions)."""
    arrays: dict = {}
    for name, t in model.tensors.items():
        key = _hf_name(name, "hf")
        if isinstance(t, TernaryTensor):
            arrays[key + ".weight"] = torch.from_numpy(pack_hf(t.codes))
            gamma = float(t.scale[0])
            ws = gamma if linear_class == "autobitlinear" else 1.0 / gamma
            arrays[key + ".weight_scale"] = torch.tensor([ws], dtype=torch.bfloat16)
        else:
            arrays[key + ".weight"] = torch.from_numpy(dense(t)).to(torch.bfloat16)
    q = {"quant_method": "bitnet", "linear_class": linear_class, "quantization_mode": "offline"}
    if linear_class == "bitlinear":
        del q["linear_class"]  # the default when the key is absent
    cfg = _hf_config(model, "BitNetForCausalLM", model_type="bitnet", quantization_config=q)
    return _write_folder(folder, cfg, arrays, model, True)


def write_hf_latent(model: ModelWeights, folder: Path, style: str) -> Path:
    """Latent-weight bitnet: ``2b4t`` (bf16, online quantization) or ``1bitllm`` (fp16)."""
    arrays: dict = {}
    for name, t in model.tensors.items():
        key = _hf_name(name, style) + ".weight"
        a = dense(t)
        arrays[key] = torch.from_numpy(a).to(torch.bfloat16 if style == "2b4t" else torch.float16)
    if style == "2b4t":
        q = {
            "quant_method": "bitnet",
            "linear_class": "autobitlinear",
            "quantization_mode": "online",
        }
        cfg = _hf_config(model, "BitNetForCausalLM", model_type="bitnet", quantization_config=q)
    else:
        cfg = _hf_config(model, "BitnetForCausalLM", model_type="llama", hidden_act="silu")
    return _write_folder(folder, cfg, arrays, model, True)
