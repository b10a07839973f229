"""ModelWeights -> GGUF that llama.cpp can load (``gguf.GGUFWriter``).

Metadata follows llama.cpp's ``convert_hf_to_gguf.py`` (``TextModel.set_gguf_parameters`` and
``LlamaModel``): ``{arch}.context_length``, ``embedding_length``, ``block_count``,
``feed_forward_length``, ``attention.head_count``, ``attention.head_count_kv``,
``rope.freq_base``, ``attention.layer_norm_rms_epsilon`` (read as required by
``llama_model::load_hparams`` for llama and bitnet), ``rope.dimension_count`` = head_dim,
``vocab_size``, ``general.file_type`` (LLAMA_FTYPE: F16 1, TQ1_0 36, TQ2_0 37). Tokenizer:
``tokenizer.ggml.{model,pre,tokens,token_type,merges,bos_token_id,eos_token_id,
add_bos_token}`` and ``tokenizer.chat_template``.

Layout: norms F32; embeddings and head F16; linears in the requested type. llama-arch Q/K
rows are permuted into llama.cpp's RoPE order. Arch names: ``llama``; ``bitnet`` for a
SiLU b1.58 model (upstream llama.cpp, 1bitLLM layout); ``bitnet-b1.58`` for squared-ReLU
(2B4T) models, which upstream llama.cpp cannot run (its bitnet graph is SiLU) -- the report
says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import gguf
import numpy as np

from bitnet_studio.errors import StudioError
from bitnet_studio.formats.arch_map import canonical_to_gguf, is_linear, permute_rows, qk_heads
from bitnet_studio.formats.ternary_codecs import pack_tq
from bitnet_studio.models.weights import ModelWeights, Tensor, TernaryTensor, TokenizerSpec
from bitnet_studio.quant.absmean import ternarize

WriteType = Literal["f16", "tq2_0", "tq1_0"]
_FTYPE = {
    "f16": gguf.LlamaFileType.MOSTLY_F16,
    "tq2_0": gguf.LlamaFileType.MOSTLY_TQ2_0,
    "tq1_0": gguf.LlamaFileType.MOSTLY_TQ1_0,
}


@dataclass
class LinearTally:
    """What a TQ1_0/TQ2_0 write did with the linears, for one summary line (not one per tensor)."""

    type_name: str
    ternary: int = 0  # stored in the requested type
    ternarized: int = 0  # of those, float weights ternarized here (naive PTQ)
    f16: dict[int, int] = field(default_factory=dict)  # row length -> linears left F16

    def summary(self) -> str:
        kept = sum(self.f16.values())
        line = f"{self.ternary} of {self.ternary + kept} linears stored ternary as {self.type_name}"
        if self.ternarized:
            line += f" ({self.ternarized} ternarized from float: absmean, per tensor)"
        if kept:
            rows = ", ".join(f"{n} with rows of {c}" for c, n in sorted(self.f16.items()))
            line += (
                f"; {kept} left F16 because {self.type_name} needs rows of whole 256-weight "
                f"blocks ({rows}): F16 keeps them exact and every runtime reads it"
            )
        return line


@dataclass
class WriteReport:
    path: Path
    arch: str
    tensor_types: dict[str, str] = field(default_factory=dict)  # GGUF name -> stored type
    notes: list[str] = field(default_factory=list)
    linears: LinearTally | None = None  # ternary writes only


def write_gguf(model: ModelWeights, path: str | Path, dtype: WriteType = "f16") -> WriteReport:
    """Write ``model`` as a GGUF file; returns what was stored and every fallback taken."""
    if dtype not in _FTYPE:
        raise StudioError(path, f"unknown GGUF write type {dtype!r} (f16, tq2_0, tq1_0)")
    cfg = model.config
    arch = (
        "llama" if cfg.arch == "llama" else "bitnet" if cfg.hidden_act == "silu" else "bitnet-b1.58"
    )
    report = WriteReport(Path(path), arch)
    if arch == "bitnet-b1.58":
        report.notes.append("squared-ReLU bitnet: upstream llama.cpp cannot run this arch")
    if arch == "bitnet" and not cfg.tie_word_embeddings:
        report.notes.append(
            "untied head: upstream llama.cpp's bitnet arch has no output.weight, refuses it"
        )
    if dtype in ("tq1_0", "tq2_0"):
        report.linears = LinearTally(dtype.upper())
    w = gguf.GGUFWriter(str(path), arch)
    _write_config(w, model, arch, dtype)
    _write_tokenizer(w, model.tokenizer, cfg.vocab_size, report)
    for name, t in model.tensors.items():
        gname = canonical_to_gguf(name)
        data, qtype = _encode(name, t, dtype, report)
        heads = qk_heads(name, cfg) if arch == "llama" else None
        if heads is not None:
            data = permute_rows(data, heads, to_gguf=True)
        w.add_tensor(gname, data, raw_dtype=qtype)
        report.tensor_types[gname] = qtype.name
    if report.linears is not None:
        report.notes.insert(0, report.linears.summary())
    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
    except OSError as e:
        raise StudioError(path, f"cannot write: {e}") from e
    finally:
        w.close()
    return report


def _write_config(w: gguf.GGUFWriter, model: ModelWeights, arch: str, dtype: str) -> None:
    cfg = model.config
    w.add_name(model.source.stem if model.source else "bitnet-studio")
    w.add_context_length(cfg.max_position)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.n_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.n_heads)
    w.add_head_count_kv(cfg.n_kv_heads)
    w.add_rope_freq_base(cfg.rope_theta)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_dimension_count(cfg.head_dim)
    if cfg.head_dim * cfg.n_heads != cfg.hidden_size:
        w.add_key_length(cfg.head_dim)
        w.add_value_length(cfg.head_dim)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(_FTYPE[dtype])
    if arch == "bitnet":  # as llama.cpp's BitnetModel writes it
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(1.0)


def _encode(
    name: str, t: Tensor, dtype: str, report: WriteReport
) -> tuple[np.ndarray, gguf.GGMLQuantizationType]:
    if not is_linear(name) or dtype == "f16" or name == "lm_head":
        if isinstance(t, TernaryTensor):
            t = t.dequantize()
        one_d = np.ndim(t) == 1
        if one_d:
            return np.asarray(t, np.float32), gguf.GGMLQuantizationType.F32
        return np.asarray(t).astype(np.float16, copy=False), gguf.GGMLQuantizationType.F16
    type_name = dtype.upper()
    rows, cols = t.shape
    tally = report.linears
    assert tally is not None
    if cols % 256:
        tally.f16[cols] = tally.f16.get(cols, 0) + 1
        dense = t.dequantize() if isinstance(t, TernaryTensor) else np.asarray(t)
        return dense.astype(np.float16), gguf.GGMLQuantizationType.F16
    tally.ternary += 1
    if isinstance(t, TernaryTensor):
        codes, scale = t.codes, t.scale
    else:
        codes, gamma = ternarize(np.asarray(t))
        scale = np.array([gamma], np.float32)
        tally.ternarized += 1
    row_scale = np.broadcast_to(scale.reshape(-1).astype(np.float32), (rows,))
    return pack_tq(codes, row_scale, type_name), gguf.GGMLQuantizationType[type_name]


def _write_tokenizer(
    w: gguf.GGUFWriter, tok: TokenizerSpec, vocab_size: int, report: WriteReport
) -> None:
    if tok.gguf_vocab:
        _write_gguf_vocab(w, tok.gguf_vocab)
    elif tok.tokenizer_json:
        _write_hf_vocab(w, tok.tokenizer_json, vocab_size, report)
    else:
        report.notes.append("no tokenizer: llama.cpp will not be able to tokenize")
        return
    if tok.bos_token_id is not None:
        w.add_bos_token_id(tok.bos_token_id)
    if tok.eos_token_ids:
        w.add_eos_token_id(tok.eos_token_ids[0])
        if len(tok.eos_token_ids) > 1:
            w.add_eot_token_id(tok.eos_token_ids[1])
    w.add_add_bos_token(tok.add_bos)
    if tok.chat_template:
        w.add_chat_template(tok.chat_template)


_PASSTHROUGH = {"model", "pre", "tokens", "merges", "token_type", "scores", "padding_token_id"}
_PASSTHROUGH |= {"unk_token_id", "add_eos_token", "add_space_prefix"}


def _write_gguf_vocab(w: gguf.GGUFWriter, vocab: dict) -> None:
    for key in sorted(_PASSTHROUGH & vocab.keys()):
        v = vocab[key]
        k = f"tokenizer.ggml.{key}"
        if key == "scores":
            w.add_array(k, [float(x) for x in v])
        elif key == "token_type":
            w.add_token_types([int(x) for x in v])
        elif isinstance(v, list):
            w.add_array(k, v)
        elif isinstance(v, bool):
            w.add_bool(k, v)
        elif isinstance(v, int):
            w.add_uint32(k, v)
        else:
            w.add_string(k, str(v))


def _write_hf_vocab(w: gguf.GGUFWriter, tokenizer_json: str, vocab_size: int, report) -> None:
    spec = json.loads(tokenizer_json)
    model = spec.get("model", {})
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise StudioError(
            report.path, "only byte-level BPE tokenizers (GPT-2 / Llama-3 style) can go to GGUF"
        )
    ids = dict(model.get("vocab", {}))
    added = {a["content"]: a for a in spec.get("added_tokens", [])}
    ids.update({c: a["id"] for c, a in added.items()})
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    types = [int(gguf.TokenType.UNUSED)] * vocab_size
    for text, i in ids.items():
        if i < vocab_size:
            tokens[i] = text
            a = added.get(text)
            kind = gguf.TokenType.NORMAL
            if a is not None:
                kind = gguf.TokenType.CONTROL if a.get("special") else gguf.TokenType.USER_DEFINED
            types[i] = int(kind)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    pre = json.dumps(spec.get("pre_tokenizer"))
    w.add_tokenizer_model("gpt2")
    # llama.cpp picks its pre-tokenizer regex by name; Llama-3's Split pattern starts (?i:'s
    w.add_tokenizer_pre("llama-bpe" if "(?i:'s|'t|'re" in pre else "gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
