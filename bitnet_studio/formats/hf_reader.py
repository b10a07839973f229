"""Hugging Face folders -> ModelWeights: config.json, *.safetensors (memory-mapped), tokenizer.

Architectures:
- ``LlamaForCausalLM`` (and ``Qwen2ForCausalLM``: the same block with q/k/v biases). When the
  config has ``quantization_config.quant_method == "bitnet"`` (HF1BitLLM Llama3-8B-1.58,
  Falcon3-*-1.58bit) the linears are packed ternary: arch stays ``llama``, linears become
  TernaryTensors.
- ``BitNetForCausalLM`` (2B4T, transformers ``models/bitnet``): sub-norms, squared ReLU; packed
  uint8 ``weight`` (out/4, in) + ``weight_scale`` whose meaning follows
  ``quantization_config.linear_class`` (FORMATS.md §2): ``bitlinear`` (default) stores
  1/mean|W|, ``autobitlinear`` stores mean|W|. ``quantization_mode: online`` (the ``-bf16``
  repo) holds latent weights, ternarized here with absmean.
- ``BitnetForCausalLM`` (1bitLLM bitnet_b1_58-*): Llama names plus ``self_attn.inner_attn_ln``
  and ``mlp.ffn_layernorm`` (see arch_map), SiLU, latent fp16 weights ternarized here.
F32/F16 tensors stay np.memmap views; BF16 becomes float16 (float32 if out of fp16 range).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bitnet_studio.errors import StudioError
from bitnet_studio.formats.arch_map import LINEARS, hf_to_canonical
from bitnet_studio.formats.common import (
    PICKLE_MESSAGE,
    PICKLE_SUFFIXES,
    bf16_to_float,
    check_memory,
    validate_shapes,
)
from bitnet_studio.formats.hf_tokenizer import read_tokenizer
from bitnet_studio.formats.safetensors_io import MappedFiles, STensor, read_header
from bitnet_studio.models.config import ModelConfig
from bitnet_studio.models.weights import ModelWeights, Tensor, TernaryTensor
from bitnet_studio.quant.absmean import ternarize

LLAMA_LIKE = {"LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"}
BITNET_2B4T = {"BitNetForCausalLM"}
BITNET_1BITLLM = {"BitnetForCausalLM"}


def read_hf(folder: str | Path) -> ModelWeights:
    """Load a Hugging Face model folder (see the module docstring)."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    raw = _json(cfg_path)
    archs = raw.get("architectures") or ["?"]
    arch_name = archs[0] if isinstance(archs, list) else archs
    if not isinstance(arch_name, str):
        raise StudioError(cfg_path, f"architectures is not a list of names: {archs!r:.60}")
    if arch_name not in LLAMA_LIKE | BITNET_2B4T | BITNET_1BITLLM:
        raise StudioError(cfg_path, f"unknown architecture {arch_name!r}")
    entries = _entries(folder)
    qcfg = raw.get("quantization_config") or {}
    if not isinstance(qcfg, dict):
        raise StudioError(cfg_path, "quantization_config is not a JSON object")
    cfg = _config(raw, arch_name, cfg_path, "lm_head.weight" in entries)
    packed = any(e.dtype == "U8" for k, e in entries.items() if k.endswith("_proj.weight"))
    latent = arch_name in BITNET_1BITLLM or (cfg.is_ternary_arch and not packed)
    check_memory(folder, _bytes_needed(entries, packed, latent))
    maps = MappedFiles()
    tensors: dict[str, Tensor] = {}
    types: dict[str, str] = {}
    scales: dict[str, np.ndarray] = {}
    for key, e in entries.items():
        mapped = hf_to_canonical(key)
        if mapped is None:
            continue
        name, kind = mapped
        if kind == "weight_scale":
            scales[name] = maps.view(e)
            continue
        types[name] = e.dtype
        arr = maps.view(e)
        if e.dtype == "BF16":
            arr = bf16_to_float(np.asarray(arr))
        tensors[name] = arr
    notes: list[str] = []
    for name in [n for n in tensors if n.endswith(LINEARS)]:
        t = np.asarray(tensors[name])
        if t.dtype == np.uint8:
            if name not in scales:
                raise StudioError(folder, f"packed tensor {name} has no weight_scale")
            tensors[name] = _unpack(t, scales.pop(name), qcfg, name, folder)
            types[name] = "hf-packed"
        elif latent or (qcfg.get("quant_method") == "bitnet" and cfg.is_ternary_arch):
            codes, gamma = ternarize(t)
            tensors[name] = TernaryTensor(codes, np.array([gamma], np.float32), "latent-absmean")
            types[name] = f"{types[name]} (latent, ternarized)"
    if latent:
        notes.append("latent full-precision linears ternarized at load (absmean, per tensor)")
    model = ModelWeights(
        config=cfg,
        tensors=tensors,
        tokenizer=read_tokenizer(folder, raw),
        source=folder,
        format="hf-safetensors",
        tensor_types=types,
        notes=notes,
    )
    validate_shapes(model, folder)
    return model


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise StudioError(path, "file not found")
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StudioError(path, f"not valid JSON: {e}") from e
    if not isinstance(out, dict):
        raise StudioError(path, "expected a JSON object")
    return out


def _entries(folder: Path) -> dict[str, STensor]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = _json(index).get("weight_map") or {}
        files = sorted({folder / f for f in weight_map.values()})
        for f in files:
            if not f.is_file():
                raise StudioError(f, "shard listed in model.safetensors.index.json is missing")
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickles = [p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
        if pickles:
            raise StudioError(pickles[0], PICKLE_MESSAGE)
        raise StudioError(folder, "no *.safetensors weights in this folder")
    out: dict[str, STensor] = {}
    for f in files:
        out.update(read_header(f)[0])
    return out


def _config(raw: dict[str, Any], arch_name: str, path: Path, has_head: bool) -> ModelConfig:
    try:
        hidden, heads = int(raw["hidden_size"]), int(raw["num_attention_heads"])
        bitnet = arch_name not in LLAMA_LIKE
        act = raw.get("hidden_act", "silu")
        if act not in ("silu", "relu2"):
            raise StudioError(path, f"unsupported hidden_act {act!r}")
        eos = raw.get("eos_token_id")
        tie = bool(raw.get("tie_word_embeddings", arch_name in BITNET_2B4T))
        scaling = raw.get("rope_scaling")
        cfg = ModelConfig(
            arch="bitnet-b1.58" if bitnet else "llama",
            vocab_size=int(raw["vocab_size"]),
            hidden_size=hidden,
            intermediate_size=int(raw["intermediate_size"]),
            n_layers=int(raw["num_hidden_layers"]),
            n_heads=heads,
            n_kv_heads=int(raw.get("num_key_value_heads") or heads),
            head_dim=int(raw.get("head_dim") or hidden // heads),
            rms_norm_eps=float(raw.get("rms_norm_eps", 1e-5)),
            rope_theta=float(raw.get("rope_theta", 10000.0)),
            rope_scaling=scaling if isinstance(scaling, dict) else None,
            max_position=int(raw.get("max_position_embeddings", 2048)),
            tie_word_embeddings=tie or not has_head,
            hidden_act=act,
            attention_bias=bool(raw.get("attention_bias", arch_name == "Qwen2ForCausalLM")),
            bos_token_id=raw.get("bos_token_id"),
            eos_token_ids=[eos] if isinstance(eos, int) else list(eos or []),
        )
        cfg.validate()
    except (KeyError, TypeError, ValueError) as e:
        raise StudioError(path, f"invalid model configuration: {e!r}") from e
    return cfg


def unpack_hf_packed(packed: np.ndarray, out_features: int) -> np.ndarray:
    """(out/4, in) uint8 -> (out, in) int8: byte (r, c) holds rows r + k*out/4 in bits 2k+1:2k."""
    try:
        from bitnet_studio.quant import hf_packed  # the colleague's reference, when present

        return np.asarray(hf_packed.unpack(packed, out_features), dtype=np.int8)
    except ImportError:
        pass
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(4, 1, 1)
    fields = (np.asarray(packed)[None] >> shifts) & 3
    return (fields.reshape(out_features, packed.shape[1]).astype(np.int8) - 1).astype(np.int8)


def scale_to_gamma(weight_scale: np.ndarray, qcfg: dict[str, Any]) -> np.float32:
    """mean|W| from a checkpoint's ``weight_scale`` per ``quantization_config`` (FORMATS §2)."""
    ws = np.asarray(weight_scale)
    s = (
        float(bf16_to_float(ws).reshape(-1)[0])
        if ws.dtype == np.uint16
        else float(ws.reshape(-1)[0])
    )
    linear_class = qcfg.get("linear_class", "bitlinear")
    if linear_class == "autobitlinear":
        return np.float32(s)
    if linear_class == "bitlinear":
        return np.float32(1.0 / s) if s else np.float32(0.0)
    raise ValueError(f"unknown quantization_config.linear_class {linear_class!r}")


def _unpack(
    packed: np.ndarray, weight_scale: np.ndarray, qcfg: dict[str, Any], name: str, folder: Path
) -> TernaryTensor:
    if packed.ndim != 2:
        raise StudioError(folder, f"packed tensor {name} must be 2-D, got {packed.shape}")
    try:
        codes = unpack_hf_packed(packed, packed.shape[0] * 4)
    except ValueError as e:
        raise StudioError(folder, f"packed tensor {name} is corrupt: {e}") from e
    try:
        gamma = scale_to_gamma(weight_scale, qcfg)
    except ValueError as e:
        raise StudioError(folder / "config.json", str(e)) from e
    return TernaryTensor(codes, np.array([gamma], np.float32), "hf-packed")


def _bytes_needed(entries: dict[str, STensor], packed: bool, latent: bool) -> int:
    total = 0
    for key, e in entries.items():
        n = e.nbytes // max(1, np.dtype(_itemsize(e.dtype)).itemsize)
        if e.dtype == "U8":
            total += 4 * n  # int8 codes, four per packed byte
        elif key.endswith("_proj.weight") and latent:
            total += n + (2 * n if e.dtype == "BF16" else 0)
        elif e.dtype == "BF16":
            total += 2 * n
    return total


def _itemsize(dtype: str) -> str:
    return {"BF16": "<u2", "F16": "<f2", "F32": "<f4", "U8": "u1", "I8": "i1"}.get(dtype, "<f8")
