"""GGUF -> ModelWeights: llama and bitnet archs; F32/F16 mapped, Q* to fp16, TQ*/I2_S ternary.

What each stored type becomes:
- F32, F16: ``np.memmap`` views of the file, no copy (except llama Q/K, which are un-permuted
  into a new array).
- BF16 and every block-quantized type gguf.quants can dequantize (Q4_0, Q4_1, Q5_*, Q8_0, K-quants,
  IQ*): dequantized to float16, row chunk by row chunk (noted in ``ModelWeights.notes``).
- TQ1_0, TQ2_0: ``TernaryTensor`` when every nonzero block of a row shares its ``d`` (one scale
  per row, or per tensor when all rows agree). Per-block scales (what llama-quantize makes from a
  model that was not trained ternary) cannot be one ternary matrix: those tensors are
  dequantized to float16 instead and the notes say so.
- I2_S (bitnet.cpp, id 36): ``TernaryTensor`` with the per-tensor scale, x86 layout assumed.
An upstream ``blk.N.<linear>.scale`` tensor multiplies into that linear's scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, quants

from bitnet_studio.errors import StudioError
from bitnet_studio.formats.arch_map import (
    GGUF_ARCHS,
    PERMUTED_GGUF_ARCHS,
    gguf_to_canonical,
    permute_rows,
    qk_heads,
)
from bitnet_studio.formats.common import check_memory, row_scale_from_blocks, validate_shapes
from bitnet_studio.formats.gguf_parse import GGUFFile, TensorInfo, open_gguf
from bitnet_studio.formats.ternary_codecs import unpack_i2_s, unpack_tq
from bitnet_studio.models.config import ModelConfig
from bitnet_studio.models.weights import ModelWeights, Tensor, TernaryTensor, TokenizerSpec

_VIEW_TYPES = {"F32": np.float32, "F16": np.float16}
_TERNARY_TYPES = ("TQ1_0", "TQ2_0", "I2_S")
_CHUNK_BYTES = 32 << 20


def read_gguf(path: str | Path) -> ModelWeights:
    """Load a GGUF model file into canonical ModelWeights (see the module docstring)."""
    path = Path(path)
    f = open_gguf(path)
    gguf_arch = str(f.metadata.get("general.architecture", ""))
    if gguf_arch not in GGUF_ARCHS:
        raise StudioError(
            path,
            f"unknown architecture {gguf_arch!r} (supported: {', '.join(sorted(GGUF_ARCHS))})",
        )
    cfg = _config(f, gguf_arch)
    check_memory(path, _bytes_to_materialise(f, gguf_arch))
    notes: list[str] = []
    tensors: dict[str, Tensor] = {}
    types: dict[str, str] = {}
    scales: dict[str, float] = {}
    for info in f.tensors.values():
        mapped = gguf_to_canonical(info.name)
        if mapped is None:
            if info.name == "rope_freqs.weight":
                notes.append("rope_freqs (llama3 RoPE factors) present but not applied")
                continue
            raise StudioError(path, f"unexpected tensor {info.name} for a {gguf_arch} model")
        name, kind = mapped
        if kind == "scale":
            scales[name] = float(np.asarray(_plain(f, info), np.float32).reshape(-1)[0])
            continue
        tensors[name] = _tensor(f, info, notes)
        types[name] = info.type_name
    for name, s in scales.items():
        _apply_scale(tensors, name, s, path)
    if gguf_arch in PERMUTED_GGUF_ARCHS:
        for name in list(tensors):
            heads = qk_heads(name, cfg)
            if heads is not None:
                tensors[name] = _unpermute(tensors[name], heads)
    model = ModelWeights(
        config=cfg,
        tensors=tensors,
        tokenizer=_tokenizer(f.metadata),
        source=path,
        format="gguf",
        tensor_types=types,
    )
    model.notes.extend(notes)
    validate_shapes(model, path)
    return model


def _plain(f: GGUFFile, t: TensorInfo) -> np.ndarray:
    return f.raw(t).view(_VIEW_TYPES[t.type_name]).reshape(t.shape)


def _tensor(f: GGUFFile, t: TensorInfo, notes: list[str]) -> Tensor:
    if t.type_name in _VIEW_TYPES:
        return _plain(f, t)
    rows = int(np.prod(t.shape[:-1], dtype=np.int64))
    cols = t.shape[-1]
    try:
        if t.type_name == "I2_S":
            codes, scale = unpack_i2_s(f.raw(t), rows, cols)
            notes.append(f"{t.name}: I2_S read with bitnet.cpp's x86 layout")
            return TernaryTensor(codes.reshape(t.shape), scale, "I2_S")
        raw = f.raw(t).reshape(rows, -1)
        if t.type_name in _TERNARY_TYPES:
            codes, d = unpack_tq(raw, t.type_name, cols)
            scale = row_scale_from_blocks(codes, d)
            if scale is not None:
                return TernaryTensor(codes.reshape(t.shape), scale, t.type_name)
            notes.append(f"{t.name}: {t.type_name} with per-block scales, dequantized to float16")
        elif t.type_name != "BF16":
            notes.append(f"{t.name}: {t.type_name} dequantized to float16")
        return _dequantize(raw, t, rows, cols)
    except (ValueError, NotImplementedError) as e:
        raise StudioError(f.path, f"tensor {t.name} ({t.type_name}) cannot be decoded: {e}") from e


def _dequantize(raw: np.ndarray, t: TensorInfo, rows: int, cols: int) -> np.ndarray:
    qt = GGMLQuantizationType[t.type_name]
    out = np.empty((rows, cols), dtype=np.float16)
    step = max(1, _CHUNK_BYTES // max(1, cols * 4))
    for r in range(0, rows, step):
        out[r : r + step] = quants.dequantize(np.asarray(raw[r : r + step]), qt)
    return out.reshape(t.shape)


def _apply_scale(tensors: dict[str, Tensor], name: str, s: float, path: Path) -> None:
    t = tensors.get(name)
    if t is None:
        raise StudioError(path, f"scale tensor for {name} without its weight")
    if isinstance(t, TernaryTensor):
        t.scale = (t.scale * np.float32(s)).astype(np.float32)
    else:
        tensors[name] = (np.asarray(t, np.float32) * np.float32(s)).astype(t.dtype)


def _unpermute(t: Tensor, heads: int) -> Tensor:
    if isinstance(t, TernaryTensor):
        scale = permute_rows(t.scale, heads, False) if t.scale.size > 1 else t.scale
        return TernaryTensor(permute_rows(t.codes, heads, False), scale, t.source_type)
    return permute_rows(np.asarray(t), heads, False)


def _bytes_to_materialise(f: GGUFFile, gguf_arch: str) -> int:
    total = 0
    for t in f.tensors.values():
        n = t.n_elements
        if t.type_name in _TERNARY_TYPES:
            total += n + 4 * n // 256  # int8 codes (+ per-block scales, transient)
        elif t.type_name not in _VIEW_TYPES:
            total += 2 * n + min(4 * n, _CHUNK_BYTES)  # float16 out + one float32 chunk
        elif gguf_arch in PERMUTED_GGUF_ARCHS and (".attn_q." in t.name or ".attn_k." in t.name):
            total += t.nbytes  # un-permuted copy
    return total


def _meta(f: GGUFFile, key: str, default: Any = None, required: bool = False) -> Any:
    if key in f.metadata:
        return f.metadata[key]
    if required:
        raise StudioError(f.path, f"GGUF metadata key {key} is missing")
    return default


def _config(f: GGUFFile, gguf_arch: str) -> ModelConfig:
    try:
        return _config_from_meta(f, gguf_arch)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, IndexError) as e:
        # a metadata value of the wrong type or size (a string dim, zero heads, ...)
        raise StudioError(f.path, f"invalid model configuration: {type(e).__name__}: {e}") from e


def _config_from_meta(f: GGUFFile, gguf_arch: str) -> ModelConfig:
    a = gguf_arch
    arch, act = GGUF_ARCHS[a]
    hidden = int(_meta(f, f"{a}.embedding_length", required=True))
    heads = int(_meta(f, f"{a}.attention.head_count", required=True))
    kv = _meta(f, f"{a}.attention.head_count_kv", heads)
    head_dim = _meta(f, f"{a}.attention.key_length", hidden // heads)
    embd = f.tensors.get("token_embd.weight")
    tokens = f.metadata.get("tokenizer.ggml.tokens")
    vocab = _meta(f, f"{a}.vocab_size")
    if vocab is None:
        vocab = embd.shape[0] if embd is not None else len(tokens or [])
    bos = f.metadata.get("tokenizer.ggml.bos_token_id")
    cfg = ModelConfig(
        arch=arch,  # type: ignore[arg-type]
        vocab_size=int(vocab),
        hidden_size=hidden,
        intermediate_size=int(_meta(f, f"{a}.feed_forward_length", required=True)),
        n_layers=int(_meta(f, f"{a}.block_count", required=True)),
        n_heads=heads,
        n_kv_heads=int(kv[0] if isinstance(kv, list) else kv),
        head_dim=int(head_dim),
        rms_norm_eps=float(_meta(f, f"{a}.attention.layer_norm_rms_epsilon", 1e-5)),
        rope_theta=float(_meta(f, f"{a}.rope.freq_base", 10000.0)),
        max_position=int(_meta(f, f"{a}.context_length", 2048)),
        tie_word_embeddings="output.weight" not in f.tensors,
        hidden_act=act,  # type: ignore[arg-type]
        attention_bias="blk.0.attn_q.bias" in f.tensors,
        bos_token_id=int(bos) if bos is not None else None,
        eos_token_ids=_eos_ids(f.metadata),
    )
    try:
        cfg.validate()
    except ValueError as e:
        raise StudioError(f.path, f"invalid model configuration: {e}") from e
    return cfg


def _eos_ids(meta: dict[str, Any]) -> list[int]:
    ids = [meta.get(f"tokenizer.ggml.{k}_token_id") for k in ("eos", "eot", "eom")]
    return list(dict.fromkeys(int(i) for i in ids if i is not None))


def _tokenizer(meta: dict[str, Any]) -> TokenizerSpec:
    vocab = {k.removeprefix("tokenizer.ggml."): v for k, v in meta.items()}
    vocab = {k: v for k, v in vocab.items() if not k.startswith(("general.", "tokenizer."))}
    vocab = {k: v for k, v in vocab.items() if f"tokenizer.ggml.{k}" in meta}
    tokens = vocab.get("tokens") or []
    bos = vocab.get("bos_token_id")
    model = vocab.get("model")
    # llama.cpp adds BOS by default for SentencePiece ("llama") vocabularies
    add_bos = bool(vocab.get("add_bos_token", model == "llama"))
    special = {}
    for role in ("bos", "eos", "eot", "unk", "pad"):
        i = vocab.get(f"{role}_token_id")
        if i is not None and 0 <= int(i) < len(tokens):
            special[role] = tokens[int(i)]
    return TokenizerSpec(
        gguf_vocab=vocab or None,
        chat_template=meta.get("tokenizer.chat_template"),
        bos_token_id=int(bos) if bos is not None else None,
        eos_token_ids=_eos_ids(meta),
        add_bos=add_bos,
        special_tokens=special,
    )
